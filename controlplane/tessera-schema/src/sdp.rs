//! SDP as WebRTC clients send it, parsed into what an answerer needs, and the answer written
//! back (RFC 8866 syntax, JSEP/RFC 8829 semantics, BUNDLE RFC 9143, simulcast RFC 8853).
//!
//! The parser is tolerant in syntax (CRLF or LF, unknown attributes kept) and strict in limits
//! (size, m-line count); it never panics. Only what the server uses is typed.

use std::fmt::Write as _;

/// Largest SDP accepted.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most m-lines accepted.
pub const MAX_MEDIA: usize = 64;

/// Why an SDP was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Larger than [`MAX_SDP_LEN`] or more than [`MAX_MEDIA`] m-lines.
    #[error("SDP is too large")]
    TooLarge,
    /// A line is not `<letter>=<value>`, or an m-line is malformed.
    #[error("malformed SDP line {0}: {1}")]
    Syntax(usize, String),
    /// No `v=0` / no m-line.
    #[error("SDP has no media sections")]
    NoMedia,
    /// ICE credentials or DTLS fingerprint missing.
    #[error("SDP lacks {0}")]
    Missing(&'static str),
}

/// One `a=` attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Name (before `:`).
    pub name: String,
    /// Value (after `:`), if any.
    pub value: Option<String>,
}

/// One m-section as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMedia {
    /// `audio`, `video`, `application`...
    pub kind: String,
    /// Port (0 = rejected/disabled).
    pub port: u16,
    /// Protocol, e.g. `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// Format list (payload types for RTP).
    pub fmts: Vec<String>,
    /// Attributes in order.
    pub attrs: Vec<Attr>,
}

/// A whole SDP as written.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RawSdp {
    /// Session-level attributes.
    pub attrs: Vec<Attr>,
    /// m-sections.
    pub media: Vec<RawMedia>,
}

fn attr_of(v: &str) -> Attr {
    match v.split_once(':') {
        Some((n, val)) => Attr {
            name: n.to_string(),
            value: Some(val.to_string()),
        },
        None => Attr {
            name: v.to_string(),
            value: None,
        },
    }
}

impl RawSdp {
    /// Parses the text of an SDP.
    pub fn parse(text: &str) -> Result<RawSdp, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge);
        }
        let mut sdp = RawSdp::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (t, v) = line
                .split_once('=')
                .ok_or_else(|| SdpError::Syntax(i + 1, "expected <type>=<value>".into()))?;
            if t.len() != 1 {
                return Err(SdpError::Syntax(i + 1, format!("bad line type '{t}'")));
            }
            match t {
                "m" => {
                    if sdp.media.len() >= MAX_MEDIA {
                        return Err(SdpError::TooLarge);
                    }
                    let mut parts = v.split_ascii_whitespace();
                    let kind = parts
                        .next()
                        .ok_or_else(|| SdpError::Syntax(i + 1, "m-line without media".into()))?;
                    let port = parts
                        .next()
                        .ok_or_else(|| SdpError::Syntax(i + 1, "m-line without port".into()))?;
                    let port = port
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .parse::<u16>()
                        .map_err(|_| SdpError::Syntax(i + 1, "bad port".into()))?;
                    let proto = parts
                        .next()
                        .ok_or_else(|| SdpError::Syntax(i + 1, "m-line without protocol".into()))?;
                    sdp.media.push(RawMedia {
                        kind: kind.to_string(),
                        port,
                        proto: proto.to_string(),
                        fmts: parts.map(str::to_string).collect(),
                        attrs: Vec::new(),
                    });
                }
                "a" => {
                    let a = attr_of(v);
                    match sdp.media.last_mut() {
                        Some(m) => m.attrs.push(a),
                        None => sdp.attrs.push(a),
                    }
                }
                _ => {}
            }
        }
        if sdp.media.is_empty() {
            return Err(SdpError::NoMedia);
        }
        Ok(sdp)
    }
}

impl RawMedia {
    /// Values of every attribute named `name`.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attrs
            .iter()
            .filter(move |a| a.name == name)
            .filter_map(|a| a.value.as_deref())
    }
    /// First value of attribute `name`.
    pub fn value<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.values(name).next()
    }
    /// Whether a flag attribute (`a=rtcp-mux`) is present.
    pub fn has(&self, name: &str) -> bool {
        self.attrs.iter().any(|a| a.name == name)
    }
}

/// Media kind of an m-line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl Kind {
    /// `audio` / `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audio => "audio",
            Kind::Video => "video",
        }
    }
}

/// Direction of an m-line, from the writer's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `sendrecv`
    SendRecv,
    /// `sendonly`
    SendOnly,
    /// `recvonly`
    RecvOnly,
    /// `inactive`
    Inactive,
}

impl Direction {
    /// The answerer's mirror of an offered direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    /// Attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// One offered payload type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Codec {
    /// Payload type.
    pub pt: u8,
    /// Encoding name, lowercase (`opus`, `vp8`, `h264`, `rtx`...).
    pub name: String,
    /// Clock rate.
    pub clock: u32,
    /// Channels (audio), 1 when absent.
    pub channels: u8,
    /// `a=fmtp` parameters as written.
    pub fmtp: String,
    /// `a=rtcp-fb` values for this payload type (and `*`).
    pub rtcp_fb: Vec<String>,
}

impl Codec {
    /// A format parameter (`profile-level-id`, `apt`...).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.fmtp
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
    }
}

/// A simulcast layer id offered with `a=rid:<id> send`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RidDesc {
    /// The rid.
    pub rid: String,
    /// `send` (the offerer sends this layer) or `recv`.
    pub send: bool,
}

/// What an offer says about one m-line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedMedia {
    /// Index of the m-line.
    pub index: usize,
    /// `a=mid`.
    pub mid: Option<String>,
    /// Audio or video; `None` for other kinds (data channels...).
    pub kind: Option<Kind>,
    /// The m-line as written.
    pub raw: RawMedia,
    /// Offered direction.
    pub direction: Direction,
    /// RTP payload types in preference order.
    pub codecs: Vec<Codec>,
    /// Header extensions `(id, uri)`.
    pub extmaps: Vec<(u8, String)>,
    /// `a=ssrc` ids in order of first appearance.
    pub ssrcs: Vec<u32>,
    /// `a=ssrc-group` groups `(semantics, ssrcs)`.
    pub ssrc_groups: Vec<(String, Vec<u32>)>,
    /// `a=rid` layers.
    pub rids: Vec<RidDesc>,
    /// `a=msid` stream and track ids.
    pub msid: Option<(String, String)>,
    /// `a=rtcp-rsize` present.
    pub rtcp_rsize: bool,
}

impl OfferedMedia {
    /// Whether the offerer disabled this m-line: port 0 without `a=bundle-only`. An m-line
    /// with port 0 and `a=bundle-only` (RFC 9143 §6; what max-bundle offerers such as GStreamer
    /// webrtcbin write for every m-line after the first) is live and shares the BUNDLE
    /// transport.
    pub fn is_disabled(&self) -> bool {
        self.raw.port == 0 && !self.raw.has("bundle-only")
    }
}

/// What the answerer needs from an offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Remote ICE username fragment.
    pub ice_ufrag: String,
    /// Remote ICE password.
    pub ice_pwd: String,
    /// Remote DTLS fingerprint `(hash function, "AB:CD:..")`.
    pub fingerprint: (String, String),
    /// Offered `a=setup` (actpass, active, passive).
    pub setup: String,
    /// `a=candidate` values (without the `candidate:` prefix removed: full attribute value).
    pub candidates: Vec<String>,
    /// m-lines.
    pub media: Vec<OfferedMedia>,
    /// `a=extmap-allow-mixed` at session level.
    pub extmap_allow_mixed: bool,
}

fn first_in<'a>(sdp: &'a RawSdp, name: &'a str) -> Option<&'a str> {
    sdp.media.iter().find_map(|m| m.value(name)).or_else(|| {
        sdp.attrs
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    })
}

fn parse_codecs(m: &RawMedia) -> Vec<Codec> {
    let mut out = Vec::new();
    for f in &m.fmts {
        let Ok(pt) = f.parse::<u8>() else { continue };
        if pt > 127 {
            continue;
        }
        let prefix = format!("{pt} ");
        let Some(rtpmap) = m.values("rtpmap").find(|v| v.starts_with(&prefix)) else {
            continue;
        };
        let enc = rtpmap[prefix.len()..].trim();
        let mut parts = enc.split('/');
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let clock = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let channels = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
        let fmtp = m
            .values("fmtp")
            .find(|v| v.starts_with(&prefix))
            .map(|v| v[prefix.len()..].trim().to_string())
            .unwrap_or_default();
        let rtcp_fb = m
            .values("rtcp-fb")
            .filter_map(|v| {
                let (p, fb) = v.split_once(' ')?;
                (p == pt.to_string() || p == "*").then(|| fb.trim().to_string())
            })
            .collect();
        out.push(Codec {
            pt,
            name,
            clock,
            channels,
            fmtp,
            rtcp_fb,
        });
    }
    out
}

impl Offer {
    /// Parses an offer.
    pub fn parse(text: &str) -> Result<Offer, SdpError> {
        let raw = RawSdp::parse(text)?;
        let ice_ufrag = first_in(&raw, "ice-ufrag")
            .ok_or(SdpError::Missing("a=ice-ufrag"))?
            .trim()
            .to_string();
        let ice_pwd = first_in(&raw, "ice-pwd")
            .ok_or(SdpError::Missing("a=ice-pwd"))?
            .trim()
            .to_string();
        // RFC 8839 §5.4: ufrag 4–256 characters, password 22–256 (they go into every STUN
        // message the shard writes for this peer).
        if !(4..=256).contains(&ice_ufrag.len()) {
            return Err(SdpError::Missing(
                "a valid a=ice-ufrag (4 to 256 characters)",
            ));
        }
        if !(22..=256).contains(&ice_pwd.len()) {
            return Err(SdpError::Missing(
                "a valid a=ice-pwd (22 to 256 characters)",
            ));
        }
        let fp = first_in(&raw, "fingerprint").ok_or(SdpError::Missing("a=fingerprint"))?;
        let (hash, value) = fp
            .trim()
            .split_once(' ')
            .ok_or(SdpError::Missing("a valid a=fingerprint"))?;
        let setup = first_in(&raw, "setup")
            .unwrap_or("actpass")
            .trim()
            .to_string();
        let extmap_allow_mixed = raw.attrs.iter().any(|a| a.name == "extmap-allow-mixed");
        let mut candidates = Vec::new();
        let mut media = Vec::new();
        for (index, m) in raw.media.iter().enumerate() {
            candidates.extend(m.values("candidate").map(|c| format!("candidate:{c}")));
            let kind = match m.kind.as_str() {
                "audio" => Some(Kind::Audio),
                "video" => Some(Kind::Video),
                _ => None,
            };
            let direction = if m.has("sendonly") {
                Direction::SendOnly
            } else if m.has("recvonly") {
                Direction::RecvOnly
            } else if m.has("inactive") {
                Direction::Inactive
            } else {
                Direction::SendRecv
            };
            let extmaps = m
                .values("extmap")
                .filter_map(|v| {
                    let (id, rest) = v.split_once(' ')?;
                    let id: u8 = id.split('/').next()?.parse().ok()?;
                    let uri = rest.split_ascii_whitespace().next()?.to_string();
                    (1..=255).contains(&id).then_some((id, uri))
                })
                .collect();
            let mut ssrcs = Vec::new();
            for v in m.values("ssrc") {
                if let Some(s) = v.split(' ').next().and_then(|s| s.parse::<u32>().ok())
                    && !ssrcs.contains(&s)
                {
                    ssrcs.push(s);
                }
            }
            let ssrc_groups = m
                .values("ssrc-group")
                .filter_map(|v| {
                    let mut it = v.split_ascii_whitespace();
                    let sem = it.next()?.to_string();
                    let ids: Vec<u32> = it.filter_map(|s| s.parse().ok()).collect();
                    Some((sem, ids))
                })
                .collect();
            let rids = m
                .values("rid")
                .filter_map(|v| {
                    let mut it = v.split_ascii_whitespace();
                    let rid = it.next()?.to_string();
                    let dir = it.next()?;
                    let valid = !rid.is_empty()
                        && rid.len() <= 16
                        && rid
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    valid.then_some(RidDesc {
                        rid,
                        send: dir == "send",
                    })
                })
                .collect();
            let msid = m.value("msid").and_then(|v| {
                let mut it = v.split_ascii_whitespace();
                Some((it.next()?.to_string(), it.next().unwrap_or("").to_string()))
            });
            media.push(OfferedMedia {
                index,
                mid: m.value("mid").map(|s| s.trim().to_string()),
                kind,
                codecs: parse_codecs(m),
                extmaps,
                ssrcs,
                ssrc_groups,
                rids,
                msid,
                rtcp_rsize: m.has("rtcp-rsize"),
                direction,
                raw: m.clone(),
            });
        }
        Ok(Offer {
            ice_ufrag,
            ice_pwd,
            fingerprint: (hash.to_string(), value.trim().to_string()),
            setup,
            candidates,
            media,
            extmap_allow_mixed,
        })
    }

    /// The m-line with this mid.
    pub fn media_by_mid(&self, mid: &str) -> Option<&OfferedMedia> {
        self.media.iter().find(|m| m.mid.as_deref() == Some(mid))
    }
}

/// Transport parameters shared by every accepted m-line of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerTransport {
    /// Local ICE ufrag.
    pub ice_ufrag: String,
    /// Local ICE password.
    pub ice_pwd: String,
    /// `sha-256 AB:CD:...`.
    pub fingerprint: String,
    /// `passive` or `active`; `actpass` when we offer.
    pub setup: &'static str,
    /// Write `a=ice-lite` (when we offer: the peer, a full agent, then controls).
    pub ice_lite: bool,
    /// Candidate attribute values (`candidate:...`).
    pub candidates: Vec<String>,
}

/// The answerer's decision for one offered m-line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerMedia {
    /// Refuse the m-line (port 0, out of the BUNDLE group).
    Rejected,
    /// Accept it.
    Accepted(AcceptedMedia),
}

/// An accepted m-line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedMedia {
    /// Our direction.
    pub direction: Direction,
    /// Chosen codecs (payload types from the offer), first = primary.
    pub codecs: Vec<Codec>,
    /// rtcp-fb values kept.
    pub rtcp_fb: Vec<String>,
    /// Header extensions kept `(id, uri)`.
    pub extmaps: Vec<(u8, String)>,
    /// For m-lines we send on: `(ssrc, cname, stream id, track id)`.
    pub send: Option<(u32, String, String, String)>,
    /// rids we receive (answered `a=rid:<id> recv` + `a=simulcast:recv`).
    pub recv_rids: Vec<String>,
    /// Answer `a=rtcp-rsize`.
    pub rtcp_rsize: bool,
}

/// Writes an answer for `offer` (one decision per offered m-line, in order).
pub fn write_answer(
    offer: &Offer,
    decisions: &[AnswerMedia],
    t: &AnswerTransport,
    session_id: u64,
    version: u64,
) -> String {
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        "v=0\r\no=- {session_id} {version} IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    );
    let bundle: Vec<&str> = offer
        .media
        .iter()
        .zip(decisions)
        .filter(|(_, d)| matches!(d, AnswerMedia::Accepted(_)))
        .filter_map(|(m, _)| m.mid.as_deref())
        .collect();
    if !bundle.is_empty() {
        let _ = write!(s, "a=group:BUNDLE {}\r\n", bundle.join(" "));
    }
    if offer.extmap_allow_mixed {
        s.push_str("a=extmap-allow-mixed\r\n");
    }
    if t.ice_lite {
        s.push_str("a=ice-lite\r\n");
    }
    let streams: Vec<&str> = decisions
        .iter()
        .filter_map(|d| match d {
            AnswerMedia::Accepted(a) => a.send.as_ref().map(|x| x.2.as_str()),
            AnswerMedia::Rejected => None,
        })
        .collect();
    let mut uniq: Vec<&str> = Vec::new();
    for st in streams {
        if !uniq.contains(&st) {
            uniq.push(st);
        }
    }
    let _ = write!(
        s,
        "a=msid-semantic: WMS{}\r\n",
        uniq.iter().map(|x| format!(" {x}")).collect::<String>()
    );
    for (m, d) in offer.media.iter().zip(decisions) {
        match d {
            AnswerMedia::Rejected => {
                let fmts = if m.raw.fmts.is_empty() {
                    "0".to_string()
                } else {
                    m.raw.fmts.join(" ")
                };
                let _ = write!(
                    s,
                    "m={} 0 {} {}\r\nc=IN IP4 0.0.0.0\r\n",
                    m.raw.kind, m.raw.proto, fmts
                );
                if let Some(mid) = &m.mid {
                    let _ = write!(s, "a=mid:{mid}\r\n");
                }
                s.push_str("a=inactive\r\n");
            }
            AnswerMedia::Accepted(a) => {
                let pts: Vec<String> = a.codecs.iter().map(|c| c.pt.to_string()).collect();
                let _ = write!(
                    s,
                    "m={} 9 {} {}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
                    m.raw.kind,
                    m.raw.proto,
                    pts.join(" ")
                );
                for c in &t.candidates {
                    let _ = write!(s, "a={c}\r\n");
                }
                if !t.candidates.is_empty() {
                    s.push_str("a=end-of-candidates\r\n");
                }
                let _ = write!(
                    s,
                    "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{}\r\na=setup:{}\r\n",
                    t.ice_ufrag, t.ice_pwd, t.fingerprint, t.setup
                );
                if let Some(mid) = &m.mid {
                    let _ = write!(s, "a=mid:{mid}\r\n");
                }
                for (id, uri) in &a.extmaps {
                    let _ = write!(s, "a=extmap:{id} {uri}\r\n");
                }
                let _ = write!(s, "a={}\r\n", a.direction.as_str());
                if let Some((_, _, stream, track)) = &a.send {
                    let _ = write!(s, "a=msid:{stream} {track}\r\n");
                }
                s.push_str("a=rtcp-mux\r\n");
                if a.rtcp_rsize {
                    s.push_str("a=rtcp-rsize\r\n");
                }
                for c in &a.codecs {
                    if c.channels > 1 {
                        let _ = write!(
                            s,
                            "a=rtpmap:{} {}/{}/{}\r\n",
                            c.pt,
                            codec_name(&c.name),
                            c.clock,
                            c.channels
                        );
                    } else {
                        let _ = write!(
                            s,
                            "a=rtpmap:{} {}/{}\r\n",
                            c.pt,
                            codec_name(&c.name),
                            c.clock
                        );
                    }
                    for fb in c.rtcp_fb.iter().filter(|fb| a.rtcp_fb.contains(fb)) {
                        let _ = write!(s, "a=rtcp-fb:{} {fb}\r\n", c.pt);
                    }
                    if !c.fmtp.is_empty() {
                        let _ = write!(s, "a=fmtp:{} {}\r\n", c.pt, c.fmtp);
                    }
                }
                if !a.recv_rids.is_empty() {
                    for r in &a.recv_rids {
                        let _ = write!(s, "a=rid:{r} recv\r\n");
                    }
                    let _ = write!(s, "a=simulcast:recv {}\r\n", a.recv_rids.join(";"));
                }
                if let Some((ssrc, cname, stream, track)) = &a.send {
                    let _ = write!(
                        s,
                        "a=ssrc:{ssrc} cname:{cname}\r\na=ssrc:{ssrc} msid:{stream} {track}\r\n"
                    );
                }
            }
        }
    }
    s
}

/// The encoding name as browsers write it.
fn codec_name(lower: &str) -> String {
    match lower {
        "opus" => "opus".into(),
        "vp8" => "VP8".into(),
        "vp9" => "VP9".into(),
        "h264" => "H264".into(),
        "h265" => "H265".into(),
        "av1" => "AV1".into(),
        "pcmu" => "PCMU".into(),
        "pcma" => "PCMA".into(),
        "g722" => "G722".into(),
        "red" => "red".into(),
        "rtx" => "rtx".into(),
        "telephone-event" => "telephone-event".into(),
        other => other.to_string(),
    }
}
