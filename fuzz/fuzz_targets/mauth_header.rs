//! The MAuth `Authorization` header parser: arbitrary header values never panic, and a header
//! that parses yields a signing string that is built from its own fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_auth::mauth::MauthHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = MauthHeader::parse(s) {
        let m = h.string_to_sign();
        assert!(m.starts_with(&h.timestamp));
        let _ = h.verify("sampleServiceKey");
        let _ = h.user();
    }
});
