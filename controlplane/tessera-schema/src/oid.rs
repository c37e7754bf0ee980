//! MongoDB-style ObjectIds: the id format OWT uses for services, rooms and tokens (spec §1.2).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 12-byte ObjectId: 4-byte big-endian seconds since the epoch, 5 random bytes fixed per
/// process, 3-byte big-endian counter. Displayed and parsed as 24 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

/// Why a string is not an ObjectId.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ObjectId (24 hexadecimal characters expected)")]
pub struct InvalidObjectId;

static PROCESS_UNIQUE: std::sync::OnceLock<[u8; 5]> = std::sync::OnceLock::new();
static COUNTER: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();

impl ObjectId {
    /// A new id for the current time.
    pub fn new() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0) as u32;
        Self::with_timestamp(secs)
    }

    /// A new id whose time part is `secs` (seconds since the Unix epoch).
    pub fn with_timestamp(secs: u32) -> Self {
        let unique = PROCESS_UNIQUE.get_or_init(rand::random::<[u8; 5]>);
        let counter = COUNTER
            .get_or_init(|| AtomicU32::new(rand::random::<u32>() & 0x00ff_ffff))
            .fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&secs.to_be_bytes());
        b[4..9].copy_from_slice(unique);
        b[9..].copy_from_slice(&counter.to_be_bytes()[1..]);
        ObjectId(b)
    }

    /// The id from its 12 raw bytes.
    pub const fn from_bytes(bytes: [u8; 12]) -> Self {
        ObjectId(bytes)
    }

    /// The 12 raw bytes.
    pub const fn bytes(&self) -> [u8; 12] {
        self.0
    }

    /// Seconds since the epoch encoded in the id.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// The 24-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for ObjectId {
    type Err = InvalidObjectId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 24 {
            return Err(InvalidObjectId);
        }
        let mut b = [0u8; 12];
        hex::decode_to_slice(s, &mut b).map_err(|_| InvalidObjectId)?;
        Ok(ObjectId(b))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_hex() {
        let id = ObjectId::new();
        let parsed: ObjectId = id.to_hex().parse().unwrap();
        assert_eq!(id, parsed);
        assert_eq!(id.to_hex().len(), 24);
    }

    #[test]
    fn ids_are_unique_and_ordered_within_a_second() {
        let a = ObjectId::with_timestamp(1_700_000_000);
        let b = ObjectId::with_timestamp(1_700_000_000);
        assert_ne!(a, b);
        assert_eq!(a.timestamp(), 1_700_000_000);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "123",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "53c74879209ee7f96e5cbc9c0",
            "53c74879209ee7f96e5cbc9",
        ] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad}");
        }
        assert!("53C74879209EE7F96E5CBC9C".parse::<ObjectId>().is_ok());
    }
}
