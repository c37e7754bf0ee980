//! Shared helpers of the binary's integration tests: a server started in-process and a REST
//! client that signs requests with MAuth exactly as OWT's JS REST SDK does.

#![allow(dead_code)]

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::Value;
use tessera::config::Config;
use tessera::server::Server;
use tessera_auth::mauth::MauthHeader;

/// A configuration for tests: loopback, ephemeral ports, no 401 delay.
pub fn test_config(data_dir: &Path, mongodb: Option<String>) -> Config {
    let mut c = Config {
        data_dir: data_dir.to_path_buf(),
        mongodb,
        ..Config::default()
    };
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    c.rest.bind = lo;
    c.rest.port = 0;
    c.rest.auth_failure_delay_ms = 0;
    c.rest.max_body_bytes = 64 * 1024;
    c.demo.bind = lo;
    c.demo.port = 0;
    c.portal.hostname = "127.0.0.1".into();
    c.portal.bind = lo;
    c.portal.port = 0;
    c.portal.reconnection_timeout = 1;
    c.webrtc.bind = lo;
    c.webrtc.cores = 1;
    c.webrtc.pin = false;
    c
}

/// Starts a server in-process with `config` and creates a room named `room`; returns the data
/// directory (keep it alive), the server, a super-service REST client and the room id.
pub async fn server_with_room(
    dir: tempfile::TempDir,
    config: Config,
    room: &str,
) -> (tempfile::TempDir, Server, Rest, String) {
    let server = Server::start(config).await.unwrap();
    let rest = Rest::for_server(&server);
    let r = rest
        .post("/v1/rooms", serde_json::json!({"name": room}))
        .await;
    assert_eq!(r.status, 200, "room created: {}", r.text);
    let id = r.json()["_id"].as_str().unwrap().to_string();
    (dir, server, rest, id)
}

/// A response, decoded.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    /// `(status, error code)` of an error response.
    pub fn error(&self) -> (u16, i64) {
        let v = self.json();
        (
            self.status,
            v["error"]["code"]
                .as_i64()
                .unwrap_or_else(|| panic!("no error code in {}", self.text)),
        )
    }
}

/// A client signing as one service.
#[derive(Clone, Debug)]
pub struct Rest {
    pub base: String,
    pub id: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Rest {
    pub fn new(base: String, id: &str, key: &str) -> Rest {
        Rest {
            base,
            id: id.into(),
            key: key.into(),
            http: reqwest::Client::new(),
        }
    }

    pub fn for_server(server: &Server) -> Rest {
        Rest::new(
            format!("http://{}", server.rest_addr),
            &server.super_service.id,
            &server.super_service.key,
        )
    }

    pub fn auth_header(&self, user_role: Option<(&str, &str)>) -> String {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let cnonce = format!("{:016x}", rand_u64());
        MauthHeader::build(&self.id, &self.key, ts, &cnonce, user_role)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        auth: Option<String>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(a) = auth {
            rb = rb.header("Authorization", a);
        }
        if let Some((ct, b)) = body {
            rb = rb.header("Content-Type", ct).body(b);
        }
        let r = rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap()));
        self.raw(method, path, Some(self.auth_header(None)), body)
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }
}

/// A token from `POST /v1/rooms/{room}/tokens` for `user` in `role`.
pub async fn token(rest: &Rest, room: &str, user: &str, role: &str) -> String {
    let r = rest
        .post(
            &format!("/v1/rooms/{room}/tokens"),
            serde_json::json!({"user": user, "role": role}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    h.finish()
}

/// The value of the unlabelled metric `name` in Prometheus text (`/metrics`, or the lines of
/// it a scenario printed); 0 when absent (the scenarios print only non-zero counters).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}
