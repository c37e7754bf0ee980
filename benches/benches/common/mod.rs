//! What the benchmarks that run the `tessera` binary share: environment knobs, building the
//! binary, a private network namespace, MAuth headers for the REST API, the load average.
//! Included by each bench target with `#[path]` (bench targets cannot share a crate module).

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// `name` from the environment, or `default`.
pub fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// `name` from the environment as a number, or `default` (also when it does not parse).
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `$TESSERA_BIN`, or `tessera --features count-allocs` built in release into this bench's
/// target directory.
pub fn build_tessera() -> Result<PathBuf, String> {
    if let Ok(b) = std::env::var("TESSERA_BIN") {
        return Ok(PathBuf::from(b));
    }
    // A bench runs from <target>/release/deps/; the binary goes to <target>/release/.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let release = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or("cannot locate the target directory")?
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("building tessera (release, --features count-allocs)...");
    let st = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "tessera",
            "--features",
            "count-allocs",
        ])
        .env(
            "CARGO_TARGET_DIR",
            release.parent().ok_or("no target directory")?,
        )
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build -p tessera failed".into());
    }
    Ok(release.join("tessera"))
}

/// Moves this process (it must not have spawned threads yet) into a new network namespace with
/// `lo` up; with `veth`, also a veth `jb0` holding 127.0.0.2 for libnice (Janus), which never
/// gathers on a loopback interface (shared/docs/peers-and-loopback.md).
pub fn enter_private_netns(veth: bool) -> Result<(), String> {
    // SAFETY: plain syscall; the process is still single-threaded here.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET) failed ({}); run as root",
            std::io::Error::last_os_error()
        ));
    }
    let lo: &[&[&str]] = &[&["link", "set", "lo", "up"]];
    let jb: &[&[&str]] = &[
        &["link", "add", "jb0", "type", "veth", "peer", "name", "jb1"],
        &["addr", "add", "127.0.0.2/32", "dev", "jb0"],
        &["link", "set", "jb1", "up"],
        &["link", "set", "jb0", "up"],
    ];
    for args in lo.iter().chain(if veth { jb } else { &[] }) {
        let st = Command::new("ip")
            .args(*args)
            .status()
            .map_err(|e| format!("ip {args:?}: {e} (install iproute2)"))?;
        if !st.success() {
            return Err(format!("ip {args:?} failed"));
        }
    }
    Ok(())
}

/// A MAuth `Authorization` header for the service `(id, key)`, timestamped now.
pub fn mauth(id: &str, key: &str) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut n = [0u8; 8];
    aws_lc_rs::rand::fill(&mut n).expect("random");
    let cnonce: String = n.iter().map(|b| format!("{b:02x}")).collect();
    tessera_auth::mauth::MauthHeader::build(id, key, ts, &cnonce, None)
}

/// `uptime`'s load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
