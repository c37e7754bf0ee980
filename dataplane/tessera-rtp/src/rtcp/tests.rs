use super::*;
use proptest::prelude::*;

fn only(buf: &[u8]) -> RtcpPacket<'_> {
    let mut it = RtcpCompound::new(buf);
    let p = it.next().expect("one packet").expect("valid packet");
    assert!(it.next().is_none(), "exactly one packet");
    p
}

/// Visits everything a packet exposes, as a consumer would.
fn touch(p: &RtcpPacket<'_>) -> usize {
    let mut n = 0;
    match p {
        RtcpPacket::SenderReport(sr) => {
            let _ = (sr.sender_ssrc(), sr.sender_info(), sr.profile_extension());
            n += sr.report_blocks().count();
        }
        RtcpPacket::ReceiverReport(rr) => {
            n += rr.report_blocks().count() + rr.profile_extension().len();
        }
        RtcpPacket::Sdes(s) => {
            for c in s.chunks() {
                n += c.items().map(|i| i.value.len()).sum::<usize>();
                let _ = c.cname();
            }
        }
        RtcpPacket::Bye(b) => n += b.ssrcs().count() + b.reason().map_or(0, <[u8]>::len),
        RtcpPacket::App(a) => n += a.data.len(),
        RtcpPacket::Nack(k) => n += k.lost_sequence_numbers().count() + k.pairs().count(),
        RtcpPacket::TransportCc(t) => {
            let _ = (t.reference_time_us(), t.feedback_count());
            n += t.statuses().count();
        }
        RtcpPacket::Pli(_) => {}
        RtcpPacket::Fir(f) => n += f.entries().count(),
        RtcpPacket::Remb(r) => n += r.ssrcs().count(),
        RtcpPacket::Unknown(u) => n += u.body.len(),
    }
    n
}

#[test]
fn sender_report_rfc3550_6_4_1_layout() {
    #[rustfmt::skip]
    let pkt = [
        0x81, 200, 0x00, 0x0C,       // V=2 RC=1 PT=SR length=12
        0x00, 0x00, 0x00, 0x01,      // SSRC of sender
        0xE0, 0x00, 0x00, 0x00,      // NTP msw
        0x80, 0x00, 0x00, 0x00,      // NTP lsw
        0x00, 0x00, 0x03, 0xE8,      // RTP timestamp
        0x00, 0x00, 0x00, 0x0A,      // packet count
        0x00, 0x00, 0x10, 0x00,      // octet count
        0x00, 0x00, 0x00, 0x02,      // report block: SSRC
        0x40, 0xFF, 0xFF, 0xFE,      // fraction lost 64/256, cumulative lost -2
        0x00, 0x01, 0x00, 0x05,      // extended highest seq
        0x00, 0x00, 0x00, 0x20,      // jitter
        0x12, 0x34, 0x56, 0x78,      // LSR
        0x00, 0x01, 0x00, 0x00,      // DLSR (1 s)
    ];
    let RtcpPacket::SenderReport(sr) = only(&pkt) else {
        panic!("not an SR")
    };
    assert_eq!(sr.sender_ssrc(), 1);
    assert_eq!(
        sr.sender_info(),
        SenderInfo {
            ntp_timestamp: 0xE000_0000_8000_0000,
            rtp_timestamp: 1000,
            packet_count: 10,
            octet_count: 4096,
        }
    );
    let blocks: Vec<_> = sr.report_blocks().collect();
    assert_eq!(
        blocks,
        vec![ReportBlock {
            ssrc: 2,
            fraction_lost: 64,
            cumulative_lost: -2,
            highest_sequence: 0x1_0005,
            jitter: 32,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 0x1_0000,
        }]
    );
    let mut out = [0u8; 52];
    let n = write_sender_report(1, &sr.sender_info(), &blocks, &mut out).unwrap();
    assert_eq!(&out[..n], &pkt[..]);
}

#[test]
fn generic_nack_rfc4585_6_2_1() {
    // PID 100 with BLP bits 0 and 2: lost 100, 101, 103; then PID 65535 with bit 0: 65535, 0.
    #[rustfmt::skip]
    let pkt = [
        0x81, 205, 0x00, 0x04,
        0, 0, 0, 1,
        0, 0, 0, 2,
        0x00, 0x64, 0x00, 0x05,
        0xFF, 0xFF, 0x00, 0x01,
    ];
    let RtcpPacket::Nack(n) = only(&pkt) else {
        panic!("not a NACK")
    };
    assert_eq!((n.sender_ssrc, n.media_ssrc), (1, 2));
    assert_eq!(
        n.lost_sequence_numbers().collect::<Vec<_>>(),
        vec![100, 101, 103, 65535, 0]
    );
    let mut out = [0u8; 20];
    let len = write_nack(1, 2, &[100, 101, 103, 65535, 0], &mut out).unwrap();
    assert_eq!(&out[..len], &pkt[..]);
}

#[test]
fn transport_cc_draft_holmer_3_1() {
    // base 10, 4 statuses: small, small, not received, large; one 2-bit status vector chunk.
    #[rustfmt::skip]
    let pkt = [
        0x8F, 205, 0x00, 0x06,
        0, 0, 0, 1,
        0, 0, 0, 2,
        0x00, 0x0A, 0x00, 0x04,      // base seq, status count
        0x00, 0x00, 0x10, 0x05,      // reference time 16 (x 64 ms), fb count 5
        0xD4, 0x80,                  // T=1 S=1: 01 01 00 10 000
        0x04, 0x08, 0xFF, 0x38,      // deltas: 1 ms, 2 ms, -50 ms
        0x00, 0x00,                  // zero padding
    ];
    let RtcpPacket::TransportCc(t) = only(&pkt) else {
        panic!("not transport-cc")
    };
    assert_eq!(t.base_sequence_number(), 10);
    assert_eq!(t.packet_status_count(), 4);
    assert_eq!(t.reference_time(), 16);
    assert_eq!(t.feedback_count(), 5);
    assert_eq!(
        t.statuses().collect::<Vec<_>>(),
        vec![
            (10, Some(1000)),
            (11, Some(2000)),
            (12, None),
            (13, Some(-50_000))
        ]
    );
}

#[test]
fn transport_cc_run_length_and_one_bit_chunks() {
    #[rustfmt::skip]
    let pkt = [
        0x8F, 205, 0x00, 0x07,
        0, 0, 0, 1,
        0, 0, 0, 2,
        0xFF, 0xFE, 0x00, 0x13,      // base 65534, 19 statuses (wraps)
        0xFF, 0xFF, 0xFF, 0x00,      // reference time -1
        0x20, 0x05,                  // run of 5 "small"
        0xA0, 0x00,                  // T=1 S=0: 1 0 0 ... (14 one-bit symbols)
        1, 2, 3, 4, 5, 6,            // six small deltas
        0x00, 0x00,
    ];
    let RtcpPacket::TransportCc(t) = only(&pkt) else {
        panic!("not transport-cc")
    };
    assert_eq!(t.reference_time(), -1);
    let s: Vec<_> = t.statuses().collect();
    assert_eq!(s.len(), 19);
    assert_eq!(s[0], (65534, Some(250)));
    assert_eq!(s[2], (0, Some(750)));
    assert_eq!(s[5], (3, Some(1500)));
    assert_eq!(s[6], (4, None));
    assert_eq!(s.iter().filter(|x| x.1.is_some()).count(), 6);
}

#[test]
fn transport_cc_errors_name_the_problem() {
    let mk = |fci: &[u8]| {
        let mut v = vec![0x8F, 205, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2];
        v.extend_from_slice(fci);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        let words = (v.len() / 4 - 1) as u16;
        v[2..4].copy_from_slice(&words.to_be_bytes());
        v
    };
    // Deltas missing for a run of 20 small statuses.
    let p = mk(&[0, 0, 0, 20, 0, 0, 0, 0, 0x20, 20, 1, 2]);
    assert_eq!(
        RtcpCompound::new(&p).next().unwrap(),
        Err(RtpError::rtcp(
            "transport-cc",
            "receive deltas run past the packet"
        ))
    );
    // Reserved symbol.
    let p = mk(&[0, 0, 0, 1, 0, 0, 0, 0, 0x60, 1]);
    assert_eq!(
        RtcpCompound::new(&p).next().unwrap(),
        Err(RtpError::rtcp("transport-cc", "reserved status symbol 11"))
    );
    // Status count with no chunks.
    let p = mk(&[0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(
        RtcpCompound::new(&p).next().unwrap(),
        Err(RtpError::rtcp(
            "transport-cc",
            "packet chunks run past the packet"
        ))
    );
}

#[test]
fn pli_fir_remb_golden() {
    let mut out = [0u8; 64];
    let n = write_pli(0x11, 0x22, &mut out).unwrap();
    assert_eq!(&out[..n], &[0x81, 206, 0, 2, 0, 0, 0, 0x11, 0, 0, 0, 0x22]);

    let n = write_fir(
        7,
        &[FirEntry {
            ssrc: 9,
            sequence_number: 3,
        }],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        &out[..n],
        &[
            0x84, 206, 0, 4, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 3, 0, 0, 0
        ]
    );
    let RtcpPacket::Fir(f) = only(&out[..n]) else {
        panic!()
    };
    assert_eq!(
        f.entries().collect::<Vec<_>>(),
        vec![FirEntry {
            ssrc: 9,
            sequence_number: 3
        }]
    );

    // 1 Mbit/s = 250000 << 2.
    let n = write_remb(7, 1_000_000, &[0xA, 0xB], &mut out).unwrap();
    assert_eq!(
        &out[12..20],
        &[b'R', b'E', b'M', b'B', 2, (2 << 2) | 0x3, 0xD0, 0x90]
    );
    let RtcpPacket::Remb(r) = only(&out[..n]) else {
        panic!()
    };
    assert_eq!(r.bitrate, 1_000_000);
    assert_eq!(r.ssrcs().collect::<Vec<_>>(), vec![0xA, 0xB]);
}

#[test]
fn sdes_bye_app_and_compound() {
    let mut buf = [0u8; 256];
    let mut n = write_receiver_report(5, &[], &mut buf).unwrap();
    n += write_sdes_cname(5, b"tessera@example", &mut buf[n..]).unwrap();
    n += write_bye(&[5, 6], Some(b"done"), &mut buf[n..]).unwrap();
    // APP: subtype 3, SSRC 5, name "TSRA", 4 data bytes.
    let app = [
        0x83, 204, 0, 3, 0, 0, 0, 5, b'T', b'S', b'R', b'A', 1, 2, 3, 4,
    ];
    buf[n..n + 16].copy_from_slice(&app);
    n += 16;
    // An XR packet surfaces as unknown.
    buf[n..n + 8].copy_from_slice(&[0x80, 207, 0, 1, 0, 0, 0, 5]);
    n += 8;
    let pkts: Vec<_> = RtcpCompound::new(&buf[..n])
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pkts.len(), 5);
    assert_eq!(
        pkts.iter().map(RtcpPacket::packet_type).collect::<Vec<_>>(),
        vec![PT_RR, PT_SDES, PT_BYE, PT_APP, PT_XR]
    );
    let RtcpPacket::Sdes(s) = pkts[1] else {
        panic!()
    };
    let chunk = s.chunks().next().unwrap();
    assert_eq!(chunk.ssrc, 5);
    assert_eq!(chunk.cname(), Some(&b"tessera@example"[..]));
    let RtcpPacket::Bye(b) = pkts[2] else {
        panic!()
    };
    assert_eq!(b.ssrcs().collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(b.reason(), Some(&b"done"[..]));
    let RtcpPacket::App(a) = pkts[3] else {
        panic!()
    };
    assert_eq!(
        (a.subtype, a.ssrc, &a.name, a.data),
        (3, 5, b"TSRA", &[1, 2, 3, 4][..])
    );
    assert_eq!(RtcpCompound::validate(&buf[..n]), Ok(5));
}

#[test]
fn malformed_packets_are_named_errors() {
    // Length field beyond the buffer.
    assert_eq!(
        RtcpCompound::new(&[0x80, 201, 0, 5, 0, 0, 0, 1]).next(),
        Some(Err(RtpError::BadLength { words: 6, have: 8 }))
    );
    // Version 1.
    assert_eq!(
        RtcpCompound::new(&[0x40, 201, 0, 1, 0, 0, 0, 1]).next(),
        Some(Err(RtpError::BadVersion(1)))
    );
    // Padding count of zero and larger than the body.
    assert!(matches!(
        RtcpCompound::new(&[0xA0, 201, 0, 1, 0, 0, 0, 0]).next(),
        Some(Err(RtpError::BadPadding { pad: 0, .. }))
    ));
    assert!(matches!(
        RtcpCompound::new(&[0xA0, 201, 0, 1, 0, 0, 0, 9]).next(),
        Some(Err(RtpError::BadPadding { pad: 9, .. }))
    ));
    // RR claiming one block without room for it.
    assert!(matches!(
        RtcpCompound::new(&[0x81, 201, 0, 1, 0, 0, 0, 1]).next(),
        Some(Err(RtpError::TooShort { .. }))
    ));
    // SDES without the null terminator.
    assert_eq!(
        RtcpCompound::new(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, b'a', b'b']).next(),
        Some(Err(RtpError::rtcp(
            "SDES",
            "item list is not null-terminated"
        )))
    );
    // NACK with a 2-byte FCI.
    let mut p = [0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1];
    p[2..4].copy_from_slice(&3u16.to_be_bytes());
    assert!(RtcpCompound::new(&p[..16]).next().unwrap().is_ok());
    let p2 = [0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
    assert!(matches!(
        RtcpCompound::new(&p2).next(),
        Some(Err(RtpError::BadRtcp { what: "NACK", .. }))
    ));
    // A truncated trailing header after a valid packet.
    let mut two = vec![0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
    two.extend_from_slice(&[0x80, 201]);
    let mut it = RtcpCompound::new(&two);
    assert!(matches!(it.next(), Some(Ok(RtcpPacket::Pli(_)))));
    assert!(matches!(it.next(), Some(Err(RtpError::TooShort { .. }))));
    assert!(it.next().is_none());
}

#[test]
fn padding_in_last_packet_is_removed() {
    // RR with 4 bytes of padding (P bit, count 4).
    let p = [0xA0, 201, 0, 2, 0, 0, 0, 7, 0, 0, 0, 4];
    let RtcpPacket::ReceiverReport(rr) = only(&p) else {
        panic!()
    };
    assert_eq!(rr.sender_ssrc(), 7);
    assert!(rr.profile_extension().is_empty());
}

#[test]
fn nack_writer_packs_pairs() {
    let mut out = [0u8; 64];
    let lost = [1u16, 2, 17, 18, 40];
    let n = write_nack(1, 2, &lost, &mut out).unwrap();
    let RtcpPacket::Nack(k) = only(&out[..n]) else {
        panic!()
    };
    // 1 + (2, 17) in BLP, 18 starts a new pair, 40 another.
    assert_eq!(
        k.pairs().collect::<Vec<_>>(),
        vec![(1, 0x8001), (18, 0), (40, 0)]
    );
    assert_eq!(k.lost_sequence_numbers().collect::<Vec<_>>(), lost.to_vec());
    assert!(write_nack(1, 2, &[], &mut out).is_err());
    assert!(matches!(
        write_nack(1, 2, &lost, &mut out[..15]),
        Err(RtpError::BufferTooSmall { need: 24, .. })
    ));
}

#[test]
fn twcc_writer_reports_gaps_and_large_deltas() {
    let packets = [
        (100u16, 1_000_000i64),
        (101, 1_000_500),
        (104, 990_000),
        (105, 1_500_000),
    ];
    let mut out = [0u8; 128];
    let w = write_transport_cc(1, 2, 9, &packets, &mut out).unwrap();
    assert_eq!(w.consumed, 4);
    let RtcpPacket::TransportCc(t) = only(&out[..w.len]) else {
        panic!()
    };
    assert_eq!(t.feedback_count(), 9);
    let s: Vec<_> = t.statuses().collect();
    assert_eq!(
        s.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![100, 101, 102, 103, 104, 105]
    );
    assert_eq!(s[2].1, None);
    assert_eq!(s[3].1, None);
    // Arrival times rebuild to within half a tick.
    let mut t_us = t.reference_time_us();
    let mut got = vec![];
    for (seq, d) in s {
        if let Some(d) = d {
            t_us += i64::from(d);
            got.push((seq, t_us));
        }
    }
    for ((s1, a), (s2, b)) in packets.iter().zip(got) {
        assert_eq!(*s1, s2);
        assert!((a - b).abs() <= 125, "{a} vs {b}");
    }
}

#[test]
fn twcc_writer_stops_at_unrepresentable_delta_and_small_buffers() {
    let packets = [(1u16, 0i64), (2, 10_000_000), (3, 10_000_100)];
    let mut out = [0u8; 128];
    let w = write_transport_cc(1, 2, 0, &packets, &mut out).unwrap();
    assert_eq!(w.consumed, 1);
    let w = write_transport_cc(1, 2, 0, &packets[1..], &mut out).unwrap();
    assert_eq!(w.consumed, 2);
    // Duplicates are misuse; a descending number reads as a wrap and ends the packet.
    assert!(write_transport_cc(1, 2, 0, &[(2, 0), (2, 0)], &mut out).is_err());
    assert_eq!(
        write_transport_cc(1, 2, 0, &[(2, 0), (1, 0)], &mut out)
            .unwrap()
            .consumed,
        1
    );
    assert!(write_transport_cc(1, 2, 0, &[], &mut out).is_err());
    assert!(matches!(
        write_transport_cc(1, 2, 0, &packets, &mut out[..20]),
        Err(RtpError::BufferTooSmall { .. })
    ));
    // Many packets into a small buffer: partial, and what was written parses.
    let many: Vec<(u16, i64)> = (0..2000u16).map(|i| (i, i64::from(i) * 1000)).collect();
    let w = write_transport_cc(1, 2, 0, &many, &mut out).unwrap();
    assert!(w.consumed > 10 && w.consumed < 2000);
    assert!(w.len <= out.len());
    let RtcpPacket::TransportCc(t) = only(&out[..w.len]) else {
        panic!()
    };
    assert_eq!(usize::from(t.packet_status_count()), w.consumed);
}

fn block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        -(1i32 << 23)..(1 << 23),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(ssrc, fl, cl, hs, j, lsr, dlsr)| ReportBlock {
            ssrc,
            fraction_lost: fl,
            cumulative_lost: cl,
            highest_sequence: hs,
            jitter: j,
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        })
}

proptest! {
    #[test]
    fn sr_rr_round_trip(
        ssrc: u32, ntp: u64, rtp: u32, pc: u32, oc: u32,
        blocks in proptest::collection::vec(block(), 0..=31),
    ) {
        let info = SenderInfo { ntp_timestamp: ntp, rtp_timestamp: rtp, packet_count: pc, octet_count: oc };
        let mut buf = vec![0u8; 2048];
        let n = write_sender_report(ssrc, &info, &blocks, &mut buf).unwrap();
        let m = write_receiver_report(ssrc, &blocks, &mut buf[n..]).unwrap();
        let pkts: Vec<_> = RtcpCompound::new(&buf[..n + m]).collect::<Result<_, _>>().unwrap();
        let RtcpPacket::SenderReport(sr) = pkts[0] else { panic!() };
        prop_assert_eq!(sr.sender_ssrc(), ssrc);
        prop_assert_eq!(sr.sender_info(), info);
        prop_assert_eq!(sr.report_blocks().collect::<Vec<_>>(), blocks.clone());
        let RtcpPacket::ReceiverReport(rr) = pkts[1] else { panic!() };
        prop_assert_eq!(rr.sender_ssrc(), ssrc);
        prop_assert_eq!(rr.report_blocks().collect::<Vec<_>>(), blocks);
    }

    #[test]
    fn sdes_bye_round_trip(
        ssrc: u32,
        cname in proptest::collection::vec(any::<u8>(), 1..=255),
        ssrcs in proptest::collection::vec(any::<u32>(), 0..=31),
        reason in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=255)),
    ) {
        let mut buf = vec![0u8; 1024];
        let n = write_sdes_cname(ssrc, &cname, &mut buf).unwrap();
        let m = write_bye(&ssrcs, reason.as_deref(), &mut buf[n..]).unwrap();
        let pkts: Vec<_> = RtcpCompound::new(&buf[..n + m]).collect::<Result<_, _>>().unwrap();
        let RtcpPacket::Sdes(s) = pkts[0] else { panic!() };
        let c = s.chunks().next().unwrap();
        prop_assert_eq!(c.ssrc, ssrc);
        prop_assert_eq!(c.cname(), Some(&cname[..]));
        let RtcpPacket::Bye(b) = pkts[1] else { panic!() };
        prop_assert_eq!(b.ssrcs().collect::<Vec<_>>(), ssrcs);
        prop_assert_eq!(b.reason(), reason.as_deref());
    }

    #[test]
    fn nack_round_trip(start: u16, offsets in proptest::collection::btree_set(0u16..2000, 1..200)) {
        let lost: Vec<u16> = offsets.iter().map(|o| start.wrapping_add(*o)).collect();
        let mut buf = vec![0u8; 4096];
        let n = write_nack(1, 2, &lost, &mut buf).unwrap();
        let RtcpPacket::Nack(k) = only(&buf[..n]) else { panic!() };
        prop_assert_eq!(k.lost_sequence_numbers().collect::<Vec<_>>(), lost);
    }

    #[test]
    fn fir_remb_round_trip(
        entries in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..20),
        bitrate in 0u64..(1 << 40),
        ssrcs in proptest::collection::vec(any::<u32>(), 0..=255),
    ) {
        let entries: Vec<FirEntry> = entries.into_iter().map(|(ssrc, sequence_number)| FirEntry { ssrc, sequence_number }).collect();
        let mut buf = vec![0u8; 2048];
        let n = write_fir(3, &entries, &mut buf).unwrap();
        let RtcpPacket::Fir(f) = only(&buf[..n]) else { panic!() };
        prop_assert_eq!(f.entries().collect::<Vec<_>>(), entries);
        let n = write_remb(3, bitrate, &ssrcs, &mut buf).unwrap();
        let RtcpPacket::Remb(r) = only(&buf[..n]) else { panic!() };
        prop_assert!(r.bitrate <= bitrate);
        prop_assert!(bitrate - r.bitrate <= bitrate >> 17);
        prop_assert_eq!(r.ssrcs().collect::<Vec<_>>(), ssrcs);
    }

    #[test]
    fn twcc_round_trip(
        base: u16,
        start_us in -10_000_000i64..10_000_000,
        steps in proptest::collection::vec((1u16..40, -20_000i64..300_000), 1..300),
        fb: u8,
    ) {
        let mut packets = vec![(base, start_us)];
        for (gap, dt) in steps {
            let (s, t) = *packets.last().unwrap();
            packets.push((s.wrapping_add(gap), t + dt));
        }
        let mut buf = vec![0u8; 1500];
        let w = write_transport_cc(1, 2, fb, &packets, &mut buf).unwrap();
        prop_assert!(w.consumed >= 1);
        let RtcpPacket::TransportCc(t) = only(&buf[..w.len]) else { panic!() };
        prop_assert_eq!(t.feedback_count(), fb);
        prop_assert_eq!(t.base_sequence_number(), base);
        let mut now = t.reference_time_us();
        let mut got = vec![];
        for (seq, d) in t.statuses() {
            if let Some(d) = d {
                now += i64::from(d);
                got.push((seq, now));
            }
        }
        prop_assert_eq!(got.len(), w.consumed);
        for ((s1, a), (s2, b)) in packets.iter().zip(got) {
            prop_assert_eq!(*s1, s2);
            // The reference time wraps at 2^24 x 64 ms; inputs stay far below that.
            prop_assert!((a - b).abs() <= 125);
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for p in RtcpCompound::new(&bytes).flatten() {
            touch(&p);
        }
    }

    #[test]
    fn structured_parse_never_panics(
        pt in 200u8..=207,
        count in 0u8..32,
        padding: bool,
        body in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut body = body;
        while body.len() % 4 != 0 { body.push(0); }
        let mut p = vec![0x80 | (u8::from(padding) << 5) | count, pt, 0, 0];
        p[2..4].copy_from_slice(&((body.len() / 4) as u16).to_be_bytes());
        p.extend_from_slice(&body);
        for q in RtcpCompound::new(&p).flatten() {
            touch(&q);
        }
    }
}
