//! The MAuth `Authorization` header of OWT's management API (spec §2.2).
//!
//! Clients send one line, comma-separated `key=value` items, no quotes:
//!
//! ```text
//! MAuth realm=http://marte3.dit.upm.es,mauth_signature_method=HMAC_SHA256,mauth_serviceid=<id>,mauth_cnonce=<n>,mauth_timestamp=<ms>,mauth_signature=<sig>
//! ```
//!
//! OWT's parser is reproduced (split on `,`; split each item on `=`; drop the key's first six
//! characters; rebuild the value, where each empty piece stands for a `=` of Base64 padding),
//! and made slightly more lenient: whitespace around items and double quotes around values are
//! removed. Every header OWT accepts is accepted with the same meaning.

use base64::Engine as _;

use crate::sign;

/// A parsed MAuth header.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MauthHeader {
    /// `realm` (never checked, as in OWT).
    pub realm: Option<String>,
    /// `mauth_signature_method`; must be `HMAC_SHA256`.
    pub signature_method: String,
    /// `mauth_serviceid`.
    pub service_id: String,
    /// `mauth_cnonce`.
    pub cnonce: String,
    /// `mauth_timestamp` (milliseconds; not checked, as in OWT).
    pub timestamp: String,
    /// `mauth_signature`.
    pub signature: String,
    /// `mauth_username`, still Base64-encoded as sent.
    pub username: Option<String>,
    /// `mauth_role`.
    pub role: Option<String>,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MauthError {
    /// A required item is absent or empty.
    #[error("MAuth header lacks {0}")]
    Missing(&'static str),
    /// The header is longer than any real client sends.
    #[error("MAuth header is too long")]
    TooLong,
    /// `mauth_signature_method` is not `HMAC_SHA256`.
    #[error("unsupported MAuth signature method '{0}'")]
    Method(String),
    /// The signature does not match.
    #[error("MAuth signature mismatch")]
    Signature,
}

/// Headers longer than this are refused before parsing.
pub const MAX_HEADER_LEN: usize = 4096;

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
}

impl MauthHeader {
    /// Parses the header value. Never panics on any input.
    pub fn parse(header: &str) -> Result<MauthHeader, MauthError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(MauthError::TooLong);
        }
        let mut h = MauthHeader::default();
        for item in header.split(',') {
            let (raw_key, rest) = item.trim().split_once('=').unwrap_or((item.trim(), ""));
            // OWT drops the first six characters of the key, whatever they are.
            let key = raw_key
                .char_indices()
                .nth(6)
                .map_or("", |(i, _)| &raw_key[i..]);
            let mut value = String::new();
            for p in unquote(rest).split('=') {
                if p.is_empty() {
                    value.push('=')
                } else {
                    value.push_str(p)
                }
            }
            // `split` yields one empty piece for an empty rest; that is no value at all.
            if rest.is_empty() {
                value.clear();
            }
            match key {
                "realm" => h.realm = Some(value),
                "signature_method" => h.signature_method = value,
                "serviceid" => h.service_id = value,
                "cnonce" => h.cnonce = value,
                "timestamp" => h.timestamp = value,
                "signature" => h.signature = value,
                "username" => h.username = Some(value),
                "role" => h.role = Some(value),
                _ => {}
            }
        }
        for (name, v) in [
            ("mauth_serviceid", &h.service_id),
            ("mauth_signature_method", &h.signature_method),
            ("mauth_signature", &h.signature),
            ("mauth_timestamp", &h.timestamp),
            ("mauth_cnonce", &h.cnonce),
        ] {
            if v.is_empty() {
                return Err(MauthError::Missing(name));
            }
        }
        Ok(h)
    }

    /// The string the client signed: `timestamp,cnonce[,username,role]`.
    pub fn string_to_sign(&self) -> String {
        match (&self.username, &self.role) {
            (Some(u), Some(r)) => format!("{},{},{},{}", self.timestamp, self.cnonce, u, r),
            _ => format!("{},{}", self.timestamp, self.cnonce),
        }
    }

    /// Checks the method and the signature against the service key (plain text).
    pub fn verify(&self, service_key: &str) -> Result<(), MauthError> {
        if self.signature_method != "HMAC_SHA256" {
            return Err(MauthError::Method(self.signature_method.clone()));
        }
        if sign::verify(service_key, &self.string_to_sign(), &self.signature) {
            Ok(())
        } else {
            Err(MauthError::Signature)
        }
    }

    /// The user named by `mauth_username` (Base64-decoded), when both user and role are given.
    pub fn user(&self) -> Option<String> {
        let (u, _) = (self.username.as_ref()?, self.role.as_ref()?);
        let bytes = base64::engine::general_purpose::STANDARD.decode(u).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Builds the header a client would send (as the JS REST SDK formats it).
    pub fn build(
        service_id: &str,
        service_key: &str,
        timestamp_ms: u64,
        cnonce: &str,
        user_role: Option<(&str, &str)>,
    ) -> String {
        let mut h = MauthHeader {
            realm: Some("http://marte3.dit.upm.es".into()),
            signature_method: "HMAC_SHA256".into(),
            service_id: service_id.into(),
            cnonce: cnonce.into(),
            timestamp: timestamp_ms.to_string(),
            ..Default::default()
        };
        if let Some((user, role)) = user_role {
            h.username = Some(base64::engine::general_purpose::STANDARD.encode(user));
            h.role = Some(role.into());
        }
        h.signature = sign::owt_signature(service_key, &h.string_to_sign());
        let mut s = format!(
            "MAuth realm=http://marte3.dit.upm.es,mauth_signature_method=HMAC_SHA256,mauth_serviceid={},mauth_cnonce={},mauth_timestamp={}",
            h.service_id, h.cnonce, h.timestamp
        );
        if let (Some(u), Some(r)) = (&h.username, &h.role) {
            s.push_str(&format!(",mauth_username={u},mauth_role={r}"));
        }
        s.push_str(&format!(",mauth_signature={}", h.signature));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // owt-compat-spec.md, Appendix A: the example header for the first row.
    const APPENDIX_A_HEADER: &str = "MAuth realm=http://marte3.dit.upm.es,mauth_signature_method=HMAC_SHA256,mauth_serviceid=53c74879209ee7f96e5cbc9c,mauth_cnonce=87428,mauth_timestamp=1406079112038,mauth_signature=ZTM3MDFiMjEzOWFkMDQ4OWYwNDNjNjNmYTE1MGI1NTIzZDc1ODU5OTUyMzRkZTI0N2E4MTVkM2MyMDI1MWZkNw==";

    #[test]
    fn appendix_a_header_parses_and_verifies() {
        let h = MauthHeader::parse(APPENDIX_A_HEADER).unwrap();
        assert_eq!(h.realm.as_deref(), Some("http://marte3.dit.upm.es"));
        assert_eq!(h.service_id, "53c74879209ee7f96e5cbc9c");
        assert_eq!(h.cnonce, "87428");
        assert_eq!(h.timestamp, "1406079112038");
        assert!(h.signature.ends_with("=="));
        assert_eq!(h.verify("sampleServiceKey"), Ok(()));
        assert_eq!(h.verify("otherKey"), Err(MauthError::Signature));
    }

    #[test]
    fn appendix_a_with_user_and_role() {
        let header = MauthHeader::build(
            "53c74879209ee7f96e5cbc9c",
            "sampleServiceKey",
            1406079112038,
            "87428",
            Some(("alice", "presenter")),
        );
        let h = MauthHeader::parse(&header).unwrap();
        assert_eq!(h.username.as_deref(), Some("YWxpY2U="));
        assert_eq!(h.string_to_sign(), "1406079112038,87428,YWxpY2U=,presenter");
        assert_eq!(
            h.signature,
            "OTc0YmY1YWZkOTJiODJkOWI3NGRjM2ViMTJkNTRkZTM3NTM0YTA5OTAyYTkxNTExM2UzMzFkNDAwM2IzZjBiYg=="
        );
        assert_eq!(h.user().as_deref(), Some("alice"));
        assert!(h.verify("sampleServiceKey").is_ok());
    }

    #[test]
    fn any_six_character_prefix_works_like_owt() {
        let h = MauthHeader::parse(&APPENDIX_A_HEADER.replace("mauth_", "xxxxx_")).unwrap();
        assert!(h.verify("sampleServiceKey").is_ok());
    }

    #[test]
    fn lenient_about_spaces_and_quotes() {
        let spaced = APPENDIX_A_HEADER
            .replace(",", ", ")
            .replace("=ZTM3", "=\"ZTM3")
            .replace("Nw==", "Nw==\"");
        let h = MauthHeader::parse(&spaced).unwrap();
        assert!(h.verify("sampleServiceKey").is_ok());
    }

    #[test]
    fn missing_items_and_bad_methods() {
        assert_eq!(
            MauthHeader::parse(""),
            Err(MauthError::Missing("mauth_serviceid"))
        );
        assert_eq!(
            MauthHeader::parse("Bearer abc"),
            Err(MauthError::Missing("mauth_serviceid"))
        );
        let no_sig = APPENDIX_A_HEADER.split(",mauth_signature=").next().unwrap();
        assert_eq!(
            MauthHeader::parse(no_sig),
            Err(MauthError::Missing("mauth_signature"))
        );
        let md5 =
            MauthHeader::parse(&APPENDIX_A_HEADER.replace("HMAC_SHA256", "HMAC_MD5")).unwrap();
        assert_eq!(
            md5.verify("sampleServiceKey"),
            Err(MauthError::Method("HMAC_MD5".into()))
        );
        assert_eq!(
            MauthHeader::parse(&"a".repeat(MAX_HEADER_LEN + 1)),
            Err(MauthError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = MauthHeader::parse(&s);
        }

        #[test]
        fn built_headers_verify(id in "[0-9a-f]{24}", key in "[A-Za-z0-9+/=]{1,64}", ts in 0u64..u64::MAX / 2, cnonce in "[0-9a-f]{1,16}", user in proptest::option::of(("[a-z]{1,12}", "[a-z_]{1,12}"))) {
            let header = MauthHeader::build(&id, &key, ts, &cnonce, user.as_ref().map(|(u, r)| (u.as_str(), r.as_str())));
            let h = MauthHeader::parse(&header).unwrap();
            prop_assert_eq!(&h.service_id, &id);
            prop_assert!(h.verify(&key).is_ok());
            prop_assert_eq!(h.user(), user.map(|(u, _)| u));
        }
    }
}
