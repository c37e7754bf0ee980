//! SDP offers as clients write them, and answers that parse back.

use tessera_schema::sdp::{
    AcceptedMedia, AnswerMedia, AnswerTransport, Direction, Kind, Offer, RawSdp, SdpError,
    write_answer,
};

fn chrome() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chrome_like_publish.sdp"
    ))
    .unwrap()
}

#[test]
fn parses_a_browser_offer() {
    let o = Offer::parse(&chrome()).unwrap();
    assert_eq!(o.ice_ufrag, "abcd");
    assert_eq!(o.fingerprint.0, "sha-256");
    assert_eq!(o.setup, "actpass");
    assert_eq!(o.media.len(), 2);
    let a = &o.media[0];
    assert_eq!(
        (a.mid.as_deref(), a.kind, a.direction),
        (Some("0"), Some(Kind::Audio), Direction::SendOnly)
    );
    assert_eq!(a.codecs[0].name, "opus");
    assert_eq!((a.codecs[0].clock, a.codecs[0].channels), (48000, 2));
    assert_eq!(a.ssrcs, vec![1111]);
    let v = &o.media[1];
    assert_eq!(
        v.codecs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["vp8", "rtx", "vp9", "rtx", "h264", "rtx", "av1", "rtx"]
    );
    assert_eq!(v.codecs[4].param("profile-level-id"), Some("42e01f"));
    assert!(v.codecs[0].rtcp_fb.contains(&"nack pli".to_string()));
    assert_eq!(v.ssrc_groups[0], ("FID".to_string(), vec![2222, 3333]));
    assert!(
        v.extmaps
            .iter()
            .any(|(id, u)| *id == 3 && u.contains("transport-wide-cc"))
    );
}

#[test]
fn answers_round_trip() {
    let o = Offer::parse(&chrome()).unwrap();
    let t = AnswerTransport {
        ice_ufrag: "srv1".into(),
        ice_pwd: "p".repeat(24),
        fingerprint: "sha-256 AA:BB".into(),
        setup: "passive",
        ice_lite: false,
        candidates: vec!["candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into()],
    };
    let audio = AcceptedMedia {
        direction: Direction::RecvOnly,
        codecs: vec![o.media[0].codecs[0].clone()],
        rtcp_fb: vec![],
        extmaps: vec![(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level".into())],
        send: None,
        recv_rids: vec![],
        rtcp_rsize: false,
    };
    let answer = write_answer(
        &o,
        &[AnswerMedia::Accepted(audio), AnswerMedia::Rejected],
        &t,
        42,
        2,
    );
    let raw = RawSdp::parse(&answer).unwrap();
    assert_eq!(
        raw.attrs
            .iter()
            .find(|a| a.name == "group")
            .and_then(|a| a.value.clone())
            .as_deref(),
        Some("BUNDLE 0")
    );
    assert_eq!(raw.media[0].port, 9);
    assert!(raw.media[0].has("recvonly"));
    assert_eq!(raw.media[0].value("setup"), Some("passive"));
    assert_eq!(raw.media[0].values("candidate").count(), 1);
    assert_eq!(raw.media[1].port, 0, "rejected m-lines get port 0");
    assert!(answer.contains("a=rtpmap:111 opus/48000/2\r\n"));
}

#[test]
fn bad_offers_are_named_errors() {
    assert_eq!(Offer::parse("v=0\r\n"), Err(SdpError::NoMedia));
    assert!(matches!(
        Offer::parse("garbage"),
        Err(SdpError::Syntax(1, _))
    ));
    assert_eq!(Offer::parse(&"a".repeat(70_000)), Err(SdpError::TooLarge));
    assert_eq!(
        Offer::parse("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"),
        Err(SdpError::Missing("a=ice-ufrag"))
    );
    // ICE credentials outside RFC 8839's lengths.
    let short_ufrag = chrome().replace("a=ice-ufrag:abcd", "a=ice-ufrag:abc");
    assert_eq!(
        Offer::parse(&short_ufrag),
        Err(SdpError::Missing(
            "a valid a=ice-ufrag (4 to 256 characters)"
        ))
    );
    let long_ufrag = chrome().replace(
        "a=ice-ufrag:abcd",
        &format!("a=ice-ufrag:{}", "u".repeat(257)),
    );
    assert!(Offer::parse(&long_ufrag).is_err());
    let pwd = Offer::parse(&chrome()).unwrap().ice_pwd;
    let short_pwd = chrome().replace(&pwd, &pwd[..21]);
    assert_eq!(
        Offer::parse(&short_pwd),
        Err(SdpError::Missing(
            "a valid a=ice-pwd (22 to 256 characters)"
        ))
    );
}

proptest::proptest! {
    #[test]
    fn parsing_never_panics(s in "\\PC{0,400}") {
        let _ = Offer::parse(&s);
    }

    #[test]
    fn mutated_offers_never_panic(cut in 0usize..3000, junk in "[a-z=:0-9 \r\n]{0,40}") {
        let mut text = chrome();
        let at = cut.min(text.len());
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = Offer::parse(&text);
    }
}

/// GStreamer webrtcbin with max-bundle offers every m-line after the first with port 0 and
/// `a=bundle-only`: those are live m-lines, not disabled ones (regression: the server answered
/// its audio as rejected, and webrtcbin refused the answer for lacking a fingerprint there).
#[test]
fn bundle_only_m_lines_with_port_0_are_not_disabled() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webrtcbin_publish.sdp"
    ))
    .unwrap();
    let o = Offer::parse(&text).unwrap();
    assert_eq!(o.media.len(), 2);
    assert_eq!(o.media[1].raw.port, 0);
    assert_eq!(o.media[1].kind, Some(Kind::Audio));
    assert!(!o.media[0].is_disabled());
    assert!(!o.media[1].is_disabled(), "bundle-only is not disabled");
    assert!(o.media[0].ssrcs.len() == 1 && o.media[0].extmaps.is_empty());

    let disabled = text.replace("a=bundle-only\n", "");
    let o = Offer::parse(&disabled).unwrap();
    assert!(
        o.media[1].is_disabled(),
        "port 0 without bundle-only is disabled"
    );
}
