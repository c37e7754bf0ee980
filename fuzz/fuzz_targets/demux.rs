//! Datagrams on a shared port: `tessera_webrtc::demux::classify` and the STUN USERNAME reader
//! never panic, agree with the first-byte ranges of RFC 7983 / RFC 5761 §4, and a USERNAME is
//! only found in a well-formed binding request, as a slice of the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_webrtc::demux::{Class, binding_request_username, classify, local_ufrag};

fuzz_target!(|data: &[u8]| {
    let class = classify(data);
    let first = data.first().copied();
    match class {
        Class::Stun => assert!(matches!(first, Some(0..=3)) && data.len() >= 20),
        Class::Dtls => assert!(matches!(first, Some(20..=63)) && data.len() >= 13),
        Class::Rtp => {
            assert!(matches!(first, Some(128..=191)) && data.len() >= 12);
            assert!(!(192..=223).contains(&data[1]));
        }
        Class::Rtcp => {
            assert!(matches!(first, Some(128..=191)) && data.len() >= 8);
            assert!((192..=223).contains(&data[1]));
        }
        Class::Unknown => {}
    }
    if let Some(u) = binding_request_username(data) {
        assert_eq!(class, Class::Stun, "a binding request classifies as STUN");
        assert_eq!(&data[..2], &[0, 1], "binding request");
        assert_eq!(&data[4..8], &[0x21, 0x12, 0xa4, 0x42], "magic cookie");
        let len = u16::from_be_bytes([data[2], data[3]]) as usize;
        assert!(len % 4 == 0 && 20 + len <= data.len());
        // The username is a slice of the message body.
        let (start, end) = (u.as_ptr() as usize, u.as_ptr() as usize + u.len());
        let body = data[20..20 + len].as_ptr_range();
        assert!(start >= body.start as usize && end <= body.end as usize);
        let l = local_ufrag(u);
        assert!(u.starts_with(l) && !l.contains(':'));
    }
});
