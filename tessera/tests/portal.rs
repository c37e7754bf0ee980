//! The portal's protocol (owt-compat-spec.md §3) with a real server in-process: login answers
//! and token rules, user-agent and protocol checks, permissions, relogin with a reconnection
//! ticket, clients that vanish without logging out, and a subscriber told when the stream it
//! subscribed to is unpublished. Real WebRTC where media is needed (str0m peers on loopback).

mod common;

use std::time::Duration;

use common::{Rest, metric, test_config, token};
use serde_json::{Value, json};
use tessera::server::Server;
use tessera_auth::token::Token;
use tessera_schema::ObjectId;
use tessera_schema::records::{Origin, TokenRecord};
use tessera_testkit::peer::PeerOffer;
use tessera_testkit::sio::SioClient;

fn login_data(token: &str, sdk: &str) -> Value {
    json!({"token": token, "userAgent": {"sdk": {"type": sdk, "version": "5.1"}}, "protocol": "1.2"})
}

async fn setup() -> (tempfile::TempDir, Server, Rest, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), None);
    common::server_with_room(dir, config, "portal").await
}

async fn client(server: &Server) -> SioClient {
    SioClient::connect(server.portal_addr).await.unwrap()
}

/// Logs in and returns the login result (panics on an error ack).
async fn login(c: &mut SioClient, token: &str, sdk: &str) -> Value {
    let ack = c
        .request("login", Some(login_data(token, sdk)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "login: {ack:?}");
    ack[1].clone()
}

/// A portal client logged in, as the JavaScript SDK, with a fresh token for `user` in `role`.
async fn joined(server: &Server, rest: &Rest, room: &str, user: &str, role: &str) -> SioClient {
    let mut c = client(server).await;
    login(&mut c, &token(rest, room, user, role).await, "JavaScript").await;
    c
}

fn error_of(ack: &[Value]) -> &str {
    assert_eq!(ack[0], "error", "expected an error, got {ack:?}");
    ack[1].as_str().unwrap()
}

async fn participants(rest: &Rest, room: &str) -> Vec<String> {
    rest.get(&format!("/v1/rooms/{room}/participants"))
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn login_answers_like_owt_and_announces_participants() {
    let (_dir, server, rest, room) = setup().await;
    let mut alice = client(&server).await;
    let info = login(
        &mut alice,
        &token(&rest, &room, "alice", "presenter").await,
        "JavaScript",
    )
    .await;
    let keys: Vec<&str> = info
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "user",
            "role",
            "permission",
            "room",
            "reconnectionTicket"
        ]
    );
    assert_eq!(
        info["id"],
        alice.sid.as_str(),
        "the participant id is the socket id"
    );
    assert_eq!(
        (info["user"].as_str(), info["role"].as_str()),
        (Some("alice"), Some("presenter"))
    );
    assert_eq!(
        info["permission"],
        json!({"publish": {"audio": true, "video": true}, "subscribe": {"audio": true, "video": true}})
    );
    assert_eq!(info["room"]["id"], room.as_str());
    assert_eq!(info["room"]["views"], json!(["common"]));
    assert_eq!(
        info["room"]["participants"],
        json!([{"id": info["id"], "user": "alice", "role": "presenter"}])
    );
    assert_eq!(info["room"]["streams"], json!([]));

    let mut bob = client(&server).await;
    let binfo = login(
        &mut bob,
        &token(&rest, &room, "bob", "viewer").await,
        "Python",
    )
    .await;
    assert!(
        binfo.get("reconnectionTicket").is_none(),
        "no ticket for SDKs that do not reconnect"
    );
    assert_eq!(binfo["room"]["participants"].as_array().unwrap().len(), 2);
    let (_, joined) = alice
        .wait_for(Duration::from_secs(5), |e, _| e == "participant")
        .await
        .unwrap();
    assert_eq!(
        joined,
        json!({"action": "join", "data": {"id": binfo["id"], "user": "bob", "role": "viewer"}})
    );
    assert_eq!(participants(&rest, &room).await.len(), 2);

    let again = bob
        .request("login", Some(login_data("x", "Python")))
        .await
        .unwrap();
    assert_eq!(error_of(&again), "Connection is in service");
    let out = bob.request("logout", None).await.unwrap();
    assert_eq!(out[0], "ok");
    let (_, left) = alice
        .wait_for(Duration::from_secs(5), |e, _| e == "participant")
        .await
        .unwrap();
    assert_eq!(left, json!({"action": "leave", "data": binfo["id"]}));
    assert_eq!(
        participants(&rest, &room).await,
        vec![info["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(
        error_of(&bob.request("logout", None).await.unwrap()),
        "Illegal request"
    );

    // Deleting a participant over REST drops its client.
    let pid = info["id"].as_str().unwrap().to_string();
    let d = rest
        .delete(&format!("/v1/rooms/{room}/participants/{pid}"))
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let (e, data) = alice
        .wait_for(Duration::from_secs(5), |e, _| e == "drop")
        .await
        .unwrap();
    assert_eq!((e.as_str(), data), ("drop", Value::Null));
    alice
        .wait_for(Duration::from_secs(5), |e, _| {
            e == "#disconnect" || e == "#closed"
        })
        .await
        .expect("disconnected after drop");
    assert!(participants(&rest, &room).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn tokens_are_signed_single_use_fresh_and_for_this_portal() {
    let (_dir, server, rest, room) = setup().await;
    let mut c = client(&server).await;
    let good = token(&rest, &room, "u", "presenter").await;
    let mut other = client(&server).await;
    login(&mut other, &good, "JavaScript").await;
    // Reused.
    assert_eq!(
        error_of(
            &c.request("login", Some(login_data(&good, "JavaScript")))
                .await
                .unwrap()
        ),
        "Invalid token"
    );
    // Forged signature.
    let mut t = Token::decode(&token(&rest, &room, "u", "presenter").await).unwrap();
    t.signature = tessera_auth::sign::owt_signature("not the key", "x");
    assert_eq!(
        error_of(
            &c.request("login", Some(login_data(&t.encode(), "JavaScript")))
                .await
                .unwrap()
        ),
        "Invalid token signature"
    );
    // Garbage.
    assert_eq!(
        error_of(
            &c.request("login", Some(login_data("%%%", "JavaScript")))
                .await
                .unwrap()
        ),
        "Invalid token"
    );
    // Expired: a record older than three minutes.
    let room_id: ObjectId = room.parse().unwrap();
    let service: ObjectId = server.super_service.id.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let host = format!("127.0.0.1:{}", server.portal_addr.port());
    let old_at = now - 4 * 60 * 1000;
    let old_id = ObjectId::with_timestamp((old_at / 1000) as u32);
    let rec = TokenRecord {
        user: "u".into(),
        role: "presenter".into(),
        room: room_id,
        service,
        creation_date: old_at,
        origin: Origin::default(),
        code: "1".into(),
        secure: false,
        host: host.clone(),
        web_transport_url: None,
        domain: None,
    };
    server.store.insert_token(old_id, &rec).await.unwrap();
    let expired = Token::new(
        &server.token_key,
        old_id.to_hex(),
        host.clone(),
        false,
        None,
    )
    .encode();
    assert_eq!(
        error_of(
            &c.request("login", Some(login_data(&expired, "JavaScript")))
                .await
                .unwrap()
        ),
        "Expired"
    );
    // Minted for another portal.
    let id = ObjectId::new();
    server
        .store
        .insert_token(
            id,
            &TokenRecord {
                host: "10.9.9.9:8080".into(),
                creation_date: now,
                ..rec.clone()
            },
        )
        .await
        .unwrap();
    let elsewhere = Token::new(
        &server.token_key,
        id.to_hex(),
        "10.9.9.9:8080".into(),
        false,
        None,
    )
    .encode();
    assert_eq!(
        error_of(
            &c.request("login", Some(login_data(&elsewhere, "JavaScript")))
                .await
                .unwrap()
        ),
        "Invalid token host"
    );
    // After all that, the same socket still logs in with a good token.
    login(
        &mut c,
        &token(&rest, &room, "u2", "viewer").await,
        "JavaScript",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn user_agent_and_protocol_are_checked() {
    let (_dir, server, rest, room) = setup().await;
    let t = token(&rest, &room, "u", "presenter").await;
    let mut c = client(&server).await;
    let ack = c.request("login", Some(json!({"token": t, "userAgent": {"sdk": {"type": "JavaScript"}}, "protocol": "1.2"}))).await.unwrap();
    assert_eq!(error_of(&ack), "User agent info is incorrect");
    let ack = c.request("login", Some(json!({"token": t, "userAgent": {"sdk": {"type": "JavaScript", "version": "5.1"}}, "protocol": "0.9"}))).await.unwrap();
    assert_eq!(error_of(&ack), "Unknown client protocol");
    c.wait_for(Duration::from_secs(5), |e, _| {
        e == "#disconnect" || e == "#closed"
    })
    .await
    .expect("the portal disconnects unknown protocols");
    server.shutdown().await;
}

#[tokio::test]
async fn permissions_are_enforced() {
    let (_dir, server, rest, room) = setup().await;
    let mut viewer = joined(&server, &rest, &room, "v", "viewer").await;
    let ack = viewer.request("publish", Some(json!({"media": {"tracks": [{"type": "video", "mid": "0", "source": "camera"}]}, "transport": {"type": "webrtc"}}))).await.unwrap();
    assert_eq!(error_of(&ack), "unauthorized");
    let mut deaf = joined(&server, &rest, &room, "d", "video_only_viewer").await;
    let ack = deaf.request("subscribe", Some(json!({"media": {"tracks": [{"type": "audio", "mid": "0", "from": "0123456789abcdef0123456789abcdef"}]}, "transport": {"type": "webrtc"}}))).await.unwrap();
    assert_eq!(
        error_of(&ack),
        "unauthorized",
        "a role without audio subscription"
    );
    let ack = deaf.request("subscribe", Some(json!({"media": {"tracks": [{"type": "video", "mid": "0", "from": "0123456789abcdef0123456789abcdef"}]}, "transport": {"type": "webrtc"}}))).await.unwrap();
    assert_eq!(
        error_of(&ack),
        "Target video stream does NOT satisfy:Requested video stream"
    );
    assert_eq!(
        error_of(
            &deaf
                .request("unpublish", Some(json!({"id": "nope"})))
                .await
                .unwrap()
        ),
        "Stream does NOT exist"
    );
    assert_eq!(
        error_of(
            &deaf
                .request("unsubscribe", Some(json!({"id": "nope"})))
                .await
                .unwrap()
        ),
        "Subscription does NOT exist"
    );
    assert_eq!(
        error_of(
            &deaf
                .request("text", Some(json!({"to": "nobody", "message": "hi"})))
                .await
                .unwrap()
        ),
        "Target participant does NOT exist: nobody"
    );
    assert_eq!(
        error_of(
            &deaf
                .request(
                    "soac",
                    Some(json!({"id": "t1", "signaling": {"type": "offer", "sdp": "v=0"}}))
                )
                .await
                .unwrap()
        ),
        "Transport t1 does NOT exist"
    );
    let metrics = rest.get("/metrics").await.text;
    for line in [
        "tessera_portal_requests_total{event=\"publish\"} 1",
        "tessera_portal_request_errors_total{event=\"publish\"} 1",
        "tessera_portal_request_errors_total{event=\"subscribe\"} 2",
        "tessera_portal_participants 2",
        "tessera_portal_sockets 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from\n{metrics}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn relogin_with_a_ticket_keeps_the_participant() {
    let (_dir, server, rest, room) = setup().await;
    let mut c = client(&server).await;
    let info = login(
        &mut c,
        &token(&rest, &room, "u", "presenter").await,
        "JavaScript",
    )
    .await;
    let pid = info["id"].as_str().unwrap().to_string();
    let ticket = info["reconnectionTicket"].as_str().unwrap().to_string();
    let fresh = c.request("refreshReconnectionTicket", None).await.unwrap();
    assert_eq!(fresh[0], "ok");
    let ticket2 = fresh[1].as_str().unwrap().to_string();
    c.drop_connection().await;
    // Within the reconnection window the participant stays.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(participants(&rest, &room).await, vec![pid.clone()]);
    let mut c2 = client(&server).await;
    let stale = c2.request("relogin", Some(json!(ticket))).await.unwrap();
    assert_eq!(
        error_of(&stale),
        "Participant ID is not matched",
        "only the newest ticket is valid"
    );
    let mut c3 = client(&server).await;
    let ack = c3.request("relogin", Some(json!(ticket2))).await.unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    assert!(ack[1]["ticket"].is_string() && ack[1]["messages"].is_array());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        participants(&rest, &room).await,
        vec![pid.clone()],
        "still there after the reconnection timeout"
    );
    assert_eq!(
        c3.request("text", Some(json!({"to": "all", "message": "back"})))
            .await
            .unwrap()[0],
        "ok"
    );
    let (_, t) = c3
        .wait_for(Duration::from_secs(5), |e, _| e == "text")
        .await
        .unwrap();
    assert_eq!(t["from"], pid.as_str(), "same participant id after relogin");
    let mut forged: Value =
        serde_json::from_slice(&base64_decode(ack[1]["ticket"].as_str().unwrap())).unwrap();
    forged["notAfter"] = json!(forged["notAfter"].as_i64().unwrap() + 1);
    let mut c4 = client(&server).await;
    let bad = c4
        .request(
            "relogin",
            Some(json!(base64_encode(&serde_json::to_vec(&forged).unwrap()))),
        )
        .await
        .unwrap();
    assert_eq!(error_of(&bad), "Invalid reconnection ticket signature");
    server.shutdown().await;
}

#[tokio::test]
async fn clients_that_vanish_without_logout_leave() {
    let (_dir, server, rest, room) = setup().await;
    let mut watcher = joined(&server, &rest, &room, "w", "viewer").await;
    // No reconnection for this SDK type: it leaves at once.
    let mut a = client(&server).await;
    let ia = login(&mut a, &token(&rest, &room, "a", "viewer").await, "Python").await;
    a.drop_connection().await;
    let (_, left) = watcher
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "participant" && d["action"] == "leave"
        })
        .await
        .unwrap();
    assert_eq!(left["data"], ia["id"]);
    // With reconnection: it leaves when the window (1 s in this test) passes without relogin.
    let mut b = client(&server).await;
    let ib = login(
        &mut b,
        &token(&rest, &room, "b", "viewer").await,
        "JavaScript",
    )
    .await;
    b.drop_connection().await;
    assert_eq!(
        participants(&rest, &room).await.len(),
        2,
        "kept during the window"
    );
    let (_, left) = watcher
        .wait_for(Duration::from_secs(10), |e, d| {
            e == "participant" && d["action"] == "leave"
        })
        .await
        .unwrap();
    assert_eq!(left["data"], ib["id"]);
    assert_eq!(participants(&rest, &room).await.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn unpublishing_tells_subscribers_the_source_is_lost() {
    let (_dir, server, rest, room) = setup().await;
    let mut alice = joined(&server, &rest, &room, "alice", "presenter").await;
    let mut bob = joined(&server, &rest, &room, "bob", "viewer").await;

    // Alice publishes with a real WebRTC peer (a new transport takes the publication's id).
    let (stream_id, peer) = publish_av(&mut alice).await;
    let transport = stream_id.clone();
    let (_, added) = bob
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "stream" && d["status"] == "add"
        })
        .await
        .unwrap();
    assert_eq!(added["id"], stream_id.as_str());
    let track_ids: Vec<String> = added["data"]["media"]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        track_ids
            .iter()
            .all(|id| id.starts_with(&format!("{transport}-"))),
        "track ids are <transportId>-<mid>: {track_ids:?}"
    );

    // Bob subscribes.
    let (sub_id, sub_transport, _sub_peer) = subscribe_av(&mut bob, &stream_id).await;

    // Updates: what the source already is is accepted; transcoding is not, nor a switch to a
    // stream that does not exist.
    let update = |data: Value| json!({"id": sub_id, "operation": "update", "data": data});
    let cases = [
        (json!({"video": {"parameters": {"bitrate": "x1.0"}}}), None),
        (
            json!({"video": {"from": stream_id, "parameters": {}}}),
            None,
        ),
        (
            json!({"video": {"parameters": {"bitrate": "x0.4"}}}),
            Some("Bitrate is not acceptable"),
        ),
        (
            json!({"video": {"parameters": {"framerate": 15}}}),
            Some("Framerate is not acceptable"),
        ),
        (
            json!({"audio": {"from": "another"}}),
            Some("Update subscription failed"),
        ),
    ];
    for (data, want) in cases {
        let ack = bob
            .request("subscription-control", Some(update(data.clone())))
            .await
            .unwrap();
        match want {
            None => assert_eq!(ack[0], "ok", "{data}: {ack:?}"),
            Some(e) => assert_eq!(error_of(&ack), e, "{data}"),
        }
    }

    assert_eq!(
        alice
            .request("unpublish", Some(json!({"id": stream_id})))
            .await
            .unwrap()[0],
        "ok"
    );
    let (_, lost) = bob
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "progress" && d["status"] == "error"
        })
        .await
        .unwrap();
    assert_eq!(
        lost,
        json!({"id": sub_transport, "sessionId": sub_id, "status": "error", "data": "Source stream loss"})
    );
    let (_, removed) = bob
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "stream" && d["status"] == "remove"
        })
        .await
        .unwrap();
    assert_eq!(removed, json!({"id": stream_id, "status": "remove"}));
    assert_eq!(
        error_of(
            &alice
                .request("unpublish", Some(json!({"id": stream_id})))
                .await
                .unwrap()
        ),
        "Stream does NOT exist"
    );
    drop(peer);
    server.shutdown().await;
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Forty clients connecting at once, each emitting `login` the moment its namespace connect is
/// acknowledged (as OWT's SDKs do), are all answered. The portal registers its event handlers
/// before the CONNECT packet leaves; they used to be registered on a task socketioxide spawns
/// after sending it, so such a login could find no handler and get no answer (seen once as a
/// 15 s "no ack for login" in a loaded test run; this test did not reproduce that race on demand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_sent_right_after_connecting_is_answered() {
    let (_dir, server, rest, room) = setup().await;
    let mut tokens = Vec::new();
    for i in 0..40 {
        tokens.push(token(&rest, &room, &format!("u{i}"), "viewer").await);
    }
    let addr = server.portal_addr;
    let clients: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            tokio::spawn(async move {
                let mut c = SioClient::connect(addr).await.unwrap();
                let ack = c.request("login", Some(login_data(&t, "JavaScript"))).await;
                (c, ack)
            })
        })
        .collect();
    for h in clients {
        let (_c, ack) = h.await.unwrap();
        let ack = ack.expect("login answered");
        assert_eq!(ack[0], "ok", "{ack:?}");
    }
}

/// Sends `op` (`publish` or `subscribe`) for `tracks` over the portal, then the peer's offer
/// with `soac`, starts the peer with the server's answer and waits until it is connected.
/// Returns the ack's data (`id`, `transportId`) and the peer.
async fn negotiate(
    c: &mut SioClient,
    op: &str,
    offer: PeerOffer,
    tracks: Vec<Value>,
) -> (Value, tessera_testkit::peer::Peer) {
    let ack = c
        .request(
            op,
            Some(json!({"media": {"tracks": tracks}, "transport": {"type": "webrtc"}})),
        )
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{op}: {ack:?}");
    let data = ack[1].clone();
    let ack = c
        .request(
            "soac",
            Some(json!({"id": data["transportId"], "signaling": {"type": "offer", "sdp": offer.sdp}})),
        )
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "soac: {ack:?}");
    let (_, answer) = c
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "progress" && d["status"] == "soac"
        })
        .await
        .unwrap();
    let peer = offer
        .start(answer["data"]["sdp"].as_str().unwrap())
        .unwrap();
    assert!(
        peer.wait_connected(Duration::from_secs(10)),
        "{op}: the peer connects"
    );
    (data, peer)
}

/// Publishes audio and video from a real peer through the portal; returns the stream id and
/// the connected peer once the publication is ready.
async fn publish_av(c: &mut SioClient) -> (String, tessera_testkit::peer::Peer) {
    let offer = PeerOffer::new(
        true,
        &[
            str0m::media::MediaKind::Audio,
            str0m::media::MediaKind::Video,
        ],
    );
    let tracks: Vec<Value> = offer
        .mids
        .iter()
        .map(|(mid, kind)| json!({"type": kind, "mid": mid, "source": if *kind == "audio" { "mic" } else { "camera" }}))
        .collect();
    let (data, peer) = negotiate(c, "publish", offer, tracks).await;
    let id = data["id"].as_str().unwrap().to_string();
    assert_eq!(
        data["transportId"],
        id.as_str(),
        "a new transport takes the publication's id"
    );
    c.wait_for(Duration::from_secs(5), |e, d| {
        e == "progress" && d["sessionId"] == id.as_str() && d["status"] == "ready"
    })
    .await
    .unwrap();
    (id, peer)
}

/// Subscribes to a stream's audio and video through the portal with a real peer; returns the
/// subscription id, its transport id and the connected peer.
async fn subscribe_av(
    c: &mut SioClient,
    stream: &str,
) -> (String, String, tessera_testkit::peer::Peer) {
    let sub = PeerOffer::new(
        false,
        &[
            str0m::media::MediaKind::Audio,
            str0m::media::MediaKind::Video,
        ],
    );
    let tracks: Vec<Value> = sub
        .mids
        .iter()
        .map(|(mid, kind)| json!({"type": kind, "mid": mid, "from": stream}))
        .collect();
    let (data, peer) = negotiate(c, "subscribe", sub, tracks).await;
    let id = |k: &str| data[k].as_str().unwrap().to_string();
    (id("id"), id("transportId"), peer)
}

/// Waits (up to 10 s) until `peer` received 20 more audio and video packets than it had.
fn wait_receiving(what: &str, peer: &tessera_testkit::peer::Peer) {
    let (a, v) = (peer.received_of("audio"), peer.received_of("video"));
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while peer.received_of("audio") <= a + 20 || peer.received_of("video") <= v + 20 {
        assert!(std::time::Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `subscription-control update` with another `from` switches the subscription's source in
/// the data plane without renegotiation: when the first source is unpublished, the subscriber
/// keeps receiving (from the second) and is not told its source is lost.
#[tokio::test]
async fn an_update_switches_a_subscriptions_source_without_renegotiation() {
    let (_dir, server, rest, room) = setup().await;
    let mut alice = joined(&server, &rest, &room, "alice", "presenter").await;
    let mut carol = joined(&server, &rest, &room, "carol", "presenter").await;
    let mut bob = joined(&server, &rest, &room, "bob", "viewer").await;
    let (first, alice_peer) = publish_av(&mut alice).await;
    let (second, carol_peer) = publish_av(&mut carol).await;

    // The publication's key frames announce its size: the room is told with a whole-stream
    // update, and REST lists it.
    let (_, updated) = bob
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "stream" && d["id"] == first.as_str() && d["status"] == "update"
        })
        .await
        .unwrap();
    assert_eq!(updated["data"]["field"], ".", "{updated}");
    let video = updated["data"]["value"]["media"]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "video")
        .unwrap()
        .clone();
    assert_eq!(
        video["parameters"]["resolution"],
        json!({"width": 640, "height": 360}),
        "{updated}"
    );
    let info = rest
        .get(&format!("/v1/rooms/{room}/streams/{first}"))
        .await
        .json();
    assert_eq!(
        info["media"]["video"]["parameters"]["resolution"],
        json!({"width": 640, "height": 360}),
        "{info}"
    );

    // Bob subscribes to Alice's stream and receives it.
    let (sub_id, _, peer) = subscribe_av(&mut bob, &first).await;
    wait_receiving("Bob receives Alice's audio and video", &peer);

    // A format the subscription cannot take, or a stream that does not exist, is refused.
    let update = |data: Value| json!({"id": sub_id, "operation": "update", "data": data});
    let ack = bob
        .request(
            "subscription-control",
            Some(update(json!({"video": {"from": "nosuchstream"}}))),
        )
        .await
        .unwrap();
    assert_eq!(error_of(&ack), "Update subscription failed");
    for bad in [
        json!({"video": {"from": 5}}),
        json!({"audio": {"from": null}}),
    ] {
        let ack = bob
            .request("subscription-control", Some(update(bad.clone())))
            .await
            .unwrap();
        assert_eq!(error_of(&ack), "Update subscription failed", "{bad}");
    }

    // Switch both kinds to Carol's stream.
    let ack = bob
        .request(
            "subscription-control",
            Some(update(
                json!({"audio": {"from": second}, "video": {"from": second}}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    let stats = rest
        .get(&format!("/v1/rooms/{room}/streams/{second}/stats"))
        .await
        .json();
    let subs = stats["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "Carol's stream now feeds Bob: {stats}");
    assert_eq!(subs[0]["id"], sub_id.as_str());
    for t in subs[0]["tracks"].as_array().unwrap() {
        assert!(
            t["trackId"].as_str().unwrap().starts_with(&second),
            "the data plane names the new source: {t}"
        );
    }

    // Alice leaves: Bob's subscription is not ended, and he keeps receiving.
    assert_eq!(
        alice
            .request("unpublish", Some(json!({"id": first})))
            .await
            .unwrap()[0],
        "ok"
    );
    drop(alice_peer);
    wait_receiving("Bob receives Carol's audio and video", &peer);
    assert!(
        bob.wait_for(Duration::from_millis(500), |e, d| {
            e == "progress" && d["sessionId"] == sub_id.as_str() && d["status"] == "error"
        })
        .await
        .is_err(),
        "no 'Source stream loss' for a switched subscription"
    );
    drop((carol_peer, peer));
    server.shutdown().await;
}

/// The same switch across shards: the new source lives on the other shard, so it is relayed
/// to the subscriber's shard, and the relay ends when the subscription switches away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_switch_to_another_shard_relays_the_new_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.webrtc.cores = 2;
    let (_dir, server, rest, room) = common::server_with_room(dir, config, "switch").await;
    let mut alice = joined(&server, &rest, &room, "alice", "presenter").await;
    let mut carol = joined(&server, &rest, &room, "carol", "presenter").await;
    let mut bob = joined(&server, &rest, &room, "bob", "viewer").await;
    // Least-loaded placement: Alice on one shard, Carol on the other; Bob joins Alice's.
    let (first, alice_peer) = publish_av(&mut alice).await;
    let (second, carol_peer) = publish_av(&mut carol).await;
    let (sub_id, _, peer) = subscribe_av(&mut bob, &first).await;
    wait_receiving("Bob receives Alice", &peer);
    let metrics = || async {
        reqwest::get(format!("{}/metrics", rest.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(metric(&metrics().await, "tessera_relays"), 0.0);
    let update = |from: &str| json!({"id": sub_id, "operation": "update", "data": {"audio": {"from": from}, "video": {"from": from}}});

    let ack = bob
        .request("subscription-control", Some(update(&second)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    assert_eq!(
        metric(&metrics().await, "tessera_relays"),
        2.0,
        "Carol's audio and video are relayed to Bob's shard"
    );
    wait_receiving("Bob receives Carol over the relay", &peer);
    assert!(metric(&metrics().await, "tessera_rtp_relayed_total") > 0.0);

    // Back to Alice: the relay has no sink left and ends.
    let ack = bob
        .request("subscription-control", Some(update(&first)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    assert_eq!(metric(&metrics().await, "tessera_relays"), 0.0);
    wait_receiving("Bob receives Alice again", &peer);

    // And to Carol again; then Alice leaves and Bob plays on.
    let ack = bob
        .request("subscription-control", Some(update(&second)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    assert_eq!(
        alice
            .request("unpublish", Some(json!({"id": first})))
            .await
            .unwrap()[0],
        "ok"
    );
    drop(alice_peer);
    wait_receiving("Bob receives Carol after Alice left", &peer);
    assert_eq!(
        metric(&metrics().await, "tessera_session_panics_total"),
        0.0
    );
    drop((carol_peer, peer));
    server.shutdown().await;
}

/// A subscription whose audio was switched to another stream is fed by two streams: switching
/// the audio back works (the data plane names the first stream's track again), and when either
/// stream is unpublished the subscription ends with `Source stream loss`, as OWT ends every
/// subscription a publication feeds.
#[tokio::test]
async fn a_subscription_fed_by_two_streams_ends_with_either() {
    let (_dir, server, rest, room) = setup().await;
    let mut alice = joined(&server, &rest, &room, "alice", "presenter").await;
    let mut carol = joined(&server, &rest, &room, "carol", "presenter").await;
    let mut bob = joined(&server, &rest, &room, "bob", "viewer").await;
    let (first, _alice_peer) = publish_av(&mut alice).await;
    let (second, _carol_peer) = publish_av(&mut carol).await;
    // One kind's tracks must come from one stream.
    let ack = bob
        .request(
            "subscribe",
            Some(json!({"media": {"tracks": [
                {"type": "video", "mid": "0", "from": first},
                {"type": "video", "mid": "1", "from": second},
            ]}, "transport": {"type": "webrtc"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        error_of(&ack),
        "Invalid subscription: every video track must come from one stream"
    );
    let (sub_id, _, peer) = subscribe_av(&mut bob, &first).await;
    wait_receiving("Bob receives Alice", &peer);
    let audio_source = |stats: &Value| -> Option<String> {
        let subs = stats["subscriptions"].as_array()?;
        let s = subs.iter().find(|s| s["id"] == sub_id.as_str())?;
        s["tracks"]
            .as_array()?
            .iter()
            .find(|t| t["kind"] == "audio")?["trackId"]
            .as_str()
            .map(String::from)
    };
    let stats_of = |stream: &str| {
        let rest = rest.clone();
        let path = format!("/v1/rooms/{room}/streams/{stream}/stats");
        async move { rest.get(&path).await.json() }
    };
    let audio = |from: &str| json!({"id": sub_id, "operation": "update", "data": {"audio": {"from": from}}});

    // Audio from Carol, video still from Alice: both streams list the subscription.
    let ack = bob
        .request("subscription-control", Some(audio(&second)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    let s2 = stats_of(&second).await;
    assert!(audio_source(&s2).unwrap().starts_with(&second), "{s2}");
    let kinds = |stats: &Value| -> Vec<String> {
        stats["subscriptions"][0]["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds(&s2),
        ["audio"],
        "Carol's stream feeds the audio: {s2}"
    );
    let s1 = stats_of(&first).await;
    assert_eq!(
        kinds(&s1),
        ["video"],
        "Alice's stream feeds the video: {s1}"
    );
    wait_receiving("Bob receives audio and video from two streams", &peer);

    // And back: the audio comes from Alice's track again.
    let ack = bob
        .request("subscription-control", Some(audio(&first)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    let s1 = stats_of(&first).await;
    assert!(audio_source(&s1).unwrap().starts_with(&first), "{s1}");
    assert!(
        audio_source(&stats_of(&second).await).is_none(),
        "Carol's stream feeds nothing any more"
    );

    // Audio to Carol again; Carol unpublishes; the subscription ends.
    let ack = bob
        .request("subscription-control", Some(audio(&second)))
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    assert_eq!(
        carol
            .request("unpublish", Some(json!({"id": second})))
            .await
            .unwrap()[0],
        "ok"
    );
    let (_, lost) = bob
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "progress" && d["sessionId"] == sub_id.as_str() && d["status"] == "error"
        })
        .await
        .unwrap();
    assert_eq!(lost["data"], "Source stream loss", "{lost}");
    let ack = bob
        .request("subscription-control", Some(audio(&first)))
        .await
        .unwrap();
    assert_eq!(error_of(&ack), "Subscription does NOT exist");
    drop(peer);
    server.shutdown().await;
}
