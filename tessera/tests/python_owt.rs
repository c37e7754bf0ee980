//! The OWT client flow from Python with the real Python client (PyPI `owt` 0.1.9 on
//! python-socketio and aiortc): tests/interop/python_owt.py against this `tessera` binary,
//! inside a loopback-only network namespace (tests/e2e/run-in-netns.sh). Two participants log in
//! with demo-endpoint tokens, one publishes synthetic audio and video, the other subscribes and
//! decodes it, mute/unmute updates, a text message and logout go through the portal.
//!
//! Needs the Python packages in `.venv-test` and `unshare`/`ip`, which `scripts/test.sh`
//! installs; without them the test fails and says so.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The scenario bounds itself to 85 s; this covers the server's start and stop around it.
const LIMIT: Duration = Duration::from_secs(150);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tessera crate lives in the repository root")
        .to_path_buf()
}

fn prerequisites(root: &Path) -> PathBuf {
    let python = root.join(".venv-test/bin/python");
    let probe = Command::new(&python)
        .args(["-c", "import owt.client, socketio, aiortc, numpy"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{} cannot import the Python OWT client (owt, python-socketio, aiortc, numpy): run \
             scripts/test.sh, which installs them.\n{}",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "{} is missing ({e}): run scripts/test.sh, which makes the test virtual environment",
            python.display()
        ),
    }
    for tool in ["unshare", "ip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is not installed (util-linux / iproute2): run scripts/test.sh"
        );
    }
    python
}

#[test]
fn python_owt_client_publishes_subscribes_and_leaves() {
    let root = repo_root();
    let python = prerequisites(&root);
    let log = tempfile::NamedTempFile::new().expect("a temporary file for the output");
    let mut cmd = Command::new(root.join("tests/e2e/run-in-netns.sh"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .arg(env!("CARGO_BIN_EXE_tessera"))
        .arg(root.join("tests/interop/python_owt.py"))
        .env("PYTHON", &python)
        // A socket closed without logout leaves after this many seconds (OWT: 60).
        .env("TESSERA_PORTAL__RECONNECTION_TIMEOUT", "3")
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("reopen"))
        .stderr(log.reopen().expect("reopen"))
        .process_group(0)
        .spawn()
        .expect("run tests/e2e/run-in-netns.sh");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the runner") {
            break Some(status);
        }
        if start.elapsed() > LIMIT {
            // The server and the scenario run in the runner's process group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    match status {
        Some(s) if s.success() && output.lines().any(|l| l == "PASS") => {}
        Some(s) => panic!("the Python OWT scenario failed ({s}):\n{output}"),
        None => panic!("the Python OWT scenario did not finish within {LIMIT:?}:\n{output}"),
    }
}
