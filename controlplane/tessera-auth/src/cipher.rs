//! OWT's secret cipher (spec §4.1): AES-256-CTR with a fixed IV, hex ciphertext. OWT stores
//! service keys (when `encrypted: true`) and room SIP passwords this way, with the built-in
//! default key unless an `spk` from `.owt.authstore` replaces it. Implemented so that an
//! existing OWT database can be used as is.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// OWT's fixed IV.
const IV: [u8; 16] = hex_16("3a613563c433a361a62a9efe4dd8462e");

/// OWT's built-in default key.
pub const DEFAULT_KEY: [u8; 32] =
    hex_32("3d84a1efc77268c98bc6ca2921eb35a6d82a40a38696d25fbb64ff1733cd2523");

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not a lowercase hex digit"),
    }
}

const fn hex_16(s: &str) -> [u8; 16] {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn hex_32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Why a stored secret could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The stored value is not hex.
    #[error("encrypted secret is not hex")]
    NotHex,
    /// The plaintext is not UTF-8 (wrong key).
    #[error("encrypted secret does not decrypt to text (wrong key?)")]
    NotText,
}

/// Encrypts `plain` with `key`; returns lowercase hex.
pub fn encrypt(key: &[u8; 32], plain: &str) -> String {
    let mut buf = plain.as_bytes().to_vec();
    Aes256Ctr::new(key.into(), &IV.into()).apply_keystream(&mut buf);
    hex::encode(buf)
}

/// Decrypts a hex ciphertext produced by [`encrypt`] or by OWT.
pub fn decrypt(key: &[u8; 32], hex_text: &str) -> Result<String, CipherError> {
    let mut buf = hex::decode(hex_text).map_err(|_| CipherError::NotHex)?;
    Aes256Ctr::new(key.into(), &IV.into()).apply_keystream(&mut buf);
    String::from_utf8(buf).map_err(|_| CipherError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = encrypt(&DEFAULT_KEY, "sampleServiceKey");
        assert_eq!(c.len(), 32);
        assert_eq!(decrypt(&DEFAULT_KEY, &c).unwrap(), "sampleServiceKey");
        assert_eq!(decrypt(&DEFAULT_KEY, "zz"), Err(CipherError::NotHex));
    }

    #[test]
    fn ctr_keystream_is_the_aes_of_the_iv() {
        // CTR's first keystream block is AES_k(IV): encrypting zeros must give exactly that.
        use aes::cipher::{BlockEncrypt, KeyInit};
        let aes = Aes256::new(&DEFAULT_KEY.into());
        let mut block = IV.into();
        aes.encrypt_block(&mut block);
        let zeros = "\0".repeat(16);
        assert_eq!(encrypt(&DEFAULT_KEY, &zeros), hex::encode(block));
    }
}
