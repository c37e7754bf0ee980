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

/// Slots of the per-destination hash table (a power of two, twice [`SEND_BATCH`]).
const TABLE: usize = 2 * SEND_BATCH;
/// No next datagram in a destination's chain.
const END: u16 = u16::MAX;
// Indices and table slots fit in a u16, probing always finds an empty slot, and the hash's
// shift is in range.
const _: () = assert!(
    TABLE.is_power_of_two() && TABLE >= 2 * SEND_BATCH && TABLE < END as usize && TABLE > 1
);

/// A destination's slot in the hash table.
fn slot_of(to: &SocketAddr) -> usize {
    let key = match to {
        SocketAddr::V4(a) => (u64::from(a.ip().to_bits()) << 16) | u64::from(a.port()),
        SocketAddr::V6(a) => {
            let ip = a.ip().to_bits();
            ((ip >> 64) as u64 ^ ip as u64).rotate_left(16) ^ u64::from(a.port())
        }
    };
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE.trailing_zeros())) as usize
}

/// Outgoing datagrams of one shard, sent together with `sendmmsg`. Where a destination has
/// several datagrams in the batch (a burst of packets forwarded in one wake-up, retransmissions),
/// they go to it as UDP GSO messages: one message per run of equal-sized datagrams (the last
/// of a run may be shorter), which the kernel (or the NIC) splits; the datagrams on the wire
/// are the same, the sender's cost per datagram is about half (docs/BENCHMARKS.md, "UDP GSO").
///
/// Each queued datagram is chained to the previous one to the same destination (a hash table
/// of the batch's destinations, cleared per flush), so a flush knows exactly whether any
/// destination repeats and sends each destination's datagrams together, destinations in the
/// order they first appeared, each destination's datagrams in the order queued.
pub struct SendBatch {
    fd: RawFd,
    bufs: Box<[[u8; SLOT_SIZE]]>,
    lens: Box<[usize]>,
    dests: Box<[SocketAddr]>,
    count: usize,
    /// Destination chains: the table holds a chain's first datagram + 1 (0: empty); per
    /// datagram, the next one to the same destination and (for a chain's first) its last.
    table: Box<[u16]>,
    next: Box<[u16]>,
    tail: Box<[u16]>,
    /// The chains' first datagrams in order of appearance, and their table slots.
    heads: Box<[u16]>,
    head_slots: Box<[u16]>,
    nheads: usize,
    /// Send order (chain by chain when grouping).
    order: Box<[u16]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// Per message: the `UDP_SEGMENT` control message (8-byte aligned), and its datagrams.
    ctrl: Box<[[u64; 4]]>,
    msg_datagrams: Box<[u16]>,
    /// Whether to try GSO, and how many GSO messages in a row the kernel refused.
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
            .field("gso", &self.gso)
            .finish()
    }
}

/// Whether the kernel knows UDP GSO on `fd`: setting the `UDP_SEGMENT` option (to 0, no
/// segmentation by default) fails with `ENOPROTOOPT` before Linux 4.18, which would instead
/// ignore the control message and send a run as one datagram.
fn gso_supported(fd: RawFd) -> bool {
    if fd < 0 {
        return false;
    }
    let zero: libc::c_int = 0;
    // SAFETY: setsockopt with a c_int value on our own socket.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
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
            table: vec![0; TABLE].into_boxed_slice(),
            next: vec![END; SEND_BATCH].into_boxed_slice(),
            tail: vec![0; SEND_BATCH].into_boxed_slice(),
            heads: vec![0; SEND_BATCH].into_boxed_slice(),
            head_slots: vec![0; SEND_BATCH].into_boxed_slice(),
            nheads: 0,
            order: vec![0; SEND_BATCH].into_boxed_slice(),
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
            ctrl: vec![[0; 4]; SEND_BATCH].into_boxed_slice(),
            msg_datagrams: vec![0; SEND_BATCH].into_boxed_slice(),
            gso: gso_supported(fd),
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

    /// Whether bursts to one destination go as UDP GSO messages (on unless disabled, the
    /// kernel lacks it, or it refused it too often).
    pub fn gso_enabled(&self) -> bool {
        self.gso
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
        let i = self.count;
        let len = write(&mut self.bufs[i]);
        if len == 0 || len > SLOT_SIZE {
            return;
        }
        self.lens[i] = len;
        self.dests[i] = to;
        self.next[i] = END;
        let mut slot = slot_of(&to);
        loop {
            match self.table[slot] {
                0 => {
                    self.table[slot] = i as u16 + 1;
                    self.tail[i] = i as u16;
                    self.heads[self.nheads] = i as u16;
                    self.head_slots[self.nheads] = slot as u16;
                    self.nheads += 1;
                    break;
                }
                e if self.dests[usize::from(e - 1)] == to => {
                    let head = usize::from(e - 1);
                    let last = usize::from(self.tail[head]);
                    self.next[last] = i as u16;
                    self.tail[head] = i as u16;
                    break;
                }
                _ => slot = (slot + 1) % TABLE,
            }
        }
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
        self.clear();
    }

    /// Empties the batch and its destination table.
    fn clear(&mut self) {
        for &slot in &self.head_slots[..self.nheads] {
            self.table[usize::from(slot)] = 0;
        }
        self.nheads = 0;
        self.count = 0;
    }

    /// Sends everything queued with `sendmmsg` (non-blocking). Datagrams the kernel refuses
    /// (unreachable destination) are counted and dropped: UDP semantics; when the socket's
    /// buffer is full (`EAGAIN`), the rest of the batch is counted and dropped at once.
    ///
    /// When a destination was queued more than once, each destination's datagrams are sent
    /// together (destinations in order of first appearance, each one's datagrams in the order
    /// queued) and each run of equal-sized datagrams to one destination becomes one UDP GSO
    /// message (`UDP_SEGMENT`; the last may be shorter). A GSO message the kernel refuses is
    /// sent again as single datagrams (with the rest of the flush); refusals that say GSO
    /// cannot work on this socket (`EIO`: no checksum offload on the route; `EINVAL`,
    /// `EOPNOTSUPP`, `ENOPROTOOPT`) count, and after `GSO_REFUSALS` of them in a row (no GSO
    /// message accepted in between) the batch stops trying.
    pub fn flush(&mut self) {
        if self.fd < 0 {
            // Detached: keep at most one batch, dropping the oldest like a full socket would.
            if self.count == SEND_BATCH {
                self.failed += self.count as u64;
                self.clear();
            }
            return;
        }
        let n = self.count;
        let mut grouped = self.gso && self.nheads < n;
        if grouped {
            let mut k = 0;
            for &h in &self.heads[..self.nheads] {
                let mut i = h;
                while i != END {
                    self.order[k] = i;
                    k += 1;
                    i = self.next[usize::from(i)];
                }
            }
            debug_assert_eq!(k, n);
        } else {
            for (i, o) in self.order[..n].iter_mut().enumerate() {
                *o = i as u16;
            }
        }
        // Datagrams (positions in `order`) from `from` on are still to send.
        let mut from = 0;
        'flush: while from < n {
            let msgs = self.build(from, n, grouped);
            let mut m = 0;
            while m < msgs {
                // SAFETY: headers point at buffers owned by `self` for the duration of the call.
                let r = unsafe {
                    libc::sendmmsg(
                        self.fd,
                        self.hdrs.as_mut_ptr().add(m),
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
                            self.gso_refused = 0;
                        }
                    }
                    m += r as usize;
                    continue;
                }
                let err = std::io::Error::last_os_error();
                let errno = err.raw_os_error().unwrap_or(0);
                if errno == libc::EAGAIN || errno == libc::EWOULDBLOCK {
                    // The socket buffer is full: so it is for the rest of this flush.
                    self.failed += (n - from) as u64;
                    break 'flush;
                }
                if self.msg_datagrams[m] > 1 {
                    if matches!(
                        errno,
                        libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT
                    ) {
                        self.gso_refused += 1;
                        if self.gso_refused == GSO_REFUSALS {
                            self.gso = false;
                            tracing::warn!(target: "tessera::rt", error = %err, "the kernel refused UDP GSO {GSO_REFUSALS} times in a row; sending single datagrams from now on");
                        }
                    }
                    // Send this message's datagrams, and the rest, one by one.
                    grouped = false;
                    continue 'flush;
                }
                // Skip the datagram at the head (the error belongs to it) and go on.
                self.failed += 1;
                from += 1;
                m += 1;
            }
        }
        self.clear();
    }

    /// Fills `hdrs` with messages for the datagrams at positions `from..n` of `order`; with
    /// `grouped`, a run of datagrams to one destination of one size (the last may be shorter)
    /// is one GSO message. Returns the number of messages.
    fn build(&mut self, from: usize, n: usize, grouped: bool) -> usize {
        let iovs = self.iovs.as_mut_ptr();
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
                // SAFETY: `o < n <= SEND_BATCH`, the length of `iovs`.
                unsafe {
                    *iovs.add(o) = libc::iovec {
                        iov_base: self.bufs[j].as_mut_ptr().cast(),
                        iov_len: self.lens[j],
                    };
                }
            }
            let alen = to_storage(&self.dests[first], &mut self.addrs[msgs]);
            let h = &mut self.hdrs[msgs].msg_hdr;
            h.msg_name = (&mut self.addrs[msgs] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = alen;
            // SAFETY: `k < n <= SEND_BATCH`; the message covers iovecs k..end.
            h.msg_iov = unsafe { iovs.add(k) };
            h.msg_iovlen = (end - k) as _;
            h.msg_flags = 0;
            if end - k > 1 {
                let ctrl = &mut self.ctrl[msgs];
                // SAFETY: the control buffer is 32 bytes, 8-byte aligned: room for one
                // cmsghdr and a u16 (CMSG_SPACE(2) is 24 on Linux).
                unsafe {
                    h.msg_control = ctrl.as_mut_ptr().cast();
                    h.msg_controllen = libc::CMSG_SPACE(2) as _;
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = libc::UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as _;
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
        if tx.gso_enabled() {
            // One destination: GSO messages of at most 64 datagrams.
            assert_eq!(tx.gso_counters(), (2, 100));
        }
        let mut rx = RecvBatch::new();
        let mut got = Vec::new();
        for _ in 0..50 {
            let n = rx.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let (from, data) = rx.get(i).unwrap();
                assert_eq!(from, a.local_addr().unwrap());
                assert_eq!(data.len(), 100);
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

    /// What arrives at `sock`: waits up to 5 s for `want` datagrams, then 50 ms more for any
    /// extra (a duplicate would show).
    fn read_all(sock: &std::net::UdpSocket, want: usize) -> Vec<Vec<u8>> {
        sock.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut quiet_since = std::time::Instant::now();
        while std::time::Instant::now() < end
            && (got.len() < want || quiet_since.elapsed() < std::time::Duration::from_millis(50))
        {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    got.push(buf[..n].to_vec());
                    quiet_since = std::time::Instant::now();
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
        got
    }

    /// A datagram whose bytes say which it is.
    fn datagram(tag: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| tag ^ i as u8).collect()
    }

    #[test]
    fn bursts_to_one_destination_go_as_gso_and_arrive_as_the_same_datagrams() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx: Vec<_> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let to: Vec<SocketAddr> = rx.iter().map(|r| r.local_addr().unwrap()).collect();
        let mut tx = SendBatch::new(a.as_raw_fd());
        if !tx.gso_enabled() {
            eprintln!("skipped: this kernel has no UDP GSO (Linux 4.18+)");
            return;
        }
        // First a one-off datagram to another peer (as an RTCP report to a publisher often
        // comes first in a wake-up), then five packets fanned out to three receivers,
        // interleaved as a forwarder queues them. Receiver 0 gets equal sizes with a shorter
        // last one (one GSO message), receiver 1 equal sizes (one), receiver 2 sizes that
        // change (runs of one size each).
        let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.push(other.local_addr().unwrap(), &[9; 80]);
        let sizes: [[usize; 5]; 3] = [
            [1200, 1200, 1200, 1200, 700],
            [1000, 1000, 1000, 1000, 1000],
            [1100, 1200, 1200, 900, 1000],
        ];
        let mut want: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
        for p in 0..5u8 {
            for r in 0..3 {
                let d = datagram(p * 16 + r as u8, sizes[r][usize::from(p)]);
                tx.push(to[r], &d);
                want[r].push(d);
            }
        }
        tx.flush();
        assert_eq!(tx.counters(), (16, 0));
        // Receiver 0: one message of 5; 1: one of 5; 2: [1100], [1200, 1200, 900], [1000].
        assert_eq!(tx.gso_counters(), (3, 13));
        for r in 0..3 {
            assert_eq!(read_all(&rx[r], 5), want[r], "receiver {r}");
        }
        assert_eq!(read_all(&other, 1), vec![vec![9; 80]]);
        // Without repeats, every datagram is its own message.
        for r in &to {
            tx.push(*r, &[1; 100]);
        }
        tx.flush();
        assert_eq!((tx.counters(), tx.gso_counters()), ((19, 0), (3, 13)));
        // Nor with GSO off.
        tx.disable_gso();
        for i in 0..4 {
            tx.push(to[0], &datagram(i, 100));
        }
        tx.flush();
        assert_eq!((tx.counters(), tx.gso_counters()), ((23, 0), (3, 13)));
        let mut first = vec![vec![1; 100]];
        first.extend((0..4).map(|i| datagram(i, 100)));
        assert_eq!(read_all(&rx[0], 5), first);
        for r in &rx[1..] {
            assert_eq!(read_all(r, 1), vec![vec![1; 100]]);
        }
    }

    #[test]
    fn a_gso_message_holds_at_most_60000_bytes() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = SendBatch::new(a.as_raw_fd());
        if !tx.gso_enabled() {
            eprintln!("skipped: this kernel has no UDP GSO (Linux 4.18+)");
            return;
        }
        let want: Vec<Vec<u8>> = (0..64).map(|i| datagram(i, 1200)).collect();
        for d in &want {
            tx.push(b.local_addr().unwrap(), d);
        }
        tx.flush();
        // 50 x 1200 bytes, then 14.
        assert_eq!((tx.counters(), tx.gso_counters()), ((64, 0), (2, 64)));
        assert_eq!(read_all(&b, 64), want);
    }

    #[test]
    fn a_refused_gso_message_is_sent_as_single_datagrams() {
        // With SO_NO_CHECK (no UDP checksum) the kernel refuses GSO (EINVAL) and sends single
        // datagrams: every datagram still arrives, in order, once; after GSO_REFUSALS
        // refusals in a row the batch stops trying.
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a c_int value on our own socket.
        let r = unsafe {
            libc::setsockopt(
                a.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        let (b, c) = (
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        let mut tx = SendBatch::new(a.as_raw_fd());
        if !tx.gso_enabled() {
            eprintln!("skipped: this kernel has no UDP GSO (Linux 4.18+)");
            return;
        }
        let mut want_b = Vec::new();
        for round in 0..GSO_REFUSALS {
            // A single datagram to c, then a burst to b (a GSO message when tried).
            tx.push(c.local_addr().unwrap(), &datagram(200, 50));
            for i in 0..3 {
                let d = datagram(round as u8 * 4 + i, 500);
                tx.push(b.local_addr().unwrap(), &d);
                want_b.push(d);
            }
            tx.flush();
            assert_eq!(tx.counters(), (u64::from(round + 1) * 4, 0));
            assert_eq!(tx.gso_enabled(), round + 1 < GSO_REFUSALS, "round {round}");
        }
        assert_eq!(tx.gso_counters(), (0, 0));
        assert_eq!(read_all(&b, want_b.len()), want_b);
        let n = GSO_REFUSALS as usize;
        assert_eq!(read_all(&c, n).len(), n);
    }

    #[test]
    fn errors_that_are_not_about_gso_leave_it_on() {
        // An IPv4 socket sending to an IPv6 address fails every message (EAFNOSUPPORT): the
        // datagrams are counted as failed, GSO stays on.
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to: SocketAddr = "[::1]:9".parse().unwrap();
        let mut tx = SendBatch::new(a.as_raw_fd());
        if !tx.gso_enabled() {
            eprintln!("skipped: this kernel has no UDP GSO (Linux 4.18+)");
            return;
        }
        for round in 0..2 * GSO_REFUSALS {
            for _ in 0..3 {
                tx.push(to, &[0; 100]);
            }
            tx.flush();
            assert_eq!(tx.counters(), (0, u64::from(round + 1) * 3));
        }
        assert!(tx.gso_enabled());
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
