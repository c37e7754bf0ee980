//! Cross-shard fan-out with a real server in-process (two shards, `relay_slack = 0`): a WHIP
//! publisher lands on one shard, and of its WHEP subscribers the first goes to the other
//! shard (the source is relayed there) and the second stays with the source. Both receive
//! media from real str0m peers on loopback; unpublishing ends the relay. The second test runs
//! the shards on the glommio loop, so both shard loops carry real peers and relays. The third
//! relays a two-layer simulcast publication and checks that only the layer in use crosses. The
//! fourth reads a stream's media counters over REST. The fifth plays through a server offer
//! (WHEP POST without a body, the answer in a PATCH) on the shard the source is not on.

mod common;

use std::time::{Duration, Instant};

use common::{Rest, metric, test_config};
use reqwest::Method;
use serde_json::json;
use str0m::media::MediaKind;
use tessera::server::Server;
use tessera_node::ShardRuntime;
use tessera_testkit::peer::{Peer, PeerOffer};

async fn token(rest: &Rest, room: &str, role: &str) -> String {
    common::token(rest, room, "fan", role).await
}

/// POSTs an SDP offer with a bearer token; returns (answer, Location).
async fn post_sdp(rest: &Rest, path: &str, token: &str, sdp: &str) -> (String, String) {
    let r = rest
        .raw(
            Method::POST,
            path,
            Some(format!("Bearer {token}")),
            Some(("application/sdp", sdp.as_bytes().to_vec())),
        )
        .await;
    assert_eq!(r.status, 201, "POST {path}: {}", r.text);
    let location = r
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.text, location)
}

/// WHEP with a server offer: POSTs without a body; returns (Location, our SDP offer).
async fn server_offer(rest: &Rest, path: &str, token: &str) -> (String, String) {
    let r = rest
        .raw(Method::POST, path, Some(format!("Bearer {token}")), None)
        .await;
    assert_eq!(r.status, 201, "POST {path} without a body: {}", r.text);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/sdp")
    );
    let location = r.headers["location"].to_str().unwrap().to_string();
    (location, r.text)
}

async fn metrics(rest: &Rest) -> String {
    rest.http
        .get(format!("{}/metrics", rest.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A WHEP player: (peer, resource location, its token).
async fn play(rest: &Rest, room: &str, stream: &str) -> (Peer, String, String) {
    let offer = PeerOffer::new(false, &[MediaKind::Audio, MediaKind::Video]);
    let t = token(rest, room, "viewer").await;
    let (answer, location) =
        post_sdp(rest, &format!("/whep/{room}/{stream}"), &t, &offer.sdp).await;
    let peer = offer.start(&answer).unwrap();
    assert!(
        peer.wait_connected(Duration::from_secs(10)),
        "subscriber connects"
    );
    (peer, location, t)
}

/// A WHIP publisher of `offer`: (peer, resource location, its token, stream id). Waits
/// until it is connected (not until the room lists it: see [`wait_listed`]).
async fn publish(rest: &Rest, room: &str, offer: PeerOffer) -> (Peer, String, String, String) {
    let t = token(rest, room, "presenter").await;
    let (answer, location) = post_sdp(rest, &format!("/whip/{room}"), &t, &offer.sdp).await;
    let peer = offer.start(&answer).unwrap();
    assert!(
        peer.wait_connected(Duration::from_secs(10)),
        "publisher connects"
    );
    let stream = location.rsplit('/').next().unwrap().to_string();
    (peer, location, t, stream)
}

/// Ends a WHIP/WHEP session.
async fn delete(rest: &Rest, location: &str, token: &str) {
    let r = rest
        .raw(
            Method::DELETE,
            location,
            Some(format!("Bearer {token}")),
            None,
        )
        .await;
    assert!(
        r.status == 200 || r.status == 204,
        "DELETE {location}: {}",
        r.status
    );
}

fn gets_media(p: &Peer) -> bool {
    p.received_of("audio") > 20 && p.received_of("video") > 20
}

/// Waits until a metric has `want`.
async fn wait_metric(rest: &Rest, name: &str, want: f64) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let v = metric(&metrics(rest).await, name);
        if v == want {
            return;
        }
        assert!(Instant::now() < end, "{name} stayed {v}, want {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that no packet crosses shards for half a second.
async fn relaying_stopped(rest: &Rest) {
    let before = metric(&metrics(rest).await, "tessera_rtp_relayed_total");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        metric(&metrics(rest).await, "tessera_rtp_relayed_total"),
        before,
        "packets still cross shards"
    );
}

/// A server with two shards on `runtime` (and `relay_slack` if given) and a room.
async fn two_shards(
    relay_slack: Option<usize>,
    runtime: ShardRuntime,
) -> (tempfile::TempDir, Server, Rest, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.webrtc.cores = 2;
    config.webrtc.runtime = runtime;
    if let Some(n) = relay_slack {
        config.webrtc.relay_slack = n;
    }
    common::server_with_room(dir, config, "fanout").await
}

/// Waits until the room lists the publication.
async fn wait_listed(rest: &Rest, room: &str, stream: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while rest
        .get(&format!("/v1/rooms/{room}/streams/{stream}"))
        .await
        .status
        != 200
    {
        assert!(Instant::now() < end, "publication {stream} is listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_fans_out_across_shards() {
    let (_dir, server, rest, room) = two_shards(Some(0), ShardRuntime::Uring).await;

    // The publisher (shard 0: both are empty, the first is least loaded).
    let offer = PeerOffer::new(true, &[MediaKind::Audio, MediaKind::Video]);
    let (publisher, location, pub_token, stream) = publish(&rest, &room, offer).await;
    wait_listed(&rest, &room, &stream).await;

    // With no slack, the first subscriber goes to the idle shard and the source is relayed
    // there; the second finds both shards equally loaded and stays with the source.
    let (relayed, relayed_at, relayed_token) = play(&rest, &room, &stream).await;
    let (local, _, _) = play(&rest, &room, &stream).await;
    wait_until("both subscribers receive audio and video", || {
        gets_media(&relayed) && gets_media(&local)
    })
    .await;
    let m = metrics(&rest).await;
    assert!(
        metric(&m, "tessera_rtp_relayed_total") > 0.0,
        "packets crossed to the other shard:\n{m}"
    );
    assert_eq!(
        metric(&m, "tessera_relays"),
        2.0,
        "the stream's audio and video tracks are relayed"
    );
    assert_eq!(metric(&m, "tessera_transports"), 3.0);

    // The relayed shard's last subscriber leaves: the relay stops, the other one plays on.
    delete(&rest, &relayed_at, &relayed_token).await;
    wait_metric(&rest, "tessera_relays", 0.0).await;
    relaying_stopped(&rest).await;
    let before = local.received();
    wait_until("the local subscriber still receives", || {
        local.received() > before + 20
    })
    .await;
    drop(relayed);

    // A new subscriber goes to the now idle shard again (shard 0 carries the publisher and
    // the local subscriber); then the source goes, and the relay ends with it (the source's
    // shard sends the end; the conference also ends the subscription).
    let (again, _, _) = play(&rest, &room, &stream).await;
    wait_until("the new subscriber receives audio and video", || {
        gets_media(&again)
    })
    .await;
    assert_eq!(metric(&metrics(&rest).await, "tessera_relays"), 2.0);
    delete(&rest, &location, &pub_token).await;
    wait_metric(&rest, "tessera_relays", 0.0).await;
    relaying_stopped(&rest).await;
    assert_eq!(
        metric(&metrics(&rest).await, "tessera_session_panics_total"),
        0.0
    );
    drop((publisher, local, again));
    server.shutdown().await;
}

/// A WHEP player that asks the server to offer (POST without a body), on the shard the source
/// is not on: the offer names both tracks, the player's answer (PATCH, `application/sdp`)
/// starts media, relayed from the other shard. A second answer, an answer for an unknown
/// session, an answer with another token and a blank offer get the documented errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_server_offers_is_answered_with_patch() {
    let (_dir, server, rest, room) = two_shards(Some(0), ShardRuntime::Uring).await;
    let offer = PeerOffer::new(true, &[MediaKind::Audio, MediaKind::Video]);
    let (publisher, _, _, stream) = publish(&rest, &room, offer).await;
    wait_listed(&rest, &room, &stream).await;

    let t = token(&rest, &room, "viewer").await;
    let path = format!("/whep/{room}/{stream}");
    let (location, offer) = server_offer(&rest, &path, &t).await;
    for line in ["a=ice-lite", "a=setup:actpass", "m=audio ", "m=video "] {
        assert!(
            offer.contains(line),
            "the server's offer has {line}:\n{offer}"
        );
    }
    let (answer, player) = tessera_testkit::peer::answer_offer(&offer).unwrap();
    let patch = |body: String, loc: String, tok: String| {
        let rest = &rest;
        async move {
            rest.raw(
                Method::PATCH,
                &loc,
                Some(format!("Bearer {tok}")),
                Some(("application/sdp", body.into_bytes())),
            )
            .await
        }
    };
    let r = patch(answer.clone(), location.clone(), t.clone()).await;
    assert_eq!(r.status, 204, "PATCH answer: {}", r.text);
    assert!(
        player.wait_connected(Duration::from_secs(10)),
        "the player connects"
    );
    wait_until("the player receives audio and video", || {
        gets_media(&player)
    })
    .await;
    let m = metrics(&rest).await;
    assert!(
        metric(&m, "tessera_rtp_relayed_total") > 0.0,
        "the player is on the other shard:\n{m}"
    );

    // Errors: the same answer again (nothing waits for one), an unknown session, no offer.
    let r = patch(answer.clone(), location.clone(), t.clone()).await;
    assert_eq!(r.status, 400, "second answer: {}", r.text);
    assert!(r.text.contains("waiting for an answer"), "{}", r.text);
    let r = patch(
        answer.clone(),
        format!("/whep/{room}/{stream}/nosuchsession"),
        t.clone(),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let t2 = token(&rest, &room, "viewer").await;
    let r = patch(answer, location.clone(), t2.clone()).await;
    assert_eq!(r.status, 403, "another token's answer: {}", r.text);

    // Trickled candidates (RFC 9725 PATCH) on the same resource: the owner's token is taken,
    // another token is refused, and so is a body that is neither SDP nor an SDP fragment.
    let trickle = |loc: String, tok: String, ct: &'static str| {
        let rest = &rest;
        async move {
            rest.raw(
                Method::PATCH,
                &loc,
                Some(format!("Bearer {tok}")),
                Some((
                    ct,
                    b"a=candidate:1 1 udp 2130706431 127.0.0.1 5999 typ host\r\n".to_vec(),
                )),
            )
            .await
        }
    };
    let frag = "application/trickle-ice-sdpfrag";
    let r = trickle(location.clone(), t.clone(), frag).await;
    assert_eq!(r.status, 204, "trickle: {}", r.text);
    let r = trickle(location.clone(), t2.clone(), frag).await;
    assert_eq!(r.status, 403, "another token's trickle: {}", r.text);
    let r = trickle(location.clone(), t.clone(), "text/plain").await;
    assert_eq!(r.status, 415, "{}", r.text);

    // A player that rejects the audio m-line in its answer (port 0) gets video only, and the
    // stream's stats list only its video subscription.
    let t3 = token(&rest, &room, "viewer").await;
    let (location3, offer3) = server_offer(&rest, &path, &t3).await;
    let (answer3, video_only) = tessera_testkit::peer::answer_offer(&offer3).unwrap();
    let r = patch(answer3.replace("m=audio 9 ", "m=audio 0 "), location3, t3).await;
    assert_eq!(r.status, 204, "PATCH answer without audio: {}", r.text);
    wait_until("the video-only player receives video", || {
        video_only.received_of("video") > 20
    })
    .await;
    assert_eq!(video_only.received_of("audio"), 0);
    let stats = rest
        .get(&format!("/v1/rooms/{room}/streams/{stream}/stats"))
        .await
        .json();
    let kinds: Vec<Vec<String>> = stats["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut k: Vec<String> = s["tracks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["kind"].as_str().unwrap().to_string())
                .collect();
            k.sort();
            k
        })
        .collect();
    assert!(
        kinds.contains(&vec!["video".to_string()])
            && kinds.contains(&vec!["audio".to_string(), "video".to_string()]),
        "{stats}"
    );
    let r = rest
        .raw(
            Method::POST,
            &path,
            Some(format!("Bearer {t2}")),
            Some(("application/sdp", b"  ".to_vec())),
        )
        .await;
    assert_eq!(r.status, 400, "a blank offer: {}", r.text);
    drop((publisher, player, video_only));
    server.shutdown().await;
}

/// A subscription whose audio and video come from publications on different shards (refused
/// before cross-shard fan-out): one transport, one source local, the other relayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_subscription_takes_sources_from_two_shards() {
    let (_dir, server, rest, room) = two_shards(None, ShardRuntime::Glommio).await;

    // Two publishers: the least-loaded placement puts one on each shard.
    let mut publishers = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let offer = PeerOffer::new(true, &[MediaKind::Audio, MediaKind::Video]);
        let (p, _, _, stream) = publish(&rest, &room, offer).await;
        publishers.push(p);
        streams.push(stream);
    }
    for s in &streams {
        wait_listed(&rest, &room, s).await;
    }

    // A portal client subscribes to the first stream's audio and the second stream's video.
    let mut c = tessera_testkit::sio::SioClient::connect(server.portal_addr)
        .await
        .unwrap();
    let login = json!({"token": token(&rest, &room, "viewer").await, "userAgent": {"sdk": {"type": "JavaScript", "version": "5.1"}}, "protocol": "1.2"});
    assert_eq!(c.request("login", Some(login)).await.unwrap()[0], "ok");
    let sub = PeerOffer::new(false, &[MediaKind::Audio, MediaKind::Video]);
    let tracks: Vec<serde_json::Value> = sub
        .mids
        .iter()
        .map(|(mid, kind)| {
            let from = if *kind == "audio" {
                &streams[0]
            } else {
                &streams[1]
            };
            json!({"type": kind, "mid": mid, "from": from})
        })
        .collect();
    let ack = c
        .request(
            "subscribe",
            Some(json!({"media": {"tracks": tracks}, "transport": {"type": "webrtc"}})),
        )
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    let transport = ack[1]["transportId"].as_str().unwrap().to_string();
    let ack = c
        .request(
            "soac",
            Some(json!({"id": transport, "signaling": {"type": "offer", "sdp": sub.sdp}})),
        )
        .await
        .unwrap();
    assert_eq!(ack[0], "ok", "{ack:?}");
    let (_, answer) = c
        .wait_for(Duration::from_secs(5), |e, d| {
            e == "progress" && d["status"] == "soac"
        })
        .await
        .unwrap();
    let peer = sub.start(answer["data"]["sdp"].as_str().unwrap()).unwrap();
    assert!(
        peer.wait_connected(Duration::from_secs(10)),
        "subscriber connects"
    );
    wait_until("the subscriber receives audio and video", || {
        peer.received_of("audio") > 20 && peer.received_of("video") > 20
    })
    .await;
    let relayed = metric(&metrics(&rest).await, "tessera_rtp_relayed_total");
    assert!(relayed > 0.0, "one of the two sources was relayed");
    drop(peer);
    drop(publishers);
    server.shutdown().await;
}

/// A simulcast publication (two layers, `h` with large frames and `l` with small ones, plus
/// audio) relayed to the other shard: its subscriber there follows its bandwidth estimate
/// (none: the best live layer, `h`), and once the source shard has reported the layers' rates
/// the relay carries that layer only, so about two thirds of the packets the publisher sends
/// cross shards instead of all of them. The subscriber receives video throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_simulcast_stream_carries_only_the_layer_in_use() {
    let (_dir, server, rest, room) = two_shards(Some(0), ShardRuntime::Uring).await;
    let offer = PeerOffer::with_simulcast(true, &[MediaKind::Audio, MediaKind::Video], &["h", "l"]);
    let (publisher, _, _, stream) = publish(&rest, &room, offer).await;
    wait_listed(&rest, &room, &stream).await;
    let (relayed, _, _) = play(&rest, &room, &stream).await;
    wait_until("the relayed subscriber receives audio and video", || {
        gets_media(&relayed)
    })
    .await;

    // Relayed packets per packet received from the publisher, over one-second windows: 1.0
    // while both layers cross, 2/3 once only `h` (and audio) does.
    let counts = |m: &str| {
        (
            metric(m, "tessera_rtp_received_total"),
            metric(m, "tessera_rtp_relayed_total"),
        )
    };
    let end = Instant::now() + Duration::from_secs(10);
    let mut ratios = Vec::new();
    loop {
        let (in0, out0) = counts(&metrics(&rest).await);
        let video0 = relayed.received_of("video");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (in1, out1) = counts(&metrics(&rest).await);
        assert!(
            relayed.received_of("video") > video0 + 10,
            "the relayed subscriber keeps receiving video"
        );
        let ratio = (out1 - out0) / (in1 - in0).max(1.0);
        ratios.push(ratio);
        if ratio < 0.75 {
            break;
        }
        assert!(
            Instant::now() < end,
            "every layer still crosses shards: relayed/received per second {ratios:?}"
        );
    }
    eprintln!("relayed/received per second: {ratios:?}");
    assert!(ratios.last().unwrap() > &0.5, "{ratios:?}");

    // Each layer's key frames announce its own size (the testkit halves it per layer): REST
    // v1.1 lists one per rid, v1 the largest.
    let end = Instant::now() + Duration::from_secs(5);
    let sizes = loop {
        let v = rest
            .get(&format!("/v1.1/rooms/{room}/streams/{stream}"))
            .await
            .json();
        let sizes: Vec<(String, serde_json::Value)> = v["media"]["video"]["original"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["simulcastRid"].as_str().unwrap().to_string(),
                    o["parameters"]["resolution"].clone(),
                )
            })
            .collect();
        if sizes.iter().all(|(_, r)| r.is_object()) || Instant::now() > end {
            break sizes;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sizes,
        vec![
            ("h".to_string(), json!({"width": 640, "height": 360})),
            ("l".to_string(), json!({"width": 320, "height": 180})),
        ]
    );
    let v1 = rest
        .get(&format!("/v1/rooms/{room}/streams/{stream}"))
        .await
        .json();
    assert_eq!(
        v1["media"]["video"]["parameters"]["resolution"],
        json!({"width": 640, "height": 360})
    );
    drop(relayed);
    drop(publisher);
    server.shutdown().await;
}

/// The stream's tracks in a `GET /streams/{id}/stats` part, by kind.
fn track<'a>(part: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    part["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} track in {part}"))
}

/// `GET /v1/rooms/{room}/streams/{id}/stats` (a Tessera extension) reports the publication's
/// receive counters and each subscription's send counters, one subscriber relayed from the
/// other shard; the counters grow, agree with what the peers saw, and follow a mute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_stats_count_what_the_publication_receives_and_each_subscription_sends() {
    let (_dir, server, rest, room) = two_shards(Some(0), ShardRuntime::Uring).await;
    let offer = PeerOffer::new(true, &[MediaKind::Audio, MediaKind::Video]);
    let (publisher, _, _, stream) = publish(&rest, &room, offer).await;
    wait_listed(&rest, &room, &stream).await;
    let (relayed, _, _) = play(&rest, &room, &stream).await;
    let (local, _, _) = play(&rest, &room, &stream).await;
    wait_until("both subscribers receive audio and video", || {
        gets_media(&relayed) && gets_media(&local)
    })
    .await;
    let path = format!("/v1/rooms/{room}/streams/{stream}/stats");
    let stats = || async {
        let r = rest.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    };

    let seen = [relayed.received_of("video"), local.received_of("video")];
    let first = stats().await;
    assert_eq!(first["id"], stream.as_str());
    assert_eq!(first["transport"]["state"], "connected", "{first}");
    assert!(first["transport"]["remoteAddress"].is_string(), "{first}");
    for kind in ["audio", "video"] {
        let t = track(&first, kind);
        assert_eq!(t["direction"], "publish");
        assert_eq!(t["active"], true);
        assert!(t["packets"].as_u64().unwrap() > 20, "{t}");
        assert!(t["bytes"].as_u64().unwrap() > t["packets"].as_u64().unwrap());
        let layers = t["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{t}");
        assert_eq!(layers[0]["packets"], t["packets"]);
        assert!(layers[0]["ssrc"].is_u64(), "{t}");
        assert_eq!(layers[0]["lost"], 0, "nothing is lost on loopback: {t}");
        assert!(layers[0]["bitrate"].as_u64().unwrap() > 0, "{t}");
    }
    let subs = first["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "{first}");
    let mut sent_video = Vec::new();
    for s in subs {
        assert_eq!(s["transport"]["state"], "connected", "{s}");
        assert!(s["participant"].is_string());
        for kind in ["audio", "video"] {
            let t = track(s, kind);
            assert_eq!(t["direction"], "subscribe");
            assert_eq!(t["active"], true);
            assert_eq!(t["layer"], 0);
            assert_eq!(
                t["trackId"],
                track(&first, kind)["trackId"],
                "a subscription names its source track"
            );
            assert!(t["packets"].as_u64().unwrap() > 20, "{t}");
        }
        sent_video.push(track(s, "video")["packets"].as_u64().unwrap());
    }
    // What the server says it sent covers what the peers had received before the query, and
    // no subscription was sent more than the publication received.
    sent_video.sort_unstable();
    let mut seen = seen;
    seen.sort_unstable();
    let received_video = track(&first, "video")["packets"].as_u64().unwrap();
    for (sent, seen) in sent_video.iter().zip(seen) {
        assert!(*sent >= seen, "sent {sent} < received {seen}");
        assert!(
            *sent <= received_video,
            "sent {sent} > ingress {received_video}"
        );
    }

    // The counters grow.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = stats().await;
    assert!(
        track(&later, "video")["packets"].as_u64() > track(&first, "video")["packets"].as_u64(),
        "{later}"
    );

    // A muted track is reported inactive; v1.1 answers the same way.
    let r = rest
        .patch(
            &format!("/v1/rooms/{room}/streams/{stream}"),
            json!([{"op": "replace", "path": "/media/video/status", "value": "inactive"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = rest
        .get(&format!("/v1.1/rooms/{room}/streams/{stream}/stats"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let muted = r.json();
    assert_eq!(track(&muted, "video")["active"], false, "{muted}");
    assert_eq!(track(&muted, "audio")["active"], true, "{muted}");

    // An unknown stream is the documented 404; the stats path takes GET only.
    let r = rest
        .get(&format!("/v1/rooms/{room}/streams/nosuchstream/stats"))
        .await;
    assert_eq!(r.error(), (404, 1004));
    let r = rest.delete(&path).await;
    assert_eq!(r.status, 404);
    drop((publisher, relayed, local));
    server.shutdown().await;
}
