//! A real shard on a real socket: datagrams, commands and timers reach the worker, and what the
//! worker queues leaves through `sendmmsg`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tessera_rt::{Backend, SendBatch, ShardSpec, Worker, spawn};

/// Every test runs on both shard loops.
const BACKENDS: [Backend; 2] = [Backend::Uring, Backend::Glommio];

fn spec(backend: Backend) -> Vec<ShardSpec> {
    vec![ShardSpec {
        index: 0,
        cpu: None,
        bind: "127.0.0.1:0".parse().unwrap(),
        backend,
        gso: true,
    }]
}

enum Cmd {
    /// Reply with the number of datagrams seen so far.
    Count(mpsc::Sender<u64>),
    /// Send `n` datagrams to the address when the timer fires after `after`.
    Later(SocketAddr, u32, Duration),
}

#[derive(Default)]
struct Echo {
    seen: u64,
    pending: Option<(Instant, SocketAddr, u32)>,
}

impl Worker for Echo {
    type Command = Cmd;
    fn handle_datagram(
        &mut self,
        _now: Instant,
        from: SocketAddr,
        data: &mut [u8],
        tx: &mut SendBatch,
    ) {
        self.seen += 1;
        data.reverse();
        tx.push(from, data);
    }
    fn handle_command(&mut self, now: Instant, cmd: Cmd, _tx: &mut SendBatch) {
        match cmd {
            Cmd::Count(reply) => {
                let _ = reply.send(self.seen);
            }
            Cmd::Later(to, n, after) => self.pending = Some((now + after, to, n)),
        }
    }
    fn handle_timeout(&mut self, now: Instant, tx: &mut SendBatch) {
        if let Some((at, to, n)) = self.pending
            && now >= at
        {
            for i in 0..n {
                tx.push(to, &i.to_be_bytes());
            }
            self.pending = None;
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.pending.map(|p| p.0)
    }
}

#[test]
fn a_shard_echoes_answers_commands_and_fires_timers() {
    for backend in BACKENDS {
        eprintln!("-- {backend}");
        a_shard_echoes_answers_commands_and_fires_timers_on(backend);
    }
}

fn a_shard_echoes_answers_commands_and_fires_timers_on(backend: Backend) {
    let rt = spawn(spec(backend), |_| Echo::default()).unwrap();
    let shard = rt.shards()[0].clone();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for i in 0..200u32 {
        client
            .send_to(&i.to_be_bytes(), shard.local_addr())
            .unwrap();
    }
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 200 {
        let (n, _) = client.recv_from(&mut buf).expect("echo within 5 s");
        assert_eq!(n, 4);
        got += 1;
    }
    let (tx, rx) = mpsc::channel();
    shard.send(Cmd::Count(tx)).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 200);

    shard
        .send(Cmd::Later(
            client.local_addr().unwrap(),
            3,
            Duration::from_millis(50),
        ))
        .unwrap();
    for i in 0..3u32 {
        let (n, _) = client.recv_from(&mut buf).expect("timer output within 5 s");
        assert_eq!(&buf[..n], &i.to_be_bytes());
    }
    rt.stop();
}

/// A worker with a timer always pending a few milliseconds ahead, like the forwarder's.
struct Ticking {
    next: Instant,
    ticks: u64,
}

impl Worker for Ticking {
    type Command = mpsc::Sender<u64>;
    fn handle_datagram(
        &mut self,
        _now: Instant,
        from: SocketAddr,
        data: &mut [u8],
        tx: &mut SendBatch,
    ) {
        tx.push(from, data);
    }
    fn handle_command(&mut self, _now: Instant, reply: mpsc::Sender<u64>, _tx: &mut SendBatch) {
        let _ = reply.send(self.ticks);
    }
    fn handle_timeout(&mut self, now: Instant, _tx: &mut SendBatch) {
        self.ticks += 1;
        self.next = now + Duration::from_millis(3);
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(self.next)
    }
}

#[test]
fn receiving_keeps_working_alongside_frequent_timers() {
    for backend in BACKENDS {
        eprintln!("-- {backend}");
        receiving_keeps_working_alongside_frequent_timers_on(backend);
    }
}

fn receiving_keeps_working_alongside_frequent_timers_on(backend: Backend) {
    let rt = spawn(spec(backend), |_| Ticking {
        next: Instant::now(),
        ticks: 0,
    })
    .unwrap();
    let shard = rt.shards()[0].clone();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 64];
    for i in 0..300u32 {
        client
            .send_to(&i.to_be_bytes(), shard.local_addr())
            .unwrap();
        let (n, _) = client
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("echo {i} lost: {e}"));
        assert_eq!(&buf[..n], &i.to_be_bytes());
        std::thread::sleep(Duration::from_millis(5));
    }
    let (tx, rx) = mpsc::channel();
    shard.send(tx).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap() > 50,
        "the timer kept firing"
    );
    rt.stop();
}

#[test]
fn an_idle_shard_wakes_for_commands_and_datagrams() {
    for backend in BACKENDS {
        eprintln!("-- {backend}");
        an_idle_shard_wakes_for_commands_and_datagrams_on(backend);
    }
}

fn an_idle_shard_wakes_for_commands_and_datagrams_on(backend: Backend) {
    let rt = spawn(spec(backend), |_| Echo::default()).unwrap();
    let shard = rt.shards()[0].clone();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 64];
    for round in 0..3u32 {
        std::thread::sleep(Duration::from_millis(700));
        let t = Instant::now();
        let (tx, rx) = mpsc::channel();
        shard.send(Cmd::Count(tx)).unwrap();
        rx.recv_timeout(Duration::from_secs(3))
            .unwrap_or_else(|_| panic!("round {round}: command not handled"));
        let cmd_ms = t.elapsed().as_millis();
        std::thread::sleep(Duration::from_millis(700));
        let t = Instant::now();
        client
            .send_to(&round.to_be_bytes(), shard.local_addr())
            .unwrap();
        client
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("round {round}: datagram not echoed: {e}"));
        eprintln!(
            "round {round}: command {cmd_ms} ms, datagram {} ms",
            t.elapsed().as_millis()
        );
    }
    rt.stop();
}

/// A worker whose command can hold the shard until released.
struct Holding;

impl Worker for Holding {
    type Command = Option<mpsc::Receiver<()>>;
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: &mut [u8], _: &mut SendBatch) {}
    fn handle_command(&mut self, _now: Instant, hold: Self::Command, _tx: &mut SendBatch) {
        if let Some(release) = hold {
            let _ = release.recv_timeout(Duration::from_secs(10));
        }
    }
    fn handle_timeout(&mut self, _: Instant, _: &mut SendBatch) {}
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

/// `queued` counts what a busy shard has not taken yet (what cross-shard relays bound).
#[test]
fn queued_counts_the_commands_a_busy_shard_has_not_taken() {
    for backend in BACKENDS {
        eprintln!("-- {backend}");
        queued_counts_the_commands_a_busy_shard_has_not_taken_on(backend);
    }
}

fn queued_counts_the_commands_a_busy_shard_has_not_taken_on(backend: Backend) {
    let rt = spawn(spec(backend), |_| Holding).unwrap();
    let shard = rt.shards()[0].clone();
    let (release, hold) = mpsc::channel();
    shard.send(Some(hold)).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while shard.queued() > 0 {
        assert!(Instant::now() < end, "the shard takes the holding command");
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..10 {
        shard.send(None).unwrap();
    }
    assert_eq!(shard.queued(), 10);
    release.send(()).unwrap();
    while shard.queued() > 0 {
        assert!(Instant::now() < end, "the shard catches up");
        std::thread::sleep(Duration::from_millis(5));
    }
    rt.stop();
}

/// A worker that spends a while at the end of every wake-up, after it has taken the commands
/// and before the shard parks: the window in which a command's wake-up could be lost.
struct SlowEnd {
    taken: u64,
}

impl Worker for SlowEnd {
    type Command = mpsc::Sender<u64>;
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: &mut [u8], _: &mut SendBatch) {}
    fn handle_command(&mut self, _now: Instant, reply: mpsc::Sender<u64>, _tx: &mut SendBatch) {
        self.taken += 1;
        let _ = reply.send(self.taken);
    }
    fn handle_timeout(&mut self, _: Instant, _: &mut SendBatch) {}
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn end_of_wakeup(&mut self, _now: Instant, _tx: &mut SendBatch) {
        let until = Instant::now() + Duration::from_micros(200);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

/// Commands from several threads, many of them sent while the shard is finishing a wake-up
/// (after its last look at the channel), all arrive: no wake-up is lost between the shard's
/// last look at the channel and its sleep. The worker has no deadline, so a lost wake-up
/// hangs the command for good.
#[test]
fn no_command_is_lost_while_the_shard_parks() {
    for backend in BACKENDS {
        let rt = spawn(spec(backend), |_| SlowEnd { taken: 0 }).unwrap();
        let shard = rt.shards()[0].clone();
        let senders: Vec<_> = (0..3u64)
            .map(|t| {
                let shard = shard.clone();
                std::thread::spawn(move || {
                    for i in 0..1500u64 {
                        let (tx, rx) = mpsc::channel();
                        shard.send(tx).unwrap();
                        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| {
                            panic!("{backend}: command {i} of thread {t} was not taken")
                        });
                        // Vary the gap so that commands land at every point of a wake-up.
                        std::thread::sleep(Duration::from_micros(37 * ((i * 7 + t) % 11)));
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        rt.stop();
    }
}

/// A CPU that does not exist is a clear start-up error, not a shard that never runs.
#[test]
fn pinning_to_a_missing_cpu_is_an_error() {
    let err = spawn(
        vec![ShardSpec {
            index: 0,
            cpu: Some(100_000),
            bind: "127.0.0.1:0".parse().unwrap(),
            backend: Backend::Uring,
            gso: true,
        }],
        |_| Echo::default(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("CPU 100000"), "{err}");
}

/// A steady stream of commands (like relayed media from busy shards) does not keep the shard
/// from reading its socket.
#[test]
fn datagrams_are_served_while_commands_stream_in() {
    for backend in BACKENDS {
        let rt = spawn(spec(backend), |_| Echo::default()).unwrap();
        let shard = rt.shards()[0].clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spammers: Vec<_> = (0..2)
            .map(|_| {
                let shard = shard.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let (tx, _rx) = mpsc::channel();
                        let _ = shard.send(Cmd::Count(tx));
                    }
                })
            })
            .collect();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut result = Ok(());
        for i in 0..50u32 {
            client
                .send_to(&i.to_be_bytes(), shard.local_addr())
                .unwrap();
            if let Err(e) = client.recv_from(&mut buf) {
                result = Err(format!(
                    "{backend}: datagram {i} not echoed within 3 s: {e}"
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in spammers {
            s.join().unwrap();
        }
        rt.stop();
        result.unwrap();
    }
}

/// When one shard cannot start, the shards already started are stopped and free their ports.
#[test]
fn a_failed_start_stops_the_shards_already_started() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let free = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for backend in BACKENDS {
        let specs = vec![
            ShardSpec {
                index: 0,
                cpu: None,
                bind: free,
                backend,
                gso: true,
            },
            ShardSpec {
                index: 1,
                cpu: None,
                bind: taken.local_addr().unwrap(),
                backend,
                gso: true,
            },
        ];
        let err = spawn(specs, |_| Echo::default()).map(|_| ()).unwrap_err();
        assert!(
            matches!(err, tessera_rt::RtError::Bind { index: 1, .. }),
            "{backend}: {err}"
        );
        // glommio closes its sockets through its ring, and the kernel tears a dropped ring
        // down asynchronously, so its port may stay bound for a moment after the thread ended
        // (the io_uring loop cancels its polls first and frees the port at once).
        let grace = match backend {
            Backend::Glommio => Duration::from_secs(2),
            _ => Duration::ZERO,
        };
        let start = Instant::now();
        loop {
            match UdpSocket::bind(free) {
                Ok(_) => break,
                Err(e) if start.elapsed() >= grace => {
                    panic!("{backend}: shard 0 still holds {free}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
