//! The ceiling: a raw UDP forwarding loop with no crypto and no RTP work. One thread (pinned
//! like the servers) receives with `recvmmsg` and sends each datagram to N destinations with
//! `sendmmsg`, every message pointing at the same received buffer (recv once, send N). GSO
//! does not apply: it segments one buffer towards one destination, and here every copy goes to
//! a different socket.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Messages per `sendmmsg`.
const SEND_CHUNK: usize = 256;
const BATCH: usize = 32;

/// A running forwarder.
pub struct RawForwarder {
    pub addr: SocketAddr,
    pub tid: i32,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

fn sockaddr(a: &SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(a) = a else {
        panic!("IPv4 only")
    };
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
    s
}

impl RawForwarder {
    /// Starts forwarding everything that arrives to `dests`, on `cpu`.
    pub fn start(dests: Vec<SocketAddr>, cpu: usize) -> RawForwarder {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .expect("timeout");
        let addr = sock.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("raw-forward".into())
            .spawn(move || {
                crate::sys::pin_thread(cpu);
                let _ = tid_tx.send(crate::sys::gettid());
                run(sock, &dests, &st)
            })
            .expect("spawn");
        let tid = tid_rx.recv().expect("tid");
        RawForwarder {
            addr,
            tid,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; returns the datagrams sent.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

fn run(sock: UdpSocket, dests: &[SocketAddr], stop: &AtomicBool) -> u64 {
    let fd = sock.as_raw_fd();
    let mut addrs: Vec<libc::sockaddr_in> = dests.iter().map(sockaddr).collect();
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut riovs = vec![
        libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0
        };
        BATCH
    ];
    // SAFETY: all-zero is valid for mmsghdr.
    let mut rhdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    // The one iovec every send header points at; written only through this pointer, which the
    // headers share, so the writes are never optimised away as unread.
    let siov: *mut libc::iovec = Box::into_raw(Box::new(libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }));
    // SAFETY: as above.
    let mut shdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; dests.len()];
    for (h, a) in shdrs.iter_mut().zip(addrs.iter_mut()) {
        h.msg_hdr.msg_name = (a as *mut libc::sockaddr_in).cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        h.msg_hdr.msg_iov = siov;
        h.msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for i in 0..BATCH {
            riovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr().cast(),
                iov_len: 2048,
            };
            rhdrs[i].msg_hdr.msg_iov = &mut riovs[i];
            rhdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: headers point at buffers we own; blocks until one datagram (or the timeout).
        let n = unsafe {
            libc::recvmmsg(
                fd,
                rhdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        for i in 0..n.max(0) as usize {
            // SAFETY: `siov` is the live allocation made above.
            unsafe {
                (*siov).iov_base = bufs[i].as_mut_ptr().cast();
                (*siov).iov_len = rhdrs[i].msg_len as usize;
            }
            let mut start = 0;
            while start < shdrs.len() {
                let k = (shdrs.len() - start).min(SEND_CHUNK);
                // SAFETY: headers point at the destination table and `siov`, both alive.
                let r = unsafe { libc::sendmmsg(fd, shdrs[start..].as_mut_ptr(), k as u32, 0) };
                if r <= 0 {
                    start += 1;
                } else {
                    start += r as usize;
                    sent += r as u64;
                }
            }
        }
    }
    // SAFETY: allocated above with Box::into_raw; no header is used any more.
    drop(unsafe { Box::from_raw(siov) });
    sent
}
