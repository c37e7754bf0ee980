//! Signed token creation per second (`POST /v1/rooms/{id}/tokens`, MAuth-signed, over HTTP on
//! loopback) with each store, next to the in-process cost of signing alone.
//!
//! `cargo bench -p tessera-benches --bench tokens` (env: TOKENS_SECONDS=5, TOKENS_CLIENTS=16).
//! The MongoDB row uses the MongoDB-wire-compatible server that `scripts/test.sh` installs
//! (secantusdb, in memory); it measures the driver path, not a production MongoDB.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tessera::config::Config;
use tessera::server::Server;
use tessera_auth::mauth::MauthHeader;
use tessera_auth::token::Token;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Row {
    name: String,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run_store(name: &str, mongodb: Option<String>, seconds: u64, clients: u64) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config {
        data_dir: dir.path().to_path_buf(),
        mongodb,
        ..Config::default()
    };
    c.rest.bind = "127.0.0.1".parse().unwrap();
    c.rest.port = 0;
    c.demo.enabled = false;
    c.log.level = "warn".into();
    let server = Server::start(c).await.expect("server starts");
    let base = format!("http://{}", server.rest_addr);
    let (id, key) = (
        server.super_service.id.clone(),
        server.super_service.key.clone(),
    );
    let http = reqwest::Client::new();
    let sign = |id: &str, key: &str| {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        MauthHeader::build(id, key, ts, "1234", None)
    };
    let room: serde_json::Value = http
        .post(format!("{base}/v1/rooms"))
        .header("Authorization", sign(&id, &key))
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{base}/v1/rooms/{}/tokens", room["_id"].as_str().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..clients {
        let (http, url, id, key, stop, done) = (
            http.clone(),
            url.clone(),
            id.clone(),
            key.clone(),
            stop.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let r = http
                    .post(&url)
                    .header("Authorization", sign(&id, &key))
                    .json(&serde_json::json!({"user": "bench", "role": "presenter"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.text().await.unwrap();
                lat.push(t0.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            lat
        }));
    }
    for s in 1..=seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprintln!(
            "  {name}: {s}/{seconds} s, {} tokens",
            done.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let q =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    let row = Row {
        name: name.into(),
        per_sec: all.len() as f64 / elapsed,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
    };
    server.shutdown().await;
    row
}

fn sign_only(seconds: f64) -> f64 {
    let key = "0".repeat(128);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..1000 {
            let t = Token::new(
                &key,
                "5f1d2c3b4a5968778695a4b3".into(),
                "10.0.0.5:8080".into(),
                false,
                None,
            );
            std::hint::black_box(t.encode());
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds = env_num("TOKENS_SECONDS", 5);
    let clients = env_num("TOKENS_CLIENTS", 16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "Signed token creation: {clients} concurrent HTTP clients on loopback, {seconds} s per store"
    );
    let sign_rate = sign_only(1.0);
    let mut rows = vec![rt.block_on(run_store("embedded (redb)", None, seconds, clients))];
    let mongo = std::panic::catch_unwind(tessera_testkit::MongoServer::start);
    match mongo {
        Ok(m) => rows.push(rt.block_on(run_store(
            "mongodb (secantusdb)",
            Some(m.url("owtdb")),
            seconds,
            clients,
        ))),
        Err(_) => println!(
            "  mongodb row skipped: the MongoDB-compatible test server is not installed (run scripts/test.sh)"
        ),
    }
    println!();
    println!("| store | tokens/s | p50 ms | p99 ms | vs signing alone |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.4} |",
            r.name,
            r.per_sec,
            r.p50_ms,
            r.p99_ms,
            r.per_sec / sign_rate
        );
    }
    println!("| signing + encoding only (in-process, 1 thread) | {sign_rate:.0} | | | 1 |");
    if rows.len() == 2 {
        println!(
            "\nembedded / mongodb throughput ratio: {:.2}",
            rows[0].per_sec / rows[1].per_sec
        );
    }
}
