//! Router tests on a simulated clock with hand-built packets.

use std::time::{Duration, Instant};

use tessera_rtp::rtp::{RtpHeader, RtpWriter};

use super::*;

#[derive(Default)]
struct Recorder {
    rtp: Vec<(TransportKey, Vec<u8>)>,
    nacks: Vec<(TransportKey, u32, Vec<u16>)>,
    keyframes: Vec<(TransportKey, u32, bool)>,
    rrs: Vec<(TransportKey, ReportBlock)>,
    srs: Vec<(TransportKey, SenderReport)>,
    relayed: Vec<(RelayId, u8, Vec<u8>)>,
    rates: Vec<(RelayId, [u64; MAX_LAYERS], u8)>,
}

impl Out for Recorder {
    fn send_rtp(&mut self, transport: TransportKey, write: &mut dyn FnMut(&mut [u8]) -> usize) {
        let mut buf = [0u8; 2048];
        let n = write(&mut buf);
        if n > 0 {
            self.rtp.push((transport, buf[..n].to_vec()));
        }
    }
    fn send_nack(&mut self, transport: TransportKey, media_ssrc: u32, seqs: &[u16]) {
        self.nacks.push((transport, media_ssrc, seqs.to_vec()));
    }
    fn send_keyframe_request(&mut self, transport: TransportKey, media_ssrc: u32, fir: bool) {
        self.keyframes.push((transport, media_ssrc, fir));
    }
    fn send_receiver_report(&mut self, transport: TransportKey, block: ReportBlock) {
        self.rrs.push((transport, block));
    }
    fn send_sender_report(&mut self, transport: TransportKey, sr: SenderReport) {
        self.srs.push((transport, sr));
    }
    fn relay(&mut self, relay: RelayId, layer: u8, packet: &[u8]) {
        self.relayed.push((relay, layer, packet.to_vec()));
    }
    fn relay_layer_rates(&mut self, relay: RelayId, rates: [u64; MAX_LAYERS], live: u8) {
        self.rates.push((relay, rates, live));
    }
}

const PUB: TransportKey = 100;

fn audio_spec() -> SourceSpec {
    SourceSpec {
        kind: Kind::Audio,
        codec: Codec::Opus,
        clock_rate: 48000,
        layers: 1,
        publisher: PUB,
        nack: false,
        pli: false,
        fir: false,
        audio_level_id: Some(1),
        video_orientation_id: None,
        relayed: false,
    }
}

fn video_spec(layers: u8) -> SourceSpec {
    SourceSpec {
        kind: Kind::Video,
        codec: Codec::Vp8,
        clock_rate: 90000,
        layers,
        publisher: PUB,
        nack: true,
        pli: true,
        fir: true,
        audio_level_id: None,
        video_orientation_id: None,
        relayed: false,
    }
}

/// What the adopting shard gives a relayed source: its "publisher" is a relay key.
fn relayed_video_spec(layers: u8) -> SourceSpec {
    SourceSpec {
        publisher: 1 << 40,
        relayed: true,
        ..video_spec(layers)
    }
}

fn sink_spec(transport: TransportKey, ssrc: u32, pt: u8) -> SinkSpec {
    SinkSpec {
        transport,
        ssrc,
        pt,
        mid: format!("m{transport}"),
        mid_id: Some(4),
        abs_send_time_id: Some(2),
        audio_level_id: Some(9),
        video_orientation_id: None,
        layer: LayerChoice::Auto,
    }
}

fn packet(ssrc: u32, seq: u16, ts: u32, payload: &[u8], exts: &[(u8, &[u8])]) -> Vec<u8> {
    let w = RtpWriter {
        marker: false,
        payload_type: 111,
        sequence_number: seq,
        timestamp: ts,
        ssrc,
        csrcs: &[],
        extensions: exts,
    };
    let mut buf = vec![0u8; 1500];
    let n = w.write_packet(payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// VP8 payload: descriptor with S=1, PID=0, then the first payload byte (bit 0 = inverse
/// key-frame flag).
fn vp8(key: bool) -> Vec<u8> {
    vec![0x10, if key { 0x00 } else { 0x01 }, 0xaa, 0xbb]
}

/// An RTP packet of `ssrc` carrying [`vp8`].
fn vp8_at(ssrc: u32, seq: u16, ts: u32, key: bool) -> Vec<u8> {
    packet(ssrc, seq, ts, &vp8(key), &[])
}

fn feed(r: &mut Router, now: Instant, src: SourceKey, layer: u8, pkt: &[u8], out: &mut Recorder) {
    let h = RtpHeader::parse(pkt).unwrap();
    r.on_rtp(now, src, layer, &h, out);
}

#[test]
fn audio_reaches_every_sink_rewritten() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(audio_spec());
    r.add_sink(t0, src, sink_spec(1, 1111, 100), 500).unwrap();
    r.add_sink(t0, src, sink_spec(2, 2222, 101), 9000).unwrap();
    let mut out = Recorder::default();
    for i in 0..3u16 {
        feed(
            &mut r,
            t0,
            src,
            0,
            &packet(42, 7000 + i, 960 * i as u32, b"opus", &[(1, &[0x85])]),
            &mut out,
        );
    }
    assert_eq!(out.rtp.len(), 6);
    let to1: Vec<_> = out
        .rtp
        .iter()
        .filter(|(t, _)| *t == 1)
        .map(|(_, p)| p.clone())
        .collect();
    for (i, p) in to1.iter().enumerate() {
        let h = RtpHeader::parse(p).unwrap();
        assert_eq!(h.ssrc(), 1111);
        assert_eq!(h.payload_type(), 100);
        assert_eq!(h.sequence_number(), 500 + i as u16);
        assert_eq!(h.payload(), b"opus");
        assert_eq!(h.extension(4), Some(&b"m1"[..]), "the subscriber's mid");
        assert_eq!(
            h.extension(9),
            Some(&[0x85][..]),
            "audio level moved to the subscriber's id"
        );
        assert!(h.extension(2).is_some(), "abs-send-time");
    }
    assert_eq!(r.stats().packets_out, 6);
}

#[test]
fn video_starts_at_a_key_frame_and_asks_for_one() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(1));
    let mut out = Recorder::default();
    feed(&mut r, t0, src, 0, &vp8_at(55, 1, 0, false), &mut out);
    r.add_sink(t0, src, sink_spec(1, 1111, 96), 1).unwrap();
    feed(&mut r, t0, src, 0, &vp8_at(55, 2, 3000, false), &mut out);
    assert!(out.rtp.is_empty(), "no delta frame before a key frame");
    r.poll(t0, &mut out);
    assert_eq!(out.keyframes, vec![(PUB, 55, false)], "one PLI upstream");
    feed(&mut r, t0, src, 0, &vp8_at(55, 3, 6000, true), &mut out);
    feed(&mut r, t0, src, 0, &vp8_at(55, 4, 9000, false), &mut out);
    let seqs: Vec<u16> = out
        .rtp
        .iter()
        .map(|(_, p)| RtpHeader::parse(p).unwrap().sequence_number())
        .collect();
    assert_eq!(seqs, vec![1, 2]);
}

#[test]
fn keyframe_requests_are_coalesced() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(1));
    let mut out = Recorder::default();
    feed(&mut r, t0, src, 0, &vp8_at(55, 1, 0, true), &mut out);
    let sinks: Vec<_> = (0..20)
        .map(|i| {
            r.add_sink(t0, src, sink_spec(i, 1000 + i as u32, 96), 1)
                .unwrap()
        })
        .collect();
    r.poll(t0, &mut out);
    for s in &sinks {
        r.on_sink_keyframe_request(t0 + Duration::from_millis(10), *s);
    }
    r.poll(t0 + Duration::from_millis(10), &mut out);
    assert_eq!(
        out.keyframes.len(),
        1,
        "twenty requests within the interval make one PLI"
    );
    r.poll(t0 + KEYFRAME_INTERVAL + Duration::from_millis(1), &mut out);
    assert_eq!(
        out.keyframes.len(),
        2,
        "the pending request goes out after the interval"
    );
}

#[test]
fn a_first_keyframe_request_on_a_flowing_layer_is_due_at_once() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let mut out = Recorder::default();
    let t1 = t0 + Duration::from_millis(100);
    feed(&mut r, t1, src, 1, &vp8_at(77, 1, 0, false), &mut out);
    // Nothing was ever asked of layer 1; its SSRC is known.
    r.request_keyframe(t1, src, 1);
    assert!(
        r.poll_timeout() <= t1,
        "due now, not at the next packet or report"
    );
    r.poll(t1, &mut out);
    assert_eq!(out.keyframes, vec![(PUB, 77, false)]);
    assert!(r.poll_timeout() > t1, "and no busy timer after it went out");
}

#[test]
fn a_key_frame_answers_keyframe_requests_waiting_for_the_rate_limit() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(1));
    let mut out = Recorder::default();
    feed(&mut r, t0, src, 0, &vp8_at(55, 1, 0, true), &mut out);
    let sinks: Vec<_> = (0..3)
        .map(|i| {
            r.add_sink(t0, src, sink_spec(i, 1000 + i as u32, 96), 1)
                .unwrap()
        })
        .collect();
    r.poll(t0, &mut out);
    assert_eq!(out.keyframes.len(), 1, "the first request goes out at once");
    // More subscribers ask while the rate limit holds, then the key frame comes.
    for s in &sinks {
        r.on_sink_keyframe_request(t0 + ms(10), *s);
    }
    r.poll(t0 + ms(10), &mut out);
    feed(
        &mut r,
        t0 + ms(50),
        src,
        0,
        &packet(55, 2, 3000, &vp8(true), &[]),
        &mut out,
    );
    r.poll(t0 + KEYFRAME_INTERVAL + ms(1), &mut out);
    assert_eq!(
        out.keyframes.len(),
        1,
        "the key frame answered the requests made before it"
    );
    // A delta frame does not.
    r.on_sink_keyframe_request(t0 + ms(400), sinks[0]);
    feed(
        &mut r,
        t0 + ms(410),
        src,
        0,
        &packet(55, 3, 6000, &vp8(false), &[]),
        &mut out,
    );
    r.poll(t0 + ms(410), &mut out);
    assert_eq!(out.keyframes.len(), 2);
}

#[test]
fn subscriber_nacks_are_served_from_the_buffer() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(1));
    let sink = r.add_sink(t0, src, sink_spec(1, 1111, 96), 300).unwrap();
    let mut out = Recorder::default();
    feed(&mut r, t0, src, 0, &vp8_at(55, 10, 0, true), &mut out);
    for i in 11..20u16 {
        feed(&mut r, t0, src, 0, &vp8_at(55, i, 0, false), &mut out);
    }
    out.rtp.clear();
    r.on_sink_nack(t0, sink, &[303, 305, 999], &mut out);
    let got: Vec<(u16, u32)> = out
        .rtp
        .iter()
        .map(|(_, p)| {
            let h = RtpHeader::parse(p).unwrap();
            (h.sequence_number(), h.ssrc())
        })
        .collect();
    assert_eq!(got, vec![(303, 1111), (305, 1111)]);
    assert_eq!(r.stats().retransmitted, 2);
    assert_eq!(r.stats().nack_misses, 1);
}

#[test]
fn publisher_gaps_are_nacked_and_reported() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(1));
    let mut out = Recorder::default();
    for s in [1u16, 2, 5, 6] {
        feed(
            &mut r,
            t0,
            src,
            0,
            &packet(55, s, 0, &vp8(s == 1), &[]),
            &mut out,
        );
    }
    r.poll(t0 + Duration::from_millis(10), &mut out);
    assert_eq!(out.nacks, vec![(PUB, 55, vec![3, 4])]);
    r.poll(t0 + RR_INTERVAL, &mut out);
    let (t, block) = out.rrs[0];
    assert_eq!((t, block.ssrc, block.cumulative_lost), (PUB, 55, 2));
}

#[test]
fn simulcast_switches_layers_at_key_frames_with_one_output_ssrc() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let sink = r.add_sink(t0, src, sink_spec(1, 1111, 96), 1).unwrap();
    let mut out = Recorder::default();
    let mut t = t0;
    // Layer 0 (low) and layer 1 (high) both flow; layer 1 carries more bytes.
    let big = [0u8; 900];
    let mut seq = [100u16, 5000u16];
    for frame in 0..80u32 {
        t += Duration::from_millis(33);
        for layer in 0..2u8 {
            let key = frame % 40 == 0;
            let mut payload = vp8(key);
            if layer == 1 {
                payload.extend_from_slice(&big);
            }
            let ssrc = 60 + layer as u32;
            feed(
                &mut r,
                t,
                src,
                layer,
                &packet(ssrc, seq[layer as usize], frame * 3000, &payload, &[]),
                &mut out,
            );
            seq[layer as usize] = seq[layer as usize].wrapping_add(1);
        }
        r.poll(t, &mut out);
    }
    assert_eq!(
        r.sink_layers(sink).unwrap().0,
        Some(1),
        "no estimate: the best layer is chosen"
    );
    let hdrs: Vec<(u32, u16)> = out
        .rtp
        .iter()
        .map(|(_, p)| {
            let h = RtpHeader::parse(p).unwrap();
            (h.ssrc(), h.sequence_number())
        })
        .collect();
    assert!(hdrs.iter().all(|(s, _)| *s == 1111));
    for w in hdrs.windows(2) {
        assert_eq!(
            w[1].1,
            w[0].1.wrapping_add(1),
            "continuous output sequence numbers"
        );
    }
    // A low estimate brings it back down at the next key frame of layer 0.
    r.set_estimate(1, 50_000);
    out.rtp.clear();
    for frame in 80..160u32 {
        t += Duration::from_millis(33);
        for layer in 0..2u8 {
            let key = frame % 40 == 0;
            let mut payload = vp8(key);
            if layer == 1 {
                payload.extend_from_slice(&big);
            }
            feed(
                &mut r,
                t,
                src,
                layer,
                &packet(
                    60 + layer as u32,
                    seq[layer as usize],
                    frame * 3000,
                    &payload,
                    &[],
                ),
                &mut out,
            );
            seq[layer as usize] = seq[layer as usize].wrapping_add(1);
        }
        r.poll(t, &mut out);
    }
    assert_eq!(r.sink_layers(sink).unwrap(), (Some(0), 0));
}

#[test]
fn sender_reports_follow_the_publishers_clock_mapping() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(audio_spec());
    r.add_sink(t0, src, sink_spec(1, 1111, 100), 1).unwrap();
    let mut out = Recorder::default();
    feed(
        &mut r,
        t0,
        src,
        0,
        &packet(42, 10, 48_000, b"x", &[]),
        &mut out,
    );
    r.poll(t0, &mut out);
    assert!(out.srs.is_empty(), "no SR before the publisher's SR");
    r.on_sender_report(t0, src, 0, 7 << 32, 48_000);
    r.poll(t0 + Duration::from_millis(500), &mut out);
    let (t, sr) = out.srs[0];
    assert_eq!((t, sr.ssrc, sr.packets), (1, 1111, 1));
    assert_eq!(sr.rtp, 48_000 + 24_000, "the mapping extrapolated by 0.5 s");
    assert_eq!(sr.ntp >> 32, 7);
}

#[test]
fn relays_get_the_publishers_packets_unchanged_while_unmuted() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    assert!(r.add_relay(src, 7));
    assert!(r.add_relay(src, 7), "adding twice is one relay");
    assert!(!r.add_relay(src + 1, 8), "no such source");
    let mut out = Recorder::default();
    let p0 = packet(0xaaaa, 10, 1000, &vp8(true), &[]);
    let p1 = packet(0xbbbb, 20, 1000, &vp8(false), &[]);
    feed(&mut r, t0, src, 0, &p0, &mut out);
    feed(&mut r, t0, src, 1, &p1, &mut out);
    assert_eq!(out.relayed, vec![(7, 0, p0.clone()), (7, 1, p1.clone())]);
    assert!(out.rtp.is_empty(), "no sinks, nothing forwarded");
    assert_eq!(r.layer_of_ssrc(src, 0xbbbb), Some(1));
    assert_eq!(r.layer_of_ssrc(src, 0xcccc), None);

    // Muted: nothing relayed; padding-only packets never are.
    r.set_source_muted(src, true);
    feed(
        &mut r,
        t0,
        src,
        0,
        &vp8_at(0xaaaa, 11, 1000, false),
        &mut out,
    );
    r.set_source_muted(src, false);
    feed(
        &mut r,
        t0,
        src,
        0,
        &packet(0xaaaa, 12, 1000, &[], &[]),
        &mut out,
    );
    assert_eq!(out.relayed.len(), 2);

    r.remove_relay(src, 7);
    feed(
        &mut r,
        t0,
        src,
        0,
        &vp8_at(0xaaaa, 13, 1000, false),
        &mut out,
    );
    assert_eq!(out.relayed.len(), 2, "a removed relay gets nothing");
}

#[test]
fn a_relayed_source_asks_its_publisher_key_for_key_frames() {
    // What the adopting shard does: the relayed source's "publisher" is a relay key.
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(relayed_video_spec(1));
    let sink = r.add_sink(t0, src, sink_spec(1, 1111, 100), 0).unwrap();
    assert_eq!(r.sink_source(sink), Some(src));
    assert_eq!(r.sink_count(src), 1);
    let mut out = Recorder::default();
    // The first relayed packet shows the SSRC: the pending request goes out to the relay key.
    feed(&mut r, t0, src, 0, &vp8_at(0xaaaa, 1, 0, false), &mut out);
    assert_eq!(out.keyframes, vec![(1 << 40, 0xaaaa, false)]);
    // A gap in the relayed stream is not NACKed (the source's shard does that), and no
    // receiver report goes to the relay; the sink still gets what arrives.
    feed(&mut r, t0, src, 0, &vp8_at(0xaaaa, 5, 0, false), &mut out);
    r.poll(t0 + Duration::from_secs(2), &mut out);
    assert!(out.nacks.is_empty(), "{:?}", out.nacks);
    assert!(out.rrs.is_empty());
    assert_eq!(r.sender_report_of(src, 0), None);
    r.on_sender_report(t0, src, 0, 1 << 40, 1234);
    assert_eq!(r.sender_report_of(src, 0), Some((1 << 40, 1234)));
    assert_eq!(r.layer_count(src), 1);
    r.remove_sink(sink);
    assert_eq!(r.sink_count(src), 0);
}

#[test]
fn a_relay_hands_on_only_the_layers_asked_for() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(3));
    assert!(r.add_relay(src, 7));
    let mut out = Recorder::default();
    let send = |r: &mut Router, out: &mut Recorder, seq: u16| {
        for layer in 0..3u8 {
            let p = packet(0xa0 + layer as u32, seq, 0, &vp8(false), &[]);
            feed(r, t0, src, layer, &p, out);
        }
    };
    send(&mut r, &mut out, 1);
    let layers = |out: &Recorder| out.relayed.iter().map(|p| p.1).collect::<Vec<_>>();
    assert_eq!(layers(&out), [0, 1, 2], "every layer until told otherwise");
    out.relayed.clear();
    r.set_relay_layers(src, 7, 0b100);
    send(&mut r, &mut out, 2);
    assert_eq!(layers(&out), [2]);
    out.relayed.clear();
    r.set_relay_layers(src, 7, 0b011);
    r.set_relay_layers(src, 8, 0b111); // no such relay: nothing changes
    send(&mut r, &mut out, 3);
    assert_eq!(layers(&out), [0, 1]);
}

#[test]
fn a_relayed_source_wants_the_layers_its_sinks_receive() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(relayed_video_spec(3));
    let mut changed = Vec::new();
    r.take_wanted_changed(&mut changed);
    assert!(changed.is_empty(), "no sinks yet, nothing changed");

    let fixed = |l: u8| SinkSpec {
        layer: LayerChoice::Fixed(l),
        ..sink_spec(1, 1111, 96)
    };
    let a = r.add_sink(t0, src, fixed(2), 0).unwrap();
    let b = r.add_sink(t0, src, fixed(0), 0).unwrap();
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src], "listed once for both additions");
    assert_eq!(r.wanted_layers(src), 0b101);
    changed.clear();

    // A paused sink needs nothing; a sink following its estimate needs every layer.
    r.set_sink_paused(b, true);
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src]);
    assert_eq!(r.wanted_layers(src), 0b100);
    changed.clear();
    r.set_sink_layer(t0, a, LayerChoice::Auto);
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src]);
    assert_eq!(r.wanted_layers(src), ALL_LAYERS);
    changed.clear();

    // A sink switching layers wants both until the switch is done, then the new one only.
    r.set_sink_layer(t0, a, LayerChoice::Fixed(2));
    r.set_sink_paused(b, false);
    let mut out = Recorder::default();
    feed(&mut r, t0, src, 2, &vp8_at(0xa2, 1, 0, true), &mut out);
    assert_eq!(r.sink_layers(a), Some((Some(2), 2)));
    r.set_sink_layer(t0, a, LayerChoice::Fixed(1));
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src]);
    assert_eq!(r.wanted_layers(src), 0b111, "b on 0, a leaving 2 for 1");
    changed.clear();
    feed(&mut r, t0, src, 1, &vp8_at(0xa1, 1, 0, true), &mut out);
    assert_eq!(r.sink_layers(a), Some((Some(1), 1)));
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src], "the finished switch is a change");
    assert_eq!(r.wanted_layers(src), 0b011);
    changed.clear();

    r.remove_sink(b);
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src]);
    assert_eq!(r.wanted_layers(src), 0b010);

    // Sources that are not relayed, or have one layer, are never listed.
    let own = r.add_source(video_spec(3));
    let mut one = video_spec(1);
    one.relayed = true;
    let single = r.add_source(one);
    changed.clear();
    r.add_sink(t0, own, fixed(1), 0).unwrap();
    r.add_sink(t0, single, fixed(0), 0).unwrap();
    r.take_wanted_changed(&mut changed);
    assert!(changed.is_empty(), "{changed:?}");
    assert_eq!(r.wanted_layers(single), ALL_LAYERS);
}

#[test]
fn a_relayed_source_chooses_layers_from_the_reported_rates_and_wants_only_those() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(relayed_video_spec(3));
    let sink = r.add_sink(t0, src, sink_spec(1, 1111, 96), 0).unwrap();
    r.set_estimate(1, 1_000_000);
    let mut changed = Vec::new();
    r.take_wanted_changed(&mut changed);
    assert_eq!(
        r.wanted_layers(src),
        ALL_LAYERS,
        "no rates yet: every layer"
    );
    changed.clear();

    r.set_relayed_rates(t0, src, [100_000, 500_000, 2_000_000, 0], 0b111);
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src], "the first report narrows what is wanted");
    assert_eq!(
        r.wanted_layers(src),
        0b001,
        "the auto sink starts on layer 0"
    );
    changed.clear();

    // The next layer choice uses the reported rates: 500 kbit/s fits 1 Mbit/s with headroom.
    let mut out = Recorder::default();
    let t1 = t0 + LAYER_INTERVAL;
    r.set_relayed_rates(t1, src, [100_000, 500_000, 2_000_000, 0], 0b111);
    r.poll(t1, &mut out);
    assert_eq!(r.sink_layers(sink), Some((None, 1)));
    r.take_wanted_changed(&mut changed);
    assert_eq!(changed, [src]);
    assert_eq!(r.wanted_layers(src), 0b010);
    changed.clear();

    // A layer reported dead is not chosen; a stale report is not used.
    r.set_estimate(1, 10_000_000);
    let t2 = t1 + LAYER_INTERVAL;
    r.set_relayed_rates(t2, src, [100_000, 500_000, 2_000_000, 0], 0b011);
    r.poll(t2, &mut out);
    assert_eq!(r.sink_layers(sink), Some((None, 1)), "layer 2 is not live");
    let t3 = t2 + LAYER_TIMEOUT + LAYER_INTERVAL;
    r.poll(t3, &mut out);
    assert_eq!(
        r.sink_layers(sink),
        Some((None, 1)),
        "nothing live here, no report: no change"
    );
}

#[test]
fn a_source_reports_its_layer_rates_to_its_relays() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let single = r.add_source(video_spec(1));
    assert!(r.add_relay(src, 7));
    assert!(r.add_relay(single, 8));
    let mut out = Recorder::default();
    let mut t = t0;
    for i in 0..80u16 {
        t += Duration::from_millis(33);
        let big = vec![0u8; 1000];
        feed(&mut r, t, src, 1, &packet(0xb1, i, 0, &big, &[]), &mut out);
        if i < 5 {
            feed(&mut r, t, src, 0, &vp8_at(0xb0, i, 0, false), &mut out);
        }
        feed(&mut r, t, single, 0, &vp8_at(0xc0, i, 0, false), &mut out);
        r.poll(t, &mut out);
    }
    let last = out.rates.last().copied().expect("reports");
    assert!(
        out.rates.iter().all(|(relay, _, _)| *relay == 7),
        "one-layer sources report nothing"
    );
    let (_, rates, live) = last;
    assert_eq!(live, 0b10, "layer 0 stopped long before the last report");
    assert!(rates[1] > 200_000, "{rates:?}");
    let reports = out.rates.len();
    assert!(
        (4..=6).contains(&reports),
        "one per layer interval: {reports}"
    );
}

#[test]
fn counters_report_each_layers_receipts_and_each_sinks_sends() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let sink = r.add_sink(t0, src, sink_spec(1, 1111, 96), 1).unwrap();
    let paused = r.add_sink(t0, src, sink_spec(2, 2222, 96), 1).unwrap();
    r.set_sink_paused(paused, true);
    let mut out = Recorder::default();
    let mut t = t0;
    // Layer 0: 30 frames of one packet, sequence number 10 never arrives. Layer 1: 5 packets.
    for frame in 0..30u32 {
        t += Duration::from_millis(50);
        if frame != 10 {
            let p = packet(60, frame as u16, frame * 3000, &vp8(frame == 0), &[]);
            feed(&mut r, t, src, 0, &p, &mut out);
        }
        if frame < 5 {
            let p = packet(61, 900 + frame as u16, frame * 3000, &[0x10, 1, 2], &[]);
            feed(&mut r, t, src, 1, &p, &mut out);
        }
    }
    let (muted, layers) = r.source_counters(src).unwrap();
    assert!(!muted);
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0].ssrc, Some(60));
    assert_eq!(layers[0].packets, 29);
    assert_eq!(layers[0].octets, 29 * 4);
    assert_eq!(layers[0].lost, 1, "one gap");
    assert!(layers[0].bitrate > 0, "a full second passed");
    assert_eq!(layers[1].ssrc, Some(61));
    assert_eq!(layers[1].packets, 5);
    assert_eq!(layers[1].octets, 15);
    assert_eq!(layers[1].lost, 0);
    let c = r.sink_counters(sink).unwrap();
    assert_eq!((c.layer, c.paused), (Some(0), false));
    assert_eq!(c.packets, 29, "layer 0 from its key frame on");
    assert_eq!(c.octets, 29 * 4);
    let p = r.sink_counters(paused).unwrap();
    assert_eq!((p.packets, p.octets, p.layer, p.paused), (0, 0, None, true));
    r.set_source_muted(src, true);
    assert!(r.source_counters(src).unwrap().0);
    r.remove_sink(sink);
    assert!(r.sink_counters(sink).is_none());
}

#[test]
fn a_sink_moved_to_another_source_continues_its_stream_from_a_key_frame() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let a = r.add_source(video_spec(1));
    let b = r.add_source(SourceSpec {
        publisher: PUB + 1,
        ..video_spec(1)
    });
    let sink = r.add_sink(t0, a, sink_spec(1, 1111, 96), 300).unwrap();
    let mut out = Recorder::default();
    let mut t = t0;
    for i in 0..5u16 {
        t += Duration::from_millis(33);
        let p = packet(55, 10 + i, 1000 + 3000 * i as u32, &vp8(i == 0), &[]);
        feed(&mut r, t, a, 0, &p, &mut out);
    }
    assert_eq!(out.rtp.len(), 5);
    let last = RtpHeader::parse(&out.rtp[4].1).unwrap();
    let (last_seq, last_ts) = (last.sequence_number(), last.timestamp());
    assert_eq!(last_seq, 304);
    out.rtp.clear();
    out.keyframes.clear();

    assert!(r.move_sink(t, sink, b));
    r.poll(t, &mut out);
    // The old source no longer feeds the sink; the new one does from its key frame on.
    t += Duration::from_millis(33);
    feed(&mut r, t, a, 0, &vp8_at(55, 15, 16000, false), &mut out);
    feed(&mut r, t, b, 0, &vp8_at(77, 13, 90_000, false), &mut out);
    assert!(
        out.rtp.is_empty(),
        "nothing before the new source's key frame"
    );
    assert!(
        out.keyframes.iter().any(|k| k.0 == PUB + 1),
        "a key frame is asked of the new publisher: {:?}",
        out.keyframes
    );
    t += Duration::from_millis(33);
    feed(&mut r, t, b, 0, &vp8_at(77, 14, 93_000, true), &mut out);
    feed(&mut r, t, b, 0, &vp8_at(77, 15, 93_000, false), &mut out);
    let got: Vec<(u32, u16, u32)> = out
        .rtp
        .iter()
        .map(|(_, p)| {
            let h = RtpHeader::parse(p).unwrap();
            (h.ssrc(), h.sequence_number(), h.timestamp())
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].0, got[0].1),
        (1111, 305),
        "same SSRC, next sequence number"
    );
    assert_eq!((got[1].0, got[1].1), (1111, 306));
    assert!(
        got[0].2.wrapping_sub(last_ts) > 0 && got[0].2.wrapping_sub(last_ts) < 9000,
        "the timestamp moves on by about the time that passed: {} -> {}",
        last_ts,
        got[0].2
    );
    // Output from before the switch is not retransmitted from the new source's buffer (303
    // was the old source's 13; the new source's own 13 is buffered but is another packet).
    out.rtp.clear();
    r.on_sink_nack(t, sink, &[303, 306], &mut out);
    let resent: Vec<u16> = out
        .rtp
        .iter()
        .map(|(_, p)| RtpHeader::parse(p).unwrap().sequence_number())
        .collect();
    assert_eq!(resent, vec![306]);

    // Only a source of the same kind and codec can feed it.
    let audio = r.add_source(audio_spec());
    assert!(!r.move_sink(t, sink, audio));
    assert_eq!(r.sink_counters(sink).unwrap().layer, Some(0));
    assert!(!r.move_sink(t, sink, 999));
    assert!(
        r.move_sink(t, sink, b),
        "moving to its own source changes nothing"
    );
    out.rtp.clear();
    feed(&mut r, t, b, 0, &vp8_at(77, 16, 96_000, false), &mut out);
    let got: Vec<u16> = out
        .rtp
        .iter()
        .map(|(_, p)| RtpHeader::parse(p).unwrap().sequence_number())
        .collect();
    assert_eq!(
        got,
        vec![307],
        "no new key frame needed, the sequence goes on"
    );
}

/// A VP8 key frame's first packet announcing `w`x`h` (RFC 6386 §9.1).
fn vp8_key(w: u16, h: u16) -> Vec<u8> {
    let mut p = vec![0x10, 0x90, 0x77, 0x01, 0x9d, 0x01, 0x2a];
    p.extend_from_slice(&w.to_le_bytes());
    p.extend_from_slice(&h.to_le_bytes());
    p
}

#[test]
fn key_frames_report_each_layers_resolution_once_a_second_at_most() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let relayed = r.add_source(relayed_video_spec(1));
    let mut out = Recorder::default();
    let mut changed = Vec::new();
    let mut seq = 0u16;
    let mut send = |r: &mut Router, t: Instant, src: SourceKey, layer: u8, payload: &[u8]| {
        seq += 1;
        feed(
            r,
            t,
            src,
            layer,
            &packet(60 + layer as u32, seq, 0, payload, &[]),
            &mut out,
        );
    };
    send(&mut r, t0, src, 0, &vp8(false));
    r.take_resolution_changes(t0, &mut changed);
    assert!(changed.is_empty(), "an inter frame has no size");
    assert_eq!(r.layer_resolution(src, 0), None);

    send(&mut r, t0, src, 0, &vp8_key(320, 180));
    send(&mut r, t0, src, 1, &vp8_key(1280, 720));
    send(&mut r, t0, src, 1, &vp8_key(960, 540));
    r.take_resolution_changes(t0, &mut changed);
    changed.sort_unstable();
    assert_eq!(
        changed,
        vec![(src, 0, (320, 180)), (src, 1, (960, 540))],
        "each layer once, with its latest size"
    );
    changed.clear();

    // The same sizes again change nothing; a new one waits out the interval.
    let t1 = t0 + Duration::from_millis(300);
    send(&mut r, t1, src, 1, &vp8_key(960, 540));
    send(&mut r, t1, src, 0, &vp8_key(640, 360));
    r.take_resolution_changes(t1, &mut changed);
    assert!(changed.is_empty(), "{changed:?}");
    let t2 = t0 + RESOLUTION_INTERVAL;
    r.take_resolution_changes(t2, &mut changed);
    assert_eq!(changed, vec![(src, 0, (640, 360))]);
    assert_eq!(r.layer_resolution(src, 0), Some((640, 360)));
    assert_eq!(r.layer_resolution(src, 1), Some((960, 540)));
    changed.clear();

    // A relayed copy is reported by its own shard, not here.
    send(
        &mut r,
        t2 + RESOLUTION_INTERVAL,
        relayed,
        0,
        &vp8_key(640, 480),
    );
    r.take_resolution_changes(t2 + RESOLUTION_INTERVAL * 2, &mut changed);
    assert!(changed.is_empty());
    assert_eq!(r.layer_resolution(relayed, 0), None);
}

/// VP8 payload with a 15-bit picture id: X=1, S=1; I=1; M=1.
fn vp8_pic(key: bool, pic: u16) -> Vec<u8> {
    vec![
        0x90,
        0x80,
        0x80 | (pic >> 8) as u8 & 0x7f,
        pic as u8,
        if key { 0x00 } else { 0x01 },
        0xaa,
    ]
}

#[test]
fn picture_ids_stay_continuous_across_a_layer_switch() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let sink = r
        .add_sink(
            t0,
            src,
            SinkSpec {
                layer: LayerChoice::Fixed(0),
                ..sink_spec(1, 1111, 96)
            },
            1,
        )
        .unwrap();
    let mut out = Recorder::default();
    let mut t = t0;
    let mut seq = [100u16, 7000u16];
    for frame in 0..12u16 {
        t += Duration::from_millis(33);
        if frame == 5 {
            r.set_sink_layer(t, sink, LayerChoice::Fixed(1));
        }
        for layer in 0..2u8 {
            // Each layer numbers its pictures independently; layer 1 sends a key frame at 6.
            let key = frame == 0 || (layer == 1 && frame == 6);
            let pic = if layer == 0 {
                300 + frame
            } else {
                20_000 + frame
            };
            let p = packet(
                60 + layer as u32,
                seq[layer as usize],
                u32::from(frame) * 3000,
                &vp8_pic(key, pic),
                &[],
            );
            feed(&mut r, t, src, layer, &p, &mut out);
            seq[layer as usize] += 1;
        }
    }
    let pics: Vec<u16> = out
        .rtp
        .iter()
        .map(|(_, p)| {
            let d =
                tessera_rtp::codec::Vp8Descriptor::parse(RtpHeader::parse(p).unwrap().payload())
                    .unwrap();
            d.picture_id.unwrap()
        })
        .collect();
    assert_eq!(
        pics.len(),
        13,
        "layer 0 for frames 0-6 (its frame 6 comes before layer 1's key frame), layer 1 for 6-11: {pics:?}"
    );
    assert_eq!(pics[0], 300);
    for w in pics.windows(2) {
        assert_eq!(
            w[1],
            (w[0] + 1) & 0x7fff,
            "continuous across the switch: {pics:?}"
        );
    }
}

/// Feeds `frames` frames of `L`-layer sources (payloads of 100, 400 and 1000 bytes: about 27,
/// 99 and 243 kbit/s; a key frame every 10 frames on every layer), 33 ms apart, polling after
/// each; `estimate` gives the estimate of the subscriber (transport 1) per frame. Each source
/// comes with its layers' next sequence numbers.
fn run_layers<const L: usize>(
    r: &mut Router,
    t: &mut Instant,
    sources: &mut [Feed<L>],
    frames: std::ops::Range<u32>,
    estimate: &dyn Fn(u32) -> Option<u64>,
    out: &mut Recorder,
) {
    for frame in frames {
        *t += Duration::from_millis(33);
        if let Some(e) = estimate(frame) {
            r.set_estimate(1, e);
        }
        for (n, (src, seq)) in sources.iter_mut().enumerate() {
            for (layer, seq) in seq.iter_mut().enumerate() {
                let mut payload = vp8(frame % 10 == 0);
                payload.extend_from_slice(&vec![0u8; [100, 400, 1000][layer]]);
                let ssrc = 60 + 10 * n as u32 + layer as u32;
                let p = packet(ssrc, *seq, frame * 3000, &payload, &[]);
                feed(r, *t, *src, layer as u8, &p, out);
                *seq = seq.wrapping_add(1);
            }
        }
        r.poll(*t, out);
    }
}

/// A source with its layers' next sequence numbers ([`run_layers`]).
type Feed<const L: usize> = (SourceKey, [u16; L]);

/// A router with `N` `L`-layer sources, each with an estimate-following sink of the subscriber
/// on transport 1: the router, the sinks, and the sources with their layers' next sequence
/// numbers (for [`run_layers`]).
fn subscriptions<const L: usize, const N: usize>(
    t0: Instant,
) -> (Router, [SinkKey; N], [Feed<L>; N]) {
    let mut r = Router::new(t0);
    let srcs: [SourceKey; N] = std::array::from_fn(|_| r.add_source(video_spec(L as u8)));
    let sinks = std::array::from_fn(|i| {
        let spec = sink_spec(1, 1111 * (i as u32 + 1), 96);
        r.add_sink(t0, srcs[i], spec, 1).unwrap()
    });
    let feeds = std::array::from_fn(|i| {
        let base = 100 + 200 * i as u16;
        (srcs[i], std::array::from_fn(|l| base + 4000 * l as u16))
    });
    (r, sinks, feeds)
}

/// Two estimate-following subscriptions on one connection ([`subscriptions`]).
fn two_subscriptions<const L: usize>(t0: Instant) -> (Router, [SinkKey; 2], [Feed<L>; 2]) {
    subscriptions::<L, 2>(t0)
}

#[test]
fn a_probe_whose_estimate_grows_keeps_the_higher_layer() {
    let t0 = Instant::now();
    let (mut r, [sink], mut feeds) = subscriptions::<2, 1>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    // Layers at about 27 and 99 kbit/s. An estimate of 40 kbit/s (1.5x the low layer, as a
    // REMB from a receiver that gets only it) selects layer 0 and then tries layer 1.
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        0..60,
        &|_| Some(40_000),
        &mut out,
    );
    assert_eq!(
        r.sink_layers(sink).unwrap(),
        (Some(1), 1),
        "layer 1 is tried"
    );
    // The receiver now gets more and its estimate grows past layer 1's rate: it stays.
    let grows = |f: u32| Some(40_000 + u64::from(f - 60) * 1_500);
    run_layers(&mut r, &mut t, &mut feeds, 60..300, &grows, &mut out);
    assert_eq!(
        r.sink_layers(sink).unwrap(),
        (Some(1), 1),
        "the layer is earned"
    );
    let stats = r.stats();
    assert_eq!((stats.layer_tries, stats.layer_tries_kept), (1, 1));
    // A real drop of the estimate brings it down.
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        300..330,
        &|_| Some(30_000),
        &mut out,
    );
    assert_eq!(r.sink_layers(sink).unwrap().1, 0, "down with the estimate");
    // Leaving an earned layer backs off: with room again, no new try for 15 s, then one.
    let room = |_| Some(40_000);
    run_layers(&mut r, &mut t, &mut feeds, 330..630, &room, &mut out);
    assert_eq!(
        r.sink_layers(sink).unwrap().1,
        0,
        "no try within the back-off"
    );
    run_layers(&mut r, &mut t, &mut feeds, 630..800, &room, &mut out);
    assert_eq!(r.sink_layers(sink).unwrap().1, 1, "tried again after it");
}

#[test]
fn a_paused_subscriber_tries_no_higher_layer() {
    let t0 = Instant::now();
    let (mut r, [sink], mut feeds) = subscriptions::<2, 1>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    let low = |_| Some(30_000);
    // Two seconds: both layers' rates are measured, and 30 kbit/s leaves no room on layer 0.
    run_layers(&mut r, &mut t, &mut feeds, 0..60, &low, &mut out);
    assert_eq!(r.sink_layers(sink).unwrap(), (Some(0), 0));
    r.set_sink_paused(sink, true);
    let room = |_| Some(40_000);
    // Checked every half second: a try would show at once (and end after 3 s).
    for end in (75..=165).step_by(15) {
        run_layers(&mut r, &mut t, &mut feeds, end - 15..end, &room, &mut out);
        assert_eq!(r.sink_layers(sink).unwrap().1, 0, "nothing arrives: no try");
    }
}

#[test]
fn subscriptions_on_one_connection_share_its_estimate() {
    let t0 = Instant::now();
    let (mut r, [sink_a, sink_b], mut feeds) = two_subscriptions::<2>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    let layers = |r: &Router| [sink_a, sink_b].map(|k| r.sink_layers(k).unwrap().1);
    // Layers at about 27 and 99 kbit/s each. 160 kbit/s would carry either source's layer 1
    // alone (with 20% headroom), not both: one goes up, and 126 kbit/s used leaves too little
    // room (1.3x) for the other to try.
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        0..90,
        &|_| Some(160_000),
        &mut out,
    );
    let mut got = layers(&r);
    got.sort();
    assert_eq!(got, [0, 1], "one of the two on layer 1");
    // Room for both.
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        90..150,
        &|_| Some(260_000),
        &mut out,
    );
    assert_eq!(layers(&r), [1, 1], "both on layer 1");
    // Too little again: both back on layer 0 at 60 kbit/s.
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        150..210,
        &|_| Some(60_000),
        &mut out,
    );
    assert_eq!(layers(&r), [0, 0]);
    // A paused subscription leaves its share to the other (for good: a try, had the paused
    // one kept its share, would have ended after 3 s).
    r.set_sink_paused(sink_b, true);
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        210..360,
        &|_| Some(125_000),
        &mut out,
    );
    assert_eq!(
        r.sink_layers(sink_a).unwrap().1,
        1,
        "alone on the connection"
    );
    // Resumed, it shares again: at 160 kbit/s the one on layer 1 keeps it, the other stays.
    r.set_sink_paused(sink_b, false);
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        360..420,
        &|_| Some(160_000),
        &mut out,
    );
    assert_eq!(layers(&r), [1, 0], "sharing again");
}

#[test]
fn other_subscriptions_on_the_connection_count_against_its_estimate() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let (a, b) = (r.add_source(video_spec(2)), r.add_source(video_spec(2)));
    let sink_a = r.add_sink(t0, a, sink_spec(1, 1111, 96), 1).unwrap();
    // Source b's layer 1 (about 99 kbit/s) fixed for the same subscriber.
    let mut fixed = sink_spec(1, 2222, 96);
    fixed.layer = LayerChoice::Fixed(1);
    let sink_b = r.add_sink(t0, b, fixed, 1).unwrap();
    let mut out = Recorder::default();
    let (mut t, mut feeds) = (t0, [(a, [100u16, 5000u16]), (b, [300u16, 7000u16])]);
    // 150 kbit/s less b's 99 leaves about 50: not enough for a's layer 1 (nor a try: 126
    // kbit/s in use leaves less than 30% room).
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        0..90,
        &|_| Some(150_000),
        &mut out,
    );
    assert_eq!(r.sink_layers(sink_b).unwrap().1, 1);
    assert_eq!(r.sink_layers(sink_a).unwrap().1, 0);
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        90..150,
        &|_| Some(260_000),
        &mut out,
    );
    assert_eq!(r.sink_layers(sink_a).unwrap().1, 1);
    let limited = |_| Some(150_000);
    run_layers(&mut r, &mut t, &mut feeds, 150..180, &limited, &mut out);
    assert_eq!(r.sink_layers(sink_a).unwrap().1, 0, "150 kbit/s again");
    // A paused subscription costs nothing.
    r.set_sink_paused(sink_b, true);
    run_layers(&mut r, &mut t, &mut feeds, 180..210, &limited, &mut out);
    assert_eq!(r.sink_layers(sink_a).unwrap().1, 1, "b paused");
    r.set_sink_paused(sink_b, false);
    run_layers(&mut r, &mut t, &mut feeds, 210..240, &limited, &mut out);
    assert_eq!(r.sink_layers(sink_a).unwrap().1, 0, "b resumed");
    // Nor does one whose source stopped sending (once its layer times out, after 1.5 s).
    let mut only_a = [feeds[0]];
    run_layers(&mut r, &mut t, &mut only_a, 240..330, &limited, &mut out);
    assert_eq!(r.sink_layers(sink_a).unwrap().1, 1, "b's source stopped");
}

/// The targets of sinks, in order.
fn targets<const N: usize>(r: &Router, sinks: [SinkKey; N]) -> [u8; N] {
    sinks.map(|k| r.sink_layers(k).unwrap().1)
}

#[test]
fn a_connections_estimate_goes_up_a_layer_per_subscription_in_turn() {
    let t0 = Instant::now();
    let (mut r, sinks, mut feeds) = two_subscriptions::<3>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    // 330 kbit/s: both middle layers (2 x 99 with headroom) fit, one top layer next to a
    // lowest one would too (243 + 27), but the turns give each subscription the middle one.
    // Each then tries the top layer in turn (the estimate does not grow, so each try ends
    // after 3 s and backs off for 15 s); at 12 s both are back on the middle layer.
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        0..360,
        &|_| Some(330_000),
        &mut out,
    );
    assert_eq!(targets(&r, sinks), [1, 1]);
    let stats = r.stats();
    assert_eq!(
        (stats.layer_tries, stats.layer_tries_kept),
        (2, 0),
        "one try each"
    );
}

#[test]
fn only_one_subscription_of_a_connection_tries_at_a_time() {
    let t0 = Instant::now();
    let (mut r, sinks, mut feeds) = two_subscriptions::<2>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    // 100 kbit/s: both on layer 0 (54 in use, 1.85x), and either could try layer 1.
    let mut tried = [false; 2];
    for f in 0..360 {
        run_layers(
            &mut r,
            &mut t,
            &mut feeds,
            f..f + 1,
            &|_| Some(100_000),
            &mut out,
        );
        // (Until the rates are measured, at 1 s, every layer looks free.)
        if f < 50 {
            continue;
        }
        let now = targets(&r, sinks);
        assert_ne!(now, [1, 1], "two tries at once at frame {f}");
        for (i, l) in now.iter().enumerate() {
            tried[i] |= *l == 1;
        }
    }
    assert_eq!(tried, [true, true], "each tried once the rates were known");
}

#[test]
fn a_subscription_on_a_layer_keeps_it_when_another_one_resumes() {
    let t0 = Instant::now();
    let (mut r, sinks, mut feeds) = two_subscriptions::<2>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    // The first sink (the one with the lower key, which has the first turn) is paused.
    r.set_sink_paused(sinks[0], true);
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        0..90,
        &|_| Some(160_000),
        &mut out,
    );
    assert_eq!(targets(&r, sinks)[1], 1, "alone: layer 1");
    // 160 kbit/s carries one layer 1 next to a layer 0: the one on it keeps it.
    r.set_sink_paused(sinks[0], false);
    run_layers(
        &mut r,
        &mut t,
        &mut feeds,
        90..150,
        &|_| Some(160_000),
        &mut out,
    );
    assert_eq!(targets(&r, sinks), [0, 1]);
}

#[test]
fn what_a_try_makes_the_estimate_grow_by_stays_with_the_try() {
    let t0 = Instant::now();
    let (mut r, sinks, mut feeds) = two_subscriptions::<2>(t0);
    let (mut t, mut out) = (t0, Recorder::default());
    // 100 kbit/s: both on layer 0; the first tries layer 1, which 100 kbit/s does not carry
    // next to the other's layer 0.
    let start = |_| Some(100_000);
    run_layers(&mut r, &mut t, &mut feeds, 0..75, &start, &mut out);
    assert_eq!(targets(&r, sinks), [1, 0], "the first one tries");
    assert_eq!(
        r.sink_layers(sinks[0]).unwrap().0,
        Some(1),
        "on the tried layer"
    );
    assert_eq!(r.stats().layer_tries_kept, 0, "not kept yet");
    // The estimate grows with the try, to 160 kbit/s: that carries the try's layer 1 next to
    // the other's layer 0 (99 + 27), not both on layer 1 (the other one's step needs 92 more
    // with headroom: it would have it, had the try been charged its layer 0).
    let grows = |f: u32| Some((100_000 + u64::from(f - 75) * 2_000).min(160_000));
    run_layers(&mut r, &mut t, &mut feeds, 75..135, &grows, &mut out);
    assert_eq!(r.stats().layer_tries_kept, 1, "the try kept its layer");
    assert_eq!(targets(&r, sinks), [1, 0]);
}

#[test]
fn a_layer_that_just_started_is_not_taken_for_free() {
    let t0 = Instant::now();
    let mut r = Router::new(t0);
    let src = r.add_source(video_spec(2));
    let sink = r.add_sink(t0, src, sink_spec(1, 1111, 96), 1).unwrap();
    let mut out = Recorder::default();
    let mut t = t0;
    // Only layer 0 for two seconds: its rate is known (27 kbit/s, more than the estimate:
    // the sink stays on it as the lowest layer, not because it fits).
    let low = |_| Some(20_000);
    let mut one = [(src, [100u16])];
    run_layers(&mut r, &mut t, &mut one, 0..60, &low, &mut out);
    // Layer 1 starts; until its first second is measured it would look free.
    let mut two = [(src, [one[0].1[0], 5000u16])];
    for f in 60..88 {
        run_layers(&mut r, &mut t, &mut two, f..f + 1, &low, &mut out);
        assert_eq!(r.sink_layers(sink).unwrap().1, 0, "frame {f}");
    }
}
