//! UDP GSO against `sendmmsg` for a burst of datagrams to one destination (P3: "UDP GSO for
//! bursts to one destination where the benchmark shows a gain").
//!
//! `cargo bench -p tessera-benches --bench gso` (as root it first moves itself into a private
//! network namespace where only `lo` exists). A sender thread pinned to CPU 0 sends bursts of K
//! datagrams of `GSO_SIZE` bytes (default 1200, an SRTP video packet) to a receiver thread
//! pinned to CPU 1, three ways:
//!
//! * `sendmmsg, one destination`: K messages in one `sendmmsg` (what the shards do now);
//! * `GSO, one destination`: one `sendmsg` of K × size bytes with a `UDP_SEGMENT` control
//!   message, which the kernel splits into K datagrams;
//! * `sendmmsg, K destinations`: K messages to K sockets (the fan-out case, where GSO does not
//!   apply), for reference.
//!
//! The cost is the sender thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) around its send calls
//! only: on loopback the receive side of each datagram (IP and UDP input, the socket queue, the
//! receiver's wake-up) runs in the sender's context and counts, as it does for a server. Each
//! case runs `GSO_SECONDS` (default 2) with a pause after every burst so that the receiver keeps
//! up; the receiver counts what arrives and checks each datagram's size, and a case that loses a
//! datagram is reported. Environment: `GSO_K` (burst sizes, default `1,2,4,8,16,32`),
//! `GSO_SIZE`, `GSO_SECONDS`, `GSO_NETNS=0` (stay in the host's namespace).

#![allow(clippy::print_stdout)]

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::{cpu_model, enter_private_netns, env_str, env_u64, loadavg, pin_to};

/// Receivers: one for the single-destination cases, K for the fan-out case.
const SOCKETS: usize = 64;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Sendmmsg,
    Gso,
    FanOut,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sendmmsg => "sendmmsg, one destination",
            Mode::Gso => "GSO, one destination",
            Mode::FanOut => "sendmmsg, K destinations",
        }
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn sockaddr(addr: std::net::SocketAddr) -> libc::sockaddr_in {
    let std::net::SocketAddr::V4(a) = addr else {
        panic!("IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Sends one burst of `k` datagrams of `size` bytes from `buf`; returns the datagrams sent.
fn burst(
    fd: i32,
    mode: Mode,
    k: usize,
    size: usize,
    buf: &mut [u8],
    dests: &[libc::sockaddr_in],
) -> usize {
    let addr_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    match mode {
        Mode::Sendmmsg | Mode::FanOut => {
            let mut iovs: Vec<libc::iovec> = (0..k)
                .map(|i| libc::iovec {
                    iov_base: buf[i * size..].as_mut_ptr().cast(),
                    iov_len: size,
                })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = (0..k)
                .map(|i| {
                    // SAFETY: mmsghdr is plain data; zero is a valid empty header.
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    let d = if mode == Mode::FanOut {
                        &dests[i]
                    } else {
                        &dests[0]
                    };
                    m.msg_hdr.msg_name = (d as *const libc::sockaddr_in).cast_mut().cast();
                    m.msg_hdr.msg_namelen = addr_len;
                    m.msg_hdr.msg_iov = &mut iovs[i];
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            // SAFETY: every header points at live iovecs, addresses and buffer slices.
            let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), k as u32, 0) };
            n.max(0) as usize
        }
        Mode::Gso => {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: k * size,
            };
            // SAFETY: CMSG_SPACE is a pure size computation.
            let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
            let mut control = vec![0u8; space];
            // SAFETY: msghdr is plain data; zero is a valid empty header.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = (&dests[0] as *const libc::sockaddr_in).cast_mut().cast();
            msg.msg_namelen = addr_len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: the control buffer has room for one u16 control message.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), size as u16);
            }
            // SAFETY: msg points at live buffers for the call.
            let n = unsafe { libc::sendmsg(fd, &msg, 0) };
            if n < 0 { 0 } else { n as usize / size }
        }
    }
}

fn main() {
    if env_str("GSO_NETNS", "1") != "0"
        && let Err(e) = enter_private_netns(false)
    {
        println!("staying in the host's network namespace: {e}");
    }
    let ks: Vec<usize> = env_str("GSO_K", "1,2,4,8,16,32")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|k| (1..=SOCKETS).contains(k))
        .collect();
    let size = env_u64("GSO_SIZE", 1200) as usize;
    let seconds = env_u64("GSO_SECONDS", 2);
    println!(
        "UDP GSO vs sendmmsg: {size}-byte datagrams, bursts of K, {seconds} s per case; {} ; load {}",
        cpu_model(),
        loadavg()
    );

    let receivers: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind a receiver"))
        .collect();
    for r in &receivers {
        r.set_nonblocking(true).expect("non-blocking");
        let big: libc::c_int = 8 << 20;
        // SAFETY: setsockopt with a c_int value.
        unsafe {
            libc::setsockopt(
                r.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&big as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
    }
    let dests: Vec<libc::sockaddr_in> = receivers
        .iter()
        .map(|r| sockaddr(r.local_addr().unwrap()))
        .collect();
    let received = Arc::new(AtomicU64::new(0));
    let wrong_size = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rx = {
        let (received, wrong_size, stop) = (received.clone(), wrong_size.clone(), stop.clone());
        std::thread::spawn(move || {
            pin_to(&[1]);
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                let mut got = false;
                for r in &receivers {
                    while let Ok(n) = r.recv(&mut buf) {
                        got = true;
                        if n != size {
                            wrong_size.fetch_add(1, Ordering::Relaxed);
                        }
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if !got {
                    std::thread::yield_now();
                }
            }
        })
    };

    pin_to(&[0]);
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind the sender");
    let fd = tx.as_raw_fd();
    let mut buf = vec![0x5au8; SOCKETS * size];
    println!();
    println!(
        "| K | how | datagrams | lost | sender CPU ns per datagram | vs sendmmsg, one destination |"
    );
    println!("|---|---|---|---|---|---|");
    for &k in &ks {
        let mut base = None;
        for mode in [Mode::Sendmmsg, Mode::Gso, Mode::FanOut] {
            let before = received.load(Ordering::Relaxed);
            let (mut sent, mut cpu) = (0u64, Duration::ZERO);
            let end = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < end {
                let t0 = thread_cpu();
                sent += burst(fd, mode, k, size, &mut buf, &dests) as u64;
                cpu += thread_cpu() - t0;
                // Let the receiver keep up: about 40k datagrams per second at most.
                std::thread::sleep(Duration::from_micros(25 * k as u64));
            }
            // Wait for the last datagrams to be read.
            let deadline = Instant::now() + Duration::from_secs(1);
            while received.load(Ordering::Relaxed) - before < sent && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let got = received.load(Ordering::Relaxed) - before;
            let per = cpu.as_nanos() as f64 / sent.max(1) as f64;
            let ratio = match (mode, base) {
                (Mode::Sendmmsg, _) => {
                    base = Some(per);
                    "1.00×".to_string()
                }
                (_, Some(b)) => format!("{:.2}×", per / b),
                _ => "-".into(),
            };
            println!(
                "| {k} | {} | {sent} | {} | {per:.0} | {ratio} |",
                mode.name(),
                sent.saturating_sub(got)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = rx.join();
    let wrong = wrong_size.load(Ordering::Relaxed);
    println!();
    println!("datagrams of another size than {size} at the receiver: {wrong}");
}
