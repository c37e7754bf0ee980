//! # tessera-rt
//!
//! The data plane's runtime and the only crate that touches glommio and io_uring. It runs one
//! thread per shard, pinned to a CPU. Each shard owns one UDP socket and a [`Worker`] — the
//! sans-IO logic that owns the shard's sessions — and drives it:
//!
//! * **Receive**: wait until the socket is readable, then drain it with `recvmmsg` in batches
//!   of [`RECV_BATCH`] datagrams into buffers owned by the shard. Each datagram is handed to
//!   [`Worker::handle_datagram`] as a mutable slice, so the worker can decrypt in place.
//! * **Send**: the worker writes outgoing datagrams straight into the shard's [`SendBatch`]
//!   (pre-allocated slots); a full batch, and every batch at the end of a wake-up, leaves with
//!   one `sendmmsg`.
//! * **Timers**: after every wake-up the worker reports its next deadline
//!   ([`Worker::poll_timeout`]); the shard sleeps until then at most.
//! * **Commands**: a `flume` channel carries typed commands from the control plane (any thread,
//!   any runtime) into the shard; replies go back on channels inside the commands.
//!
//! Two loops do the waiting ([`Backend`]):
//!
//! * [`Backend::Uring`] (the default): our own loop on one io_uring per shard. A wake-up is one
//!   `io_uring_enter` that submits the socket's and the command eventfd's one-shot polls (when
//!   not already armed) and waits for a completion or the worker's deadline (the wait's own
//!   timeout). A command sender writes the eventfd only when the shard has announced that it
//!   is about to park.
//! * [`Backend::Glommio`]: a glommio `LocalExecutor` with `io_memory(2 MiB)`, the wait being an
//!   io_uring `recvmsg(MSG_PEEK)`, a glommio timer and the channel's async receive in three
//!   tasks. Its reactor does more per park (timer map, two preemption timers, ring linking, a
//!   `membarrier`) and allocates there; docs/BENCHMARKS.md compares the two.
//!
//! Steady state allocates nothing in the io_uring loop: receive and send buffers are allocated
//! once per shard.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use tessera_rt::{Backend, ShardSpec, SendBatch, Worker, spawn};
//!
//! struct Echo;
//! impl Worker for Echo {
//!     type Command = ();
//!     fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, data: &mut [u8], tx: &mut SendBatch) {
//!         tx.push(from, data);
//!     }
//!     fn handle_command(&mut self, _now: Instant, _cmd: (), _tx: &mut SendBatch) {}
//!     fn handle_timeout(&mut self, _now: Instant, _tx: &mut SendBatch) {}
//!     fn poll_timeout(&mut self) -> Option<Instant> { None }
//! }
//! let spec = ShardSpec {
//!     index: 0,
//!     cpu: None,
//!     bind: "127.0.0.1:0".parse().unwrap(),
//!     backend: Backend::Uring,
//!     gso: true,
//! };
//! let shards = spawn(vec![spec], |_info| Echo).unwrap();
//! println!("echo on {}", shards.shards()[0].local_addr());
//! ```

mod batch;
mod shard;
mod uring;

pub use batch::{RECV_BATCH, SEND_BATCH, SLOT_SIZE, SendBatch};
pub use shard::{Backend, Runtime, ShardHandle, ShardInfo, ShardSpec, Worker, spawn};

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RtError {
    /// A shard's UDP socket could not be bound.
    #[error("cannot bind UDP {addr} for shard {index}: {source}")]
    Bind {
        /// Shard index.
        index: usize,
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The executor thread could not start.
    #[error("cannot start shard {index}: {reason}")]
    Spawn {
        /// Shard index.
        index: usize,
        /// Reason.
        reason: String,
    },
    /// The shard is gone (stopped or crashed).
    #[error("shard {0} is not running")]
    Stopped(usize),
}
