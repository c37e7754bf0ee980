//! STUN on a connected transport's selected pair: `tessera_webrtc::stun::parse` and
//! `Message::authentic` never panic and never accept a message not made with the key; the
//! fields read are slices of the message; and a response written for any parsed request
//! parses back to the same transaction and address and authenticates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_webrtc::stun::{BINDING_SUCCESS, Key, parse, write_binding_success};

fuzz_target!(|data: &[u8]| {
    let key = Key::new("fuzz-password-0123456789");
    let Some(m) = parse(data) else {
        return;
    };
    assert_eq!(&data[4..8], &[0x21, 0x12, 0xa4, 0x42], "magic cookie");
    assert_eq!(
        u16::from_be_bytes([data[2], data[3]]) as usize + 20,
        data.len()
    );
    if let Some(u) = m.username {
        let body = data[20..].as_ptr_range();
        assert!(u.as_ptr() >= body.start && u.as_ptr() as usize + u.len() <= body.end as usize);
    }
    // An input authenticating with a key it cannot know would be a forgery.
    assert!(!m.authentic(&key));
    let mapped = m
        .mapped
        .unwrap_or_else(|| ([192, 0, 2, 1], u16::from_be_bytes([data[8], data[9]])).into());
    let mut buf = [0u8; 128];
    let n = write_binding_success(&mut buf, &m.transaction, mapped, &key);
    let r = parse(&buf[..n]).expect("our response parses");
    assert_eq!(
        (r.kind, r.transaction, r.mapped),
        (BINDING_SUCCESS, m.transaction, Some(mapped))
    );
    assert!(r.authentic(&key));
});
