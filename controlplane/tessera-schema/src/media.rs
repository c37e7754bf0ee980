//! Media formats and resolutions in OWT's vocabulary (spec §3.9, §4.2, §4.3).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::num;

/// Audio codecs OWT knows. Serialised lowercase (`"opus"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum AudioCodec {
    Opus,
    Pcmu,
    Pcma,
    Isac,
    Ilbc,
    G722,
    Aac,
    Ac3,
    Nellymoser,
}

/// Video codecs OWT knows. Serialised lowercase (`"vp8"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    H265,
    Av1,
}

/// H.264 profiles as OWT names them; ordered CB < B < M < H (E sits beside B).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum H264Profile {
    /// Constrained baseline.
    CB,
    /// Baseline.
    B,
    /// Main.
    M,
    /// High.
    H,
    /// Extended.
    E,
}

/// An audio format: `{codec, sampleRate?, channelNum?}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudioFormat {
    /// Codec.
    pub codec: AudioCodec,
    /// Sample rate in Hz.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "num::opt_u32"
    )]
    pub sample_rate: Option<u32>,
    /// Channel count.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "num::opt_u32"
    )]
    pub channel_num: Option<u32>,
}

impl AudioFormat {
    /// A format with every field given.
    pub const fn new(
        codec: AudioCodec,
        sample_rate: Option<u32>,
        channel_num: Option<u32>,
    ) -> Self {
        AudioFormat {
            codec,
            sample_rate,
            channel_num,
        }
    }
    /// Opus 48 kHz stereo: OWT's default audio format.
    pub const OPUS: AudioFormat = AudioFormat::new(AudioCodec::Opus, Some(48000), Some(2));
}

/// A video format: `{codec, profile?}` (profile only for H.264).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VideoFormat {
    /// Codec.
    pub codec: VideoCodec,
    /// H.264 profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<H264Profile>,
}

impl VideoFormat {
    /// A format without a profile.
    pub const fn codec(codec: VideoCodec) -> Self {
        VideoFormat {
            codec,
            profile: None,
        }
    }
    /// An H.264 format with the given profile.
    pub const fn h264(profile: H264Profile) -> Self {
        VideoFormat {
            codec: VideoCodec::H264,
            profile: Some(profile),
        }
    }
}

/// A frame size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// Width in pixels.
    #[serde(deserialize_with = "num::u32")]
    pub width: u32,
    /// Height in pixels.
    #[serde(deserialize_with = "num::u32")]
    pub height: u32,
}

impl Resolution {
    /// `width x height`.
    pub const fn new(width: u32, height: u32) -> Self {
        Resolution { width, height }
    }
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution::new(640, 480)
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A resolution as listed in `mediaOut.video.parameters.resolution`: a name (`"vga"`), an
/// explicit size (`"r640x360"`) or a fraction of the source (`"x1/2"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolutionSpec {
    /// A fixed size (named or `r<W>x<H>`).
    Fixed(Resolution),
    /// `x<N>/<M>`: the source scaled by N/M.
    Relative {
        /// N.
        num: u32,
        /// M.
        den: u32,
    },
}

/// Named resolutions OWT accepts (spec §4.3).
pub const NAMED_RESOLUTIONS: &[(&str, Resolution)] = &[
    ("xga", Resolution::new(1024, 768)),
    ("svga", Resolution::new(800, 600)),
    ("vga", Resolution::new(640, 480)),
    ("hvga", Resolution::new(480, 320)),
    ("cif", Resolution::new(352, 288)),
    ("qvga", Resolution::new(320, 240)),
    ("qcif", Resolution::new(176, 144)),
    ("hd720p", Resolution::new(1280, 720)),
    ("hd1080p", Resolution::new(1920, 1080)),
];

impl ResolutionSpec {
    /// Parses one entry; `None` when it is none of the accepted forms.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some((_, r)) = NAMED_RESOLUTIONS.iter().find(|(n, _)| *n == s) {
            return Some(ResolutionSpec::Fixed(*r));
        }
        if let Some(rest) = s.strip_prefix('r') {
            let (w, h) = rest.split_once('x')?;
            let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
            if w == 0 || h == 0 || w > 16384 || h > 16384 {
                return None;
            }
            return Some(ResolutionSpec::Fixed(Resolution::new(w, h)));
        }
        if let Some(rest) = s.strip_prefix('x') {
            let (n, d) = rest.split_once('/')?;
            let (n, d) = (n.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
            if n == 0 || d == 0 || n > d {
                return None;
            }
            return Some(ResolutionSpec::Relative { num: n, den: d });
        }
        None
    }

    /// The size this entry gives for a source of size `base`; relative sizes are rounded down
    /// to even numbers (spec §3.9).
    pub fn resolve(&self, base: Resolution) -> Resolution {
        match *self {
            ResolutionSpec::Fixed(r) => r,
            ResolutionSpec::Relative { num, den } => {
                let even = |v: u32| ((v as u64 * num as u64 / den as u64) as u32) & !1;
                Resolution::new(even(base.width), even(base.height))
            }
        }
    }
}

/// Parses a bitrate multiplier string `"x0.8"` into its factor.
pub fn parse_bitrate_multiplier(s: &str) -> Option<f64> {
    let v: f64 = s.strip_prefix('x')?.parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_specs() {
        assert_eq!(
            ResolutionSpec::parse("vga"),
            Some(ResolutionSpec::Fixed(Resolution::new(640, 480)))
        );
        assert_eq!(
            ResolutionSpec::parse("r320x180"),
            Some(ResolutionSpec::Fixed(Resolution::new(320, 180)))
        );
        let half = ResolutionSpec::parse("x1/2").unwrap();
        assert_eq!(
            half.resolve(Resolution::new(1280, 720)),
            Resolution::new(640, 360)
        );
        let third = ResolutionSpec::parse("x1/3").unwrap();
        assert_eq!(
            third.resolve(Resolution::new(640, 480)),
            Resolution::new(212, 160)
        );
        for bad in ["", "VGA", "r0x1", "x3/2", "x1/0", "r640", "x"] {
            assert!(ResolutionSpec::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bitrate_multipliers() {
        assert_eq!(parse_bitrate_multiplier("x0.8"), Some(0.8));
        assert_eq!(parse_bitrate_multiplier("0.8"), None);
        assert_eq!(parse_bitrate_multiplier("x-1"), None);
        assert_eq!(parse_bitrate_multiplier("xNaN"), None);
    }

    #[test]
    fn formats_serialise_as_owt_does() {
        let f = serde_json::to_string(&AudioFormat::OPUS).unwrap();
        assert_eq!(f, r#"{"codec":"opus","sampleRate":48000,"channelNum":2}"#);
        let v = serde_json::to_string(&VideoFormat::h264(H264Profile::CB)).unwrap();
        assert_eq!(v, r#"{"codec":"h264","profile":"CB"}"#);
    }
}
