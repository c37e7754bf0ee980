//! A WebRTC client peer for tests: str0m (its default aws-lc-rs crypto, so the server sees an
//! independent ECDSA DTLS stack) on a real UDP socket on 127.0.0.1, driven by its own thread.
//! It offers, takes the server's answer, connects, and then either sends media frames or counts
//! what it receives; or it answers the server's offer ([`answer_offer`]) and receives.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// A peer that has made its offer.
#[derive(Debug)]
pub struct PeerOffer {
    rtc: Rtc,
    pending: SdpPendingOffer,
    socket: UdpSocket,
    /// The SDP offer.
    pub sdp: String,
    /// The offered m-lines: `(mid, "audio" | "video")`.
    pub mids: Vec<(String, &'static str)>,
    sending: bool,
    /// Simulcast layers sent on the video m-line (empty: no simulcast).
    rids: Vec<String>,
}

/// A running peer.
#[derive(Debug)]
pub struct Peer {
    /// When ICE and DTLS came up (str0m's `Event::Connected`).
    connected_at: Arc<OnceLock<Instant>>,
    failed: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    /// Media frames received on audio and on video m-lines.
    received_by_kind: Arc<[AtomicU64; 2]>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PeerOffer {
    /// An offer with one m-line per kind, sending (`send == true`) or receiving only.
    pub fn new(send: bool, kinds: &[MediaKind]) -> PeerOffer {
        PeerOffer::with_simulcast(send, kinds, &[])
    }

    /// Like [`PeerOffer::new`]; a sending peer's video m-line offers these simulcast layers
    /// (rids, highest first), and every frame is sent on each, the first layer with the
    /// largest frames.
    pub fn with_simulcast(send: bool, kinds: &[MediaKind], rids: &[&str]) -> PeerOffer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        let mut rtc = Rtc::builder().set_ice_lite(false).build(Instant::now());
        rtc.add_local_candidate(
            Candidate::host(socket.local_addr().expect("local addr"), "udp")
                .expect("host candidate"),
        );
        let mut api = rtc.sdp_api();
        let dir = if send {
            Direction::SendOnly
        } else {
            Direction::RecvOnly
        };
        let mut mids = Vec::new();
        for k in kinds {
            let simulcast = (send && *k == MediaKind::Video && !rids.is_empty()).then(|| {
                let mut s = Simulcast::new();
                for r in rids {
                    s.add_send_layer(SimulcastLayer::new(r));
                }
                s
            });
            let mid = api.add_media(*k, dir, Some("stream".into()), None, simulcast);
            mids.push((
                mid.to_string(),
                if *k == MediaKind::Audio {
                    "audio"
                } else {
                    "video"
                },
            ));
        }
        let (offer, pending) = api.apply().expect("an offer");
        PeerOffer {
            rtc,
            pending,
            socket,
            sdp: offer.to_sdp_string(),
            mids,
            sending: send,
            rids: rids.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// Applies the server's answer and runs the peer on its own thread.
    pub fn start(mut self, answer: &str) -> Result<Peer, String> {
        let answer =
            SdpAnswer::from_sdp_string(answer).map_err(|e| format!("unreadable answer: {e}"))?;
        self.rtc
            .sdp_api()
            .accept_answer(self.pending, answer)
            .map_err(|e| format!("answer refused: {e}"))?;
        Ok(spawn(
            self.rtc,
            self.socket,
            self.sending,
            &self.rids,
            &self.mids,
        ))
    }
}

/// A receiving peer that answers the server's `offer` (a subscription the server offers):
/// returns its SDP answer and the peer, running on its own thread.
pub fn answer_offer(offer: &str) -> Result<(String, Peer), String> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    let mut rtc = Rtc::builder().set_ice_lite(false).build(Instant::now());
    rtc.add_local_candidate(
        Candidate::host(socket.local_addr().expect("local addr"), "udp").expect("host candidate"),
    );
    let parsed = SdpOffer::from_sdp_string(offer).map_err(|e| format!("unreadable offer: {e}"))?;
    let answer = rtc
        .sdp_api()
        .accept_offer(parsed)
        .map_err(|e| format!("offer refused: {e}"))?;
    // (mid, kind) of each m-line, in order.
    let mut mids = Vec::new();
    let mut kind = None;
    for line in offer.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            kind = Some(if m.starts_with("audio") {
                "audio"
            } else {
                "video"
            });
        } else if let (Some(mid), Some(k)) = (line.strip_prefix("a=mid:"), kind) {
            mids.push((mid.trim().to_string(), k));
        }
    }
    Ok((
        answer.to_sdp_string(),
        spawn(rtc, socket, false, &[], &mids),
    ))
}

/// Runs a negotiated peer on its own thread.
fn spawn(
    rtc: Rtc,
    socket: UdpSocket,
    sending: bool,
    rids: &[String],
    mids: &[(String, &'static str)],
) -> Peer {
    let connected_at = Arc::new(OnceLock::new());
    let failed = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let received_by_kind: Arc<[AtomicU64; 2]> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (at, f, r, rk, s) = (
        connected_at.clone(),
        failed.clone(),
        received.clone(),
        received_by_kind.clone(),
        stop.clone(),
    );
    let mids: Vec<(Mid, &'static str)> = mids
        .iter()
        .map(|(m, k)| (Mid::from(m.as_str()), *k))
        .collect();
    let mut rtc = rtc;
    let rids: Vec<Option<Rid>> = if rids.is_empty() {
        vec![None]
    } else {
        rids.iter().map(|r| Some(Rid::from(r.as_str()))).collect()
    };
    let thread = std::thread::spawn(move || {
        run(
            &mut rtc,
            &socket,
            (sending, &rids),
            &mids,
            &at,
            &f,
            &(r, rk),
            &s,
        )
    });
    Peer {
        connected_at,
        failed,
        received,
        received_by_kind,
        stop,
        thread: Some(thread),
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    rtc: &mut Rtc,
    socket: &UdpSocket,
    (sending, rids): (bool, &[Option<Rid>]),
    mids: &[(Mid, &'static str)],
    connected_at: &OnceLock<Instant>,
    failed: &AtomicBool,
    (received, by_kind): &(Arc<AtomicU64>, Arc<[AtomicU64; 2]>),
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 2000];
    let start = Instant::now();
    let mut next_media = start;
    let mut frame = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => {
                    let _ = connected_at.set(Instant::now());
                }
                Ok(Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                ))) => {}
                Ok(Output::Event(Event::MediaData(d))) => {
                    received.fetch_add(1, Ordering::Relaxed);
                    if let Some((_, kind)) = mids.iter().find(|(m, _)| *m == d.mid) {
                        by_kind[usize::from(*kind == "video")].fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    failed.store(true, Ordering::Relaxed);
                    return;
                }
            }
        };
        let now = Instant::now();
        if sending && connected_at.get().is_some() && now >= next_media {
            next_media = now + Duration::from_millis(33);
            frame += 1;
            let layers = mids.iter().flat_map(|(mid, kind)| {
                let rids = if *kind == "video" { rids } else { &[None][..] };
                rids.iter()
                    .enumerate()
                    .map(move |(i, rid)| (*mid, *kind, i, *rid))
            });
            for (mid, kind, layer, rid) in layers.collect::<Vec<_>>() {
                let Some(mut writer) = rtc.writer(mid) else {
                    continue;
                };
                if let Some(rid) = rid {
                    writer = writer.rid(rid);
                }
                let want = if kind == "audio" {
                    Codec::Opus
                } else {
                    Codec::Vp8
                };
                let Some(pt) = writer
                    .payload_params()
                    .find(|p| p.spec().codec == want)
                    .map(|p| p.pt())
                else {
                    continue;
                };
                let (clock, freq, data) = if kind == "audio" {
                    (48_000, Frequency::FORTY_EIGHT_KHZ, vec![0xfc; 60])
                } else {
                    // VP8: bit 0 of the first byte clear = key frame (every 30th frame),
                    // whose header (RFC 6386 §9.1) announces 640x360, halved per lower
                    // simulcast layer. Lower layers send smaller frames.
                    let mut d = vec![0x5a; (1000 >> (2 * layer)).max(10)];
                    if frame % 30 == 1 {
                        let (w, h) = (640u16 >> layer.min(4), 360u16 >> layer.min(4));
                        d[..6].copy_from_slice(&[0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a]);
                        d[6..8].copy_from_slice(&w.to_le_bytes());
                        d[8..10].copy_from_slice(&h.to_le_bytes());
                    } else {
                        d[0] = 0x01;
                    }
                    (90_000, Frequency::NINETY_KHZ, d)
                };
                let t = MediaTime::new(frame * clock / 30, freq);
                let _ = writer.write(pt, now, t, data);
                // Drain before the next mutation (str0m's single-mutation rule).
                while let Ok(o) = rtc.poll_output() {
                    match o {
                        Output::Timeout(_) => break,
                        Output::Transmit(t) => {
                            let _ = socket.send_to(&t.contents, t.destination);
                        }
                        _ => {}
                    }
                }
            }
        }
        let wait = timeout
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10))
            .max(Duration::from_millis(1));
        let _ = socket.set_read_timeout(Some(wait));
        let input = match socket.recv_from(&mut buf) {
            Ok((n, from)) => match Receive::new(
                Protocol::Udp,
                from,
                socket.local_addr().expect("local addr"),
                &buf[..n],
            ) {
                Ok(r) => Input::Receive(Instant::now(), r),
                Err(_) => continue,
            },
            Err(_) => Input::Timeout(Instant::now()),
        };
        if rtc.handle_input(input).is_err() {
            failed.store(true, Ordering::Relaxed);
            return;
        }
    }
}

impl Peer {
    /// Waits until ICE and DTLS are up.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.connected_at.get().is_some() {
                return true;
            }
            if self.failed.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// When ICE and DTLS came up (str0m's `Event::Connected`), if they have.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at.get().copied()
    }

    /// Whether the peer gave up (str0m returned an error).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Media frames received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Media frames received on the `"audio"` or `"video"` m-lines.
    pub fn received_of(&self, kind: &str) -> u64 {
        self.received_by_kind[usize::from(kind == "video")].load(Ordering::Relaxed)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
