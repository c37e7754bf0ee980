//! Room-option validation (create, update, patch): arbitrary JSON never panics, and every
//! accepted configuration survives a store round trip unchanged and re-validates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tessera_schema::ObjectId;
use tessera_schema::room::{Room, RoomConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let body = json!({"name": "fuzz", "options": v});
    if let Ok(config) = RoomConfig::from_create(&body) {
        let room = Room {
            id: ObjectId::from_bytes([7; 12]),
            config,
            v: 0,
        };
        let back = Room::from_stored(room.to_json())
            .expect("an accepted room decodes from its stored form");
        assert_eq!(back, room);
        let _ = room.config.updated(&v);
        let _ = room.config.patched(&v);
    }
    let base = RoomConfig::with_defaults("base");
    let _ = base.updated(&v);
    let _ = base.patched(&v);
    let _ = RoomConfig::from_create(&v);
});
