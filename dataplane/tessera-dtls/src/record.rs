//! DTLS 1.2 record framing (RFC 6347 §4.1): the check a datagram passes before OpenSSL sees it.
//!
//! OpenSSL silently discards records it cannot use (bad MAC, replayed, wrong epoch), so what
//! reaches it must at least be framed as DTLS 1.2 records: a 13-byte header
//! (`type`, `version`, `epoch`, `sequence_number`, `length`) followed by `length` bytes, repeated
//! until the datagram ends exactly. Anything else is the peer's mistake and is reported as a
//! [`RecordError`] instead of being fed to OpenSSL.

/// Length of a DTLS 1.2 record header (RFC 6347 §4.1).
pub const HEADER_LEN: usize = 13;

/// Largest record body: 2^14 bytes of plaintext plus 2048 of expansion (RFC 6347 §4.1,
/// RFC 5246 §6.2.3).
pub const MAX_BODY_LEN: usize = (1 << 14) + 2048;

/// The record content types DTLS 1.2 uses (RFC 5246 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// 20
    ChangeCipherSpec,
    /// 21
    Alert,
    /// 22
    Handshake,
    /// 23
    ApplicationData,
}

impl ContentType {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            ContentType::ChangeCipherSpec => 20,
            ContentType::Alert => 21,
            ContentType::Handshake => 22,
            ContentType::ApplicationData => 23,
        }
    }

    /// The content type for a wire value, if DTLS 1.2 uses it.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            20 => Some(ContentType::ChangeCipherSpec),
            21 => Some(ContentType::Alert),
            22 => Some(ContentType::Handshake),
            23 => Some(ContentType::ApplicationData),
            _ => None,
        }
    }
}

/// One record header, as parsed from a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Content type.
    pub content_type: ContentType,
    /// Record-layer version: `0xfefd` (DTLS 1.2) or `0xfeff` (DTLS 1.0, which DTLS 1.2 clients
    /// use in the record carrying their first ClientHello).
    pub version: u16,
    /// Epoch.
    pub epoch: u16,
    /// 48-bit sequence number.
    pub sequence: u64,
    /// Length of the body that follows the header.
    pub length: u16,
}

/// DTLS 1.0 record-layer version.
pub const VERSION_DTLS_1_0: u16 = 0xfeff;
/// DTLS 1.2 record-layer version.
pub const VERSION_DTLS_1_2: u16 = 0xfefd;

/// Why a datagram is not a sequence of DTLS 1.2 records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer than [`HEADER_LEN`] bytes where a record header should start.
    #[error("truncated record header at offset {offset}")]
    TruncatedHeader {
        /// Offset of the header in the datagram.
        offset: usize,
    },
    /// A content type DTLS 1.2 does not use (RFC 7983 also routes 24..=63 to DTLS).
    #[error("unknown content type {content_type} at offset {offset}")]
    UnknownContentType {
        /// The type byte.
        content_type: u8,
        /// Offset of the record in the datagram.
        offset: usize,
    },
    /// A version other than DTLS 1.0 / 1.2.
    #[error("unsupported record version {version:#06x} at offset {offset}")]
    UnsupportedVersion {
        /// The version field.
        version: u16,
        /// Offset of the record in the datagram.
        offset: usize,
    },
    /// A body longer than DTLS allows.
    #[error("record body of {length} bytes at offset {offset} is longer than DTLS allows")]
    BodyTooLong {
        /// The length field.
        length: u16,
        /// Offset of the record in the datagram.
        offset: usize,
    },
    /// An encrypted record (epoch 1 or later) shorter than the negotiated cipher's expansion.
    /// OpenSSL 3.0 fails the whole connection on such a record instead of discarding it.
    #[error("encrypted record body of {length} bytes at offset {offset} is shorter than {minimum}")]
    EncryptedBodyTooShort {
        /// The length field.
        length: u16,
        /// The cipher's minimum.
        minimum: u16,
        /// Offset of the record in the datagram.
        offset: usize,
    },
    /// A body that runs past the end of the datagram.
    #[error("record body of {length} bytes at offset {offset} runs past the datagram end")]
    TruncatedBody {
        /// The length field.
        length: u16,
        /// Offset of the record in the datagram.
        offset: usize,
    },
}

/// Parses the header at the start of `buf`.
pub fn parse_header(buf: &[u8], offset: usize) -> Result<RecordHeader, RecordError> {
    let h: &[u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(RecordError::TruncatedHeader { offset })?;
    let content_type = ContentType::from_u8(h[0]).ok_or(RecordError::UnknownContentType {
        content_type: h[0],
        offset,
    })?;
    let version = u16::from_be_bytes([h[1], h[2]]);
    if version != VERSION_DTLS_1_2 && version != VERSION_DTLS_1_0 {
        return Err(RecordError::UnsupportedVersion { version, offset });
    }
    let epoch = u16::from_be_bytes([h[3], h[4]]);
    let sequence = u64::from_be_bytes([0, 0, h[5], h[6], h[7], h[8], h[9], h[10]]);
    let length = u16::from_be_bytes([h[11], h[12]]);
    if usize::from(length) > MAX_BODY_LEN {
        return Err(RecordError::BodyTooLong { length, offset });
    }
    Ok(RecordHeader {
        content_type,
        version,
        epoch,
        sequence,
        length,
    })
}

/// Iterates over the records of a datagram: `(header, body)` pairs, or the first framing error.
pub fn records(datagram: &[u8]) -> Records<'_> {
    Records {
        datagram,
        offset: 0,
        failed: false,
    }
}

/// Iterator returned by [`records`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    datagram: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(RecordHeader, &'a [u8]), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.datagram.len() {
            return None;
        }
        let offset = self.offset;
        let rest = &self.datagram[offset..];
        let header = match parse_header(rest, offset) {
            Ok(h) => h,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let end = HEADER_LEN + usize::from(header.length);
        let Some(body) = rest.get(HEADER_LEN..end) else {
            self.failed = true;
            return Some(Err(RecordError::TruncatedBody {
                length: header.length,
                offset,
            }));
        };
        self.offset += end;
        Some(Ok((header, body)))
    }
}

/// Checks that `datagram` is one or more well-framed DTLS records that end exactly at its end.
/// Returns the number of records.
pub fn check_datagram(datagram: &[u8]) -> Result<usize, RecordError> {
    check_datagram_with(datagram, 0)
}

/// [`check_datagram`], and also that every record of epoch 1 or later has a body of at least
/// `min_encrypted_body` bytes (the cipher's expansion: 24 for AES-GCM, 16 for
/// ChaCha20-Poly1305).
pub fn check_datagram_with(datagram: &[u8], min_encrypted_body: u16) -> Result<usize, RecordError> {
    if datagram.is_empty() {
        return Err(RecordError::TruncatedHeader { offset: 0 });
    }
    let mut n = 0;
    let mut offset = 0;
    for r in records(datagram) {
        let (h, _) = r?;
        if h.epoch > 0 && h.length < min_encrypted_body {
            return Err(RecordError::EncryptedBodyTooShort {
                length: h.length,
                minimum: min_encrypted_body,
                offset,
            });
        }
        offset += HEADER_LEN + usize::from(h.length);
        n += 1;
    }
    Ok(n)
}

/// Appends `header` and `body` to `out` in wire format (used by tests and fuzz seeds).
///
/// `header.length` is ignored; the body's length is written (bodies longer than `u16::MAX` are
/// truncated to it).
pub fn write_record(out: &mut Vec<u8>, header: &RecordHeader, body: &[u8]) {
    let body = &body[..body.len().min(usize::from(u16::MAX))];
    out.push(header.content_type.to_u8());
    out.extend_from_slice(&header.version.to_be_bytes());
    out.extend_from_slice(&header.epoch.to_be_bytes());
    out.extend_from_slice(&header.sequence.to_be_bytes()[2..]);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_what_is_not_dtls_1_2_framing() {
        assert_eq!(
            check_datagram(&[]),
            Err(RecordError::TruncatedHeader { offset: 0 })
        );
        assert_eq!(
            check_datagram(&[22, 0xfe, 0xfd, 0, 0]),
            Err(RecordError::TruncatedHeader { offset: 0 })
        );
        let mut d = vec![24, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            check_datagram(&d),
            Err(RecordError::UnknownContentType {
                content_type: 24,
                offset: 0
            })
        );
        d[0] = 22;
        d[2] = 0xfc; // DTLS 1.3 in a plaintext record header is still not 1.2 framing
        assert!(matches!(
            check_datagram(&d),
            Err(RecordError::UnsupportedVersion {
                version: 0xfefc,
                ..
            })
        ));
        d[2] = 0xfd;
        d[11] = 0;
        d[12] = 1;
        assert_eq!(
            check_datagram(&d),
            Err(RecordError::TruncatedBody {
                length: 1,
                offset: 0
            })
        );
        d.push(0xaa);
        assert_eq!(check_datagram(&d), Ok(1));
        d.push(0xbb); // one stray byte after a complete record
        assert_eq!(
            check_datagram(&d),
            Err(RecordError::TruncatedHeader { offset: 14 })
        );
        let mut long = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1];
        long.extend_from_slice(&((MAX_BODY_LEN + 1) as u16).to_be_bytes());
        assert!(matches!(
            check_datagram(&long),
            Err(RecordError::BodyTooLong { .. })
        ));

        // Two records; the second is in epoch 1 with a 5-byte body.
        let mut two = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa];
        two.extend_from_slice(&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5]);
        assert_eq!(check_datagram(&two), Ok(2));
        assert_eq!(check_datagram_with(&two, 5), Ok(2));
        assert_eq!(
            check_datagram_with(&two, 24),
            Err(RecordError::EncryptedBodyTooShort {
                length: 5,
                minimum: 24,
                offset: 14
            })
        );
    }

    fn header() -> impl Strategy<Value = RecordHeader> {
        (
            prop::sample::select(vec![
                ContentType::ChangeCipherSpec,
                ContentType::Alert,
                ContentType::Handshake,
                ContentType::ApplicationData,
            ]),
            prop::sample::select(vec![VERSION_DTLS_1_0, VERSION_DTLS_1_2]),
            any::<u16>(),
            0u64..(1 << 48),
        )
            .prop_map(|(content_type, version, epoch, sequence)| RecordHeader {
                content_type,
                version,
                epoch,
                sequence,
                length: 0,
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(
            recs in prop::collection::vec((header(), prop::collection::vec(any::<u8>(), 0..300)), 1..6)
        ) {
            let mut datagram = Vec::new();
            for (h, body) in &recs {
                write_record(&mut datagram, h, body);
            }
            prop_assert_eq!(check_datagram(&datagram), Ok(recs.len()));
            let parsed: Vec<_> = records(&datagram).map(|r| r.unwrap()).collect();
            for ((h, body), (ph, pbody)) in recs.iter().zip(parsed) {
                prop_assert_eq!(RecordHeader { length: body.len() as u16, ..*h }, ph);
                prop_assert_eq!(&body[..], pbody);
            }
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = check_datagram(&bytes);
            for r in records(&bytes) {
                let _ = r;
            }
        }
    }
}
