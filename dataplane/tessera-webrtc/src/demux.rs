//! First-byte demultiplexing of datagrams on a shared port (RFC 7983, RFC 5761 §4) and the
//! little STUN parsing needed to route a binding request to its transport (RFC 8489 §5, §14.3).

/// What a datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// STUN (first byte 0..=3).
    Stun,
    /// DTLS record (20..=63).
    Dtls,
    /// RTP (128..=191, second byte not an RTCP type).
    Rtp,
    /// RTCP (128..=191, second byte 192..=223).
    Rtcp,
    /// Anything else (dropped).
    Unknown,
}

/// Classifies a datagram by its first bytes.
pub fn classify(b: &[u8]) -> Class {
    match b.first() {
        Some(0..=3) if b.len() >= 20 => Class::Stun,
        Some(20..=63) if b.len() >= 13 => Class::Dtls,
        Some(128..=191) if b.len() >= 8 => {
            if (192..=223).contains(&b[1]) {
                Class::Rtcp
            } else if b.len() >= 12 {
                Class::Rtp
            } else {
                Class::Unknown
            }
        }
        _ => Class::Unknown,
    }
}

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const ATTR_USERNAME: u16 = 0x0006;

/// The USERNAME of a STUN binding request (`"<our ufrag>:<their ufrag>"`), if `b` is one.
pub fn binding_request_username(b: &[u8]) -> Option<&str> {
    if b.len() < 20 {
        return None;
    }
    let msg_type = u16::from_be_bytes([b[0], b[1]]);
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    let cookie = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    if msg_type != BINDING_REQUEST
        || cookie != MAGIC_COOKIE
        || !len.is_multiple_of(4)
        || 20 + len > b.len()
    {
        return None;
    }
    let mut p = 20;
    let end = 20 + len;
    while p + 4 <= end {
        let t = u16::from_be_bytes([b[p], b[p + 1]]);
        let l = u16::from_be_bytes([b[p + 2], b[p + 3]]) as usize;
        let v = b.get(p + 4..p + 4 + l)?;
        if p + 4 + l > end {
            return None;
        }
        if t == ATTR_USERNAME {
            return std::str::from_utf8(v).ok();
        }
        p += 4 + l.div_ceil(4) * 4;
    }
    None
}

/// The local ufrag named by a binding request's USERNAME.
pub fn local_ufrag(username: &str) -> &str {
    username.split(':').next().unwrap_or(username)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binding(username: &str) -> Vec<u8> {
        let mut attr = Vec::new();
        attr.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attr.extend_from_slice(username.as_bytes());
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        m.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[7u8; 12]);
        m.extend_from_slice(&attr);
        m
    }

    #[test]
    fn classifies_and_reads_usernames() {
        let b = binding("srvU:cliU");
        assert_eq!(classify(&b), Class::Stun);
        assert_eq!(binding_request_username(&b), Some("srvU:cliU"));
        assert_eq!(local_ufrag("srvU:cliU"), "srvU");
        assert_eq!(
            classify(&[22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Class::Dtls
        );
        assert_eq!(
            classify(&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
            Class::Rtp
        );
        assert_eq!(classify(&[0x81, 200, 0, 6, 0, 0, 0, 1]), Class::Rtcp);
        assert_eq!(classify(&[0x40, 0]), Class::Unknown);
        assert_eq!(classify(&[]), Class::Unknown);
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = classify(&b);
            let _ = binding_request_username(&b);
        }
    }
}
