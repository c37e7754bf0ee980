//! RTP packets: a zero-copy header view, a header writer and in-place setters.
//!
//! * [`RtpHeader::parse`] checks the fixed header, CSRC list, extension block and padding of an
//!   RTP packet (RFC 3550 §5.1, §5.3.1) and gives typed access without copying.
//! * [`RtpHeader::extensions`] iterates RFC 8285 header-extension elements, one-byte
//!   (`0xBEDE`, §4.2) or two-byte (`0x100X`, §4.3) form, as `(id, &[u8])`.
//! * [`RtpWriter`] writes a header with CSRCs and extension elements into a caller buffer,
//!   choosing the one-byte form when every element allows it.
//! * [`set_sequence_number`] and its siblings patch an existing packet in place, which is
//!   what an SFU does when it rewrites a forwarded stream.

use core::ops::Range;

use crate::error::{RtpError, check_room};

/// The only RTP version on the wire (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed RTP header, without CSRCs or extension.
pub const FIXED_HEADER_LEN: usize = 12;
/// "Defined by profile" value of the one-byte header-extension form (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// "Defined by profile" value of the two-byte form, low four bits being "appbits"
/// (RFC 8285 §4.3).
pub const TWO_BYTE_PROFILE: u16 = 0x1000;
/// Mask selecting the part of the profile value that identifies the two-byte form.
const TWO_BYTE_PROFILE_MASK: u16 = 0xFFF0;
/// Largest CSRC count (4-bit field).
pub const MAX_CSRCS: usize = 15;

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be24(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([0, b[at], b[at + 1], b[at + 2]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Which RFC 8285 form an extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte headers: profile `0xBEDE`, ids 1..=14, 1..=16 data bytes (RFC 8285 §4.2).
    OneByte,
    /// Two-byte headers: profile `0x100X`, ids 1..=255, 0..=255 data bytes (RFC 8285 §4.3).
    TwoByte,
    /// Some other profile-defined extension; its contents are opaque to this crate.
    Other(u16),
}

impl ExtensionForm {
    /// Classifies the 16-bit "defined by profile" field.
    pub fn from_profile(profile: u16) -> Self {
        if profile == ONE_BYTE_PROFILE {
            ExtensionForm::OneByte
        } else if profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE {
            ExtensionForm::TwoByte
        } else {
            ExtensionForm::Other(profile)
        }
    }
}

/// A parsed, borrowed view of one RTP packet.
///
/// Construction validates the structure, so every accessor is infallible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    buf: &'a [u8],
    header_len: usize,
    payload_end: usize,
    /// Offset of the 4-byte extension header, if the X bit is set.
    ext_at: Option<usize>,
}

impl<'a> RtpHeader<'a> {
    /// Parses and validates an RTP packet (RFC 3550 §5.1, §5.3.1).
    ///
    /// Checks the version, that the CSRC list and the extension block fit, and that the
    /// padding count is non-zero and fits between the header and the end of the packet.
    /// Extension *elements* are checked lazily: [`extensions`](Self::extensions) stops at the
    /// first malformed one and [`check_extensions`](Self::check_extensions) reports it.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < FIXED_HEADER_LEN {
            return Err(RtpError::too_short(
                "RTP header",
                FIXED_HEADER_LEN,
                buf.len(),
            ));
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let cc = usize::from(buf[0] & 0x0F);
        let mut off = FIXED_HEADER_LEN + 4 * cc;
        if buf.len() < off {
            return Err(RtpError::too_short("RTP CSRC list", off, buf.len()));
        }
        let mut ext_at = None;
        if buf[0] & 0x10 != 0 {
            if buf.len() < off + 4 {
                return Err(RtpError::too_short(
                    "RTP header extension",
                    off + 4,
                    buf.len(),
                ));
            }
            let words = usize::from(be16(buf, off + 2));
            let end = off + 4 + 4 * words;
            if buf.len() < end {
                return Err(RtpError::too_short("RTP header extension", end, buf.len()));
            }
            ext_at = Some(off);
            off = end;
        }
        let mut payload_end = buf.len();
        if buf[0] & 0x20 != 0 {
            let available = buf.len() - off;
            let pad = usize::from(buf[buf.len() - 1]);
            if pad == 0 || pad > available {
                return Err(RtpError::BadPadding { pad, available });
            }
            payload_end -= pad;
        }
        Ok(RtpHeader {
            buf,
            header_len: off,
            payload_end,
            ext_at,
        })
    }

    /// The whole packet this view was parsed from.
    #[inline]
    pub fn packet(&self) -> &'a [u8] {
        self.buf
    }

    /// Always 2: other versions fail to parse.
    #[inline]
    pub fn version(&self) -> u8 {
        RTP_VERSION
    }

    /// The P bit: the packet ends in padding.
    #[inline]
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Number of padding bytes at the end (0 without the P bit).
    #[inline]
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The X bit: a header extension follows the CSRC list.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.ext_at.is_some()
    }

    /// The M bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7F
    }

    /// The 16-bit sequence number.
    #[inline]
    pub fn sequence_number(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// The 32-bit media timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// The synchronization source.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }

    /// Number of CSRCs (0..=15).
    #[inline]
    pub fn csrc_count(&self) -> usize {
        usize::from(self.buf[0] & 0x0F)
    }

    /// The `i`-th CSRC, if present.
    #[inline]
    pub fn csrc(&self, i: usize) -> Option<u32> {
        (i < self.csrc_count()).then(|| be32(self.buf, FIXED_HEADER_LEN + 4 * i))
    }

    /// The CSRC list.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let buf = self.buf;
        (0..self.csrc_count()).map(move |i| be32(buf, FIXED_HEADER_LEN + 4 * i))
    }

    /// The 16-bit "defined by profile" value of the extension block.
    #[inline]
    pub fn extension_profile(&self) -> Option<u16> {
        self.ext_at.map(|at| be16(self.buf, at))
    }

    /// The extension form, if there is an extension block.
    #[inline]
    pub fn extension_form(&self) -> Option<ExtensionForm> {
        self.extension_profile().map(ExtensionForm::from_profile)
    }

    /// The raw extension data (after the 4-byte extension header).
    #[inline]
    pub fn extension_data(&self) -> Option<&'a [u8]> {
        self.ext_at.map(|at| &self.buf[at + 4..self.header_len])
    }

    /// RFC 8285 elements as `(id, data)`, in order; padding bytes are skipped.
    ///
    /// Empty for a packet without extension or with a profile other than the two RFC 8285
    /// forms. Iteration ends at an id-15 element in the one-byte form (RFC 8285 §4.2) or at
    /// the first element that runs past the block (see [`check_extensions`](Self::check_extensions)).
    pub fn extensions(&self) -> Extensions<'a> {
        match (self.ext_at, self.extension_form()) {
            (Some(at), Some(form)) => Extensions {
                data: &self.buf[at + 4..self.header_len],
                pos: 0,
                form,
            },
            _ => Extensions {
                data: &[],
                pos: 0,
                form: ExtensionForm::Other(0),
            },
        }
    }

    /// The data of the first element with this id.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        self.extension_range(id).map(|r| &self.buf[r])
    }

    /// Where the data of the first element with this id lies in the packet, so a forwarder
    /// can rewrite it in place (e.g. a transport-wide sequence number).
    pub fn extension_range(&self, id: u8) -> Option<Range<usize>> {
        let at = self.ext_at? + 4;
        let mut it = self.extensions();
        while let Some((eid, r)) = it.next_range() {
            if eid == id {
                return Some(at + r.start..at + r.end);
            }
        }
        None
    }

    /// Strictly checks the extension elements: `Ok` when every element of an RFC 8285 block
    /// fits, an error naming the first one that does not.
    pub fn check_extensions(&self) -> Result<(), RtpError> {
        let mut it = self.extensions();
        while it.next_range().is_some() {}
        if it.pos > it.data.len() {
            Err(RtpError::BadExtension(
                "element runs past the extension block",
            ))
        } else {
            Ok(())
        }
    }

    /// Length of the header: fixed part, CSRCs and extension block.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Where the payload lies in the packet, padding excluded.
    #[inline]
    pub fn payload_range(&self) -> Range<usize> {
        self.header_len..self.payload_end
    }

    /// The payload, padding excluded.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }
}

/// Iterator over RFC 8285 header-extension elements; see [`RtpHeader::extensions`].
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    data: &'a [u8],
    /// Next byte to read; set past `data.len()` when a malformed element ends iteration.
    pos: usize,
    form: ExtensionForm,
}

impl<'a> Extensions<'a> {
    /// Next element as (id, range within the extension data).
    fn next_range(&mut self) -> Option<(u8, Range<usize>)> {
        let data = self.data;
        loop {
            if self.pos >= data.len() {
                return None;
            }
            let p = self.pos;
            match self.form {
                ExtensionForm::OneByte => {
                    let id = data[p] >> 4;
                    if id == 0 {
                        // Padding byte; its length bits are ignored (RFC 8285 §4.2).
                        self.pos += 1;
                        continue;
                    }
                    if id == 15 {
                        // Reserved: stop processing the block (RFC 8285 §4.2).
                        self.pos = data.len();
                        return None;
                    }
                    let len = usize::from(data[p] & 0x0F) + 1;
                    let end = p + 1 + len;
                    if end > data.len() {
                        self.pos = data.len() + 1;
                        return None;
                    }
                    self.pos = end;
                    return Some((id, p + 1..end));
                }
                ExtensionForm::TwoByte => {
                    let id = data[p];
                    if id == 0 {
                        self.pos += 1;
                        continue;
                    }
                    if p + 2 > data.len() {
                        self.pos = data.len() + 1;
                        return None;
                    }
                    let len = usize::from(data[p + 1]);
                    let end = p + 2 + len;
                    if end > data.len() {
                        self.pos = data.len() + 1;
                        return None;
                    }
                    self.pos = end;
                    return Some((id, p + 2..end));
                }
                ExtensionForm::Other(_) => return None,
            }
        }
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = (u8, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        self.next_range().map(|(id, r)| (id, &data[r]))
    }
}

impl core::iter::FusedIterator for Extensions<'_> {}

/// Writes an RTP header into a caller buffer without allocating.
///
/// ```
/// use tessera_rtp::rtp::{RtpHeader, RtpWriter};
///
/// let mid = b"0";
/// let twcc = 7u16.to_be_bytes();
/// let exts: [(u8, &[u8]); 2] = [(1, mid), (3, &twcc)];
/// let w = RtpWriter {
///     payload_type: 111,
///     sequence_number: 1,
///     timestamp: 960,
///     ssrc: 0x1234_5678,
///     extensions: &exts,
///     ..RtpWriter::default()
/// };
/// let mut buf = [0u8; 64];
/// let n = w.write_packet(b"opus", &mut buf).unwrap();
/// let h = RtpHeader::parse(&buf[..n]).unwrap();
/// assert_eq!(h.extension(3), Some(&twcc[..]));
/// assert_eq!(h.payload(), b"opus");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpWriter<'a> {
    /// The M bit.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources, at most 15.
    pub csrcs: &'a [u32],
    /// Header-extension elements `(id, data)`. Written in the one-byte form when every id
    /// is 1..=14 and every length 1..=16, otherwise in the two-byte form (ids 1..=255,
    /// lengths 0..=255). Empty: no extension block.
    pub extensions: &'a [(u8, &'a [u8])],
}

impl RtpWriter<'_> {
    /// The form the extensions will be written in, or an error naming the element that
    /// cannot be encoded in either form. `None` when there are no extensions.
    pub fn extension_form(&self) -> Result<Option<ExtensionForm>, RtpError> {
        if self.extensions.is_empty() {
            return Ok(None);
        }
        let mut one_byte = true;
        for &(id, data) in self.extensions {
            if id == 0 {
                return Err(RtpError::InvalidInput("extension id 0 is reserved"));
            }
            if data.len() > 255 {
                return Err(RtpError::InvalidInput(
                    "extension element longer than 255 bytes",
                ));
            }
            if id > 14 || data.is_empty() || data.len() > 16 {
                one_byte = false;
            }
        }
        Ok(Some(if one_byte {
            ExtensionForm::OneByte
        } else {
            ExtensionForm::TwoByte
        }))
    }

    fn extension_data_len(&self, form: ExtensionForm) -> usize {
        let per = if form == ExtensionForm::OneByte { 1 } else { 2 };
        self.extensions.iter().map(|(_, d)| per + d.len()).sum()
    }

    /// Length of the header this writer produces.
    pub fn header_len(&self) -> Result<usize, RtpError> {
        if self.csrcs.len() > MAX_CSRCS {
            return Err(RtpError::InvalidInput("more than 15 CSRCs"));
        }
        let mut len = FIXED_HEADER_LEN + 4 * self.csrcs.len();
        if let Some(form) = self.extension_form()? {
            let data = self.extension_data_len(form);
            let words = data.div_ceil(4);
            if words > usize::from(u16::MAX) {
                return Err(RtpError::InvalidInput("header extension too long"));
            }
            len += 4 + 4 * words;
        }
        Ok(len)
    }

    /// Writes the header into `out` and returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::InvalidInput("payload type above 127"));
        }
        let len = self.header_len()?;
        check_room(out, len)?;
        let form = self.extension_form()?;
        out[0] =
            (RTP_VERSION << 6) | if form.is_some() { 0x10 } else { 0 } | self.csrcs.len() as u8;
        out[1] = if self.marker { 0x80 } else { 0 } | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut p = FIXED_HEADER_LEN;
        for c in self.csrcs {
            out[p..p + 4].copy_from_slice(&c.to_be_bytes());
            p += 4;
        }
        if let Some(form) = form {
            let profile = if form == ExtensionForm::OneByte {
                ONE_BYTE_PROFILE
            } else {
                TWO_BYTE_PROFILE
            };
            let words = (len - p - 4) / 4;
            out[p..p + 2].copy_from_slice(&profile.to_be_bytes());
            out[p + 2..p + 4].copy_from_slice(&(words as u16).to_be_bytes());
            p += 4;
            for &(id, data) in self.extensions {
                if form == ExtensionForm::OneByte {
                    out[p] = (id << 4) | (data.len() as u8 - 1);
                    p += 1;
                } else {
                    out[p] = id;
                    out[p + 1] = data.len() as u8;
                    p += 2;
                }
                out[p..p + data.len()].copy_from_slice(data);
                p += data.len();
            }
            out[p..len].fill(0);
        }
        Ok(len)
    }

    /// Writes the header followed by `payload` and returns the packet length.
    pub fn write_packet(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let hl = self.header_len()?;
        check_room(out, hl + payload.len())?;
        let hl = self.write(out)?;
        out[hl..hl + payload.len()].copy_from_slice(payload);
        Ok(hl + payload.len())
    }
}

#[inline]
fn check_fixed(buf: &[u8]) -> Result<(), RtpError> {
    if buf.len() < FIXED_HEADER_LEN {
        Err(RtpError::too_short(
            "RTP header",
            FIXED_HEADER_LEN,
            buf.len(),
        ))
    } else {
        Ok(())
    }
}

/// Overwrites the sequence number of the RTP packet in `buf`.
#[inline]
pub fn set_sequence_number(buf: &mut [u8], seq: u16) -> Result<(), RtpError> {
    check_fixed(buf)?;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    Ok(())
}

/// Overwrites the timestamp of the RTP packet in `buf`.
#[inline]
pub fn set_timestamp(buf: &mut [u8], ts: u32) -> Result<(), RtpError> {
    check_fixed(buf)?;
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    Ok(())
}

/// Overwrites the SSRC of the RTP packet in `buf`.
#[inline]
pub fn set_ssrc(buf: &mut [u8], ssrc: u32) -> Result<(), RtpError> {
    check_fixed(buf)?;
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

/// Sets or clears the marker bit of the RTP packet in `buf`.
#[inline]
pub fn set_marker(buf: &mut [u8], marker: bool) -> Result<(), RtpError> {
    check_fixed(buf)?;
    buf[1] = (buf[1] & 0x7F) | if marker { 0x80 } else { 0 };
    Ok(())
}

/// Overwrites the payload type (0..=127) of the RTP packet in `buf`.
#[inline]
pub fn set_payload_type(buf: &mut [u8], pt: u8) -> Result<(), RtpError> {
    check_fixed(buf)?;
    if pt > 127 {
        return Err(RtpError::InvalidInput("payload type above 127"));
    }
    buf[1] = (buf[1] & 0x80) | pt;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc3550_fixed_header() {
        // RFC 3550 §5.1 layout: V=2, P=0, X=0, CC=0, M=1, PT=96.
        let pkt = [
            0x80, 0xE0, 0x12, 0x34, 0, 0, 0x03, 0xE8, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3,
        ];
        let h = RtpHeader::parse(&pkt).unwrap();
        assert!(h.marker());
        assert_eq!(h.payload_type(), 96);
        assert_eq!(h.sequence_number(), 0x1234);
        assert_eq!(h.timestamp(), 1000);
        assert_eq!(h.ssrc(), 0xDEAD_BEEF);
        assert_eq!(h.header_len(), 12);
        assert_eq!(h.payload(), &[1, 2, 3]);
        assert!(!h.has_extension());
        assert_eq!(h.extensions().count(), 0);
    }

    #[test]
    fn rejects_short_bad_version_and_bad_padding() {
        assert!(matches!(
            RtpHeader::parse(&[0x80; 11]),
            Err(RtpError::TooShort { .. })
        ));
        let mut pkt = [0u8; 12];
        pkt[0] = 0x40;
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadVersion(1)));
        // P bit with a padding count of zero.
        let mut pkt = [0u8; 14];
        pkt[0] = 0xA0;
        assert!(matches!(
            RtpHeader::parse(&pkt),
            Err(RtpError::BadPadding { pad: 0, .. })
        ));
        // P bit with a padding count longer than the body.
        pkt[13] = 3;
        assert_eq!(
            RtpHeader::parse(&pkt),
            Err(RtpError::BadPadding {
                pad: 3,
                available: 2
            })
        );
        pkt[13] = 2;
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.payload(), &[] as &[u8]);
        assert_eq!(h.padding_len(), 2);
        // CSRC count larger than the packet.
        let mut pkt = [0u8; 15];
        pkt[0] = 0x81;
        assert!(matches!(
            RtpHeader::parse(&pkt),
            Err(RtpError::TooShort { need: 16, .. })
        ));
    }

    #[test]
    fn one_byte_extensions_rfc8285_4_2() {
        // RFC 8285 §4.2: 0xBEDE, length 3 words; id 1 len 1, padding, id 2 len 4, id 3 len 2.
        let mut pkt = vec![0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        pkt.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x03]);
        pkt.extend_from_slice(&[0x10, 0xAA, 0x00, 0x23, 1, 2, 3, 4, 0x31, 5, 6, 0x00]);
        pkt.extend_from_slice(b"payload");
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.extension_form(), Some(ExtensionForm::OneByte));
        let got: Vec<_> = h.extensions().collect();
        assert_eq!(
            got,
            vec![(1, &[0xAA][..]), (2, &[1, 2, 3, 4][..]), (3, &[5, 6][..])]
        );
        assert_eq!(h.payload(), b"payload");
        assert_eq!(h.extension_range(2), Some(20..24));
        assert!(h.check_extensions().is_ok());
    }

    #[test]
    fn one_byte_id_15_stops_processing() {
        let mut pkt = vec![0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        pkt.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0xF0, 0x20]);
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.extensions().collect::<Vec<_>>(), vec![(1, &[0xAA][..])]);
        assert!(h.check_extensions().is_ok());
    }

    #[test]
    fn two_byte_extensions_rfc8285_4_3() {
        // 0x1000 | appbits 5; id 1 len 0, id 200 len 3.
        let mut pkt = vec![0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        pkt.extend_from_slice(&[0x10, 0x05, 0x00, 0x02, 1, 0, 200, 3, 7, 8, 9, 0]);
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.extension_form(), Some(ExtensionForm::TwoByte));
        assert_eq!(
            h.extensions().collect::<Vec<_>>(),
            vec![(1, &[][..]), (200, &[7, 8, 9][..])]
        );
    }

    #[test]
    fn truncated_element_is_reported_by_check() {
        let mut pkt = vec![0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        pkt.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x25, 0x00]);
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.extensions().count(), 1);
        assert_eq!(
            h.check_extensions(),
            Err(RtpError::BadExtension(
                "element runs past the extension block"
            ))
        );
    }

    #[test]
    fn writer_picks_two_byte_form_when_needed() {
        let long = [0u8; 17];
        let exts: [(u8, &[u8]); 2] = [(1, b"a"), (2, &long)];
        let w = RtpWriter {
            extensions: &exts,
            ..RtpWriter::default()
        };
        assert_eq!(w.extension_form(), Ok(Some(ExtensionForm::TwoByte)));
        let mut buf = [0u8; 64];
        let n = w.write(&mut buf).unwrap();
        let h = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(h.extension_profile(), Some(TWO_BYTE_PROFILE));
        assert_eq!(h.extensions().collect::<Vec<_>>(), exts.to_vec());
    }

    #[test]
    fn writer_rejects_bad_input() {
        let exts: [(u8, &[u8]); 1] = [(0, b"a")];
        let w = RtpWriter {
            extensions: &exts,
            ..RtpWriter::default()
        };
        assert!(w.write(&mut [0u8; 64]).is_err());
        let w = RtpWriter {
            payload_type: 128,
            ..RtpWriter::default()
        };
        assert!(w.write(&mut [0u8; 64]).is_err());
        let w = RtpWriter::default();
        assert_eq!(
            w.write(&mut [0u8; 11]),
            Err(RtpError::BufferTooSmall { need: 12, have: 11 })
        );
    }

    #[test]
    fn setters_patch_in_place() {
        let mut buf = [0u8; 32];
        let n = RtpWriter {
            payload_type: 96,
            ..RtpWriter::default()
        }
        .write(&mut buf)
        .unwrap();
        set_sequence_number(&mut buf, 65535).unwrap();
        set_timestamp(&mut buf, 0xFFFF_FFFE).unwrap();
        set_ssrc(&mut buf, 42).unwrap();
        set_marker(&mut buf, true).unwrap();
        set_payload_type(&mut buf, 100).unwrap();
        let h = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(
            (
                h.sequence_number(),
                h.timestamp(),
                h.ssrc(),
                h.marker(),
                h.payload_type()
            ),
            (65535, 0xFFFF_FFFE, 42, true, 100)
        );
        set_marker(&mut buf, false).unwrap();
        assert!(!RtpHeader::parse(&buf[..n]).unwrap().marker());
        assert!(set_ssrc(&mut [0u8; 4], 1).is_err());
        assert!(set_payload_type(&mut buf, 200).is_err());
    }

    fn ext_strategy() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        prop_oneof![
            proptest::collection::vec(
                (1u8..=14, proptest::collection::vec(any::<u8>(), 1..=16)),
                0..6
            ),
            proptest::collection::vec(
                (1u8..=255, proptest::collection::vec(any::<u8>(), 0..=40)),
                0..6
            ),
        ]
    }

    proptest! {
        #[test]
        fn writer_parser_round_trip(
            marker: bool,
            pt in 0u8..128,
            seq: u16,
            ts: u32,
            ssrc: u32,
            csrcs in proptest::collection::vec(any::<u32>(), 0..=15),
            exts in ext_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let ext_refs: Vec<(u8, &[u8])> = exts.iter().map(|(i, d)| (*i, &d[..])).collect();
            let w = RtpWriter {
                marker, payload_type: pt, sequence_number: seq, timestamp: ts, ssrc,
                csrcs: &csrcs, extensions: &ext_refs,
            };
            let mut buf = vec![0u8; 2048];
            let n = w.write_packet(&payload, &mut buf).unwrap();
            let h = RtpHeader::parse(&buf[..n]).unwrap();
            prop_assert_eq!(h.marker(), marker);
            prop_assert_eq!(h.payload_type(), pt);
            prop_assert_eq!(h.sequence_number(), seq);
            prop_assert_eq!(h.timestamp(), ts);
            prop_assert_eq!(h.ssrc(), ssrc);
            prop_assert_eq!(h.csrcs().collect::<Vec<_>>(), csrcs.clone());
            prop_assert_eq!(h.extensions().collect::<Vec<_>>(), ext_refs.clone());
            prop_assert!(h.check_extensions().is_ok());
            prop_assert_eq!(h.payload(), &payload[..]);
            prop_assert_eq!(h.header_len(), w.header_len().unwrap());
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(h) = RtpHeader::parse(&bytes) {
                for (_, d) in h.extensions() { let _ = d.len(); }
                let _ = h.check_extensions();
                let r = h.payload_range();
                prop_assert!(r.start <= r.end && r.end <= bytes.len());
                let _ = h.csrcs().count();
            }
        }
    }
}
