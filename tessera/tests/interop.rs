//! Interop with three independent WebRTC client stacks, each publishing over WHIP and playing
//! over WHEP through the `tessera` binary for 30 s: Chromium (ECDSA DTLS certificate,
//! AES-GCM SRTP, mid header extension), GStreamer 1.22 webrtcbin (RSA DTLS certificate,
//! SRTP_AES128_CM_SHA1_80 only, no `a=ssrc` on video, libnice keep-alive by binding indications)
//! and aiortc (ECDSA-only DTLS, Python ICE).
//!
//! Each test runs `tests/e2e/run-in-netns.sh`, which starts the server and one scenario inside a
//! private network namespace (every packet stays on loopback), under a hard time limit. The
//! scenarios check that decoded frames keep increasing for the whole hold time, that no peer
//! connection leaves `connected`, and that DELETE ends both sessions; the tests then check, in
//! the server's counters, that each stack answered the shards' own ICE consent checks and had
//! its own checks answered by them (see [`assert_consent`]). The tests build nothing:
//! a missing client stack fails the test with a pointer to `scripts/test.sh`, which installs
//! them. `chromium_portal` runs the OWT client protocol (portal + conference) in Chromium the
//! same way. The tests run one at a time (a lock): two real media stacks at once would compete for
//! the machine's cores and make the timing checks meaningless.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long each stack must publish and play.
const HOLD_SECONDS: u32 = 30;
/// Hard limit for one scenario, start-up and teardown included.
const LIMIT: Duration = Duration::from_secs(150);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tessera crate lives in the workspace root")
        .to_path_buf()
}

/// Fails the test (never skips it) when a prerequisite is missing.
fn require(ok: bool, what: &str) {
    assert!(
        ok,
        "{what} is missing: run scripts/test.sh, which installs the interop test prerequisites \
         (Debian chromium, nodejs/npm and tests/e2e's node_modules, GStreamer with webrtcbin and \
         its Python bindings, and aiortc in .venv-test)"
    );
}

/// Whether `program args...` runs and exits 0 (output discarded).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require_netns_tools() {
    require(runs("unshare", &["--version"]), "unshare (util-linux)");
    require(runs("ip", &["-V"]), "ip (iproute2)");
}

/// Runs `run-in-netns.sh [runner_args...] <tessera> <scenario> <hold>` under [`LIMIT`] and
/// returns its combined output; panics with that output if it fails or overruns.
fn scenario(runner_args: &[&str], scenario: &str, env: &[(&str, String)]) -> String {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = repo();
    let mut cmd = Command::new("bash");
    cmd.current_dir(&root)
        .arg(root.join("tests/e2e/run-in-netns.sh"))
        .args(runner_args)
        .arg(env!("CARGO_BIN_EXE_tessera"))
        .arg(scenario)
        .arg(HOLD_SECONDS.to_string())
        .env_remove("TESSERA_IN_NETNS")
        // Each test sets the scenario's mode itself; the caller's shell must not change it.
        .env_remove("WHIP_VIDEO_CODEC")
        .env_remove("WHIP_SIMULCAST")
        .env_remove("WHEP_SERVER_OFFER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Its own process group, so that a time-out ends the server and the clients too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("spawn bash tests/e2e/run-in-netns.sh");
    let pgid = child.id();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the scenario") {
            break Some(s);
        }
        if start.elapsed() > LIMIT {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = format!(
        "---- stdout ----\n{}\n---- stderr ----\n{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        None => panic!("{scenario} did not finish within {LIMIT:?}\n{text}"),
        Some(s) if !s.success() => panic!("{scenario} failed ({s})\n{text}"),
        Some(_) => {
            eprintln!("{text}");
            text
        }
    }
}

/// A counter from the server's `/metrics` lines a scenario printed.
fn counter(out: &str, name: &str) -> u64 {
    common::metric(out, name) as u64
}

/// Once connected, the shards answer the peer's ICE checks and send their own consent checks
/// without str0m (`tessera_webrtc::stun`): the peer's stack must have answered those checks
/// authentically, and its own checks (when it sends any: libnice keeps alive with binding
/// indications only) must have been answered there.
fn assert_consent(out: &str, peer_checks: bool) {
    let checks = counter(out, "tessera_ice_consent_checks_total");
    let confirmed = counter(out, "tessera_ice_consent_confirmed_total");
    assert!(
        confirmed >= 3 && confirmed + 2 >= checks,
        "{confirmed} of {checks} consent checks answered: {out}"
    );
    if peer_checks {
        let answered = counter(out, "tessera_ice_requests_answered_total");
        assert!(answered >= 3, "{answered} peer checks answered: {out}");
    }
}

/// Chromium, Node.js and playwright-core (what the browser scenarios need), or a failure that
/// says what to install.
fn require_chromium() {
    require_netns_tools();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        Path::new(&chromium).exists(),
        "Chromium (/usr/bin/chromium)",
    );
    require(runs("node", &["--version"]), "Node.js");
    require(
        repo()
            .join("tests/e2e/node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core (tests/e2e/node_modules; `cd tests/e2e && npm ci`)",
    );
}

#[test]
fn chromium_30s() {
    require_chromium();
    let out = scenario(&[], "whip_whep.mjs", &[]);
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    assert_consent(&out, true);
}

/// The same through cross-shard fan-out: two shards and no relay slack put the WHEP player on
/// the shard the WHIP publication is not on, so every packet, key-frame request and sender
/// report it gets crosses shards; Chromium still decodes frames for 30 s.
#[test]
fn chromium_relayed() {
    require_chromium();
    let out = scenario(
        &[],
        "whip_whep.mjs",
        &[
            ("TESSERA_WEBRTC__CORES", "2".into()),
            ("TESSERA_WEBRTC__RELAY_SLACK", "0".into()),
        ],
    );
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    let relayed = counter(&out, "tessera_rtp_relayed_total");
    assert!(relayed > 1000, "the player's packets crossed shards: {out}");
}

/// Chromium publishing H.264 (packetization mode 1, its OpenH264 encoder) instead of VP8: the
/// room lists the stream as H.264, the WHEP player decodes it for 30 s, and the resolution
/// read from the stream's SPS (in libwebrtc's STAP-A key frames) is the decoded one.
#[test]
fn chromium_h264() {
    let out = chromium_publishing("H264");
    assert_consent(&out, true);
}

/// The WHIP/WHEP scenario with Chromium offering only `codec` for video: the player decodes
/// for the hold time, the room lists the stream with that codec, and (checked by the
/// scenario) the listed resolution is the decoded one. Returns the scenario's output.
fn chromium_publishing(codec: &str) -> String {
    require_chromium();
    let out = scenario(&[], "whip_whep.mjs", &[("WHIP_VIDEO_CODEC", codec.into())]);
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    let listed = format!(r#"video format: {{"codec":"{}""#, codec.to_lowercase());
    assert!(out.contains(&listed), "{out}");
    out
}

/// Chromium publishing VP9 (profile 0): the room lists it as VP9, the player decodes it for
/// 30 s, and the resolution read from the key frames' uncompressed header is the decoded one.
#[test]
fn chromium_vp9() {
    chromium_publishing("VP9");
}

/// Chromium publishing AV1: as for VP9, the size read from the sequence header OBU of its key
/// frames is the decoded one.
#[test]
fn chromium_av1() {
    chromium_publishing("AV1");
}

/// A WHEP player that asks the server to offer (a POST without a body; the answer goes back in
/// a PATCH with `application/sdp`): Chromium answers the server's offer (ICE-lite, `actpass`, the
/// stream's audio and video as mids 0 and 1), decodes for 30 s, and answers the server's
/// consent checks.
#[test]
fn chromium_whep_server_offer() {
    require_chromium();
    let out = scenario(&[], "whip_whep.mjs", &[("WHEP_SERVER_OFFER", "1".into())]);
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    assert!(out.contains("playing (server offer)"), "{out}");
    assert_consent(&out, true);
}

/// Chromium publishing two VP8 simulcast layers (rids `h` at half size and `f`) over WHIP: the
/// player decodes for 30 s and reaches the top layer (it starts low; the server tries the top
/// layer when the player's REMB leaves room and keeps it as the estimate follows), and the
/// room lists each layer's own size, read from that layer's key frames.
#[test]
fn chromium_simulcast() {
    require_chromium();
    let out = scenario(&[], "whip_whep.mjs", &[("WHIP_SIMULCAST", "1".into())]);
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    assert!(out.contains("simulcast layers listed"), "{out}");
}

/// The OWT client protocol in Chromium (P4): two pages with socket.io-client from npm and the
/// standard WebRTC API log in through the portal with REST tokens; one publishes fake camera +
/// mic, the other sees the `stream` notification, subscribes and decodes frames; mute/unmute
/// reach the subscriber as stream updates; a text message arrives; logout removes the
/// participant from the REST list (`tests/e2e/portal.mjs`).
#[test]
fn chromium_portal() {
    require_chromium();
    require(
        repo()
            .join("tests/e2e/node_modules/socket.io-client/dist/socket.io.min.js")
            .exists(),
        "socket.io-client (tests/e2e/node_modules; `cd tests/e2e && npm ci`)",
    );
    let out = scenario(&[], "portal.mjs", &[]);
    assert!(out.contains("PASS"), "{out}");
}

#[test]
fn aiortc() {
    let out = aiortc_scenario(&[]);
    assert_consent(&out, true);
}

/// The aiortc WHIP/WHEP scenario with `env` added; it must hold for the whole time. Returns
/// its output.
fn aiortc_scenario(env: &[(&str, String)]) -> String {
    require_netns_tools();
    let python = repo().join(".venv-test/bin/python");
    require(
        runs(
            python.to_str().expect("UTF-8 path"),
            &["-c", "import aiortc"],
        ),
        "aiortc in .venv-test",
    );
    let mut env = env.to_vec();
    env.push(("PYTHON", python.display().to_string()));
    let out = scenario(&[], "tests/interop/aiortc_whip_whep.py", &env);
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    out
}

/// aiortc answering the server's offer (WHEP POST without a body, the answer in a PATCH): it
/// takes the controlling ICE role because the offer says `a=ice-lite`, and decodes for 30 s.
#[test]
fn aiortc_whep_server_offer() {
    let out = aiortc_scenario(&[("WHEP_SERVER_OFFER", "1".into())]);
    assert!(out.contains("playing (server offer)"), "{out}");
    assert_consent(&out, true);
}

#[test]
fn webrtcbin() {
    let out = webrtcbin_scenario(&[]);
    assert!(out.contains("playing (client offer)"), "{out}");
}

/// webrtcbin answering the server's offer (WHEP POST without a body, the answer in a PATCH):
/// it makes a receive-only transceiver per offered m-line, libnice takes the controlling role
/// because the offer says `a=ice-lite`, and it decodes for 30 s.
#[test]
fn webrtcbin_whep_server_offer() {
    let out = webrtcbin_scenario(&[("WHEP_SERVER_OFFER", "1".into())]);
    assert!(out.contains("playing (server offer)"), "{out}");
}

/// The webrtcbin WHIP/WHEP scenario with `env` added; it must hold for the whole time and
/// answer the shards' consent checks (libnice sends binding indications, not checks). Returns
/// its output.
fn webrtcbin_scenario(env: &[(&str, String)]) -> String {
    require_netns_tools();
    const ELEMENTS: &str = "webrtcbin nicesrc dtlssrtpenc srtpenc videotestsrc vp8enc vp8dec \
                            rtpvp8pay rtpvp8depay audiotestsrc opusenc opusdec rtpopuspay \
                            rtpopusdepay fakesink";
    let check = format!(
        "import gi, sys\n\
         for ns, v in [('Gst', '1.0'), ('GstSdp', '1.0'), ('GstWebRTC', '1.0'), ('Nice', '0.1')]:\n\
         \x20   gi.require_version(ns, v)\n\
         from gi.repository import Gst, GstWebRTC, Nice\n\
         Gst.init(None)\n\
         missing = [e for e in '{ELEMENTS}'.split() if Gst.ElementFactory.find(e) is None]\n\
         sys.exit(1 if missing else 0)\n"
    );
    require(
        runs("/usr/bin/python3", &["-c", &check]),
        "GStreamer 1.22 webrtcbin with its plugins and Python bindings (gi, GstWebRTC, Nice)",
    );
    let mut env = env.to_vec();
    env.push(("PYTHON", "/usr/bin/python3".into()));
    let out = scenario(&["--veth"], "tests/interop/webrtcbin_whip_whep.py", &env);
    assert!(out.contains(&format!("held {HOLD_SECONDS} s")), "{out}");
    assert_consent(&out, false);
    out
}
