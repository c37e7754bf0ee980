//! SDP from clients (`tessera_schema::sdp::Offer::parse`: offers, and answers to the server's
//! offers) and what the shard does with it (`tessera_webrtc::negotiate`): never panics; an
//! answer written for a parsed offer parses back with the same m-lines; a client answer that
//! `check_subscribe_answer` accepts keeps the offered payload type and only offered extension
//! ids. The first byte picks the roles the m-lines are negotiated for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_schema::control::{TrackFormat, TrackKind};
use tessera_schema::media::{AudioFormat, H264Profile, VideoCodec, VideoFormat};
use tessera_schema::sdp::{AnswerMedia, AnswerTransport, Kind, Offer, write_answer};
use tessera_webrtc::negotiate;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(offer) = Offer::parse(text) else {
        return;
    };
    let video = [
        TrackFormat::Video(VideoFormat::codec(VideoCodec::Vp8)),
        TrackFormat::Video(VideoFormat::h264(H264Profile::CB)),
        TrackFormat::Video(VideoFormat::codec(VideoCodec::Vp9)),
    ][pick as usize % 3]
        .clone();
    let audio = TrackFormat::Audio(AudioFormat::OPUS);
    let media_in = tessera_schema::room::default_media_in();
    // Our template and what we would send for it, per kind: answers are checked against them.
    let ours = |format: &TrackFormat, kind: TrackKind| {
        let template = negotiate::offer_template(&[("0", format)]).expect("a WebRTC codec");
        let t = Offer::parse(&template).expect("the template parses");
        let (name, clock) = negotiate::encoding_of(format);
        negotiate::negotiate_subscribe(
            &t.media[0], "0", kind, name, clock, format, 7, "c", "s", "t",
        )
        .expect("the template answers itself")
    };
    let (a_acc, a_sub) = ours(&audio, TrackKind::Audio);
    let (v_acc, v_sub) = ours(&video, TrackKind::Video);
    let mut decisions = Vec::new();
    for (i, m) in offer.media.iter().enumerate() {
        let mid = m.mid.clone().unwrap_or_default();
        let (kind, format, acc, sub) = match m.kind {
            Some(Kind::Audio) => (TrackKind::Audio, &audio, &a_acc, &a_sub),
            Some(Kind::Video) => (TrackKind::Video, &video, &v_acc, &v_sub),
            None => {
                decisions.push(AnswerMedia::Rejected);
                continue;
            }
        };
        // As an answer to our offer.
        let mut answered_sub = sub.clone();
        answered_sub.mid = mid.clone();
        if let Ok(sm) = negotiate::check_subscribe_answer(m, &answered_sub, &acc.codecs[0]) {
            assert_eq!(sm.pt, sub.pt);
            for (got, offered) in [
                (sm.ext.mid, sub.ext.mid),
                (sm.ext.abs_send_time, sub.ext.abs_send_time),
                (sm.ext.audio_level, sub.ext.audio_level),
                (sm.ext.video_orientation, sub.ext.video_orientation),
            ] {
                assert!(got.is_none() || got == offered);
            }
        }
        // As a client offer: publish or subscribe, by the pick byte and the m-line's place.
        let decision = if (pick >> 2).wrapping_add(i as u8) % 2 == 0 {
            negotiate::negotiate_publish(m, &mid, kind, &media_in.audio, &media_in.video)
                .map(|(a, _)| a)
        } else {
            let (name, clock) = negotiate::encoding_of(format);
            negotiate::negotiate_subscribe(m, &mid, kind, name, clock, format, 9, "c", "s", "t")
                .map(|(a, _)| a)
        };
        decisions.push(match decision {
            Ok(a) if m.mid.is_some() => AnswerMedia::Accepted(a),
            _ => AnswerMedia::Rejected,
        });
    }
    let t = AnswerTransport {
        ice_ufrag: "ufrag".into(),
        ice_pwd: "p".repeat(24),
        fingerprint: "sha-256 AA:BB".into(),
        setup: "passive",
        ice_lite: pick & 1 == 1,
        candidates: vec!["candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into()],
    };
    let answer = write_answer(&offer, &decisions, &t, 1, 1);
    if decisions.iter().any(|d| matches!(d, AnswerMedia::Accepted(_))) {
        let back = Offer::parse(&answer)
            .unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{answer}"));
        assert_eq!(back.media.len(), offer.media.len(), "{answer}");
    }
});
