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

/// `0,2-3` → `[0, 2, 3]`.
#[allow(dead_code)] // Used by join, not by forward.
pub fn cpu_list(s: &str) -> Vec<usize> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    v.extend(a..=b);
                }
            }
            None => v.extend(part.parse::<usize>().ok()),
        }
    }
    v
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: CPU_SET ignores nothing but is only a bit set; `c` is a CPU number from the
        // caller, far below CPU_SETSIZE on any machine this runs on.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// Pins the calling thread (and every thread it starts afterwards) to `cpus`.
#[allow(dead_code)] // Not every bench target that includes this module pins itself.
pub fn pin_to(cpus: &[usize]) -> bool {
    let set = cpu_set(cpus);
    // SAFETY: sched_setaffinity(0) applies to the calling thread; `set` lives across the call.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Makes `cmd`'s process start confined to `cpus` (what `taskset -c` does, without needing
/// util-linux on the machine).
pub fn confine_child(cmd: &mut Command, cpus: &[usize]) {
    use std::os::unix::process::CommandExt;
    let set = cpu_set(cpus);
    // SAFETY: the closure only calls sched_setaffinity, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The CPU's model name from /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
