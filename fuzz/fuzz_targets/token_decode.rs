//! Token and reconnection-ticket decoding: arbitrary strings never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_auth::ticket::Ticket;
use tessera_auth::token::Token;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Token::decode(s) {
        let _ = t.verify("key");
        assert_eq!(
            Token::decode(&t.encode()).expect("re-encoded tokens decode"),
            t
        );
    }
    let _ = Ticket::validate(s, "secret", 1_700_000_000_000);
});
