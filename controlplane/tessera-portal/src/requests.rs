//! Client requests of OWT protocol 1.2 (spec §3.4, §3.6) parsed from their JSON payloads into
//! typed values, with the error strings OWT clients see. Everything a client sends goes
//! through here before it reaches the conference.

use serde_json::{Map, Value};
use tessera_conference::{Signaling, SubscribeTrack};
use tessera_schema::control::{PublishTrackSpec, TrackKind};

/// `login` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Login {
    /// The base64 token.
    pub token: String,
    /// `userAgent.sdk.type`.
    pub sdk_type: String,
    /// `userAgent.sdk.version`.
    pub sdk_version: String,
    /// `protocol` (absent for legacy clients).
    pub protocol: Option<String>,
}

/// `publish` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    /// Tracks (`media.tracks`).
    pub tracks: Vec<PublishTrackSpec>,
    /// `transport.id` when given and non-empty.
    pub transport_id: Option<String>,
    /// `transport.type == "quic"`.
    pub quic: bool,
    /// `attributes` (null when absent).
    pub attributes: Value,
}

/// `subscribe` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribe {
    /// Tracks (`media.tracks`).
    pub tracks: Vec<SubscribeTrack>,
    /// `transport.id` when given and non-empty.
    pub transport_id: Option<String>,
    /// `transport.type == "quic"` or a data subscription.
    pub quic: bool,
}

/// `soac` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Soac {
    /// Transport id.
    pub id: String,
    /// What is signalled.
    pub signaling: Signaling,
}

/// `stream-control` / `subscription-control` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    /// Stream or subscription id.
    pub id: String,
    /// Operation name.
    pub operation: String,
    /// Operation data.
    pub data: Value,
}

/// `text` data.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    /// A participant id or `all`.
    pub to: String,
    /// Anything.
    pub message: Value,
}

/// Largest accepted id.
const MAX_ID: usize = 128;

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} should be object"))
}

fn only_keys(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} should NOT have additional property '{k}'")),
        None => Ok(()),
    }
}

/// Whether `s` is an id the portal accepts (`^[0-9a-zA-Z\-]+$`, underscores allowed too).
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn kind(v: Option<&Value>, what: &str) -> Result<TrackKind, String> {
    match v.and_then(Value::as_str) {
        Some("audio") => Ok(TrackKind::Audio),
        Some("video") => Ok(TrackKind::Video),
        _ => Err(format!(
            "{what}.type should be equal to one of the allowed values"
        )),
    }
}

fn string(v: Option<&Value>, what: &str) -> Result<String, String> {
    v.and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("{what} should be string"))
}

/// Parses `login` data.
pub fn login(v: &Value) -> Result<Login, String> {
    let m = v.as_object().ok_or("Invalid login info")?;
    let token = m
        .get("token")
        .and_then(Value::as_str)
        .ok_or("Invalid token")?
        .to_string();
    let sdk = m.get("userAgent").and_then(|u| u.get("sdk"));
    let (Some(t), Some(ver)) = (
        sdk.and_then(|s| s.get("type")).and_then(Value::as_str),
        sdk.and_then(|s| s.get("version")).and_then(Value::as_str),
    ) else {
        return Err("User agent info is incorrect".into());
    };
    let protocol = match m.get("protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err("Unknown client protocol".into()),
    };
    Ok(Login {
        token,
        sdk_type: t.to_string(),
        sdk_version: ver.to_string(),
        protocol,
    })
}

fn transport(m: &Map<String, Value>, what: &str) -> Result<(Option<String>, bool), String> {
    match m.get("transport") {
        None | Some(Value::Null) => Ok((None, false)),
        Some(t) => {
            let t = obj(t, &format!("{what}.transport"))?;
            let quic = match t.get("type").and_then(Value::as_str) {
                Some("quic") => true,
                Some("webrtc") | None => false,
                Some(_) => {
                    return Err(format!(
                        "{what}.transport.type should be equal to one of the allowed values"
                    ));
                }
            };
            let id = match t.get("id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) if valid_id(s) => Some(s.clone()),
                Some(_) => return Err(format!("{what}.transport.id should be a valid id")),
            };
            Ok((id, quic))
        }
    }
}

/// Parses `publish` data.
pub fn publish(v: &Value) -> Result<Publish, String> {
    let m = obj(v, "request")?;
    only_keys(m, &["media", "data", "transport", "attributes"], "request")?;
    let (transport_id, quic) = transport(m, "request")?;
    let attributes = match m.get("attributes") {
        None => Value::Null,
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => return Err("request.attributes should be object".into()),
    };
    let mut tracks = Vec::new();
    match m.get("media") {
        None | Some(Value::Null) => {}
        Some(media) => {
            let media = obj(media, "request.media")?;
            let list = media
                .get("tracks")
                .and_then(Value::as_array)
                .ok_or("request.media.tracks should be array")?;
            if list.len() > 16 {
                return Err("request.media.tracks should NOT have more than 16 items".into());
            }
            for (i, t) in list.iter().enumerate() {
                let at = format!("request.media.tracks[{i}]");
                let tm = obj(t, &at)?;
                let k = kind(tm.get("type"), &at)?;
                let mid = string(tm.get("mid"), &format!("{at}.mid"))?;
                let source = match tm.get("source") {
                    Some(Value::String(s))
                        if ["mic", "camera", "screen-cast", "raw-file", "encoded-file"]
                            .contains(&s.as_str()) =>
                    {
                        Some(s.clone())
                    }
                    None => None,
                    Some(_) => {
                        return Err(format!(
                            "{at}.source should be equal to one of the allowed values"
                        ));
                    }
                };
                tracks.push(PublishTrackSpec {
                    mid,
                    kind: k,
                    source,
                });
            }
        }
    }
    if tracks.is_empty() && !quic {
        return Err("request.media should have tracks".into());
    }
    Ok(Publish {
        tracks,
        transport_id,
        quic,
        attributes,
    })
}

/// Parses `subscribe` data.
pub fn subscribe(v: &Value) -> Result<Subscribe, String> {
    let m = obj(v, "request")?;
    only_keys(m, &["media", "data", "transport"], "request")?;
    let (transport_id, quic) = transport(m, "request")?;
    let data_sub = matches!(m.get("data"), Some(d) if !d.is_null());
    let mut tracks = Vec::new();
    match m.get("media") {
        None | Some(Value::Null) => {}
        Some(media) => {
            let media = obj(media, "request.media")?;
            let list = media
                .get("tracks")
                .and_then(Value::as_array)
                .ok_or("request.media.tracks should be array")?;
            if list.len() > 16 {
                return Err("request.media.tracks should NOT have more than 16 items".into());
            }
            for (i, t) in list.iter().enumerate() {
                let at = format!("request.media.tracks[{i}]");
                let tm = obj(t, &at)?;
                let k = kind(tm.get("type"), &at)?;
                let mid = string(tm.get("mid"), &format!("{at}.mid"))?;
                let from = string(tm.get("from"), &format!("{at}.from"))?;
                if !valid_id(from.split(':').next().unwrap_or("")) || from.len() > MAX_ID {
                    return Err(format!("{at}.from should be a valid stream or track id"));
                }
                let format = tm.get("format").filter(|f| !f.is_null()).cloned();
                if format.as_ref().is_some_and(|f| !f.is_object()) {
                    return Err(format!("{at}.format should be object"));
                }
                let parameters = tm.get("parameters").filter(|p| !p.is_null()).cloned();
                if parameters.as_ref().is_some_and(|p| !p.is_object()) {
                    return Err(format!("{at}.parameters should be object"));
                }
                tracks.push(SubscribeTrack {
                    kind: k,
                    mid,
                    from,
                    format,
                    parameters,
                });
            }
        }
    }
    if tracks.is_empty() && !quic && !data_sub {
        return Err("request.media should have tracks".into());
    }
    Ok(Subscribe {
        tracks,
        transport_id,
        quic: quic || data_sub,
    })
}

/// Parses `{id}` of `unpublish` / `unsubscribe`; `what` is `stream` or `subscription`.
pub fn id_only(v: &Value, what: &str) -> Result<String, String> {
    match v.get("id").and_then(Value::as_str) {
        Some(id) if valid_id(id) => Ok(id.to_string()),
        _ => Err(format!("Invalid {what} id")),
    }
}

/// Parses `soac` data.
pub fn soac(v: &Value) -> Result<Soac, String> {
    let m = obj(v, "request")?;
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| valid_id(s))
        .ok_or("Invalid transport id")?
        .to_string();
    let sig = m
        .get("signaling")
        .and_then(Value::as_object)
        .ok_or("Invalid signaling type")?;
    let signaling = match sig.get("type").and_then(Value::as_str) {
        Some("offer") => Signaling::Offer(
            sig.get("sdp")
                .and_then(Value::as_str)
                .ok_or("request.signaling.sdp should be string")?
                .to_string(),
        ),
        Some("candidate") => {
            let c = sig
                .get("candidate")
                .ok_or("request.signaling.candidate should be object")?;
            let line = match c {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("candidate")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                _ => return Err("request.signaling.candidate should be object".into()),
            };
            Signaling::Candidate(line.trim().trim_start_matches("a=").to_string())
        }
        Some("removed-candidates") => Signaling::RemovedCandidates,
        Some("answer") => Signaling::Answer,
        _ => return Err("Invalid signaling type".into()),
    };
    Ok(Soac { id, signaling })
}

/// Parses `stream-control` / `subscription-control` data (`{id, operation, data}`, exactly).
pub fn control(v: &Value, what: &str) -> Result<Control, String> {
    let m = obj(v, "request")?;
    only_keys(m, &["id", "operation", "data"], "request")?;
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| valid_id(s))
        .ok_or_else(|| format!("Invalid {what} id"))?
        .to_string();
    let operation = m
        .get("operation")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("Invalid {what} control operation"))?
        .to_string();
    Ok(Control {
        id,
        operation,
        data: m.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// Parses `text` data.
pub fn text(v: &Value) -> Result<Text, String> {
    let to = v
        .get("to")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_ID)
        .ok_or("Invalid receiver")?
        .to_string();
    Ok(Text {
        to,
        message: v.get("message").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_checks() {
        let ok = login(&json!({"token": "t", "userAgent": {"sdk": {"type": "JavaScript", "version": "5.1"}}, "protocol": "1.2"})).unwrap();
        assert_eq!(
            (ok.sdk_type.as_str(), ok.protocol.as_deref()),
            ("JavaScript", Some("1.2"))
        );
        assert_eq!(
            login(&json!({"token": "t", "userAgent": {}})).unwrap_err(),
            "User agent info is incorrect"
        );
        assert_eq!(
            login(&json!({"token": "t"})).unwrap_err(),
            "User agent info is incorrect"
        );
        assert_eq!(
            login(&json!({"userAgent": {"sdk": {"type": "x", "version": "1"}}})).unwrap_err(),
            "Invalid token"
        );
    }

    #[test]
    fn publish_and_subscribe() {
        let p = publish(&json!({"media": {"tracks": [{"type": "audio", "mid": "0", "source": "mic"}, {"type": "video", "mid": "1", "source": "camera"}]}, "transport": {"type": "webrtc", "id": ""}, "attributes": {"a": 1}})).unwrap();
        assert_eq!(p.tracks.len(), 2);
        assert_eq!(p.transport_id, None);
        assert!(
            publish(&json!({"media": {"tracks": []}, "extra": 1}))
                .unwrap_err()
                .contains("additional property")
        );
        assert_eq!(
            publish(&json!({"media": 3})).unwrap_err(),
            "request.media should be object"
        );
        assert_eq!(
            publish(
                &json!({"media": {"tracks": [{"type": "audio", "mid": "0"}]}, "attributes": null})
            )
            .unwrap_err(),
            "request.attributes should be object"
        );
        let s = subscribe(&json!({"media": {"tracks": [{"type": "video", "mid": "0", "from": "abc-1:h", "parameters": {"resolution": {"width": 1, "height": 2}}}]}, "transport": {"id": "t1"}})).unwrap();
        assert_eq!(
            (s.tracks[0].from.as_str(), s.transport_id.as_deref()),
            ("abc-1:h", Some("t1"))
        );
        assert!(
            subscribe(
                &json!({"media": {"tracks": [{"type": "video", "mid": "0", "from": "../x"}]}})
            )
            .is_err()
        );
    }

    #[test]
    fn soac_candidates_with_and_without_prefix() {
        let c = soac(&json!({"id": "t1", "signaling": {"type": "candidate", "candidate": {"candidate": "a=candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}})).unwrap();
        assert_eq!(
            c.signaling,
            Signaling::Candidate("candidate:1 1 udp 1 127.0.0.1 9 typ host".into())
        );
        let c = soac(&json!({"id": "t1", "signaling": {"type": "candidate", "candidate": {"candidate": "candidate:2 1 udp 1 127.0.0.1 9 typ host"}}})).unwrap();
        assert_eq!(
            c.signaling,
            Signaling::Candidate("candidate:2 1 udp 1 127.0.0.1 9 typ host".into())
        );
        assert_eq!(
            soac(&json!({"id": "t1", "signaling": {"type": "bogus"}})).unwrap_err(),
            "Invalid signaling type"
        );
        assert_eq!(
            soac(&json!({"id": 3, "signaling": {}})).unwrap_err(),
            "Invalid transport id"
        );
    }

    #[test]
    fn control_and_text() {
        assert_eq!(
            control(
                &json!({"id": "s", "operation": "pause", "data": "av"}),
                "stream"
            )
            .unwrap()
            .operation,
            "pause"
        );
        assert!(
            control(
                &json!({"id": "s", "operation": "pause", "data": "av", "x": 1}),
                "stream"
            )
            .is_err()
        );
        assert_eq!(
            text(&json!({"to": "", "message": 1})).unwrap_err(),
            "Invalid receiver"
        );
        assert_eq!(
            id_only(&json!({"id": "a b"}), "stream").unwrap_err(),
            "Invalid stream id"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panic(s in "\\PC{0,300}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = login(&v);
                let _ = publish(&v);
                let _ = subscribe(&v);
                let _ = soac(&v);
                let _ = control(&v, "stream");
                let _ = text(&v);
                let _ = id_only(&v, "stream");
            }
        }
    }
}
