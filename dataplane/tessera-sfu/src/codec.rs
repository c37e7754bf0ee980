//! Codec knowledge the forwarder needs: where key frames start (to switch layers there) and
//! picture ids to keep continuous. The bit-level work is `tessera_rtp::codec`'s.

use crate::rewrite::Rewriter;

/// Payload codecs the forwarder knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Opus.
    Opus,
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
    /// H.264.
    H264,
    /// AV1.
    Av1,
    /// Anything else (forwarded, never switched on).
    Other,
}

impl Codec {
    /// From an SDP encoding name.
    pub fn from_name(name: &str) -> Codec {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "h264" => Codec::H264,
            "av1" => Codec::Av1,
            _ => Codec::Other,
        }
    }
}

/// Whether `payload` is the first packet of a key frame.
pub fn is_keyframe_start(codec: Codec, payload: &[u8]) -> bool {
    use tessera_rtp::codec as c;
    let c = match codec {
        Codec::Vp8 => c::Codec::Vp8,
        Codec::Vp9 => c::Codec::Vp9,
        Codec::H264 => c::Codec::H264,
        Codec::Av1 => c::Codec::Av1,
        Codec::Opus | Codec::Other => return true,
    };
    tessera_rtp::codec::is_keyframe(c, payload)
}

/// The picture size a key frame's first packet announces (VP8, VP9, H.264, AV1), if any.
pub fn keyframe_resolution(codec: Codec, payload: &[u8]) -> Option<(u16, u16)> {
    use tessera_rtp::codec as c;
    let c = match codec {
        Codec::Vp8 => c::Codec::Vp8,
        Codec::Vp9 => c::Codec::Vp9,
        Codec::H264 => c::Codec::H264,
        Codec::Av1 => c::Codec::Av1,
        Codec::Opus | Codec::Other => return None,
    };
    tessera_rtp::codec::keyframe_resolution(c, payload)
}

/// A payload's VP8/VP9 descriptor, parsed once per received packet ([`Pictures::parse`]) and
/// applied to every forwarded copy of it ([`Pictures::rewrite`]).
#[derive(Clone, Copy, Debug)]
pub enum Pictures {
    /// No picture ids to keep continuous (other codecs, or no descriptor that parses).
    None,
    /// VP8.
    Vp8(tessera_rtp::codec::Vp8Descriptor),
    /// VP9.
    Vp9(tessera_rtp::codec::Vp9Descriptor),
}

impl Pictures {
    /// Parses the descriptor of a `codec` payload.
    pub fn parse(codec: Codec, payload: &[u8]) -> Pictures {
        use tessera_rtp::codec as c;
        match codec {
            Codec::Vp8 => c::Vp8Descriptor::parse(payload).map_or(Pictures::None, Pictures::Vp8),
            Codec::Vp9 => c::Vp9Descriptor::parse(payload).map_or(Pictures::None, Pictures::Vp9),
            _ => Pictures::None,
        }
    }

    /// Rewrites the picture ids (and TL0PICIDX) of a forwarded copy of the parsed payload in
    /// place, so they stay continuous across layer and source switches. The copy has the
    /// same bytes, so the descriptor's offsets hold.
    pub fn rewrite(&self, payload: &mut [u8], rw: &mut Rewriter) {
        use tessera_rtp::codec as c;
        let change = |rw: &mut Rewriter, pic: Option<u16>, tl0: Option<u8>| {
            let (p, t) = rw.map_picture(pic?, tl0);
            Some(c::PictureRewrite {
                picture_id: Some(p),
                tl0_pic_idx: t,
                key_idx: None,
            })
        };
        match self {
            Pictures::Vp8(d) if d.len <= payload.len() => {
                if let Some(ch) = change(rw, d.picture_id, d.tl0_pic_idx) {
                    c::vp8_apply(payload, d, &ch);
                }
            }
            Pictures::Vp9(d) if d.len <= payload.len() => {
                if let Some(ch) = change(rw, d.picture_id, d.tl0_pic_idx) {
                    c::vp9_apply(payload, d, &ch);
                }
            }
            _ => {}
        }
    }
}
