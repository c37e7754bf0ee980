//! WebRTC forwarding benchmark (P3): one publisher (synthetic ~2.5 Mbit/s VP8-like video + Opus-
//! like audio) and N subscribers that do not decode, all on loopback in a private network
//! namespace, through Tessera, through Janus 1.1.2 (streaming plugin) and through a raw UDP
//! fan-out loop (the ceiling). For each N it prints forwarded packets per server CPU-second,
//! server CPU per forwarded packet next to a raw AES-128-GCM seal of the same packets, the
//! ingress-to-egress latency and Tessera's allocations per forwarded packet.
//!
//! `cargo bench -p tessera-benches --bench forward` (root; builds
//! `tessera --features count-allocs` in release first). Environment: `FORWARD_N` (default
//! `10,50,200`), `FORWARD_SECONDS` (measurement window, default 10), `FORWARD_WARMUP` (default
//! 3), `FORWARD_SERVERS` (default `tessera,janus,raw`), `FORWARD_REPEAT` (runs of each
//! configuration, interleaved; the table shows the median, default 1), `FORWARD_JANUS_LOOPS`
//! (the Janus `event_loops` settings to run, default `0,1`: Janus's default of one thread per
//! handle, and one shared loop, which costs Janus less CPU here), `TESSERA_BIN` (skip the
//! build), `FORWARD_NETNS=0` (stay in the current network namespace), `FORWARD_SCALE` (e.g.
//! `1,2,4,8`: the per-core scaling table instead, see `scale.rs`; N is the first of
//! `FORWARD_N`), `FORWARD_FANOUT=1` (with `FORWARD_SCALE`: one stream's N subscribers spread
//! over the K shards), `FORWARD_JANUS_LIB` (Janus's plugin folders, default Debian's),
//! `FORWARD_JANUS_IFACE` (with `FORWARD_NETNS=0`: a non-loopback interface for Janus's
//! candidate instead of the namespace's veth `jb0`, see `servers::janus_iface`),
//! `FORWARD_BURST=1` (the publisher sends each frame's packets back to back instead of paced),
//! `FORWARD_RUNTIMES` (Tessera's shard loops, default `uring,glommio`; a `-nogso` suffix, e.g.
//! `uring-nogso`, runs that loop with `--no-udp-gso`).
//!
//! Layout: the servers (and the raw loop) are pinned to CPU 0; the load generator (publisher
//! and all subscribers, one thread) to CPU 1. CPU-seconds are read from /proc (schedstat, ns)
//! over the window. Tessera's user-space share of them comes from `perf record -e cpu-clock`
//! samples at ~2 kHz during the window (`FORWARD_PERF=0`: from utime/stime ticks instead; the
//! sampling did not move Tessera's totals, one busy thread, but attaching perf to Janus's many
//! threads did, so Janus's and the raw loop's user share comes from the 100 Hz utime/stime ticks,
//! ±25% at N = 50). Forwarded packets are what the subscribers received and authenticated in
//! the window.

#![allow(clippy::print_stdout)]

mod client;
#[path = "../common/mod.rs"]
mod common;
mod media;
mod raw;
mod scale;
mod servers;
mod sys;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use client::{Client, Cmd, Endpoint, PubTarget, Snapshot};
use common::{build_tessera, env_str, env_u64};
use sys::CpuTime;

type Res<T> = Result<T, String>;

/// One configuration to measure at a given N.
type Runner = Box<dyn Fn(&Ctx, usize) -> Res<Row>>;

/// One measured configuration.
#[derive(Debug, Default, Clone)]
struct Row {
    server: String,
    n: usize,
    seconds: f64,
    packets: u64,
    expected: u64,
    cpu_s: f64,
    user_s: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    allocs: Option<f64>,
    note: String,
    /// CPU time of ksoftirqd/0 in the window.
    softirqd_s: f64,
    /// Lowest and highest packets per CPU-second over repeated runs.
    range: Option<(f64, f64)>,
}

impl Row {
    fn pps_per_cpu(&self) -> f64 {
        self.packets as f64 / self.cpu_s.max(1e-9)
    }
    fn ns_per_pkt(&self) -> f64 {
        self.cpu_s * 1e9 / self.packets.max(1) as f64
    }
    fn user_ns_per_pkt(&self) -> f64 {
        self.user_s * 1e9 / self.packets.max(1) as f64
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

struct Ctx {
    client: Client,
    rt: tokio::runtime::Runtime,
    tessera: PathBuf,
    seconds: u64,
    warmup: u64,
    janus_loops: Vec<u32>,
    repeat: usize,
}

/// Waits until every subscriber is connected and receiving.
fn wait_ready(ctx: &Ctx, n: usize, what: &str) -> Res<Snapshot> {
    let end = Instant::now() + Duration::from_secs(30 + n as u64 / 5);
    let mut last = Snapshot::default();
    while Instant::now() < end {
        last = ctx.client.status();
        if last.publisher_connected && last.connected == n && last.receiving == n {
            return Ok(last);
        }
        sys::nap(100);
    }
    Err(format!(
        "{what}: not every subscriber receives: {} of {n} connected, {} receiving, publisher connected: {}",
        last.connected, last.receiving, last.publisher_connected
    ))
}

/// Warm-up, then the measurement window; `cpu` reads the server's CPU time; `edge` runs right
/// after the window opens and twice right after it closes (metrics scrapes: the second one
/// measures what one scrape allocates).
fn measure(
    ctx: &Ctx,
    row: &mut Row,
    perf_target: Option<[&str; 2]>,
    cpu: &dyn Fn() -> CpuTime,
    edge: &mut dyn FnMut(),
) -> Snapshot {
    std::thread::sleep(Duration::from_secs(ctx.warmup));
    let perf = perf_target.and_then(sys::PerfSplit::start);
    let softirqd = sys::ksoftirqd(0);
    ctx.client.send(Cmd::BeginWindow);
    let c0 = cpu();
    let s0 = softirqd.map(CpuTime::of_process);
    edge();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(ctx.seconds));
    let snap = ctx.client.end_window();
    let c1 = cpu();
    let s1 = softirqd.map(CpuTime::of_process);
    row.seconds = t0.elapsed().as_secs_f64();
    edge();
    edge();
    let user_share = perf.and_then(|p| p.finish());
    let (total, user) = c1.since(&c0);
    // Softirq work the kernel defers to ksoftirqd/0 (loopback delivery of what CPU 0 sends)
    // is not charged to the sender; report it so that a large share would be visible.
    if let (Some(a), Some(b)) = (s0, s1) {
        row.softirqd_s = b.since(&a).0;
    }
    row.cpu_s = total;
    row.user_s = match user_share {
        Some(share) => total * share,
        None => {
            if perf_target.is_some() {
                row.note
                    .push_str("user time from 100 Hz ticks (no perf samples); ");
            }
            user
        }
    };
    row.packets = snap.window_received;
    row.expected = snap.window_sent * row.n as u64;
    row.p50_us = percentile(&snap.latencies_us, 0.50);
    row.p99_us = percentile(&snap.latencies_us, 0.99);
    row.max_us = snap.latencies_us.last().map_or(f64::NAN, |v| *v as f64);
    if snap.bad > 0 {
        row.note.push_str(&format!("{} bad datagrams; ", snap.bad));
    }
    if snap.window_min + 2 * ctx.seconds * 10 < snap.window_max {
        row.note.push_str(&format!(
            "per-subscriber packets {}..{}; ",
            snap.window_min, snap.window_max
        ));
    }
    snap
}

/// The table's name for Tessera with shard loop `runtime`.
fn tessera_name(runtime: &str) -> String {
    if runtime == "uring" {
        "Tessera".into()
    } else {
        format!("Tessera ({runtime})")
    }
}

fn run_tessera(ctx: &Ctx, n: usize, runtime: &str) -> Res<Row> {
    let mut row = Row {
        server: tessera_name(runtime),
        n,
        ..Row::default()
    };
    let t = ctx
        .rt
        .block_on(servers::Tessera::start(&ctx.tessera, 3000, 40000, runtime))?;
    let pid = t.child.id();
    let result = (|| -> Res<Row> {
        let (peer, stream, video, audio) = ctx.rt.block_on(t.whip())?;
        ctx.client.send(Cmd::SetPublisher(PubTarget::Srtp {
            peer: Box::new(peer),
            video_ssrc: video.0,
            audio_ssrc: audio.0,
            video_pt: video.1,
            audio_pt: audio.1,
        }));
        ctx.rt.block_on(t.wait_published(&stream))?;
        for _ in 0..n {
            let p = ctx.rt.block_on(t.whep(&stream))?;
            ctx.client
                .send(Cmd::AddSubscriber(Endpoint::Rtc(Box::new(p))));
        }
        let ready = wait_ready(ctx, n, "Tessera")?;
        let mut scrapes: Vec<String> = Vec::new();
        let pid_s = pid.to_string();
        let snap = measure(
            ctx,
            &mut row,
            Some(["-p", &pid_s]),
            &|| CpuTime::of_process(pid),
            &mut || scrapes.push(ctx.rt.block_on(t.metrics()).unwrap_or_default()),
        );
        let (m0, m1, m2) = (&scrapes[0], &scrapes[1], &scrapes[2]);
        let get = |m: &str, k: &str| servers::metric(m, k).unwrap_or(f64::NAN);
        let sent = get(m1, "tessera_rtp_sent_total") - get(m0, "tessera_rtp_sent_total");
        let allocs = get(m1, "tessera_allocations_total") - get(m0, "tessera_allocations_total");
        // One scrape's own allocations fall inside the window; m2 - m1 measures one.
        let scrape = get(m2, "tessera_allocations_total") - get(m1, "tessera_allocations_total");
        if allocs.is_finite() {
            row.allocs = Some(((allocs - scrape).max(0.0)) / row.packets.max(1) as f64);
            row.note.push_str(&format!(
                "allocations in window {allocs:.0} (one scrape ≈ {scrape:.0}); "
            ));
        } else {
            row.note
                .push_str("no tessera_allocations_total (build without count-allocs); ");
        }
        row.note.push_str(&format!(
            "server rtp_sent {sent:.0}; SRTP {}; keyframes on request {}; ",
            ready.profile.unwrap_or_default(),
            snap.keyframes_on_request
        ));
        let drops_in = |m: &str| -> f64 {
            m.lines()
                .filter(|l| l.starts_with("tessera_dataplane_drops_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let drops = drops_in(m1) - drops_in(m0);
        if drops > 0.0 {
            row.note
                .push_str(&format!("server drops in window {drops:.0}; "));
        }
        Ok(row)
    })();
    let mut t = t;
    servers::stop(&mut t.child);
    ctx.client.reset();
    result
}

fn run_janus(ctx: &Ctx, n: usize, loops: u32) -> Res<Row> {
    let mut row = Row {
        server: janus_name(loops),
        n,
        ..Row::default()
    };
    let mut j = ctx
        .rt
        .block_on(servers::Janus::start(8088, 5002, 5004, loops))?;
    let pid = j.child.id();
    let result = (|| -> Res<Row> {
        ctx.client.send(Cmd::SetPublisher(PubTarget::Plain {
            video_to: ([127, 0, 0, 1], j.video_port).into(),
            audio_to: ([127, 0, 0, 1], j.audio_port).into(),
        }));
        for _ in 0..n {
            let p = ctx.rt.block_on(j.watch())?;
            ctx.client
                .send(Cmd::AddSubscriber(Endpoint::Rtc(Box::new(p))));
        }
        let ready = wait_ready(ctx, n, "Janus")?;
        measure(
            ctx,
            &mut row,
            None,
            &|| CpuTime::of_process(pid),
            &mut || {},
        );
        row.note
            .push_str(&format!("SRTP {}; ", ready.profile.unwrap_or_default()));
        Ok(row)
    })();
    let result = result.map_err(|e| format!("{e}\nJanus log:\n{}", j.log_tail(40)));
    servers::stop(&mut j.child);
    ctx.client.reset();
    result
}

fn run_raw(ctx: &Ctx, n: usize) -> Res<Row> {
    let mut row = Row {
        server: "raw UDP loop".into(),
        n,
        ..Row::default()
    };
    let socks: Vec<_> = (0..n).map(|_| client::udp_socket()).collect();
    let dests = socks
        .iter()
        .map(|s| s.local_addr().expect("addr"))
        .collect();
    for s in socks {
        ctx.client.send(Cmd::AddSubscriber(Endpoint::Plain(s)));
    }
    let fwd = raw::RawForwarder::start(dests, 0);
    ctx.client.send(Cmd::SetPublisher(PubTarget::Plain {
        video_to: fwd.addr,
        audio_to: fwd.addr,
    }));
    let result = wait_ready(ctx, n, "raw loop").map(|_| {
        let tid = fwd.tid;
        measure(ctx, &mut row, None, &|| CpuTime::of_thread(tid), &mut || {});
        row.clone()
    });
    fwd.stop();
    ctx.client.reset();
    result
}

/// Janus's row name for an `event_loops` setting.
fn janus_name(loops: u32) -> String {
    if loops == 0 {
        "Janus (thread per handle)".into()
    } else {
        format!("Janus (event_loops = {loops})")
    }
}

/// Forwarded RTP header with the mid and abs-send-time extensions.
const SEAL_HDR: usize = 24;

/// (ns per seal of a video packet, ns per seal averaged over the stream's packet mix), timed on
/// CPU 0 where the servers run.
fn seal_on_cpu0() -> (f64, f64) {
    std::thread::spawn(|| {
        sys::pin_thread(0);
        let vpps = media::FPS * media::PACKETS_PER_FRAME;
        let video = sys::seal_ns(&[(SEAL_HDR, media::VIDEO_PAYLOAD, 1)]);
        let mix = sys::seal_ns(&[
            (SEAL_HDR, media::VIDEO_PAYLOAD, vpps / 10),
            (SEAL_HDR, media::AUDIO_PAYLOAD, media::AUDIO_PPS / 10),
        ]);
        (video, mix)
    })
    .join()
    .expect("seal timing")
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets without it,
    // and this one needs root and minutes, so it only runs under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("forward: run with `cargo bench -p tessera-benches --bench forward` (skipped)");
        return;
    }
    let ns: Vec<usize> = env_str("FORWARD_N", "10,50,200")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let servers_wanted = env_str("FORWARD_SERVERS", "tessera,janus,raw");
    let runtimes: Vec<String> = env_str("FORWARD_RUNTIMES", "uring,glommio")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let tessera = match build_tessera() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let janus_ok = std::process::Command::new("janus")
        .arg("--version")
        .output()
        .is_ok();
    // FORWARD_NETNS=0 stays in the current namespace (a machine without iproute2 or without
    // CAP_SYS_ADMIN; all traffic is on 127.0.0.1 either way, but Janus then needs a veth).
    if env_u64("FORWARD_NETNS", 1) != 0
        && let Err(e) = common::enter_private_netns(janus_ok)
    {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let scale_ks: Vec<usize> = env_str("FORWARD_SCALE", "")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&k| k > 0)
        .collect();
    if !scale_ks.is_empty() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let failed = scale::run(&scale::Scale {
            rt: &rt,
            tessera: &tessera,
            ks: scale_ks,
            n: ns.first().copied().unwrap_or(50),
            seconds: env_u64("FORWARD_SECONDS", 10),
            warmup: env_u64("FORWARD_WARMUP", 3),
            servers: servers_wanted,
            fanout: env_u64("FORWARD_FANOUT", 0) != 0,
            runtime: runtimes.first().cloned().unwrap_or_else(|| "uring".into()),
        });
        if failed > 0 {
            eprintln!("error: {failed} measurement(s) failed (see FAILED above)");
            std::process::exit(1);
        }
        return;
    }
    sys::pin_thread(1);
    let load = common::loadavg();
    println!("load average at start: {load}");
    let seal_start = seal_on_cpu0();
    println!(
        "raw AES-128-GCM seal (aws-lc-rs, CPU 0): {:.0} ns for a {}-byte video packet, {:.0} ns averaged over the stream's packet mix ({} video + {} audio packets/s)",
        seal_start.0,
        SEAL_HDR + media::VIDEO_PAYLOAD,
        seal_start.1,
        media::FPS * media::PACKETS_PER_FRAME,
        media::AUDIO_PPS
    );
    let ctx = Ctx {
        client: Client::start(1),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime"),
        tessera,
        seconds: env_u64("FORWARD_SECONDS", 10),
        repeat: env_u64("FORWARD_REPEAT", 1).max(1) as usize,
        warmup: env_u64("FORWARD_WARMUP", 3),
        janus_loops: env_str("FORWARD_JANUS_LOOPS", "0,1")
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
    };
    println!(
        "stream: {} packets/s ({:.2} Mbit/s video payload + audio); window {} s after {} s warm-up",
        media::packets_per_second(),
        media::video_bitrate() as f64 / 1e6,
        ctx.seconds,
        ctx.warmup
    );
    let started = Instant::now();
    let mut failed = 0usize;
    let mut all: Vec<Row> = Vec::new();
    for &n in &ns {
        let mut runs: Vec<(String, Runner)> = Vec::new();
        if servers_wanted.contains("tessera") {
            for r in &runtimes {
                let r = r.clone();
                runs.push((
                    tessera_name(&r),
                    Box::new(move |c, n| run_tessera(c, n, &r)),
                ));
            }
        }
        if servers_wanted.contains("janus") && janus_ok {
            for &l in &ctx.janus_loops {
                runs.push((janus_name(l), Box::new(move |c, n| run_janus(c, n, l))));
            }
        }
        if servers_wanted.contains("raw") {
            runs.push(("raw UDP loop".into(), Box::new(run_raw)));
        }
        for (round, (name, f)) in (0..ctx.repeat).flat_map(|r| runs.iter().map(move |x| (r, x))) {
            println!(
                "[{:>5.1}s] N={n}: {name}{}...",
                started.elapsed().as_secs_f64(),
                if ctx.repeat > 1 {
                    format!(" (run {} of {})", round + 1, ctx.repeat)
                } else {
                    String::new()
                }
            );
            match f(&ctx, n) {
                Ok(r) => {
                    println!(
                        "          {} pkts in {:.1} s ({:.1}% delivered), CPU {:.3} s (user {:.3} s; ksoftirqd/0 {:.3} s) = {:.0} pkts/CPU-s, {:.0} ns/pkt, p50 {} µs p99 {} µs{}",
                        r.packets,
                        r.seconds,
                        100.0 * r.packets as f64 / r.expected.max(1) as f64,
                        r.cpu_s,
                        r.user_s,
                        r.softirqd_s,
                        r.pps_per_cpu(),
                        r.ns_per_pkt(),
                        fmt(r.p50_us, 0),
                        fmt(r.p99_us, 0),
                        if r.note.is_empty() {
                            String::new()
                        } else {
                            format!("\n          {}", r.note)
                        }
                    );
                    all.push(r);
                }
                Err(e) => {
                    println!("          FAILED: {e}");
                    failed += 1;
                }
            }
        }
    }
    // One row per (N, server): the run with the median packets per CPU-second.
    let mut rows: Vec<Row> = Vec::new();
    for r in &all {
        if rows.iter().any(|x| x.n == r.n && x.server == r.server) {
            continue;
        }
        let mut same: Vec<&Row> = all
            .iter()
            .filter(|x| x.n == r.n && x.server == r.server)
            .collect();
        same.sort_by(|a, b| a.pps_per_cpu().total_cmp(&b.pps_per_cpu()));
        let mut m = same[same.len() / 2].clone();
        m.range =
            (same.len() > 1).then(|| (same[0].pps_per_cpu(), same[same.len() - 1].pps_per_cpu()));
        rows.push(m);
    }
    let seal_end = seal_on_cpu0();
    // Other builds share the machine: the lower of the two measurements is the cipher's cost.
    let seal_mix = seal_start.1.min(seal_end.1);
    println!(
        "\nload average at end: {} (start: {load}); total {:.0} s; seal over the mix {:.0} ns at the start, {:.0} ns at the end\n",
        common::loadavg(),
        started.elapsed().as_secs_f64(),
        seal_start.1,
        seal_end.1
    );
    if ctx.repeat > 1 {
        println!(
            "Each row is the median of {} runs by packets per CPU-second (range in brackets).\n",
            ctx.repeat
        );
    }
    println!(
        "| N | server | fwd pkts/s | server CPU % | **fwd pkts per CPU-s** | CPU ns/pkt | user ns/pkt | user / seal | p50 µs | p99 µs | max µs | allocs/pkt | delivered |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.1} | **{:.0}**{} | {:.0} | {:.0} | {:.2}× | {} | {} | {} | {} | {:.1}% |",
            r.n,
            r.server,
            r.packets as f64 / r.seconds,
            100.0 * r.cpu_s / r.seconds,
            r.pps_per_cpu(),
            r.range
                .map_or(String::new(), |(lo, hi)| format!(" [{lo:.0}–{hi:.0}]")),
            r.ns_per_pkt(),
            r.user_ns_per_pkt(),
            r.user_ns_per_pkt() / seal_mix,
            fmt(r.p50_us, 0),
            fmt(r.p99_us, 0),
            fmt(r.max_us, 0),
            r.allocs.map_or("-".into(), |a| format!("{a:.4}")),
            100.0 * r.packets as f64 / r.expected.max(1) as f64,
        );
    }
    println!(
        "\n| N | Tessera's shard loop | Tessera / Janus (thread per handle) | Tessera / best Janus | raw loop / best Janus | Tessera / raw loop | Tessera user cost / seal | Tessera p99 µs | Tessera allocs/pkt |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (&n, runtime) in ns.iter().flat_map(|n| runtimes.iter().map(move |r| (n, r))) {
        let at_n = |s: &str| rows.iter().find(|r| r.n == n && r.server == s);
        let Some(t) = at_n(&tessera_name(runtime)) else {
            continue;
        };
        let best_janus = rows
            .iter()
            .filter(|r| r.n == n && r.server.starts_with("Janus"))
            .max_by(|a, b| a.pps_per_cpu().total_cmp(&b.pps_per_cpu()));
        let raw = at_n("raw UDP loop");
        let ratio = |a: Option<&Row>, b: Option<&Row>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}×", a.pps_per_cpu() / b.pps_per_cpu()),
            _ => "-".into(),
        };
        println!(
            "| {n} | {runtime} | {} | {} | {} | {} | {:.2}× | {} | {} |",
            ratio(Some(t), at_n(&janus_name(0))),
            ratio(Some(t), best_janus),
            ratio(raw, best_janus),
            raw.map_or("-".into(), |o| format!(
                "{:.0}%",
                100.0 * t.pps_per_cpu() / o.pps_per_cpu()
            )),
            t.user_ns_per_pkt() / seal_mix,
            fmt(t.p99_us, 0),
            t.allocs.map_or("-".into(), |a| format!("{a:.4}")),
        );
    }
    println!(
        "\nseal = {seal_mix:.0} ns (AES-128-GCM over the same packet mix); latency = subscriber socket's kernel receive time minus the publisher's send time (includes the publisher's send syscall, excludes the load generator's scheduling)."
    );
    if failed > 0 {
        eprintln!("error: {failed} measurement(s) failed (see FAILED above)");
        std::process::exit(1);
    }
}
