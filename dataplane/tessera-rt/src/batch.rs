//! Batched UDP I/O with `recvmmsg`/`sendmmsg` on buffers allocated once per shard.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams received per `recvmmsg`.
pub const RECV_BATCH: usize = 32;
/// Datagrams queued before a flush (one `sendmmsg`, or a few where the kernel takes fewer).
/// Large enough that a burst of several packets to each of a few dozen subscribers is grouped
/// per subscriber in one flush (UDP GSO, [`SendBatch::flush`]).
pub const SEND_BATCH: usize = 256;
/// Most datagrams in one UDP GSO message (the kernel's `UDP_MAX_SEGMENTS` is at least 64).
const GSO_SEGMENTS: usize = 64;
/// Most bytes in one UDP GSO message (below the 65,507-byte UDP payload limit).
const GSO_BYTES: usize = 60_000;
/// GSO messages the kernel may refuse before a batch stops trying.
const GSO_REFUSALS: u32 = 8;
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

/// Outgoing datagrams of one shard, sent together with `sendmmsg`. Where a destination has
/// several datagrams in the batch (a burst of packets forwarded in one wake-up, retransmissions),
/// they go to it as UDP GSO messages: one message per run of equal-sized datagrams (the last
/// of a run may be shorter), which the kernel (or the NIC) splits; the datagrams on the wire
/// are the same, the sender's cost per datagram is about half (docs/BENCHMARKS.md, "UDP GSO").
pub struct SendBatch {
    fd: RawFd,
    bufs: Box<[[u8; SLOT_SIZE]]>,
    lens: Box<[usize]>,
    dests: Box<[SocketAddr]>,
    count: usize,
    /// Send order (grouped by destination when `repeats`).
    order: Box<[u16]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// Per message: the `UDP_SEGMENT` control message (8-byte aligned), and its datagrams.
    ctrl: Box<[[u64; 4]]>,
    msg_datagrams: Box<[u16]>,
    /// A destination was queued twice since the last flush (first or last one again).
    repeats: bool,
    /// Whether to try GSO, and how often the kernel refused a GSO message.
    gso: bool,
    gso_refused: u32,
    sent: u64,
    failed: u64,
    gso_messages: u64,
    gso_datagrams: u64,
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
            order: vec![0; SEND_BATCH].into_boxed_slice(),
            ctrl: vec![[0; 4]; SEND_BATCH].into_boxed_slice(),
            msg_datagrams: vec![0; SEND_BATCH].into_boxed_slice(),
            repeats: false,
            gso: fd >= 0,
            gso_refused: 0,
            sent: 0,
            failed: 0,
            gso_messages: 0,
            gso_datagrams: 0,
        }
    }

    /// Sends every datagram as its own message, never as UDP GSO.
    pub fn disable_gso(&mut self) {
        self.gso = false;
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
        if self.count > 0 && (to == self.dests[0] || to == self.dests[self.count - 1]) {
            self.repeats = true;
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

    /// UDP GSO messages sent, and the datagrams they carried, since start.
    pub fn gso_counters(&self) -> (u64, u64) {
        (self.gso_messages, self.gso_datagrams)
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
    ///
    /// When a destination was queued more than once, the batch is first ordered by destination
    /// (each destination's datagrams keep their order) and each run of equal-sized datagrams to
    /// one destination becomes one UDP GSO message (`UDP_SEGMENT`; the last may be shorter). A
    /// GSO message the kernel refuses (a route whose device cannot offload the checksum, a
    /// datagram above the path MTU) is sent again as single datagrams; after
    /// `GSO_REFUSALS` refusals the batch stops trying.
    pub fn flush(&mut self) {
        if self.fd < 0 {
            // Detached: keep at most one batch, dropping the oldest like a full socket would.
            if self.count == SEND_BATCH {
                self.failed += self.count as u64;
                self.count = 0;
            }
            return;
        }
        let n = self.count;
        let mut grouped = self.gso && self.repeats;
        for (i, o) in self.order[..n].iter_mut().enumerate() {
            *o = i as u16;
        }
        if grouped {
            let dests = &self.dests;
            self.order[..n].sort_unstable_by_key(|&i| (dests[usize::from(i)], i));
        }
        // Datagrams (positions in `order`) from `from` on are still to send.
        let mut from = 0;
        while from < n {
            let msgs = self.build(from, n, grouped);
            let mut m = 0;
            while m < msgs {
                // SAFETY: headers point at buffers owned by `self` for the duration of the call.
                let r = unsafe {
                    libc::sendmmsg(
                        self.fd,
                        self.hdrs[m..].as_mut_ptr(),
                        (msgs - m) as u32,
                        libc::MSG_DONTWAIT,
                    )
                };
                if r > 0 {
                    for k in m..m + r as usize {
                        let d = u64::from(self.msg_datagrams[k]);
                        self.sent += d;
                        from += d as usize;
                        if d > 1 {
                            self.gso_messages += 1;
                            self.gso_datagrams += d;
                        }
                    }
                    m += r as usize;
                    continue;
                }
                let d = usize::from(self.msg_datagrams[m]);
                if d > 1 {
                    // A GSO message refused: send its datagrams (and the rest) one by one.
                    self.gso_refused += 1;
                    if self.gso_refused == GSO_REFUSALS {
                        self.gso = false;
                        tracing::warn!(target: "tessera::rt", error = %std::io::Error::last_os_error(), "the kernel refused UDP GSO {GSO_REFUSALS} times; sending single datagrams from now on");
                    }
                    grouped = false;
                    break;
                }
                // Skip the datagram at the head (the error belongs to it) and go on.
                self.failed += 1;
                from += 1;
                m += 1;
            }
        }
        self.count = 0;
        self.repeats = false;
    }

    /// Fills `hdrs` with messages for the datagrams at positions `from..n` of `order`; with
    /// `grouped`, a run of datagrams to one destination of one size (the last may be shorter)
    /// is one GSO message. Returns the number of messages.
    fn build(&mut self, from: usize, n: usize, grouped: bool) -> usize {
        let mut msgs = 0;
        let mut k = from;
        while k < n {
            let first = usize::from(self.order[k]);
            let seg = self.lens[first];
            let mut end = k + 1;
            if grouped {
                let mut total = seg;
                while end < n && end - k < GSO_SEGMENTS {
                    let j = usize::from(self.order[end]);
                    let prev = usize::from(self.order[end - 1]);
                    if self.dests[j] != self.dests[first]
                        || self.lens[prev] != seg
                        || self.lens[j] > seg
                        || total + self.lens[j] > GSO_BYTES
                    {
                        break;
                    }
                    total += self.lens[j];
                    end += 1;
                }
            }
            for o in k..end {
                let j = usize::from(self.order[o]);
                self.iovs[o] = libc::iovec {
                    iov_base: self.bufs[j].as_mut_ptr().cast(),
                    iov_len: self.lens[j],
                };
            }
            let alen = to_storage(&self.dests[first], &mut self.addrs[msgs]);
            let h = &mut self.hdrs[msgs].msg_hdr;
            h.msg_name = (&mut self.addrs[msgs] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = alen;
            h.msg_iov = &mut self.iovs[k];
            h.msg_iovlen = end - k;
            h.msg_flags = 0;
            if end - k > 1 {
                let ctrl = &mut self.ctrl[msgs];
                // SAFETY: the control buffer is 32 bytes, 8-byte aligned: room for one
                // cmsghdr and a u16 (CMSG_SPACE(2) is 24 on Linux).
                unsafe {
                    h.msg_control = ctrl.as_mut_ptr().cast();
                    h.msg_controllen = libc::CMSG_SPACE(2) as usize;
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = libc::UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg as u16);
                }
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            self.msg_datagrams[msgs] = (end - k) as u16;
            msgs += 1;
            k = end;
        }
        msgs
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

    /// Reads what arrived at `sock` (non-blocking), waiting up to a second for `want`.
    fn read_all(sock: &std::net::UdpSocket, want: usize) -> Vec<Vec<u8>> {
        sock.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while got.len() < want && std::time::Instant::now() < end {
            match sock.recv(&mut buf) {
                Ok(n) => got.push(buf[..n].to_vec()),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
        got
    }

    #[test]
    fn bursts_to_one_destination_go_as_gso_and_arrive_as_the_same_datagrams() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx: Vec<_> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let to: Vec<SocketAddr> = rx.iter().map(|r| r.local_addr().unwrap()).collect();
        let mut tx = SendBatch::new(a.as_raw_fd());
        // Five packets fanned out to three receivers, interleaved as a forwarder queues them.
        // Receiver 0 gets equal sizes with a shorter last one (one GSO message), receiver 1
        // equal sizes (one), receiver 2 sizes that change (runs of one size each).
        let sizes: [[usize; 5]; 3] = [
            [1200, 1200, 1200, 1200, 700],
            [1000, 1000, 1000, 1000, 1000],
            [1100, 1200, 1200, 900, 1000],
        ];
        let mut want: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
        for p in 0..5u8 {
            for r in 0..3 {
                let d: Vec<u8> = (0..sizes[r][usize::from(p)])
                    .map(|i| p ^ r as u8 ^ i as u8)
                    .collect();
                tx.push(to[r], &d);
                want[r].push(d);
            }
        }
        tx.flush();
        assert_eq!(tx.counters(), (15, 0));
        // Receiver 0: one message of 5; 1: one of 5; 2: [1100], [1200, 1200, 900], [1000].
        assert_eq!(tx.gso_counters(), (3, 13));
        for r in 0..3 {
            assert_eq!(read_all(&rx[r], 5), want[r], "receiver {r}");
        }
        // Without repeats, every datagram is its own message.
        for r in &to {
            tx.push(*r, &[1; 100]);
        }
        tx.flush();
        assert_eq!(tx.gso_counters(), (3, 13));
        assert_eq!(tx.counters(), (18, 0));
        // Nor with GSO off.
        tx.disable_gso();
        for _ in 0..4 {
            tx.push(to[0], &[2; 100]);
        }
        tx.flush();
        assert_eq!(tx.gso_counters(), (3, 13));
        assert_eq!(tx.counters(), (22, 0));
        for (r, n) in [(0, 5), (1, 1), (2, 1)] {
            assert_eq!(read_all(&rx[r], n).len(), n);
        }
    }

    #[test]
    fn a_refused_gso_message_is_sent_as_single_datagrams() {
        // An IPv4 socket sending to an IPv6 address fails for every message (EAFNOSUPPORT or
        // EINVAL): refused GSO messages are retried one datagram at a time and then counted
        // as failed, and GSO stops after GSO_REFUSALS.
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to: SocketAddr = "[::1]:9".parse().unwrap();
        let mut tx = SendBatch::new(a.as_raw_fd());
        for round in 0..GSO_REFUSALS {
            for _ in 0..3 {
                tx.push(to, &[0; 100]);
            }
            tx.flush();
            assert_eq!(tx.counters(), (0, u64::from(round + 1) * 3));
            assert_eq!(tx.gso, round + 1 < GSO_REFUSALS);
        }
        assert_eq!(tx.gso_counters(), (0, 0));
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
