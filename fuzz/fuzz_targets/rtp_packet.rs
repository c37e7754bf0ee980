//! RTP packets: arbitrary bytes never panic the parser, the extension iterator, the setters
//! or the codec helpers; every packet that parses re-writes (header fields, CSRCs, extension
//! elements, payload) to a packet that parses to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_rtp::codec::{self, Codec, PictureRewrite};
use tessera_rtp::rtp::{self, RtpHeader, RtpWriter};

fuzz_target!(|data: &[u8]| {
    let Ok(h) = RtpHeader::parse(data) else {
        return;
    };
    let exts: Vec<(u8, &[u8])> = h.extensions().collect();
    let _ = h.check_extensions();
    for (id, d) in &exts {
        let r = h.extension_range(*id).expect("an iterated id has a range");
        assert!(r.end <= h.header_len());
        let _ = d;
    }
    let csrcs: Vec<u32> = h.csrcs().collect();
    let range = h.payload_range();
    assert!(range.start <= range.end && range.end <= data.len());

    let w = RtpWriter {
        marker: h.marker(),
        payload_type: h.payload_type(),
        sequence_number: h.sequence_number(),
        timestamp: h.timestamp(),
        ssrc: h.ssrc(),
        csrcs: &csrcs,
        extensions: &exts,
    };
    let mut out = vec![0u8; data.len() + 8 * exts.len() + 64];
    let n = w
        .write_packet(h.payload(), &mut out)
        .expect("parsed fields are writable");
    let back = RtpHeader::parse(&out[..n]).expect("written packets parse");
    assert_eq!(back.marker(), h.marker());
    assert_eq!(back.payload_type(), h.payload_type());
    assert_eq!(back.sequence_number(), h.sequence_number());
    assert_eq!(back.timestamp(), h.timestamp());
    assert_eq!(back.ssrc(), h.ssrc());
    assert_eq!(back.csrcs().collect::<Vec<_>>(), csrcs);
    assert_eq!(back.extensions().collect::<Vec<_>>(), exts);
    assert!(back.check_extensions().is_ok());
    assert_eq!(back.payload(), h.payload());

    let mut copy = data.to_vec();
    rtp::set_sequence_number(&mut copy, 1).expect("parsed packets have a fixed header");
    rtp::set_marker(&mut copy, !h.marker()).expect("fixed header");
    assert_eq!(
        RtpHeader::parse(&copy)
            .expect("still parses")
            .sequence_number(),
        1
    );

    let payload = h.payload();
    for c in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
        let _ = codec::is_keyframe(c, payload);
    }
    let rw = PictureRewrite {
        picture_id: Some(0x1234),
        tl0_pic_idx: Some(7),
        key_idx: Some(3),
    };
    let mut p = payload.to_vec();
    if let Ok(d) = codec::vp8_rewrite(&mut p, &rw) {
        assert_eq!(&p[d.len..], &payload[d.len..]);
    }
    let mut p = payload.to_vec();
    if let Ok(d) = codec::vp9_rewrite(&mut p, &rw) {
        assert_eq!(&p[d.len..], &payload[d.len..]);
    }
});
