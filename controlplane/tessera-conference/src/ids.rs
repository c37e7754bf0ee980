//! Identifier formats (spec §1.2).

use rand::Rng;

/// A publication/subscription/transport id: 32 lowercase hex characters (a UUIDv4 without
/// dashes in OWT).
pub fn session_id() -> String {
    let v: u128 = rand::random();
    format!("{v:032x}")
}

/// A participant id: 20 characters of `[A-Za-z0-9_-]`, like a Socket.IO socket id.
pub fn participant_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        assert_eq!(super::session_id().len(), 32);
        assert_eq!(super::participant_id().len(), 20);
        assert_ne!(super::session_id(), super::session_id());
    }
}
