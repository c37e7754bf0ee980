//! End to end through str0m: two `Rtc` peers in one process, SDP offer/answer, host candidates
//! on 127.0.0.1, and a sans-IO loop on a simulated clock that carries each `Transmit` to the
//! other peer's `handle_input`. No sockets, no sleeps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpApi;
use str0m::channel::ChannelId;
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tessera_dtls::{KeyTap, SrtpProtectionProfile, build_with_tap, crypto_provider};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// `tessera_dtls::crypto_provider()`: OpenSSL DTLS, aws-lc-rs SRTP.
    Ours,
    /// str0m's default: dimpl DTLS on aws-lc-rs.
    Dimpl,
}

impl Backend {
    fn provider(self) -> CryptoProvider {
        match self {
            Backend::Ours => crypto_provider(),
            Backend::Dimpl => str0m_aws_lc_rs::default_provider(),
        }
    }
}

struct Peer {
    rtc: Rtc,
    tap: KeyTap,
    addr: SocketAddr,
    next: Instant,
    events: Vec<Event>,
}

struct Datagram {
    proto: Protocol,
    source: SocketAddr,
    destination: SocketAddr,
    contents: Vec<u8>,
}

impl Peer {
    fn new(backend: Backend, port: u16, now: Instant) -> Self {
        let config = RtcConfig::new().set_crypto_provider(Arc::new(backend.provider()));
        let (mut rtc, tap) = build_with_tap(config, now);
        assert_eq!(tap.is_attached(), backend == Backend::Ours);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap())
            .unwrap();
        Peer {
            rtc,
            tap,
            addr,
            next: now,
            events: Vec::new(),
        }
    }

    /// Drains outputs until `Timeout`; returns the datagrams to carry.
    fn poll(&mut self) -> Vec<Datagram> {
        let mut out = Vec::new();
        loop {
            match self.rtc.poll_output().expect("poll_output") {
                Output::Timeout(t) => {
                    self.next = t;
                    return out;
                }
                Output::Transmit(t) => out.push(Datagram {
                    proto: t.proto,
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.to_vec(),
                }),
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    fn receive(&mut self, now: Instant, d: &Datagram) {
        let input = Input::Receive(
            now,
            Receive {
                proto: d.proto,
                source: d.source,
                destination: d.destination,
                contents: d.contents.as_slice().try_into().expect("classifiable"),
            },
        );
        self.rtc.handle_input(input).expect("handle_input");
    }

    fn connected(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Connected))
    }
}

/// Steps both peers on a simulated clock until `done` or `limit` of simulated time.
fn drive(
    l: &mut Peer,
    r: &mut Peer,
    now: &mut Instant,
    limit: Duration,
    mut done: impl FnMut(&Peer, &Peer) -> bool,
) {
    let end = *now + limit;
    while *now < end {
        l.rtc.handle_input(Input::Timeout(*now)).unwrap();
        r.rtc.handle_input(Input::Timeout(*now)).unwrap();
        let mut moved = true;
        while moved {
            let from_l = l.poll();
            let from_r = r.poll();
            moved = !from_l.is_empty() || !from_r.is_empty();
            for d in &from_l {
                assert_eq!(d.destination, r.addr);
                r.receive(*now, d);
            }
            for d in &from_r {
                assert_eq!(d.destination, l.addr);
                l.receive(*now, d);
            }
        }
        if done(l, r) {
            return;
        }
        // Advance to the earliest deadline, at least 1 ms (str0m re-polls at `now` after
        // writes; see docs/str0m-notes.md).
        let next = l.next.min(r.next).max(*now + Duration::from_millis(1));
        *now = next.min(end);
    }
    panic!("not done after {limit:?} of simulated time");
}

fn negotiate(l: &mut Peer, r: &mut Peer) -> (Mid, ChannelId) {
    let mut change: SdpApi<'_> = l.rtc.sdp_api();
    let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let channel = change.add_channel("tessera".into());
    let (offer, pending) = change.apply().expect("offer");
    let answer = r.rtc.sdp_api().accept_offer(offer).expect("answer");
    l.rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .expect("accept answer");
    (mid, channel)
}

fn media_payloads(p: &Peer) -> Vec<Vec<u8>> {
    p.events
        .iter()
        .filter_map(|e| match e {
            Event::MediaData(m) => Some(m.data.to_vec()),
            _ => None,
        })
        .collect()
}

fn channel_payloads(p: &Peer) -> Vec<Vec<u8>> {
    p.events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelData(d) => Some(d.data.clone()),
            _ => None,
        })
        .collect()
}

/// Connects an offerer on `lb` and an answerer on `rb`, sends audio and a data-channel message
/// both ways, and returns the peers (offerer first).
fn session(lb: Backend, rb: Backend) -> (Peer, Peer) {
    let start = Instant::now();
    let mut now = start;
    let mut l = Peer::new(lb, 1000, now);
    let mut r = Peer::new(rb, 2000, now);
    let (mid, _) = negotiate(&mut l, &mut r);

    drive(&mut l, &mut r, &mut now, Duration::from_secs(10), |l, r| {
        l.connected() && r.connected()
    });
    for p in [&l, &r] {
        // The DTLS instance fills the tap in the same poll that yields `Event::Connected`.
        assert_eq!(p.tap.get().is_some(), p.tap.is_attached());
    }

    // Audio both ways: an Opus-sized payload written on one side arrives on the other.
    let pt = l
        .rtc
        .codec_config()
        .find(|p| p.spec().codec == Codec::Opus)
        .expect("opus")
        .pt();
    let from_l = b"tessera audio from the offerer".to_vec();
    let from_r = b"tessera audio from the answerer".to_vec();
    for step in 0..50u64 {
        let t = Duration::from_millis(20 * step);
        l.rtc
            .writer(mid)
            .expect("offerer writer")
            .write(pt, now, MediaTime::from(t), from_l.clone())
            .unwrap();
        r.rtc
            .writer(mid)
            .expect("answerer writer")
            .write(pt, now, MediaTime::from(t), from_r.clone())
            .unwrap();
        drive(&mut l, &mut r, &mut now, Duration::from_secs(1), |_, _| {
            true
        });
        if media_payloads(&r).contains(&from_l) && media_payloads(&l).contains(&from_r) {
            break;
        }
    }
    assert!(
        media_payloads(&r).contains(&from_l),
        "offerer's audio arrived"
    );
    assert!(
        media_payloads(&l).contains(&from_r),
        "answerer's audio arrived"
    );

    // SCTP over DTLS application data: the data channel opens and carries a message.
    drive(&mut l, &mut r, &mut now, Duration::from_secs(10), |l, r| {
        let open = |p: &Peer| p.events.iter().any(|e| matches!(e, Event::ChannelOpen(..)));
        open(l) && open(r)
    });
    let id = l
        .events
        .iter()
        .find_map(|e| match e {
            Event::ChannelOpen(id, _) => Some(*id),
            _ => None,
        })
        .unwrap();
    l.rtc
        .channel(id)
        .expect("channel")
        .write(true, b"hello over sctp")
        .unwrap();
    drive(&mut l, &mut r, &mut now, Duration::from_secs(5), |_, r| {
        channel_payloads(r).contains(&b"hello over sctp".to_vec())
    });

    (l, r)
}

#[test]
fn ours_with_ours_over_str0m_taps_agree() {
    let (l, r) = session(Backend::Ours, Backend::Ours);
    let lk = l.tap.get().expect("offerer keys");
    let rk = r.tap.get().expect("answerer keys");
    assert_eq!(lk.keying_material(), rk.keying_material());
    assert_eq!(lk.profile(), rk.profile());
    assert_eq!(lk.profile(), SrtpProtectionProfile::AeadAes128Gcm);
    assert_ne!(lk.is_client(), rk.is_client(), "one client, one server");
    assert_eq!(lk.local(), rk.remote());
    assert_eq!(lk.remote(), rk.local());
}

#[test]
fn ours_offerer_with_dimpl_answerer() {
    let (l, r) = session(Backend::Ours, Backend::Dimpl);
    let k = l.tap.get().expect("offerer keys");
    // str0m answers `actpass` with `passive`: the offerer is the DTLS client, and dimpl as the
    // server picks its own first choice.
    assert!(k.is_client());
    assert_eq!(k.profile(), SrtpProtectionProfile::AeadAes256Gcm);
    assert_eq!(k.keying_material().len(), k.profile().keying_material_len());
    assert!(r.tap.get().is_none());
}

#[test]
fn dimpl_offerer_with_ours_answerer() {
    let (l, r) = session(Backend::Dimpl, Backend::Ours);
    let k = r.tap.get().expect("answerer keys");
    assert!(!k.is_client());
    assert_eq!(k.profile(), SrtpProtectionProfile::AeadAes128Gcm);
    assert_eq!(k.keying_material().len(), k.profile().keying_material_len());
    assert!(l.tap.get().is_none());
}

#[test]
fn server_shares_one_certificate_across_sessions() {
    // What the SFU does: one certificate for every session, and a fingerprint that stays put.
    let now = Instant::now();
    let build = || {
        let config = RtcConfig::new()
            .set_crypto_provider(Arc::new(crypto_provider()))
            .set_dtls_cert(tessera_dtls::shared_dtls_cert());
        build_with_tap(config, now).0
    };
    let (mut a, mut b) = (build(), build());
    let fa = a.direct_api().local_dtls_fingerprint().clone();
    assert_eq!(&fa, b.direct_api().local_dtls_fingerprint());
}
