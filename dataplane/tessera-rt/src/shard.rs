//! Shards: one pinned thread per core, each owning a UDP socket and a [`Worker`], driven by
//! one of two loops ([`Backend`]): our own io_uring loop or a glommio executor.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use glommio::net::UdpSocket;
use glommio::{LocalExecutorBuilder, Placement};

use crate::RtError;
use crate::batch::{RECV_BATCH, RecvBatch, SendBatch};
use crate::uring::{self, COMMANDS_PER_WAKEUP};

/// The sans-IO logic a shard drives. Everything it owns lives on the shard's thread.
pub trait Worker: 'static {
    /// Commands from the control plane.
    type Command: Send + 'static;
    /// One received datagram (mutable: decrypt in place).
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &mut [u8],
        tx: &mut SendBatch,
    );
    /// One command.
    fn handle_command(&mut self, now: Instant, cmd: Self::Command, tx: &mut SendBatch);
    /// The deadline reported by [`Worker::poll_timeout`] passed.
    fn handle_timeout(&mut self, now: Instant, tx: &mut SendBatch);
    /// The next instant the worker must be woken at, if any.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// Called once after every wake-up, before the send batch is flushed.
    fn end_of_wakeup(&mut self, _now: Instant, _tx: &mut SendBatch) {}
}

/// Which loop drives the shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Our own loop on one io_uring per shard: one `io_uring_enter` per wake-up that waits for
    /// the socket, a command or the worker's deadline. Allocates nothing per wake-up.
    #[default]
    Uring,
    /// A glommio `LocalExecutor` per shard (`io_memory(2 MiB)`): the socket, the commands and
    /// the deadline are three tasks. Its reactor costs more per wake-up (timers, preemption
    /// timers and a `membarrier` on every park; ≈ 14 allocations per park); see
    /// docs/BENCHMARKS.md.
    Glommio,
}

impl Backend {
    /// The name used on the command line and in the config.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::Glommio => "glommio",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "uring" => Ok(Backend::Uring),
            "glommio" => Ok(Backend::Glommio),
            other => Err(format!(
                "unknown shard runtime {other:?} (expected \"uring\" or \"glommio\")"
            )),
        }
    }
}

/// Where and how to run one shard.
#[derive(Clone, Debug)]
pub struct ShardSpec {
    /// Shard index (0-based).
    pub index: usize,
    /// CPU to pin the executor to (`None`: not pinned).
    pub cpu: Option<usize>,
    /// UDP address of the shard's socket (port 0: any).
    pub bind: SocketAddr,
    /// The loop that drives it.
    pub backend: Backend,
    /// Send bursts to one destination as UDP GSO messages ([`SendBatch::flush`]).
    pub gso: bool,
}

/// What a worker learns about its shard when it is created.
#[derive(Clone, Debug)]
pub struct ShardInfo {
    /// Shard index.
    pub index: usize,
    /// The socket's bound address.
    pub local_addr: SocketAddr,
}

/// The control side of a running shard.
#[derive(Debug)]
pub struct ShardHandle<C> {
    index: usize,
    local_addr: SocketAddr,
    tx: flume::Sender<Msg<C>>,
    /// How to wake a parked io_uring shard (`None`: glommio wakes on the channel itself).
    wake: Option<Arc<uring::Wake>>,
}

impl<C> Clone for ShardHandle<C> {
    fn clone(&self) -> Self {
        ShardHandle {
            index: self.index,
            local_addr: self.local_addr,
            tx: self.tx.clone(),
            wake: self.wake.clone(),
        }
    }
}

pub(crate) enum Msg<C> {
    Cmd(C),
    Stop,
}

impl<C: Send + 'static> ShardHandle<C> {
    /// Shard index.
    pub fn index(&self) -> usize {
        self.index
    }
    /// The shard's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    /// Commands sent to the shard and not taken yet.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
    /// Sends a command to the shard.
    pub fn send(&self, cmd: C) -> Result<(), RtError> {
        self.post(Msg::Cmd(cmd))
    }

    fn post(&self, msg: Msg<C>) -> Result<(), RtError> {
        self.tx
            .send(msg)
            .map_err(|_| RtError::Stopped(self.index))?;
        if let Some(w) = &self.wake {
            w.wake();
        }
        Ok(())
    }
}

/// Running shards.
#[derive(Debug)]
pub struct Runtime<C> {
    shards: Vec<ShardHandle<C>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl<C: Send + 'static> Runtime<C> {
    /// Handles of every shard.
    pub fn shards(&self) -> &[ShardHandle<C>] {
        &self.shards
    }

    /// Stops every shard and waits for the threads to end.
    pub fn stop(self) {
        for s in &self.shards {
            let _ = s.post(Msg::Stop);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts one shard per spec; `make` builds each shard's worker on its own thread.
pub fn spawn<W, F>(specs: Vec<ShardSpec>, make: F) -> Result<Runtime<W::Command>, RtError>
where
    W: Worker,
    F: Fn(ShardInfo) -> W + Send + Sync + Clone + 'static,
{
    let mut started = Runtime {
        shards: Vec::new(),
        threads: Vec::new(),
    };
    for spec in specs {
        match start_shard(spec, make.clone()) {
            Ok((handle, thread)) => {
                started.shards.push(handle);
                started.threads.push(thread);
            }
            Err(e) => {
                // Shards already running would otherwise keep their threads and ports.
                started.stop();
                return Err(e);
            }
        }
    }
    Ok(started)
}

/// Starts one shard and waits until it runs (or failed to start).
fn start_shard<W, F>(
    spec: ShardSpec,
    make: F,
) -> Result<(ShardHandle<W::Command>, std::thread::JoinHandle<()>), RtError>
where
    W: Worker,
    F: Fn(ShardInfo) -> W + Send + Sync + Clone + 'static,
{
    let (tx, rx) = flume::unbounded::<Msg<W::Command>>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, RtError>>();
    let index = spec.index;
    let (thread, wake) = match spec.backend {
        Backend::Uring => {
            let wake = Arc::new(uring::Wake::new().map_err(|e| RtError::Spawn {
                index,
                reason: format!("eventfd: {e}"),
            })?);
            let shard_wake = wake.clone();
            let thread = std::thread::Builder::new()
                .name(format!("tessera-shard-{index}"))
                .spawn(move || {
                    let started = start_uring_shard(&spec, make);
                    match started {
                        Ok((socket, local_addr, ring, shared)) => {
                            let _ = ready_tx.send(Ok(local_addr));
                            let _ = uring::run(index, socket, ring, shard_wake, shared, rx);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                })
                .map_err(|e| RtError::Spawn {
                    index,
                    reason: e.to_string(),
                })?;
            (thread, Some(wake))
        }
        Backend::Glommio => {
            let placement = match spec.cpu {
                Some(cpu) => Placement::Fixed(cpu),
                None => Placement::Unbound,
            };
            let builder = LocalExecutorBuilder::new(placement)
                .io_memory(2 << 20)
                .name(&format!("tessera-shard-{index}"));
            let handle = builder
                .spawn(move || async move {
                    let bound = UdpSocket::bind(spec.bind).and_then(|socket| {
                        tune_socket(socket.as_raw_fd());
                        let local_addr = socket.local_addr()?;
                        Ok((socket, local_addr))
                    });
                    let (socket, local_addr) = match bound {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = ready_tx.send(Err(RtError::Bind {
                                index,
                                addr: spec.bind,
                                source: std::io::Error::other(e.to_string()),
                            }));
                            return;
                        }
                    };
                    let worker = make(ShardInfo { index, local_addr });
                    let _ = ready_tx.send(Ok(local_addr));
                    run_shard(index, socket, worker, rx, spec.gso).await;
                })
                .map_err(|e| RtError::Spawn {
                    index,
                    reason: e.to_string(),
                })?;
            // glommio's join handle is a std JoinHandle underneath.
            let thread = std::thread::spawn(move || {
                let _ = handle.join();
            });
            (thread, None)
        }
    };
    let mut handle = ShardHandle {
        index,
        local_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        tx,
        wake,
    };
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(local_addr)) => handle.local_addr = local_addr,
        Ok(Err(e)) => return Err(e),
        Err(e) => {
            // Late or dead: if it ever runs, it stops at once.
            let _ = handle.post(Msg::Stop);
            return Err(RtError::Spawn {
                index,
                reason: match e {
                    std::sync::mpsc::RecvTimeoutError::Timeout => {
                        "the shard did not start within 10 s".into()
                    }
                    std::sync::mpsc::RecvTimeoutError::Disconnected => {
                        "the shard's thread ended while starting (a panic?)".into()
                    }
                },
            });
        }
    }
    Ok((handle, thread))
}

/// The io_uring shard's set-up, on its own thread: pin, bind, ring, worker.
fn start_uring_shard<W, F>(
    spec: &ShardSpec,
    make: F,
) -> Result<(std::net::UdpSocket, SocketAddr, uring::Ring, Shared<W>), RtError>
where
    W: Worker,
    F: Fn(ShardInfo) -> W,
{
    let index = spec.index;
    if let Some(cpu) = spec.cpu {
        uring::pin_current_thread(cpu).map_err(|e| RtError::Spawn {
            index,
            reason: format!("cannot pin to CPU {cpu}: {e}"),
        })?;
    }
    let bind_err = |source| RtError::Bind {
        index,
        addr: spec.bind,
        source,
    };
    let socket = std::net::UdpSocket::bind(spec.bind).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    tune_socket(socket.as_raw_fd());
    let local_addr = socket.local_addr().map_err(bind_err)?;
    let ring = uring::Ring::new(socket.as_raw_fd()).map_err(|e| RtError::Spawn {
        index,
        reason: format!(
            "cannot create an io_uring: {e} (the data plane needs io_uring, Linux 5.11 or \
             later; check the sysctl kernel.io_uring_disabled and, in a container, its seccomp \
             profile)"
        ),
    })?;
    let worker = make(ShardInfo { index, local_addr });
    let mut tx = SendBatch::new(socket.as_raw_fd());
    if !spec.gso {
        tx.disable_gso();
    }
    let shared = Shared {
        worker,
        rb: RecvBatch::new(),
        tx,
        armed: None,
    };
    Ok((socket, local_addr, ring, shared))
}

fn tune_socket(fd: i32) {
    let size: libc::c_int = 8 << 20;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: setsockopt with a valid fd and an int option value.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
    }
}

/// The shard's state. Under glommio it is shared by three tasks (one thread, so `RefCell` is
/// enough; no borrow is ever held across an `.await`).
pub(crate) struct Shared<W: Worker> {
    pub(crate) worker: W,
    pub(crate) rb: RecvBatch,
    pub(crate) tx: SendBatch,
    /// Deadline the glommio timer task is currently sleeping towards.
    armed: Option<Instant>,
}

/// Drains the socket into the worker: a bounded number of `recvmmsg` batches per wake-up, so
/// that commands and timers are never starved.
pub(crate) fn receive<W: Worker>(
    index: usize,
    fd: RawFd,
    worker: &mut W,
    rb: &mut RecvBatch,
    tx: &mut SendBatch,
    now: Instant,
) {
    for _ in 0..8 {
        let n = match rb.recv(fd) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(target: "tessera::rt", shard = index, error = %e, "recvmmsg failed");
                0
            }
        };
        for i in 0..n {
            if let Some((from, data)) = rb.get(i) {
                worker.handle_datagram(now, from, data, tx);
            }
        }
        if n < RECV_BATCH {
            break;
        }
    }
}

impl<W: Worker> Shared<W> {
    /// Runs due timers, lets the worker finish the wake-up, flushes the batch; returns whether
    /// the timer task must re-arm (its deadline moved earlier or it has none).
    pub(crate) fn finish(&mut self) -> bool {
        let now = Instant::now();
        if self.worker.poll_timeout().is_some_and(|d| d <= now) {
            self.worker.handle_timeout(now, &mut self.tx);
        }
        self.worker.end_of_wakeup(now, &mut self.tx);
        self.tx.flush();
        match (self.worker.poll_timeout(), self.armed) {
            (Some(d), Some(a)) => d < a,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

async fn run_shard<W: Worker>(
    index: usize,
    socket: UdpSocket,
    worker: W,
    rx: flume::Receiver<Msg<W::Command>>,
    gso: bool,
) {
    use std::cell::RefCell;
    use std::rc::Rc;
    let fd = socket.as_raw_fd();
    tracing::info!(target: "tessera::rt", shard = index, addr = %socket.local_addr().map(|a| a.to_string()).unwrap_or_default(), backend = "glommio", "shard running");
    let mut tx = SendBatch::new(fd);
    if !gso {
        tx.disable_gso();
    }
    let shared = Rc::new(RefCell::new(Shared {
        worker,
        rb: RecvBatch::new(),
        tx,
        armed: None,
    }));
    let (rearm_tx, rearm_rx) = glommio::channels::local_channel::new_bounded::<()>(1);
    let rearm = Rc::new(rearm_tx);

    // Receive task. Its readiness wait (an io_uring recvmsg with MSG_PEEK) is never cancelled:
    // dropping in-flight io_uring futures each loop would pile up operations and wakers.
    let recv_task = {
        let shared = shared.clone();
        let rearm = rearm.clone();
        glommio::spawn_local(async move {
            let mut peek = [0u8; 1];
            loop {
                if let Err(e) = socket.peek_from(&mut peek).await {
                    // Not expected on a bound UDP socket; back off instead of spinning.
                    tracing::warn!(target: "tessera::rt", shard = index, error = %e, "waiting for datagrams failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
                let wake = {
                    let mut s = shared.borrow_mut();
                    let Shared { worker, rb, tx, .. } = &mut *s;
                    receive(index, fd, worker, rb, tx, Instant::now());
                    s.finish()
                };
                if wake {
                    let _ = rearm.try_send(());
                }
                // Let the other tasks run between batches under load.
                glommio::yield_if_needed().await;
            }
        })
        .detach()
    };

    // Timer task.
    let timer_task = {
        let shared = shared.clone();
        glommio::spawn_local(async move {
            loop {
                let deadline = {
                    let mut s = shared.borrow_mut();
                    let d = s.worker.poll_timeout();
                    s.armed = d;
                    d
                };
                let sleep = async {
                    match deadline {
                        Some(d) => {
                            let now = Instant::now();
                            if d > now {
                                glommio::timer::sleep(d - now).await;
                            }
                        }
                        None => std::future::pending().await,
                    }
                };
                let woken = async {
                    let _ = rearm_rx.recv().await;
                };
                sleep.or(woken).await;
                shared.borrow_mut().finish();
                // A deadline already in the past must not starve the receive and command tasks.
                futures_lite::future::yield_now().await;
            }
        })
        .detach()
    };

    // Command task (this one): runs until Stop or until every handle is gone.
    loop {
        let msg = rx.recv_async().await.ok();
        let stop = {
            let mut s = shared.borrow_mut();
            let Shared { worker, tx, .. } = &mut *s;
            let now = Instant::now();
            let mut stop = false;
            let mut next = msg;
            // At most COMMANDS_PER_WAKEUP, then the other tasks get a turn (below), so that a
            // stream of commands cannot starve the socket.
            let mut taken = 0;
            loop {
                match next {
                    Some(Msg::Cmd(c)) => worker.handle_command(now, c, tx),
                    Some(Msg::Stop) | None => {
                        stop = true;
                        break;
                    }
                }
                taken += 1;
                if taken == COMMANDS_PER_WAKEUP {
                    break;
                }
                next = match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                };
            }
            let wake = s.finish();
            if wake {
                let _ = rearm.try_send(());
            }
            stop
        };
        if stop {
            break;
        }
        futures_lite::future::yield_now().await;
    }
    recv_task.cancel();
    timer_task.cancel();
    shared.borrow_mut().tx.flush();
    tracing::info!(target: "tessera::rt", shard = index, "shard stopped");
}
