//! The management REST API suite (owt-compat-spec.md §2), run against a real server started
//! in-process — once on the embedded store and once on MongoDB (the MongoDB-wire-compatible
//! server from PyPI) — and the restart test of the embedded store.

mod common;

use base64::Engine as _;
use common::{Rest, test_config};
use reqwest::Method;
use serde_json::{Value, json};
use tessera::server::Server;
use tessera_auth::token::Token;
use tessera_testkit::MongoServer;

async fn suite(server: &Server) {
    let su = Rest::for_server(server);

    // --- A room created with a signed request has OWT's defaults (spec §4.3).
    let r = su.post("/v1/rooms", json!({"name": "standup"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(
        r.headers["strict-transport-security"],
        "max-age=1024000; includeSubDomain"
    );
    let room = r.json();
    let rid = room["_id"].as_str().unwrap().to_string();
    assert_eq!(rid.len(), 24);
    assert_eq!(room["name"], "standup");
    assert_eq!(room["inputLimit"], -1);
    assert_eq!(room["participantLimit"], -1);
    assert_eq!(room["roles"].as_array().unwrap().len(), 5);
    assert_eq!(room["views"][0]["label"], "common");
    assert_eq!(room["views"][0]["video"]["format"], json!({"codec": "vp8"}));
    assert_eq!(
        room["views"][0]["video"]["parameters"]["resolution"],
        json!({"width": 640, "height": 480})
    );
    assert_eq!(
        room["mediaIn"]["video"],
        json!([{"codec": "h264"}, {"codec": "vp8"}, {"codec": "vp9"}])
    );
    assert_eq!(
        room["mediaOut"]["video"]["parameters"]["keyFrameInterval"],
        json!([100, 30, 5, 2, 1])
    );
    assert_eq!(room["transcoding"]["video"]["parameters"]["bitrate"], true);
    assert_eq!(
        room["notifying"],
        json!({"participantActivities": true, "streamChange": true})
    );

    // --- Read it back on /v1 and /v1.1, with trailing slashes and any case.
    for path in [
        format!("/v1/rooms/{rid}"),
        format!("/v1.1/rooms/{rid}/"),
        format!("/V1/ROOMS/{rid}"),
    ] {
        let g = su.get(&path).await;
        assert_eq!(g.status, 200, "{path}: {}", g.text);
        assert_eq!(g.json(), room, "{path}");
    }

    // --- Tokens (spec §2.9): base64 JSON {tokenId, host, secure, signature}, signed.
    let t = su
        .post(
            &format!("/v1/rooms/{rid}/tokens/"),
            json!({"user": "alice", "role": "presenter"}),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert!(
        t.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&t.text)
        .unwrap();
    let fields: Value = serde_json::from_slice(&raw).unwrap();
    let keys: Vec<&str> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["tokenId", "host", "secure", "signature"],
        "key order as OWT sends it"
    );
    let token = Token::decode(&t.text).unwrap();
    assert_eq!(
        token.host,
        format!("127.0.0.1:{}", server.portal_addr.port())
    );
    assert!(!token.secure);
    token.verify(&server.token_key).unwrap();
    assert_eq!(token.token_id.len(), 24);
    // A user/role signed into the MAuth header wins over the body.
    let signed = su.auth_header(Some(("bob", "viewer")));
    let t2 = su
        .raw(
            Method::POST,
            &format!("/v1/rooms/{rid}/tokens"),
            Some(signed),
            Some((
                "application/json",
                br#"{"user":"x","role":"nope"}"#.to_vec(),
            )),
        )
        .await;
    assert_eq!(t2.status, 200, "{}", t2.text);
    // Form-encoded bodies are accepted, as Express did.
    let t3 = su
        .raw(
            Method::POST,
            &format!("/v1/rooms/{rid}/tokens"),
            Some(su.auth_header(None)),
            Some((
                "application/x-www-form-urlencoded",
                b"user=carol&role=viewer".to_vec(),
            )),
        )
        .await;
    assert_eq!(t3.status, 200, "{}", t3.text);
    for bad in [
        json!({"user": "alice", "role": "boss"}),
        json!({"user": "", "role": "presenter"}),
        json!({"role": "presenter"}),
        json!({"user": "a", "role": "viewer", "preference": {"isp": 3}}),
    ] {
        let b = su
            .post(&format!("/v1/rooms/{rid}/tokens"), bad.clone())
            .await;
        assert_eq!(b.error(), (400, 1201), "{bad}: {}", b.text);
    }
    assert_eq!(
        su.post(
            &format!("/v1/rooms/{rid}/tokens"),
            json!({"user": "a", "role": "boss"})
        )
        .await
        .json()["error"]["message"],
        "Name or role not valid"
    );

    // --- List, page, update, patch.
    let second = su
        .post(
            "/v1.1/rooms",
            json!({"name": "second", "options": {"inputLimit": 4, "views": []}}),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let second = second.json();
    assert_eq!(second["views"], json!([]));
    let list = su.get("/v1/rooms").await.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"standup") && names.contains(&"second"),
        "{names:?}"
    );
    let all = list.as_array().unwrap().len();
    let p1 = su.get("/v1/rooms?page=1&per_page=1").await.json();
    assert_eq!(p1.as_array().unwrap().len(), 1);
    let beyond = su
        .get(&format!("/v1/rooms?page={}&per_page=1", all + 1))
        .await
        .json();
    assert_eq!(beyond, json!([]));
    assert_eq!(su.get("/v1/rooms?per_page=x").await.error(), (400, 1201));

    let sid = second["_id"].as_str().unwrap();
    let put = su
        .put(
            &format!("/v1/rooms/{sid}"),
            json!({"name": "renamed", "participantLimit": 10}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json()["name"], "renamed");
    assert_eq!(put.json()["participantLimit"], 10);
    assert_eq!(put.json()["inputLimit"], 4, "fields not given are kept");
    let patch = su
        .patch(
            &format!("/v1/rooms/{sid}"),
            json!([{"op": "replace", "path": "/inputLimit", "value": 2}]),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    assert_eq!(
        su.get(&format!("/v1/rooms/{sid}")).await.json()["inputLimit"],
        2
    );
    let conflict = su.put(&format!("/v1/rooms/{rid}"), json!({"mediaOut": {"audio": [{"codec": "pcmu"}], "video": {"format": [{"codec": "vp8"}]}}})).await;
    assert_eq!(conflict.error(), (400, 1201));
    assert_eq!(
        conflict.json()["error"]["message"],
        "MediaOut conflicts with View Setting"
    );

    // --- Services (super service only), and room isolation between services.
    let svc = su
        .post("/services", json!({"name": "tenant", "key": "tenantKey"}))
        .await;
    assert_eq!(svc.status, 200, "{}", svc.text);
    let svc = svc.json();
    assert_eq!(svc["encrypted"], true);
    assert_ne!(svc["key"], "tenantKey", "keys are stored encrypted");
    let tid = svc["_id"].as_str().unwrap().to_string();
    assert_eq!(
        su.post("/services", json!({"name": "tenant", "key": "k"}))
            .await
            .error(),
        (409, 1201)
    );
    assert_eq!(
        su.post("/services", json!({"name": 1, "key": "k"}))
            .await
            .error(),
        (400, 1201)
    );
    let tenant = Rest::new(su.base.clone(), &tid, "tenantKey");
    assert_eq!(tenant.get("/services").await.error(), (403, 1102));
    assert_eq!(
        tenant
            .post("/services", json!({"name": "x", "key": "y"}))
            .await
            .error(),
        (403, 1102)
    );
    assert_eq!(tenant.get(&format!("/services/{tid}")).await.status, 200);
    assert_eq!(
        tenant
            .get(&format!("/services/{}", server.super_service.id))
            .await
            .error(),
        (403, 1102)
    );
    assert_eq!(
        tenant.get(&format!("/v1/rooms/{rid}")).await.error(),
        (404, 1003),
        "another service's room is invisible"
    );
    let own = tenant
        .post("/v1/rooms", json!({"name": "tenant room"}))
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(
        tenant
            .get("/v1/rooms")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let listed: Vec<Value> = su.get("/services").await.json().as_array().unwrap().clone();
    assert!(listed.iter().any(|s| s["name"] == "tenant"));
    assert_eq!(
        su.delete(&format!("/services/{}", server.super_service.id))
            .await
            .error(),
        (403, 1102)
    );
    let del = su.delete(&format!("/services/{tid}")).await;
    assert_eq!((del.status, del.text.as_str()), (200, "Service deleted"));
    assert_eq!(
        su.get(&format!("/services/{tid}")).await.error(),
        (404, 1002)
    );
    assert_eq!(
        tenant.get("/v1/rooms").await.error(),
        (401, 1101),
        "a deleted service cannot sign"
    );

    // --- Participants and streams come from the conference agent; a room nobody is in has none.
    for res in ["participants", "streams"] {
        let r = su.get(&format!("/v1/rooms/{rid}/{res}")).await;
        assert_eq!((r.status, r.json()), (200, json!([])), "{res}");
        assert_eq!(
            su.get(&format!("/v1.1/rooms/{rid}/{res}/")).await.json(),
            json!([])
        );
    }
    assert_eq!(
        su.get(&format!("/v1/rooms/{rid}/participants/nobody"))
            .await
            .error(),
        (404, 1005)
    );
    assert_eq!(
        su.get(&format!("/v1/rooms/{rid}/streams/nothing"))
            .await
            .error(),
        (404, 1004)
    );
    // --- Runtime resources this build does not serve answer 501, never a fake success.
    for res in ["streaming-outs", "recordings", "sipcalls", "analytics"] {
        let r = su.get(&format!("/v1/rooms/{rid}/{res}")).await;
        assert_eq!(r.status, 501, "{res}: {}", r.text);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Not implemented")
        );
    }
    assert_eq!(
        su.post(&format!("/v1/rooms/{rid}/streaming-ins"), json!({}))
            .await
            .status,
        501
    );
    assert_eq!(
        su.get(&format!("/v1/rooms/{rid}/nothing")).await.error(),
        (404, 1001)
    );

    // --- Bad input: each gets the documented error and the server keeps serving.
    let alive = |r: &Rest| {
        let r = r.clone();
        let rid = rid.clone();
        async move {
            assert_eq!(
                r.get(&format!("/v1/rooms/{rid}")).await.status,
                200,
                "server still serves"
            )
        }
    };
    let malformed = su
        .raw(
            Method::POST,
            "/v1/rooms",
            Some(su.auth_header(None)),
            Some(("application/json", b"{\"name\": ".to_vec())),
        )
        .await;
    assert_eq!(malformed.error(), (400, 1201));
    assert_eq!(
        malformed.json()["error"]["message"],
        "Failed to parse JSON body"
    );
    alive(&su).await;
    let wrong = Rest::new(su.base.clone(), &server.super_service.id, "not the key");
    assert_eq!(wrong.get("/v1/rooms").await.error(), (401, 1101));
    assert_eq!(
        su.raw(Method::GET, "/v1/rooms", None, None).await.error(),
        (401, 1101)
    );
    assert_eq!(
        su.raw(Method::GET, "/v1/rooms", Some("MAuth garbage".into()), None)
            .await
            .error(),
        (401, 1101)
    );
    let unknown_service = Rest::new(
        su.base.clone(),
        "000000000000000000000000",
        &server.super_service.key,
    );
    assert_eq!(unknown_service.get("/v1/rooms").await.error(), (401, 1101));
    let bad_id_service = Rest::new(
        su.base.clone(),
        "not-an-object-id",
        &server.super_service.key,
    );
    assert_eq!(bad_id_service.get("/v1/rooms").await.error(), (401, 1101));
    alive(&su).await;
    assert_eq!(
        su.get("/v1/rooms/ffffffffffffffffffffffff").await.error(),
        (404, 1003)
    );
    assert_eq!(su.get("/v1/rooms/not-a-room").await.error(), (404, 1003));
    assert_eq!(su.get("/v1/rooms/bad$id").await.error(), (400, 1201));
    assert_eq!(
        su.get(&format!("/v1/rooms/{rid}/participants/bad$id"))
            .await
            .error(),
        (400, 1201)
    );
    assert_eq!(su.get("/services/bad$id").await.error(), (400, 1201));
    assert_eq!(
        su.post("/v1/rooms", json!({"name": ""})).await.error(),
        (400, 1201)
    );
    assert_eq!(
        su.post("/v1/rooms", json!({"name": "x", "options": "no"}))
            .await
            .json()["error"]["message"],
        "Invalid room option"
    );
    let field = su
        .post(
            "/v1/rooms",
            json!({"name": "x", "options": {"views": [{"video": {"maxInput": 0}}]}}),
        )
        .await;
    assert_eq!(field.error(), (400, 1201));
    assert!(
        field.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maxInput"),
        "{}",
        field.text
    );
    let huge = vec![b' '; 200 * 1024];
    let big = su
        .raw(
            Method::POST,
            "/v1/rooms",
            Some(su.auth_header(None)),
            Some(("application/json", huge)),
        )
        .await;
    assert_eq!(big.error(), (413, 1201));
    alive(&su).await;
    let nf = su.raw(Method::GET, "/no/such/path", None, None).await;
    assert_eq!(nf.error(), (404, 1001));
    assert_eq!(nf.json()["error"]["message"], "Resource not found");
    let pre = su.raw(Method::OPTIONS, "/v1/rooms", None, None).await;
    assert_eq!((pre.status, pre.text.as_str()), (200, "OK"));
    assert!(
        pre.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    alive(&su).await;

    // --- Delete.
    let d = su.delete(&format!("/v1/rooms/{sid}")).await;
    assert_eq!((d.status, d.text.as_str()), (200, "Room deleted"));
    assert_eq!(
        su.get(&format!("/v1/rooms/{sid}")).await.error(),
        (404, 1003)
    );

    // --- The demo endpoint mints tokens for sampleRoom like OWT's sample app.
    let demo = server.demo_addr.expect("demo enabled");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{demo}/tokens"))
        .json(&json!({"room": "", "user": "py", "role": "presenter"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tok = Token::decode(&r.text().await.unwrap()).unwrap();
    tok.verify(&server.token_key).unwrap();
    let r = http
        .post(format!("http://{demo}/tokens"))
        .json(&json!({"room": rid, "user": "py", "role": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "Name or role not valid");

    // --- Metrics saw all of this.
    let m = reqwest::get(format!("{}/metrics", su.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("tessera_tokens_issued_total"), "{m}");
    assert!(
        m.contains(
            "tessera_http_requests_total{route=\"/v1/rooms\",method=\"POST\",status=\"200\"}"
        ),
        "{m}"
    );
    assert!(
        m.contains("tessera_auth_failures_total{reason=\"bad_signature\"}"),
        "{m}"
    );
}

#[tokio::test]
async fn rest_suite_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(test_config(dir.path(), None)).await.unwrap();
    assert_eq!(server.backend, "embedded");
    suite(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rest_suite_on_mongodb() {
    let mongo = MongoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(test_config(dir.path(), Some(mongo.url("owtdb"))))
        .await
        .unwrap();
    assert_eq!(server.backend, "mongodb");
    suite(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rooms_and_credentials_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(test_config(dir.path(), None)).await.unwrap();
    let first = server.super_service.clone();
    let su = Rest::for_server(&server);
    let room = su
        .post(
            "/v1/rooms",
            json!({"name": "durable", "options": {"inputLimit": 9}}),
        )
        .await
        .json();
    server.shutdown().await;

    let server = Server::start(test_config(dir.path(), None)).await.unwrap();
    assert_eq!(
        server.super_service, first,
        "the super service is created once"
    );
    let file: tessera::server::ServiceFile =
        serde_json::from_slice(&std::fs::read(&server.service_file).unwrap()).unwrap();
    assert_eq!(file, first);
    let su = Rest::for_server(&server);
    let again = su
        .get(&format!("/v1/rooms/{}", room["_id"].as_str().unwrap()))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json(), room);
    let names: Vec<String> = su
        .get("/v1/rooms")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names.iter().filter(|n| *n == "sampleRoom").count(),
        1,
        "the demo room is not duplicated: {names:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_auth_failure_is_delayed_like_owt() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.rest.auth_failure_delay_ms = 300;
    let server = Server::start(config).await.unwrap();
    let wrong = Rest::new(
        format!("http://{}", server.rest_addr),
        &server.super_service.id,
        "wrong",
    );
    // The delay is random in [0, 300] ms; only its upper bound is a property worth asserting
    // without timing flakiness, so check the answer, and that it came within the bound + slack.
    let start = std::time::Instant::now();
    assert_eq!(wrong.get("/v1/rooms").await.error(), (401, 1101));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    server.shutdown().await;
}
