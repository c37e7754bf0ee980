//! OWT's signature primitive: `Base64(lowercase_hex(HMAC-SHA256(key_text, message)))`.
//!
//! The key is used as its literal UTF-8 text (never base64-decoded), and Base64 is applied to
//! the 64-character hex text, so every signature is 88 characters ending in `==`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs `message` with `key` the OWT way.
pub fn owt_signature(key: &str, message: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    let digest = mac.finalize().into_bytes();
    base64::engine::general_purpose::STANDARD.encode(hex::encode(digest))
}

/// Checks `signature` against the expected one in constant time.
pub fn verify(key: &str, message: &str, signature: &str) -> bool {
    let expected = owt_signature(key, message);
    constant_time_eq(expected.as_bytes(), signature.as_bytes())
}

/// Equality that does not stop at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // owt-compat-spec.md, Appendix A.
    #[test]
    fn appendix_a_mauth_without_user() {
        assert_eq!(
            owt_signature("sampleServiceKey", "1406079112038,87428"),
            "ZTM3MDFiMjEzOWFkMDQ4OWYwNDNjNjNmYTE1MGI1NTIzZDc1ODU5OTUyMzRkZTI0N2E4MTVkM2MyMDI1MWZkNw=="
        );
    }

    #[test]
    fn appendix_a_mauth_with_user_and_role() {
        assert_eq!(
            owt_signature("sampleServiceKey", "1406079112038,87428,YWxpY2U=,presenter"),
            "OTc0YmY1YWZkOTJiODJkOWI3NGRjM2ViMTJkNTRkZTM3NTM0YTA5OTAyYTkxNTExM2UzMzFkNDAwM2IzZjBiYg=="
        );
    }

    #[test]
    fn verify_rejects_other_signatures() {
        let s = owt_signature("k", "m");
        assert!(verify("k", "m", &s));
        assert!(!verify("k", "m2", &s));
        assert!(!verify("k", "m", &s[..80]));
    }
}
