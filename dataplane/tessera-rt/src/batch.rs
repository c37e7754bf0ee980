//! Batched UDP I/O with `recvmmsg`/`sendmmsg` on buffers allocated once per shard.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams received per `recvmmsg`.
pub const RECV_BATCH: usize = 32;
/// Datagrams per `sendmmsg`.
pub const SEND_BATCH: usize = 64;
/// Size of one datagram slot (larger than any WebRTC datagram; MTU is 1200-1500).
pub const SLOT_SIZE: usize = 2048;

fn to_storage(addr: &SocketAddr, st: &mut libc::sockaddr_storage) -> libc::socklen_t {
    // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in and sockaddr_in6;
    // we write exactly one of them at its start.
    unsafe {
        match addr {
            SocketAddr::V4(a) => {
                let sin = st as *mut _ as *mut libc::sockaddr_in;
                (*sin).sin_family = libc::AF_INET as libc::sa_family_t;
                (*sin).sin_port = a.port().to_be();
                (*sin).sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                let sin6 = st as *mut _ as *mut libc::sockaddr_in6;
                (*sin6).sin6_family = libc::AF_INET6 as libc::sa_family_t;
                (*sin6).sin6_port = a.port().to_be();
                (*sin6).sin6_flowinfo = a.flowinfo();
                (*sin6).sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                (*sin6).sin6_scope_id = a.scope_id();
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }
}

fn from_storage(st: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: the kernel filled `st` with a sockaddr of the family it names.
    unsafe {
        match st.ss_family as libc::c_int {
            libc::AF_INET => {
                let sin = &*(st as *const _ as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                let sin6 = &*(st as *const _ as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Receive buffers for one shard.
pub(crate) struct RecvBatch {
    bufs: Box<[[u8; SLOT_SIZE]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        // SAFETY: all-zero is a valid bit pattern for these plain C structs.
        let zero_st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        RecvBatch {
            bufs: vec![[0u8; SLOT_SIZE]; RECV_BATCH].into_boxed_slice(),
            addrs: vec![zero_st; RECV_BATCH].into_boxed_slice(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                RECV_BATCH
            ]
            .into_boxed_slice(),
            hdrs: vec![zero_hdr; RECV_BATCH].into_boxed_slice(),
        }
    }

    /// One `recvmmsg(MSG_DONTWAIT)`; returns how many datagrams arrived (0 when none).
    pub(crate) fn recv(&mut self, fd: RawFd) -> std::io::Result<usize> {
        for i in 0..RECV_BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: SLOT_SIZE,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at buffers owned by `self` that outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                RECV_BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last receive: its source and contents.
    pub(crate) fn get(&mut self, i: usize) -> Option<(SocketAddr, &mut [u8])> {
        let len = self.hdrs[i].msg_len as usize;
        let truncated = self.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let from = from_storage(&self.addrs[i])?;
        if truncated {
            return None;
        }
        Some((from, &mut self.bufs[i][..len]))
    }
}

/// Outgoing datagrams of one shard, sent together with `sendmmsg`.
pub struct SendBatch {
    fd: RawFd,
    bufs: Box<[[u8; SLOT_SIZE]]>,
    lens: Box<[usize]>,
    dests: Box<[SocketAddr]>,
    count: usize,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    sent: u64,
    failed: u64,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("queued", &self.count)
            .field("sent", &self.sent)
            .field("failed", &self.failed)
            .finish()
    }
}

impl SendBatch {
    pub(crate) fn new(fd: RawFd) -> SendBatch {
        // SAFETY: all-zero is a valid bit pattern for these plain C structs.
        let zero_st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        SendBatch {
            fd,
            bufs: vec![[0u8; SLOT_SIZE]; SEND_BATCH].into_boxed_slice(),
            lens: vec![0; SEND_BATCH].into_boxed_slice(),
            dests: vec![unspecified; SEND_BATCH].into_boxed_slice(),
            count: 0,
            addrs: vec![zero_st; SEND_BATCH].into_boxed_slice(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                SEND_BATCH
            ]
            .into_boxed_slice(),
            hdrs: vec![zero_hdr; SEND_BATCH].into_boxed_slice(),
            sent: 0,
            failed: 0,
        }
    }

    /// A batch that is never flushed to a socket (for tests and benchmarks of workers):
    /// [`SendBatch::drain`] hands the queued datagrams to the caller instead.
    pub fn detached() -> SendBatch {
        SendBatch::new(-1)
    }

    /// Queues a datagram built in place: `write` fills the slot and returns its length
    /// (0 = nothing to send). Flushes first when the batch is full.
    pub fn push_with(&mut self, to: SocketAddr, write: impl FnOnce(&mut [u8]) -> usize) {
        if self.count == SEND_BATCH {
            self.flush();
        }
        let len = write(&mut self.bufs[self.count]);
        if len == 0 || len > SLOT_SIZE {
            return;
        }
        self.lens[self.count] = len;
        self.dests[self.count] = to;
        self.count += 1;
    }

    /// Queues a copy of `data`.
    pub fn push(&mut self, to: SocketAddr, data: &[u8]) {
        if data.len() > SLOT_SIZE {
            return;
        }
        self.push_with(to, |buf| {
            buf[..data.len()].copy_from_slice(data);
            data.len()
        });
    }

    /// Datagrams queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.count
    }

    /// Datagrams handed to the kernel / refused by it, since start.
    pub fn counters(&self) -> (u64, u64) {
        (self.sent, self.failed)
    }

    /// Takes the queued datagrams out (detached batches).
    pub fn drain(&mut self, mut f: impl FnMut(SocketAddr, &[u8])) {
        for i in 0..self.count {
            f(self.dests[i], &self.bufs[i][..self.lens[i]]);
        }
        self.count = 0;
    }

    /// Sends everything queued with `sendmmsg` (non-blocking). Datagrams the kernel refuses
    /// (full socket buffer, unreachable destination) are counted and dropped: UDP semantics.
    pub fn flush(&mut self) {
        if self.fd < 0 {
            // Detached: keep at most one batch, dropping the oldest like a full socket would.
            if self.count == SEND_BATCH {
                self.failed += self.count as u64;
                self.count = 0;
            }
            return;
        }
        let mut start = 0;
        while start < self.count {
            let n = self.count - start;
            for i in 0..n {
                let j = start + i;
                let alen = to_storage(&self.dests[j], &mut self.addrs[i]);
                self.iovs[i] = libc::iovec {
                    iov_base: self.bufs[j].as_mut_ptr().cast(),
                    iov_len: self.lens[j],
                };
                let h = &mut self.hdrs[i].msg_hdr;
                h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = alen;
                h.msg_iov = &mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
            }
            // SAFETY: headers point at buffers owned by `self` for the duration of the call.
            let r = unsafe {
                libc::sendmmsg(
                    self.fd,
                    self.hdrs.as_mut_ptr(),
                    n as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                // Skip the datagram at the head (the error belongs to it) and go on.
                self.failed += 1;
                start += 1;
            } else {
                self.sent += r as u64;
                start += r as usize;
            }
        }
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn send_and_receive_batches_over_loopback() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let mut tx = SendBatch::new(a.as_raw_fd());
        for i in 0..100u8 {
            tx.push(to, &[i; 100]);
        }
        tx.flush();
        assert_eq!(tx.counters(), (100, 0));
        let mut rx = RecvBatch::new();
        let mut got = Vec::new();
        for _ in 0..50 {
            let n = rx.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let (from, data) = rx.get(i).unwrap();
                assert_eq!(from, a.local_addr().unwrap());
                got.push(data[0]);
            }
            if got.len() == 100 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(rx.recv(b.as_raw_fd()).unwrap(), 0, "drained");
    }

    #[test]
    fn detached_batches_hand_datagrams_back() {
        let mut tx = SendBatch::detached();
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        tx.push_with(to, |b| {
            b[..3].copy_from_slice(b"abc");
            3
        });
        tx.push_with(to, |_| 0);
        let mut seen = Vec::new();
        tx.drain(|d, data| seen.push((d, data.to_vec())));
        assert_eq!(seen, vec![(to, b"abc".to_vec())]);
    }
}
