//! # tessera-schema
//!
//! Tessera's vocabulary: the types that cross crate and process boundaries, in the exact shapes
//! OWT clients and OWT databases use (see `shared/docs/owt-compat-spec.md`).
//!
//! * [`ObjectId`]: MongoDB-style ids of services, rooms and tokens.
//! * [`room`]: the room document, OWT's defaults and the create/update/patch rules. Untrusted
//!   JSON goes in; a validated [`room::RoomConfig`] or a [`room::RoomError`] naming the bad
//!   field comes out.
//! * [`records`]: services and token records.
//! * [`media`], [`fraction`]: formats, resolutions and layout fractions.
//! * [`control`]: the control interface of the WebRTC data plane (offers, answers, events).
//! * [`sdp`]: SDP offers parsed into what an answerer needs, and answers written back.
//!
//! No I/O, no clocks: callers pass time in.
//!
//! ```
//! use tessera_schema::room::RoomConfig;
//! let room = RoomConfig::from_create(&serde_json::json!({"name": "standup"})).unwrap();
//! assert_eq!(room.views[0].label, "common");
//! ```

pub mod control;
pub mod fraction;
pub mod media;
mod num;
mod oid;
pub mod records;
pub mod room;
pub mod sdp;

pub use oid::{InvalidObjectId, ObjectId};

/// Whether `s` is an id the management API accepts in a path (`^[0-9a-zA-Z\-_]+$`, spec §1.2).
pub fn is_valid_path_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
