//! RTCP compound packets: arbitrary bytes never panic the iterator or any packet view, every
//! NACK and transport-cc item is iterated, and SR/RR report blocks re-write to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_rtp::rtcp::{self, RtcpCompound, RtcpPacket};

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; 1024];
    for p in RtcpCompound::new(data) {
        let Ok(p) = p else { continue };
        let _ = p.packet_type();
        match p {
            RtcpPacket::SenderReport(sr) => {
                let blocks: Vec<_> = sr.report_blocks().collect();
                let n = rtcp::write_sender_report(
                    sr.sender_ssrc(),
                    &sr.sender_info(),
                    &blocks,
                    &mut out,
                )
                .expect("31 blocks at most fit");
                let Some(Ok(RtcpPacket::SenderReport(back))) = RtcpCompound::new(&out[..n]).next()
                else {
                    panic!("re-written SR does not parse");
                };
                assert_eq!(back.sender_info(), sr.sender_info());
                assert_eq!(back.report_blocks().collect::<Vec<_>>(), blocks);
            }
            RtcpPacket::ReceiverReport(rr) => {
                let blocks: Vec<_> = rr.report_blocks().collect();
                let n = rtcp::write_receiver_report(rr.sender_ssrc(), &blocks, &mut out)
                    .expect("31 blocks at most fit");
                let Some(Ok(RtcpPacket::ReceiverReport(back))) =
                    RtcpCompound::new(&out[..n]).next()
                else {
                    panic!("re-written RR does not parse");
                };
                assert_eq!(back.report_blocks().collect::<Vec<_>>(), blocks);
            }
            RtcpPacket::Sdes(s) => {
                for c in s.chunks() {
                    for i in c.items() {
                        let _ = (i.kind, i.value.len());
                    }
                    let _ = c.cname();
                }
            }
            RtcpPacket::Bye(b) => {
                let _ = (b.ssrcs().count(), b.reason());
            }
            RtcpPacket::App(a) => {
                let _ = a.data.len();
            }
            RtcpPacket::Nack(k) => {
                let pairs = k.pairs().count();
                let lost = k.lost_sequence_numbers().count();
                assert!(lost >= pairs && lost <= 17 * pairs);
            }
            RtcpPacket::TransportCc(t) => {
                let n = t.statuses().count();
                assert_eq!(n, usize::from(t.packet_status_count()));
                let _ = (
                    t.reference_time_us(),
                    t.feedback_count(),
                    t.base_sequence_number(),
                );
            }
            RtcpPacket::Pli(_) => {}
            RtcpPacket::Fir(f) => {
                let _ = f.entries().count();
            }
            RtcpPacket::Remb(r) => {
                let _ = (r.bitrate, r.ssrcs().count());
            }
            RtcpPacket::Unknown(u) => {
                let _ = (u.packet_type, u.count, u.body.len());
            }
        }
    }
});
