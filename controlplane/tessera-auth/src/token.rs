//! Access tokens (spec §2.9).
//!
//! A token is Base64 (standard alphabet) of the UTF-8 JSON
//! `{"tokenId", "host", "secure", ["webTransportUrl"], "signature"}` in that key order.
//! `signature = owt_signature(token_key, "<tokenId>,<host>,<webTransportUrl>")`, where a missing
//! WebTransport URL is the literal text `undefined` (JavaScript string concatenation).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::sign;

/// A decoded token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// Id of the token record in the store.
    pub token_id: String,
    /// Portal `host:port` (or the `via_host` without scheme).
    pub host: String,
    /// Whether the portal is reached with TLS.
    pub secure: bool,
    /// WebTransport URL when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_transport_url: Option<String>,
    /// Signature over id, host and WebTransport URL.
    pub signature: String,
}

/// Why a token string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not Base64, not JSON, or not the token shape.
    #[error("Invalid token")]
    Malformed,
    /// The signature does not match the token key.
    #[error("Invalid token signature")]
    Signature,
}

/// Tokens longer than this are refused before decoding.
pub const MAX_TOKEN_LEN: usize = 8192;

fn message(token_id: &str, host: &str, web_transport_url: Option<&str>) -> String {
    format!(
        "{token_id},{host},{}",
        web_transport_url.unwrap_or("undefined")
    )
}

impl Token {
    /// A signed token.
    pub fn new(
        token_key: &str,
        token_id: String,
        host: String,
        secure: bool,
        web_transport_url: Option<String>,
    ) -> Token {
        let signature = sign::owt_signature(
            token_key,
            &message(&token_id, &host, web_transport_url.as_deref()),
        );
        Token {
            token_id,
            host,
            secure,
            web_transport_url,
            signature,
        }
    }

    /// The string clients receive and send back at login.
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).expect("tokens serialise");
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// Decodes a token string (no signature check).
    pub fn decode(s: &str) -> Result<Token, TokenError> {
        if s.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
    }

    /// Checks the signature with the token key.
    pub fn verify(&self, token_key: &str) -> Result<(), TokenError> {
        let m = message(
            &self.token_id,
            &self.host,
            self.web_transport_url.as_deref(),
        );
        if sign::verify(token_key, &m, &self.signature) {
            Ok(())
        } else {
            Err(TokenError::Signature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIG: &str =
        "NDRiMGEzYmQzNDkzZDEyOWI4NTI1MDU0MGFhNDc5NDczNWNhMDc5NzJmODBhZDNmMDYwMGRhMGM0YzAzNTliMg==";
    const TOKEN: &str = "eyJ0b2tlbklkIjoiNWYxZDJjM2I0YTU5Njg3Nzg2OTVhNGIzIiwiaG9zdCI6IjEwLjAuMC41OjgwODAiLCJzZWN1cmUiOnRydWUsInNpZ25hdHVyZSI6Ik5EUmlNR0V6WW1Rek5Ea3paREV5T1dJNE5USTFNRFUwTUdGaE5EYzVORGN6TldOaE1EYzVOekptT0RCaFpETm1NRFl3TUdSaE1HTTBZekF6TlRsaU1nPT0ifQ==";

    // owt-compat-spec.md, Appendix A: token signature and token string.
    #[test]
    fn appendix_a_token() {
        let key = "0".repeat(128);
        let t = Token::new(
            &key,
            "5f1d2c3b4a5968778695a4b3".into(),
            "10.0.0.5:8080".into(),
            true,
            None,
        );
        assert_eq!(t.signature, SIG);
        assert_eq!(t.encode(), TOKEN);
        let d = Token::decode(TOKEN).unwrap();
        assert_eq!(d, t);
        assert_eq!(d.verify(&key), Ok(()));
        assert_eq!(d.verify(&"1".repeat(128)), Err(TokenError::Signature));
    }

    #[test]
    fn web_transport_url_is_signed_and_kept_in_order() {
        let t = Token::new(
            "k",
            "id".into(),
            "h:1".into(),
            false,
            Some("https://q:7700/".into()),
        );
        let json = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(t.encode())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"tokenId":"id","host":"h:1","secure":false,"webTransportUrl":"https://q:7700/","signature":"{}"}}"#,
                t.signature
            )
        );
        assert!(Token::decode(&t.encode()).unwrap().verify("k").is_ok());
        let mut forged = t.clone();
        forged.web_transport_url = None;
        assert!(forged.verify("k").is_err());
    }

    #[test]
    fn malformed_tokens() {
        for bad in [
            "",
            "!!!",
            "e30=",
            "bnVsbA==",
            &"A".repeat(MAX_TOKEN_LEN + 4),
        ] {
            assert_eq!(Token::decode(bad), Err(TokenError::Malformed), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in "\\PC{0,200}") {
            let _ = Token::decode(&s);
        }
    }
}
