//! The shard worker against in-process str0m client peers (see `support`): SSRC rewriting, NACK
//! retransmission, PLI forwarding and coalescing, simulcast layers, NACKs to publishers, the
//! inactivity and connect timeouts, ICE consent once connected, forged binding requests, and
//! that ended sessions leave nothing in the shard's tables. Everything runs on a simulated
//! clock; each test is bounded by simulated time and takes well under a second of wall time.

mod support;

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::rtp::RtpPacket;
use str0m::rtp::rtcp::Rtcp;
use str0m::{Event, RtcConfig};
use support::{Backend, Datagram, Dir, Harness, Negotiated, Sender, Tagged};
use support::{rtp_ssrc_seq, ssrc_of, subscribe_request, tagged_video};
use tessera_node::DropReason;
use tessera_node::worker::Command;
use tessera_schema::control::{MediaError, MediaEvent, SubscribeTrackSpec, TrackKind};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An encoder-like publisher: Opus-like audio every 20 ms, one VP8-like frame per layer every
/// 33 ms, a key frame first and `kf_delay` after each keyframe request for that layer.
struct Publisher {
    c: usize,
    neg: Negotiated,
    audio: Option<Sender>,
    video: Vec<Sender>,
    kf_at: Vec<Option<Instant>>,
    kf_delay: Duration,
    seen: usize,
    /// Keyframe requests received: when, and for which layer.
    requests: Vec<(Instant, Option<Rid>, KeyframeRequestKind)>,
    next_audio: Instant,
    next_video: Instant,
    /// Video frames written: (layer, sequence number, what).
    video_written: Vec<(usize, u16, Tagged)>,
    /// Audio packets written: sequence numbers.
    audio_written: Vec<u16>,
    /// Stops writing media (requests are still recorded).
    paused: bool,
    /// NACKs received: when, media SSRC, sequence number.
    nacks: Vec<(Instant, u32, u16)>,
    /// Answers NACKs by sending the packet again on its SSRC.
    resend_nacked: bool,
}

/// Payload bytes per packet of each simulcast layer (lowest first).
const LAYER_SIZES: [usize; 3] = [100, 400, 1000];

impl Publisher {
    /// Negotiates audio (if `audio`) and video (simulcast with `rids` if not empty) on client
    /// `c`.
    fn new(h: &mut Harness, c: usize, audio: bool, rids: &[&str]) -> Publisher {
        let kinds: Vec<MediaKind> = if audio {
            vec![MediaKind::Audio, MediaKind::Video]
        } else {
            vec![MediaKind::Video]
        };
        let neg = h.publish(c, &kinds, rids);
        let vmid = *neg.mids.last().expect("video");
        let audio =
            audio.then(|| Sender::new(neg.mids[0], None, neg.pt(neg.mids[0]), 48000, 9, 60));
        let video: Vec<Sender> = if rids.is_empty() {
            vec![Sender::new(vmid, None, neg.pt(vmid), 90000, 0, 300)]
        } else {
            rids.iter()
                .enumerate()
                .map(|(i, r)| {
                    Sender::new(vmid, Some(r), neg.pt(vmid), 90000, i as u8, LAYER_SIZES[i])
                })
                .collect()
        };
        let now = h.now;
        Publisher {
            c,
            neg,
            audio,
            kf_at: vec![Some(now); video.len()],
            video,
            kf_delay: Duration::ZERO,
            seen: 0,
            requests: Vec::new(),
            next_audio: now,
            next_video: now,
            video_written: Vec::new(),
            audio_written: Vec::new(),
            paused: false,
            nacks: Vec::new(),
            resend_nacked: false,
        }
    }

    fn audio_mid(&self) -> Mid {
        self.neg.mids[0]
    }

    fn video_mid(&self) -> Mid {
        *self.neg.mids.last().expect("video")
    }

    /// The subscription source of the whole publication.
    fn all_tracks(&self) -> Vec<(MediaKind, String)> {
        let mut v = Vec::new();
        if self.audio.is_some() {
            v.push((MediaKind::Audio, self.neg.track(self.audio_mid())));
        }
        v.push((MediaKind::Video, self.neg.track(self.video_mid())));
        v
    }

    /// The video source, optionally one simulcast layer of it.
    fn video_track(&self, rid: Option<&str>) -> Vec<(MediaKind, String)> {
        let t = self.neg.track(self.video_mid());
        vec![(
            MediaKind::Video,
            match rid {
                Some(r) => format!("{t}:{r}"),
                None => t,
            },
        )]
    }

    /// Starts media now: the first frame of every layer is a key frame.
    fn start(&mut self, h: &Harness) {
        self.next_audio = h.now;
        self.next_video = h.now;
        for k in &mut self.kf_at {
            *k = Some(h.now);
        }
    }

    /// Records new keyframe requests and NACKs, and writes what is due at `h.now`.
    fn drive(&mut self, h: &mut Harness) {
        let now = h.now;
        let c = &mut h.clients[self.c];
        let mut nacked: Vec<(u32, u16)> = Vec::new();
        for e in &c.events[self.seen..] {
            match e {
                Event::KeyframeRequest(k) => {
                    assert_eq!(k.mid, self.video_mid(), "keyframe requests are for video");
                    self.requests.push((now, k.rid, k.kind));
                    let l = self
                        .video
                        .iter()
                        .position(|v| v.rid == k.rid)
                        .unwrap_or_else(|| panic!("request for an unknown layer {:?}", k.rid));
                    if self.kf_at[l].is_none() {
                        self.kf_at[l] = Some(now + self.kf_delay);
                    }
                }
                Event::RawPacket(r) => {
                    if let str0m::rtp::RawPacket::RtcpRx(Rtcp::Nack(n)) = &**r {
                        for s in nack_entries(n) {
                            nacked.push((*n.ssrc, s));
                        }
                    }
                }
                _ => {}
            }
        }
        self.seen = c.events.len();
        for (ssrc, seq) in nacked {
            self.nacks.push((now, ssrc, seq));
            if self.resend_nacked {
                for v in &mut self.video {
                    if v.ssrc(&mut c.rtc) == ssrc {
                        assert!(v.resend(&mut c.rtc, now, seq), "NACK for unsent {seq}");
                    }
                }
            }
        }
        if self.paused {
            return;
        }
        if let Some(a) = &mut self.audio
            && now >= self.next_audio
        {
            self.audio_written.push(a.audio(&mut c.rtc, now));
            self.next_audio += ms(20);
        }
        if now >= self.next_video {
            for (l, v) in self.video.iter_mut().enumerate() {
                let kf = self.kf_at[l].is_some_and(|t| t <= now);
                if kf {
                    self.kf_at[l] = None;
                }
                let (seq, t) = v.video(&mut c.rtc, now, kf);
                self.video_written.push((l, seq, t));
            }
            self.next_video += ms(33);
        }
    }

    /// Requests received since `since`.
    fn requests_since(&self, since: Instant) -> Vec<(Instant, Option<Rid>, KeyframeRequestKind)> {
        self.requests
            .iter()
            .filter(|r| r.0 >= since)
            .cloned()
            .collect()
    }
}

/// What a subscriber received on one SSRC: (sequence number, payload type, timestamp, payload).
fn received(h: &Harness, c: usize, ssrc: u32) -> Vec<(u16, u8, u32, Vec<u8>)> {
    h.clients[c]
        .rtp()
        .filter(|p| ssrc_of(p) == ssrc)
        .map(|p: &RtpPacket| {
            (
                p.header.sequence_number,
                *p.header.payload_type,
                p.header.timestamp,
                p.payload.to_vec(),
            )
        })
        .collect()
}

/// The sequence numbers a NACK names.
fn nack_entries(n: &str0m::rtp::rtcp::Nack) -> Vec<u16> {
    let mut v = Vec::new();
    for e in &n.reports {
        v.push(e.pid);
        for i in 0..16u16 {
            if e.blp & (1 << i) != 0 {
                v.push(e.pid.wrapping_add(i + 1));
            }
        }
    }
    v
}

/// Sequence numbers in NACKs about `ssrc` that client `c` sent (`Dir::Up`) or got (`Down`).
fn nacks(h: &Harness, c: usize, dir: Dir, ssrc: u32) -> Vec<u16> {
    let mut v = Vec::new();
    for e in &h.clients[c].events {
        let Event::RawPacket(r) = e else { continue };
        let n = match (&**r, dir) {
            (str0m::rtp::RawPacket::RtcpTx(Rtcp::Nack(n)), Dir::Up)
            | (str0m::rtp::RawPacket::RtcpRx(Rtcp::Nack(n)), Dir::Down) => n,
            _ => continue,
        };
        if *n.ssrc == ssrc {
            v.extend(nack_entries(n));
        }
    }
    v
}

fn assert_continuous(what: &str, seqs: &[u16]) {
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0].wrapping_add(1),
            "{what}: sequence numbers jump from {} to {}",
            w[0],
            w[1]
        );
    }
}

/// A str0m client with payload types other than str0m's defaults (Opus 109, VP8 120 + RTX 121).
fn other_pts(c: RtcConfig) -> RtcConfig {
    let mut c = c.clear_codecs();
    let cc = c.codec_config();
    cc.add_config(
        Pt::from(109),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            ..FormatParams::default()
        },
    );
    cc.add_config(
        Pt::from(120),
        Some(Pt::from(121)),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    c
}

#[test]
fn a_subscription_the_server_offers_carries_both_tracks_once_answered() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::AwsLcRs);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    // The subscriber's ICE checks start before its answer reaches the server: they are
    // dropped until then, and it connects on the later ones.
    let n = h.subscribe_by_server_offer_unanswered(s, &publ.all_tracks());
    let ended = h.answer_server_offer(s, &n, ms(300), |a| a).unwrap();
    assert!(ended.is_empty());
    assert!(
        h.metrics.drops(DropReason::AwaitingAnswer) > 0,
        "checks before the answer are dropped"
    );
    let offer = &n.answer.sdp;
    for line in [
        "a=ice-lite",
        "a=setup:actpass",
        "a=sendonly",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
    ] {
        assert!(offer.contains(line), "the offer has {line}:\n{offer}");
    }
    // (The publisher may have connected during the wait: wait for the peers, not for events.)
    h.run_until(ms(5000), "ICE and DTLS", |h| {
        h.clients.iter().all(|c| c.connected())
    });
    publ.start(&h);
    h.run_for(ms(2000), |h| publ.drive(h));
    publ.paused = true;
    h.run_for(ms(100), |h| publ.drive(h));

    let (amid, vmid) = (n.mids[0], n.mids[1]);
    let (assrc, vssrc) = (n.ssrc(amid), n.ssrc(vmid));
    let video = received(&h, s, vssrc);
    let frames: Vec<Tagged> = video
        .iter()
        .map(|v| tagged_video(&v.3).expect("VP8-like"))
        .collect();
    let written: Vec<Tagged> = publ.video_written.iter().map(|w| w.2).collect();
    assert_eq!(frames, written, "every video frame, in order");
    assert!(video.iter().all(|v| v.1 == 96), "video on the offered PT");
    assert_continuous("sub", &video.iter().map(|v| v.0).collect::<Vec<_>>());
    let audio = received(&h, s, assrc);
    assert_eq!(audio.len(), publ.audio_written.len(), "every audio packet");
    assert!(audio.iter().all(|a| a.1 == 111), "audio on the offered PT");
}

/// A header extension the subscriber's answer leaves out is no longer written to it; one it
/// keeps still is.
#[test]
fn a_server_offer_writes_only_the_header_extensions_the_answer_kept() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let kept = h.add_client("kept", Backend::Ours);
    let dropped = h.add_client("dropped", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, false, &[]);
    let nk = h.subscribe_by_server_offer_unanswered(kept, &publ.all_tracks());
    h.answer_server_offer(kept, &nk, Duration::ZERO, |a| a)
        .unwrap();
    let nd = h.subscribe_by_server_offer_unanswered(dropped, &publ.all_tracks());
    h.answer_server_offer(dropped, &nd, Duration::ZERO, |a| {
        assert!(
            a.contains("abs-send-time"),
            "str0m answers abs-send-time:\n{a}"
        );
        a.lines()
            .filter(|l| !l.contains("abs-send-time"))
            .map(|l| format!("{l}\r\n"))
            .collect()
    })
    .unwrap();
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(1000), |h| publ.drive(h));
    for (c, n, want) in [(kept, &nk, true), (dropped, &nd, false)] {
        let ssrc = n.ssrc(n.mids[0]);
        let video: Vec<&RtpPacket> = h.clients[c].rtp().filter(|p| ssrc_of(p) == ssrc).collect();
        assert!(video.len() > 20, "{c}: video arrives ({})", video.len());
        assert!(
            video
                .iter()
                .all(|p| p.header.ext_vals.abs_send_time.is_some() == want),
            "client {c}: abs-send-time written = {want}"
        );
    }
}

#[test]
fn a_server_offer_refuses_a_second_answer_and_an_answer_that_changes_the_payload_type() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    let n = h.subscribe_by_server_offer(s, &publ.all_tracks());
    // The answer was applied; a second one is refused, and so is one for an unknown transport.
    let again = n.answer.sdp.replace("a=sendonly", "a=recvonly");
    let r = h.command(|tx| Command::Answer("sub".into(), again.clone(), tx));
    assert!(
        matches!(r, Err(MediaError::Renegotiation(_))),
        "second answer: {r:?}"
    );
    let r = h.command(|tx| Command::Answer("nobody".into(), again, tx));
    assert!(matches!(r, Err(MediaError::NoTransport(_))), "{r:?}");
    // The server offers only on a new transport.
    let tracks = vec![SubscribeTrackSpec {
        mid: "9".into(),
        kind: TrackKind::Audio,
        from: publ.all_tracks()[0].1.clone(),
    }];
    let req = subscribe_request("sub", String::new(), tracks);
    let r = h.command(|tx| Command::Offer(Box::new(req), tx));
    assert!(
        matches!(&r, Err(MediaError::Renegotiation(e)) if e.contains("new transport")),
        "{r:?}"
    );

    // A fresh offer answered with another payload type for video is refused, and nothing
    // starts: the transport keeps waiting for a proper answer.
    let s2 = h.add_client("sub2", Backend::Ours);
    let n2 = h.subscribe_by_server_offer_unanswered(s2, &publ.all_tracks());
    let bad = n2
        .answer
        .sdp
        .replace("a=sendonly", "a=recvonly")
        .replace("a=setup:actpass", "a=setup:active")
        .replace(
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "m=video 9 UDP/TLS/RTP/SAVPF 97",
        )
        .replace("a=rtpmap:96 VP8", "a=rtpmap:97 VP8");
    let r = h.command(|tx| Command::Answer("sub2".into(), bad, tx));
    assert!(
        matches!(&r, Err(MediaError::BadSdp(e)) if e.contains("payload type")),
        "{r:?}"
    );
    let actpass = n2.answer.sdp.replace("a=sendonly", "a=recvonly");
    let r = h.command(|tx| Command::Answer("sub2".into(), actpass, tx));
    assert!(
        matches!(&r, Err(MediaError::BadSdp(e)) if e.contains("a=setup:actpass")),
        "an answer cannot say actpass: {r:?}"
    );
    // A server offer that fails (a video m-line for the audio track) leaves no transport.
    let before = h.metrics.transports.get();
    let req = subscribe_request(
        "bad",
        String::new(),
        vec![SubscribeTrackSpec {
            mid: "0".into(),
            kind: TrackKind::Video,
            from: publ.all_tracks()[0].1.clone(),
        }],
    );
    let r = h.command(|tx| Command::Offer(Box::new(req), tx));
    assert!(matches!(r, Err(MediaError::BadSdp(_))), "{r:?}");
    assert_eq!(h.metrics.transports.get(), before, "no transport left");
    let r = h.command(|tx| Command::Answer("bad".into(), "v=0".into(), tx));
    assert!(matches!(r, Err(MediaError::NoTransport(_))), "{r:?}");
    // Nothing changed: a proper answer still starts both subscriptions.
    h.answer_server_offer(s2, &n2, Duration::ZERO, |a| a)
        .unwrap();
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(1000), |h| publ.drive(h));
    for mid in &n2.mids {
        let ssrc = n2.ssrc(*mid);
        let got = h.clients[s2].rtp().filter(|p| ssrc_of(p) == ssrc).count();
        assert!(got > 20, "mid {mid}: {got} packets after the proper answer");
    }
}

/// A client offer that fails on a new transport (a subscription names a mid the offer lacks)
/// leaves no transport behind: before, the transport stayed until its connect timeout.
#[test]
fn a_failed_client_offer_leaves_no_transport() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::Ours);
    let publ = Publisher::new(&mut h, p, true, &[]);
    let before = h.metrics.transports.get();
    let mut change = h.clients[s].rtc.sdp_api();
    change.add_media(
        MediaKind::Video,
        str0m::media::Direction::RecvOnly,
        None,
        None,
        None,
    );
    let (offer, _pending) = change.apply().expect("an offer");
    let req = subscribe_request(
        "sub",
        offer.to_sdp_string(),
        vec![SubscribeTrackSpec {
            mid: "nope".into(),
            kind: TrackKind::Video,
            from: publ.all_tracks()[1].1.clone(),
        }],
    );
    let r = h.command(|tx| Command::Offer(Box::new(req), tx));
    assert!(matches!(r, Err(MediaError::NoSuchMid { .. })), "{r:?}");
    assert_eq!(h.metrics.transports.get(), before, "no transport left");
    let r = h.command(|tx| Command::Stats("sub".into(), tx));
    assert!(matches!(r, Err(MediaError::NoTransport(_))), "{r:?}");
}

/// An answer may reject an m-line (port 0): that subscription ends and the worker names its
/// mid, the other one plays. An answer that rejects every m-line is refused.
#[test]
fn a_server_offer_answer_may_reject_some_m_lines_but_not_all() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::Ours);
    let all = h.add_client("all", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    let reject_audio = |a: String| a.replace("m=audio 9 ", "m=audio 0 ");
    let na = h.subscribe_by_server_offer_unanswered(all, &publ.all_tracks());
    let r = h.answer_server_offer(all, &na, Duration::ZERO, |a| {
        reject_audio(a).replace("m=video 9 ", "m=video 0 ")
    });
    assert!(
        matches!(&r, Err(MediaError::BadSdp(e)) if e.contains("every m-line")),
        "{r:?}"
    );
    // That player gives up (its transport closes; it is the last client).
    h.command(|tx| Command::Close("all".into(), tx)).unwrap();
    h.clients.pop();
    let n = h.subscribe_by_server_offer_unanswered(s, &publ.all_tracks());
    let ended = h
        .answer_server_offer(s, &n, Duration::ZERO, reject_audio)
        .unwrap();
    assert_eq!(ended, vec!["0".to_string()], "the audio subscription ended");
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(1000), |h| publ.drive(h));
    let (assrc, vssrc) = (n.ssrc(n.mids[0]), n.ssrc(n.mids[1]));
    let video = h.clients[s].rtp().filter(|p| ssrc_of(p) == vssrc).count();
    let audio = h.clients[s].rtp().filter(|p| ssrc_of(p) == assrc).count();
    assert!(video > 20 && audio == 0, "video {video}, audio {audio}");
}

#[test]
fn subscribers_get_their_own_ssrc_continuous_sequence_numbers_and_payload_types() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s1 = h.add_client("sub1", Backend::AwsLcRs);
    let s2 = h.add_client_with("sub2", Backend::Ours, other_pts);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    let n1 = h.subscribe(s1, &publ.all_tracks());
    let n2 = h.subscribe(s2, &publ.all_tracks());
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(2000), |h| publ.drive(h));
    publ.paused = true;
    h.run_for(ms(100), |h| publ.drive(h));

    let pub_video_ssrc = publ.video[0].ssrc(&mut h.clients[p].rtc);
    let pub_audio_ssrc = publ.audio.as_ref().unwrap().ssrc(&mut h.clients[p].rtc);
    let (pub_vpt, pub_apt) = (publ.video[0].pt, publ.audio.as_ref().unwrap().pt);
    assert_eq!(
        (pub_vpt, pub_apt),
        (96, 111),
        "str0m's defaults on the publisher"
    );
    let mut ssrcs = vec![pub_video_ssrc, pub_audio_ssrc];
    for (s, n, vpt, apt) in [(s1, &n1, 96u8, 111u8), (s2, &n2, 120, 109)] {
        let id = h.clients[s].id.clone();
        let (amid, vmid) = (n.mids[0], n.mids[1]);
        assert_eq!(
            (n.pt(vmid), n.pt(amid)),
            (vpt, apt),
            "{id}: the answer keeps its PTs"
        );
        let (vssrc, assrc) = (n.ssrc(vmid), n.ssrc(amid));
        for x in [vssrc, assrc] {
            assert!(!ssrcs.contains(&x), "{id}: SSRC {x} is not unique");
            ssrcs.push(x);
        }
        assert!(
            h.clients[s]
                .rtp()
                .all(|p| [vssrc, assrc].contains(&ssrc_of(p))),
            "{id}: only the announced SSRCs arrive"
        );

        let video = received(&h, s, vssrc);
        let frames: Vec<Tagged> = video
            .iter()
            .map(|v| tagged_video(&v.3).expect("VP8-like"))
            .collect();
        let written: Vec<Tagged> = publ.video_written.iter().map(|w| w.2).collect();
        assert_eq!(
            frames, written,
            "{id}: every video frame, in order, starting with the key frame"
        );
        assert!(frames[0].keyframe);
        assert!(
            video.iter().all(|v| v.1 == vpt),
            "{id}: video carries its own PT {vpt}"
        );
        assert_continuous(&id, &video.iter().map(|v| v.0).collect::<Vec<_>>());
        for w in video.windows(2) {
            assert_eq!(
                w[1].2.wrapping_sub(w[0].2),
                3000,
                "{id}: video timestamps keep their spacing"
            );
        }

        let audio = received(&h, s, assrc);
        assert_eq!(
            audio.len(),
            publ.audio_written.len(),
            "{id}: every audio packet"
        );
        assert!(
            audio.iter().all(|a| a.1 == apt),
            "{id}: audio carries its own PT {apt}"
        );
        let tags: Vec<u32> = audio
            .iter()
            .map(|a| u32::from_be_bytes([a.3[2], a.3[3], a.3[4], a.3[5]]))
            .collect();
        assert_eq!(
            tags,
            (0..publ.audio_written.len() as u32).collect::<Vec<_>>()
        );
        assert_continuous(&id, &audio.iter().map(|a| a.0).collect::<Vec<_>>());
        for w in audio.windows(2) {
            assert_eq!(
                w[1].2.wrapping_sub(w[0].2),
                960,
                "{id}: audio timestamps keep their spacing"
            );
        }
    }
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

#[test]
fn a_lost_packet_is_nacked_by_the_subscriber_and_retransmitted_from_the_buffer() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::AwsLcRs);
    let s = h.add_client("sub", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, false, &[]);
    let n = h.subscribe(s, &publ.video_track(None));
    let vssrc = n.ssrc(n.mids[0]);
    // No RTX is negotiated (the server answers without it), so str0m would not NACK on its
    // own; Chromium NACKs whenever `nack` feedback is negotiated, and so does this client.
    h.clients[s]
        .rtc
        .direct_api()
        .stream_rx(&vssrc.into())
        .expect("receive stream from the answer")
        .suppress_nack(false);
    h.connect_all();

    // Drop the 10th video packet on its way to the subscriber (its first transmission only).
    let dropped = std::rc::Rc::new(std::cell::Cell::new(None::<u16>));
    let mut count = 0;
    let d2 = dropped.clone();
    h.filter = Box::new(move |d: &Datagram<'_>| {
        if d.dir == Dir::Down
            && d.client == s
            && let Some((ssrc, seq)) = rtp_ssrc_seq(d.data)
            && ssrc == vssrc
        {
            count += 1;
            if count == 10 {
                d2.set(Some(seq));
                return false;
            }
        }
        true
    });
    publ.start(&h);
    h.run_for(ms(1000), |h| publ.drive(h));
    publ.paused = true;
    h.run_for(ms(200), |h| publ.drive(h));

    let lost = dropped.get().expect("a packet was dropped");
    assert_eq!(h.lost, [0, 1]);
    let nacked = nacks(&h, s, Dir::Up, vssrc);
    assert_eq!(
        nacked,
        vec![lost],
        "the subscriber NACKed the lost packet once"
    );
    let stats = h.worker.router_stats();
    assert_eq!((stats.retransmitted, stats.nack_misses), (1, 0));
    // And /metrics shows it.
    assert_eq!(
        (h.metrics.retransmitted.get(), h.metrics.nack_misses.get()),
        (1, 0)
    );

    let video = received(&h, s, vssrc);
    let mut seqs: Vec<u16> = video.iter().map(|v| v.0).collect();
    let at = seqs
        .iter()
        .position(|x| *x == lost)
        .expect("the retransmission arrived");
    assert!(
        seqs[..at].contains(&lost.wrapping_add(1)),
        "it arrived late, once its successor had: {seqs:?}"
    );
    let late = &video[at];
    assert_eq!(
        tagged_video(&late.3),
        Some(publ.video_written[9].2),
        "the 10th frame"
    );
    let first = seqs[0];
    seqs.sort_by_key(|x| x.wrapping_sub(first));
    assert_continuous("after the retransmission", &seqs);
    assert_eq!(seqs.len(), publ.video_written.len(), "every frame arrived");
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

/// A publisher and `n` video subscribers, connected, with media flowing for a second (so the
/// key frames asked for at subscription and connection are behind us).
fn video_room(n: usize) -> (Harness, Publisher, Vec<(usize, u32)>) {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, false, &[]);
    let mut subs = Vec::new();
    for i in 0..n {
        let backend = if i % 2 == 0 {
            Backend::AwsLcRs
        } else {
            Backend::Ours
        };
        let s = h.add_client(&format!("sub{i}"), backend);
        let neg = h.subscribe(s, &publ.video_track(None));
        subs.push((s, neg.ssrc(neg.mids[0])));
    }
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(1000), |h| publ.drive(h));
    (h, publ, subs)
}

fn request_pli(h: &mut Harness, sub: (usize, u32)) {
    h.clients[sub.0]
        .rtc
        .direct_api()
        .stream_rx(&sub.1.into())
        .expect("receive stream")
        .request_keyframe(KeyframeRequestKind::Pli);
}

#[test]
fn a_subscriber_pli_reaches_the_publisher() {
    let (mut h, mut publ, subs) = video_room(1);
    let t0 = h.now;
    assert_eq!(publ.requests_since(t0), vec![]);
    let counted = h.metrics.keyframe_requests.get();
    request_pli(&mut h, subs[0]);
    h.run_for(ms(500), |h| publ.drive(h));
    let r = publ.requests_since(t0);
    assert_eq!(r.len(), 1, "one keyframe request: {r:?}");
    assert_eq!(h.metrics.keyframe_requests.get(), counted + 1, "counted");
    assert_eq!((r[0].1, r[0].2), (None, KeyframeRequestKind::Pli));
    assert!(
        r[0].0 - t0 <= ms(2),
        "forwarded at once, not after {:?}",
        r[0].0 - t0
    );
    // The key frame the publisher sent in answer reaches the subscriber.
    let kf = publ
        .video_written
        .iter()
        .rfind(|w| w.2.keyframe)
        .expect("a key frame")
        .2;
    assert!(
        h.clients[subs[0].0]
            .rtp()
            .any(|p| tagged_video(&p.payload) == Some(kf)),
        "the subscriber got the key frame"
    );
}

#[test]
fn keyframe_requests_from_many_subscribers_coalesce_into_one() {
    let (mut h, mut publ, subs) = video_room(6);
    // The publisher answers 50 ms after a request (an encoder finishing its current frame).
    publ.kf_delay = ms(50);
    let t0 = h.now;
    let kf_before = publ.video_written.iter().filter(|w| w.2.keyframe).count();
    // Six subscribers lose the same packet and ask within 25 ms of each other, before the
    // key frame comes.
    for s in &subs {
        request_pli(&mut h, *s);
        h.run_for(ms(5), |h| publ.drive(h));
    }
    h.run_for(ms(1000), |h| publ.drive(h));
    let r = publ.requests_since(t0);
    assert_eq!(
        r.len(),
        1,
        "one request upstream for six subscribers: {r:?}"
    );
    assert!(r[0].0 - t0 <= ms(2));
    let kf_after = publ.video_written.iter().filter(|w| w.2.keyframe).count();
    assert_eq!(kf_after - kf_before, 1, "one key frame for all of them");
    for s in &subs {
        assert!(
            h.clients[s.0]
                .rtp()
                .filter_map(|p| tagged_video(&p.payload))
                .filter(|t| t.keyframe)
                .count()
                >= 2,
            "every subscriber got the key frame"
        );
    }
}

#[test]
fn a_keyframe_request_after_the_key_frame_waits_for_the_rate_limit() {
    let (mut h, mut publ, subs) = video_room(2);
    publ.kf_delay = ms(50);
    let t0 = h.now;
    request_pli(&mut h, subs[0]);
    h.run_for(ms(100), |h| publ.drive(h));
    // The key frame went out at t0 + 50 ms; this is a new loss, after it.
    request_pli(&mut h, subs[1]);
    h.run_for(ms(1000), |h| publ.drive(h));
    let r = publ.requests_since(t0);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].0 - t0 <= ms(2));
    let gap = r[1].0 - r[0].0;
    assert!(
        gap >= tessera_sfu::KEYFRAME_INTERVAL && gap <= tessera_sfu::KEYFRAME_INTERVAL + ms(2),
        "the second request waits for the rate limit: {gap:?}"
    );
}

#[test]
fn a_subscriber_fixed_to_a_simulcast_layer_gets_only_that_layer() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::AwsLcRs);
    let rids = ["l", "m", "h"];
    let mut publ = Publisher::new(&mut h, p, false, &rids);
    assert_eq!(
        publ.neg.answer.published[0].rids,
        rids.map(String::from).to_vec()
    );
    let mut subs = Vec::new();
    for r in rids {
        let s = h.add_client(&format!("sub-{r}"), Backend::Ours);
        let n = h.subscribe(s, &publ.video_track(Some(r)));
        subs.push((s, n.ssrc(n.mids[0])));
    }
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(2000), |h| publ.drive(h));
    publ.paused = true;
    h.run_for(ms(100), |h| publ.drive(h));

    for (layer, (s, ssrc)) in subs.iter().enumerate() {
        let id = h.clients[*s].id.clone();
        assert!(
            h.clients[*s].rtp().all(|p| ssrc_of(p) == *ssrc),
            "{id}: one SSRC"
        );
        let got = received(&h, *s, *ssrc);
        let frames: Vec<Tagged> = got.iter().map(|g| tagged_video(&g.3).unwrap()).collect();
        let written: Vec<Tagged> = publ
            .video_written
            .iter()
            .filter(|w| w.0 == layer)
            .map(|w| w.2)
            .collect();
        assert_eq!(frames, written, "{id}: exactly the frames of layer {layer}");
        assert_continuous(&id, &got.iter().map(|g| g.0).collect::<Vec<_>>());
    }
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

fn request_remb(h: &mut Harness, sub: (usize, u32), kbps: u64) {
    h.clients[sub.0]
        .rtc
        .direct_api()
        .stream_rx(&sub.1.into())
        .expect("receive stream")
        .request_remb(Bitrate::kbps(kbps));
}

/// The layers a subscriber received, in order of first arrival after each switch.
fn layer_sequence(h: &Harness, sub: (usize, u32)) -> Vec<u8> {
    let got = received(h, sub.0, sub.1);
    let mut layers: Vec<u8> = Vec::new();
    for (i, g) in got.iter().enumerate() {
        let f = tagged_video(&g.3).unwrap();
        if layers.last() != Some(&f.tag) {
            assert!(
                f.keyframe,
                "switched to layer {} on a delta frame (packet {i})",
                f.tag
            );
            layers.push(f.tag);
        }
    }
    layers
}

/// A publisher of three simulcast layers (about 33, 105 and 250 kbit/s: 100, 400 and 1000
/// payload bytes at 30 frames/s) whose key frames come 100 ms (three frames) after a request,
/// and one estimate-following subscriber of its video; connected and sending.
fn three_layers_and_a_subscriber(h: &mut Harness) -> (Publisher, (usize, u32)) {
    let p = h.add_client("pub", Backend::Ours);
    let mut publ = Publisher::new(h, p, false, &["l", "m", "h"]);
    publ.kf_delay = ms(100);
    let s = h.add_client("sub", Backend::AwsLcRs);
    let n = h.subscribe(s, &publ.video_track(None));
    let sub = (s, n.ssrc(n.mids[0]));
    h.connect_all();
    publ.start(h);
    (publ, sub)
}

/// A receiver-side estimate (REMB) stays near what arrives, so a subscriber whose estimate
/// sits at 1.4x its layer's rate is given the next layer up to see whether its estimate grows.
/// This one's stays fixed (a str0m peer reports the REMB it is told), so after
/// `PROBE_GROWTH` it goes back, and it is not tried again within the back-off.
#[test]
fn a_subscriber_whose_estimate_has_room_tries_the_next_layer_up() {
    let mut h = Harness::new();
    let (mut publ, sub) = three_layers_and_a_subscriber(&mut h);
    // Layers at about 33, 105 and 250 kbit/s: 150 kbit/s selects the middle one and is 1.4x
    // its rate, within 4x of the top one's.
    h.run_for(ms(1500), |h| publ.drive(h));
    request_remb(&mut h, sub, 150);
    h.run_for(ms(1500), |h| publ.drive(h));
    assert_eq!(
        layer_sequence(&h, sub),
        vec![0, 2, 1, 2],
        "the top layer is tried"
    );
    h.run_for(ms(4000), |h| publ.drive(h));
    assert_eq!(
        layer_sequence(&h, sub),
        vec![0, 2, 1, 2, 1],
        "the estimate did not grow: back to the middle layer"
    );
    h.run_for(ms(8000), |h| publ.drive(h));
    assert_eq!(
        layer_sequence(&h, sub),
        vec![0, 2, 1, 2, 1],
        "no new try within the back-off"
    );
    // /metrics: one try, not kept; four layer changes (to the top while there is no
    // estimate, to the middle with it, the try up and back down).
    assert_eq!(
        (
            h.metrics.layer_tries.get(),
            h.metrics.layer_tries_kept.get(),
            h.metrics.layer_changes.get()
        ),
        (1, 0, 4)
    );
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

#[test]
fn an_auto_subscriber_switches_layers_only_at_key_frames_keeping_one_ssrc() {
    let mut h = Harness::new();
    // Key frames come 100 ms after a request: the new layer's delta frames reach the server
    // first and must not be switched to.
    let (mut publ, sub) = three_layers_and_a_subscriber(&mut h);
    let s = sub.0;
    // No estimate yet: the sink climbs to the top layer. The layers run at about 33, 105 and
    // 250 kbit/s (100, 400 and 1000 payload bytes, 30 frames/s); a REMB of 130 kbit/s then
    // fits the middle one (with the 20% headroom going up needs) and 40 kbit/s the lowest.
    // Neither is 1.3x the layer it selects, so no higher layer is tried (see
    // `a_subscriber_whose_estimate_has_room_tries_the_next_layer_up`).
    h.run_for(ms(1500), |h| publ.drive(h));
    request_remb(&mut h, sub, 130);
    h.run_for(ms(1500), |h| publ.drive(h));
    request_remb(&mut h, sub, 40);
    h.run_for(ms(1500), |h| publ.drive(h));
    publ.paused = true;
    h.run_for(ms(100), |h| publ.drive(h));

    assert!(
        h.clients[s].rtp().all(|p| ssrc_of(p) == sub.1),
        "one SSRC throughout"
    );
    let got = received(&h, s, sub.1);
    let frames: Vec<Tagged> = got.iter().map(|g| tagged_video(&g.3).unwrap()).collect();
    assert_eq!(
        layer_sequence(&h, sub),
        vec![0, 2, 1, 0],
        "up with no estimate, then down with each REMB"
    );
    assert_continuous(
        "across switches",
        &got.iter().map(|g| g.0).collect::<Vec<_>>(),
    );
    for w in got.windows(2) {
        let d = w[1].2.wrapping_sub(w[0].2);
        assert!(
            d > 0 && d < 0x8000_0000,
            "timestamps move forward: {} -> {}",
            w[0].2,
            w[1].2
        );
    }
    // Between switches every frame of the layer arrives.
    for seg in frames.chunk_by(|a, b| a.tag == b.tag) {
        for w in seg.windows(2) {
            assert_eq!(
                w[1].frame,
                w[0].frame + 1,
                "layer {} lost a frame",
                w[0].tag
            );
        }
    }
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

#[test]
fn a_packet_lost_on_the_way_in_is_nacked_upstream_and_the_resend_forwarded() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::AwsLcRs);
    let s = h.add_client("sub", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, false, &[]);
    publ.resend_nacked = true;
    let n = h.subscribe(s, &publ.video_track(None));
    let sub_ssrc = n.ssrc(n.mids[0]);
    h.connect_all();
    let pub_ssrc = publ.video[0].ssrc(&mut h.clients[p].rtc);
    let lost = publ.video[0].seq as u16 + 20;
    let mut dropped = false;
    h.filter = Box::new(move |d: &Datagram<'_>| {
        if d.dir == Dir::Up && !dropped && rtp_ssrc_seq(d.data) == Some((pub_ssrc, lost)) {
            dropped = true;
            return false;
        }
        true
    });
    publ.start(&h);
    h.run_for(ms(1500), |h| publ.drive(h));
    publ.paused = true;
    h.run_for(ms(100), |h| publ.drive(h));

    assert_eq!(h.lost, [1, 0]);
    let nacks: Vec<(u32, u16)> = publ.nacks.iter().map(|n| (n.1, n.2)).collect();
    assert_eq!(
        nacks,
        vec![(pub_ssrc, lost)],
        "one NACK, for the lost packet"
    );
    // The gap is noticed when the next packet arrives; the NACK follows after the 5 ms
    // reordering allowance.
    let next_in = h
        .rtp_log
        .iter()
        .find(|l| l.1 == Dir::Up && l.3 == pub_ssrc && l.4 == lost.wrapping_add(1))
        .expect("the next packet arrived")
        .0;
    let delay = publ.nacks[0].0 - next_in;
    assert!(
        delay >= ms(5) && delay <= ms(6),
        "NACK {delay:?} after the gap showed"
    );

    // The subscriber ends up with every frame.
    let got = received(&h, s, sub_ssrc);
    let mut frames: Vec<u32> = got
        .iter()
        .map(|g| tagged_video(&g.3).unwrap().frame)
        .collect();
    frames.sort();
    assert_eq!(
        frames,
        (0..publ.video_written.len() as u32).collect::<Vec<_>>()
    );
    let mut seqs: Vec<u16> = got.iter().map(|g| g.0).collect();
    let first = seqs[0];
    seqs.sort_by_key(|x| x.wrapping_sub(first));
    assert_continuous("with the resent packet in place", &seqs);
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

#[test]
fn a_transport_that_goes_silent_is_removed_after_the_inactivity_timeout() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::AwsLcRs);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    h.subscribe(s, &publ.all_tracks());
    h.connect_all();
    // The worker's consent checks are lost: a peer that never answered one is judged by
    // inactivity alone (consent expiry is the next test's).
    h.filter = Box::new(|d: &Datagram<'_>| {
        !(d.client < 2 && d.dir == Dir::Down && d.data.starts_with(&[0, 1]))
    });
    publ.start(&h);
    h.run_for(ms(500), |h| publ.drive(h));
    assert_eq!(h.metrics.transports.get(), 2);
    h.take_media_events();

    h.clients[s].alive = false;
    let silent = h.clients[s].last_up.expect("the subscriber talked");
    let tick = ms(10);
    let mut failed_at = None;
    // Someone spoofing the vanished peer's address sends STUN that str0m takes without judging
    // (a binding response to no request of ours, with a made-up MESSAGE-INTEGRITY): it must
    // not keep the transport alive.
    let from = h.clients[s].addr;
    let mut spoofed = 0;
    while h.now < silent + Duration::from_secs(40) && failed_at.is_none() {
        if h.now >= silent + Duration::from_secs(spoofed * 5) {
            h.inject(from, forged_binding_response());
            spoofed += 1;
        }
        publ.drive(&mut h);
        h.tick(tick);
        for e in h.take_media_events() {
            assert_eq!(
                e,
                MediaEvent::TransportFailed {
                    transport_id: "sub".into(),
                    reason: "Peer inactive".into()
                }
            );
            failed_at = Some(h.now - tick);
        }
    }
    let at = failed_at.expect("the silent transport failed") - silent;
    let limit = tessera_webrtc::transport::INACTIVITY_TIMEOUT;
    assert!(
        at > limit && at <= limit + tick,
        "failed {at:?} after going silent"
    );
    assert_eq!(h.metrics.transports.get(), 1, "and was removed");

    // The publisher is untouched, and the worker keeps serving it and new subscribers.
    let out_before = h.metrics.rtp_out.get();
    h.run_for(ms(500), |h| publ.drive(h));
    assert_eq!(
        h.metrics.rtp_out.get(),
        out_before,
        "nothing is sent to the removed sink"
    );
    let s2 = h.add_client("sub2", Backend::Ours);
    let n2 = h.subscribe(s2, &publ.all_tracks());
    h.run_until(ms(2000), "a new subscriber gets video", |h| {
        publ.drive(h);
        h.clients[s2]
            .rtp()
            .any(|p| ssrc_of(p) == n2.ssrc(n2.mids[1]))
    });
    assert_eq!(
        h.take_media_events(),
        vec![MediaEvent::TransportReady {
            transport_id: "sub2".into()
        }]
    );
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

/// Once connected, the worker answers the peers' binding requests and sends its own consent
/// checks itself (not through str0m's ICE agent).
/// 1. For 40 s the consent checks are lost, so the str0m clients, which fail a pair whose checks
///    go unanswered for about 20 s (or that the other side stopped checking for 15 s), stay
///    connected on the worker's answers alone.
/// 2. For the next 30 s they get the checks and answer every one. Every binding request the
///    worker sent after connecting is a consent check.
/// 3. A forged binding request from a client's own address (right USERNAME, wrong
///    MESSAGE-INTEGRITY) is dropped and not answered.
/// 4. The clients' answers to the consent checks are lost: media, RTCP and the clients' own
///    checks keep flowing, yet both transports fail when consent expires, 30 s after the
///    last answer (RFC 7675).
#[test]
fn connected_transports_answer_ice_and_check_consent_themselves() {
    use std::cell::Cell;
    use std::rc::Rc;
    use tessera_node::DropReason;
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let s = h.add_client("sub", Backend::AwsLcRs);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    let neg = h.subscribe(s, &publ.all_tracks());
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(200), |h| publ.drive(h));
    let m = h.metrics.clone();
    let events_before: Vec<usize> = h.clients.iter().map(|c| c.events.len()).collect();
    let requests_down = Rc::new(Cell::new(0u64));
    let answers_down = Rc::new(Cell::new(0u64));
    let lose_checks = Rc::new(Cell::new(true));
    let lose_answers = Rc::new(Cell::new(false));
    let (seen, answers, lose_c, lose_a) = (
        requests_down.clone(),
        answers_down.clone(),
        lose_checks.clone(),
        lose_answers.clone(),
    );
    h.filter = Box::new(move |d: &Datagram<'_>| {
        let kind = (d.data.len() >= 20).then(|| [d.data[0], d.data[1]]);
        match (d.dir, kind) {
            (Dir::Down, Some([0, 1])) => {
                seen.set(seen.get() + 1);
                !lose_c.get()
            }
            (Dir::Down, Some([1, 1])) => {
                answers.set(answers.get() + 1);
                true
            }
            (Dir::Up, Some([1, 1])) => !lose_a.get(),
            _ => true,
        }
    });
    let no_ice_change = |h: &Harness| {
        for (c, &from) in h.clients.iter().zip(&events_before) {
            let changes: Vec<&Event> = c.events[from..]
                .iter()
                .filter(|e| matches!(e, Event::IceConnectionStateChange(_)))
                .collect();
            assert!(changes.is_empty(), "{}: ICE changed: {changes:?}", c.id);
        }
    };
    let run = |h: &mut Harness, publ: &mut Publisher, secs: u64| {
        let end = h.now + Duration::from_secs(secs);
        while h.now < end {
            publ.drive(h);
            h.tick(ms(10));
        }
    };

    // 1.
    let answered = m.ice_requests_answered.get();
    run(&mut h, &mut publ, 40);
    no_ice_change(&h);
    // str0m checks about every 3 s once connected: some 15 requests per client.
    let answered = m.ice_requests_answered.get() - answered;
    assert!(
        (20..=40).contains(&answered),
        "{answered} requests answered"
    );
    assert_eq!(m.consent_confirmed.get(), 0, "the checks were lost");

    // 2.
    lose_checks.set(false);
    let (checks, confirmed) = (m.consent_checks.get(), m.consent_confirmed.get());
    run(&mut h, &mut publ, 30);
    no_ice_change(&h);
    // One consent check every 4 to 6 s per transport, each answered in the same step.
    let checks = m.consent_checks.get() - checks;
    assert!((9..=16).contains(&checks), "{checks} consent checks");
    assert_eq!(m.consent_confirmed.get() - confirmed, checks);
    assert_eq!(
        requests_down.get(),
        m.consent_checks.get(),
        "str0m sent no check of its own"
    );
    assert_eq!(m.drops(DropReason::StunDtlsRejected), 0);
    assert_eq!(m.transports.get(), 2);

    // 3.
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .expect("a ufrag")
            .to_string()
    };
    let server_ufrag = ufrag(&neg.answer.sdp);
    let client_ufrag = h.clients[s].rtc.direct_api().local_ice_credentials().ufrag;
    let (down, answered) = (answers_down.get(), m.ice_requests_answered.get());
    let from = h.clients[s].addr;
    h.inject(
        from,
        forged_binding_request(&format!("{server_ufrag}:{client_ufrag}")),
    );
    h.step();
    assert_eq!(m.drops(DropReason::StunDtlsRejected), 1);
    assert_eq!(m.ice_requests_answered.get(), answered);
    assert_eq!(answers_down.get(), down, "it was not answered");

    // 4.
    lose_answers.set(true);
    let (lost_from, answered) = (h.now, m.ice_requests_answered.get());
    h.take_media_events();
    let mut failed = Vec::new();
    while failed.len() < 2 && h.now < lost_from + Duration::from_secs(40) {
        publ.drive(&mut h);
        h.tick(ms(10));
        for e in h.take_media_events() {
            failed.push((h.now - lost_from, e));
        }
    }
    assert!(
        m.ice_requests_answered.get() >= answered + 10,
        "the clients' own checks were still answered"
    );
    let earliest = tessera_webrtc::transport::CONSENT_TIMEOUT
        - tessera_webrtc::transport::CONSENT_INTERVAL.mul_f64(1.2);
    let latest = tessera_webrtc::transport::CONSENT_TIMEOUT + ms(20);
    let mut ids = Vec::new();
    for (at, e) in failed {
        let MediaEvent::TransportFailed {
            transport_id,
            reason,
        } = e
        else {
            panic!("unexpected {e:?}");
        };
        assert_eq!(reason, "Consent expired", "{transport_id}");
        assert!(
            at >= earliest && at <= latest,
            "{transport_id} failed {at:?} after its answers stopped"
        );
        ids.push(transport_id);
    }
    ids.sort();
    assert_eq!(ids, ["pub", "sub"]);
    assert_eq!(m.transports.get(), 0);
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}

#[test]
fn a_transport_that_never_connects_fails_after_the_connect_timeout() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    h.publish(p, &[MediaKind::Audio], &[]);
    h.clients[p].alive = false;
    let t0 = h.now;
    let tick = ms(10);
    let mut events = Vec::new();
    while h.now < t0 + Duration::from_secs(40) && events.is_empty() {
        h.tick(tick);
        events = h.take_media_events();
    }
    assert_eq!(
        events,
        vec![MediaEvent::TransportFailed {
            transport_id: "pub".into(),
            reason: "Ice procedure failed.".into()
        }]
    );
    let at = h.now - tick - t0;
    let limit = tessera_webrtc::transport::CONNECT_TIMEOUT;
    assert!(at > limit && at <= limit + tick, "failed after {at:?}");
    assert_eq!(h.metrics.transports.get(), 0);
}

/// A STUN binding success response with a made-up transaction id and MESSAGE-INTEGRITY.
fn forged_binding_response() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&0x0101u16.to_be_bytes());
    m.extend_from_slice(&36u16.to_be_bytes());
    m.extend_from_slice(&0x2112_a442u32.to_be_bytes());
    m.extend_from_slice(&[9; 12]);
    m.extend_from_slice(&[
        0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    ]);
    m.extend_from_slice(&0x0008u16.to_be_bytes());
    m.extend_from_slice(&20u16.to_be_bytes());
    m.extend_from_slice(&[0x5a; 20]);
    m
}

/// A STUN binding request naming `user`, with a MESSAGE-INTEGRITY that is not a valid HMAC.
fn forged_binding_request(user: &str) -> Vec<u8> {
    let mut attrs = Vec::new();
    attrs.extend_from_slice(&0x0006u16.to_be_bytes());
    attrs.extend_from_slice(&(user.len() as u16).to_be_bytes());
    attrs.extend_from_slice(user.as_bytes());
    while attrs.len() % 4 != 0 {
        attrs.push(0);
    }
    attrs.extend_from_slice(&0x0008u16.to_be_bytes());
    attrs.extend_from_slice(&20u16.to_be_bytes());
    attrs.extend_from_slice(&[0x5a; 20]);
    let mut m = Vec::new();
    m.extend_from_slice(&0x0001u16.to_be_bytes());
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&0x2112_a442u32.to_be_bytes());
    m.extend_from_slice(&[7; 12]);
    m.extend_from_slice(&attrs);
    m
}

#[test]
fn a_binding_request_failing_integrity_does_not_bind_its_source_address() {
    use tessera_node::DropReason;
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let neg = h.publish(p, &[MediaKind::Audio], &[]);
    h.connect_all();
    let ufrag = neg
        .answer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("the answer's ufrag")
        .to_string();
    let drops = |h: &Harness, r| h.metrics.drops(r);
    // Someone who saw the ufrag spoofs binding requests from many addresses.
    for port in 9000..9100u16 {
        let from: std::net::SocketAddr = ([10, 0, 0, 1], port).into();
        h.inject(from, forged_binding_request(&format!("{ufrag}:whoever")));
    }
    assert_eq!(
        drops(&h, DropReason::StunDtlsRejected),
        100,
        "str0m refuses them"
    );
    // Their addresses are still strangers: what comes from them next is not the transport's.
    let unknown = drops(&h, DropReason::UnknownSource);
    let mut rtp = vec![0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    rtp.extend_from_slice(&[0; 40]);
    h.inject(([10, 0, 0, 1], 9000).into(), rtp);
    assert_eq!(drops(&h, DropReason::UnknownSource), unknown + 1);
    assert_eq!(drops(&h, DropReason::SrtpAuthFailed), 0);
}

/// Sessions that come and go leave the shard's tables as they were: subscribers that close,
/// end their subscription first, go silent (inactivity timeout), never connect (connect
/// timeout), or never answer the server's offer (closed, or left to the connect timeout); then
/// a second publisher with subscribers of its own that leaves first. Only the first
/// publisher's entries remain, and when it closes the tables are empty. One shard only: relay
/// cleanup across shards is checked by the node's relay tests and the fan-out REST tests.
#[test]
fn sessions_that_end_in_every_way_leave_the_shard_tables_as_they_were() {
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let mut publ = Publisher::new(&mut h, p, true, &[]);
    h.connect_all();
    publ.start(&h);
    h.run_for(ms(300), |h| publ.drive(h));
    let baseline = h.worker.tables();
    assert_eq!(
        (
            baseline.transports,
            baseline.tracks,
            baseline.router.sources
        ),
        (1, 2, 2),
        "{baseline:?}"
    );
    let tick = ms(10);
    // Runs until `id`'s transport has failed (the worker removes it then).
    let until_failed = |h: &mut Harness, publ: &mut Publisher, id: &str| {
        let t0 = h.now;
        let mut failed = false;
        while !failed && h.now < t0 + Duration::from_secs(40) {
            publ.drive(h);
            h.tick(tick);
            failed = h.take_media_events().iter().any(|e| {
                matches!(e, MediaEvent::TransportFailed { transport_id, .. } if transport_id == id)
            });
        }
        assert!(failed, "{id} failed within 40 s");
    };
    for i in 0..10 {
        let id = format!("sub{i}");
        let backend = if i % 2 == 0 {
            Backend::Ours
        } else {
            Backend::AwsLcRs
        };
        let s = h.add_client(&id, backend);
        let how = i % 5;
        let n = if how == 4 {
            h.subscribe_by_server_offer_unanswered(s, &publ.all_tracks())
        } else {
            h.subscribe(s, &publ.all_tracks())
        };
        if how == 3 || how == 4 {
            h.clients[s].alive = false;
            if how == 4 && i < 5 {
                // The player gives up on the offer and the session is closed.
                h.run_for(ms(200), |h| publ.drive(h));
                h.command(|tx| Command::Close(id.clone(), tx)).unwrap();
            } else {
                // Never connects (or never answers): the connect timeout removes it.
                until_failed(&mut h, &mut publ, &id);
            }
        } else {
            let video = n.ssrc(n.mids[1]);
            h.run_until(ms(3000), "the subscriber gets video", |h| {
                publ.drive(h);
                h.clients[s].rtp().any(|p| ssrc_of(p) == video)
            });
            // An estimate from the subscriber, so the router keeps one for its transport.
            request_remb(&mut h, (s, video), 300);
            h.run_for(ms(300), |h| publ.drive(h));
            let t = h.worker.tables();
            assert!(t.router.estimates > 0, "an estimate is kept: {t:?}");
            assert_eq!(t.router.sinks, 2, "{t:?}");
            match how {
                0 => h.command(|tx| Command::Close(id.clone(), tx)).unwrap(),
                1 => {
                    let session = format!("{id}-sub");
                    h.command(|tx| Command::EndSession(id.clone(), session, tx))
                        .unwrap();
                    // The subscription's sinks are gone; its transport stays until closed.
                    let t = h.worker.tables();
                    assert_eq!(
                        (t.router.sinks, t.router.attached_sinks, t.transports),
                        (0, 0, baseline.transports + 1),
                        "{t:?}"
                    );
                    h.command(|tx| Command::Close(id.clone(), tx)).unwrap();
                }
                _ => {
                    // Goes silent: the inactivity timeout removes it.
                    h.clients[s].alive = false;
                    until_failed(&mut h, &mut publ, &id);
                }
            }
        }
        h.clients[s].alive = false;
        h.run_for(ms(100), |h| publ.drive(h));
        assert_eq!(h.worker.tables(), baseline, "after {id} (case {how})");
    }

    // A second publisher with two subscribers leaves before they do.
    let p2 = h.add_client("pub2", Backend::AwsLcRs);
    let mut publ2 = Publisher::new(&mut h, p2, true, &[]);
    let subs: Vec<usize> = (0..2)
        .map(|i| h.add_client(&format!("viewer{i}"), Backend::Ours))
        .collect();
    for &s in &subs {
        h.subscribe(s, &publ2.all_tracks());
    }
    publ2.start(&h);
    h.run_until(ms(3000), "both viewers get media", |h| {
        publ.drive(h);
        publ2.drive(h);
        subs.iter().all(|&s| h.clients[s].rtp().next().is_some())
    });
    h.command(|tx| Command::Close("pub2".into(), tx)).unwrap();
    h.clients[p2].alive = false;
    h.run_for(ms(100), |h| publ.drive(h));
    // Its sources went, and the viewers' sinks with them.
    let t = h.worker.tables();
    assert_eq!(
        (t.router.sources, t.router.sinks),
        (baseline.router.sources, baseline.router.sinks),
        "{t:?}"
    );
    for (i, &s) in subs.iter().enumerate() {
        h.command(|tx| Command::Close(format!("viewer{i}"), tx))
            .unwrap();
        h.clients[s].alive = false;
    }
    h.run_for(ms(100), |h| publ.drive(h));
    assert_eq!(h.worker.tables(), baseline, "after the second publisher");

    h.command(|tx| Command::Close("pub".into(), tx)).unwrap();
    h.clients[p].alive = false;
    h.run_for(ms(100), |_| {});
    assert_eq!(h.worker.tables(), Default::default(), "nothing left");
    assert_eq!(h.metrics.transports.get(), 0);
    assert!(h.client_errors.is_empty(), "{:?}", h.client_errors);
}
