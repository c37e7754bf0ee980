//! WHIP and WHEP requests the server must refuse, each with its documented status and error
//! code, against a real server in-process: missing, malformed, forged and reused tokens and
//! tokens of another room, roles without the permission, wrong content types, unknown rooms
//! and streams, bad SDP, a player's offer sent to WHIP, ICE ufrags around the longest
//! supported, trickled candidates that do not parse, a stream whose publisher has not
//! connected yet (retried with the same token), and sessions ended or patched by another
//! token. No media flows: the offers are real (str0m peers') but the peers never start.

mod common;

use common::{Resp, Rest, test_config};
use reqwest::Method;
use serde_json::json;
use str0m::media::MediaKind;
use tessera_testkit::peer::PeerOffer;

async fn token(rest: &Rest, room: &str, role: &str) -> String {
    common::token(rest, room, "whip", role).await
}

/// A request with `auth` as the Authorization header and `body` of `content_type`.
async fn send(
    rest: &Rest,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<(&str, &str)>,
) -> Resp {
    rest.raw(
        method,
        path,
        auth.map(str::to_string),
        body.map(|(ct, b)| (ct, b.as_bytes().to_vec())),
    )
    .await
}

/// A request with `token` as its Bearer token.
async fn with_token(
    rest: &Rest,
    method: Method,
    path: &str,
    token: &str,
    body: Option<(&str, &str)>,
) -> Resp {
    send(rest, method, path, Some(&bearer(token)), body).await
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// The error's status, code and message.
fn refused(r: &Resp) -> (u16, i64, String) {
    let (status, code) = r.error();
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, code, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_refuse_bad_requests_with_the_documented_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), None);
    let (_dir, server, rest, room) = common::server_with_room(dir, config, "whip-errors").await;
    let other_room = rest
        .post("/v1/rooms", json!({"name": "elsewhere"}))
        .await
        .json()["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let offer = PeerOffer::new(true, &[MediaKind::Audio, MediaKind::Video]);
    let sdp = ("application/sdp", offer.sdp.as_str());
    let whip = format!("/whip/{room}");

    // Authentication: a 401 (code 1101) that names the Bearer scheme.
    for (auth, message) in [
        (None, "Missing Authorization: Bearer <token>"),
        (
            Some("Basic d2hpcDp3aGlw"),
            "Authorization must be Bearer <token>",
        ),
        (Some("Bearer not-a-token"), "Invalid token"),
    ] {
        let r = send(&rest, Method::POST, &whip, auth, Some(sdp)).await;
        assert_eq!(refused(&r), (401, 1101, message.to_string()), "{auth:?}");
        assert_eq!(
            r.headers["www-authenticate"], "Bearer realm=\"tessera\"",
            "{auth:?}"
        );
    }
    // A well-formed token whose signature does not match.
    let t = token(&rest, &room, "presenter").await;
    let mut forged = tessera_auth::token::Token::decode(&t).expect("a token");
    forged.signature = forged.signature.chars().rev().collect();
    let r = with_token(&rest, Method::POST, &whip, &forged.encode(), Some(sdp)).await;
    assert_eq!(
        refused(&r),
        (401, 1101, "Invalid token signature".into()),
        "forged"
    );

    // The content type is checked before the token is taken: the same token works afterwards.
    let r = with_token(
        &rest,
        Method::POST,
        &whip,
        &t,
        Some(("text/plain", &offer.sdp)),
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.text);
    // Unknown room (and a malformed room id): 404, code 1003.
    for path in ["/whip/0123456789abcdef01234567", "/whip/not-a-room"] {
        let r = with_token(&rest, Method::POST, path, &t, Some(sdp)).await;
        assert_eq!(r.error(), (404, 1003), "{path}: {}", r.text);
    }
    // A token for another room is taken and refused; it cannot be used again.
    let r = with_token(
        &rest,
        Method::POST,
        &format!("/whip/{other_room}"),
        &t,
        Some(sdp),
    )
    .await;
    assert_eq!(
        refused(&r),
        (403, 1102, "The token is for another room".into()),
        "{}",
        r.text
    );
    let r = with_token(&rest, Method::POST, &whip, &t, Some(sdp)).await;
    assert_eq!(
        refused(&r),
        (401, 1101, "Invalid token".into()),
        "a used token"
    );

    // Permissions: a viewer may not publish; bad SDP is a 400.
    let viewer = token(&rest, &room, "viewer").await;
    let r = with_token(&rest, Method::POST, &whip, &viewer, Some(sdp)).await;
    assert_eq!(
        refused(&r),
        (403, 1102, "Role 'viewer' may not publish".into())
    );
    let t = token(&rest, &room, "presenter").await;
    let r = with_token(
        &rest,
        Method::POST,
        &whip,
        &t,
        Some(("application/sdp", "v=0\r\nthis is not SDP\r\n")),
    )
    .await;
    assert_eq!(r.error(), (400, 1201), "{}", r.text);
    assert!(r.text.contains("Invalid SDP"), "{}", r.text);
    // An ICE ufrag longer than the ICE agent can put in a STUN USERNAME (RFC 8839 allows
    // 256 characters; with ours and the colon, 111 fit in str0m's 128 bytes): refused, not a
    // panic in the shard (the `signalling` fuzz target found that one).
    let t = token(&rest, &room, "presenter").await;
    let ufrag = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .to_string();
    let with_ufrag = |n: usize| {
        offer.sdp.replace(
            &format!("a=ice-ufrag:{ufrag}"),
            &format!("a=ice-ufrag:{}", "u".repeat(n)),
        )
    };
    let r = with_token(
        &rest,
        Method::POST,
        &whip,
        &t,
        Some(("application/sdp", &with_ufrag(112))),
    )
    .await;
    assert_eq!(r.error(), (400, 1201), "{}", r.text);
    assert!(r.text.contains("at most 111 are supported"), "{}", r.text);
    // 111 fits: published (the peer never connects), then ended.
    let t = token(&rest, &room, "presenter").await;
    let r = with_token(
        &rest,
        Method::POST,
        &whip,
        &t,
        Some(("application/sdp", &with_ufrag(111))),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let fits = r.headers["location"].to_str().unwrap().to_string();
    let r = with_token(&rest, Method::DELETE, &fits, &t, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Above the body limit (64 KiB in the tests' configuration).
    let t = token(&rest, &room, "presenter").await;
    let huge = format!("{}{}", offer.sdp, "a=x-padding\r\n".repeat(6000));
    let r = with_token(
        &rest,
        Method::POST,
        &whip,
        &t,
        Some(("application/sdp", &huge)),
    )
    .await;
    assert_eq!(r.error(), (413, 1201), "{}", r.text);

    // A publication that never connects: the WHIP answer names the stream at once, but a
    // player is told to retry (503, Retry-After) until the publisher connects, and an unknown
    // stream is a 404 (code 1004).
    let t = token(&rest, &room, "presenter").await;
    let r = with_token(&rest, Method::POST, &whip, &t, Some(sdp)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let location = r.headers["location"].to_str().unwrap().to_string();
    let stream = location.rsplit('/').next().unwrap().to_string();
    let player = PeerOffer::new(false, &[MediaKind::Audio, MediaKind::Video]);
    let play = ("application/sdp", player.sdp.as_str());
    let whep = format!("/whep/{room}/{stream}");
    let v = token(&rest, &room, "viewer").await;
    let r = with_token(&rest, Method::POST, &whep, &v, Some(play)).await;
    assert_eq!(r.error(), (503, 1004), "{}", r.text);
    assert_eq!(r.headers["retry-after"], "1");
    // The token was not taken: the retry with it is told the same, not 401.
    let r = with_token(&rest, Method::POST, &whep, &v, Some(play)).await;
    assert_eq!(r.error(), (503, 1004), "the retry: {}", r.text);
    let v = token(&rest, &room, "viewer").await;
    let r = with_token(
        &rest,
        Method::POST,
        &format!("/whep/{room}/nosuchstream"),
        &v,
        Some(play),
    )
    .await;
    assert_eq!(r.error(), (404, 1004), "{}", r.text);
    // A role that may not subscribe.
    let guest_room = rest
        .post(
            "/v1/rooms",
            json!({"name": "no-viewers", "options": {"roles": [
                {"role": "presenter", "publish": {"audio": true, "video": true},
                 "subscribe": {"audio": false, "video": false}}]}}),
        )
        .await;
    assert_eq!(guest_room.status, 200, "{}", guest_room.text);
    let guest_room = guest_room.json()["_id"].as_str().unwrap().to_string();
    let p = token(&rest, &guest_room, "presenter").await;
    let r = with_token(
        &rest,
        Method::POST,
        &format!("/whep/{guest_room}/{stream}"),
        &p,
        Some(play),
    )
    .await;
    assert_eq!(
        refused(&r),
        (403, 1102, "Role 'presenter' may not subscribe".into())
    );

    // An offer in the wrong direction: a player's offer to WHIP.
    let t2 = token(&rest, &room, "presenter").await;
    let r = with_token(&rest, Method::POST, &whip, &t2, Some(play)).await;
    assert_eq!(r.error(), (400, 1201), "{}", r.text);
    assert!(r.text.contains("no audio or video"), "{}", r.text);
    // Trickled candidates on the publication: a good one is taken (204), one that does not
    // parse is a 400, and another token's a 403.
    let frag = |c: &str| format!("a=ice-ufrag:x\r\na=candidate:{c}\r\n");
    let good = frag("1 1 udp 2130706431 127.0.0.1 5999 typ host");
    let trickle = "application/trickle-ice-sdpfrag";
    let r = with_token(&rest, Method::PATCH, &location, &t, Some((trickle, &good))).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let bad = frag("1 1 udp nonsense");
    let r = with_token(&rest, Method::PATCH, &location, &t, Some((trickle, &bad))).await;
    assert_eq!(r.error(), (400, 1201), "{}", r.text);
    let r = with_token(&rest, Method::PATCH, &location, &v, Some((trickle, &good))).await;
    assert_eq!(r.error(), (403, 1102), "{}", r.text);

    // Ending the session: another token is refused (403), an unknown session is a 404, the
    // owner's DELETE ends it (200), and then it is gone.
    let r = with_token(&rest, Method::DELETE, &location, &v, None).await;
    assert_eq!(r.error(), (403, 1102), "{}", r.text);
    let r = with_token(
        &rest,
        Method::DELETE,
        &format!("/whip/{room}/nosuchsession"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = send(&rest, Method::DELETE, &location, None, None).await;
    assert_eq!(r.error(), (401, 1101), "DELETE without a token");
    let r = with_token(&rest, Method::DELETE, &location, &t, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = with_token(&rest, Method::DELETE, &location, &t, None).await;
    assert_eq!(r.status, 404, "a second DELETE: {}", r.text);
    let v = token(&rest, &room, "viewer").await;
    let r = with_token(&rest, Method::POST, &whep, &v, Some(play)).await;
    assert_eq!(r.error(), (404, 1004), "after DELETE: {}", r.text);

    // A browser on another origin may call these endpoints and read the Location.
    let r = send(&rest, Method::OPTIONS, &whip, None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let allowed = r.headers["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    let exposed = r.headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("location"), "{exposed}");
    server.shutdown().await;
}
