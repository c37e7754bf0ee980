//! RTCP: a compound-packet iterator over typed, borrowed packet views, and writers for the
//! packets an SFU sends.
//!
//! Parsing never allocates and never panics: [`RtcpCompound`] yields one
//! `Result<RtcpPacket, RtpError>` per packet and stops after the first framing error. Each
//! view is validated when it is produced (counts against lengths, SDES item lists, NACK and
//! FIR FCI sizes, transport-cc chunks against receive deltas), so the iterators it hands out
//! are infallible.
//!
//! | packet | parse | write | reference |
//! |---|---|---|---|
//! | SR | [`SenderReport`] | [`write_sender_report`] | RFC 3550 §6.4.1 |
//! | RR | [`ReceiverReport`] | [`write_receiver_report`] | RFC 3550 §6.4.2 |
//! | SDES | [`Sdes`] | [`write_sdes_cname`] | RFC 3550 §6.5 |
//! | BYE | [`Bye`] | [`write_bye`] | RFC 3550 §6.6 |
//! | APP | [`App`] | — | RFC 3550 §6.7 |
//! | Generic NACK | [`Nack`] | [`write_nack`] | RFC 4585 §6.2.1 |
//! | transport-cc | [`TransportCc`] | [`write_transport_cc`] | draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 |
//! | PLI | [`Pli`] | [`write_pli`] | RFC 4585 §6.3.1 |
//! | FIR | [`Fir`] | [`write_fir`] | RFC 5104 §4.3.1 |
//! | REMB | [`Remb`] | [`write_remb`] | draft-alvestrand-rmcat-remb-03 §2.2 |
//! | anything else | [`UnknownRtcp`] | — | |

use crate::error::{RtpError, check_room};
use crate::rtp::{be16, be24, be32};

/// Sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// Receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// Source description (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// Goodbye (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// Application-defined (RFC 3550 §6.7).
pub const PT_APP: u8 = 204;
/// Transport-layer feedback (RFC 4585 §6.1).
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback (RFC 4585 §6.1).
pub const PT_PSFB: u8 = 206;
/// Extended reports (RFC 3611); surfaced as [`UnknownRtcp`].
pub const PT_XR: u8 = 207;

/// RTPFB FMT of Generic NACK (RFC 4585 §6.2.1).
pub const FMT_NACK: u8 = 1;
/// RTPFB FMT of transport-wide congestion-control feedback.
pub const FMT_TWCC: u8 = 15;
/// PSFB FMT of Picture Loss Indication (RFC 4585 §6.3.1).
pub const FMT_PLI: u8 = 1;
/// PSFB FMT of Full Intra Request (RFC 5104 §4.3.1).
pub const FMT_FIR: u8 = 4;
/// PSFB FMT of application-layer feedback, which REMB uses (RFC 4585 §6.4).
pub const FMT_AFB: u8 = 15;

/// SDES item type CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

const HEADER_LEN: usize = 4;
const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// One packet in a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR.
    SenderReport(SenderReport<'a>),
    /// RR.
    ReceiverReport(ReceiverReport<'a>),
    /// SDES.
    Sdes(Sdes<'a>),
    /// BYE.
    Bye(Bye<'a>),
    /// APP.
    App(App<'a>),
    /// RTPFB Generic NACK.
    Nack(Nack<'a>),
    /// RTPFB transport-wide congestion-control feedback.
    TransportCc(TransportCc<'a>),
    /// PSFB Picture Loss Indication.
    Pli(Pli),
    /// PSFB Full Intra Request.
    Fir(Fir<'a>),
    /// PSFB application-layer feedback carrying REMB.
    Remb(Remb<'a>),
    /// Any other packet type or feedback format.
    Unknown(UnknownRtcp<'a>),
}

impl RtcpPacket<'_> {
    /// The packet type octet this packet was read from.
    pub fn packet_type(&self) -> u8 {
        match self {
            RtcpPacket::SenderReport(_) => PT_SR,
            RtcpPacket::ReceiverReport(_) => PT_RR,
            RtcpPacket::Sdes(_) => PT_SDES,
            RtcpPacket::Bye(_) => PT_BYE,
            RtcpPacket::App(_) => PT_APP,
            RtcpPacket::Nack(_) | RtcpPacket::TransportCc(_) => PT_RTPFB,
            RtcpPacket::Pli(_) | RtcpPacket::Fir(_) | RtcpPacket::Remb(_) => PT_PSFB,
            RtcpPacket::Unknown(u) => u.packet_type,
        }
    }
}

/// Iterator over the packets of a compound RTCP packet (RFC 3550 §6.1).
///
/// ```
/// use tessera_rtp::rtcp::{RtcpCompound, RtcpPacket, write_pli};
///
/// let mut buf = [0u8; 12];
/// let n = write_pli(1, 2, &mut buf).unwrap();
/// for pkt in RtcpCompound::new(&buf[..n]) {
///     match pkt.unwrap() {
///         RtcpPacket::Pli(p) => assert_eq!(p.media_ssrc, 2),
///         other => panic!("unexpected {other:?}"),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RtcpCompound<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> RtcpCompound<'a> {
    /// Starts iterating `buf`, a compound (or reduced-size, RFC 5506) RTCP packet.
    pub fn new(buf: &'a [u8]) -> Self {
        RtcpCompound { buf, pos: 0 }
    }

    /// Checks every packet, returning the number of packets or the first error.
    pub fn validate(buf: &'a [u8]) -> Result<usize, RtpError> {
        let mut n = 0;
        for p in RtcpCompound::new(buf) {
            p?;
            n += 1;
        }
        Ok(n)
    }
}

impl<'a> Iterator for RtcpCompound<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        match split_packet(rest) {
            Ok((len, pkt)) => {
                self.pos += len;
                Some(pkt)
            }
            Err(e) => {
                self.pos = self.buf.len();
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for RtcpCompound<'_> {}

/// Frames the first packet of `rest`; returns its length and the typed view (or the error of
/// its body, which does not stop iteration since the framing was sound).
fn split_packet(rest: &[u8]) -> Result<(usize, Result<RtcpPacket<'_>, RtpError>), RtpError> {
    if rest.len() < HEADER_LEN {
        return Err(RtpError::too_short("RTCP header", HEADER_LEN, rest.len()));
    }
    let version = rest[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let words = usize::from(be16(rest, 2)) + 1;
    let len = words * 4;
    if len > rest.len() {
        return Err(RtpError::BadLength {
            words,
            have: rest.len(),
        });
    }
    let pkt = &rest[..len];
    let mut end = len;
    if pkt[0] & 0x20 != 0 {
        let pad = usize::from(pkt[len - 1]);
        let available = len - HEADER_LEN;
        if pad == 0 || pad > available {
            return Err(RtpError::BadPadding { pad, available });
        }
        end -= pad;
    }
    let count = pkt[0] & 0x1F;
    let pt = pkt[1];
    let body = &pkt[HEADER_LEN..end];
    Ok((len, parse_body(pt, count, body)))
}

fn parse_body(pt: u8, count: u8, body: &[u8]) -> Result<RtcpPacket<'_>, RtpError> {
    Ok(match pt {
        PT_SR => RtcpPacket::SenderReport(SenderReport::parse(count, body)?),
        PT_RR => RtcpPacket::ReceiverReport(ReceiverReport::parse(count, body)?),
        PT_SDES => RtcpPacket::Sdes(Sdes::parse(count, body)?),
        PT_BYE => RtcpPacket::Bye(Bye::parse(count, body)?),
        PT_APP => RtcpPacket::App(App::parse(count, body)?),
        PT_RTPFB | PT_PSFB => {
            if body.len() < 8 {
                return Err(RtpError::too_short("RTCP feedback", 8, body.len()));
            }
            let sender_ssrc = be32(body, 0);
            let media_ssrc = be32(body, 4);
            let fci = &body[8..];
            match (pt, count) {
                (PT_RTPFB, FMT_NACK) => {
                    RtcpPacket::Nack(Nack::parse(sender_ssrc, media_ssrc, fci)?)
                }
                (PT_RTPFB, FMT_TWCC) => {
                    RtcpPacket::TransportCc(TransportCc::parse(sender_ssrc, media_ssrc, fci)?)
                }
                (PT_PSFB, FMT_PLI) => RtcpPacket::Pli(Pli {
                    sender_ssrc,
                    media_ssrc,
                }),
                (PT_PSFB, FMT_FIR) => RtcpPacket::Fir(Fir::parse(sender_ssrc, media_ssrc, fci)?),
                (PT_PSFB, FMT_AFB) if fci.starts_with(b"REMB") => {
                    RtcpPacket::Remb(Remb::parse(sender_ssrc, fci)?)
                }
                _ => RtcpPacket::Unknown(UnknownRtcp {
                    packet_type: pt,
                    count,
                    body,
                }),
            }
        }
        _ => RtcpPacket::Unknown(UnknownRtcp {
            packet_type: pt,
            count,
            body,
        }),
    })
}

/// A packet this crate does not interpret: its type, count/FMT field and body (after the
/// 4-byte header, padding removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRtcp<'a> {
    /// The PT octet.
    pub packet_type: u8,
    /// The 5-bit count or FMT field.
    pub count: u8,
    /// The body after the common header, without padding.
    pub body: &'a [u8],
}

// ---- Report blocks and SR/RR ---------------------------------------------------------------

/// The sender-info section of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (seconds in the high word, fraction in the low word).
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to the NTP timestamp.
    pub rtp_timestamp: u32,
    /// Sender's packet count.
    pub packet_count: u32,
    /// Sender's octet count.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (24-bit signed; writers clamp to that range).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (LSR).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s (DLSR).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: b[4],
            cumulative_lost: i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8,
            highest_sequence: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.fraction_lost;
        let lost = self.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1);
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.highest_sequence.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// Iterator over report blocks.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    data: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        if self.data.len() < REPORT_BLOCK_LEN {
            return None;
        }
        let (b, rest) = self.data.split_at(REPORT_BLOCK_LEN);
        self.data = rest;
        Some(ReportBlock::read(b))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.data.len() / REPORT_BLOCK_LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// A sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    body: &'a [u8],
    count: usize,
}

impl<'a> SenderReport<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtpError> {
        let count = usize::from(count);
        let need = 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * count;
        if body.len() < need {
            return Err(RtpError::too_short("RTCP SR", need, body.len()));
        }
        Ok(SenderReport { body, count })
    }

    /// SSRC of the sender.
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.body, 0)
    }

    /// The sender-info section.
    pub fn sender_info(&self) -> SenderInfo {
        let b = self.body;
        SenderInfo {
            ntp_timestamp: (u64::from(be32(b, 4)) << 32) | u64::from(be32(b, 8)),
            rtp_timestamp: be32(b, 12),
            packet_count: be32(b, 16),
            octet_count: be32(b, 20),
        }
    }

    /// The reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        let start = 4 + SENDER_INFO_LEN;
        ReportBlocks {
            data: &self.body[start..start + REPORT_BLOCK_LEN * self.count],
        }
    }

    /// Profile-specific extension bytes after the report blocks.
    pub fn profile_extension(&self) -> &'a [u8] {
        &self.body[4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * self.count..]
    }
}

/// A receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    body: &'a [u8],
    count: usize,
}

impl<'a> ReceiverReport<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtpError> {
        let count = usize::from(count);
        let need = 4 + REPORT_BLOCK_LEN * count;
        if body.len() < need {
            return Err(RtpError::too_short("RTCP RR", need, body.len()));
        }
        Ok(ReceiverReport { body, count })
    }

    /// SSRC of the packet's sender.
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.body, 0)
    }

    /// The reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks {
            data: &self.body[4..4 + REPORT_BLOCK_LEN * self.count],
        }
    }

    /// Profile-specific extension bytes after the report blocks.
    pub fn profile_extension(&self) -> &'a [u8] {
        &self.body[4 + REPORT_BLOCK_LEN * self.count..]
    }
}

// ---- SDES ----------------------------------------------------------------------------------

/// A source description packet (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    body: &'a [u8],
    count: usize,
}

/// One SDES chunk: an SSRC/CSRC and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    items: &'a [u8],
}

/// One SDES item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type (1 = CNAME, 2 = NAME, ... 8 = PRIV).
    pub kind: u8,
    /// Item text, as sent (UTF-8 per RFC 3550, not checked here).
    pub value: &'a [u8],
}

/// Walks one chunk's items starting at `pos` (after the SSRC); returns the end of the item
/// list (after the terminating null octet) or an error.
fn sdes_items_end(body: &[u8], mut pos: usize) -> Result<usize, RtpError> {
    loop {
        let Some(&kind) = body.get(pos) else {
            return Err(RtpError::rtcp("SDES", "item list is not null-terminated"));
        };
        if kind == 0 {
            return Ok(pos + 1);
        }
        let Some(&len) = body.get(pos + 1) else {
            return Err(RtpError::rtcp("SDES", "item header truncated"));
        };
        let end = pos + 2 + usize::from(len);
        if end > body.len() {
            return Err(RtpError::rtcp("SDES", "item text runs past the packet"));
        }
        pos = end;
    }
}

impl<'a> Sdes<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtpError> {
        let mut pos = 0;
        for _ in 0..count {
            if body.len() < pos + 4 {
                return Err(RtpError::rtcp("SDES", "fewer chunks than the source count"));
            }
            let end = sdes_items_end(body, pos + 4)?;
            pos = end.next_multiple_of(4).min(body.len());
        }
        Ok(Sdes {
            body,
            count: usize::from(count),
        })
    }

    /// The chunks, one per source.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            body: self.body,
            pos: 0,
            left: self.count,
        }
    }
}

/// Iterator over SDES chunks.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let start = self.pos;
        let end = sdes_items_end(self.body, start + 4).ok()?;
        self.pos = end.next_multiple_of(4).min(self.body.len());
        Some(SdesChunk {
            ssrc: be32(self.body, start),
            // Without the terminating null octet.
            items: &self.body[start + 4..end - 1],
        })
    }
}

impl<'a> SdesChunk<'a> {
    /// The items of this chunk.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { data: self.items }
    }

    /// The CNAME item, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|i| i.kind == SDES_CNAME).map(|i| i.value)
    }
}

/// Iterator over the items of one SDES chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let d = self.data;
        if d.len() < 2 {
            return None;
        }
        let end = 2 + usize::from(d[1]);
        let value = d.get(2..end)?;
        self.data = &d[end..];
        Some(SdesItem { kind: d[0], value })
    }
}

// ---- BYE and APP ---------------------------------------------------------------------------

/// A goodbye packet (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtpError> {
        let n = 4 * usize::from(count);
        if body.len() < n {
            return Err(RtpError::too_short("RTCP BYE", n, body.len()));
        }
        let rest = &body[n..];
        let reason = match rest.first() {
            None => None,
            Some(&len) => {
                let end = 1 + usize::from(len);
                if end > rest.len() {
                    return Err(RtpError::rtcp("BYE", "reason runs past the packet"));
                }
                Some(&rest[1..end])
            }
        };
        Ok(Bye {
            ssrcs: &body[..n],
            reason,
        })
    }

    /// The sources leaving.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|c| be32(c, 0))
    }

    /// The optional reason for leaving.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// An application-defined packet (RFC 3550 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    /// The 5-bit subtype.
    pub subtype: u8,
    /// The source sending it.
    pub ssrc: u32,
    /// The four-character name.
    pub name: [u8; 4],
    /// Application data.
    pub data: &'a [u8],
}

impl<'a> App<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtpError> {
        if body.len() < 8 {
            return Err(RtpError::too_short("RTCP APP", 8, body.len()));
        }
        Ok(App {
            subtype: count,
            ssrc: be32(body, 0),
            name: [body[4], body[5], body[6], body[7]],
            data: &body[8..],
        })
    }
}

// ---- Feedback ------------------------------------------------------------------------------

/// Generic NACK (RFC 4585 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    /// SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// SSRC of the stream with losses.
    pub media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Nack<'a> {
    fn parse(sender_ssrc: u32, media_ssrc: u32, fci: &'a [u8]) -> Result<Self, RtpError> {
        if fci.is_empty() || !fci.len().is_multiple_of(4) {
            return Err(RtpError::rtcp(
                "NACK",
                "FCI is not a non-empty list of 4-byte PID/BLP pairs",
            ));
        }
        Ok(Nack {
            sender_ssrc,
            media_ssrc,
            fci,
        })
    }

    /// The (PID, BLP) pairs.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (u16, u16)> + 'a {
        self.fci.chunks_exact(4).map(|c| (be16(c, 0), be16(c, 2)))
    }

    /// Every sequence number reported lost, in FCI order.
    pub fn lost_sequence_numbers(&self) -> NackLost<'a> {
        NackLost {
            fci: self.fci,
            bit: 0,
        }
    }
}

/// Iterator over the sequence numbers a NACK reports lost.
#[derive(Debug, Clone)]
pub struct NackLost<'a> {
    fci: &'a [u8],
    /// 0: the PID itself is next; 1..=16: BLP bit `bit - 1` is next.
    bit: u8,
}

impl Iterator for NackLost<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        loop {
            if self.fci.len() < 4 {
                return None;
            }
            let pid = be16(self.fci, 0);
            let blp = be16(self.fci, 2);
            if self.bit == 0 {
                self.bit = 1;
                return Some(pid);
            }
            while self.bit <= 16 {
                let b = self.bit;
                self.bit += 1;
                if blp & (1 << (b - 1)) != 0 {
                    return Some(pid.wrapping_add(u16::from(b)));
                }
            }
            self.fci = &self.fci[4..];
            self.bit = 0;
        }
    }
}

/// Picture Loss Indication (RFC 4585 §6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pli {
    /// SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// SSRC of the stream that needs a key frame.
    pub media_ssrc: u32,
}

/// One FIR entry (RFC 5104 §4.3.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirEntry {
    /// The stream that must send a decoder refresh point.
    pub ssrc: u32,
    /// Command sequence number, incremented per new request.
    pub sequence_number: u8,
}

/// Full Intra Request (RFC 5104 §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    /// SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// Media source field (unused by FIR, should be 0).
    pub media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Fir<'a> {
    fn parse(sender_ssrc: u32, media_ssrc: u32, fci: &'a [u8]) -> Result<Self, RtpError> {
        if fci.is_empty() || !fci.len().is_multiple_of(8) {
            return Err(RtpError::rtcp(
                "FIR",
                "FCI is not a non-empty list of 8-byte entries",
            ));
        }
        Ok(Fir {
            sender_ssrc,
            media_ssrc,
            fci,
        })
    }

    /// The FCI entries.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = FirEntry> + 'a {
        self.fci.chunks_exact(8).map(|c| FirEntry {
            ssrc: be32(c, 0),
            sequence_number: c[4],
        })
    }
}

/// Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb-03 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remb<'a> {
    /// SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// Estimated bitrate in bits per second (mantissa × 2^exponent, saturating).
    pub bitrate: u64,
    ssrcs: &'a [u8],
}

impl<'a> Remb<'a> {
    fn parse(sender_ssrc: u32, fci: &'a [u8]) -> Result<Self, RtpError> {
        if fci.len() < 8 {
            return Err(RtpError::too_short("RTCP REMB", 8, fci.len()));
        }
        let n = usize::from(fci[4]);
        let exp = u32::from(fci[5] >> 2);
        let mantissa = u64::from(be24(fci, 5) & 0x3_FFFF);
        let need = 8 + 4 * n;
        if fci.len() < need {
            return Err(RtpError::rtcp("REMB", "SSRC list runs past the packet"));
        }
        let bitrate = if mantissa == 0 {
            0
        } else if exp > mantissa.leading_zeros() {
            u64::MAX
        } else {
            mantissa << exp
        };
        Ok(Remb {
            sender_ssrc,
            bitrate,
            ssrcs: &fci[8..need],
        })
    }

    /// The streams the estimate applies to.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|c| be32(c, 0))
    }
}

// ---- Transport-wide congestion control feedback --------------------------------------------

/// Receive-delta unit of transport-cc feedback: 250 µs.
pub const TWCC_DELTA_UNIT_US: i64 = 250;
/// Reference-time unit of transport-cc feedback: 64 ms.
pub const TWCC_REFERENCE_UNIT_US: i64 = 64_000;

/// Transport-wide congestion-control feedback
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCc<'a> {
    /// SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// SSRC of the media source (the draft leaves it unused).
    pub media_ssrc: u32,
    fci: &'a [u8],
    /// Offset of the first receive delta in `fci`.
    deltas_at: usize,
}

/// Symbol of one packet status (§3.1.1).
const SYM_NOT_RECEIVED: u8 = 0;
const SYM_SMALL: u8 = 1;
const SYM_LARGE: u8 = 2;

/// Number of statuses a chunk covers (capped by what is left) and its symbol reader.
#[inline]
fn chunk_len(chunk: u16) -> u16 {
    if chunk & 0x8000 == 0 {
        chunk & 0x1FFF
    } else if chunk & 0x4000 == 0 {
        14
    } else {
        7
    }
}

#[inline]
fn chunk_symbol(chunk: u16, i: u16) -> u8 {
    if chunk & 0x8000 == 0 {
        ((chunk >> 13) & 0x3) as u8
    } else if chunk & 0x4000 == 0 {
        ((chunk >> (13 - i)) & 0x1) as u8
    } else {
        ((chunk >> (12 - 2 * i)) & 0x3) as u8
    }
}

impl<'a> TransportCc<'a> {
    fn parse(sender_ssrc: u32, media_ssrc: u32, fci: &'a [u8]) -> Result<Self, RtpError> {
        if fci.len() < 8 {
            return Err(RtpError::too_short("RTCP transport-cc", 8, fci.len()));
        }
        let mut remaining = be16(fci, 2);
        let mut pos = 8;
        let mut delta_bytes = 0usize;
        while remaining > 0 {
            if pos + 2 > fci.len() {
                return Err(RtpError::rtcp(
                    "transport-cc",
                    "packet chunks run past the packet",
                ));
            }
            let chunk = be16(fci, pos);
            pos += 2;
            let n = chunk_len(chunk).min(remaining);
            if chunk & 0x8000 == 0 {
                // Run-length chunk: `n` statuses with one symbol.
                let sym = chunk_symbol(chunk, 0);
                if n > 0 && sym > SYM_LARGE {
                    return Err(RtpError::rtcp("transport-cc", "reserved status symbol 11"));
                }
                delta_bytes += usize::from(sym) * usize::from(n);
            } else {
                for i in 0..n {
                    let sym = chunk_symbol(chunk, i);
                    if sym > SYM_LARGE {
                        return Err(RtpError::rtcp("transport-cc", "reserved status symbol 11"));
                    }
                    delta_bytes += usize::from(sym);
                }
            }
            remaining -= n;
        }
        if pos + delta_bytes > fci.len() {
            return Err(RtpError::rtcp(
                "transport-cc",
                "receive deltas run past the packet",
            ));
        }
        Ok(TransportCc {
            sender_ssrc,
            media_ssrc,
            fci,
            deltas_at: pos,
        })
    }

    /// Transport-wide sequence number of the first packet reported.
    pub fn base_sequence_number(&self) -> u16 {
        be16(self.fci, 0)
    }

    /// Number of packets this feedback reports on.
    pub fn packet_status_count(&self) -> u16 {
        be16(self.fci, 2)
    }

    /// Reference time in 64 ms units (24-bit signed).
    pub fn reference_time(&self) -> i32 {
        i32::from_be_bytes([self.fci[4], self.fci[5], self.fci[6], 0]) >> 8
    }

    /// Reference time in microseconds.
    pub fn reference_time_us(&self) -> i64 {
        i64::from(self.reference_time()) * TWCC_REFERENCE_UNIT_US
    }

    /// Feedback packet count, incremented per feedback packet sent.
    pub fn feedback_count(&self) -> u8 {
        self.fci[7]
    }

    /// Every reported packet as `(sequence number, receive delta in µs)`, `None` when the
    /// packet was not received. Deltas are relative to the previous received packet, the first
    /// relative to the reference time.
    pub fn statuses(&self) -> TwccStatuses<'a> {
        TwccStatuses {
            fci: self.fci,
            chunk_at: 8,
            chunk: 0,
            chunk_len: 0,
            in_chunk: 0,
            remaining: self.packet_status_count(),
            seq: self.base_sequence_number(),
            delta_at: self.deltas_at,
        }
    }
}

/// Iterator over transport-cc packet statuses; see [`TransportCc::statuses`].
#[derive(Debug, Clone)]
pub struct TwccStatuses<'a> {
    fci: &'a [u8],
    chunk_at: usize,
    chunk: u16,
    chunk_len: u16,
    in_chunk: u16,
    remaining: u16,
    seq: u16,
    delta_at: usize,
}

impl Iterator for TwccStatuses<'_> {
    type Item = (u16, Option<i32>);

    fn next(&mut self) -> Option<(u16, Option<i32>)> {
        if self.remaining == 0 {
            return None;
        }
        while self.in_chunk >= self.chunk_len {
            let b = self.fci.get(self.chunk_at..self.chunk_at + 2)?;
            self.chunk = u16::from_be_bytes([b[0], b[1]]);
            self.chunk_at += 2;
            self.chunk_len = chunk_len(self.chunk);
            self.in_chunk = 0;
        }
        let sym = chunk_symbol(self.chunk, self.in_chunk);
        self.in_chunk += 1;
        self.remaining -= 1;
        let delta = match sym {
            SYM_SMALL => {
                let d = *self.fci.get(self.delta_at)?;
                self.delta_at += 1;
                Some(i32::from(d) * TWCC_DELTA_UNIT_US as i32)
            }
            SYM_LARGE => {
                let b = self.fci.get(self.delta_at..self.delta_at + 2)?;
                self.delta_at += 2;
                Some(i32::from(i16::from_be_bytes([b[0], b[1]])) * TWCC_DELTA_UNIT_US as i32)
            }
            _ => None,
        };
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        Some((seq, delta))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

// ---- Writers -------------------------------------------------------------------------------

fn write_common_header(out: &mut [u8], count: u8, pt: u8, len: usize) {
    debug_assert!(len.is_multiple_of(4) && len >= 4);
    out[0] = 0x80 | (count & 0x1F);
    out[1] = pt;
    out[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

fn check_len(len: usize) -> Result<(), RtpError> {
    if len / 4 - 1 > usize::from(u16::MAX) {
        Err(RtpError::InvalidInput(
            "RTCP packet longer than the length field allows",
        ))
    } else {
        Ok(())
    }
}

/// Writes an SR with up to 31 report blocks; returns its length.
pub fn write_sender_report(
    sender_ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
    out: &mut [u8],
) -> Result<usize, RtpError> {
    if reports.len() > 31 {
        return Err(RtpError::InvalidInput("more than 31 report blocks"));
    }
    let len = HEADER_LEN + 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * reports.len();
    check_room(out, len)?;
    write_common_header(out, reports.len() as u8, PT_SR, len);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp_timestamp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        let at = 28 + REPORT_BLOCK_LEN * i;
        r.write(&mut out[at..at + REPORT_BLOCK_LEN]);
    }
    Ok(len)
}

/// Writes an RR with up to 31 report blocks; returns its length.
pub fn write_receiver_report(
    sender_ssrc: u32,
    reports: &[ReportBlock],
    out: &mut [u8],
) -> Result<usize, RtpError> {
    if reports.len() > 31 {
        return Err(RtpError::InvalidInput("more than 31 report blocks"));
    }
    let len = HEADER_LEN + 4 + REPORT_BLOCK_LEN * reports.len();
    check_room(out, len)?;
    write_common_header(out, reports.len() as u8, PT_RR, len);
    out[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        let at = 8 + REPORT_BLOCK_LEN * i;
        r.write(&mut out[at..at + REPORT_BLOCK_LEN]);
    }
    Ok(len)
}

/// Writes an SDES packet with one chunk holding one CNAME item (1..=255 bytes).
pub fn write_sdes_cname(ssrc: u32, cname: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
    if cname.is_empty() || cname.len() > 255 {
        return Err(RtpError::InvalidInput("CNAME must be 1..=255 bytes"));
    }
    // SSRC, type, length, text, at least one null octet, padded to 32 bits.
    let len = (HEADER_LEN + 4 + 2 + cname.len() + 1).next_multiple_of(4);
    check_room(out, len)?;
    write_common_header(out, 1, PT_SDES, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = SDES_CNAME;
    out[9] = cname.len() as u8;
    out[10..10 + cname.len()].copy_from_slice(cname);
    out[10 + cname.len()..len].fill(0);
    Ok(len)
}

/// Writes a BYE for up to 31 sources with an optional reason (up to 255 bytes).
pub fn write_bye(ssrcs: &[u32], reason: Option<&[u8]>, out: &mut [u8]) -> Result<usize, RtpError> {
    if ssrcs.len() > 31 {
        return Err(RtpError::InvalidInput("more than 31 SSRCs in BYE"));
    }
    let reason_len = match reason {
        Some(r) if r.len() > 255 => {
            return Err(RtpError::InvalidInput("BYE reason longer than 255 bytes"));
        }
        Some(r) => 1 + r.len(),
        None => 0,
    };
    let len = (HEADER_LEN + 4 * ssrcs.len() + reason_len).next_multiple_of(4);
    check_room(out, len)?;
    write_common_header(out, ssrcs.len() as u8, PT_BYE, len);
    let mut p = HEADER_LEN;
    for s in ssrcs {
        out[p..p + 4].copy_from_slice(&s.to_be_bytes());
        p += 4;
    }
    if let Some(r) = reason {
        out[p] = r.len() as u8;
        out[p + 1..p + 1 + r.len()].copy_from_slice(r);
        p += 1 + r.len();
    }
    out[p..len].fill(0);
    Ok(len)
}

fn write_fb_header(out: &mut [u8], fmt: u8, pt: u8, len: usize, sender: u32, media: u32) {
    write_common_header(out, fmt, pt, len);
    out[4..8].copy_from_slice(&sender.to_be_bytes());
    out[8..12].copy_from_slice(&media.to_be_bytes());
}

/// Number of PID/BLP pairs `lost` packs into.
fn nack_pairs(lost: &[u16], mut emit: impl FnMut(u16, u16)) -> usize {
    let Some((&first, rest)) = lost.split_first() else {
        return 0;
    };
    let mut pairs = 0;
    let (mut pid, mut blp) = (first, 0u16);
    for &s in rest {
        let d = s.wrapping_sub(pid);
        if d == 0 {
            continue;
        }
        if d <= 16 {
            blp |= 1 << (d - 1);
        } else {
            emit(pid, blp);
            pairs += 1;
            pid = s;
            blp = 0;
        }
    }
    emit(pid, blp);
    pairs + 1
}

/// Writes a Generic NACK for `lost`, which should be in ascending (wrapping) order: each
/// packet within 16 of the current PID goes into its BLP, any other starts a new pair.
pub fn write_nack(
    sender_ssrc: u32,
    media_ssrc: u32,
    lost: &[u16],
    out: &mut [u8],
) -> Result<usize, RtpError> {
    if lost.is_empty() {
        return Err(RtpError::InvalidInput("NACK without lost packets"));
    }
    let pairs = nack_pairs(lost, |_, _| {});
    let len = 12 + 4 * pairs;
    check_len(len)?;
    check_room(out, len)?;
    write_fb_header(out, FMT_NACK, PT_RTPFB, len, sender_ssrc, media_ssrc);
    let mut p = 12;
    nack_pairs(lost, |pid, blp| {
        out[p..p + 2].copy_from_slice(&pid.to_be_bytes());
        out[p + 2..p + 4].copy_from_slice(&blp.to_be_bytes());
        p += 4;
    });
    Ok(len)
}

/// Writes a PLI; returns 12.
pub fn write_pli(sender_ssrc: u32, media_ssrc: u32, out: &mut [u8]) -> Result<usize, RtpError> {
    check_room(out, 12)?;
    write_fb_header(out, FMT_PLI, PT_PSFB, 12, sender_ssrc, media_ssrc);
    Ok(12)
}

/// Writes a FIR with one FCI entry per request.
pub fn write_fir(
    sender_ssrc: u32,
    entries: &[FirEntry],
    out: &mut [u8],
) -> Result<usize, RtpError> {
    if entries.is_empty() {
        return Err(RtpError::InvalidInput("FIR without entries"));
    }
    let len = 12 + 8 * entries.len();
    check_len(len)?;
    check_room(out, len)?;
    write_fb_header(out, FMT_FIR, PT_PSFB, len, sender_ssrc, 0);
    for (i, e) in entries.iter().enumerate() {
        let at = 12 + 8 * i;
        out[at..at + 4].copy_from_slice(&e.ssrc.to_be_bytes());
        out[at + 4] = e.sequence_number;
        out[at + 5..at + 8].fill(0);
    }
    Ok(len)
}

/// Splits a bitrate into REMB's 6-bit exponent and 18-bit mantissa, rounding down.
pub fn remb_exponent_mantissa(bitrate: u64) -> (u8, u32) {
    let mut exp = 0u8;
    let mut m = bitrate;
    while m >= (1 << 18) {
        m >>= 1;
        exp += 1;
    }
    (exp, m as u32)
}

/// Writes a REMB for up to 255 SSRCs.
pub fn write_remb(
    sender_ssrc: u32,
    bitrate: u64,
    ssrcs: &[u32],
    out: &mut [u8],
) -> Result<usize, RtpError> {
    if ssrcs.len() > 255 {
        return Err(RtpError::InvalidInput("more than 255 SSRCs in REMB"));
    }
    let len = 20 + 4 * ssrcs.len();
    check_room(out, len)?;
    write_fb_header(out, FMT_AFB, PT_PSFB, len, sender_ssrc, 0);
    out[12..16].copy_from_slice(b"REMB");
    let (exp, mantissa) = remb_exponent_mantissa(bitrate);
    out[16] = ssrcs.len() as u8;
    out[17] = (exp << 2) | ((mantissa >> 16) as u8 & 0x3);
    out[18..20].copy_from_slice(&(mantissa as u16).to_be_bytes());
    for (i, s) in ssrcs.iter().enumerate() {
        out[20 + 4 * i..24 + 4 * i].copy_from_slice(&s.to_be_bytes());
    }
    Ok(len)
}

/// Rounds `us` to the nearest 250 µs tick.
#[inline]
fn twcc_ticks(us: i64) -> i64 {
    (us + TWCC_DELTA_UNIT_US / 2).div_euclid(TWCC_DELTA_UNIT_US)
}

/// What a [`write_transport_cc`] call wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccWritten {
    /// Length of the RTCP packet written.
    pub len: usize,
    /// How many of the input packets it reports; the caller sends the rest in a new feedback.
    pub consumed: usize,
}

/// Transport-cc status symbols of packets `[..k]`, indexed by offset from the base.
struct TwccSymbols<'p> {
    packets: &'p [(u16, i64)],
    base: u16,
    ref_us: i64,
}

impl TwccSymbols<'_> {
    fn ticks(&self, i: usize) -> i64 {
        twcc_ticks(self.packets[i].1 - self.ref_us)
    }

    fn delta(&self, i: usize) -> i64 {
        let prev = if i == 0 { 0 } else { self.ticks(i - 1) };
        self.ticks(i) - prev
    }

    fn symbol_of_delta(d: i64) -> Option<u8> {
        if (0..=255).contains(&d) {
            Some(SYM_SMALL)
        } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&d) {
            Some(SYM_LARGE)
        } else {
            None
        }
    }

    fn symbol_at(&self, offset: u16) -> u8 {
        match self
            .packets
            .binary_search_by_key(&offset, |p| p.0.wrapping_sub(self.base))
        {
            Ok(i) => Self::symbol_of_delta(self.delta(i)).unwrap_or(SYM_LARGE),
            Err(_) => SYM_NOT_RECEIVED,
        }
    }
}

/// Writes transport-cc feedback for `packets`, `(transport-wide sequence number, arrival time
/// in µs)` of received packets in ascending (wrapping) sequence order; gaps are reported as
/// not received.
///
/// The reference time is the first arrival rounded down to 64 ms; deltas are rounded to
/// 250 µs. Reports as many packets as fit in `out` and in the format (a delta beyond
/// ±8.19 s or a span of 65535 sequence numbers ends the packet); `consumed` says how many.
pub fn write_transport_cc(
    sender_ssrc: u32,
    media_ssrc: u32,
    feedback_count: u8,
    packets: &[(u16, i64)],
    out: &mut [u8],
) -> Result<TwccWritten, RtpError> {
    let Some(&(base, first_us)) = packets.first() else {
        return Err(RtpError::InvalidInput(
            "transport-cc feedback without packets",
        ));
    };
    let reference = first_us.div_euclid(TWCC_REFERENCE_UNIT_US);
    let ref_us = reference * TWCC_REFERENCE_UNIT_US;
    let all = TwccSymbols {
        packets,
        base,
        ref_us,
    };
    // Pass 1: how many packets fit (conservative size bound: every chunk covers at least
    // 7 statuses except the last).
    let mut k = 0;
    let mut delta_bytes = 0;
    let mut prev_offset = 0u16;
    for (i, &(seq, _)) in packets.iter().enumerate() {
        let offset = seq.wrapping_sub(base);
        if i > 0 && offset <= prev_offset {
            return Err(RtpError::InvalidInput(
                "transport-cc packets not in ascending sequence order",
            ));
        }
        if offset == u16::MAX {
            break;
        }
        let Some(sym) = TwccSymbols::symbol_of_delta(all.delta(i)) else {
            break;
        };
        let statuses = usize::from(offset) + 1;
        let db = delta_bytes + usize::from(sym);
        let bound = 20 + 2 * statuses.div_ceil(7) + db + 3;
        if bound > out.len() {
            break;
        }
        delta_bytes = db;
        prev_offset = offset;
        k = i + 1;
    }
    if k == 0 {
        return Err(RtpError::BufferTooSmall {
            need: 20 + 2 + 2 + 3,
            have: out.len(),
        });
    }
    let syms = TwccSymbols {
        packets: &packets[..k],
        base,
        ref_us,
    };
    let status_count = prev_offset + 1;

    // Pass 2: chunks.
    let mut p = 20;
    let mut j: u16 = 0;
    while j < status_count {
        let left = status_count - j;
        let sym = syms.symbol_at(j);
        let mut run = 1u16;
        while run < left.min(0x1FFF) && syms.symbol_at(j + run) == sym {
            run += 1;
        }
        let n14 = left.min(14);
        let chunk = if run >= 14 {
            j += run;
            (u16::from(sym) << 13) | run
        } else if (0..n14).all(|i| syms.symbol_at(j + i) <= SYM_SMALL) {
            let mut c = 0x8000u16;
            for i in 0..n14 {
                c |= u16::from(syms.symbol_at(j + i)) << (13 - i);
            }
            j += n14;
            c
        } else if run >= 7 {
            j += run;
            (u16::from(sym) << 13) | run
        } else {
            let n7 = left.min(7);
            let mut c = 0xC000u16;
            for i in 0..n7 {
                c |= u16::from(syms.symbol_at(j + i)) << (12 - 2 * i);
            }
            j += n7;
            c
        };
        out[p..p + 2].copy_from_slice(&chunk.to_be_bytes());
        p += 2;
    }
    // Pass 3: receive deltas.
    for i in 0..k {
        let d = syms.delta(i);
        if (0..=255).contains(&d) {
            out[p] = d as u8;
            p += 1;
        } else {
            out[p..p + 2].copy_from_slice(&(d as i16).to_be_bytes());
            p += 2;
        }
    }
    let len = p.next_multiple_of(4);
    out[p..len].fill(0);
    check_len(len)?;
    write_fb_header(out, FMT_TWCC, PT_RTPFB, len, sender_ssrc, media_ssrc);
    out[12..14].copy_from_slice(&base.to_be_bytes());
    out[14..16].copy_from_slice(&status_count.to_be_bytes());
    out[16..19].copy_from_slice(&(reference as i32).to_be_bytes()[1..]);
    out[19] = feedback_count;
    Ok(TwccWritten { len, consumed: k })
}

#[cfg(test)]
mod tests;
