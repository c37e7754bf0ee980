//! Per-m-line decisions for an answer (OWT §5.7 rules, simplified to one codec per m-line):
//! which codec a publisher sends, which payload type carries a forwarded source to a
//! subscriber, which RTCP feedback and header extensions are kept.

use tessera_rtp::ext as x;
use tessera_schema::control::{TrackFormat, TrackKind};
use tessera_schema::media::{AudioCodec, AudioFormat, H264Profile, VideoCodec, VideoFormat};
use tessera_sfu::Codec as SfuCodec;

use tessera_schema::sdp::{AcceptedMedia, Codec, Direction, Kind, OfferedMedia};

/// RTCP feedback kept for publishers' video.
const PUB_VIDEO_FB: &[&str] = &["nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"];
/// RTCP feedback kept for subscribers' video (receive-side estimation through REMB).
const SUB_VIDEO_FB: &[&str] = &["nack", "nack pli", "ccm fir", "goog-remb"];

/// Header extensions we read from publishers, by kind.
fn pub_extension(kind: Kind, uri: &str) -> bool {
    match kind {
        Kind::Audio => [x::URI_AUDIO_LEVEL, x::URI_MID, x::URI_ABS_SEND_TIME].contains(&uri),
        Kind::Video => [
            x::URI_MID,
            x::URI_RTP_STREAM_ID,
            x::URI_ABS_SEND_TIME,
            x::URI_TRANSPORT_CC,
            x::URI_VIDEO_ORIENTATION,
            x::URI_TOFFSET,
        ]
        .contains(&uri),
    }
}

/// Header extensions we write to subscribers, by kind.
fn sub_extension(kind: Kind, uri: &str) -> bool {
    match kind {
        Kind::Audio => [x::URI_AUDIO_LEVEL, x::URI_MID, x::URI_ABS_SEND_TIME].contains(&uri),
        Kind::Video => [x::URI_MID, x::URI_ABS_SEND_TIME, x::URI_VIDEO_ORIENTATION].contains(&uri),
    }
}

/// Extension ids negotiated on an m-line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtIds {
    /// ssrc-audio-level.
    pub audio_level: Option<u8>,
    /// sdes:mid.
    pub mid: Option<u8>,
    /// sdes:rtp-stream-id.
    pub rid: Option<u8>,
    /// abs-send-time.
    pub abs_send_time: Option<u8>,
    /// transport-wide-cc.
    pub transport_cc: Option<u8>,
    /// video-orientation.
    pub video_orientation: Option<u8>,
}

impl ExtIds {
    fn from(extmaps: &[(u8, String)]) -> ExtIds {
        let id = |uri: &str| extmaps.iter().find(|(_, u)| u == uri).map(|(i, _)| *i);
        ExtIds {
            audio_level: id(x::URI_AUDIO_LEVEL),
            mid: id(x::URI_MID),
            rid: id(x::URI_RTP_STREAM_ID),
            abs_send_time: id(x::URI_ABS_SEND_TIME),
            transport_cc: id(x::URI_TRANSPORT_CC),
            video_orientation: id(x::URI_VIDEO_ORIENTATION),
        }
    }
}

/// RTCP feedback negotiated for the chosen codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Generic NACK.
    pub nack: bool,
    /// PLI.
    pub pli: bool,
    /// FIR.
    pub fir: bool,
    /// REMB.
    pub remb: bool,
    /// Transport-wide CC feedback.
    pub transport_cc: bool,
}

impl Feedback {
    fn from(fb: &[String]) -> Feedback {
        let has = |s: &str| fb.iter().any(|f| f == s);
        Feedback {
            nack: has("nack"),
            pli: has("nack pli"),
            fir: has("ccm fir"),
            remb: has("goog-remb"),
            transport_cc: has("transport-cc"),
        }
    }
}

/// A publisher's m-line as negotiated.
#[derive(Clone, Debug, PartialEq)]
pub struct PubMid {
    /// mid.
    pub mid: String,
    /// Kind.
    pub kind: TrackKind,
    /// Payload type.
    pub pt: u8,
    /// Codec.
    pub codec: SfuCodec,
    /// Clock rate.
    pub clock_rate: u32,
    /// Format as OWT reports it.
    pub format: TrackFormat,
    /// Feedback we may send to the publisher.
    pub fb: Feedback,
    /// Extension ids in the publisher's packets.
    pub ext: ExtIds,
    /// Simulcast rids in the order the offer lists them.
    pub rids: Vec<String>,
    /// SSRCs announced in the offer (first = primary; `SIM` groups give layer order).
    pub ssrcs: Vec<u32>,
}

/// A subscriber's m-line as negotiated.
#[derive(Clone, Debug, PartialEq)]
pub struct SubMid {
    /// mid.
    pub mid: String,
    /// Kind.
    pub kind: TrackKind,
    /// Payload type the source's codec has on this m-line.
    pub pt: u8,
    /// Feedback the subscriber will send us.
    pub fb: Feedback,
    /// Extension ids we write.
    pub ext: ExtIds,
    /// Our SSRC.
    pub ssrc: u32,
}

fn kind_of(k: Kind) -> TrackKind {
    match k {
        Kind::Audio => TrackKind::Audio,
        Kind::Video => TrackKind::Video,
    }
}

/// OWT's reading of an H.264 `profile-level-id` (§5.7).
pub fn h264_profile(c: &Codec) -> Option<H264Profile> {
    let pli = c.param("profile-level-id")?;
    if pli.len() < 4 {
        return None;
    }
    let idc = u8::from_str_radix(&pli[0..2], 16).ok()?;
    let iop = u8::from_str_radix(&pli[2..4], 16).ok()?;
    Some(match idc {
        0x42 if iop & 0x40 != 0 => H264Profile::CB,
        0x42 => H264Profile::B,
        0x4d if iop & 0x80 != 0 => H264Profile::CB,
        0x4d => H264Profile::M,
        0x58 => H264Profile::E,
        0x64 => H264Profile::H,
        _ => return None,
    })
}

fn profile_rank(p: H264Profile) -> u8 {
    match p {
        H264Profile::CB => 0,
        H264Profile::B | H264Profile::E => 1,
        H264Profile::M => 2,
        H264Profile::H => 3,
    }
}

fn audio_format(c: &Codec, accept: &[AudioFormat]) -> Option<AudioFormat> {
    let codec = match c.name.as_str() {
        "opus" => AudioCodec::Opus,
        "pcmu" => AudioCodec::Pcmu,
        "pcma" => AudioCodec::Pcma,
        "g722" => AudioCodec::G722,
        "isac" => AudioCodec::Isac,
        "ilbc" => AudioCodec::Ilbc,
        _ => return None,
    };
    accept
        .iter()
        .find(|f| {
            f.codec == codec
                && (codec == AudioCodec::G722 || f.sample_rate.is_none_or(|r| r == c.clock))
                && f.channel_num.unwrap_or(1) == (c.channels as u32).max(1)
        })
        .cloned()
}

fn video_format(c: &Codec, accept: &[VideoFormat]) -> Option<VideoFormat> {
    let codec = match c.name.as_str() {
        "vp8" => VideoCodec::Vp8,
        "vp9" => VideoCodec::Vp9,
        "h264" => VideoCodec::H264,
        "h265" => VideoCodec::H265,
        "av1" => VideoCodec::Av1,
        _ => return None,
    };
    if codec == VideoCodec::Vp9 && c.param("profile-id").is_some_and(|p| p != "0") {
        return None;
    }
    if codec == VideoCodec::H264 {
        if c.param("packetization-mode") != Some("1") {
            return None;
        }
        let p = h264_profile(c)?;
        let ok = accept.iter().any(|f| {
            f.codec == VideoCodec::H264
                && f.profile.is_none_or(|q| profile_rank(p) <= profile_rank(q))
        });
        return ok.then_some(VideoFormat::h264(p));
    }
    accept
        .iter()
        .any(|f| f.codec == codec)
        .then_some(VideoFormat::codec(codec))
}

fn accepted(
    m: &OfferedMedia,
    direction: Direction,
    codec: &Codec,
    fb_keep: &[&str],
    keep_ext: impl Fn(&str) -> bool,
    send: Option<(u32, String, String, String)>,
    recv_rids: Vec<String>,
) -> AcceptedMedia {
    let extmaps: Vec<(u8, String)> = m
        .extmaps
        .iter()
        .filter(|(_, u)| keep_ext(u))
        .cloned()
        .collect();
    AcceptedMedia {
        direction,
        codecs: vec![codec.clone()],
        rtcp_fb: codec
            .rtcp_fb
            .iter()
            .filter(|f| fb_keep.contains(&f.as_str()))
            .cloned()
            .collect(),
        extmaps,
        send,
        recv_rids,
        rtcp_rsize: m.rtcp_rsize,
    }
}

/// Accepts a publisher's m-line: the first offered codec the room accepts wins.
pub fn negotiate_publish(
    m: &OfferedMedia,
    mid: &str,
    kind: TrackKind,
    accept_audio: &[AudioFormat],
    accept_video: &[VideoFormat],
) -> Result<(AcceptedMedia, PubMid), String> {
    let k = m
        .kind
        .ok_or_else(|| format!("m-line {mid} is not audio or video"))?;
    if kind_of(k) != kind {
        return Err(format!(
            "m-line {mid} is {} but the publication declared {}",
            k.as_str(),
            kind.as_str()
        ));
    }
    if !matches!(m.direction, Direction::SendOnly | Direction::SendRecv) {
        return Err(format!("m-line {mid} does not send"));
    }
    let mut chosen = None;
    for c in &m.codecs {
        let f = match k {
            Kind::Audio => audio_format(c, accept_audio).map(TrackFormat::Audio),
            Kind::Video => video_format(c, accept_video).map(TrackFormat::Video),
        };
        if let Some(f) = f {
            chosen = Some((c.clone(), f));
            break;
        }
    }
    let (codec, format) = chosen.ok_or_else(|| format!("No proper {} codec", k.as_str()))?;
    let fb_keep: &[&str] = if k == Kind::Video { PUB_VIDEO_FB } else { &[] };
    let rids: Vec<String> = m
        .rids
        .iter()
        .filter(|r| r.send)
        .map(|r| r.rid.clone())
        .collect();
    let answer = accepted(
        m,
        Direction::RecvOnly,
        &codec,
        fb_keep,
        |u| pub_extension(k, u),
        None,
        rids.clone(),
    );
    let ext = ExtIds::from(&answer.extmaps);
    let fb = Feedback::from(&answer.rtcp_fb);
    let mut ssrcs = m.ssrcs.clone();
    if let Some((_, sim)) = m.ssrc_groups.iter().find(|(s, _)| s == "SIM") {
        ssrcs = sim.clone();
    } else if let Some((_, fid)) = m.ssrc_groups.iter().find(|(s, _)| s == "FID") {
        // Without simulcast only the primary SSRC carries media (we never negotiate RTX).
        ssrcs = fid.iter().take(1).copied().collect();
    }
    let pm = PubMid {
        mid: mid.to_string(),
        kind,
        pt: codec.pt,
        codec: SfuCodec::from_name(&codec.name),
        clock_rate: codec.clock,
        format,
        fb,
        ext,
        rids,
        ssrcs,
    };
    Ok((answer, pm))
}

/// Whether offered codec `c` can carry a source negotiated as `src_name` with `src_fmtp`.
fn same_codec(c: &Codec, src_name: &str, src_clock: u32, src: &TrackFormat) -> bool {
    if c.name != src_name || c.clock != src_clock {
        return false;
    }
    match src {
        TrackFormat::Video(VideoFormat {
            codec: VideoCodec::H264,
            profile,
        }) => {
            c.param("packetization-mode") == Some("1")
                && (profile.is_none()
                    || h264_profile(c) == *profile
                    || c.param("level-asymmetry-allowed") == Some("1")
                        && h264_profile(c).is_some_and(|p| Some(p) == *profile))
        }
        TrackFormat::Video(VideoFormat {
            codec: VideoCodec::Vp9,
            ..
        }) => c.param("profile-id").is_none_or(|p| p == "0"),
        _ => true,
    }
}

/// Accepts a subscriber's m-line for a source: the offered payload type of the source's codec.
#[allow(clippy::too_many_arguments)]
pub fn negotiate_subscribe(
    m: &OfferedMedia,
    mid: &str,
    kind: TrackKind,
    src_name: &str,
    src_clock: u32,
    src_format: &TrackFormat,
    ssrc: u32,
    cname: &str,
    stream: &str,
    track: &str,
) -> Result<(AcceptedMedia, SubMid), String> {
    let k = m
        .kind
        .ok_or_else(|| format!("m-line {mid} is not audio or video"))?;
    if kind_of(k) != kind {
        return Err(format!(
            "m-line {mid} is {} but the subscription declared {}",
            k.as_str(),
            kind.as_str()
        ));
    }
    if !matches!(m.direction, Direction::RecvOnly | Direction::SendRecv) {
        return Err(format!("m-line {mid} does not receive"));
    }
    let codec = m
        .codecs
        .iter()
        .find(|c| same_codec(c, src_name, src_clock, src_format))
        .ok_or_else(|| format!("No proper {} codec", k.as_str()))?;
    let fb_keep: &[&str] = if k == Kind::Video { SUB_VIDEO_FB } else { &[] };
    let answer = accepted(
        m,
        Direction::SendOnly,
        codec,
        fb_keep,
        |u| sub_extension(k, u),
        Some((
            ssrc,
            cname.to_string(),
            stream.to_string(),
            track.to_string(),
        )),
        Vec::new(),
    );
    let ext = ExtIds::from(&answer.extmaps);
    let fb = Feedback::from(&answer.rtcp_fb);
    Ok((
        answer,
        SubMid {
            mid: mid.to_string(),
            kind,
            pt: codec.pt,
            fb,
            ext,
            ssrc,
        },
    ))
}

/// Payload types and header extension ids of the offers we write (one set for every m-line,
/// as BUNDLE wants; audio and video payload types do not overlap).
fn offer_codec(format: &TrackFormat) -> (u8, &'static str, u32, u8, String) {
    match format {
        TrackFormat::Audio(a) => match a.codec {
            AudioCodec::Opus => (111, "opus", 48000, 2, "minptime=10;useinbandfec=1".into()),
            AudioCodec::Pcmu => (0, "PCMU", 8000, 1, String::new()),
            AudioCodec::Pcma => (8, "PCMA", 8000, 1, String::new()),
            AudioCodec::G722 => (9, "G722", 8000, 1, String::new()),
            AudioCodec::Isac => (
                103,
                "ISAC",
                a.sample_rate.unwrap_or(16000),
                1,
                String::new(),
            ),
            AudioCodec::Ilbc => (104, "ILBC", 8000, 1, String::new()),
            _ => (0, "", 0, 1, String::new()),
        },
        TrackFormat::Video(v) => match v.codec {
            VideoCodec::Vp8 => (96, "VP8", 90000, 1, String::new()),
            VideoCodec::Vp9 => (98, "VP9", 90000, 1, "profile-id=0".into()),
            VideoCodec::H264 => {
                let pli = match v.profile.unwrap_or(H264Profile::CB) {
                    H264Profile::CB => "42e01f",
                    H264Profile::B => "42001f",
                    H264Profile::M => "4d001f",
                    H264Profile::H => "64001f",
                    H264Profile::E => "58001f",
                };
                (
                    102,
                    "H264",
                    90000,
                    1,
                    format!(
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={pli}"
                    ),
                )
            }
            VideoCodec::H265 => (100, "H265", 90000, 1, String::new()),
            VideoCodec::Av1 => (45, "AV1", 90000, 1, String::new()),
        },
    }
}

const OFFER_EXTMAPS: [(u8, &str); 4] = [
    (1, x::URI_AUDIO_LEVEL),
    (2, x::URI_ABS_SEND_TIME),
    (3, x::URI_VIDEO_ORIENTATION),
    (4, x::URI_MID),
];

/// What a server offer proposes for subscriptions to `tracks` (`(mid, source format)`, in
/// m-line order), written as the receiving side's offer would be: one m-line per track with
/// the source's codec, our RTCP feedback and header extensions. Answered with
/// [`negotiate_subscribe`] like a client's offer, it gives the m-lines of our own offer (the
/// transport's ICE and DTLS attributes replace the placeholders here).
///
/// Each distinct codec (name, clock, channels, fmtp) gets its own payload type: its usual one
/// when free, else the next free dynamic one (BUNDLE forbids one payload type for two codecs).
/// A format with no WebRTC codec is an error.
pub fn offer_template(tracks: &[(&str, &TrackFormat)]) -> Result<String, String> {
    use std::fmt::Write as _;
    let mut s = String::from("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
    let mids: Vec<&str> = tracks.iter().map(|(m, _)| *m).collect();
    let _ = write!(s, "a=group:BUNDLE {}\r\n", mids.join(" "));
    s.push_str("a=ice-ufrag:template\r\na=ice-pwd:templatetemplatetemplate\r\n");
    s.push_str("a=fingerprint:sha-256 00:00\r\na=setup:actpass\r\n");
    let mut used: Vec<(u8, &'static str, u32, u8, String)> = Vec::new();
    for (mid, format) in tracks {
        let (pt, name, clock, channels, fmtp) = offer_codec(format);
        if name.is_empty() {
            return Err(format!("No WebRTC codec for the source of m-line {mid}"));
        }
        let same = |u: &(u8, &str, u32, u8, String)| {
            (u.1, u.2, u.3, u.4.as_str()) == (name, clock, channels, fmtp.as_str())
        };
        let pt = match used.iter().find(|u| same(u)) {
            Some(u) => u.0,
            None if used.iter().all(|u| u.0 != pt) => pt,
            None => (96..=127u8)
                .chain(35..=63)
                .find(|p| used.iter().all(|u| u.0 != *p))
                .ok_or("out of payload types")?,
        };
        if used.iter().all(|u| u.0 != pt) {
            used.push((pt, name, clock, channels, fmtp.clone()));
        }
        let video = matches!(format, TrackFormat::Video(_));
        let kind = if video { Kind::Video } else { Kind::Audio };
        let _ = write!(
            s,
            "m={} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
            kind.as_str()
        );
        if channels > 1 {
            let _ = write!(s, "a=rtpmap:{pt} {name}/{clock}/{channels}\r\n");
        } else {
            let _ = write!(s, "a=rtpmap:{pt} {name}/{clock}\r\n");
        }
        if !fmtp.is_empty() {
            let _ = write!(s, "a=fmtp:{pt} {fmtp}\r\n");
        }
        if video {
            for fb in SUB_VIDEO_FB {
                let _ = write!(s, "a=rtcp-fb:{pt} {fb}\r\n");
            }
        }
        for (id, uri) in OFFER_EXTMAPS {
            if sub_extension(kind, uri) {
                let _ = write!(s, "a=extmap:{id} {uri}\r\n");
            }
        }
    }
    Ok(s)
}

/// Checks a peer's answer m-line against what we offered for a subscription (`ours`, from
/// [`negotiate_subscribe`] on [`offer_template`], with `codec` on our payload type) and
/// returns the subscription as answered: the payload type must be ours with the same codec;
/// RTCP feedback and header extensions are those the answer kept, with our ids.
pub fn check_subscribe_answer(
    m: &OfferedMedia,
    ours: &SubMid,
    codec: &Codec,
) -> Result<SubMid, String> {
    let mid = &ours.mid;
    if m.mid.as_deref() != Some(mid.as_str()) {
        return Err(format!(
            "the answer has m-line {} where the offer has {mid}",
            m.mid.as_deref().unwrap_or("(no mid)")
        ));
    }
    if !matches!(m.direction, Direction::RecvOnly | Direction::SendRecv) {
        return Err(format!("the answer does not receive on m-line {mid}"));
    }
    let answered = m
        .codecs
        .iter()
        .find(|c| c.pt == ours.pt)
        .ok_or_else(|| format!("the answer drops payload type {} on m-line {mid}", ours.pt))?;
    if answered.name != codec.name || answered.clock != codec.clock {
        return Err(format!(
            "the answer maps payload type {} on m-line {mid} to {}/{}, the offer to {}/{}",
            ours.pt, answered.name, answered.clock, codec.name, codec.clock
        ));
    }
    let codec = answered;
    let ext = ExtIds::from(&m.extmaps);
    let same = |answered: Option<u8>, offered: Option<u8>| match answered {
        Some(id) if Some(id) != offered => Err(format!(
            "the answer changes a header extension id on m-line {mid}"
        )),
        a => Ok(a),
    };
    let ext = ExtIds {
        audio_level: same(ext.audio_level, ours.ext.audio_level)?,
        mid: same(ext.mid, ours.ext.mid)?,
        abs_send_time: same(ext.abs_send_time, ours.ext.abs_send_time)?,
        video_orientation: same(ext.video_orientation, ours.ext.video_orientation)?,
        rid: None,
        transport_cc: None,
    };
    let fb_keep: &[&str] = if ours.kind == TrackKind::Video {
        SUB_VIDEO_FB
    } else {
        &[]
    };
    let kept: Vec<String> = codec
        .rtcp_fb
        .iter()
        .filter(|f| fb_keep.contains(&f.as_str()))
        .cloned()
        .collect();
    Ok(SubMid {
        mid: mid.clone(),
        kind: ours.kind,
        pt: ours.pt,
        fb: Feedback::from(&kept),
        ext,
        ssrc: ours.ssrc,
    })
}

/// The SDP encoding name and clock of a negotiated format (for matching subscribers).
pub fn encoding_of(format: &TrackFormat) -> (&'static str, u32) {
    match format {
        TrackFormat::Audio(a) => match a.codec {
            AudioCodec::Opus => ("opus", 48000),
            AudioCodec::Pcmu => ("pcmu", 8000),
            AudioCodec::Pcma => ("pcma", 8000),
            AudioCodec::G722 => ("g722", 8000),
            AudioCodec::Isac => ("isac", a.sample_rate.unwrap_or(16000)),
            AudioCodec::Ilbc => ("ilbc", 8000),
            _ => ("unknown", 0),
        },
        TrackFormat::Video(v) => match v.codec {
            VideoCodec::Vp8 => ("vp8", 90000),
            VideoCodec::Vp9 => ("vp9", 90000),
            VideoCodec::H264 => ("h264", 90000),
            VideoCodec::H265 => ("h265", 90000),
            VideoCodec::Av1 => ("av1", 90000),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_schema::sdp::Offer;

    fn h264(p: H264Profile) -> TrackFormat {
        TrackFormat::Video(VideoFormat::h264(p))
    }

    /// The template's m-line `i` answered as a subscription to `format` (what the shard does).
    fn subscribed(offer: &Offer, i: usize, format: &TrackFormat) -> (AcceptedMedia, SubMid) {
        let (name, clock) = encoding_of(format);
        let kind = match format {
            TrackFormat::Audio(_) => TrackKind::Audio,
            TrackFormat::Video(_) => TrackKind::Video,
        };
        let mid = offer.media[i].mid.clone().unwrap();
        negotiate_subscribe(
            &offer.media[i],
            &mid,
            kind,
            name,
            clock,
            format,
            7,
            "cname",
            "stream",
            "track",
        )
        .unwrap()
    }

    /// Payload types of the template's m-lines, in order.
    fn pts(sdp: &str) -> Vec<u8> {
        Offer::parse(sdp)
            .unwrap()
            .media
            .iter()
            .map(|m| m.codecs[0].pt)
            .collect()
    }

    #[test]
    fn the_template_gives_each_distinct_codec_its_own_payload_type() {
        let cb = h264(H264Profile::CB);
        let high = h264(H264Profile::H);
        let opus = TrackFormat::Audio(AudioFormat::OPUS);
        let sdp = offer_template(&[("0", &opus), ("1", &cb), ("2", &high), ("3", &cb)]).unwrap();
        assert_eq!(pts(&sdp), vec![111, 102, 96, 102], "{sdp}");
        assert!(sdp.contains(
            "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"
        ));
        assert!(sdp.contains("a=group:BUNDLE 0 1 2 3"));
        assert!(sdp.contains("a=rtpmap:111 opus/48000/2"));
        // Every template m-line is one a subscriber would offer, answerable by the usual path.
        let offer = Offer::parse(&sdp).unwrap();
        let (_, sm) = subscribed(&offer, 2, &high);
        assert_eq!(sm.pt, 96);
    }

    #[test]
    fn a_source_without_a_webrtc_codec_has_no_template() {
        let aac = TrackFormat::Audio(AudioFormat::new(AudioCodec::Aac, Some(48000), Some(2)));
        assert!(offer_template(&[("0", &aac)]).is_err());
    }

    #[test]
    fn an_answer_must_keep_our_codec_on_our_payload_type() {
        let vp8 = TrackFormat::Video(VideoFormat::codec(VideoCodec::Vp8));
        let sdp = offer_template(&[("0", &vp8)]).unwrap();
        let offer = Offer::parse(&sdp).unwrap();
        let (accepted, ours) = subscribed(&offer, 0, &vp8);
        let codec = &accepted.codecs[0];
        let same = check_subscribe_answer(&offer.media[0], &ours, codec).unwrap();
        assert_eq!((same.pt, same.fb.nack, same.ext.mid), (96, true, Some(4)));
        let renamed = sdp.replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP9/90000");
        let other = Offer::parse(&renamed).unwrap();
        let e = check_subscribe_answer(&other.media[0], &ours, codec).unwrap_err();
        assert!(e.contains("vp9/90000"), "{e}");
        let moved = sdp.replace("a=extmap:4 ", "a=extmap:9 ");
        let other = Offer::parse(&moved).unwrap();
        assert!(check_subscribe_answer(&other.media[0], &ours, codec).is_err());
    }
}
