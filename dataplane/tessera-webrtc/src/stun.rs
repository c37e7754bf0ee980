//! The STUN a connected transport handles itself, without str0m and without allocating:
//! answering the peer's ICE binding requests on the selected pair (RFC 8445 §7.3, RFC 7675
//! consent checks) and sending our own consent checks (RFC 7675 §5.1).
//!
//! Only short-term credentials (ICE): MESSAGE-INTEGRITY is HMAC-SHA1 keyed with the ICE
//! password (RFC 8489 §9.1.1, §14.5), FINGERPRINT is CRC-32 XOR `0x5354554e` (§14.7).
//! [`parse`] reads a message without judging it; [`Message::authentic`] checks both.
//! Nothing here allocates (`tests/no_alloc.rs`).

use std::net::{IpAddr, SocketAddr};

use aws_lc_rs::hmac;

/// STUN magic cookie (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Binding request.
pub const BINDING_REQUEST: u16 = 0x0001;
/// Binding indication (keep-alive; no integrity).
pub const BINDING_INDICATION: u16 = 0x0011;
/// Binding success response.
pub const BINDING_SUCCESS: u16 = 0x0101;

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_PRIORITY: u16 = 0x0024;
const ATTR_USE_CANDIDATE: u16 = 0x0025;
const ATTR_FINGERPRINT: u16 = 0x8028;
const ATTR_ICE_CONTROLLED: u16 = 0x8029;
const ATTR_ICE_CONTROLLING: u16 = 0x802A;

const FINGERPRINT_XOR: u32 = 0x5354_554E;
const HEADER: usize = 20;
const MI_LEN: usize = 20;

/// An HMAC-SHA1 key made from an ICE password (made once per transport).
pub struct Key(hmac::Key);

impl Key {
    /// The key for `password`.
    pub fn new(password: &str) -> Key {
        Key(hmac::Key::new(
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            password.as_bytes(),
        ))
    }

    /// HMAC over `header` (the first 20 bytes, length field patched) then `rest`.
    fn sign(&self, header: &[u8; HEADER], rest: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(header);
        ctx.update(rest);
        ctx.sign()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// One STUN message, read but not judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Message type (method and class).
    pub kind: u16,
    /// Transaction id.
    pub transaction: [u8; 12],
    /// USERNAME, if present.
    pub username: Option<&'a [u8]>,
    /// PRIORITY, if present.
    pub priority: Option<u32>,
    /// USE-CANDIDATE present.
    pub use_candidate: bool,
    /// ICE-CONTROLLING present.
    pub controlling: bool,
    /// ICE-CONTROLLED present.
    pub controlled: bool,
    /// XOR-MAPPED-ADDRESS, if present and readable.
    pub mapped: Option<SocketAddr>,
    /// A comprehension-required attribute (type below 0x8000) this module does not know
    /// came before MESSAGE-INTEGRITY: such a message is left to str0m.
    pub unknown_required: bool,
    integrity: Option<usize>,
    fingerprint: Option<usize>,
    raw: &'a [u8],
}

/// Reads a STUN message (RFC 8489 §5, §14): the header, then attributes up to
/// MESSAGE-INTEGRITY (those after it are ignored, except FINGERPRINT, which must be last).
/// `None` for anything that is not a well-formed STUN message.
pub fn parse(b: &[u8]) -> Option<Message<'_>> {
    if b.len() < HEADER || b[0] & 0xC0 != 0 {
        return None;
    }
    let kind = u16::from_be_bytes([b[0], b[1]]);
    let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if u32::from_be_bytes([b[4], b[5], b[6], b[7]]) != MAGIC_COOKIE
        || !len.is_multiple_of(4)
        || HEADER + len != b.len()
    {
        return None;
    }
    let mut transaction = [0; 12];
    transaction.copy_from_slice(&b[8..20]);
    let mut m = Message {
        kind,
        transaction,
        username: None,
        priority: None,
        use_candidate: false,
        controlling: false,
        controlled: false,
        mapped: None,
        unknown_required: false,
        integrity: None,
        fingerprint: None,
        raw: b,
    };
    let mut p = HEADER;
    while p < b.len() {
        let head = b.get(p..p + 4)?;
        let t = u16::from_be_bytes([head[0], head[1]]);
        let l = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let v = b.get(p + 4..p + 4 + l)?;
        let next = p + 4 + l.div_ceil(4) * 4;
        if next > b.len() {
            return None;
        }
        if m.fingerprint.is_some() {
            return None; // FINGERPRINT must be the last attribute
        }
        if t == ATTR_FINGERPRINT {
            if l != 4 {
                return None;
            }
            m.fingerprint = Some(p);
        } else if m.integrity.is_some() {
            // Attributes after MESSAGE-INTEGRITY are not covered by it: ignored.
        } else {
            match t {
                ATTR_USERNAME => m.username = Some(v),
                ATTR_MESSAGE_INTEGRITY => {
                    if l != MI_LEN {
                        return None;
                    }
                    m.integrity = Some(p);
                }
                ATTR_PRIORITY => m.priority = Some(u32::from_be_bytes(v.try_into().ok()?)),
                ATTR_USE_CANDIDATE if l == 0 => m.use_candidate = true,
                ATTR_ICE_CONTROLLING if l == 8 => m.controlling = true,
                ATTR_ICE_CONTROLLED if l == 8 => m.controlled = true,
                ATTR_USE_CANDIDATE | ATTR_ICE_CONTROLLING | ATTR_ICE_CONTROLLED => return None,
                ATTR_XOR_MAPPED_ADDRESS => m.mapped = read_xor_address(v, &transaction),
                t if t < 0x8000 => m.unknown_required = true,
                _ => {}
            }
        }
        p = next;
    }
    Some(m)
}

impl Message<'_> {
    /// Whether MESSAGE-INTEGRITY is present and made with `key`, and FINGERPRINT, which ICE
    /// requires (RFC 8445 §7.1.1), is present and right.
    pub fn authentic(&self, key: &Key) -> bool {
        let (Some(mi), Some(fp)) = (self.integrity, self.fingerprint) else {
            return false;
        };
        let b = self.raw;
        // The length field counts up to the end of the attribute being computed (§14.5, §14.7).
        let crc = crc32(&patched_header(b, fp + 8), &b[HEADER..fp]) ^ FINGERPRINT_XOR;
        if crc.to_be_bytes() != b[fp + 4..fp + 8] {
            return false;
        }
        let tag = key.sign(&patched_header(b, mi + 4 + MI_LEN), &b[HEADER..mi]);
        aws_lc_rs::constant_time::verify_slices_are_equal(tag.as_ref(), &b[mi + 4..mi + 4 + MI_LEN])
            .is_ok()
    }

    /// Whether USERNAME is `"{first}:{second}"`.
    pub fn username_is(&self, first: &str, second: &str) -> bool {
        let Some(u) = self.username else {
            return false;
        };
        u.len() == first.len() + 1 + second.len()
            && u.starts_with(first.as_bytes())
            && u[first.len()] == b':'
            && u.ends_with(second.as_bytes())
    }
}

fn patched_header(b: &[u8], end: usize) -> [u8; HEADER] {
    let mut h = [0; HEADER];
    h.copy_from_slice(&b[..HEADER]);
    let len = (end - HEADER) as u16;
    h[2..4].copy_from_slice(&len.to_be_bytes());
    h
}

fn read_xor_address(v: &[u8], transaction: &[u8; 12]) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(transaction);
    let ip = match (v[1], v.len()) {
        (0x01, 8) => IpAddr::from(std::array::from_fn::<u8, 4, _>(|i| v[4 + i] ^ mask[i])),
        (0x02, 20) => IpAddr::from(std::array::from_fn::<u8, 16, _>(|i| v[4 + i] ^ mask[i])),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Appends attributes to a message being written into a caller's buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8], kind: u16, transaction: &[u8; 12]) -> Option<Writer<'a>> {
        let h = buf.get_mut(..HEADER)?;
        h[0..2].copy_from_slice(&kind.to_be_bytes());
        h[2..4].fill(0);
        h[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        h[8..20].copy_from_slice(transaction);
        Some(Writer { buf, at: HEADER })
    }

    /// Appends one attribute; `value` writes its `len` bytes (padding is zeroed here).
    fn attr(&mut self, t: u16, len: usize, value: impl FnOnce(&mut [u8])) -> Option<()> {
        let padded = len.div_ceil(4) * 4;
        let len16 = u16::try_from(len).ok()?;
        let a = self.buf.get_mut(self.at..self.at + 4 + padded)?;
        a[0..2].copy_from_slice(&t.to_be_bytes());
        a[2..4].copy_from_slice(&len16.to_be_bytes());
        value(&mut a[4..4 + len]);
        a[4 + len..].fill(0);
        self.at += 4 + padded;
        let total = u16::try_from(self.at - HEADER).ok()?;
        self.buf[2..4].copy_from_slice(&total.to_be_bytes());
        Some(())
    }

    /// MESSAGE-INTEGRITY then FINGERPRINT; returns the message length.
    fn finish(mut self, key: &Key) -> Option<usize> {
        let mi = self.at;
        self.attr(ATTR_MESSAGE_INTEGRITY, MI_LEN, |_| {})?;
        let tag = key.sign(
            &patched_header(self.buf, mi + 4 + MI_LEN),
            &self.buf[HEADER..mi],
        );
        self.buf[mi + 4..mi + 4 + MI_LEN].copy_from_slice(tag.as_ref());
        let fp = self.at;
        self.attr(ATTR_FINGERPRINT, 4, |_| {})?;
        let crc = crc32(&patched_header(self.buf, fp + 8), &self.buf[HEADER..fp]) ^ FINGERPRINT_XOR;
        self.buf[fp + 4..fp + 8].copy_from_slice(&crc.to_be_bytes());
        Some(self.at)
    }
}

/// Writes a binding success response to `transaction` (XOR-MAPPED-ADDRESS `mapped`,
/// MESSAGE-INTEGRITY with `key`, FINGERPRINT) into `buf`; its length, 0 if `buf` is too
/// small.
pub fn write_binding_success(
    buf: &mut [u8],
    transaction: &[u8; 12],
    mapped: SocketAddr,
    key: &Key,
) -> usize {
    let mut write = || -> Option<usize> {
        let mut w = Writer::new(buf, BINDING_SUCCESS, transaction)?;
        let mut mask = [0u8; 16];
        mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        mask[4..].copy_from_slice(transaction);
        let port = mapped.port() ^ (MAGIC_COOKIE >> 16) as u16;
        let mut addr = [0u8; 16];
        let (family, n) = match mapped.ip() {
            IpAddr::V4(ip) => {
                addr[..4].copy_from_slice(&ip.octets());
                (0x01, 4)
            }
            IpAddr::V6(ip) => {
                addr = ip.octets();
                (0x02, 16)
            }
        };
        w.attr(ATTR_XOR_MAPPED_ADDRESS, 4 + n, |v| {
            v[0] = 0;
            v[1] = family;
            v[2..4].copy_from_slice(&port.to_be_bytes());
            for i in 0..n {
                v[4 + i] = addr[i] ^ mask[i];
            }
        })?;
        w.finish(key)
    };
    write().unwrap_or(0)
}

/// What a consent check (a binding request from the controlled agent) carries.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Transaction id.
    pub transaction: [u8; 12],
    /// The peer's ufrag (USERNAME is `"{remote_ufrag}:{local_ufrag}"`).
    pub remote_ufrag: &'a str,
    /// Our ufrag.
    pub local_ufrag: &'a str,
    /// PRIORITY (a peer-reflexive priority, RFC 8445 §7.1.1).
    pub priority: u32,
    /// ICE-CONTROLLED tie-breaker.
    pub tiebreaker: u64,
}

/// Writes a binding request from the controlled agent (USERNAME, PRIORITY, ICE-CONTROLLED,
/// MESSAGE-INTEGRITY with `key` (the peer's password), FINGERPRINT) into `buf`; its length, 0
/// if `buf` is too small.
pub fn write_binding_request(buf: &mut [u8], r: &Request<'_>, key: &Key) -> usize {
    let mut write = || -> Option<usize> {
        let mut w = Writer::new(buf, BINDING_REQUEST, &r.transaction)?;
        let (a, b) = (r.remote_ufrag.as_bytes(), r.local_ufrag.as_bytes());
        w.attr(ATTR_USERNAME, a.len() + 1 + b.len(), |v| {
            v[..a.len()].copy_from_slice(a);
            v[a.len()] = b':';
            v[a.len() + 1..].copy_from_slice(b);
        })?;
        w.attr(ATTR_PRIORITY, 4, |v| {
            v.copy_from_slice(&r.priority.to_be_bytes())
        })?;
        w.attr(ATTR_ICE_CONTROLLED, 8, |v| {
            v.copy_from_slice(&r.tiebreaker.to_be_bytes())
        })?;
        w.finish(key)
    };
    write().unwrap_or(0)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it) of `a` then `b`.
fn crc32(a: &[u8], b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &byte in a.iter().chain(b) {
        c = CRC_TABLE[((c ^ u32::from(byte)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    // RFC 5769 §2 test vectors (password "VOkJxbRl1RmTxUk/WvJxBt").
    const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
    const TRANSACTION: [u8; 12] = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    fn rfc5769_request() -> Vec<u8> {
        hex("0001 0058 2112a442 b7e7a701 bc34d686 fa87dfae
             8022 0010 5354554e 20746573 7420636c 69656e74
             0024 0004 6e0001ff
             8029 0008 932ff9b1 51263b36
             0006 0009 6576746a 3a683676 59202020
             0008 0014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
             8028 0004 e57a3bcf")
    }

    fn rfc5769_ipv4_response() -> Vec<u8> {
        hex("0101 003c 2112a442 b7e7a701 bc34d686 fa87dfae
             8022 000b 74657374 20766563 746f7220
             0020 0008 0001a147 e112a643
             0008 0014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
             8028 0004 c07d4c96")
    }

    fn rfc5769_ipv6_response() -> Vec<u8> {
        hex("0101 0048 2112a442 b7e7a701 bc34d686 fa87dfae
             8022 000b 74657374 20766563 746f7220
             0020 0014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
             0008 0014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
             8028 0004 c8fb0b4c")
    }

    #[test]
    fn reads_and_authenticates_the_rfc5769_request() {
        let b = rfc5769_request();
        let m = parse(&b).expect("parses");
        assert_eq!(m.kind, BINDING_REQUEST);
        assert_eq!(m.transaction, TRANSACTION);
        assert_eq!(m.username, Some(&b"evtj:h6vY"[..]));
        assert!(m.username_is("evtj", "h6vY"));
        assert!(!m.username_is("evtj", "h6v"));
        assert!(!m.username_is("evt", "jh6vY"));
        assert_eq!(m.priority, Some(0x6e0001ff));
        assert!(m.controlled && !m.controlling && !m.use_candidate);
        // SOFTWARE (0x8022) is comprehension-optional.
        assert!(!m.unknown_required);
        assert!(m.authentic(&Key::new(PASSWORD)));
        assert!(!m.authentic(&Key::new("VOkJxbRl1RmTxUk/WvJxBT")));
    }

    #[test]
    fn reads_and_authenticates_the_rfc5769_responses() {
        let key = Key::new(PASSWORD);
        for (b, ip) in [
            (rfc5769_ipv4_response(), "192.0.2.1"),
            (
                rfc5769_ipv6_response(),
                "2001:db8:1234:5678:11:2233:4455:6677",
            ),
        ] {
            let m = parse(&b).expect("parses");
            assert_eq!(m.kind, BINDING_SUCCESS);
            assert_eq!(
                m.mapped,
                Some(SocketAddr::new(ip.parse().expect("ip"), 32853))
            );
            assert!(m.authentic(&key));
        }
    }

    #[test]
    fn any_changed_bit_fails_authentication() {
        let key = Key::new(PASSWORD);
        let b = rfc5769_request();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[i] ^= 1 << bit;
                if let Some(m) = parse(&c) {
                    assert!(!m.authentic(&key), "byte {i} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn refuses_messages_without_fingerprint_or_integrity() {
        let key = Key::new(PASSWORD);
        let b = rfc5769_request();
        // Drop FINGERPRINT (8 bytes) and fix the length: integrity alone is not enough.
        let mut no_fp = b[..b.len() - 8].to_vec();
        no_fp[3] -= 8;
        let m = parse(&no_fp).expect("parses");
        assert!(!m.authentic(&key));
        // An attribute after FINGERPRINT is malformed.
        let mut after = b.clone();
        after.extend_from_slice(&[0x80, 0x22, 0, 0]);
        after[3] += 4;
        assert_eq!(parse(&after), None);
        // The length must match the datagram.
        let mut short = b.clone();
        short.pop();
        assert_eq!(parse(&short), None);
    }

    #[test]
    fn the_success_response_we_write_matches_rfc5769_where_it_can() {
        // Our response has no SOFTWARE; the RFC's XOR-MAPPED-ADDRESS bytes must appear as is.
        let key = Key::new(PASSWORD);
        let mut buf = [0u8; 128];
        let mapped: SocketAddr = "192.0.2.1:32853".parse().expect("addr");
        let n = write_binding_success(&mut buf, &TRANSACTION, mapped, &key);
        let b = &buf[..n];
        assert_eq!(n, 20 + 12 + 24 + 8);
        assert_eq!(&b[20..32], &hex("0020 0008 0001a147 e112a643")[..]);
        let m = parse(b).expect("parses");
        assert_eq!(m.kind, BINDING_SUCCESS);
        assert_eq!(m.transaction, TRANSACTION);
        assert_eq!(m.mapped, Some(mapped));
        assert!(m.authentic(&key));
        let v6: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .expect("addr");
        let n = write_binding_success(&mut buf, &TRANSACTION, v6, &key);
        assert_eq!(
            &buf[20..44],
            &hex("0020 0014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9")[..]
        );
        let m = parse(&buf[..n]).expect("parses");
        assert_eq!(m.mapped, Some(v6));
        assert!(m.authentic(&key));
        assert_eq!(
            write_binding_success(&mut buf[..60], &TRANSACTION, v6, &key),
            0
        );
    }

    #[test]
    fn the_request_we_write_reproduces_rfc5769_but_for_software() {
        // The RFC's request minus SOFTWARE and with USERNAME first is what we write for the
        // same values: check every field and both checksums round-trip.
        let key = Key::new(PASSWORD);
        let r = Request {
            transaction: TRANSACTION,
            remote_ufrag: "evtj",
            local_ufrag: "h6vY",
            priority: 0x6e0001ff,
            tiebreaker: 0x932ff9b151263b36,
        };
        let mut buf = [0u8; 128];
        let n = write_binding_request(&mut buf, &r, &key);
        let b = &buf[..n];
        assert_eq!(
            &b[20..56],
            &hex("0006 0009 6576746a 3a683676 59000000
                  0024 0004 6e0001ff
                  8029 0008 932ff9b1 51263b36")[..]
        );
        let m = parse(b).expect("parses");
        assert_eq!(m.kind, BINDING_REQUEST);
        assert!(m.username_is("evtj", "h6vY"));
        assert_eq!(m.priority, Some(0x6e0001ff));
        assert!(m.controlled);
        assert!(m.authentic(&key));
        assert!(!m.authentic(&Key::new("other")));
        assert_eq!(write_binding_request(&mut buf[..40], &r, &key), 0);
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"1234", b"56789"), 0xCBF4_3926);
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(m) = parse(&b) {
                let _ = m.authentic(&Key::new(PASSWORD));
            }
        }

        #[test]
        fn a_stun_header_with_random_attributes_never_panics(
            kind in any::<u16>(),
            attrs in proptest::collection::vec((
                prop_oneof![
                    Just(ATTR_USERNAME), Just(ATTR_MESSAGE_INTEGRITY), Just(ATTR_XOR_MAPPED_ADDRESS),
                    Just(ATTR_PRIORITY), Just(ATTR_USE_CANDIDATE), Just(ATTR_FINGERPRINT),
                    Just(ATTR_ICE_CONTROLLED), Just(ATTR_ICE_CONTROLLING), any::<u16>(),
                ],
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..24),
                    proptest::collection::vec(any::<u8>(), 20..=20),
                    proptest::collection::vec(any::<u8>(), 4..=4),
                    proptest::collection::vec(any::<u8>(), 8..=8),
                ],
            ), 0..6),
        ) {
            let mut b = Vec::new();
            b.extend_from_slice(&(kind & 0x3fff).to_be_bytes());
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            b.extend_from_slice(&TRANSACTION);
            for (t, v) in &attrs {
                b.extend_from_slice(&t.to_be_bytes());
                b.extend_from_slice(&(v.len() as u16).to_be_bytes());
                b.extend_from_slice(v);
                while b.len() % 4 != 0 {
                    b.push(0);
                }
            }
            let len = (b.len() - 20) as u16;
            b[2..4].copy_from_slice(&len.to_be_bytes());
            if let Some(m) = parse(&b) {
                prop_assert!(!m.authentic(&Key::new(PASSWORD)));
            }
        }
    }
}
