//! RTP header extensions used by WebRTC: their URIs, an id ↔ kind map as negotiated in SDP
//! (`a=extmap`, RFC 8285 §5), and codecs for their values.
//!
//! | kind | URI | value |
//! |---|---|---|
//! | [`AudioLevel`] | `urn:ietf:params:rtp-hdrext:ssrc-audio-level` | RFC 6464 §3: V bit + level in -dBov |
//! | mid | `urn:ietf:params:rtp-hdrext:sdes:mid` | RFC 9143: SDES MID, an RFC 5888 identification-tag (token) |
//! | rid | `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id` | RFC 8852 §3.1: RtpStreamId |
//! | repaired rid | `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id` | RFC 8852 §3.2 |
//! | toffset | `urn:ietf:params:rtp-hdrext:toffset` | RFC 5450 §2: 24-bit signed offset |
//! | abs-send-time | `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time` | 6.18 fixed-point seconds |
//! | transport-cc | `http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01` | 16-bit transport-wide sequence number |
//! | [`VideoOrientation`] | `urn:3gpp:video-orientation` | 3GPP TS 26.114 §7.4.5: C, F, R bits |

use crate::error::RtpError;

/// A header extension this crate knows the value format of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// Client-to-mixer audio level (RFC 6464).
    AudioLevel,
    /// Media identification (RFC 9143).
    Mid,
    /// RTP stream id, the simulcast `rid` (RFC 8852).
    RtpStreamId,
    /// The `rid` a redundancy stream repairs (RFC 8852).
    RepairedRtpStreamId,
    /// Transmission time offset (RFC 5450).
    TransmissionOffset,
    /// Absolute send time (webrtc.org experiment).
    AbsSendTime,
    /// Transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01).
    TransportCc,
    /// Coordination of video orientation (3GPP TS 26.114).
    VideoOrientation,
}

/// `urn:ietf:params:rtp-hdrext:ssrc-audio-level`
pub const URI_AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// `urn:ietf:params:rtp-hdrext:sdes:mid`
pub const URI_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`
pub const URI_RTP_STREAM_ID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id`
pub const URI_REPAIRED_RTP_STREAM_ID: &str =
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// `urn:ietf:params:rtp-hdrext:toffset`
pub const URI_TOFFSET: &str = "urn:ietf:params:rtp-hdrext:toffset";
/// `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time`
pub const URI_ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// `http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`
pub const URI_TRANSPORT_CC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// `urn:3gpp:video-orientation`
pub const URI_VIDEO_ORIENTATION: &str = "urn:3gpp:video-orientation";

impl ExtensionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ExtensionKind; 8] = [
        ExtensionKind::AudioLevel,
        ExtensionKind::Mid,
        ExtensionKind::RtpStreamId,
        ExtensionKind::RepairedRtpStreamId,
        ExtensionKind::TransmissionOffset,
        ExtensionKind::AbsSendTime,
        ExtensionKind::TransportCc,
        ExtensionKind::VideoOrientation,
    ];

    /// The URI that names this extension in `a=extmap`.
    pub const fn uri(self) -> &'static str {
        match self {
            ExtensionKind::AudioLevel => URI_AUDIO_LEVEL,
            ExtensionKind::Mid => URI_MID,
            ExtensionKind::RtpStreamId => URI_RTP_STREAM_ID,
            ExtensionKind::RepairedRtpStreamId => URI_REPAIRED_RTP_STREAM_ID,
            ExtensionKind::TransmissionOffset => URI_TOFFSET,
            ExtensionKind::AbsSendTime => URI_ABS_SEND_TIME,
            ExtensionKind::TransportCc => URI_TRANSPORT_CC,
            ExtensionKind::VideoOrientation => URI_VIDEO_ORIENTATION,
        }
    }

    /// The kind a URI names, if this crate knows it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.uri() == uri)
    }
}

/// Which extension each id carries on one transport, as negotiated in SDP.
///
/// A fixed table (ids 1..=255), so lookups on the packet path are an index.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtensionMap {
    by_id: [Option<ExtensionKind>; 256],
}

impl Default for ExtensionMap {
    fn default() -> Self {
        ExtensionMap { by_id: [None; 256] }
    }
}

impl core::fmt::Debug for ExtensionMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(
                self.by_id
                    .iter()
                    .enumerate()
                    .filter_map(|(i, k)| k.map(|k| (i, k))),
            )
            .finish()
    }
}

impl ExtensionMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `id` (1..=255) to `kind`, replacing any earlier mapping of either.
    pub fn insert(&mut self, id: u8, kind: ExtensionKind) -> Result<(), RtpError> {
        if id == 0 {
            return Err(RtpError::InvalidInput("extension id 0 is reserved"));
        }
        for slot in self.by_id.iter_mut() {
            if *slot == Some(kind) {
                *slot = None;
            }
        }
        self.by_id[usize::from(id)] = Some(kind);
        Ok(())
    }

    /// Maps `id` to the kind `uri` names; unknown URIs are ignored (`Ok(false)`).
    pub fn insert_uri(&mut self, id: u8, uri: &str) -> Result<bool, RtpError> {
        match ExtensionKind::from_uri(uri) {
            Some(kind) => self.insert(id, kind).map(|()| true),
            None => Ok(false),
        }
    }

    /// The kind `id` carries.
    #[inline]
    pub fn get(&self, id: u8) -> Option<ExtensionKind> {
        self.by_id[usize::from(id)]
    }

    /// The id carrying `kind`.
    pub fn id_of(&self, kind: ExtensionKind) -> Option<u8> {
        self.by_id
            .iter()
            .position(|k| *k == Some(kind))
            .map(|i| i as u8)
    }
}

/// An audio level value (RFC 6464 §3): voice-activity flag and level in -dBov (0..=127).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// The V bit: the encoder believes the packet contains voice.
    pub voice: bool,
    /// Level as a positive number of decibels below overload, 0 (loudest) ..= 127 (silence).
    pub level: u8,
}

impl AudioLevel {
    /// Reads the first byte of the element (RFC 6464 §3 allows longer, padded elements).
    pub fn parse(data: &[u8]) -> Result<Self, RtpError> {
        let b = *data.first().ok_or(RtpError::BadExtensionValue {
            what: "audio-level",
            reason: "empty",
        })?;
        Ok(AudioLevel {
            voice: b & 0x80 != 0,
            level: b & 0x7F,
        })
    }

    /// The one-byte value.
    pub fn to_byte(self) -> Result<u8, RtpError> {
        if self.level > 127 {
            return Err(RtpError::InvalidInput("audio level above 127"));
        }
        Ok(if self.voice { 0x80 } else { 0 } | self.level)
    }
}

/// Encodes a send time in microseconds as abs-send-time: seconds in 6.18 fixed point,
/// 24 bits, wrapping every 64 s.
#[inline]
pub fn abs_send_time_from_micros(us: u64) -> u32 {
    // (us << 18) / 1e6, computed without overflow for any u64 input.
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    let fixed = (secs << 18) + ((frac << 18) + 500_000) / 1_000_000;
    (fixed & 0x00FF_FFFF) as u32
}

/// Decodes an abs-send-time value into microseconds within its 64 s wrap.
#[inline]
pub fn abs_send_time_to_micros(v: u32) -> u64 {
    ((u64::from(v & 0x00FF_FFFF)) * 1_000_000) >> 18
}

/// Writes a 24-bit abs-send-time value.
#[inline]
pub fn abs_send_time_bytes(v: u32) -> [u8; 3] {
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// Reads an abs-send-time element (3 bytes).
pub fn parse_abs_send_time(data: &[u8]) -> Result<u32, RtpError> {
    match data {
        [a, b, c] => Ok(u32::from_be_bytes([0, *a, *b, *c])),
        _ => Err(RtpError::BadExtensionValue {
            what: "abs-send-time",
            reason: "length is not 3",
        }),
    }
}

/// Reads a transmission time offset element (RFC 5450 §2, 24-bit two's complement).
pub fn parse_toffset(data: &[u8]) -> Result<i32, RtpError> {
    match data {
        [a, b, c] => Ok(i32::from_be_bytes([*a, *b, *c, 0]) >> 8),
        _ => Err(RtpError::BadExtensionValue {
            what: "toffset",
            reason: "length is not 3",
        }),
    }
}

/// Writes a transmission time offset (must fit 24-bit two's complement).
pub fn toffset_bytes(offset: i32) -> Result<[u8; 3], RtpError> {
    if !(-(1 << 23)..(1 << 23)).contains(&offset) {
        return Err(RtpError::InvalidInput("toffset outside 24-bit range"));
    }
    let b = offset.to_be_bytes();
    Ok([b[1], b[2], b[3]])
}

/// Reads a transport-wide sequence number element (2 bytes).
pub fn parse_transport_cc(data: &[u8]) -> Result<u16, RtpError> {
    match data {
        [a, b] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(RtpError::BadExtensionValue {
            what: "transport-cc",
            reason: "length is not 2",
        }),
    }
}

/// Writes a transport-wide sequence number element.
#[inline]
pub fn transport_cc_bytes(seq: u16) -> [u8; 2] {
    seq.to_be_bytes()
}

/// A MID is an RFC 5888 identification-tag, i.e. an SDP `token` (RFC 4566 §9).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&c)
}

/// RFC 8851 §10: `rid-id = 1*(alpha-numeric / "-" / "_")`.
fn is_rid_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn parse_sdes_text<'a>(
    data: &'a [u8],
    what: &'static str,
    ok: fn(u8) -> bool,
) -> Result<&'a str, RtpError> {
    if data.is_empty() {
        return Err(RtpError::BadExtensionValue {
            what,
            reason: "empty",
        });
    }
    if !data.iter().all(|&c| ok(c)) {
        return Err(RtpError::BadExtensionValue {
            what,
            reason: "character outside the allowed set",
        });
    }
    // All bytes are ASCII, so this cannot fail; map it anyway rather than unwrap.
    core::str::from_utf8(data).map_err(|_| RtpError::BadExtensionValue {
        what,
        reason: "not ASCII",
    })
}

/// Reads a MID element: a non-empty SDP token (RFC 9143, RFC 5888, RFC 4566 §9).
pub fn parse_mid(data: &[u8]) -> Result<&str, RtpError> {
    parse_sdes_text(data, "mid", is_token_char)
}

/// Reads a RtpStreamId or RepairedRtpStreamId element: `1*(ALPHA / DIGIT / "-" / "_")`
/// (RFC 8852 §3, RFC 8851 §10).
pub fn parse_rid(data: &[u8]) -> Result<&str, RtpError> {
    parse_sdes_text(data, "rid", is_rid_char)
}

/// Checks a MID before it is written into an element (1..=255 token characters).
pub fn validate_mid(mid: &str) -> Result<&[u8], RtpError> {
    if mid.len() > 255 {
        return Err(RtpError::InvalidInput("mid longer than 255 bytes"));
    }
    parse_mid(mid.as_bytes()).map(str::as_bytes)
}

/// Checks a rid before it is written into an element (1..=255 of `[A-Za-z0-9_-]`).
pub fn validate_rid(rid: &str) -> Result<&[u8], RtpError> {
    if rid.len() > 255 {
        return Err(RtpError::InvalidInput("rid longer than 255 bytes"));
    }
    parse_rid(rid.as_bytes()).map(str::as_bytes)
}

/// Coordination of video orientation (3GPP TS 26.114 §7.4.5): `0 0 0 0 C F R1 R0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoOrientation {
    /// C: the back-facing camera (false: front-facing).
    pub back_camera: bool,
    /// F: the picture is flipped horizontally.
    pub flip: bool,
    /// Rotation in degrees: 0, 90, 180 or 270.
    pub rotation: u16,
}

impl VideoOrientation {
    /// Reads the first byte of the element.
    pub fn parse(data: &[u8]) -> Result<Self, RtpError> {
        let b = *data.first().ok_or(RtpError::BadExtensionValue {
            what: "video-orientation",
            reason: "empty",
        })?;
        Ok(VideoOrientation {
            back_camera: b & 0x08 != 0,
            flip: b & 0x04 != 0,
            rotation: u16::from(b & 0x03) * 90,
        })
    }

    /// The one-byte value; rotation must be a multiple of 90 below 360.
    pub fn to_byte(self) -> Result<u8, RtpError> {
        if !self.rotation.is_multiple_of(90) || self.rotation >= 360 {
            return Err(RtpError::InvalidInput("rotation is not 0, 90, 180 or 270"));
        }
        Ok(if self.back_camera { 0x08 } else { 0 }
            | if self.flip { 0x04 } else { 0 }
            | (self.rotation / 90) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uris_round_trip() {
        for k in ExtensionKind::ALL {
            assert_eq!(ExtensionKind::from_uri(k.uri()), Some(k));
        }
        assert_eq!(ExtensionKind::from_uri("urn:example:nope"), None);
    }

    #[test]
    fn map_keeps_one_id_per_kind() {
        let mut m = ExtensionMap::new();
        assert_eq!(m.insert_uri(3, URI_TRANSPORT_CC), Ok(true));
        assert_eq!(m.insert_uri(4, "urn:unknown"), Ok(false));
        assert_eq!(m.get(3), Some(ExtensionKind::TransportCc));
        m.insert(5, ExtensionKind::TransportCc).unwrap();
        assert_eq!(m.get(3), None);
        assert_eq!(m.id_of(ExtensionKind::TransportCc), Some(5));
        assert!(m.insert(0, ExtensionKind::Mid).is_err());
    }

    #[test]
    fn audio_level_rfc6464() {
        let a = AudioLevel::parse(&[0x80 | 30]).unwrap();
        assert_eq!(
            a,
            AudioLevel {
                voice: true,
                level: 30
            }
        );
        assert_eq!(a.to_byte(), Ok(0x9E));
        assert!(AudioLevel::parse(&[]).is_err());
        assert!(
            AudioLevel {
                voice: false,
                level: 128
            }
            .to_byte()
            .is_err()
        );
    }

    #[test]
    fn abs_send_time_fixed_point() {
        // 1.5 s = 1 << 18 | 1 << 17.
        assert_eq!(abs_send_time_from_micros(1_500_000), 0x06_0000);
        assert_eq!(abs_send_time_to_micros(0x06_0000), 1_500_000);
        // Wraps at 64 s.
        assert_eq!(abs_send_time_from_micros(64_000_000), 0);
        assert_eq!(
            parse_abs_send_time(&abs_send_time_bytes(0xABCDEF)),
            Ok(0xABCDEF)
        );
        assert!(parse_abs_send_time(&[1, 2]).is_err());
    }

    #[test]
    fn toffset_sign_extends() {
        assert_eq!(parse_toffset(&[0xFF, 0xFF, 0xFF]), Ok(-1));
        assert_eq!(parse_toffset(&toffset_bytes(-300).unwrap()), Ok(-300));
        assert!(toffset_bytes(1 << 23).is_err());
    }

    #[test]
    fn mid_and_rid_validation() {
        assert_eq!(parse_mid(b"audio-0"), Ok("audio-0"));
        assert_eq!(parse_rid(b"hi_1"), Ok("hi_1"));
        assert!(parse_mid(b"").is_err());
        assert!(parse_mid(b"a b").is_err());
        assert!(parse_rid(b"q.1").is_err());
        assert!(parse_rid(&[0xC3, 0xA9]).is_err());
        assert!(validate_rid(&"a".repeat(256)).is_err());
    }

    #[test]
    fn video_orientation_bits() {
        let v = VideoOrientation::parse(&[0x0D]).unwrap();
        assert_eq!(
            v,
            VideoOrientation {
                back_camera: true,
                flip: true,
                rotation: 90
            }
        );
        assert_eq!(v.to_byte(), Ok(0x0D));
    }

    proptest! {
        #[test]
        fn abs_send_time_round_trips_within_a_tick(us in 0u64..64_000_000) {
            let back = abs_send_time_to_micros(abs_send_time_from_micros(us));
            // One 2^-18 s tick is 3.8 µs; rounding may wrap 63.999998 s to 0.
            prop_assert!(back.abs_diff(us) <= 4 || us > 63_999_990);
        }

        #[test]
        fn value_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            let _ = AudioLevel::parse(&bytes);
            let _ = parse_abs_send_time(&bytes);
            let _ = parse_toffset(&bytes);
            let _ = parse_transport_cc(&bytes);
            let _ = parse_mid(&bytes);
            let _ = parse_rid(&bytes);
            let _ = VideoOrientation::parse(&bytes);
        }
    }
}
