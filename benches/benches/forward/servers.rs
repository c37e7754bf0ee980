//! The servers under test as child processes: Tessera (release binary, REST + WHIP/WHEP) and
//! Janus 1.1.2 (streaming plugin, HTTP API), both pinned to CPU 0, plus the HTTP signalling
//! each needs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, RtcConfig};

use crate::client::RtcPeer;

type Res<T> = Result<T, String>;

/// A str0m peer (OpenSSL DTLS from tessera-dtls, VP8 + Opus only) with a host candidate on a
/// fresh 127.0.0.1 socket.
pub fn rtc_peer() -> RtcPeer {
    rtc_peer_on([127, 0, 0, 1].into())
}

/// Like [`rtc_peer`] on another local address.
pub fn rtc_peer_on(ip: std::net::IpAddr) -> RtcPeer {
    let sock = crate::client::udp_socket_on(ip);
    let local = sock.local_addr().expect("local address");
    let config = RtcConfig::new()
        .set_crypto_provider(Arc::new(tessera_dtls::crypto_provider()))
        .set_dtls_cert(tessera_dtls::shared_dtls_cert())
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_stats_interval(None);
    let (mut rtc, tap) = tessera_dtls::build_with_tap(config, Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").expect("host candidate"))
        .expect("candidate added");
    RtcPeer {
        rtc,
        tap,
        sock,
        local,
    }
}

/// Starts `program args` pinned to CPU 0, logging to `log`.
fn spawn_pinned(program: &Path, args: &[String], log: &Path) -> Res<Child> {
    spawn_on(program, args, log, &[0])
}

/// Starts `program args` confined to `cpus`, logging to `log`.
fn spawn_on(program: &Path, args: &[String], log: &Path, cpus: &[usize]) -> Res<Child> {
    let f = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(f).stderr(f2);
    crate::common::confine_child(&mut cmd, cpus);
    cmd.spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))
}

/// Stops a child with SIGTERM, then SIGKILL after 5 s.
pub fn stop(child: &mut Child) {
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Values of the first sample of each named metric.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Extracts (first a=ssrc, payload type of `codec`) from the m-section of `kind` in an SDP.
pub fn ssrc_and_pt(sdp: &str, kind: &str, codec: &str) -> Option<(u32, u8)> {
    let section = sdp.split("\r\nm=").find(|s| s.starts_with(kind))?;
    let ssrc = section
        .lines()
        .find_map(|l| l.strip_prefix("a=ssrc:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let pt = section.lines().find_map(|l| {
        let rest = l.strip_prefix("a=rtpmap:")?;
        let (pt, enc) = rest.split_once(' ')?;
        enc.to_ascii_lowercase()
            .starts_with(&codec.to_ascii_lowercase())
            .then(|| pt.parse().ok())
            .flatten()
    })?;
    Some((ssrc, pt))
}

// ---- Tessera --------------------------------------------------------------------------------

/// A running `tessera` with a room.
pub struct Tessera {
    pub child: Child,
    pub base: String,
    service: (String, String),
    pub room: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Tessera {
    /// Starts the binary (one shard on CPU 0, media on 127.0.0.1:`udp_port`, shard loop
    /// `runtime`: `uring` or `glommio`) and creates a room.
    pub async fn start(bin: &Path, rest_port: u16, udp_port: u16, runtime: &str) -> Res<Tessera> {
        Self::start_with(bin, rest_port, udp_port, 1, None, runtime).await
    }

    /// Like [`Tessera::start`] with `cores` shards, pinned to CPUs 0..`cores` (the process's
    /// other threads are confined to them too; shard i listens on `udp_port` + i), and with
    /// `--relay-slack` when given.
    pub async fn start_with(
        bin: &Path,
        rest_port: u16,
        udp_port: u16,
        cores: usize,
        relay_slack: Option<usize>,
        runtime: &str,
    ) -> Res<Tessera> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // "uring-nogso": the uring loop with `--no-udp-gso`.
        let (runtime, no_gso) = match runtime.strip_suffix("-nogso") {
            Some(r) => (r, true),
            None => (runtime, false),
        };
        let args: Vec<String> = [
            "--data-dir",
            &dir.path().display().to_string(),
            "--bind",
            "127.0.0.1",
            "--rest-port",
            &rest_port.to_string(),
            "--no-demo",
            "--cores",
            &cores.to_string(),
            "--udp-port",
            &udp_port.to_string(),
            "--public-ip",
            "127.0.0.1",
            "--log-level",
            "warn",
            "--runtime",
            runtime,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut args = args;
        if let Some(n) = relay_slack {
            args.extend(["--relay-slack".to_string(), n.to_string()]);
        }
        if no_gso {
            args.push("--no-udp-gso".to_string());
        }
        let cpus: Vec<usize> = (0..cores).collect();
        let child = spawn_on(bin, &args, &dir.path().join("tessera.log"), &cpus)?;
        let base = format!("http://127.0.0.1:{rest_port}");
        let http = reqwest::Client::new();
        let service_file = dir.path().join("service.json");
        let end = Instant::now() + Duration::from_secs(30);
        let service = loop {
            if Instant::now() > end {
                return Err(format!(
                    "tessera did not start within 30 s; log:\n{}",
                    std::fs::read_to_string(dir.path().join("tessera.log")).unwrap_or_default()
                ));
            }
            if let Ok(s) = std::fs::read_to_string(&service_file)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&s)
                && http.get(format!("{base}/metrics")).send().await.is_ok()
            {
                break (
                    v["id"].as_str().unwrap_or_default().to_string(),
                    v["key"].as_str().unwrap_or_default().to_string(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut t = Tessera {
            child,
            base,
            service,
            room: String::new(),
            http,
            _dir: dir,
        };
        let room: serde_json::Value = t
            .http
            .post(format!("{}/v1/rooms", t.base))
            .header("Authorization", t.mauth())
            .json(&serde_json::json!({"name": "forward-bench"}))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        t.room = room["_id"]
            .as_str()
            .ok_or_else(|| format!("room not created: {room}"))?
            .to_string();
        Ok(t)
    }

    fn mauth(&self) -> String {
        crate::common::mauth(&self.service.0, &self.service.1)
    }

    async fn token(&self, role: &str) -> Res<String> {
        let r = self
            .http
            .post(format!("{}/v1/rooms/{}/tokens", self.base, self.room))
            .header("Authorization", self.mauth())
            .json(&serde_json::json!({"user": "bench", "role": role}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("token: {}", r.status()));
        }
        r.text().await.map_err(|e| e.to_string())
    }

    async fn post_sdp(&self, path: &str, role: &str, offer: String) -> Res<(String, String)> {
        let token = self.token(role).await?;
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/sdp")
            .body(offer)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let location = r
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.text().await.map_err(|e| e.to_string())?;
        if status.as_u16() != 201 {
            return Err(format!("POST {path}: {status} {body}"));
        }
        Ok((body, location))
    }

    /// Publishes over WHIP; returns the peer, the stream id and (video ssrc/pt, audio ssrc/pt).
    pub async fn whip(&self) -> Res<(RtcPeer, String, (u32, u8), (u32, u8))> {
        let mut p = rtc_peer();
        let mut api = p.rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or("no offer")?;
        let offer_sdp = offer.to_sdp_string();
        let video = ssrc_and_pt(&offer_sdp, "video", "VP8/").ok_or("no video ssrc in offer")?;
        let audio = ssrc_and_pt(&offer_sdp, "audio", "opus/").ok_or("no audio ssrc in offer")?;
        let (answer, location) = self
            .post_sdp(&format!("/whip/{}", self.room), "presenter", offer_sdp)
            .await?;
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| e.to_string())?;
        p.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        let stream = location.rsplit('/').next().unwrap_or_default().to_string();
        Ok((p, stream, video, audio))
    }

    /// Waits (up to 10 s) until the publication is ready: its publisher connected, so the room
    /// lists it (`GET /v1/rooms/{room}/streams/{id}`) and WHEP may play it.
    pub async fn wait_published(&self, stream: &str) -> Res<()> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .http
                .get(format!(
                    "{}/v1/rooms/{}/streams/{stream}",
                    self.base, self.room
                ))
                .header("Authorization", self.mauth())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status().is_success() {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(format!(
                    "stream {stream} not ready within 10 s: {}",
                    r.status()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Subscribes over WHEP.
    pub async fn whep(&self, stream: &str) -> Res<RtcPeer> {
        let mut p = rtc_peer();
        let mut api = p.rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or("no offer")?;
        let (answer, _) = self
            .post_sdp(
                &format!("/whep/{}/{stream}", self.room),
                "viewer",
                offer.to_sdp_string(),
            )
            .await?;
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| e.to_string())?;
        p.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        Ok(p)
    }

    /// The /metrics text.
    pub async fn metrics(&self) -> Res<String> {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    }
}

// ---- Janus ----------------------------------------------------------------------------------

/// A running Janus with one streaming mountpoint (id 1) fed by plain RTP.
pub struct Janus {
    pub child: Child,
    base: String,
    session: u64,
    http: reqwest::Client,
    pub video_port: u16,
    pub audio_port: u16,
    _dir: tempfile::TempDir,
    txn: u64,
}

/// Debian's Janus plugin folders; `FORWARD_JANUS_LIB` points elsewhere (a copied Janus).
const JANUS_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// The interface Janus gathers its host candidate on: `FORWARD_JANUS_IFACE`, default the
/// namespace's veth `jb0`. On a machine where the bench cannot make a veth (no iproute2 or no
/// veth in the kernel; `FORWARD_NETNS=0`), name a non-loopback interface instead: traffic to
/// one of the machine's own addresses still only crosses `lo`.
pub fn janus_iface() -> String {
    std::env::var("FORWARD_JANUS_IFACE").unwrap_or_else(|_| "jb0".into())
}

/// The address Janus's subscribers bind: 127.0.0.2 on the veth, otherwise the first IPv4
/// address of [`janus_iface`].
fn janus_addr() -> Res<std::net::IpAddr> {
    let iface = janus_iface();
    if iface == "jb0" {
        return Ok([127, 0, 0, 2].into());
    }
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below; entries are read while it is alive.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(format!("getifaddrs: {}", std::io::Error::last_os_error()));
    }
    let mut found = None;
    let mut p = list;
    while !p.is_null() && found.is_none() {
        // SAFETY: `p` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*p };
        // SAFETY: ifa_name is a NUL-terminated string for every entry.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() == iface.as_bytes()
            && !ifa.ifa_addr.is_null()
            // SAFETY: ifa_addr is non-null and starts with the family.
            && i32::from(unsafe { (*ifa.ifa_addr).sa_family }) == libc::AF_INET
        {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            found = Some(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).into());
        }
        p = ifa.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found.ok_or_else(|| format!("no IPv4 address on {iface} (FORWARD_JANUS_IFACE)"))
}

fn janus_config(
    dir: &Path,
    http_port: u16,
    audio_port: u16,
    video_port: u16,
    event_loops: u32,
) -> Res<PathBuf> {
    let loops = if event_loops > 0 {
        format!("\tevent_loops = {event_loops}\n")
    } else {
        String::new()
    };
    let lib = std::env::var("FORWARD_JANUS_LIB").unwrap_or_else(|_| JANUS_LIB.into());
    let iface = janus_iface();
    let main = format!(
        r#"general: {{
	configs_folder = "{dir}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	debug_level = 3
	session_timeout = 0
{loops}}}
certificates: {{
}}
media: {{
	ipv6 = false
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "{iface}"
	ignore_mdns = true
}}
plugins: {{
	disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_videoroom.so,libjanus_voicemail.so"
}}
transports: {{
	disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_websockets.so"
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
events: {{
	broadcast = false
	disable = "libjanus_gelfevh.so,libjanus_mqttevh.so,libjanus_nanomsgevh.so,libjanus_rabbitmqevh.so,libjanus_sampleevh.so,libjanus_wsevh.so"
}}
"#,
        dir = dir.display()
    );
    let http = format!(
        r#"general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {http_port}
	ip = "127.0.0.1"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
"#
    );
    let streaming = format!(
        r#"general: {{
	events = false
}}
bench: {{
	type = "rtp"
	id = 1
	description = "forward bench"
	media = (
		{{ type = "audio" mid = "a" label = "audio" port = {audio_port} pt = 111 codec = "opus" iface = "127.0.0.1" }},
		{{ type = "video" mid = "v" label = "video" port = {video_port} pt = 96 codec = "vp8" iface = "127.0.0.1" }}
	)
}}
"#
    );
    let w = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    w("janus.jcfg", &main)?;
    w("janus.transport.http.jcfg", &http)?;
    w("janus.plugin.streaming.jcfg", &streaming)?;
    Ok(dir.join("janus.jcfg"))
}

impl Janus {
    /// Starts Janus pinned to CPU 0 and opens an API session.
    pub async fn start(
        http_port: u16,
        audio_port: u16,
        video_port: u16,
        event_loops: u32,
    ) -> Res<Janus> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let cfg = janus_config(dir.path(), http_port, audio_port, video_port, event_loops)?;
        let args = vec![
            "-C".to_string(),
            cfg.display().to_string(),
            "-F".to_string(),
            dir.path().display().to_string(),
            "-o".to_string(),
        ];
        let child = spawn_pinned(Path::new("janus"), &args, &dir.path().join("janus.log"))?;
        let mut j = Janus {
            child,
            base: format!("http://127.0.0.1:{http_port}/janus"),
            session: 0,
            http: reqwest::Client::new(),
            video_port,
            audio_port,
            _dir: dir,
            txn: 0,
        };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(v) = j.post("", serde_json::json!({"janus": "create"})).await {
                j.session = v["data"]["id"].as_u64().ok_or("no session id")?;
                break;
            }
            if Instant::now() > end {
                return Err(format!(
                    "janus did not answer within 20 s; log:\n{}",
                    std::fs::read_to_string(j._dir.path().join("janus.log")).unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(j)
    }

    async fn post(&mut self, path: &str, mut body: serde_json::Value) -> Res<serde_json::Value> {
        self.txn += 1;
        body["transaction"] = format!("t{}", self.txn).into();
        let v: serde_json::Value = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if v["janus"] == "error" {
            return Err(format!("janus error: {v}"));
        }
        Ok(v)
    }

    /// The end of Janus's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self._dir.path().join("janus.log")).unwrap_or_default();
        let v: Vec<&str> = log.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    /// Attaches a streaming handle, watches mountpoint 1, answers Janus's offer with a str0m
    /// peer and starts the stream.
    pub async fn watch(&mut self) -> Res<RtcPeer> {
        let s = self.session;
        let v = self
            .post(
                &format!("/{s}"),
                serde_json::json!({"janus": "attach", "plugin": "janus.plugin.streaming"}),
            )
            .await?;
        let h = v["data"]["id"].as_u64().ok_or("no handle id")?;
        self.post(
            &format!("/{s}/{h}"),
            serde_json::json!({"janus": "message", "body": {"request": "watch", "id": 1}}),
        )
        .await?;
        let end = Instant::now() + Duration::from_secs(10);
        let offer = loop {
            if Instant::now() > end {
                return Err("no offer from Janus within 10 s".into());
            }
            let ev: serde_json::Value = self
                .http
                .get(format!("{}/{s}?maxev=1", self.base))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if ev["sender"].as_u64() == Some(h)
                && let Some(sdp) = ev["jsep"]["sdp"].as_str()
            {
                break sdp.to_string();
            }
        };
        // libnice (0.1.21) does not answer connectivity checks from 127.0.0.1 (measured: our
        // binding requests went unanswered and ICE failed), so Janus's subscribers sit on the
        // veth's 127.0.0.2 like Janus itself (or on the address of `FORWARD_JANUS_IFACE`); the
        // traffic still only crosses `lo`.
        let mut p = rtc_peer_on(janus_addr()?);
        let offer_text = offer;
        let offer =
            SdpOffer::from_sdp_string(&offer_text).map_err(|e| format!("Janus offer: {e}"))?;
        let answer = p
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("accept Janus offer: {e}"))?;
        if std::env::var("FORWARD_DEBUG").is_ok() {
            eprintln!(
                "Janus offer:\n{offer_text}\nour answer:\n{}",
                answer.to_sdp_string()
            );
        }
        self.post(
            &format!("/{s}/{h}"),
            serde_json::json!({
                "janus": "message",
                "body": {"request": "start"},
                "jsep": {"type": "answer", "sdp": answer.to_sdp_string()}
            }),
        )
        .await?;
        Ok(p)
    }
}
