//! Per-codec payload helpers an SFU needs for simulcast and SVC switching: key-frame
//! detection, and VP8/VP9 payload-descriptor parsing with in-place rewriting of the picture
//! ids a forwarder keeps continuous when it switches between source streams.
//!
//! | codec | key frame when | reference |
//! |---|---|---|
//! | VP8 | S = 1, PID = 0 and the VP8 payload header's P bit is 0 | RFC 7741 §4.2, §4.3 |
//! | VP9 | B = 1, P = 0, and spatial layer 0 (or no layer indices) | RFC 9628 §4.2 |
//! | H.264 | an IDR (5) or SPS (7) NAL unit: single, inside STAP-A, or starting an FU-A | RFC 6184 §5.6–5.8 |
//! | AV1 | the aggregation header's N bit (first packet of a coded video sequence) | AV1 RTP payload spec §4.4 |

use crate::error::RtpError;

/// A video codec whose payload this module understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9 (RFC 9628).
    Vp9,
    /// H.264 (RFC 6184), packetization mode 0 or 1.
    H264,
    /// AV1 (AOMedia RTP payload format).
    Av1,
}

/// Whether an RTP payload starts a key frame (a decoder refresh point) of `codec`.
///
/// Malformed payloads are not key frames.
pub fn is_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => is_vp8_keyframe(payload),
        Codec::Vp9 => is_vp9_keyframe(payload),
        Codec::H264 => is_h264_keyframe(payload),
        Codec::Av1 => is_av1_keyframe(payload),
    }
}

fn bad(codec: &'static str, reason: &'static str) -> RtpError {
    RtpError::BadPayload { codec, reason }
}

// ---- VP8 -----------------------------------------------------------------------------------

/// The VP8 payload descriptor (RFC 7741 §4.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// N: the frame is not used as a reference.
    pub non_reference: bool,
    /// S: the packet starts a VP8 partition.
    pub start_of_partition: bool,
    /// PID: partition index.
    pub partition_id: u8,
    /// PictureID (7 or 15 bits), when I is set.
    pub picture_id: Option<u16>,
    /// M: the PictureID field is 15 bits wide.
    pub picture_id_15bit: bool,
    /// TL0PICIDX, when L is set.
    pub tl0_pic_idx: Option<u8>,
    /// TID, when T is set.
    pub temporal_id: Option<u8>,
    /// Y: layer sync (meaningful when T is set).
    pub layer_sync: bool,
    /// KEYIDX, when K is set.
    pub key_idx: Option<u8>,
    /// Descriptor length; the VP8 payload starts here.
    pub len: usize,
    /// Offsets of the fields, for in-place rewriting.
    picture_id_at: usize,
    tl0_at: usize,
    tk_at: usize,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of a VP8 RTP payload.
    pub fn parse(p: &[u8]) -> Result<Self, RtpError> {
        const C: &str = "VP8";
        let b0 = *p.first().ok_or(bad(C, "empty payload"))?;
        let mut d = Vp8Descriptor {
            non_reference: b0 & 0x20 != 0,
            start_of_partition: b0 & 0x10 != 0,
            partition_id: b0 & 0x07,
            ..Vp8Descriptor::default()
        };
        let mut at = 1;
        if b0 & 0x80 != 0 {
            let x = *p.get(at).ok_or(bad(C, "extension byte missing"))?;
            at += 1;
            if x & 0x80 != 0 {
                let b = *p.get(at).ok_or(bad(C, "PictureID missing"))?;
                d.picture_id_at = at;
                if b & 0x80 != 0 {
                    let lo = *p.get(at + 1).ok_or(bad(C, "15-bit PictureID truncated"))?;
                    d.picture_id = Some((u16::from(b & 0x7F) << 8) | u16::from(lo));
                    d.picture_id_15bit = true;
                    at += 2;
                } else {
                    d.picture_id = Some(u16::from(b));
                    at += 1;
                }
            }
            if x & 0x40 != 0 {
                d.tl0_pic_idx = Some(*p.get(at).ok_or(bad(C, "TL0PICIDX missing"))?);
                d.tl0_at = at;
                at += 1;
            }
            if x & 0x30 != 0 {
                let b = *p.get(at).ok_or(bad(C, "TID/KEYIDX byte missing"))?;
                d.tk_at = at;
                if x & 0x20 != 0 {
                    d.temporal_id = Some(b >> 6);
                    d.layer_sync = b & 0x20 != 0;
                }
                if x & 0x10 != 0 {
                    d.key_idx = Some(b & 0x1F);
                }
                at += 1;
            }
        }
        d.len = at;
        Ok(d)
    }
}

/// Whether a VP8 payload starts a key frame (RFC 7741 §4.3: P = 0 in the payload header of
/// the first partition's first packet).
pub fn is_vp8_keyframe(payload: &[u8]) -> bool {
    match Vp8Descriptor::parse(payload) {
        Ok(d) => {
            d.start_of_partition
                && d.partition_id == 0
                && payload.get(d.len).is_some_and(|h| h & 0x01 == 0)
        }
        Err(_) => false,
    }
}

/// New values for the VP8/VP9 picture-numbering fields; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PictureRewrite {
    /// New PictureID, truncated to the field's width (7 or 15 bits).
    pub picture_id: Option<u16>,
    /// New TL0PICIDX.
    pub tl0_pic_idx: Option<u8>,
    /// New KEYIDX (VP8 only), truncated to 5 bits.
    pub key_idx: Option<u8>,
}

/// Rewrites the PictureID, TL0PICIDX and KEYIDX of a VP8 payload descriptor in place.
///
/// Only fields present in the packet change (the field widths stay, so the payload does not
/// move); a 7-bit PictureID takes the low 7 bits of the new value.
pub fn vp8_rewrite(payload: &mut [u8], rw: &PictureRewrite) -> Result<Vp8Descriptor, RtpError> {
    let d = Vp8Descriptor::parse(payload)?;
    vp8_apply(payload, &d, rw);
    Vp8Descriptor::parse(payload)
}

/// Applies `rw` to a payload whose descriptor `d` was parsed from it (no parsing: the
/// forwarder's per-subscriber path). Fields the descriptor lacks are left alone.
pub fn vp8_apply(payload: &mut [u8], d: &Vp8Descriptor, rw: &PictureRewrite) {
    if let (Some(new), Some(_)) = (rw.picture_id, d.picture_id) {
        write_picture_id(payload, d.picture_id_at, d.picture_id_15bit, new);
    }
    if let (Some(new), Some(_)) = (rw.tl0_pic_idx, d.tl0_pic_idx) {
        payload[d.tl0_at] = new;
    }
    if let (Some(new), Some(_)) = (rw.key_idx, d.key_idx) {
        payload[d.tk_at] = (payload[d.tk_at] & 0xE0) | (new & 0x1F);
    }
}

fn write_picture_id(p: &mut [u8], at: usize, wide: bool, id: u16) {
    if wide {
        p[at] = 0x80 | ((id >> 8) as u8 & 0x7F);
        p[at + 1] = id as u8;
    } else {
        p[at] = id as u8 & 0x7F;
    }
}

// ---- VP9 -----------------------------------------------------------------------------------

/// The VP9 payload descriptor (RFC 9628 §4.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vp9Descriptor {
    /// P: inter-picture predicted (not a key picture when set).
    pub inter_picture_predicted: bool,
    /// F: flexible mode.
    pub flexible: bool,
    /// B: start of a frame.
    pub begin_of_frame: bool,
    /// E: end of a frame.
    pub end_of_frame: bool,
    /// V: a scalability structure follows.
    pub has_scalability_structure: bool,
    /// Z: not a reference for upper spatial layers.
    pub not_upper_reference: bool,
    /// PictureID (7 or 15 bits), when I is set.
    pub picture_id: Option<u16>,
    /// M: the PictureID field is 15 bits wide.
    pub picture_id_15bit: bool,
    /// TID, when L is set.
    pub temporal_id: Option<u8>,
    /// U: switching up point (meaningful when L is set).
    pub switching_up: bool,
    /// SID, when L is set.
    pub spatial_id: Option<u8>,
    /// D: inter-layer dependency (meaningful when L is set).
    pub inter_layer_dependency: bool,
    /// TL0PICIDX, when L is set in non-flexible mode.
    pub tl0_pic_idx: Option<u8>,
    /// Descriptor length including reference indices and scalability structure.
    pub len: usize,
    picture_id_at: usize,
    tl0_at: usize,
}

impl Vp9Descriptor {
    /// Parses the descriptor at the start of a VP9 RTP payload.
    pub fn parse(p: &[u8]) -> Result<Self, RtpError> {
        const C: &str = "VP9";
        let b0 = *p.first().ok_or(bad(C, "empty payload"))?;
        let mut d = Vp9Descriptor {
            inter_picture_predicted: b0 & 0x40 != 0,
            flexible: b0 & 0x10 != 0,
            begin_of_frame: b0 & 0x08 != 0,
            end_of_frame: b0 & 0x04 != 0,
            has_scalability_structure: b0 & 0x02 != 0,
            not_upper_reference: b0 & 0x01 != 0,
            ..Vp9Descriptor::default()
        };
        let mut at = 1;
        if b0 & 0x80 != 0 {
            let b = *p.get(at).ok_or(bad(C, "PictureID missing"))?;
            d.picture_id_at = at;
            if b & 0x80 != 0 {
                let lo = *p.get(at + 1).ok_or(bad(C, "15-bit PictureID truncated"))?;
                d.picture_id = Some((u16::from(b & 0x7F) << 8) | u16::from(lo));
                d.picture_id_15bit = true;
                at += 2;
            } else {
                d.picture_id = Some(u16::from(b));
                at += 1;
            }
        }
        if b0 & 0x20 != 0 {
            let b = *p.get(at).ok_or(bad(C, "layer indices missing"))?;
            d.temporal_id = Some(b >> 5);
            d.switching_up = b & 0x10 != 0;
            d.spatial_id = Some((b >> 1) & 0x07);
            d.inter_layer_dependency = b & 0x01 != 0;
            at += 1;
            if !d.flexible {
                d.tl0_pic_idx = Some(*p.get(at).ok_or(bad(C, "TL0PICIDX missing"))?);
                d.tl0_at = at;
                at += 1;
            }
        }
        if d.flexible && d.inter_picture_predicted {
            // Up to three P_DIFF bytes, each with an N bit saying another follows.
            for i in 0..3 {
                let b = *p.get(at).ok_or(bad(C, "reference index missing"))?;
                at += 1;
                if b & 0x01 == 0 {
                    break;
                }
                if i == 2 {
                    return Err(bad(C, "more than three reference indices"));
                }
            }
        }
        if d.has_scalability_structure {
            at = skip_vp9_ss(p, at)?;
        }
        d.len = at;
        Ok(d)
    }
}

/// Skips the scalability structure (RFC 9628 §4.2.1) starting at `at`.
fn skip_vp9_ss(p: &[u8], mut at: usize) -> Result<usize, RtpError> {
    const C: &str = "VP9";
    let b = *p.get(at).ok_or(bad(C, "scalability structure missing"))?;
    at += 1;
    let layers = usize::from(b >> 5) + 1;
    if b & 0x10 != 0 {
        at += 4 * layers;
    }
    if b & 0x08 != 0 {
        let groups = *p.get(at).ok_or(bad(C, "picture group count missing"))?;
        at += 1;
        for _ in 0..groups {
            let g = *p.get(at).ok_or(bad(C, "picture group truncated"))?;
            at += 1 + usize::from((g >> 2) & 0x03);
        }
    }
    if at > p.len() {
        return Err(bad(C, "scalability structure truncated"));
    }
    Ok(at)
}

/// Whether a VP9 payload starts a key picture: B = 1, P = 0, base spatial layer.
pub fn is_vp9_keyframe(payload: &[u8]) -> bool {
    match Vp9Descriptor::parse(payload) {
        Ok(d) => d.begin_of_frame && !d.inter_picture_predicted && d.spatial_id.unwrap_or(0) == 0,
        Err(_) => false,
    }
}

/// Rewrites the PictureID and TL0PICIDX of a VP9 payload descriptor in place (fields
/// present only; widths kept). `key_idx` is ignored.
pub fn vp9_rewrite(payload: &mut [u8], rw: &PictureRewrite) -> Result<Vp9Descriptor, RtpError> {
    let d = Vp9Descriptor::parse(payload)?;
    vp9_apply(payload, &d, rw);
    Vp9Descriptor::parse(payload)
}

/// Like [`vp8_apply`] for VP9.
pub fn vp9_apply(payload: &mut [u8], d: &Vp9Descriptor, rw: &PictureRewrite) {
    if let (Some(new), Some(_)) = (rw.picture_id, d.picture_id) {
        write_picture_id(payload, d.picture_id_at, d.picture_id_15bit, new);
    }
    if let (Some(new), Some(_)) = (rw.tl0_pic_idx, d.tl0_pic_idx) {
        payload[d.tl0_at] = new;
    }
}

// ---- H.264 ---------------------------------------------------------------------------------

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

fn h264_key_nal(t: u8) -> bool {
    t == H264_IDR || t == H264_SPS
}

/// Whether an H.264 payload carries an IDR slice or an SPS: as a single NAL unit
/// (RFC 6184 §5.6), inside a STAP-A (§5.7.1), or at the start of an FU-A (§5.8).
pub fn is_h264_keyframe(payload: &[u8]) -> bool {
    let Some(&hdr) = payload.first() else {
        return false;
    };
    match hdr & 0x1F {
        t @ 1..=23 => h264_key_nal(t),
        H264_STAP_A => {
            let mut at = 1;
            while at + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                if size == 0 || at + 2 + size > payload.len() {
                    return false;
                }
                if h264_key_nal(payload[at + 2] & 0x1F) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        H264_FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && h264_key_nal(fu & 0x1F)),
        _ => false,
    }
}

// ---- Resolution ----------------------------------------------------------------------------

/// The picture size a key frame's first packet announces:
///
/// * VP8: the key-frame header (RFC 6386 §9.1: start code, then 14-bit width and height);
/// * VP9: the key frame's uncompressed header (VP9 bitstream specification §6.2: frame sync
///   code, colour configuration, then the frame size), in the packet that begins the frame;
/// * H.264: the sequence parameter set (ITU-T H.264 §7.3.2.1.1, cropping applied), single, in
///   a STAP-A or starting an FU-A;
/// * AV1: the sequence header OBU's maximum frame size (AV1 specification §5.5.1), in any OBU
///   element of the packet but a continued one.
///
/// `None` for other packets and malformed ones.
pub fn keyframe_resolution(codec: Codec, payload: &[u8]) -> Option<(u16, u16)> {
    match codec {
        Codec::Vp8 => vp8_resolution(payload),
        Codec::Vp9 => vp9_resolution(payload),
        Codec::H264 => h264_resolution(payload),
        Codec::Av1 => av1_resolution(payload),
    }
}

fn vp9_resolution(payload: &[u8]) -> Option<(u16, u16)> {
    let d = Vp9Descriptor::parse(payload).ok()?;
    if !d.begin_of_frame || d.inter_picture_predicted {
        return None;
    }
    let mut r = Bits::plain(payload.get(d.len..)?);
    if r.bits(2)? != 2 {
        return None; // frame_marker
    }
    let profile = r.bit()? | (r.bit()? << 1);
    if profile == 3 && r.bit()? != 0 {
        return None;
    }
    // show_existing_frame, then frame_type 0 (a key frame).
    if r.bit()? != 0 || r.bit()? != 0 {
        return None;
    }
    r.bits(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        r.bit()?; // ten_or_twelve_bit
    }
    let odd_profile = profile == 1 || profile == 3;
    if r.bits(3)? != 7 {
        // Not RGB: color_range, and subsampling_x/y + reserved_zero in profiles 1 and 3.
        r.bits(if odd_profile { 4 } else { 1 })?;
    } else if odd_profile {
        r.bit()?; // reserved_zero
    }
    let w = r.bits(16)? + 1;
    let h = r.bits(16)? + 1;
    Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?))
}

/// LEB128 (AV1 specification §4.10.5) at `*at`, at most 8 bytes.
fn leb128(p: &[u8], at: &mut usize) -> Option<usize> {
    let mut v: u64 = 0;
    for i in 0..8 {
        let b = *p.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(v).ok();
        }
    }
    None
}

fn av1_resolution(payload: &[u8]) -> Option<(u16, u16)> {
    const OBU_SEQUENCE_HEADER: u8 = 1;
    let (&agg, rest) = payload.split_first()?;
    let continued = agg & 0x80 != 0;
    let count = usize::from((agg >> 4) & 0x03);
    let mut at = 0;
    let mut element = 0;
    while at < rest.len() {
        element += 1;
        // With W set, the W-th (last) element has no length field.
        let size = if count != 0 && element == count {
            rest.len() - at
        } else {
            leb128(rest, &mut at)?
        };
        let obu = rest.get(at..at.checked_add(size)?)?;
        at += size;
        if element == 1 && continued {
            continue;
        }
        let &header = obu.first()?;
        if (header >> 3) & 0x0F == OBU_SEQUENCE_HEADER {
            let mut body = 1 + usize::from(header & 0x04 != 0);
            let end = if header & 0x02 != 0 {
                let n = leb128(obu, &mut body)?;
                body.checked_add(n)?
            } else {
                obu.len()
            };
            return av1_sequence_size(obu.get(body..end)?);
        }
        if count != 0 && element == count {
            break;
        }
    }
    None
}

/// The maximum frame size of an AV1 sequence header OBU's payload.
fn av1_sequence_size(seq: &[u8]) -> Option<(u16, u16)> {
    let mut r = Bits::plain(seq);
    r.bits(4)?; // seq_profile, still_picture
    if r.bit()? == 1 {
        // reduced_still_picture_header: seq_level_idx[0] only.
        r.bits(5)?;
    } else {
        let mut decoder_model = false;
        let mut delay_bits = 0;
        if r.bit()? == 1 {
            // timing_info
            r.bits(32)?;
            r.bits(32)?;
            if r.bit()? == 1 {
                // num_ticks_per_picture_minus_1, uvlc
                let mut zeros = 0;
                while r.bit()? == 0 {
                    zeros += 1;
                    if zeros >= 32 {
                        return None;
                    }
                }
                r.bits(zeros)?;
            }
            decoder_model = r.bit()? == 1;
            if decoder_model {
                delay_bits = r.bits(5)? + 1; // buffer_delay_length_minus_1
                r.bits(32)?; // num_units_in_decoding_tick
                r.bits(10)?; // buffer_removal_time and frame_presentation_time lengths
            }
        }
        let display_delay = r.bit()? == 1;
        let points = r.bits(5)? + 1;
        for _ in 0..points {
            r.bits(12)?; // operating_point_idc
            if r.bits(5)? > 7 {
                r.bit()?; // seq_tier
            }
            if decoder_model && r.bit()? == 1 {
                r.bits(delay_bits)?; // decoder_buffer_delay
                r.bits(delay_bits)?; // encoder_buffer_delay
                r.bit()?; // low_delay_mode_flag
            }
            if display_delay && r.bit()? == 1 {
                r.bits(4)?;
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let w = r.bits(width_bits)? + 1;
    let h = r.bits(height_bits)? + 1;
    Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?))
}

fn vp8_resolution(payload: &[u8]) -> Option<(u16, u16)> {
    let d = Vp8Descriptor::parse(payload).ok()?;
    if !d.start_of_partition || d.partition_id != 0 {
        return None;
    }
    let f = payload.get(d.len..d.len + 10)?;
    // Frame tag bit 0 = 0: key frame; then the start code 9d 01 2a.
    if f[0] & 0x01 != 0 || f[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([f[6], f[7]]) & 0x3fff;
    let h = u16::from_le_bytes([f[8], f[9]]) & 0x3fff;
    (w > 0 && h > 0).then_some((w, h))
}

fn h264_resolution(payload: &[u8]) -> Option<(u16, u16)> {
    let &hdr = payload.first()?;
    match hdr & 0x1F {
        H264_SPS => sps_resolution(&payload[1..]),
        H264_STAP_A => {
            let mut at = 1;
            while at + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                let nal = payload.get(at + 2..at + 2 + size)?;
                if nal.first().is_some_and(|b| b & 0x1F == H264_SPS) {
                    return sps_resolution(&nal[1..]);
                }
                at += 2 + size;
            }
            None
        }
        H264_FU_A => {
            let fu = *payload.get(1)?;
            // Only the SPS's first fragment: it usually holds the whole size.
            (fu & 0x80 != 0 && fu & 0x1F == H264_SPS)
                .then(|| sps_resolution(&payload[2..]))
                .flatten()
        }
        _ => None,
    }
}

/// Reads an RBSP bit by bit, dropping emulation-prevention bytes (00 00 03) as it goes.
struct Bits<'a> {
    data: &'a [u8],
    byte: usize,
    bit: u8,
    zeros: u8,
    /// Skip H.264 emulation-prevention bytes (an RBSP), or not (VP9, AV1).
    rbsp: bool,
}

impl<'a> Bits<'a> {
    fn rbsp(data: &'a [u8]) -> Self {
        Bits {
            data,
            byte: 0,
            bit: 0,
            zeros: 0,
            rbsp: true,
        }
    }

    fn plain(data: &'a [u8]) -> Self {
        Bits {
            rbsp: false,
            ..Bits::rbsp(data)
        }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bit == 0 && self.rbsp {
            // Entering a new byte: skip an emulation-prevention byte.
            if self.zeros >= 2 && self.data.get(self.byte) == Some(&0x03) {
                self.byte += 1;
                self.zeros = 0;
            }
            let b = *self.data.get(self.byte)?;
            self.zeros = if b == 0 {
                self.zeros.saturating_add(1)
            } else {
                0
            };
        }
        let b = *self.data.get(self.byte)?;
        let v = (b >> (7 - self.bit)) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.byte += 1;
        }
        Some(u32::from(v))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Exp-Golomb ue(v), at most 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)).min(u64::from(u32::MAX)) as u32)
    }

    /// Exp-Golomb se(v).
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Width and height from an SPS's RBSP (after its NAL header byte).
fn sps_resolution(sps: &[u8]) -> Option<(u16, u16)> {
    let mut r = Bits::rbsp(sps);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    let mut separate_planes = false;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format > 3 {
            return None;
        }
        if chroma_format == 3 {
            separate_planes = r.bit()? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            // seq_scaling_matrix_present_flag: skip the scaling lists.
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = u64::from(r.ue()?) + 1;
    let h_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        cl = u64::from(r.ue()?);
        cr = u64::from(r.ue()?);
        ct = u64::from(r.ue()?);
        cb = u64::from(r.ue()?);
    }
    let field = 2 - u64::from(frame_mbs_only);
    let (unit_x, unit_y) = if chroma_format == 0 || separate_planes {
        (1, field)
    } else {
        let sub_w = if chroma_format == 3 { 1 } else { 2 };
        let sub_h = if chroma_format == 1 { 2 } else { 1 };
        (sub_w, sub_h * field)
    };
    let w = (w_mbs * 16).checked_sub(unit_x * (cl + cr))?;
    let h = (field * h_units * 16).checked_sub(unit_y * (ct + cb))?;
    match (u16::try_from(w), u16::try_from(h)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => None,
    }
}

// ---- AV1 -----------------------------------------------------------------------------------

/// Whether an AV1 payload begins a new coded video sequence: the N bit of the aggregation
/// header (AV1 RTP payload specification §4.4).
pub fn is_av1_keyframe(payload: &[u8]) -> bool {
    payload.first().is_some_and(|h| h & 0x08 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vp8_key_and_delta_frames() {
        // X=0, S=1, PID=0; payload header P=0 (key frame).
        assert!(is_vp8_keyframe(&[0x10, 0x50, 0x01, 0x00]));
        // Same with P=1 (inter frame).
        assert!(!is_vp8_keyframe(&[0x10, 0x51, 0x01, 0x00]));
        // Continuation packet (S=0).
        assert!(!is_vp8_keyframe(&[0x00, 0x50]));
        // Partition 1.
        assert!(!is_vp8_keyframe(&[0x11, 0x50]));
        // Full descriptor: X, I (15-bit 0x1234), L, T, K then key-frame header.
        let p = [0x90, 0xF0, 0x92, 0x34, 0x07, 0x65, 0x9C];
        let d = Vp8Descriptor::parse(&p).unwrap();
        assert_eq!(d.picture_id, Some(0x1234));
        assert!(d.picture_id_15bit);
        assert_eq!(d.tl0_pic_idx, Some(7));
        assert_eq!(d.temporal_id, Some(1));
        assert!(d.layer_sync);
        assert_eq!(d.key_idx, Some(5));
        assert_eq!(d.len, 6);
        assert!(is_vp8_keyframe(&p));
        assert!(is_keyframe(Codec::Vp8, &p));
        // Descriptor only, no payload header.
        assert!(!is_vp8_keyframe(&p[..6]));
        assert!(!is_vp8_keyframe(&[]));
    }

    #[test]
    fn key_frames_announce_their_resolution() {
        // The first 16 bytes of a libvpx 1280x720 key frame (ffmpeg), behind a descriptor.
        let mut vp8 = vec![0x10];
        vp8.extend_from_slice(&hex("9077019d012a0005d002000708858588"));
        assert_eq!(keyframe_resolution(Codec::Vp8, &vp8), Some((1280, 720)));
        vp8[1] |= 1; // an inter frame has no size
        assert_eq!(keyframe_resolution(Codec::Vp8, &vp8), None);
        // SPSs from libx264 (ffmpeg): baseline 320x240, high 640x360 and 1918x1080
        // (cropped), main 1280x720 interlaced (field coding); each has emulation-prevention
        // bytes.
        let cases = [
            (
                "6742c00dd90141fb0110000003001000000303c0f142a480",
                (320, 240),
            ),
            (
                "6764001eacd940a02ff970110000030001000003003c0f162d96",
                (640, 360),
            ),
            (
                "67640028acd940780227a970110000030001000003003c0f183196",
                (1918, 1080),
            ),
            (
                "674d4020eca02805df970110000003001000000303c1f162d960",
                (1280, 720),
            ),
        ];
        for (sps, want) in cases {
            let nal = hex(sps);
            assert_eq!(keyframe_resolution(Codec::H264, &nal), Some(want), "{sps}");
            // In a STAP-A with a PPS, as libwebrtc sends it.
            let mut stap = vec![0x78];
            stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            stap.extend_from_slice(&nal);
            stap.extend_from_slice(&[0, 4, 0x68, 0xce, 0x3c, 0x80]);
            assert_eq!(keyframe_resolution(Codec::H264, &stap), Some(want), "{sps}");
            // Truncated: no size.
            assert_eq!(keyframe_resolution(Codec::H264, &nal[..6]), None);
        }
        assert_eq!(keyframe_resolution(Codec::H264, &[0x65, 0x88]), None);
        assert_eq!(keyframe_resolution(Codec::Vp9, &vp8), None);
        // The first 16 bytes of libvpx VP9 key frames (ffmpeg): profile 0 (4:2:0), 1 (4:4:4),
        // 2 (10 bit) and RGB (profile 1), behind a descriptor (I, 15-bit PictureID; B, E, V
        // with a one-layer scalability structure that carries no size).
        let vp9 = [
            ("824983420013f00ef60838241c184a00", (320, 240)),
            ("a24983420004fe02cec1470483830942", (640, 360)),
            ("924983420027f8167b041c120e0c2c0c", (1280, 720)),
            ("a2498342e077d043760c38241c184a18", (1918, 1080)),
        ];
        for (frame, want) in vp9 {
            let mut p = vec![0x8E, 0x81, 0x23, 0x00];
            p.extend_from_slice(&hex(frame));
            assert_eq!(keyframe_resolution(Codec::Vp9, &p), Some(want), "{frame}");
            // An inter picture (P), a packet that does not begin the frame (B = 0), a
            // truncated header: no size.
            for bad in [
                [&[0xCE][..], &p[1..]].concat(),
                [&[0x86][..], &p[1..]].concat(),
                p[..12].to_vec(),
            ] {
                assert_eq!(keyframe_resolution(Codec::Vp9, &bad), None, "{frame}");
            }
        }
        // AV1 sequence header OBUs (with their OBU headers and size fields) from libaom
        // (4:4:4), rav1e, SVT-AV1 and libaom (4:4:4) again (ffmpeg).
        let av1 = [
            ("0a0d200000043cffbcdaf92021a004", (320, 240)),
            ("0a0e200000fa627fb38842b408080940", (640, 360)),
            ("0a0b0000002d4cffb3cfbf9004", (1280, 720)),
            ("0a0b20000042abbec3732be408", (1918, 1080)),
            // libaom with timing info and a decoder model, with timing info only, and a
            // still picture (reduced header).
            (
                "0a1e040000000400000079780000000a530000035f915f90bc457e3e6d7c8020",
                (352, 288),
            ),
            ("0a1404000000040000007b400000bc457e3e6d7c8020", (352, 288)),
            ("0a06181db1f1b601", (200, 100)),
        ];
        for (obu, want) in av1 {
            let obu = hex(obu);
            // As an RTP packet carries it: no size field (obu_has_size_field 0).
            let unsized_obu = [&[obu[0] & !0x02][..], &obu[2..]].concat();
            // W = 1 (one element, no length), N = 1.
            let one = [&[0x18][..], &unsized_obu].concat();
            assert_eq!(keyframe_resolution(Codec::Av1, &one), Some(want));
            // W = 2: the sequence header after a length, then a (frame) OBU without one.
            let mut two = vec![0x28, unsized_obu.len() as u8];
            two.extend_from_slice(&unsized_obu);
            two.extend_from_slice(&[0x30, 0x10]);
            assert_eq!(keyframe_resolution(Codec::Av1, &two), Some(want));
            // W = 0: every element has a length; the OBU keeps its own size field.
            let mut lengths = vec![0x08, 2, 0x12, 0x00, obu.len() as u8];
            lengths.extend_from_slice(&obu);
            assert_eq!(keyframe_resolution(Codec::Av1, &lengths), Some(want));
            // Z = 1: the first element continues an OBU from the previous packet.
            let continued = [&[0x98][..], &unsized_obu].concat();
            assert_eq!(keyframe_resolution(Codec::Av1, &continued), None);
            // Truncated.
            assert_eq!(keyframe_resolution(Codec::Av1, &one[..6]), None);
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn vp8_rewrite_in_place() {
        let mut p = [0x90, 0xF0, 0x92, 0x34, 0x07, 0x65, 0x9C, 0xAA];
        let d = vp8_rewrite(
            &mut p,
            &PictureRewrite {
                picture_id: Some(0x7FFF),
                tl0_pic_idx: Some(200),
                key_idx: Some(31),
            },
        )
        .unwrap();
        assert_eq!(d.picture_id, Some(0x7FFF));
        assert_eq!(d.tl0_pic_idx, Some(200));
        assert_eq!(d.key_idx, Some(31));
        assert_eq!(d.temporal_id, Some(1));
        assert!(d.layer_sync);
        assert_eq!(&p[6..], &[0x9C, 0xAA]);
        // 7-bit PictureID keeps its width.
        let mut q = [0x90, 0x80, 0x05, 0x00];
        let d = vp8_rewrite(
            &mut q,
            &PictureRewrite {
                picture_id: Some(300),
                ..PictureRewrite::default()
            },
        )
        .unwrap();
        assert_eq!(d.picture_id, Some(300 & 0x7F));
        assert!(!d.picture_id_15bit);
        // Absent fields are left alone.
        let mut r = [0x10, 0x50];
        assert!(
            vp8_rewrite(
                &mut r,
                &PictureRewrite {
                    picture_id: Some(1),
                    ..PictureRewrite::default()
                }
            )
            .is_ok()
        );
        assert_eq!(r, [0x10, 0x50]);
        assert!(Vp8Descriptor::parse(&[0x80]).is_err());
        assert!(Vp8Descriptor::parse(&[0x80, 0x80, 0x80]).is_err());
    }

    #[test]
    fn vp9_descriptor_and_keyframes() {
        // I (15-bit 0x0102), L (TID 0, SID 0), non-flexible TL0PICIDX 9; B=1, P=0.
        let p = [0xA8, 0x81, 0x02, 0x00, 0x09, 0xFF];
        let d = Vp9Descriptor::parse(&p).unwrap();
        assert_eq!(d.picture_id, Some(0x0102));
        assert_eq!(d.spatial_id, Some(0));
        assert_eq!(d.tl0_pic_idx, Some(9));
        assert_eq!(d.len, 5);
        assert!(is_vp9_keyframe(&p));
        // Spatial layer 1 of the same picture is not the key frame.
        let p1 = [0xA8, 0x81, 0x02, 0x02, 0x09];
        assert!(!is_vp9_keyframe(&p1));
        // P=1.
        assert!(!is_vp9_keyframe(&[0xE8, 0x81, 0x02, 0x00, 0x09]));
        // Flexible mode with two P_DIFFs.
        let f = [0xD8, 0x05, 0x03, 0x04, 0xEE];
        let d = Vp9Descriptor::parse(&f).unwrap();
        assert_eq!(d.len, 4);
        // Scalability structure: 2 layers with resolutions, one picture group with 1 ref.
        let ss = [
            0x8A, 0x07, 0x38, 0, 1, 0, 2, 0, 3, 0, 4, 1, 0x04, 0x01, 0x77,
        ];
        let d = Vp9Descriptor::parse(&ss).unwrap();
        assert!(d.has_scalability_structure);
        assert_eq!(d.len, 14);
        assert!(is_vp9_keyframe(&ss));
        assert!(Vp9Descriptor::parse(&ss[..10]).is_err());
    }

    #[test]
    fn vp9_rewrite_in_place() {
        let mut p = [0xA8, 0x81, 0x02, 0x00, 0x09, 0xFF];
        let d = vp9_rewrite(
            &mut p,
            &PictureRewrite {
                picture_id: Some(0x0203),
                tl0_pic_idx: Some(10),
                key_idx: None,
            },
        )
        .unwrap();
        assert_eq!(d.picture_id, Some(0x0203));
        assert_eq!(d.tl0_pic_idx, Some(10));
        assert_eq!(p[5], 0xFF);
    }

    #[test]
    fn h264_keyframes_rfc6184() {
        // Single NAL units: IDR (0x65), SPS (0x67), non-IDR slice (0x41).
        assert!(is_h264_keyframe(&[0x65, 0x88]));
        assert!(is_h264_keyframe(&[0x67, 0x42]));
        assert!(!is_h264_keyframe(&[0x41, 0x9A]));
        // STAP-A with SPS and PPS.
        assert!(is_h264_keyframe(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE
        ]));
        // STAP-A with only a PPS and an SEI.
        assert!(!is_h264_keyframe(&[
            0x78, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x01, 0x06
        ]));
        // STAP-A with a size running past the packet.
        assert!(!is_h264_keyframe(&[0x78, 0x00, 0x09, 0x65]));
        // FU-A: start of an IDR, continuation of an IDR, start of a non-IDR slice.
        assert!(is_h264_keyframe(&[0x7C, 0x85, 0x88]));
        assert!(!is_h264_keyframe(&[0x7C, 0x05, 0x88]));
        assert!(!is_h264_keyframe(&[0x7C, 0x81, 0x9A]));
        assert!(!is_h264_keyframe(&[0x7C]));
        assert!(!is_h264_keyframe(&[]));
    }

    #[test]
    fn av1_n_bit() {
        assert!(is_av1_keyframe(&[0x18, 0x0A]));
        assert!(!is_av1_keyframe(&[0x10, 0x32]));
        assert!(!is_keyframe(Codec::Av1, &[]));
    }

    proptest! {
        #[test]
        fn codec_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            for c in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
                let _ = is_keyframe(c, &bytes);
            }
            if let Ok(d) = Vp8Descriptor::parse(&bytes) { prop_assert!(d.len <= bytes.len()); }
            if let Ok(d) = Vp9Descriptor::parse(&bytes) { prop_assert!(d.len <= bytes.len()); }
            let rw = PictureRewrite { picture_id: Some(0xABCD), tl0_pic_idx: Some(1), key_idx: Some(2) };
            let mut a = bytes.clone();
            if let Ok(d) = vp8_rewrite(&mut a, &rw) {
                prop_assert_eq!(d.len, Vp8Descriptor::parse(&bytes).unwrap().len);
                prop_assert_eq!(&a[d.len..], &bytes[d.len..]);
            }
            let mut b = bytes.clone();
            if let Ok(d) = vp9_rewrite(&mut b, &rw) {
                prop_assert_eq!(&b[d.len..], &bytes[d.len..]);
            }
        }
    }
}
