//! # tessera-auth
//!
//! The authentication schemes OWT clients and databases use, byte for byte
//! (`owt-compat-spec.md` §2.2, §2.9, §3.5, §4.1):
//!
//! * [`mauth`]: the `Authorization: MAuth ...` header of the management API — OWT's tolerant
//!   parser and its signature rule.
//! * [`sign`]: OWT's signature primitive, Base64 of the lowercase hex HMAC-SHA256.
//! * [`token`]: access tokens (`{tokenId, host, secure, [webTransportUrl], signature}`).
//! * [`ticket`]: portal reconnection tickets.
//! * [`cipher`]: the AES-256-CTR cipher OWT stores service keys with.
//!
//! Pure functions: no I/O, no clocks (time is passed in).
//!
//! ```
//! let sig = tessera_auth::sign::owt_signature("sampleServiceKey", "1406079112038,87428");
//! assert_eq!(sig, "ZTM3MDFiMjEzOWFkMDQ4OWYwNDNjNjNmYTE1MGI1NTIzZDc1ODU5OTUyMzRkZTI0N2E4MTVkM2MyMDI1MWZkNw==");
//! ```

pub mod cipher;
pub mod mauth;
pub mod sign;
pub mod ticket;
pub mod token;

/// A new service key the way OWT's `initdb.js` makes them: Base64 of 128 random bytes.
pub fn random_service_key() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 128];
    rand::fill(&mut b[..]);
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A new token-signing key (or portal ticket secret): 64 random bytes as 128 hex characters.
pub fn random_hex_key() -> String {
    let mut b = [0u8; 64];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_keys_have_owt_shapes() {
        assert_eq!(super::random_hex_key().len(), 128);
        assert_eq!(super::random_service_key().len(), 172);
        assert_ne!(super::random_hex_key(), super::random_hex_key());
    }
}
