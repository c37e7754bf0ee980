//! Arbitrary Engine.IO / Socket.IO traffic into the portal's parsing path, in the order a real
//! connection takes it: the input is split into frames on the Engine.IO v4 polling separator
//! (0x1e); each frame goes through Engine.IO's packet parser, a message through socketioxide's
//! common Socket.IO parser (with binary attachments: a frame starting with 'b' is one), the event
//! name and first argument are read the way the portal's handlers read them (`TryData<Value>`),
//! and the argument goes to the portal's request parser for that event (`tessera_portal::
//! requests`), or to the reconnection-ticket validator for `relogin`. Nothing may panic; an
//! accepted request must satisfy the invariants the conference relies on.
#![no_main]

use engineioxide_core::{Packet as EioPacket, ProtocolVersion};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use socketioxide_core::packet::PacketData;
use socketioxide_core::parser::{Parse, ParseConfig, ParserState};
use socketioxide_parser_common::CommonParser;
use tessera_portal::requests;

fn request(event: &str, data: &Value) {
    match event {
        "login" => {
            if let Ok(l) = requests::login(data) {
                assert!(!l.token.is_empty());
            }
        }
        "relogin" => {
            if let Some(s) = data.as_str() {
                let _ = tessera_auth::ticket::Ticket::validate(s, "fuzz-secret", 1_700_000_000_000);
            }
        }
        "publish" => {
            let _ = requests::publish(data);
        }
        "subscribe" => {
            let _ = requests::subscribe(data);
        }
        "unpublish" => {
            if let Ok(id) = requests::id_only(data, "stream") {
                assert!(requests::valid_id(&id));
            }
        }
        "unsubscribe" => {
            if let Ok(id) = requests::id_only(data, "subscription") {
                assert!(requests::valid_id(&id));
            }
        }
        "soac" => {
            if let Ok(s) = requests::soac(data) {
                assert!(requests::valid_id(&s.id));
            }
        }
        "stream-control" => {
            let _ = requests::control(data, "stream");
        }
        "subscription-control" => {
            let _ = requests::control(data, "subscription");
        }
        "text" => {
            let _ = requests::text(data);
        }
        _ => {}
    }
}

fn event(parser: CommonParser, mut value: socketioxide_core::Value) {
    let Ok(name) = parser.read_event(&value).map(str::to_owned) else {
        return;
    };
    let data = parser
        .decode_value::<Value>(&mut value, true)
        .unwrap_or(Value::Null);
    request(&name, &data);
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let parser = CommonParser;
    let config = ParseConfig {
        max_incoming_binary_buf_size: 1 << 16,
        max_incoming_binaries: 16,
        ..ParseConfig::default()
    };
    let state = ParserState::default();
    for frame in text.split('\x1e') {
        let packet = match EioPacket::parse(ProtocolVersion::V4, frame.to_string()) {
            Ok(p) => p,
            Err(_) => continue,
        };
        let sio = match packet {
            EioPacket::Message(s) => parser.decode_str(&config, &state, s),
            EioPacket::Binary(b) => parser.decode_bin(&config, &state, b),
            _ => continue,
        };
        let Ok(p) = sio else { continue };
        match p.inner {
            PacketData::Event(v, _) | PacketData::BinaryEvent(v, _) => event(parser, v),
            _ => {}
        }
    }
    // The same bytes as one event argument, straight into every request parser.
    if let Ok(data) = serde_json::from_slice::<Value>(input) {
        for e in [
            "login",
            "relogin",
            "publish",
            "subscribe",
            "unpublish",
            "unsubscribe",
            "soac",
            "stream-control",
            "subscription-control",
            "text",
        ] {
            request(e, &data);
        }
    }
});
