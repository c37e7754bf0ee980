//! Arbitrary datagrams into a `ShardWorker` with live sessions: a publisher (Opus + VP8) and a
//! subscriber of both, connected and carrying media through the in-process peer harness of
//! `dataplane/tessera-node/tests/support` (str0m clients, simulated clock). The input can also
//! speak *as* a peer: packets it gives are SRTP/SRTCP-protected with that client's own keys
//! (taken from its DTLS key tap), so the worker's RTP routing, forwarding, codec rewriting and
//! RTCP handling (NACK, PLI, FIR, REMB, SR) see arbitrary authenticated plaintext.
//!
//! Checks: no panic (a caught session panic counts too), no transport fails, and afterwards the
//! worker still serves: a new publisher and subscriber connect and a key frame gets through.
//!
//! Input: records `[op][len_hi][len_lo][bytes..]`. `op & 7`: 0/1/2 raw datagram from the
//! publisher / the subscriber / an unknown address; 3/6 RTP protected as the publisher / the
//! subscriber; 4/5 RTCP protected as the publisher / the subscriber; 7 advance the clock by
//! `bytes[0]` ms (1 ms steps, 2 s in all at most). `op >> 4` writes a live SSRC into the packet
//! before protection (1..=4: the publisher's video / audio SSRC, the subscriber's video / audio
//! SSRC; at bytes 8..12, the RTP SSRC or the RTCP media SSRC; 9..=12: the same at bytes 4..8,
//! the RTCP sender SSRC). With `SESSION_DEBUG` set, each input prints the worker's counters.
//!
//! Slow by design (about 15 inputs/s): every input sets up and tears down four DTLS sessions.
#![no_main]

#[path = "../../dataplane/tessera-node/tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use str0m::media::MediaKind;
use support::{Backend, Client, Harness, Sender, ssrc_of, tagged_video};
use tessera_rtp::srtp::{MasterKeys, SrtpContext, SrtpProfile};
use tessera_schema::control::MediaEvent;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// SRTP with a client's own write keys.
fn client_srtp(c: &Client) -> SrtpContext {
    use tessera_dtls::SrtpProtectionProfile as P;
    let keys = c.tap.get().expect("a connected client of ours has keys");
    let profile = match keys.profile() {
        P::Aes128CmSha1_80 => SrtpProfile::Aes128CmSha1_80,
        P::AeadAes128Gcm => SrtpProfile::AeadAes128Gcm,
        P::AeadAes256Gcm => SrtpProfile::AeadAes256Gcm,
    };
    let (key, salt) = keys.local();
    SrtpContext::new(&MasterKeys::new(profile, key, salt).expect("keys")).expect("context")
}

struct Session {
    h: Harness,
    p: usize,
    s: usize,
    /// Publisher video, publisher audio, subscriber video, subscriber audio.
    ssrcs: [u32; 4],
    pub_srtp: SrtpContext,
    sub_srtp: SrtpContext,
    rtcp_ssrcs: HashSet<(bool, u32)>,
}

fn setup() -> Session {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::Ours);
    let pn = h.publish(p, &[MediaKind::Audio, MediaKind::Video], &[]);
    let (am, vm) = (pn.mids[0], pn.mids[1]);
    let sn = h.subscribe(
        s,
        &[
            (MediaKind::Audio, pn.track(am)),
            (MediaKind::Video, pn.track(vm)),
        ],
    );
    h.connect_all();
    let mut video = Sender::new(vm, None, pn.pt(vm), 90000, 0, 200);
    let mut audio = Sender::new(am, None, pn.pt(am), 48000, 9, 60);
    for i in 0..40u32 {
        let now = h.now;
        if i % 33 == 0 {
            video.video(&mut h.clients[p].rtc, now, i == 0);
        }
        if i % 20 == 0 {
            audio.audio(&mut h.clients[p].rtc, now);
        }
        h.tick(ms(1));
    }
    let sub_video = sn.ssrc(sn.mids[1]);
    assert!(
        h.clients[s].rtp().any(|r| ssrc_of(r) == sub_video),
        "media flows before the input"
    );
    let ssrcs = [
        video.ssrc(&mut h.clients[p].rtc),
        audio.ssrc(&mut h.clients[p].rtc),
        sub_video,
        sn.ssrc(sn.mids[0]),
    ];
    let pub_srtp = client_srtp(&h.clients[p]);
    let sub_srtp = client_srtp(&h.clients[s]);
    Session {
        h,
        p,
        s,
        ssrcs,
        pub_srtp,
        sub_srtp,
        rtcp_ssrcs: HashSet::new(),
    }
}

fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&[op, hi, lo], rest) = data.split_first_chunk::<3>()?;
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
        let (d, rest) = rest.split_at(len);
        data = rest;
        Some((op, d))
    })
}

/// After the input: a new publisher and subscriber still connect and get media through.
fn still_serves(h: &mut Harness) {
    let p = h.add_client("pub-after", Backend::AwsLcRs);
    let s = h.add_client("sub-after", Backend::Ours);
    let pn = h.publish(p, &[MediaKind::Video], &[]);
    let vm = pn.mids[0];
    let sn = h.subscribe(s, &[(MediaKind::Video, pn.track(vm))]);
    let want = sn.ssrc(sn.mids[0]);
    let mut video = Sender::new(vm, None, pn.pt(vm), 90000, 7, 100);
    let mut sent = false;
    h.run_until(Duration::from_secs(3), "new peers get media", |h| {
        if h.clients[p].connected() && h.clients[s].connected() && !sent {
            let now = h.now;
            video.video(&mut h.clients[p].rtc, now, true);
            sent = true;
        }
        h.clients[s]
            .rtp()
            .any(|r| ssrc_of(r) == want && tagged_video(&r.payload).is_some_and(|t| t.tag == 7))
    });
}

fuzz_target!(|data: &[u8]| {
    let mut x = setup();
    let mut advanced = Duration::ZERO;
    let stranger = std::net::SocketAddr::from(([127, 0, 0, 1], 7000));
    for (op, bytes) in records(data) {
        let h = &mut x.h;
        let mut pkt = bytes.to_vec();
        let sel = (op >> 4) as usize;
        if (1..=4).contains(&sel) && pkt.len() >= 12 {
            pkt[8..12].copy_from_slice(&x.ssrcs[sel - 1].to_be_bytes());
        } else if (9..=12).contains(&sel) && pkt.len() >= 8 {
            pkt[4..8].copy_from_slice(&x.ssrcs[sel - 9].to_be_bytes());
        }
        let (pa, sa) = (h.clients[x.p].addr, h.clients[x.s].addr);
        match op & 7 {
            0 => h.inject(pa, pkt),
            1 => h.inject(sa, pkt),
            2 => h.inject(stranger, pkt),
            3 | 6 => {
                let (ctx, from) = if op & 7 == 3 {
                    (&mut x.pub_srtp, pa)
                } else {
                    (&mut x.sub_srtp, sa)
                };
                let n = pkt.len();
                pkt.resize(n + 64, 0);
                if let Ok(len) = ctx.protect_rtp(&mut pkt, n) {
                    pkt.truncate(len);
                    h.inject(from, pkt);
                }
            }
            4 | 5 => {
                let publisher = op & 7 == 4;
                let (ctx, from) = if publisher {
                    (&mut x.pub_srtp, pa)
                } else {
                    (&mut x.sub_srtp, sa)
                };
                let n = pkt.len();
                if n >= 8 {
                    // Start above the indexes the client's own str0m has used for this SSRC.
                    let ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
                    if x.rtcp_ssrcs.insert((publisher, ssrc)) {
                        let _ = ctx.set_srtcp_index(ssrc, 1 << 24);
                    }
                }
                pkt.resize(n + 64, 0);
                if let Ok(len) = ctx.protect_rtcp(&mut pkt, n) {
                    pkt.truncate(len);
                    h.inject(from, pkt);
                }
            }
            _ => {
                let d = ms(u64::from(bytes.first().copied().unwrap_or(1)))
                    .min(Duration::from_secs(2).saturating_sub(advanced));
                advanced += d;
                let end = h.now + d;
                while h.now < end {
                    h.tick(ms(1));
                }
            }
        }
        h.step();
    }
    let h = &mut x.h;
    h.tick(ms(1));
    if std::env::var_os("SESSION_DEBUG").is_some() {
        let m = &h.metrics;
        eprintln!(
            "rtp_in {} rtp_out {} router {:?} drops {:?}",
            m.rtp_in.get(),
            m.rtp_out.get(),
            h.worker.router_stats(),
            tessera_node::DropReason::ALL.map(|r| (r.as_str(), m.drops(r)))
        );
    }
    assert_eq!(h.metrics.panics.get(), 0, "a session handler panicked");
    for e in h.take_media_events() {
        assert!(
            !matches!(e, MediaEvent::TransportFailed { .. }),
            "a transport failed: {e:?}"
        );
    }
    assert_eq!(h.metrics.transports.get(), 2);
    still_serves(h);
});
