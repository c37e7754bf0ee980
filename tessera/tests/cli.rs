//! The `tessera` executable as a user runs it: start-up output and service.json, clear one-line
//! errors (port taken, MongoDB unreachable, bad configuration), environment overrides, and
//! graceful shutdown on SIGTERM/SIGINT. Each test is bounded in time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_testkit::free_port;

fn tessera() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs to completion (bounded) and returns (exit code, stdout, stderr).
fn run(mut cmd: Command, limit: Duration) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tessera");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.code(),
                String::from_utf8_lossy(&out.stdout).into(),
                String::from_utf8_lossy(&out.stderr).into(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tessera did not exit within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the server and waits for its banner's last line.
fn start(cmd: &mut Command) -> (Child, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tessera");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => {
                let done = l.starts_with("Stop with Ctrl-C");
                lines.push(l);
                if done {
                    return (child, lines);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no start-up banner within 30 s: {lines:?}");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("tessera did not stop within {limit:?}");
}

fn ports(cmd: &mut Command) -> (u16, u16) {
    let (rest, demo, portal) = (free_port(), free_port(), free_port());
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--rest-port",
        &rest.to_string(),
        "--demo-port",
        &demo.to_string(),
        "--portal-port",
        &portal.to_string(),
        "--cores",
        "1",
    ]);
    (rest, demo)
}

#[test]
fn first_start_prints_where_to_point_clients_and_writes_service_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tessera();
    cmd.arg("--data-dir").arg(dir.path());
    let (rest, demo) = ports(&mut cmd);
    let (mut child, lines) = start(&mut cmd);
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("http://127.0.0.1:{rest}/v1/rooms")),
        "{text}"
    );
    assert!(
        text.contains(&format!("http://127.0.0.1:{demo}/tokens")),
        "{text}"
    );
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("service.json")).unwrap()).unwrap();
    let (id, key) = (file["id"].as_str().unwrap(), file["key"].as_str().unwrap());
    assert_eq!(id.len(), 24);
    assert!(text.contains(id) && text.contains(key));
    signal(&child, "TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)),
        Some(0),
        "graceful exit on SIGTERM"
    );

    // Second start: same credentials, and SIGINT stops it as cleanly.
    let mut cmd = tessera();
    cmd.arg("--data-dir").arg(dir.path());
    ports(&mut cmd);
    let (mut child, lines) = start(&mut cmd);
    assert!(lines.join("\n").contains(id));
    signal(&child, "INT");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(15)), Some(0));
}

#[test]
fn a_taken_port_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tessera();
    cmd.arg("--data-dir").arg(dir.path()).args([
        "--bind",
        "127.0.0.1",
        "--rest-port",
        &port.to_string(),
        "--no-demo",
    ]);
    let (code, _out, err) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(1));
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(
        line.contains(&format!("port {port} is already in use")) && line.contains("--rest-port"),
        "{line}"
    );
}

#[test]
fn unreachable_mongodb_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = tessera();
    cmd.arg("--data-dir")
        .arg(dir.path())
        .args(["--mongodb", &format!("mongodb://127.0.0.1:{port}/owtdb")]);
    ports(&mut cmd);
    let (code, _out, err) = run(cmd, Duration::from_secs(30));
    assert_eq!(code, Some(1));
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(
        line.starts_with(&format!(
            "error: cannot reach MongoDB at mongodb://127.0.0.1:{port}/owtdb"
        )),
        "{line}"
    );
}

#[test]
fn a_bad_configuration_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[rest]\nport = \"three thousand\"\n").unwrap();
    let mut cmd = tessera();
    cmd.arg("--config").arg(&f);
    let (code, _out, err) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: invalid configuration") && err.contains("rest.port"),
        "{err}"
    );

    let mut cmd = tessera();
    cmd.arg("--data-dir")
        .arg(dir.path())
        .env("TESSERA_REST__PORT", "not-a-port");
    let (code, _, err) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(2));
    assert!(
        err.to_lowercase().contains("rest.port") && err.contains("TESSERA_"),
        "{err}"
    );
}

#[test]
fn environment_and_file_layers_show_in_print_config() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.toml");
    std::fs::write(
        &f,
        "[rest]\nport = 3100\n[portal]\nhostname = \"meet.example\"\n",
    )
    .unwrap();
    let mut cmd = tessera();
    cmd.arg("--config")
        .arg(&f)
        .arg("--print-config")
        .env("TESSERA_PORTAL__PORT", "8443")
        .env("TESSERA_DATA_DIR", "/srv/tessera")
        .env("TESSERA_SIMD", "avx2");
    let (code, out, err) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    let v: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(v["rest"]["port"].as_integer(), Some(3100));
    assert_eq!(v["portal"]["port"].as_integer(), Some(8443));
    assert_eq!(v["portal"]["hostname"].as_str(), Some("meet.example"));
    assert_eq!(v["data_dir"].as_str(), Some("/srv/tessera"));

    let mut cmd = tessera();
    cmd.arg("--config")
        .arg(&f)
        .args(["--print-config", "--rest-port", "3200"])
        .env("TESSERA_REST__PORT", "3150");
    let (_, out, _) = run(cmd, Duration::from_secs(20));
    let v: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(
        v["rest"]["port"].as_integer(),
        Some(3200),
        "flags beat the environment, which beats the file"
    );
}

#[test]
fn the_shard_loop_is_chosen_by_flag_or_environment_and_checked() {
    let mut cmd = tessera();
    cmd.arg("--print-config");
    let (_, out, _) = run(cmd, Duration::from_secs(20));
    let v: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(v["webrtc"]["runtime"].as_str(), Some("uring"), "default");

    let mut cmd = tessera();
    cmd.args(["--print-config", "--runtime", "glommio"]);
    let (_, out, _) = run(cmd, Duration::from_secs(20));
    let v: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(v["webrtc"]["runtime"].as_str(), Some("glommio"));

    let mut cmd = tessera();
    cmd.arg("--print-config")
        .env("TESSERA_WEBRTC__RUNTIME", "epoll");
    let (code, _, err) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(2));
    assert!(
        err.to_lowercase().contains("webrtc.runtime") && err.contains("\"uring\" or \"glommio\""),
        "{err}"
    );

    let mut cmd = tessera();
    cmd.args(["--runtime", "epoll"]);
    let (code, _, err) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(2));
    assert!(err.contains("epoll") && err.contains("uring"), "{err}");
}

#[test]
fn help_explains_every_flag() {
    let mut cmd = tessera();
    cmd.arg("--help");
    let (code, out, _) = run(cmd, Duration::from_secs(20));
    assert_eq!(code, Some(0));
    for flag in [
        "--config",
        "--data-dir",
        "--mongodb",
        "--bind",
        "--rest-port",
        "--portal-port",
        "--portal-hostname",
        "--demo-port",
        "--no-demo",
        "--log-level",
        "--log-format",
        "--print-config",
        "--cores",
        "--udp-port",
        "--public-ip",
        "--relay-slack",
        "--runtime",
    ] {
        assert!(out.contains(flag), "--help lacks {flag}");
    }
    assert!(
        out.contains("TESSERA_REST__PORT"),
        "--help explains the environment overrides"
    );
}
