//! The io_uring shard loop ([`Backend::Uring`](crate::Backend::Uring)): one thread (pinned to
//! its CPU when the spec names one) drives its [`Worker`] with one ring and one `io_uring_enter` per wake-up.
//!
//! Each wake-up waits for whichever comes first: the UDP socket readable (a one-shot
//! `POLL_ADD`), a command (a one-shot `POLL_ADD` on an eventfd), or the worker's deadline (the
//! wait's own timeout, `IORING_ENTER_EXT_ARG`: no timeout request, nothing to cancel). Then it
//! drains the socket with `recvmmsg`, drains the command channel, runs due timers and flushes
//! the send batch with `sendmmsg`, exactly like the glommio loop. Nothing here allocates after
//! start-up.
//!
//! Commands wake a parked shard through the eventfd. The shard announces that it is about to
//! park (`parked = true`, then a last look at the channel); a sender writes the eventfd only if
//! it sees that flag, so a busy shard costs its senders no syscall.

use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::Instant;

use io_uring::{IoUring, opcode, types};

use crate::shard::{Msg, Shared, receive};
use crate::{RtError, Worker};

const SOCKET: u64 = 1;
const CANCEL: u64 = 3;
/// Commands taken per wake-up at most (the rest wait for the next turn of the loop).
pub(crate) const COMMANDS_PER_WAKEUP: usize = 256;
const EVENT: u64 = 2;

/// How a command sender wakes a parked shard.
#[derive(Debug)]
pub(crate) struct Wake {
    efd: OwnedFd,
    parked: AtomicBool,
}

impl Wake {
    pub(crate) fn new() -> std::io::Result<Wake> {
        // SAFETY: plain eventfd creation; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Wake {
            // SAFETY: `fd` is a fresh descriptor owned by nobody else.
            efd: unsafe { OwnedFd::from_raw_fd(fd) },
            parked: AtomicBool::new(false),
        })
    }

    /// Called by a sender after it queued a command.
    pub(crate) fn wake(&self) {
        // Pairs with the fence in `park`: either the shard sees the command in the channel
        // before it sleeps, or this sees `parked` and writes the eventfd.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: an 8-byte write to our own eventfd. It cannot block (EFD_NONBLOCK) and
            // cannot overflow in practice (the shard reads it back to 0 on every wake).
            unsafe {
                libc::write(
                    self.efd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                );
            }
        }
    }

    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: an 8-byte read from our own non-blocking eventfd.
        unsafe {
            libc::read(
                self.efd.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::other(format!("CPU {cpu} is out of range")));
    }
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays in bounds (checked above).
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The ring: one submission per armed poll, one wait per wake-up.
pub(crate) struct Ring {
    ring: IoUring,
    sock_fd: RawFd,
    sock_armed: bool,
    event_armed: bool,
}

impl Ring {
    pub(crate) fn new(sock_fd: RawFd) -> std::io::Result<Ring> {
        // Single issuer with deferred task work: completions are posted only when this thread
        // waits (kernel 6.1+); plain ring as a fallback.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(8)
            .or_else(|_| IoUring::new(8))?;
        // The wait's own timeout (IORING_ENTER_EXT_ARG) needs Linux 5.11: refuse at start
        // rather than fail at the first deadline.
        if !ring.params().is_feature_ext_arg() {
            return Err(std::io::Error::other(
                "this kernel's io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11 or later needed)",
            ));
        }
        Ok(Ring {
            ring,
            sock_fd,
            sock_armed: false,
            event_armed: false,
        })
    }

    /// Arms the polls that are not armed, then sleeps until one fires or `deadline` passes
    /// (`None`: no deadline). Returns whether the socket became readable.
    pub(crate) fn wait(&mut self, wake: &Wake, deadline: Option<Instant>) -> std::io::Result<bool> {
        {
            let mut sq = self.ring.submission();
            if !self.sock_armed {
                let e = opcode::PollAdd::new(types::Fd(self.sock_fd), libc::POLLIN as u32)
                    .build()
                    .user_data(SOCKET);
                // SAFETY: the entry refers to no buffer; the fd outlives the ring.
                unsafe { sq.push(&e) }.map_err(|_| std::io::Error::other("submission full"))?;
                self.sock_armed = true;
            }
            if !self.event_armed {
                let e = opcode::PollAdd::new(types::Fd(wake.efd.as_raw_fd()), libc::POLLIN as u32)
                    .build()
                    .user_data(EVENT);
                // SAFETY: as above; the eventfd lives as long as the shard.
                unsafe { sq.push(&e) }.map_err(|_| std::io::Error::other("submission full"))?;
                self.event_armed = true;
            }
        }
        let submitter = self.ring.submitter();
        let r = match deadline {
            None => submitter.submit_and_wait(1),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                let ts = types::Timespec::from(left);
                let args = types::SubmitArgs::new().timespec(&ts);
                submitter.submit_with_args(1, &args)
            }
        };
        match r {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        let mut readable = false;
        let mut failed = None;
        for cqe in self.ring.completion() {
            if cqe.result() < 0 {
                failed = Some(cqe.result());
            }
            match cqe.user_data() {
                SOCKET => {
                    self.sock_armed = false;
                    readable = true;
                }
                EVENT => {
                    self.event_armed = false;
                    wake.clear();
                }
                _ => {}
            }
        }
        if let Some(errno) = failed {
            // Not expected for a poll on our own sockets; back off instead of spinning.
            tracing::warn!(target: "tessera::rt", error = %std::io::Error::from_raw_os_error(-errno), "io_uring poll failed; re-arming after 10 ms");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(readable)
    }
}

impl Ring {
    /// Cancels the armed polls and waits for them to end: a poll in flight holds a reference
    /// to the socket, and the kernel tears a dropped ring down asynchronously, so without this
    /// the shard's port could stay bound for a moment after the shard stopped.
    fn shutdown(&mut self) {
        for (armed, data) in [(self.sock_armed, SOCKET), (self.event_armed, EVENT)] {
            if armed {
                let e = opcode::AsyncCancel::new(data).build().user_data(CANCEL);
                // SAFETY: a cancel request refers to no buffer.
                let _ = unsafe { self.ring.submission().push(&e) };
            }
        }
        let end = Instant::now() + std::time::Duration::from_millis(500);
        while (self.sock_armed || self.event_armed) && Instant::now() < end {
            let ts = types::Timespec::from(std::time::Duration::from_millis(50));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            for cqe in self.ring.completion() {
                match cqe.user_data() {
                    SOCKET => self.sock_armed = false,
                    EVENT => self.event_armed = false,
                    _ => {}
                }
            }
        }
    }
}

/// Runs one shard on the calling thread until `Stop` or until every handle is gone.
pub(crate) fn run<W: Worker>(
    index: usize,
    socket: UdpSocket,
    ring: Ring,
    wake: Arc<Wake>,
    mut shared: Shared<W>,
    rx: flume::Receiver<Msg<W::Command>>,
) -> Result<(), RtError> {
    let fd = socket.as_raw_fd();
    let mut ring = ring;
    tracing::info!(target: "tessera::rt", shard = index, addr = %socket.local_addr().map(|a| a.to_string()).unwrap_or_default(), backend = "uring", "shard running");
    let mut readable = true;
    loop {
        let now = Instant::now();
        if readable {
            let Shared { worker, rb, tx, .. } = &mut shared;
            receive(index, fd, worker, rb, tx, now);
        }
        // Commands are taken on every wake-up, not only when the eventfd fired: a sender that
        // found the shard awake did not write it. At most COMMANDS_PER_WAKEUP, so that a
        // stream of commands (relayed media from busy shards) cannot starve the socket.
        let mut stop = false;
        for _ in 0..COMMANDS_PER_WAKEUP {
            match rx.try_recv() {
                Ok(Msg::Cmd(c)) => shared.worker.handle_command(now, c, &mut shared.tx),
                Ok(Msg::Stop) | Err(flume::TryRecvError::Disconnected) => {
                    stop = true;
                    break;
                }
                Err(flume::TryRecvError::Empty) => break,
            }
        }
        let _ = shared.finish();
        if stop {
            break;
        }
        // Park: announce it, then look at the channel once more (see `Wake::wake`).
        wake.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !rx.is_empty() {
            wake.parked.store(false, Ordering::Relaxed);
            // Not parking: look at the socket too (one recvmmsg, EAGAIN when idle), or a
            // steady stream of commands would keep it from ever being read.
            readable = true;
            continue;
        }
        let deadline = shared.worker.poll_timeout();
        readable = match ring.wait(&wake, deadline) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "tessera::rt", shard = index, error = %e, "io_uring wait failed; the shard stops");
                wake.parked.store(false, Ordering::Relaxed);
                shared.tx.flush();
                ring.shutdown();
                return Err(RtError::Stopped(index));
            }
        };
        wake.parked.store(false, Ordering::Relaxed);
    }
    shared.tx.flush();
    ring.shutdown();
    tracing::info!(target: "tessera::rt", shard = index, "shard stopped");
    Ok(())
}
