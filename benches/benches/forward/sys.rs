//! Operating-system helpers: the private network namespace, CPU pinning, CPU time of a process
//! or thread from /proc, and the raw AES-GCM seal timing.

use std::process::Command;
use std::time::{Duration, Instant};

/// Pins the calling thread to one CPU.
pub fn pin_thread(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The caller's kernel thread id.
pub fn gettid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::gettid() }
}

/// CPU time of a process (all its threads) or of one thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    /// `utime` (clock ticks, as seconds).
    pub user_ticks_s: f64,
    /// `stime` (clock ticks, as seconds).
    pub sys_ticks_s: f64,
    /// Sum of the threads' `sum_exec_runtime` from schedstat (ns precision), in seconds.
    pub exec_s: f64,
}

impl CpuTime {
    /// CPU time of process `pid`.
    pub fn of_process(pid: u32) -> CpuTime {
        let mut t = Self::from_stat(&format!("/proc/{pid}/stat"));
        let mut exec = 0u64;
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for e in dir.flatten() {
                exec += read_schedstat(&e.path().join("schedstat"));
            }
        }
        t.exec_s = exec as f64 / 1e9;
        t
    }

    /// CPU time of thread `tid` of this process.
    pub fn of_thread(tid: i32) -> CpuTime {
        let dir = format!("/proc/self/task/{tid}");
        let mut t = Self::from_stat(&format!("{dir}/stat"));
        t.exec_s = read_schedstat(std::path::Path::new(&format!("{dir}/schedstat"))) as f64 / 1e9;
        t
    }

    fn from_stat(path: &str) -> CpuTime {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        // Fields after the command name (which may contain spaces) start at `state` (field 3).
        let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) as f64;
        CpuTime {
            user_ticks_s: num(11) / hz,
            sys_ticks_s: num(12) / hz,
            exec_s: 0.0,
        }
    }

    /// `self - earlier`, as (total seconds, user seconds). The total is the precise schedstat
    /// figure when it is available (the tick counts are 10 ms grained); user time is the
    /// total split in the proportion of the tick counts.
    pub fn since(&self, earlier: &CpuTime) -> (f64, f64) {
        let user = self.user_ticks_s - earlier.user_ticks_s;
        let sys = self.sys_ticks_s - earlier.sys_ticks_s;
        let ticks = user + sys;
        let exec = self.exec_s - earlier.exec_s;
        let total = if exec > 0.0 { exec } else { ticks };
        let user_share = if ticks > 0.0 { user / ticks } else { 0.0 };
        (total, total * user_share)
    }
}

/// The pid of the kernel thread `ksoftirqd/<cpu>`.
pub fn ksoftirqd(cpu: usize) -> Option<u32> {
    let want = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == want).then_some(pid)
    })
}

fn read_schedstat(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Nanoseconds per AES-128-GCM seal (aws-lc-rs, what SRTP_AEAD_AES_128_GCM does per packet:
/// the RTP header as AAD, the payload encrypted, a 16-byte tag) over the packet mix `sizes`
/// (header bytes, payload bytes, weight). Median of 7 rounds.
pub fn seal_ns(sizes: &[(usize, usize, u32)]) -> f64 {
    use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7u8; 16]).expect("key"));
    let mut bufs: Vec<(Vec<u8>, Vec<u8>, u32)> = sizes
        .iter()
        .map(|&(h, p, w)| (vec![0x80u8; h], vec![0x11u8; p], w))
        .collect();
    let per_round: u32 = sizes.iter().map(|s| s.2).sum();
    let mut counter = 0u32;
    let mut round = |iters: u32| -> f64 {
        let t = Instant::now();
        for _ in 0..iters {
            for (h, p, w) in bufs.iter_mut() {
                for _ in 0..*w {
                    counter = counter.wrapping_add(1);
                    let mut n = [0u8; 12];
                    n[8..].copy_from_slice(&counter.to_be_bytes());
                    let tag = key
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(n),
                            Aad::from(&h[..]),
                            &mut p[..],
                        )
                        .expect("seal");
                    let _ = std::hint::black_box(tag);
                }
            }
        }
        t.elapsed().as_nanos() as f64 / (iters * per_round) as f64
    };
    round(2000);
    let mut v: Vec<f64> = (0..7).map(|_| round(4000)).collect();
    v.sort_by(f64::total_cmp);
    v[3]
}

/// A short pause.
pub fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// The user-space share of a process's (or thread's) CPU time, sampled by `perf record` at
/// ~2 kHz: far finer than the 100 Hz ticks behind utime/stime, which leave a 10 s window of a
/// lightly loaded server with only tens of ticks to split.
pub struct PerfSplit {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

impl PerfSplit {
    /// Starts sampling `target` (`["-p", pid]` or `["-t", tid]`); `None` without a usable perf
    /// or when `FORWARD_PERF=0`.
    pub fn start(target: [&str; 2]) -> Option<PerfSplit> {
        if std::env::var("FORWARD_PERF").is_ok_and(|v| v == "0") {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let file = dir.path().join("perf.data");
        let child = Command::new("perf")
            .args(["record", "-q", "-e", "cpu-clock", "-F", "1999", "-o"])
            .arg(&file)
            .args(target)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        // perf needs a moment to attach before the window opens.
        std::thread::sleep(Duration::from_millis(300));
        Some(PerfSplit {
            child,
            _dir: dir,
            file,
        })
    }

    /// Stops sampling; the share of samples outside the kernel.
    pub fn finish(mut self) -> Option<f64> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.child.wait().ok()?;
        let out = Command::new("perf")
            .args(["report", "--stdio", "--sort", "dso", "-q", "-i"])
            .arg(&self.file)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (mut kernel, mut all) = (0.0, 0.0);
        for l in text.lines() {
            let Some((pct, dso)) = l.trim().split_once('%') else {
                continue;
            };
            let Ok(p) = pct.trim().parse::<f64>() else {
                continue;
            };
            all += p;
            if dso.contains("[kernel") {
                kernel += p;
            }
        }
        (all > 50.0).then(|| ((all - kernel) / all).clamp(0.0, 1.0))
    }
}
