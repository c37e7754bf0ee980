//! The load generator's event loop: one thread (pinned to its own CPU) that drives the
//! publisher and every subscriber over non-blocking UDP sockets with epoll.
//!
//! WebRTC peers use str0m only for ICE and DTLS (and SDP); media bypasses it, as in the server:
//! the publisher encrypts its RTP with our own SRTP from the DTLS key tap, and subscribers
//! decrypt what they receive with it (which also authenticates every packet). Subscribers never
//! decode, send no RTCP of their own, and only answer STUN through str0m. Each datagram's
//! kernel receive time (SO_TIMESTAMPNS) minus the send time the publisher wrote into the
//! payload gives the ingress-to-egress latency without the load generator's scheduling delays.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tessera_dtls::KeyTap;
use tessera_rtp::rtp::RtpHeader;
use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};

use crate::media::{self, Stream};

/// A str0m peer (ICE + DTLS) on its own UDP socket.
pub struct RtcPeer {
    pub rtc: Rtc,
    pub tap: KeyTap,
    pub sock: UdpSocket,
    pub local: SocketAddr,
}

/// Opens a non-blocking UDP socket on 127.0.0.1 with kernel receive timestamps and a large
/// receive buffer.
pub fn udp_socket() -> UdpSocket {
    udp_socket_on([127, 0, 0, 1].into())
}

/// Like [`udp_socket`] on another local address.
pub fn udp_socket_on(ip: std::net::IpAddr) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).expect("bind a UDP socket");
    s.set_nonblocking(true).expect("non-blocking");
    let fd = s.as_raw_fd();
    let one: libc::c_int = 1;
    let size: libc::c_int = 4 << 20;
    // SAFETY: setsockopt with a valid fd and int option values.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            4,
        );
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                4,
            );
        }
    }
    s
}

/// What a subscriber receives with.
pub enum Endpoint {
    /// A WebRTC subscriber.
    Rtc(Box<RtcPeer>),
    /// A plain UDP receiver (the raw forwarding loop's destinations).
    Plain(UdpSocket),
}

/// Where the publisher sends.
pub enum PubTarget {
    /// SRTP over a WebRTC peer (Tessera's WHIP).
    Srtp {
        peer: Box<RtcPeer>,
        video_ssrc: u32,
        audio_ssrc: u32,
        video_pt: u8,
        audio_pt: u8,
    },
    /// Plain RTP to UDP ports (Janus's streaming mountpoint, the raw loop).
    Plain {
        video_to: SocketAddr,
        audio_to: SocketAddr,
    },
}

/// Commands from the orchestrating thread.
pub enum Cmd {
    AddSubscriber(Endpoint),
    SetPublisher(PubTarget),
    /// Starts counting packets and recording latencies.
    BeginWindow,
    /// Stops the window and reports it.
    EndWindow(mpsc::Sender<Snapshot>),
    /// Reports the current state (no latencies).
    Status(mpsc::Sender<Snapshot>),
    /// Drops every peer and the publisher.
    Reset(mpsc::Sender<()>),
}

/// The load generator's view of a run.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub connected: usize,
    /// Subscribers that received at least one media packet.
    pub receiving: usize,
    pub publisher_connected: bool,
    /// The SRTP profile the (last) subscriber negotiated, if any.
    pub profile: Option<String>,
    /// Media packets subscribers received in the window.
    pub window_received: u64,
    /// Fewest and most packets one subscriber received in the window.
    pub window_min: u64,
    pub window_max: u64,
    /// Packets the publisher sent in the window.
    pub window_sent: u64,
    /// Latencies in the window (µs), sorted.
    pub latencies_us: Vec<u32>,
    /// Datagrams that failed SRTP authentication or did not parse (in the window).
    pub bad: u64,
    /// Key frames sent because the server asked.
    pub keyframes_on_request: u64,
}

struct Conn {
    peer: RtcPeer,
    next: Instant,
    connected: bool,
    srtp_in: Option<SrtpContext>,
    srtp_out: Option<SrtpContext>,
    remote: Option<SocketAddr>,
    profile: Option<SrtpProfile>,
    failed: bool,
}

impl Conn {
    fn new(peer: RtcPeer) -> Conn {
        Conn {
            peer,
            next: Instant::now(),
            connected: false,
            srtp_in: None,
            srtp_out: None,
            remote: None,
            profile: None,
            failed: false,
        }
    }

    fn input(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Ok(r) = Receive::new(Protocol::Udp, from, self.peer.local, data) else {
            return;
        };
        if self.peer.rtc.handle_input(Input::Receive(now, r)).is_ok() {
            self.next = now;
        }
    }

    fn drive(&mut self, now: Instant) {
        if self.failed || self.next > now {
            return;
        }
        if self.peer.rtc.handle_input(Input::Timeout(now)).is_err() {
            self.failed = true;
            return;
        }
        loop {
            match self.peer.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let c: &[u8] = &t.contents;
                    if c.first().is_some_and(|b| (20..64).contains(b)) {
                        self.remote = Some(t.destination);
                    }
                    let _ = self.peer.sock.send_to(c, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => self.on_connected(),
                Ok(Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                ))) => {}
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(t)) => {
                    self.next = t.max(now + Duration::from_micros(100));
                    break;
                }
                Err(_) => {
                    self.failed = true;
                    break;
                }
            }
        }
    }

    fn on_connected(&mut self) {
        let Some(keys) = self.peer.tap.get() else {
            self.failed = true;
            return;
        };
        use tessera_dtls::SrtpProtectionProfile as P;
        let profile = match keys.profile() {
            P::Aes128CmSha1_80 => SrtpProfile::Aes128CmSha1_80,
            P::AeadAes128Gcm => SrtpProfile::AeadAes128Gcm,
            P::AeadAes256Gcm => SrtpProfile::AeadAes256Gcm,
        };
        let (client, server) =
            split_keying_material(profile, keys.keying_material()).expect("keying material");
        let (out, inb) = if keys.is_client() {
            (client, server)
        } else {
            (server, client)
        };
        self.srtp_out = Some(SrtpContext::new(&out).expect("SRTP context"));
        self.srtp_in = Some(SrtpContext::new(&inb).expect("SRTP context"));
        self.profile = Some(profile);
        self.connected = true;
    }
}

enum Ep {
    Rtc(Box<Conn>),
    Plain(UdpSocket),
}

impl Ep {
    fn fd(&self) -> i32 {
        match self {
            Ep::Rtc(c) => c.peer.sock.as_raw_fd(),
            Ep::Plain(s) => s.as_raw_fd(),
        }
    }
}

struct Sub {
    ep: Ep,
    received: u64,
    window: u64,
}

enum Publisher {
    Srtp {
        conn: Box<Conn>,
        stream: Stream,
    },
    Plain {
        sock: UdpSocket,
        video_to: SocketAddr,
        audio_to: SocketAddr,
        stream: Stream,
    },
}

const BATCH: usize = 32;
const SLOT: usize = 2048;
const CMSG: usize = 64;
const PUB_TOKEN: u64 = u64::MAX;
const WAKE_TOKEN: u64 = u64::MAX - 1;

/// recvmmsg buffers with room for a timestamp control message per datagram.
struct RecvBufs {
    bufs: Vec<[u8; SLOT]>,
    cmsgs: Vec<[u64; CMSG / 8]>,
    addrs: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RecvBufs {
    fn new() -> RecvBufs {
        // SAFETY: all-zero is valid for these C structs.
        RecvBufs {
            bufs: vec![[0; SLOT]; BATCH],
            cmsgs: vec![[0; CMSG / 8]; BATCH],
            addrs: vec![unsafe { std::mem::zeroed() }; BATCH],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            hdrs: vec![unsafe { std::mem::zeroed() }; BATCH],
        }
    }

    /// One recvmmsg; returns the count (0 when nothing is queued).
    fn recv(&mut self, fd: i32) -> usize {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[i].as_mut_ptr().cast();
            h.msg_controllen = CMSG;
            h.msg_flags = 0;
        }
        // SAFETY: every header points at buffers owned by self.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        n.max(0) as usize
    }

    /// Datagram `i`: source, contents (mutable, for in-place decryption), kernel receive time
    /// in CLOCK_REALTIME ns.
    fn get(&mut self, i: usize) -> (SocketAddr, &mut [u8], u64) {
        let a = &self.addrs[i];
        let from = SocketAddr::from((
            u32::from_be(a.sin_addr.s_addr).to_be_bytes(),
            u16::from_be(a.sin_port),
        ));
        let mut ts = 0u64;
        let h = &self.hdrs[i].msg_hdr;
        // SAFETY: the kernel filled msg_control with well-formed cmsgs of msg_controllen bytes.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                    let t = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    ts = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        let len = self.hdrs[i].msg_len as usize;
        (from, &mut self.bufs[i][..len], ts)
    }
}

fn epoll_add(epfd: i32, fd: i32, token: u64) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: valid fds and event struct.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

fn epoll_del(epfd: i32, fd: i32) {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: valid fds.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
}

/// The handle the orchestrator keeps.
pub struct Client {
    tx: mpsc::Sender<Cmd>,
    wake: i32,
}

impl Client {
    /// Starts the load-generator thread on `cpu`.
    pub fn start(cpu: usize) -> Client {
        // SAFETY: eventfd has no preconditions.
        let wake = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK) };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("loadgen".into())
            .spawn(move || {
                crate::sys::pin_thread(cpu);
                Loop::new(wake, rx).run();
            })
            .expect("spawn the load generator");
        Client { tx, wake }
    }

    /// Sends a command.
    pub fn send(&self, cmd: Cmd) {
        self.tx.send(cmd).expect("load generator running");
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to an eventfd.
        unsafe { libc::write(self.wake, (&one as *const u64).cast(), 8) };
    }

    /// Current state.
    pub fn status(&self) -> Snapshot {
        let (t, r) = mpsc::channel();
        self.send(Cmd::Status(t));
        r.recv().expect("status")
    }

    /// Ends the measurement window.
    pub fn end_window(&self) -> Snapshot {
        let (t, r) = mpsc::channel();
        self.send(Cmd::EndWindow(t));
        r.recv().expect("window")
    }

    /// Drops every peer.
    pub fn reset(&self) {
        let (t, r) = mpsc::channel();
        self.send(Cmd::Reset(t));
        r.recv().expect("reset");
    }
}

struct Loop {
    epfd: i32,
    wake: i32,
    rx: mpsc::Receiver<Cmd>,
    subs: Vec<Sub>,
    publisher: Option<Publisher>,
    window: bool,
    window_sent_at_start: u64,
    latencies: Vec<u32>,
    bad: u64,
    rb: RecvBufs,
    out: Vec<u8>,
}

impl Loop {
    fn new(wake: i32, rx: mpsc::Receiver<Cmd>) -> Loop {
        // SAFETY: epoll_create1 has no preconditions.
        let epfd = unsafe { libc::epoll_create1(0) };
        epoll_add(epfd, wake, WAKE_TOKEN);
        Loop {
            epfd,
            wake,
            rx,
            subs: Vec::new(),
            publisher: None,
            window: false,
            window_sent_at_start: 0,
            latencies: Vec::with_capacity(1 << 20),
            bad: 0,
            rb: RecvBufs::new(),
            out: vec![0; SLOT],
        }
    }

    fn sent(&self) -> u64 {
        match &self.publisher {
            Some(Publisher::Srtp { stream, .. }) | Some(Publisher::Plain { stream, .. }) => {
                stream.sent
            }
            None => 0,
        }
    }

    fn snapshot(&mut self, with_latencies: bool) -> Snapshot {
        let mut s = Snapshot {
            window_min: u64::MAX,
            ..Snapshot::default()
        };
        for sub in &self.subs {
            match &sub.ep {
                Ep::Rtc(c) => {
                    if c.connected {
                        s.connected += 1;
                    }
                    if let Some(p) = c.profile {
                        s.profile = Some(format!("{p:?}"));
                    }
                }
                Ep::Plain(_) => s.connected += 1,
            }
            if sub.received > 0 {
                s.receiving += 1;
            }
            s.window_received += sub.window;
            s.window_min = s.window_min.min(sub.window);
            s.window_max = s.window_max.max(sub.window);
        }
        if self.subs.is_empty() {
            s.window_min = 0;
        }
        match &self.publisher {
            Some(Publisher::Srtp { conn, stream }) => {
                s.publisher_connected = conn.connected;
                s.keyframes_on_request = stream.keyframes_on_request;
            }
            Some(Publisher::Plain { .. }) => s.publisher_connected = true,
            None => {}
        }
        s.window_sent = self.sent() - self.window_sent_at_start;
        s.bad = self.bad;
        if with_latencies {
            let mut l = std::mem::take(&mut self.latencies);
            l.sort_unstable();
            s.latencies_us = l;
            self.latencies = Vec::with_capacity(1 << 20);
        }
        s
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::AddSubscriber(e) => {
                let ep = match e {
                    Endpoint::Rtc(p) => Ep::Rtc(Box::new(Conn::new(*p))),
                    Endpoint::Plain(s) => Ep::Plain(s),
                };
                epoll_add(self.epfd, ep.fd(), self.subs.len() as u64);
                self.subs.push(Sub {
                    ep,
                    received: 0,
                    window: 0,
                });
            }
            Cmd::SetPublisher(t) => {
                let now = Instant::now();
                let p = match t {
                    PubTarget::Srtp {
                        peer,
                        video_ssrc,
                        audio_ssrc,
                        video_pt,
                        audio_pt,
                    } => {
                        epoll_add(self.epfd, peer.sock.as_raw_fd(), PUB_TOKEN);
                        Publisher::Srtp {
                            conn: Box::new(Conn::new(*peer)),
                            stream: Stream::new(now, video_ssrc, audio_ssrc, video_pt, audio_pt),
                        }
                    }
                    PubTarget::Plain { video_to, audio_to } => {
                        let sock = udp_socket();
                        epoll_add(self.epfd, sock.as_raw_fd(), PUB_TOKEN);
                        Publisher::Plain {
                            sock,
                            video_to,
                            audio_to,
                            stream: Stream::new(
                                now,
                                0x1111_0001,
                                0x2222_0002,
                                media::VIDEO_PT,
                                media::AUDIO_PT,
                            ),
                        }
                    }
                };
                self.publisher = Some(p);
            }
            Cmd::BeginWindow => {
                for s in &mut self.subs {
                    s.window = 0;
                }
                self.latencies.clear();
                self.bad = 0;
                self.window_sent_at_start = self.sent();
                self.window = true;
            }
            Cmd::EndWindow(reply) => {
                self.window = false;
                let s = self.snapshot(true);
                let _ = reply.send(s);
            }
            Cmd::Status(reply) => {
                let s = self.snapshot(false);
                let _ = reply.send(s);
            }
            Cmd::Reset(reply) => {
                for s in self.subs.drain(..) {
                    epoll_del(self.epfd, s.ep.fd());
                }
                if let Some(p) = self.publisher.take() {
                    let fd = match &p {
                        Publisher::Srtp { conn, .. } => conn.peer.sock.as_raw_fd(),
                        Publisher::Plain { sock, .. } => sock.as_raw_fd(),
                    };
                    epoll_del(self.epfd, fd);
                }
                self.window = false;
                self.bad = 0;
                let _ = reply.send(());
            }
        }
    }

    fn publish(&mut self, now: Instant) {
        let out = &mut self.out;
        match &mut self.publisher {
            Some(Publisher::Srtp { conn, stream }) => {
                conn.drive(now);
                let (Some(ctx), Some(to)) = (conn.srtp_out.as_mut(), conn.remote) else {
                    return;
                };
                while let Some((_, n)) = stream.next_packet(now, out) {
                    media::stamp(out, n);
                    if let Ok(m) = ctx.protect_rtp(out, n) {
                        let _ = conn.peer.sock.send_to(&out[..m], to);
                    }
                }
            }
            Some(Publisher::Plain {
                sock,
                video_to,
                audio_to,
                stream,
            }) => {
                while let Some((kind, n)) = stream.next_packet(now, out) {
                    media::stamp(out, n);
                    let to = if kind == media::Kind::Video {
                        *video_to
                    } else {
                        *audio_to
                    };
                    let _ = sock.send_to(&out[..n], to);
                }
            }
            None => {}
        }
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let mut d = now + Duration::from_millis(5);
        match &self.publisher {
            Some(Publisher::Srtp { conn, stream }) => {
                d = d.min(conn.next);
                if conn.connected {
                    d = d.min(stream.next_at());
                }
            }
            Some(Publisher::Plain { stream, .. }) => d = d.min(stream.next_at()),
            None => {}
        }
        for s in &self.subs {
            if let Ep::Rtc(c) = &s.ep
                && !c.failed
            {
                d = d.min(c.next);
            }
        }
        d
    }

    fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let now = Instant::now();
            self.publish(now);
            for s in &mut self.subs {
                if let Ep::Rtc(c) = &mut s.ep {
                    c.drive(now);
                }
            }
            let wait = self
                .next_deadline(now)
                .saturating_duration_since(Instant::now());
            let ts = libc::timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: wait.subsec_nanos() as i64,
            };
            // SAFETY: events has room for its length; ts is a valid timespec.
            let n = unsafe {
                libc::epoll_pwait2(
                    self.epfd,
                    events.as_mut_ptr(),
                    events.len() as i32,
                    &ts,
                    std::ptr::null(),
                )
            };
            for ev in events.iter().take(n.max(0) as usize) {
                let token = ev.u64;
                if token == WAKE_TOKEN {
                    let mut v = 0u64;
                    // SAFETY: reading 8 bytes from an eventfd into a u64.
                    unsafe { libc::read(self.wake, (&mut v as *mut u64).cast(), 8) };
                    while let Ok(cmd) = self.rx.try_recv() {
                        self.command(cmd);
                    }
                } else if token == PUB_TOKEN {
                    self.on_publisher_readable();
                } else if (token as usize) < self.subs.len() {
                    self.on_subscriber_readable(token as usize);
                }
            }
        }
    }

    fn on_publisher_readable(&mut self) {
        let Some(p) = self.publisher.as_mut() else {
            return;
        };
        let fd = match p {
            Publisher::Srtp { conn, .. } => conn.peer.sock.as_raw_fd(),
            Publisher::Plain { sock, .. } => sock.as_raw_fd(),
        };
        let now = Instant::now();
        loop {
            let n = self.rb.recv(fd);
            for i in 0..n {
                let (from, data, _) = self.rb.get(i);
                let Publisher::Srtp { conn, stream } = p else {
                    continue;
                };
                match data.first() {
                    Some(0..=3) | Some(20..=63) => conn.input(now, from, data),
                    Some(128..=191) => {
                        // SRTCP from the server: answer PLI/FIR with a key frame.
                        if let Some(ctx) = conn.srtp_in.as_mut()
                            && let Ok(len) = ctx.unprotect_rtcp(data)
                            && wants_keyframe(&data[..len])
                        {
                            stream.request_keyframe();
                        }
                    }
                    _ => {}
                }
            }
            if n < BATCH {
                break;
            }
        }
        if let Publisher::Srtp { conn, .. } = p {
            conn.drive(now);
        }
    }

    fn on_subscriber_readable(&mut self, i: usize) {
        let now = Instant::now();
        let sub = &mut self.subs[i];
        let fd = sub.ep.fd();
        loop {
            let n = self.rb.recv(fd);
            for k in 0..n {
                let (from, data, ts) = self.rb.get(k);
                match data.first() {
                    Some(0..=3) | Some(20..=63) => {
                        if let Ep::Rtc(c) = &mut sub.ep {
                            c.input(now, from, data);
                        }
                    }
                    Some(128..=191) => {
                        let rtcp = data.len() > 1 && (64..96).contains(&(data[1] & 0x7f));
                        if rtcp {
                            continue;
                        }
                        let plain: &[u8] = match &mut sub.ep {
                            Ep::Rtc(c) => match c.srtp_in.as_mut().map(|x| x.unprotect_rtp(data)) {
                                Some(Ok(len)) => &data[..len],
                                _ => {
                                    self.bad += 1;
                                    continue;
                                }
                            },
                            Ep::Plain(_) => data,
                        };
                        let Ok(h) = RtpHeader::parse(plain) else {
                            self.bad += 1;
                            continue;
                        };
                        sub.received += 1;
                        if self.window {
                            sub.window += 1;
                            if let Some(sent) = media::stamp_of(h.payload())
                                && ts >= sent
                            {
                                let us = ((ts - sent) / 1000).min(u32::MAX as u64) as u32;
                                self.latencies.push(us);
                            }
                        }
                    }
                    _ => {}
                }
            }
            if n < BATCH {
                break;
            }
        }
        if let Ep::Rtc(c) = &mut sub.ep {
            c.drive(now);
        }
    }
}

/// Whether an RTCP compound packet carries a PLI or a FIR.
fn wants_keyframe(mut p: &[u8]) -> bool {
    while p.len() >= 4 {
        let fmt = p[0] & 0x1f;
        let pt = p[1];
        if pt == 206 && (fmt == 1 || fmt == 4) {
            return true;
        }
        let len = (u16::from_be_bytes([p[2], p[3]]) as usize + 1) * 4;
        if len > p.len() {
            break;
        }
        p = &p[len..];
    }
    false
}
