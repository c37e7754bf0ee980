//! Publications and their stream info in OWT's "portal format" (spec §3.9), plus the REST
//! `/v1` and `/v1.1` conversions (§2.6).

use serde_json::{Map, Value, json};
use tessera_schema::control::{TrackFormat, TrackKind};

/// One published track.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Track id `<transportId>-<mid>` (`:<rid>` for one simulcast layer is derived).
    pub id: String,
    /// Kind.
    pub kind: TrackKind,
    /// `mic`, `camera`, `screen-cast`...
    pub source: Option<String>,
    /// Negotiated format.
    pub format: TrackFormat,
    /// mid.
    pub mid: String,
    /// Simulcast rids.
    pub rids: Vec<String>,
    /// Muted by its publisher?
    pub active: bool,
    /// Video resolution once known (for a simulcast track, its largest layer's).
    pub resolution: Option<(u32, u32)>,
    /// Each simulcast layer's resolution once known, in `rids` order.
    pub layer_resolutions: Vec<Option<(u32, u32)>>,
}

/// A forward stream (publication).
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// Stream id.
    pub id: String,
    /// Owner participant id.
    pub owner: String,
    /// `webrtc` (later: `streaming`, `sip`, ...).
    pub kind: &'static str,
    /// Transport carrying it.
    pub transport: String,
    /// Tracks.
    pub tracks: Vec<Track>,
    /// Publisher-supplied attributes.
    pub attributes: Value,
    /// Views it is mixed into.
    pub in_views: Vec<String>,
    /// Announced (`stream add` sent); only announced streams are listed.
    pub ready: bool,
}

fn format_json(f: &TrackFormat) -> Value {
    serde_json::to_value(f).expect("formats serialise")
}

impl Track {
    fn status(&self) -> &'static str {
        if self.active { "active" } else { "inactive" }
    }

    fn parameters(&self) -> Option<Value> {
        self.resolution
            .map(|(w, h)| json!({"resolution": {"width": w, "height": h}}))
    }

    /// The parameters of one simulcast layer.
    fn layer_parameters(&self, rid: &str) -> Option<Value> {
        let i = self.rids.iter().position(|r| r == rid)?;
        self.layer_resolutions
            .get(i)
            .copied()
            .flatten()
            .map(|(w, h)| json!({"resolution": {"width": w, "height": h}}))
    }

    /// Every resolution it is known to have: the track's, and each layer's.
    pub fn resolutions(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.resolution
            .iter()
            .chain(self.layer_resolutions.iter().flatten())
            .copied()
    }

    /// Records a resolution from the data plane: of the whole track, or of the layer `rid`
    /// (the track then has its largest layer's).
    pub fn set_resolution(&mut self, rid: Option<&str>, w: u32, h: u32) {
        let Some(rid) = rid else {
            self.resolution = Some((w, h));
            return;
        };
        let Some(i) = self.rids.iter().position(|r| r == rid) else {
            return;
        };
        if self.layer_resolutions.len() < self.rids.len() {
            self.layer_resolutions.resize(self.rids.len(), None);
        }
        self.layer_resolutions[i] = Some((w, h));
        self.resolution = self
            .layer_resolutions
            .iter()
            .flatten()
            .copied()
            .max_by_key(|&(w, h)| u64::from(w) * u64::from(h));
    }

    /// Portal-format track entries (one per simulcast layer).
    fn portal(&self) -> Vec<Value> {
        let base = |id: String, rid: Option<&str>| {
            let mut t = Map::new();
            t.insert("id".into(), json!(id));
            t.insert("type".into(), json!(self.kind.as_str()));
            if let Some(s) = &self.source {
                t.insert("source".into(), json!(s));
            }
            t.insert("format".into(), format_json(&self.format));
            let params = match rid {
                Some(r) => self.layer_parameters(r),
                None => self.parameters(),
            };
            if let Some(p) = params {
                t.insert("parameters".into(), p);
            }
            t.insert("status".into(), json!(self.status()));
            t.insert("mid".into(), json!(self.mid));
            if let Some(r) = rid {
                t.insert("rid".into(), json!(r));
            }
            Value::Object(t)
        };
        if self.rids.is_empty() {
            vec![base(self.id.clone(), None)]
        } else {
            self.rids
                .iter()
                .map(|r| base(format!("{}:{r}", self.id), Some(r)))
                .collect()
        }
    }
}

impl Stream {
    /// The stream info clients receive (spec §3.9). `optional` is omitted: this server does not
    /// transcode yet, so a subscriber can only get the published formats.
    pub fn portal_info(&self) -> Value {
        let tracks: Vec<Value> = self.tracks.iter().flat_map(Track::portal).collect();
        let mut info = json!({"owner": self.owner, "type": self.kind, "inViews": self.in_views});
        if !self.attributes.is_null() {
            info["attributes"] = self.attributes.clone();
        }
        json!({"id": self.id, "type": "forward", "media": {"tracks": tracks}, "info": info})
    }

    /// The REST form: `/v1` replaces tracks by `media.audio` / `media.video` (first track of each
    /// kind); `/v1.1` additionally lists every video layer in `media.video.original`.
    pub fn rest_info(&self, v1_1: bool) -> Value {
        let mut v = self.portal_info();
        let mut media = Map::new();
        if let Some(a) = self.tracks.iter().find(|t| t.kind == TrackKind::Audio) {
            let mut m = json!({"status": a.status(), "format": format_json(&a.format)});
            if let Some(s) = &a.source {
                m["source"] = json!(s);
            }
            media.insert("audio".into(), m);
        }
        if let Some(t) = self.tracks.iter().find(|t| t.kind == TrackKind::Video) {
            let mut m = json!({"status": t.status()});
            if let Some(s) = &t.source {
                m["source"] = json!(s);
            }
            if v1_1 {
                let params = t.parameters().unwrap_or_else(|| json!({}));
                let original: Vec<Value> = if t.rids.is_empty() {
                    vec![json!({"format": format_json(&t.format), "parameters": params})]
                } else {
                    t.rids.iter().map(|r| json!({"format": format_json(&t.format), "parameters": t.layer_parameters(r).unwrap_or_else(|| json!({})), "simulcastRid": r})).collect()
                };
                m["original"] = json!(original);
            } else {
                m["format"] = format_json(&t.format);
                if let Some(p) = t.parameters() {
                    m["parameters"] = p;
                }
            }
            media.insert("video".into(), m);
        }
        v["media"] = Value::Object(media);
        v
    }

    /// The track with this id (or `<id>:<rid>` of a simulcast track).
    pub fn track(&self, id: &str) -> Option<(&Track, Option<&str>)> {
        self.tracks.iter().find_map(|t| {
            if t.id == id {
                return Some((t, None));
            }
            let rid = id.strip_prefix(&t.id)?.strip_prefix(':')?;
            t.rids
                .iter()
                .find(|r| r.as_str() == rid)
                .map(|r| (t, Some(r.as_str())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_schema::media::{AudioFormat, VideoCodec, VideoFormat};

    fn stream() -> Stream {
        let mut s = Stream {
            id: "s1".into(),
            owner: "p1".into(),
            kind: "webrtc",
            transport: "t1".into(),
            tracks: vec![
                Track {
                    id: "t1-0".into(),
                    kind: TrackKind::Audio,
                    source: Some("mic".into()),
                    format: TrackFormat::Audio(AudioFormat::OPUS),
                    mid: "0".into(),
                    rids: vec![],
                    active: true,
                    resolution: None,
                    layer_resolutions: Vec::new(),
                },
                Track {
                    id: "t1-1".into(),
                    kind: TrackKind::Video,
                    source: Some("camera".into()),
                    format: TrackFormat::Video(VideoFormat::codec(VideoCodec::Vp8)),
                    mid: "1".into(),
                    rids: vec!["q".into(), "f".into()],
                    active: false,
                    resolution: None,
                    layer_resolutions: Vec::new(),
                },
            ],
            attributes: json!({"k": "v"}),
            in_views: vec![],
            ready: true,
        };
        s.tracks[1].set_resolution(Some("f"), 640, 360);
        s.tracks[1].set_resolution(Some("q"), 320, 180);
        s.tracks[1].set_resolution(Some("x"), 1920, 1080); // no such layer: ignored
        s
    }

    #[test]
    fn portal_format() {
        let v = stream().portal_info();
        assert_eq!(v["type"], "forward");
        assert_eq!(
            v["info"],
            json!({"owner": "p1", "type": "webrtc", "inViews": [], "attributes": {"k": "v"}})
        );
        let tracks = v["media"]["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 3, "one entry per simulcast layer");
        assert_eq!(
            tracks[0]["format"],
            json!({"codec": "opus", "sampleRate": 48000, "channelNum": 2})
        );
        assert_eq!(tracks[1]["id"], "t1-1:q");
        assert_eq!(tracks[2]["rid"], "f");
        assert_eq!(tracks[1]["status"], "inactive");
        assert_eq!(
            tracks[1]["parameters"]["resolution"],
            json!({"width": 320, "height": 180}),
            "each layer has its own size"
        );
        assert_eq!(
            tracks[2]["parameters"]["resolution"],
            json!({"width": 640, "height": 360})
        );
        assert!(tracks[0].get("parameters").is_none());
    }

    #[test]
    fn rest_formats() {
        let v1 = stream().rest_info(false);
        assert_eq!(v1["media"]["video"]["format"], json!({"codec": "vp8"}));
        assert!(v1["media"].get("tracks").is_none());
        assert_eq!(
            v1["media"]["video"]["parameters"]["resolution"],
            json!({"width": 640, "height": 360}),
            "the track's size is its largest layer's"
        );
        let v11 = stream().rest_info(true);
        assert_eq!(v11["media"]["video"]["original"][1]["simulcastRid"], "f");
        assert_eq!(
            v11["media"]["video"]["original"][0]["parameters"]["resolution"],
            json!({"width": 320, "height": 180})
        );
        assert!(v11["media"]["video"].get("format").is_none());
        assert_eq!(stream().track("t1-1:f").unwrap().1, Some("f"));
        assert!(stream().track("t1-1:x").is_none());
    }
}
