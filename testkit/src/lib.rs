//! # tessera-testkit
//!
//! Starts the real programs Tessera's tests talk to, and stops them when dropped. Nothing here
//! imitates a component: each helper runs the actual server a user would run (or the
//! MongoDB-wire-compatible server from PyPI that `scripts/test.sh` installs), on loopback, and
//! fails loudly with instructions when it is not installed.

pub mod peer;
pub mod sio;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the root")
        .to_path_buf()
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A MongoDB-wire-compatible server (`secantusdb` from PyPI, WiredTiger, in-memory) on
/// 127.0.0.1. (`nx-27017` was tried first; it stores ObjectIds pushed into arrays as strings,
/// which breaks OWT's `services.rooms`.)
#[derive(Debug)]
pub struct MongoServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl MongoServer {
    /// Starts `secantusd-py --storage-path :memory:` on a free port and waits until it accepts
    /// connections. The program is `$TESSERA_MONGOD` or `<repo>/.venv-test/bin/secantusd-py`.
    ///
    /// # Panics
    /// When the server is not installed (run `scripts/test.sh`, which installs it) or does not
    /// start within 30 seconds.
    pub fn start() -> MongoServer {
        let program = std::env::var_os("TESSERA_MONGOD")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv-test/bin/secantusd-py"));
        assert!(
            program.exists(),
            "MongoDB-compatible test server not found at {}: run scripts/test.sh (it installs secantusdb from PyPI into .venv-test) or set TESSERA_MONGOD",
            program.display()
        );
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("tessera-mongod-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let child = Command::new(&program)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
                ":memory:",
            ])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("server.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut server = MongoServer { child, port, dir };
        if !wait_for_port(port, Duration::from_secs(30)) {
            let _ = server.child.kill();
            panic!(
                "secantusd-py did not accept connections on port {port} within 30 s; log: {}",
                server.dir.join("server.log").display()
            );
        }
        server
    }

    /// `mongodb://127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("mongodb://127.0.0.1:{}/{db}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
