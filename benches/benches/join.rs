//! Join latency benchmark (P4): how long an OWT client takes from asking for a token to having
//! its publication `ready`, for one participant at a time and for N participants joining a room
//! at the same moment.
//!
//! `cargo bench -p tessera-benches --bench join` (or `scripts/bench.sh join`). It builds
//! `tessera --features count-allocs` in release (the binary the forwarding bench uses too) and
//! runs it as a child process, REST, portal and media on 127.0.0.1; as root it first moves
//! itself into a private network namespace where only `lo` exists.
//!
//! Each participant, released together with the others of its round by a barrier:
//! t0 → `POST /v1/rooms/{room}/tokens` (MAuth) → Socket.IO connect (WebSocket, EIO 4) to the
//! host the token names → `login` (protocol 1.2) → `publish` (audio + video) → `soac` offer →
//! `progress soac` answer → ICE + DTLS of a real str0m peer on loopback UDP → `progress` with
//! the publication's `sessionId` and `status: "ready"` = t1. The join latency is t1 − t0, split
//! into those phases. The peers' offers (str0m `Rtc` with its DTLS certificate, a bound UDP
//! socket) are made before t0, like a page that prepares its PeerConnection while it fetches
//! the token; their cost is printed separately.
//!
//! Environment: `JOIN_N` (participants joining at once, a comma-separated list, default `50`),
//! `JOIN_ROUNDS` (rounds of each N, a fresh room each, default 3, after one uncounted warm-up
//! round at the largest N), `JOIN_BASELINE` (sequential
//! single joins into one room, default 20), `JOIN_SERVER_CPUS` (taskset list for the server,
//! default `0`), `JOIN_CLIENT_CPUS` (CPUs of this process, the load generator, default `1`),
//! `JOIN_SHARDS` (the server's `--cores`, default 1), `JOIN_NETNS=0` (stay in the host's network
//! namespace), `JOIN_GOAL_MS` (p99 goal at the largest N, default 150), `TESSERA_BIN` (skip the
//! build).

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{build_tessera, cpu_list, cpu_model, env_str, env_u64, loadavg, pin_to};
use serde_json::{Value, json};
use str0m::media::MediaKind;
use tessera_testkit::peer::{Peer, PeerOffer};
use tessera_testkit::sio::SioClient;

#[path = "common/mod.rs"]
mod common;

type Res<T> = Result<T, String>;

/// Phases of a join, each ending at a mark (the first starts at t0).
const PHASES: [&str; 7] = [
    "token (REST)",
    "connect (WebSocket)",
    "login",
    "publish ack",
    "soac → answer",
    "ICE + DTLS (client)",
    "→ progress ready",
];

/// Bound of each phase.
const PHASE_TIMEOUT: Duration = Duration::from_secs(15);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---- OS helpers -------------------------------------------------------------------------------

/// CPU time (ns) of every thread of process `pid` (`self` for this one), from schedstat.
fn cpu_ns(pid: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

// ---- The server -------------------------------------------------------------------------------

/// A running `tessera` child process.
struct Server {
    child: Child,
    base: String,
    service: (String, String),
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start(bin: &Path, cpus: &str, shards: u64) -> Res<Server> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let rest_port = tessera_testkit::free_port();
        let portal_port = tessera_testkit::free_port();
        let log =
            std::fs::File::create(dir.path().join("tessera.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        common::confine_child(&mut cmd, &cpu_list(cpus));
        let child = cmd
            .args(["--data-dir"])
            .arg(dir.path())
            .args([
                "--bind",
                "127.0.0.1",
                "--rest-port",
                &rest_port.to_string(),
                "--portal-port",
                &portal_port.to_string(),
                "--portal-hostname",
                "127.0.0.1",
                "--no-demo",
                "--cores",
                &shards.to_string(),
                "--public-ip",
                "127.0.0.1",
                "--log-level",
                "info",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let base = format!("http://127.0.0.1:{rest_port}");
        let http = reqwest::Client::builder()
            .timeout(PHASE_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let mut s = Server {
            child,
            base,
            service: (String::new(), String::new()),
            http,
            dir,
        };
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if Instant::now() > end {
                return Err(format!(
                    "tessera did not start within 30 s; log:\n{}",
                    s.log_tail(30)
                ));
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!("tessera exited ({st}); log:\n{}", s.log_tail(30)));
            }
            if let Ok(text) = std::fs::read_to_string(s.dir.path().join("service.json"))
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && s.http
                    .get(format!("{}/metrics", s.base))
                    .send()
                    .await
                    .is_ok()
                && tessera_testkit::wait_for_port(portal_port, Duration::from_millis(10))
            {
                s.service = (
                    v["id"].as_str().unwrap_or_default().to_string(),
                    v["key"].as_str().unwrap_or_default().to_string(),
                );
                return Ok(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("tessera.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The last `max` lines of the server log that `keep` selects.
    fn log_matching(&self, keep: impl Fn(&str) -> bool, max: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("tessera.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
        all[all.len().saturating_sub(max)..].join("\n")
    }

    fn mauth(&self) -> String {
        common::mauth(&self.service.0, &self.service.1)
    }

    /// `(status, body)` of an authenticated request.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Res<(u16, String)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", self.mauth());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, text))
    }

    async fn create_room(&self, name: &str) -> Res<String> {
        let (status, text) = self
            .call(
                reqwest::Method::POST,
                "/v1/rooms",
                Some(json!({"name": name})),
            )
            .await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match v["_id"].as_str() {
            Some(id) if status == 200 => Ok(id.to_string()),
            _ => Err(format!("room not created: {status} {text}")),
        }
    }

    async fn token(&self, room: &str, user: &str) -> Res<String> {
        let (status, text) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/rooms/{room}/tokens"),
                Some(json!({"user": user, "role": "presenter"})),
            )
            .await?;
        if status != 200 {
            return Err(format!("{status} {text}"));
        }
        Ok(text)
    }

    async fn participants(&self, room: &str) -> Res<usize> {
        let (status, text) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/rooms/{room}/participants"),
                None,
            )
            .await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        v.as_array()
            .map(Vec::len)
            .ok_or_else(|| format!("participants: {status} {text}"))
    }

    async fn allocations(&self) -> Option<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == "tessera_allocations_total").then(|| v.trim().parse().ok())?
        })
    }

    fn stop(&mut self) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- One participant --------------------------------------------------------------------------

/// A participant that joined: kept alive until its round ends.
struct Joined {
    client: SioClient,
    peer: Peer,
}

/// Marks of one join: t0 and the end of every phase.
struct Marks {
    t0: Instant,
    ends: Vec<Instant>,
}

impl Marks {
    fn total(&self) -> Duration {
        self.ends.last().map_or(Duration::ZERO, |e| *e - self.t0)
    }
    fn phase(&self, i: usize) -> Duration {
        let start = if i == 0 { self.t0 } else { self.ends[i - 1] };
        self.ends[i].saturating_duration_since(start)
    }
}

async fn bounded<T>(phase: &str, f: impl Future<Output = Res<T>>) -> Res<T> {
    match tokio::time::timeout(PHASE_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{phase}: {e}")),
        Err(_) => Err(format!(
            "{phase}: no answer within {} s",
            PHASE_TIMEOUT.as_secs()
        )),
    }
}

fn ok_data(what: &str, ack: Vec<Value>) -> Res<Value> {
    if ack.first().and_then(Value::as_str) == Some("ok") {
        Ok(ack.into_iter().nth(1).unwrap_or(Value::Null))
    } else {
        Err(format!("{what} refused: {}", Value::Array(ack)))
    }
}

/// One join, t0 → publication ready. On failure, the error names the phase.
async fn join(
    server: &Server,
    room: &str,
    user: &str,
    offer: PeerOffer,
) -> (Res<Marks>, Option<Joined>) {
    let t0 = Instant::now();
    let mut ends = Vec::with_capacity(PHASES.len());
    let token = match bounded(PHASES[0], server.token(room, user)).await {
        Ok(t) => t,
        Err(e) => return (Err(e), None),
    };
    ends.push(Instant::now());
    let addr: SocketAddr = match tessera_auth::token::Token::decode(&token)
        .map_err(|e| format!("token: undecodable: {e:?}"))
        .and_then(|t| {
            t.host
                .parse()
                .map_err(|e| format!("token: host {}: {e}", t.host))
        }) {
        Ok(a) => a,
        Err(e) => return (Err(e), None),
    };
    let mut client = match bounded(PHASES[1], SioClient::connect(addr)).await {
        Ok(c) => c,
        Err(e) => return (Err(e), None),
    };
    ends.push(Instant::now());
    let result = async {
        let login = json!({"token": token, "userAgent": {"sdk": {"type": "JavaScript", "version": "5.1"}}, "protocol": "1.2"});
        let ack = bounded(PHASES[2], client.request("login", Some(login))).await?;
        ok_data("login", ack)?;
        ends.push(Instant::now());
        let tracks: Vec<Value> = offer
            .mids
            .iter()
            .map(|(mid, kind)| json!({"type": kind, "mid": mid, "source": if *kind == "audio" { "mic" } else { "camera" }}))
            .collect();
        let publish = json!({"media": {"tracks": tracks}, "transport": {"type": "webrtc"}, "attributes": {}});
        let ack = bounded(PHASES[3], client.request("publish", Some(publish))).await?;
        let data = ok_data("publish", ack)?;
        let (stream, transport) = match (data["id"].as_str(), data["transportId"].as_str()) {
            (Some(s), Some(t)) => (s.to_string(), t.to_string()),
            _ => return Err(format!("publish: no id/transportId in {data}")),
        };
        ends.push(Instant::now());
        let soac = json!({"id": transport, "signaling": {"type": "offer", "sdp": offer.sdp}});
        let answer = bounded(PHASES[4], async {
            ok_data("soac", client.request("soac", Some(soac)).await?)?;
            let (_, answer) = client
                .wait_for(PHASE_TIMEOUT, |e, d| {
                    e == "progress"
                        && d["id"] == transport.as_str()
                        && (d["status"] == "soac" && d["data"]["type"] == "answer"
                            || d["status"] == "error")
                })
                .await?;
            match answer["data"]["sdp"].as_str() {
                Some(sdp) => Ok(sdp.to_string()),
                None => Err(format!("instead of an answer: {answer}")),
            }
        })
        .await?;
        ends.push(Instant::now());
        let peer = offer
            .start(&answer)
            .map_err(|e| format!("{}: {e}", PHASES[5]))?;
        let (_, ready) = client
            .wait_for(PHASE_TIMEOUT, |e, d| {
                e == "progress"
                    && d["id"] == transport.as_str()
                    && (d["status"] == "ready" && d["sessionId"] == stream.as_str()
                        || d["status"] == "error")
            })
            .await
            .map_err(|e| {
                format!(
                    "{}: {e} (client peer connected: {}, failed: {})",
                    PHASES[6],
                    peer.connected_at().is_some(),
                    peer.failed()
                )
            })?;
        let t1 = Instant::now();
        if ready["status"] != "ready" {
            return Err(format!("{}: {ready}", PHASES[6]));
        }
        // The client peer is connected before the server (the DTLS client) is; should the
        // event be seen late, the phase split is clamped, the total is not affected.
        let connected = peer.connected_at().unwrap_or(t1).min(t1);
        ends.push(connected.max(*ends.last().expect("answer mark")));
        ends.push(t1);
        Ok(peer)
    }
    .await;
    match result {
        Ok(peer) => (Ok(Marks { t0, ends }), Some(Joined { client, peer })),
        Err(e) => {
            client.close().await;
            (Err(e), None)
        }
    }
}

// ---- Rounds -----------------------------------------------------------------------------------

/// What one round of N simultaneous joins gave.
#[derive(Default)]
struct Round {
    marks: Vec<Marks>,
    failures: Vec<String>,
    wall: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
    allocations: Option<f64>,
    offers: Duration,
}

/// N participants join `room` at once; then they log out and the room empties.
async fn round(server: &Arc<Server>, room: &str, n: usize, tag: &str) -> Round {
    let t = Instant::now();
    let offers: Vec<PeerOffer> = (0..n)
        .map(|_| PeerOffer::new(true, &[MediaKind::Audio, MediaKind::Video]))
        .collect();
    let offers_time = t.elapsed();
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let allocs0 = server.allocations().await;
    let (s0, c0) = (cpu_ns(&server.pid()), cpu_ns("self"));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, offer) in offers.into_iter().enumerate() {
        let (server, room, barrier) = (server.clone(), room.to_string(), barrier.clone());
        let user = format!("{tag}-{i}");
        tasks.spawn(async move {
            barrier.wait().await;
            let (r, j) = join(&server, &room, &user, offer).await;
            (i, r, j)
        });
    }
    let mut out = Round {
        offers: offers_time,
        ..Round::default()
    };
    let mut joined = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((_, Ok(m), j)) => {
                out.marks.push(m);
                joined.extend(j);
            }
            Ok((i, Err(e), _)) => out.failures.push(format!("participant {i}: {e}")),
            Err(e) => out.failures.push(format!("a join task failed: {e}")),
        }
    }
    out.wall = start.elapsed();
    out.server_cpu = Duration::from_nanos(cpu_ns(&server.pid()).saturating_sub(s0));
    out.client_cpu = Duration::from_nanos(cpu_ns("self").saturating_sub(c0));
    if let (Some(a0), Some(a1)) = (allocs0, server.allocations().await) {
        out.allocations = Some(a1 - a0);
    }
    // Leave: logout, close, stop the peers; then wait for the room to empty.
    let mut leaving = tokio::task::JoinSet::new();
    for mut j in joined {
        leaving.spawn(async move {
            let _ = tokio::time::timeout(PHASE_TIMEOUT, j.client.request("logout", None)).await;
            j.client.close().await;
            j.peer
        });
    }
    let mut peers = Vec::new();
    while let Some(p) = leaving.join_next().await {
        peers.extend(p.ok());
    }
    drop(peers);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match server.participants(room).await {
            Ok(0) => break,
            Ok(left) if Instant::now() > end => {
                out.failures.push(format!(
                    "{left} participants still in the room 10 s after logging out"
                ));
                break;
            }
            Err(e) => {
                out.failures.push(format!("after the round: {e}"));
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    out
}

// ---- Statistics and output --------------------------------------------------------------------

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn f1(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-".into()
    }
}

/// Everything measured at one N.
struct Series {
    n: usize,
    label: String,
    rounds: Vec<Round>,
}

impl Series {
    fn totals(&self) -> Vec<f64> {
        sorted(
            self.rounds
                .iter()
                .flat_map(|r| r.marks.iter().map(|m| ms(m.total())))
                .collect(),
        )
    }
    fn phase(&self, i: usize) -> Vec<f64> {
        sorted(
            self.rounds
                .iter()
                .flat_map(|r| r.marks.iter().map(move |m| ms(m.phase(i))))
                .collect(),
        )
    }
    fn joins(&self) -> usize {
        self.rounds.iter().map(|r| r.marks.len()).sum()
    }
    fn failures(&self) -> usize {
        self.rounds.iter().map(|r| r.failures.len()).sum()
    }
    fn per_join(&self, f: impl Fn(&Round) -> f64) -> f64 {
        self.rounds.iter().map(f).sum::<f64>() / self.joins().max(1) as f64
    }
}

fn summary(marks: &[Marks]) -> String {
    let t = sorted(marks.iter().map(|m| ms(m.total())).collect());
    format!(
        "p50 {} ms, p99 {} ms, max {} ms",
        f1(pct(&t, 0.5)),
        f1(pct(&t, 0.99)),
        f1(t.last().copied().unwrap_or(f64::NAN))
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets without it,
    // and this one starts servers and takes a minute, so it only runs under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("join: run with `cargo bench -p tessera-benches --bench join` (skipped)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Res<()> {
    let ns: Vec<usize> = env_str("JOIN_N", "50")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let rounds = env_u64("JOIN_ROUNDS", 3).max(1) as usize;
    let baseline = env_u64("JOIN_BASELINE", 20) as usize;
    let goal_ms = env_u64("JOIN_GOAL_MS", 150) as f64;
    let server_cpus = env_str("JOIN_SERVER_CPUS", "0");
    let client_cpus = env_str("JOIN_CLIENT_CPUS", "1");
    let shards = env_u64("JOIN_SHARDS", 1);
    let bin = build_tessera()?;

    // Before any thread exists: the namespace, then this process's CPUs (inherited by every
    // thread started later: the tokio runtime, the peers; the server's CPUs are set separately).
    let netns = if env_str("JOIN_NETNS", "1") != "0" {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            common::enter_private_netns(false)?;
            "a private network namespace (only lo)"
        } else {
            "the host's network namespace (not root); every candidate is 127.0.0.1 on both sides"
        }
    } else {
        "the host's network namespace (JOIN_NETNS=0); every candidate is 127.0.0.1 on both sides"
    };
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let client_set = cpu_list(&client_cpus);
    let pinned = online > 1 && !client_set.is_empty() && pin_to(&client_set);
    println!(
        "machine: {} CPUs online ({}); load average {}",
        online,
        cpu_model(),
        loadavg()
    );
    println!(
        "server: {} --cores {shards} confined to CPU(s) {server_cpus}; load generator (this process: REST + Socket.IO clients on one tokio thread, one str0m peer thread per participant) on CPU(s) {}; network: {netns}",
        bin.display(),
        if pinned {
            client_cpus.clone()
        } else {
            "any (not pinned)".into()
        }
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let server = Arc::new(Server::start(&bin, &server_cpus, shards).await?);
        let started = Instant::now();
        let stamp = |started: Instant| format!("[{:>6.1}s]", started.elapsed().as_secs_f64());
        let result = async {
            let mut all: Vec<Series> = Vec::new();
            // Warm-up, not counted: the first joins pay one-time costs (lazy statics, the
            // first shard work, the allocator and the runtimes growing to a burst's size). One
            // round at the largest N, its figures printed.
            let warm_n = ns.iter().copied().max().unwrap_or(1);
            let room = server.create_room("join-warmup").await?;
            let w = round(&server, &room, warm_n, "warmup").await;
            for f in &w.failures {
                println!("{} warm-up FAILED: {f}", stamp(started));
            }
            println!(
                "{} warm-up round (not counted): {}/{warm_n} joined; {}",
                stamp(started),
                w.marks.len(),
                summary(&w.marks)
            );
            if baseline > 0 {
                let room = server.create_room("join-baseline").await?;
                let mut s = Series { n: 1, label: format!("1 at a time ({baseline} sequential joins, one room)"), rounds: Vec::new() };
                for rep in 0..baseline {
                    let r = round(&server, &room, 1, &format!("b{rep}")).await;
                    for f in &r.failures {
                        println!("{} N=1 rep {}: FAILED: {f}", stamp(started), rep + 1);
                    }
                    if let Some(m) = r.marks.first() {
                        let parts: Vec<String> = (0..PHASES.len()).map(|i| format!("{:.1}", ms(m.phase(i)))).collect();
                        println!("{} N=1 rep {:>2}/{baseline}: {:>6.1} ms  (phases {})", stamp(started), rep + 1, ms(m.total()), parts.join(" / "));
                    }
                    s.rounds.push(r);
                }
                all.push(s);
            }
            for &n in &ns {
                let mut s = Series { n, label: format!("{n} at once ({rounds} rounds, a fresh room each)"), rounds: Vec::new() };
                for k in 0..rounds {
                    let room = server.create_room(&format!("join-{n}-{k}")).await?;
                    println!("{} N={n} round {}/{rounds}: releasing {n} participants...", stamp(started), k + 1);
                    let r = round(&server, &room, n, &format!("n{n}r{k}")).await;
                    for f in &r.failures {
                        println!("{}   FAILED: {f}", stamp(started));
                    }
                    println!(
                        "{}   {}/{n} joined, last ready after {:.1} ms; {}; server CPU {:.0} ms, load generator CPU {:.0} ms (+{:.0} ms making {n} offers beforehand){}",
                        stamp(started),
                        r.marks.len(),
                        ms(r.wall),
                        summary(&r.marks),
                        ms(r.server_cpu),
                        ms(r.client_cpu),
                        ms(r.offers),
                        r.allocations.map_or(String::new(), |a| format!(", server allocations {a:.0}")),
                    );
                    s.rounds.push(r);
                }
                all.push(s);
            }
            Ok::<_, String>(all)
        }
        .await;
        let mut server = Arc::try_unwrap(server).map_err(|_| "server still shared".to_string())?;
        let all = match result {
            Ok(a) => a,
            Err(e) => {
                let tail = server.log_tail(30);
                server.stop();
                return Err(format!("{e}\nserver log:\n{tail}"));
            }
        };
        let failures: usize = all.iter().map(Series::failures).sum();
        if failures > 0 {
            println!(
                "\nserver log, warnings and errors:\n{}",
                server.log_matching(|l| l.contains(" WARN ") || l.contains(" ERROR "), 40)
            );
            if let Ok(keep) = std::env::var("JOIN_KEEP_LOG") {
                let _ = std::fs::copy(server.dir.path().join("tessera.log"), &keep);
                println!("server log copied to {keep}");
            }
        }
        server.stop();
        report(&all, goal_ms, started.elapsed());
        if failures > 0 {
            return Err(format!("{failures} joins failed (see FAILED above)"));
        }
        Ok(())
    })
}

fn report(all: &[Series], goal_ms: f64, elapsed: Duration) {
    println!(
        "\nload average at end: {}; total {:.0} s\n",
        loadavg(),
        elapsed.as_secs_f64()
    );
    println!("Join latency, token request → publication `ready` (ms):\n");
    println!(
        "| participants | joins | failed | p50 | p90 | p99 | max | server CPU ms/join | load generator CPU ms/join | server allocations/join |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for s in all {
        let t = s.totals();
        let allocs = s
            .rounds
            .iter()
            .map(|r| r.allocations)
            .sum::<Option<f64>>()
            .map_or("-".into(), |a| {
                format!("{:.0}", a / s.joins().max(1) as f64)
            });
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {allocs} |",
            s.label,
            s.joins(),
            s.failures(),
            f1(pct(&t, 0.5)),
            f1(pct(&t, 0.9)),
            f1(pct(&t, 0.99)),
            f1(t.last().copied().unwrap_or(f64::NAN)),
            s.per_join(|r| ms(r.server_cpu)),
            s.per_join(|r| ms(r.client_cpu)),
        );
    }
    println!("\nPhases (ms, p50 / p99 over the joins; each phase ends where the next starts):\n");
    let mut header = String::from("| phase |");
    let mut rule = String::from("|---|");
    for s in all {
        header.push_str(&format!(" N = {} p50 | N = {} p99 |", s.n, s.n));
        rule.push_str("---|---|");
    }
    println!("{header}\n{rule}");
    for (i, name) in PHASES.iter().enumerate() {
        let mut line = format!("| {name} |");
        for s in all {
            let p = s.phase(i);
            line.push_str(&format!(" {} | {} |", f1(pct(&p, 0.5)), f1(pct(&p, 0.99))));
        }
        println!("{line}");
    }
    if let Some(big) = all.iter().filter(|s| s.n > 1).max_by_key(|s| s.n) {
        let p99 = pct(&big.totals(), 0.99);
        let met = p99 <= goal_ms && big.failures() == 0;
        println!(
            "\ngoal: p99 ≤ {goal_ms:.0} ms with {} joining at once: {} (p99 {} ms over {} joins, {} failed)",
            big.n,
            if met { "met" } else { "NOT met" },
            f1(p99),
            big.joins(),
            big.failures()
        );
    }
}
