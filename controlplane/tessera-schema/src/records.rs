//! Stored records other than rooms: services and tokens (spec §4.1).

use serde::{Deserialize, Serialize};

use crate::oid::ObjectId;

/// A service: the tenant that owns rooms and signs REST requests with its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Service id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Unique name.
    pub name: String,
    /// The key as stored: hex AES-256-CTR ciphertext when `encrypted`, else the key itself.
    pub key: String,
    /// Whether `key` is encrypted (OWT's cipher, see `tessera-auth`).
    #[serde(default)]
    pub encrypted: bool,
    /// Rooms owned by the service.
    #[serde(default)]
    pub rooms: Vec<ObjectId>,
    /// Mongoose version key.
    #[serde(rename = "__v", default)]
    pub v: i64,
}

/// `{isp, region}` placement preference of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// ISP.
    pub isp: String,
    /// Region.
    pub region: String,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            isp: "isp".into(),
            region: "region".into(),
        }
    }
}

/// A token record (spec §2.9): single use, valid for three minutes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// User name.
    pub user: String,
    /// Role name (one of the room's roles).
    pub role: String,
    /// Room.
    pub room: ObjectId,
    /// Service that minted it.
    pub service: ObjectId,
    /// Creation time, milliseconds since the Unix epoch.
    pub creation_date: i64,
    /// Placement preference.
    pub origin: Origin,
    /// Random task code (decimal string below 1e11).
    pub code: String,
    /// Whether the portal is reached over TLS.
    pub secure: bool,
    /// Portal `host:port` the client connects to.
    pub host: String,
    /// WebTransport URL, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_transport_url: Option<String>,
    /// Stream-engine domain (HEAD only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// How long a token is valid after its creation (spec §2.9).
pub const TOKEN_LIFETIME_MS: i64 = 3 * 60 * 1000;

/// The outcome of consuming a token at login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenTake {
    /// The token existed, was young enough, and is now deleted.
    Taken(Box<TokenRecord>),
    /// The token existed but was older than [`TOKEN_LIFETIME_MS`]; it is deleted.
    Expired,
    /// No such token (never minted, or already used).
    Missing,
}
