//! Steady-state packet work allocates nothing.
//!
//! Two counters (`counting`): a `#[global_allocator]` wrapper sees every Rust allocation, and
//! `malloc`, `calloc` and `realloc` hooks see the C allocations aws-lc makes, which bypass the
//! Rust allocator. Runs without the test harness so no other thread allocates while the
//! counters are armed.

// A harness-less test program: its report is its stdout.
#![allow(clippy::print_stdout)]

mod counting;

use counting::{counted, counters_work};
use tessera_rtp::rtcp::{RtcpCompound, RtcpPacket, write_nack, write_pli, write_transport_cc};
use tessera_rtp::rtp::{self, RtpHeader, RtpWriter};
use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};

const PACKETS: u16 = 2000;

/// Protects and unprotects `PACKETS` RTP packets (crossing a sequence-number wrap) and a few
/// hundred RTCP packets, parsing them on the way as a forwarder would.
fn steady_state(
    profile: SrtpProfile,
    tx: &mut SrtpContext,
    rx: &mut SrtpContext,
    start: u16,
    count: u16,
) {
    let mut template = [0u8; 1500];
    let twcc = 1u16.to_be_bytes();
    let exts: [(u8, &[u8]); 2] = [(1, b"0"), (3, &twcc)];
    let header = RtpWriter {
        payload_type: 96,
        sequence_number: 0,
        timestamp: 0,
        ssrc: 0x1234_5678,
        extensions: &exts,
        ..RtpWriter::default()
    };
    let plen = header
        .write_packet(&[0xAB; 1200], &mut template)
        .expect("fits");
    let mut buf = [0u8; 1500];
    let mut rtcp = [0u8; 1500];
    for i in 0..count {
        let seq = start.wrapping_add(i);
        buf[..plen].copy_from_slice(&template[..plen]);
        rtp::set_sequence_number(&mut buf, seq).expect("header");
        rtp::set_timestamp(&mut buf, u32::from(seq) * 3000).expect("header");
        let n = tx.protect_rtp(&mut buf, plen).expect("protect");
        assert_eq!(n, plen + profile.rtp_overhead());
        let m = rx.unprotect_rtp(&mut buf[..n]).expect("unprotect");
        let h = RtpHeader::parse(&buf[..m]).expect("parse");
        assert_eq!(h.sequence_number(), seq);
        assert_eq!(h.extensions().count(), 2);

        if i % 8 == 0 {
            let mut len = write_pli(1, 0x1234_5678, &mut rtcp).expect("pli");
            len += write_nack(
                1,
                0x1234_5678,
                &[seq, seq.wrapping_add(2)],
                &mut rtcp[len..],
            )
            .expect("nack");
            let arrivals = [
                (seq, i64::from(i) * 1000),
                (seq.wrapping_add(3), i64::from(i) * 1000 + 700),
            ];
            len += write_transport_cc(1, 2, i as u8, &arrivals, &mut rtcp[len..])
                .expect("twcc")
                .len;
            let n = tx.protect_rtcp(&mut rtcp, len).expect("protect rtcp");
            let m = rx.unprotect_rtcp(&mut rtcp[..n]).expect("unprotect rtcp");
            let mut lost = 0;
            for p in RtcpCompound::new(&rtcp[..m]) {
                match p.expect("rtcp") {
                    RtcpPacket::Nack(k) => lost += k.lost_sequence_numbers().count(),
                    RtcpPacket::TransportCc(t) => {
                        lost += t.statuses().filter(|s| s.1.is_none()).count()
                    }
                    _ => {}
                }
            }
            assert_eq!(lost, 4);
        }
    }
}

fn main() {
    let mut failed = false;
    for profile in SrtpProfile::ALL {
        let km = vec![0x5A; profile.keying_material_len()];
        let (client, _) = split_keying_material(profile, &km).expect("keys");
        let mut tx = SrtpContext::new(&client).expect("context");
        let mut rx = SrtpContext::new(&client).expect("context");
        // The first packet of an SSRC inserts its state: the one allocation allowed.
        steady_state(profile, &mut tx, &mut rx, 64_000, 1);

        let ((), r, c) = counted(|| steady_state(profile, &mut tx, &mut rx, 65_000, PACKETS));
        let ok = r == 0 && c == 0;
        failed |= !ok;
        println!(
            "{profile:?}: {PACKETS} RTP + {} RTCP packets: {r} Rust allocations, {c} C allocations {}",
            PACKETS.div_ceil(8),
            if ok { "ok" } else { "FAILED" }
        );
    }
    failed |= !counters_work();
    if failed {
        std::process::exit(1);
    }
}
