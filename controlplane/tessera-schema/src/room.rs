//! The room document (spec §4.2), OWT's defaults (§4.3) and the create/update rules (§4.4).
//!
//! Input from REST arrives as JSON; [`RoomConfig::from_create`], [`RoomConfig::updated`] and
//! [`RoomConfig::patched`] turn it into a validated [`RoomConfig`] or a [`RoomError`] that names
//! the offending field. Everything past this module works with typed values only.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::fraction::Fraction;
use crate::media::{
    AudioCodec, AudioFormat, H264Profile, Resolution, ResolutionSpec, VideoCodec, VideoFormat,
    parse_bitrate_multiplier,
};
use crate::num;
use crate::oid::ObjectId;

/// Why a room configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The request body is not `{name: non-empty string, options?: object}`.
    #[error("Invalid request body")]
    InvalidBody,
    /// `options` is not an object.
    #[error("Invalid room option")]
    InvalidOptions,
    /// A field has the wrong type or an out-of-range value.
    #[error("Invalid room option: {0}")]
    Field(String),
    /// A view's audio or video format is not among the room's `mediaOut` formats.
    #[error("MediaOut conflicts with View Setting")]
    MediaOutConflict,
    /// A room PATCH operation is malformed or targets an unknown path.
    #[error("Invalid room patch: {0}")]
    Patch(String),
}

/// A role definition: what a participant with this role may publish and subscribe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role name, as tokens name it.
    pub role: String,
    /// Publish permissions.
    pub publish: AudioVideo,
    /// Subscribe permissions.
    pub subscribe: AudioVideo,
}

/// A pair of audio/video switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioVideo {
    /// Audio allowed.
    #[serde(default)]
    pub audio: bool,
    /// Video allowed.
    #[serde(default)]
    pub video: bool,
}

impl AudioVideo {
    /// Both switches set to `v`.
    pub const fn both(v: bool) -> Self {
        AudioVideo { audio: v, video: v }
    }
}

/// Formats accepted from publishers.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaIn {
    /// Accepted audio formats.
    #[serde(default)]
    pub audio: Vec<AudioFormat>,
    /// Accepted video formats (a profile-less H.264 entry accepts every profile).
    #[serde(default)]
    pub video: Vec<VideoFormat>,
}

/// What transcoding and mixing may produce.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaOut {
    /// Audio output formats.
    #[serde(default)]
    pub audio: Vec<AudioFormat>,
    /// Video output formats and parameter choices.
    #[serde(default)]
    pub video: MediaOutVideo,
}

/// `mediaOut.video`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaOutVideo {
    /// Video output formats.
    #[serde(default)]
    pub format: Vec<VideoFormat>,
    /// Parameter choices offered to subscribers.
    #[serde(default)]
    pub parameters: MediaOutParameters,
}

/// `mediaOut.video.parameters`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaOutParameters {
    /// Resolutions: names (`vga`), `r<W>x<H>` or `x<N>/<M>`.
    #[serde(default)]
    pub resolution: Vec<String>,
    /// Frame rates.
    #[serde(default, deserialize_with = "num::vec_u32")]
    pub framerate: Vec<u32>,
    /// Bitrate multipliers (`x0.8`).
    #[serde(default)]
    pub bitrate: Vec<String>,
    /// Key-frame intervals in seconds.
    #[serde(default, deserialize_with = "num::vec_u32")]
    pub key_frame_interval: Vec<u32>,
}

/// Which transcodings are offered to subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcoding {
    /// Audio format transcoding.
    #[serde(default = "yes")]
    pub audio: bool,
    /// Video transcodings.
    #[serde(default)]
    pub video: TranscodingVideo,
}

/// `transcoding.video`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodingVideo {
    /// Video format transcoding.
    #[serde(default = "yes")]
    pub format: bool,
    /// Parameter transcodings.
    #[serde(default)]
    pub parameters: TranscodingParameters,
}

/// `transcoding.video.parameters`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TranscodingParameters {
    #[serde(default = "yes")]
    pub resolution: bool,
    #[serde(default = "yes")]
    pub framerate: bool,
    #[serde(default = "yes")]
    pub bitrate: bool,
    #[serde(default = "yes")]
    pub key_frame_interval: bool,
}

fn yes() -> bool {
    true
}

impl Default for Transcoding {
    fn default() -> Self {
        Transcoding {
            audio: true,
            video: TranscodingVideo::default(),
        }
    }
}
impl Default for TranscodingVideo {
    fn default() -> Self {
        TranscodingVideo {
            format: true,
            parameters: TranscodingParameters::default(),
        }
    }
}
impl Default for TranscodingParameters {
    fn default() -> Self {
        TranscodingParameters {
            resolution: true,
            framerate: true,
            bitrate: true,
            key_frame_interval: true,
        }
    }
}

/// Which notifications the room sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notifying {
    /// `participant` join/leave notifications.
    #[serde(default = "yes")]
    pub participant_activities: bool,
    /// `stream` add/update/remove notifications.
    #[serde(default = "yes")]
    pub stream_change: bool,
}

impl Default for Notifying {
    fn default() -> Self {
        Notifying {
            participant_activities: true,
            stream_change: true,
        }
    }
}

/// SIP registration of a room.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Sip {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// One view (mixed stream) of a room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// Label; the mixed stream id is `<roomId>-<label>`.
    #[serde(default = "default_label")]
    pub label: String,
    /// Audio mixing settings.
    #[serde(default)]
    pub audio: ViewAudio,
    /// Video mixing settings, or `false` for an audio-only view.
    #[serde(default)]
    pub video: ViewVideo,
}

fn default_label() -> String {
    "common".to_string()
}

impl Default for View {
    fn default() -> Self {
        View {
            label: default_label(),
            audio: ViewAudio::default(),
            video: ViewVideo::default(),
        }
    }
}

/// `view.audio`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewAudio {
    /// Default output format of the mixed audio.
    #[serde(default = "opus")]
    pub format: AudioFormat,
    /// Voice activity detection.
    #[serde(default = "yes")]
    pub vad: bool,
}

fn opus() -> AudioFormat {
    AudioFormat::OPUS
}

impl Default for ViewAudio {
    fn default() -> Self {
        ViewAudio {
            format: opus(),
            vad: true,
        }
    }
}

/// `view.video`: `false` (audio-only) or the video mixing settings.
#[derive(Clone, Debug, PartialEq)]
pub enum ViewVideo {
    /// Audio-only view (`"video": false`).
    Disabled,
    /// A video mixer with these settings.
    Enabled(Box<VideoView>),
}

impl ViewVideo {
    /// The settings when video is enabled.
    pub fn settings(&self) -> Option<&VideoView> {
        match self {
            ViewVideo::Disabled => None,
            ViewVideo::Enabled(v) => Some(v),
        }
    }
}

impl Default for ViewVideo {
    fn default() -> Self {
        ViewVideo::Enabled(Box::default())
    }
}

impl Serialize for ViewVideo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ViewVideo::Disabled => s.serialize_bool(false),
            ViewVideo::Enabled(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ViewVideo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // An untagged enum would hide the inner error; decode through a Value to keep it.
        let v = Value::deserialize(d)?;
        match v {
            Value::Bool(false) => Ok(ViewVideo::Disabled),
            Value::Bool(true) => Ok(ViewVideo::default()),
            Value::Object(_) => {
                let s: VideoView = serde_json::from_value(v).map_err(D::Error::custom)?;
                Ok(ViewVideo::Enabled(Box::new(s)))
            }
            other => Err(D::Error::custom(format!(
                "expected false or an object, got {other}"
            ))),
        }
    }
}

/// `view.video` when enabled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VideoView {
    /// Default output format (`vp8`; H.264 without a profile means `CB`).
    #[serde(default = "vp8")]
    pub format: VideoFormat,
    /// Default output parameters.
    #[serde(default)]
    pub parameters: ViewVideoParameters,
    /// At most this many inputs are shown (1..=256).
    #[serde(default = "sixteen", deserialize_with = "num::u32")]
    pub max_input: u32,
    /// Bitrate scaling factor.
    #[serde(default = "motion")]
    pub motion_factor: f64,
    /// Background colour.
    #[serde(default)]
    pub bg_color: Rgb,
    /// Keep the VAD-active speaker in the first region.
    #[serde(default)]
    pub keep_active_input_primary: bool,
    /// Layout settings.
    #[serde(default)]
    pub layout: ViewLayout,
}

fn vp8() -> VideoFormat {
    VideoFormat::codec(VideoCodec::Vp8)
}
fn sixteen() -> u32 {
    16
}
fn motion() -> f64 {
    0.8
}

impl Default for VideoView {
    fn default() -> Self {
        VideoView {
            format: vp8(),
            parameters: ViewVideoParameters::default(),
            max_input: 16,
            motion_factor: 0.8,
            bg_color: Rgb::default(),
            keep_active_input_primary: false,
            layout: ViewLayout::default(),
        }
    }
}

/// `view.video.parameters`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewVideoParameters {
    /// Canvas size.
    #[serde(default)]
    pub resolution: Resolution,
    /// Frames per second (one of 6, 12, 15, 24, 30, 48, 60).
    #[serde(default = "twenty_four", deserialize_with = "num::u32")]
    pub framerate: u32,
    /// Bitrate in kbps; computed from the canvas when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "num::opt_u32"
    )]
    pub bitrate: Option<u32>,
    /// Seconds between key frames.
    #[serde(default = "hundred", deserialize_with = "num::u32")]
    pub key_frame_interval: u32,
}

fn twenty_four() -> u32 {
    24
}
fn hundred() -> u32 {
    100
}

impl Default for ViewVideoParameters {
    fn default() -> Self {
        ViewVideoParameters {
            resolution: Resolution::default(),
            framerate: 24,
            bitrate: None,
            key_frame_interval: 100,
        }
    }
}

/// A background colour. Accepts `{r,g,b}` or the strings `"black"`/`"white"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[allow(missing_docs)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Obj {
            #[serde(default, deserialize_with = "num::u32")]
            r: u32,
            #[serde(default, deserialize_with = "num::u32")]
            g: u32,
            #[serde(default, deserialize_with = "num::u32")]
            b: u32,
        }
        let v = Value::deserialize(d)?;
        match v {
            Value::String(s) if s == "black" => Ok(Rgb::default()),
            Value::String(s) if s == "white" => Ok(Rgb {
                r: 255,
                g: 255,
                b: 255,
            }),
            Value::Object(_) => {
                let o: Obj = serde_json::from_value(v).map_err(D::Error::custom)?;
                let c = |x: u32| {
                    u8::try_from(x).map_err(|_| {
                        D::Error::custom(format!("colour component {x} is not in 0..=255"))
                    })
                };
                Ok(Rgb {
                    r: c(o.r)?,
                    g: c(o.g)?,
                    b: c(o.b)?,
                })
            }
            other => Err(D::Error::custom(format!(
                "expected {{r,g,b}}, \"black\" or \"white\", got {other}"
            ))),
        }
    }
}

/// `view.video.layout`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewLayout {
    /// How inputs fit their regions.
    #[serde(default)]
    pub fit_policy: FitPolicy,
    /// Stored, unused (as in OWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_region_effect: Option<String>,
    /// Template family and custom templates.
    #[serde(default)]
    pub templates: Templates,
}

impl Default for ViewLayout {
    fn default() -> Self {
        ViewLayout {
            fit_policy: FitPolicy::Letterbox,
            set_region_effect: None,
            templates: Templates::default(),
        }
    }
}

/// Letterbox (fit inside, pad) or crop (fill, cut the centre).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum FitPolicy {
    #[default]
    Letterbox,
    Crop,
}

/// `view.video.layout.templates`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// Generated family.
    #[serde(default)]
    pub base: TemplateBase,
    /// User templates merged into the generated ones.
    #[serde(default)]
    pub custom: Vec<CustomTemplate>,
}

/// Generated template families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum TemplateBase {
    #[default]
    Fluid,
    Lecture,
    Void,
}

/// A user template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTemplate {
    /// Region id of the primary region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Regions.
    #[serde(default)]
    pub region: Vec<Region>,
}

/// A layout region: a rectangle in fractions of the canvas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Region id.
    pub id: String,
    /// Always `rectangle` in room documents.
    #[serde(default)]
    pub shape: Shape,
    /// Position and size as fraction strings.
    pub area: Area,
}

/// Region shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Shape {
    #[default]
    Rectangle,
}

/// A region's area, each value a fraction string as stored (`"1/3"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Area {
    pub left: String,
    pub top: String,
    pub width: String,
    pub height: String,
}

/// A room's configuration: the room document without its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomConfig {
    /// Display name.
    pub name: String,
    /// Maximum concurrent forward streams; -1 unlimited, 0 forbids publishing.
    #[serde(default = "minus_one", deserialize_with = "num::i64")]
    pub input_limit: i64,
    /// Maximum participants; enforced only when > 0.
    #[serde(default = "minus_one", deserialize_with = "num::i64")]
    pub participant_limit: i64,
    /// Create the active-audio streams `active-audio-0..2`.
    #[serde(default)]
    pub select_active_audio: bool,
    /// Build quality switches for simulcast/SVC publications.
    #[serde(default)]
    pub enable_bandwidth_adaptation: bool,
    /// Role definitions.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Views (mixed streams); empty disables mixing.
    #[serde(default)]
    pub views: Vec<View>,
    /// Formats accepted from publishers.
    #[serde(default)]
    pub media_in: MediaIn,
    /// Formats and parameters that may be produced.
    #[serde(default)]
    pub media_out: MediaOut,
    /// Offered transcodings.
    #[serde(default)]
    pub transcoding: Transcoding,
    /// Notification switches.
    #[serde(default)]
    pub notifying: Notifying,
    /// SIP registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<Sip>,
}

fn minus_one() -> i64 {
    -1
}

/// A stored room: the configuration plus its id and mongoose version key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// Room id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Configuration.
    #[serde(flatten)]
    pub config: RoomConfig,
    /// Mongoose version key, kept for OWT compatibility.
    #[serde(rename = "__v", default, deserialize_with = "num::i64")]
    pub v: i64,
}

impl Room {
    /// Decodes a stored document (JSON form, `_id` as hex), tolerating the fields OWT's schema
    /// allows but ours does not type (`id`, `createdAt`...).
    pub fn from_stored(mut doc: Value) -> Result<Room, RoomError> {
        let obj = doc.as_object_mut().ok_or(RoomError::InvalidBody)?;
        let id = obj
            .remove("_id")
            .and_then(|v| v.as_str().and_then(|s| s.parse::<ObjectId>().ok()))
            .ok_or_else(|| RoomError::Field("_id: missing or not an ObjectId".into()))?;
        let v = obj.remove("__v").and_then(|v| v.as_i64()).unwrap_or(0);
        for k in IGNORED_KEYS {
            obj.remove(*k);
        }
        strip_nulls(&mut doc);
        let config = parse_config(doc)?;
        Ok(Room { id, config, v })
    }

    /// The REST/JSON form of the room document.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("room documents always serialise")
    }

    /// Mixed stream id of a view: `<roomId>-<label>`.
    pub fn mixed_stream_id(&self, label: &str) -> String {
        format!("{}-{}", self.id, label)
    }
}

/// Keys clients may echo back from a fetched document; ignored on input.
const IGNORED_KEYS: &[&str] = &["_id", "__v", "id", "createdAt", "updatedAt"];

/// The roles OWT creates by default (spec §4.3).
pub fn default_roles() -> Vec<Role> {
    let r = |role: &str, pa, pv, sa, sv| Role {
        role: role.to_string(),
        publish: AudioVideo {
            audio: pa,
            video: pv,
        },
        subscribe: AudioVideo {
            audio: sa,
            video: sv,
        },
    };
    vec![
        r("presenter", true, true, true, true),
        r("viewer", false, false, true, true),
        r("audio_only_presenter", true, false, true, false),
        r("video_only_viewer", false, false, false, true),
        r("sip", true, true, true, true),
    ]
}

fn default_audio(aac_out: bool) -> Vec<AudioFormat> {
    use AudioCodec::*;
    let aac = if aac_out {
        AudioFormat::new(Aac, Some(48000), Some(2))
    } else {
        AudioFormat::new(Aac, None, None)
    };
    vec![
        AudioFormat::OPUS,
        AudioFormat::new(Isac, Some(16000), None),
        AudioFormat::new(Isac, Some(32000), None),
        AudioFormat::new(G722, Some(16000), Some(1)),
        AudioFormat::new(Pcma, None, None),
        AudioFormat::new(Pcmu, None, None),
        aac,
        AudioFormat::new(Ac3, None, None),
        AudioFormat::new(Nellymoser, None, None),
        AudioFormat::new(Ilbc, None, None),
    ]
}

/// OWT's default `mediaIn`.
pub fn default_media_in() -> MediaIn {
    MediaIn {
        audio: default_audio(false),
        video: vec![
            VideoFormat::codec(VideoCodec::H264),
            VideoFormat::codec(VideoCodec::Vp8),
            VideoFormat::codec(VideoCodec::Vp9),
        ],
    }
}

/// OWT's default `mediaOut`.
pub fn default_media_out() -> MediaOut {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    MediaOut {
        audio: default_audio(true),
        video: MediaOutVideo {
            format: vec![
                VideoFormat::codec(VideoCodec::Vp8),
                VideoFormat::h264(H264Profile::CB),
                VideoFormat::h264(H264Profile::B),
                VideoFormat::codec(VideoCodec::Vp9),
            ],
            parameters: MediaOutParameters {
                resolution: s(&[
                    "x3/4", "x2/3", "x1/2", "x1/3", "x1/4", "hd1080p", "hd720p", "svga", "vga",
                    "qvga", "cif",
                ]),
                framerate: vec![6, 12, 15, 24, 30, 48, 60],
                bitrate: s(&["x0.8", "x0.6", "x0.4", "x0.2"]),
                key_frame_interval: vec![100, 30, 5, 2, 1],
            },
        },
    }
}

/// Frame rates the mixer can generate (spec §5.9.3).
pub const MIXER_FRAMERATES: &[u32] = &[6, 12, 15, 24, 30, 48, 60];

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Removes object members whose value is `null`, recursively (OWT's `removeNull`).
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn parse_config(v: Value) -> Result<RoomConfig, RoomError> {
    let config: RoomConfig = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            RoomError::Field(inner)
        } else {
            RoomError::Field(format!("{path}: {inner}"))
        }
    })?;
    config.validated()
}

impl RoomConfig {
    /// A room with OWT's defaults and the given name.
    pub fn with_defaults(name: &str) -> RoomConfig {
        RoomConfig::from_create(&json!({ "name": name })).expect("the default room is valid")
    }

    /// The configuration for `POST /v1/rooms` with body `{name, options?}` (spec §2.4, §4.4).
    pub fn from_create(body: &Value) -> Result<RoomConfig, RoomError> {
        let name = match body.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(RoomError::InvalidBody),
        };
        let mut options = match body.get("options") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(RoomError::InvalidOptions),
        };
        for k in IGNORED_KEYS {
            options.remove(*k);
        }
        let defaults = [
            ("roles", serde_json::to_value(default_roles())),
            ("mediaIn", serde_json::to_value(default_media_in())),
            ("mediaOut", serde_json::to_value(default_media_out())),
            ("views", Ok(json!([{}]))),
        ];
        for (key, default) in defaults {
            if options.get(key).is_none_or(is_falsy) {
                options.insert(key.to_string(), default.expect("defaults serialise"));
            }
        }
        options.insert("name".to_string(), Value::String(name));
        let mut doc = Value::Object(options);
        strip_nulls(&mut doc);
        parse_config(doc)
    }

    /// The configuration after `PUT /v1/rooms/{id}`: the given top-level fields replace the
    /// stored ones, then the whole is validated again (spec §2.4).
    pub fn updated(&self, updates: &Value) -> Result<RoomConfig, RoomError> {
        let Value::Object(updates) = updates else {
            return Err(RoomError::InvalidOptions);
        };
        let mut doc = serde_json::to_value(self).expect("room configurations serialise");
        let obj = doc
            .as_object_mut()
            .expect("a room configuration is an object");
        for (k, v) in updates {
            if IGNORED_KEYS.contains(&k.as_str()) {
                continue;
            }
            if k == "name" && !matches!(v, Value::String(s) if !s.is_empty()) {
                return Err(RoomError::Field("name: must be a non-empty string".into()));
            }
            obj.insert(k.clone(), v.clone());
        }
        strip_nulls(&mut doc);
        parse_config(doc)
    }

    /// The configuration after `PATCH /v1/rooms/{id}` with a JSON-Patch-like list of
    /// `{op: "replace"|"add"|"remove", path: "/field[/sub...]", value}` (what the JS REST SDK's
    /// `updateRoomPartially` sends). OWT never implemented it; Tessera applies the operations in
    /// order, then validates the result as a whole.
    pub fn patched(&self, ops: &Value) -> Result<RoomConfig, RoomError> {
        let Value::Array(ops) = ops else {
            return Err(RoomError::Patch(
                "expected an array of {op, path, value}".into(),
            ));
        };
        let mut doc = serde_json::to_value(self).expect("room configurations serialise");
        for (i, op) in ops.iter().enumerate() {
            let kind = op
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| RoomError::Patch(format!("[{i}]: missing op")))?;
            let path = op
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| RoomError::Patch(format!("[{i}]: missing path")))?;
            let segs: Vec<&str> = path
                .strip_prefix('/')
                .ok_or_else(|| RoomError::Patch(format!("[{i}]: path must start with /")))?
                .split('/')
                .collect();
            if segs
                .first()
                .is_none_or(|s| s.is_empty() || IGNORED_KEYS.contains(s))
            {
                return Err(RoomError::Patch(format!(
                    "[{i}]: path {path} cannot be changed"
                )));
            }
            let value = op.get("value");
            apply_op(&mut doc, &segs, kind, value)
                .map_err(|m| RoomError::Patch(format!("[{i}] {kind} {path}: {m}")))?;
        }
        strip_nulls(&mut doc);
        parse_config(doc)
    }

    fn validated(mut self) -> Result<RoomConfig, RoomError> {
        let bad = |m: String| Err(RoomError::Field(m));
        if self.name.is_empty() {
            return bad("name: must be a non-empty string".into());
        }
        if self.input_limit < -1 {
            return bad(format!(
                "inputLimit: {} is below -1 (-1 means unlimited)",
                self.input_limit
            ));
        }
        if self.participant_limit < -1 {
            return bad(format!(
                "participantLimit: {} is below -1 (-1 means unlimited)",
                self.participant_limit
            ));
        }
        for (i, r) in self.roles.iter().enumerate() {
            if r.role.is_empty() {
                return bad(format!("roles[{i}].role: must be a non-empty string"));
            }
            if self.roles[..i].iter().any(|o| o.role == r.role) {
                return bad(format!("roles[{i}].role: duplicate role '{}'", r.role));
            }
        }
        for (i, r) in self
            .media_out
            .video
            .parameters
            .resolution
            .iter()
            .enumerate()
        {
            if ResolutionSpec::parse(r).is_none() {
                return bad(format!(
                    "mediaOut.video.parameters.resolution[{i}]: '{r}' is not a resolution (names such as \"vga\", \"r640x360\" or \"x1/2\")"
                ));
            }
        }
        for (i, b) in self.media_out.video.parameters.bitrate.iter().enumerate() {
            if parse_bitrate_multiplier(b).is_none() {
                return bad(format!(
                    "mediaOut.video.parameters.bitrate[{i}]: '{b}' is not a multiplier like \"x0.8\""
                ));
            }
        }
        for (i, f) in self.media_out.video.parameters.framerate.iter().enumerate() {
            if *f == 0 || *f > 240 {
                return bad(format!(
                    "mediaOut.video.parameters.framerate[{i}]: {f} is not in 1..=240"
                ));
            }
        }
        for (i, k) in self
            .media_out
            .video
            .parameters
            .key_frame_interval
            .iter()
            .enumerate()
        {
            if *k == 0 {
                return bad(format!(
                    "mediaOut.video.parameters.keyFrameInterval[{i}]: must be positive"
                ));
            }
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 64
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        for i in 0..self.views.len() {
            let label = self.views[i].label.clone();
            if !label_ok(&label) {
                return bad(format!(
                    "views[{i}].label: '{label}' must be 1-64 characters of [0-9A-Za-z_-]"
                ));
            }
            if self.views[..i].iter().any(|o| o.label == label) {
                return bad(format!("views[{i}].label: duplicate view label '{label}'"));
            }
            if let ViewVideo::Enabled(v) = &mut self.views[i].video {
                if v.format.codec == VideoCodec::H264 && v.format.profile.is_none() {
                    v.format.profile = Some(H264Profile::CB);
                }
                validate_video_view(i, v)?;
            }
        }
        // A view's formats must be producible (spec §4.4).
        for v in &self.views {
            if !self.media_out.audio.contains(&v.audio.format) {
                return Err(RoomError::MediaOutConflict);
            }
            if let Some(video) = v.video.settings()
                && !self.media_out.video.format.contains(&video.format)
            {
                return Err(RoomError::MediaOutConflict);
            }
        }
        Ok(self)
    }
}

fn validate_video_view(i: usize, v: &VideoView) -> Result<(), RoomError> {
    let bad = |m: String| Err(RoomError::Field(format!("views[{i}].video.{m}")));
    let p = &v.parameters;
    let Resolution { width, height } = p.resolution;
    if !(16..=7680).contains(&width)
        || !(16..=4320).contains(&height)
        || width % 2 != 0
        || height % 2 != 0
    {
        return bad(format!(
            "parameters.resolution: {width}x{height} must be even, 16..=7680 wide and 16..=4320 high"
        ));
    }
    if !MIXER_FRAMERATES.contains(&p.framerate) {
        return bad(format!(
            "parameters.framerate: {} is not one of {MIXER_FRAMERATES:?}",
            p.framerate
        ));
    }
    if p.bitrate == Some(0) {
        return bad("parameters.bitrate: must be positive (kbps)".into());
    }
    if p.key_frame_interval == 0 {
        return bad("parameters.keyFrameInterval: must be positive (seconds)".into());
    }
    if !(1..=256).contains(&v.max_input) {
        return bad(format!("maxInput: {} is not in 1..=256", v.max_input));
    }
    if !(v.motion_factor.is_finite() && v.motion_factor > 0.0 && v.motion_factor <= 16.0) {
        return bad(format!(
            "motionFactor: {} is not in (0, 16]",
            v.motion_factor
        ));
    }
    for (t, tpl) in v.layout.templates.custom.iter().enumerate() {
        let at = format!("layout.templates.custom[{t}]");
        if tpl.region.is_empty() {
            return bad(format!("{at}.region: a template needs at least one region"));
        }
        for (r, region) in tpl.region.iter().enumerate() {
            if region.id.is_empty() {
                return bad(format!("{at}.region[{r}].id: must be a non-empty string"));
            }
            if tpl.region[..r].iter().any(|o| o.id == region.id) {
                return bad(format!(
                    "{at}.region[{r}].id: duplicate region id '{}'",
                    region.id
                ));
            }
            region_fractions(&region.area).map_err(|m| {
                RoomError::Field(format!("views[{i}].video.{at}.region[{r}].area.{m}"))
            })?;
        }
        if let Some(p) = &tpl.primary
            && !tpl.region.iter().any(|r| &r.id == p)
        {
            return bad(format!(
                "{at}.primary: '{p}' names no region of the template"
            ));
        }
    }
    Ok(())
}

/// The area's values as fractions, checked to lie on the canvas.
pub fn region_fractions(a: &Area) -> Result<[Fraction; 4], String> {
    let f = |name: &str, s: &str| Fraction::parse(s).map_err(|e| format!("{name}: {e}"));
    let (l, t, w, h) = (
        f("left", &a.left)?,
        f("top", &a.top)?,
        f("width", &a.width)?,
        f("height", &a.height)?,
    );
    for (name, v) in [("left", l), ("top", t), ("width", w), ("height", h)] {
        if !v.at_most_one() {
            return Err(format!("{name}: {v} is larger than 1"));
        }
    }
    if w.numerator() == 0 || h.numerator() == 0 {
        return Err("width/height: must be larger than 0".into());
    }
    let sum = |a: Fraction, b: Fraction| {
        a.numerator() as u128 * b.denominator() as u128
            + b.numerator() as u128 * a.denominator() as u128
            <= a.denominator() as u128 * b.denominator() as u128
    };
    if !sum(l, w) {
        return Err("left + width: the region leaves the canvas".into());
    }
    if !sum(t, h) {
        return Err("top + height: the region leaves the canvas".into());
    }
    Ok([l, t, w, h])
}

fn apply_op(
    doc: &mut Value,
    segs: &[&str],
    kind: &str,
    value: Option<&Value>,
) -> Result<(), String> {
    let (last, parents) = segs.split_last().expect("paths have at least one segment");
    let mut cur = doc;
    for s in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(*s).ok_or_else(|| format!("no member '{s}'"))?,
            Value::Array(a) => {
                let idx: usize = s.parse().map_err(|_| format!("'{s}' is not an index"))?;
                a.get_mut(idx)
                    .ok_or_else(|| format!("index {idx} is out of range"))?
            }
            _ => return Err(format!("'{s}' is not inside an object or array")),
        };
    }
    match (kind, cur) {
        ("replace" | "add", Value::Object(m)) => {
            let v = value.ok_or("missing value")?;
            if kind == "replace" && !m.contains_key(*last) {
                return Err(format!("no member '{last}' to replace"));
            }
            m.insert(last.to_string(), v.clone());
        }
        ("remove", Value::Object(m)) => {
            m.remove(*last)
                .ok_or_else(|| format!("no member '{last}' to remove"))?;
        }
        ("replace", Value::Array(a)) => {
            let idx: usize = last
                .parse()
                .map_err(|_| format!("'{last}' is not an index"))?;
            let slot = a
                .get_mut(idx)
                .ok_or_else(|| format!("index {idx} is out of range"))?;
            *slot = value.ok_or("missing value")?.clone();
        }
        ("add", Value::Array(a)) => {
            let v = value.ok_or("missing value")?.clone();
            if *last == "-" {
                a.push(v);
            } else {
                let idx: usize = last
                    .parse()
                    .map_err(|_| format!("'{last}' is not an index"))?;
                if idx > a.len() {
                    return Err(format!("index {idx} is out of range"));
                }
                a.insert(idx, v);
            }
        }
        ("remove", Value::Array(a)) => {
            let idx: usize = last
                .parse()
                .map_err(|_| format!("'{last}' is not an index"))?;
            if idx >= a.len() {
                return Err(format!("index {idx} is out of range"));
            }
            a.remove(idx);
        }
        ("replace" | "add" | "remove", _) => {
            return Err("the parent is not an object or array".into());
        }
        (other, _) => return Err(format!("unsupported op '{other}' (replace, add, remove)")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(v: Value) -> Result<RoomConfig, RoomError> {
        RoomConfig::from_create(&v)
    }

    #[test]
    fn default_room_has_owt_defaults() {
        let r = create(json!({"name": "r"})).unwrap();
        assert_eq!(r.input_limit, -1);
        assert_eq!(r.participant_limit, -1);
        assert_eq!(r.roles.len(), 5);
        assert_eq!(r.roles[0].role, "presenter");
        assert_eq!(r.views.len(), 1);
        let v = &r.views[0];
        assert_eq!(v.label, "common");
        assert_eq!(v.audio.format, AudioFormat::OPUS);
        let video = v.video.settings().unwrap();
        assert_eq!(video.format, VideoFormat::codec(VideoCodec::Vp8));
        assert_eq!(video.parameters.resolution, Resolution::new(640, 480));
        assert_eq!(video.parameters.framerate, 24);
        assert_eq!(video.parameters.key_frame_interval, 100);
        assert_eq!(video.max_input, 16);
        assert_eq!(r.media_in.audio.len(), 10);
        assert_eq!(r.media_out.video.format.len(), 4);
        assert!(r.transcoding.video.parameters.key_frame_interval);
        assert!(r.notifying.stream_change);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            j["views"][0]["video"]["layout"]["templates"]["base"],
            "fluid"
        );
        assert_eq!(
            j["views"][0]["video"]["bgColor"],
            json!({"r":0,"g":0,"b":0})
        );
        assert_eq!(
            j["mediaOut"]["audio"][6],
            json!({"codec":"aac","sampleRate":48000,"channelNum":2})
        );
        assert_eq!(j["mediaIn"]["audio"][6], json!({"codec":"aac"}));
    }

    #[test]
    fn empty_views_disable_mixing_and_nulls_are_stripped() {
        let r = create(json!({"name": "r", "options": {"views": [], "inputLimit": null}})).unwrap();
        assert!(r.views.is_empty());
        assert_eq!(r.input_limit, -1);
    }

    #[test]
    fn audio_only_views_stay_audio_only() {
        let r =
            create(json!({"name": "r", "options": {"views": [{"label": "a", "video": false}]}}))
                .unwrap();
        assert_eq!(r.views[0].video, ViewVideo::Disabled);
        assert_eq!(
            serde_json::to_value(&r).unwrap()["views"][0]["video"],
            json!(false)
        );
    }

    #[test]
    fn h264_view_without_profile_means_constrained_baseline() {
        let r = create(
            json!({"name": "r", "options": {"views": [{"video": {"format": {"codec": "h264"}}}]}}),
        )
        .unwrap();
        assert_eq!(
            r.views[0].video.settings().unwrap().format,
            VideoFormat::h264(H264Profile::CB)
        );
    }

    #[test]
    fn media_out_conflict_is_reported() {
        let e = create(json!({"name": "r", "options": {"views": [{"audio": {"format": {"codec": "pcmu"}}}], "mediaOut": {"audio": [{"codec":"opus","sampleRate":48000,"channelNum":2}], "video": {"format": [{"codec":"vp8"}]}}}})).unwrap_err();
        assert_eq!(e, RoomError::MediaOutConflict);
        let e = create(json!({"name": "r", "options": {"views": [{"video": {"format": {"codec": "vp9"}}}], "mediaOut": {"audio": [{"codec":"opus","sampleRate":48000,"channelNum":2}], "video": {"format": [{"codec":"vp8"}]}}}})).unwrap_err();
        assert_eq!(e, RoomError::MediaOutConflict);
    }

    #[test]
    fn bad_bodies_and_fields_are_named() {
        assert_eq!(create(json!({})).unwrap_err(), RoomError::InvalidBody);
        assert_eq!(
            create(json!({"name": ""})).unwrap_err(),
            RoomError::InvalidBody
        );
        assert_eq!(
            create(json!({"name": 3})).unwrap_err(),
            RoomError::InvalidBody
        );
        assert_eq!(
            create(json!({"name": "r", "options": 1})).unwrap_err(),
            RoomError::InvalidOptions
        );
        let e = create(json!({"name": "r", "options": {"views": [{"video": {"maxInput": 300}}]}}))
            .unwrap_err();
        assert!(
            matches!(&e, RoomError::Field(m) if m.contains("maxInput")),
            "{e}"
        );
        let e = create(json!({"name": "r", "options": {"inputLimit": "ten"}})).unwrap_err();
        assert!(
            matches!(&e, RoomError::Field(m) if m.starts_with("inputLimit")),
            "{e}"
        );
        let e = create(json!({"name": "r", "options": {"mediaIn": {"audio": [{"codec": "mp3"}]}}}))
            .unwrap_err();
        assert!(
            matches!(&e, RoomError::Field(m) if m.contains("mediaIn.audio[0].codec")),
            "{e}"
        );
        let e = create(json!({"name": "r", "options": {"publishLimit": 3}})).unwrap_err();
        assert!(
            matches!(&e, RoomError::Field(m) if m.contains("publishLimit")),
            "{e}"
        );
        let e = create(json!({"name": "r", "options": {"views": [{}, {}]}})).unwrap_err();
        assert!(
            matches!(&e, RoomError::Field(m) if m.contains("duplicate view label")),
            "{e}"
        );
    }

    #[test]
    fn integral_floats_are_integers() {
        let r = create(json!({"name": "r", "options": {"inputLimit": 4.0, "views": [{"video": {"parameters": {"framerate": 30.0}}}]}})).unwrap();
        assert_eq!(r.input_limit, 4);
        assert!(create(json!({"name": "r", "options": {"inputLimit": 4.5}})).is_err());
    }

    #[test]
    fn custom_templates_are_checked() {
        let region = |id: &str, l: &str, w: &str| json!({"id": id, "shape": "rectangle", "area": {"left": l, "top": "0", "width": w, "height": "1"}});
        let ok = create(
            json!({"name": "r", "options": {"views": [{"video": {"layout": {"templates": {"custom": [{"region": [region("1", "0", "1/2"), region("2", "1/2", "1/2")]}]}}}}]}}),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let off = create(
            json!({"name": "r", "options": {"views": [{"video": {"layout": {"templates": {"custom": [{"region": [region("1", "2/3", "1/2")]}]}}}}]}}),
        );
        assert!(matches!(off, Err(RoomError::Field(m)) if m.contains("leaves the canvas")));
        let dup = create(
            json!({"name": "r", "options": {"views": [{"video": {"layout": {"templates": {"custom": [{"region": [region("1", "0", "1/2"), region("1", "1/2", "1/2")]}]}}}}]}}),
        );
        assert!(matches!(dup, Err(RoomError::Field(m)) if m.contains("duplicate region")));
    }

    #[test]
    fn update_replaces_top_level_fields_and_revalidates() {
        let r = create(json!({"name": "r"})).unwrap();
        let u = r
            .updated(&json!({"name": "s", "inputLimit": 3, "_id": "x"}))
            .unwrap();
        assert_eq!(u.name, "s");
        assert_eq!(u.input_limit, 3);
        assert_eq!(u.views, r.views);
        assert_eq!(
            r.updated(&json!({"mediaOut": {"audio": []}})).unwrap_err(),
            RoomError::MediaOutConflict
        );
        assert!(r.updated(&json!({"name": ""})).is_err());
        assert!(r.updated(&json!([1])).is_err());
    }

    #[test]
    fn patch_applies_operations_in_order() {
        let r = create(json!({"name": "r"})).unwrap();
        let p = r.patched(&json!([
            {"op": "replace", "path": "/name", "value": "p"},
            {"op": "replace", "path": "/views/0/video/maxInput", "value": 4},
            {"op": "add", "path": "/roles/-", "value": {"role": "guest", "publish": {"audio": false, "video": false}, "subscribe": {"audio": true, "video": false}}},
        ])).unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.views[0].video.settings().unwrap().max_input, 4);
        assert_eq!(p.roles.last().unwrap().role, "guest");
        assert!(matches!(
            r.patched(&json!([{"op": "replace", "path": "/nope", "value": 1}])),
            Err(RoomError::Patch(_))
        ));
        assert!(matches!(
            r.patched(&json!([{"op": "move", "path": "/name"}])),
            Err(RoomError::Patch(_))
        ));
        assert!(matches!(
            r.patched(&json!({"op": "replace"})),
            Err(RoomError::Patch(_))
        ));
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let keys = prop::sample::select(vec![
            "name",
            "inputLimit",
            "participantLimit",
            "roles",
            "views",
            "mediaIn",
            "mediaOut",
            "video",
            "audio",
            "format",
            "codec",
            "label",
            "maxInput",
            "parameters",
            "resolution",
            "width",
            "height",
            "layout",
            "templates",
            "custom",
            "region",
            "id",
            "area",
            "left",
            "top",
            "op",
            "path",
            "value",
            "/name",
            "vp8",
            "h264",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-3i64..300).prop_map(Value::from),
            prop::sample::select(vec![
                "", "0", "1/2", "vp8", "opus", "common", "x1/2", "/views/0", "replace"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        // The fuzz target `room_options` checks the same properties with coverage guidance.
        #[test]
        fn room_options_never_panic_and_accepted_rooms_round_trip(v in arb_json()) {
            if let Ok(config) = RoomConfig::from_create(&json!({"name": "p", "options": v.clone()})) {
                let room = Room { id: ObjectId::from_bytes([1; 12]), config, v: 0 };
                proptest::prop_assert_eq!(Room::from_stored(room.to_json()).unwrap(), room);
            }
            let base = RoomConfig::with_defaults("b");
            let _ = base.updated(&v);
            let _ = base.patched(&v);
        }
    }

    #[test]
    fn stored_documents_round_trip() {
        let room = Room {
            id: ObjectId::new(),
            config: create(json!({"name": "r"})).unwrap(),
            v: 0,
        };
        let j = room.to_json();
        assert_eq!(j["_id"], room.id.to_hex());
        assert_eq!(j["__v"], 0);
        assert_eq!(Room::from_stored(j).unwrap(), room);
    }
}
