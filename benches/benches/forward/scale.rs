//! Per-core scaling (`FORWARD_SCALE=1,2,4,8`): K publishers, each with N subscribers, through
//! Tessera with K shards (shards and the whole process confined to CPUs 0..K), and through K
//! raw forwarding loops on the same CPUs (the ceiling: what the kernel's loopback path does
//! on K cores). The load generator is K threads, one per publisher, on CPUs K_max..2·K_max, so
//! it never shares a CPU with the server. Publications land one per shard (least-loaded
//! placement) and each subscriber lands on its publication's shard, so every shard forwards
//! one publisher to N subscribers.
//!
//! With `FORWARD_FANOUT=1` it measures one stream's fan-out instead: one publisher and N
//! subscribers in all (spread over the K load-generator threads) through Tessera with K shards
//! and `--relay-slack 0`, so the subscribers spread evenly over the shards and the stream is
//! relayed from its shard to the others (no raw-loop row: the raw loop has no such mode).
//!
//! Per K it prints the forwarded packets per second and per server CPU-second, the CPU the
//! server used, the efficiency per core against K = 1 (packets per CPU-second at K divided by
//! packets per CPU-second at 1: 100% is linear scaling), the delivered share and p50/p99
//! latency over all subscribers.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::client::{Client, Cmd, Endpoint, PubTarget, Snapshot};
use crate::sys::{self, CpuTime};
use crate::{Res, Row, percentile, raw, servers};

/// What a scaling run needs.
pub struct Scale<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub tessera: &'a Path,
    pub ks: Vec<usize>,
    pub n: usize,
    pub seconds: u64,
    pub warmup: u64,
    pub servers: String,
    /// One publisher, N subscribers spread over the shards.
    pub fanout: bool,
    /// The shard loop (`uring` or `glommio`).
    pub runtime: String,
}

/// One load-generator thread per publisher.
struct Pool {
    clients: Vec<Client>,
}

impl Pool {
    fn status_all(&self, k: usize) -> Vec<Snapshot> {
        self.clients[..k].iter().map(Client::status).collect()
    }

    /// Waits until load generator i has `subs[i]` subscribers connected and receiving, and a
    /// connected publisher where `publishers[i]`.
    fn wait_ready(&self, subs: &[usize], publishers: &[bool], what: &str) -> Res<()> {
        let k = subs.len();
        let total: usize = subs.iter().sum();
        let end = Instant::now() + Duration::from_secs(30 + total as u64 / 5);
        let mut last = Vec::new();
        let ok = |i: usize, s: &Snapshot| {
            (s.publisher_connected || !publishers[i])
                && s.connected == subs[i]
                && s.receiving == subs[i]
        };
        while Instant::now() < end {
            last = self.status_all(k);
            if last.iter().enumerate().all(|(i, s)| ok(i, s)) {
                return Ok(());
            }
            sys::nap(100);
        }
        let summary: Vec<String> = last
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "{}/{} connected, {} receiving, publisher {}",
                    s.connected, subs[i], s.receiving, s.publisher_connected
                )
            })
            .collect();
        Err(format!(
            "{what}: not every subscriber receives: {}",
            summary.join("; ")
        ))
    }

    /// The window over the first `k` load generators (after the caller's warm-up); `cpu` reads
    /// the server.
    fn measure(&self, s: &Scale<'_>, k: usize, row: &mut Row, cpu: &dyn Fn() -> CpuTime) {
        for c in &self.clients[..k] {
            c.send(Cmd::BeginWindow);
        }
        let c0 = cpu();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(s.seconds));
        let snaps: Vec<Snapshot> = self.clients[..k].iter().map(Client::end_window).collect();
        let c1 = cpu();
        row.seconds = t0.elapsed().as_secs_f64();
        let (total, user) = c1.since(&c0);
        row.cpu_s = total;
        row.user_s = user;
        let mut lat: Vec<u32> = Vec::new();
        for snap in &snaps {
            row.packets += snap.window_received;
            row.expected += snap.window_sent * row.n as u64;
            lat.extend_from_slice(&snap.latencies_us);
            if snap.bad > 0 {
                row.note.push_str(&format!("{} bad datagrams; ", snap.bad));
            }
        }
        lat.sort_unstable();
        row.p50_us = percentile(&lat, 0.50);
        row.p99_us = percentile(&lat, 0.99);
        row.max_us = lat.last().map_or(f64::NAN, |v| *v as f64);
    }

    fn reset(&self) {
        for c in &self.clients {
            c.reset();
        }
    }
}

/// Publishes over WHIP with load generator `c` as the publisher; returns the stream id once
/// the room lists it.
fn publish(s: &Scale<'_>, t: &servers::Tessera, c: &Client) -> Res<String> {
    let (peer, stream, video, audio) = s.rt.block_on(t.whip())?;
    c.send(Cmd::SetPublisher(PubTarget::Srtp {
        peer: Box::new(peer),
        video_ssrc: video.0,
        audio_ssrc: audio.0,
        video_pt: video.1,
        audio_pt: audio.1,
    }));
    s.rt.block_on(t.wait_published(&stream))?;
    Ok(stream)
}

fn run_tessera(s: &Scale<'_>, pool: &Pool, k: usize) -> Res<Row> {
    let mut row = Row {
        server: "Tessera".into(),
        n: s.n,
        ..Row::default()
    };
    let t = s.rt.block_on(servers::Tessera::start_with(
        s.tessera,
        3000,
        40000,
        k,
        s.fanout.then_some(0),
        &s.runtime,
    ))?;
    let pid = t.child.id();
    let result = (|| -> Res<Row> {
        if s.fanout {
            // One publisher on load generator 0; its subscribers round-robin over every load
            // generator (the same load-generator capacity at every K).
            let stream = publish(s, &t, &pool.clients[0])?;
            let lg = pool.clients.len();
            for i in 0..s.n {
                let p = s.rt.block_on(t.whep(&stream))?;
                pool.clients[i % lg].send(Cmd::AddSubscriber(Endpoint::Rtc(Box::new(p))));
            }
            let subs: Vec<usize> = (0..lg)
                .map(|i| s.n / lg + usize::from(i < s.n % lg))
                .collect();
            let pubs: Vec<bool> = (0..lg).map(|i| i == 0).collect();
            pool.wait_ready(&subs, &pubs, "Tessera")?;
        } else {
            // One publisher per load generator, each with its own N subscribers. Every stream is
            // published first (least-loaded placement puts one on each shard) and the
            // subscribers join the K streams in turn, so the shards' loads never differ by more
            // than one transport and every subscriber stays on its stream's shard (relay slack
            // 8). Joining stream by stream would push later subscribers of the first streams to
            // other shards and relay them.
            let streams = pool.clients[..k]
                .iter()
                .map(|c| publish(s, &t, c))
                .collect::<Res<Vec<_>>>()?;
            for _ in 0..s.n {
                for (c, stream) in pool.clients[..k].iter().zip(&streams) {
                    let p = s.rt.block_on(t.whep(stream))?;
                    c.send(Cmd::AddSubscriber(Endpoint::Rtc(Box::new(p))));
                }
            }
            pool.wait_ready(&vec![s.n; k], &vec![true; k], "Tessera")?;
        }
        // Warm-up first: the counters below must cover the window only.
        std::thread::sleep(Duration::from_secs(s.warmup));
        let m0 = s.rt.block_on(t.metrics()).unwrap_or_default();
        let lg = if s.fanout { pool.clients.len() } else { k };
        pool.measure(s, lg, &mut row, &|| CpuTime::of_process(pid));
        let m1 = s.rt.block_on(t.metrics()).unwrap_or_default();
        // One scrape's own allocations fall inside the window; m2 - m1 measures one.
        let m2 = s.rt.block_on(t.metrics()).unwrap_or_default();
        let get = |m: &str, key: &str| servers::metric(m, key).unwrap_or(f64::NAN);
        let count = |a: &str, b: &str| {
            get(b, "tessera_allocations_total") - get(a, "tessera_allocations_total")
        };
        let allocs = count(&m0, &m1) - count(&m1, &m2);
        if allocs.is_finite() {
            row.allocs = Some(allocs.max(0.0) / row.packets.max(1) as f64);
        }
        let relayed = get(&m1, "tessera_rtp_relayed_total") - get(&m0, "tessera_rtp_relayed_total");
        if relayed > 0.0 {
            row.note
                .push_str(&format!("relayed to other shards in window {relayed:.0}; "));
        }
        Ok(row)
    })();
    let mut t = t;
    servers::stop(&mut t.child);
    pool.reset();
    result
}

fn run_raw(s: &Scale<'_>, pool: &Pool, k: usize) -> Res<Row> {
    let mut row = Row {
        server: "raw UDP loop".into(),
        n: s.n,
        ..Row::default()
    };
    let mut fwds = Vec::new();
    for (i, c) in pool.clients[..k].iter().enumerate() {
        let socks: Vec<_> = (0..s.n).map(|_| crate::client::udp_socket()).collect();
        let dests = socks
            .iter()
            .map(|s| s.local_addr().expect("addr"))
            .collect();
        for sock in socks {
            c.send(Cmd::AddSubscriber(Endpoint::Plain(sock)));
        }
        let fwd = raw::RawForwarder::start(dests, i);
        c.send(Cmd::SetPublisher(PubTarget::Plain {
            video_to: fwd.addr,
            audio_to: fwd.addr,
        }));
        fwds.push(fwd);
    }
    let tids: Vec<i32> = fwds.iter().map(|f| f.tid).collect();
    let result = pool
        .wait_ready(&vec![s.n; k], &vec![true; k], "raw loop")
        .map(|_| {
            let cpu = || {
                tids.iter()
                    .map(|&t| CpuTime::of_thread(t))
                    .fold(CpuTime::default(), |a, b| CpuTime {
                        user_ticks_s: a.user_ticks_s + b.user_ticks_s,
                        sys_ticks_s: a.sys_ticks_s + b.sys_ticks_s,
                        exec_s: a.exec_s + b.exec_s,
                    })
            };
            std::thread::sleep(Duration::from_secs(s.warmup));
            pool.measure(s, k, &mut row, &cpu);
            row.clone()
        });
    for f in fwds {
        f.stop();
    }
    pool.reset();
    result
}

/// Runs the scaling table; returns the number of failed measurements.
pub fn run(s: &Scale<'_>) -> usize {
    let kmax = s.ks.iter().copied().max().unwrap_or(1);
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    if 2 * kmax > cpus && std::env::var("FORWARD_SHARE_CPUS").as_deref() != Ok("1") {
        println!(
            "error: FORWARD_SCALE up to {kmax} needs {} CPUs (server and load generator apart); this machine has {cpus} (FORWARD_SHARE_CPUS=1 runs anyway, for a smoke test: the figures then mean little)",
            2 * kmax
        );
        return 1;
    }
    let model = crate::common::cpu_model();
    if s.fanout {
        println!(
            "fan-out scaling: {cpus} CPUs ({model}); K = {:?} shards, one publisher, {} subscribers in all (relay slack 0); server on CPUs 0..K, load generator threads on CPUs {kmax}..{}",
            s.ks,
            s.n,
            2 * kmax - 1
        );
    } else {
        println!(
            "scaling: {cpus} CPUs ({model}); K = {:?} publishers x {} subscribers; server on CPUs 0..K, load generator threads on CPUs {kmax}..{}",
            s.ks,
            s.n,
            2 * kmax - 1
        );
    }
    let pool = Pool {
        clients: (0..kmax).map(|i| Client::start(kmax + i)).collect(),
    };
    let started = Instant::now();
    let mut failed = 0;
    let mut rows: Vec<(usize, Row)> = Vec::new();
    for &k in &s.ks {
        type Run = fn(&Scale<'_>, &Pool, usize) -> Res<Row>;
        let mut runs: Vec<(&str, Run)> = Vec::new();
        if s.servers.contains("tessera") {
            runs.push(("Tessera", run_tessera));
        }
        if s.servers.contains("raw") && !s.fanout {
            runs.push(("raw UDP loop", run_raw));
        }
        for (name, f) in runs {
            println!(
                "[{:>5.1}s] K={k}: {name}...",
                started.elapsed().as_secs_f64()
            );
            match f(s, &pool, k) {
                Ok(r) => {
                    println!(
                        "          {} pkts in {:.1} s ({:.1}% delivered), CPU {:.3} s = {:.0} pkts/CPU-s, p50 {} µs p99 {} µs {}",
                        r.packets,
                        r.seconds,
                        100.0 * r.packets as f64 / r.expected.max(1) as f64,
                        r.cpu_s,
                        r.pps_per_cpu(),
                        crate::fmt(r.p50_us, 0),
                        crate::fmt(r.p99_us, 0),
                        r.note
                    );
                    rows.push((k, r));
                }
                Err(e) => {
                    println!("          FAILED: {e}");
                    failed += 1;
                }
            }
        }
    }
    println!(
        "\n| K ({}) | server | fwd pkts/s | server CPUs busy | fwd pkts per CPU-s | efficiency per core vs K=1 | throughput vs K=1 | p50 µs | p99 µs | allocs/pkt | delivered |",
        if s.fanout {
            "shards; one stream"
        } else {
            "shards = publishers"
        }
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (k, r) in &rows {
        let base = rows
            .iter()
            .find(|(k1, r1)| *k1 == 1 && r1.server == r.server)
            .map(|(_, r1)| r1);
        let pps = r.packets as f64 / r.seconds;
        let (eff, thr) = base.map_or(("-".into(), "-".into()), |b| {
            (
                format!("{:.0}%", 100.0 * r.pps_per_cpu() / b.pps_per_cpu()),
                format!("{:.2}×", pps / (b.packets as f64 / b.seconds)),
            )
        });
        println!(
            "| {k} | {} | {pps:.0} | {:.2} | {:.0} | {eff} | {thr} | {} | {} | {} | {:.1}% |",
            r.server,
            r.cpu_s / r.seconds,
            r.pps_per_cpu(),
            crate::fmt(r.p50_us, 0),
            crate::fmt(r.p99_us, 0),
            r.allocs.map_or("-".into(), |a| format!("{a:.4}")),
            100.0 * r.packets as f64 / r.expected.max(1) as f64,
        );
    }
    println!("\nTessera / raw loop at each K:");
    for &k in &s.ks {
        let at = |name: &str| rows.iter().find(|(k1, r)| *k1 == k && r.server == name);
        if let (Some((_, t)), Some((_, r))) = (at("Tessera"), at("raw UDP loop")) {
            println!(
                "  K={k}: {:.0}% of the raw loop's packets per CPU-second",
                100.0 * t.pps_per_cpu() / r.pps_per_cpu()
            );
        }
    }
    failed
}
