//! Every HTTP listener (REST, portal) sets TCP_NODELAY on the connections it accepts: with
//! Nagle's algorithm a Socket.IO notification written right after another one (a `progress`
//! answer, then `ready`) waited for the client's delayed ACK, about 40 ms on Linux. The server
//! runs in-process, so the test finds the accepted socket among the process's own descriptors
//! (by its two addresses) and reads the option from it.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::test_config;
use tessera::server::Server;

/// The address `get` (getsockname or getpeername) reports for `fd`, if it is an IPv4 socket.
fn addr_of(
    fd: i32,
    get: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> Option<SocketAddr> {
    // SAFETY: a zeroed sockaddr_in is a valid value, and `get` writes at most `len` bytes
    // into it.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa` and `len` are valid for writes; a descriptor that is not a socket fails.
    let rc = unsafe { get(fd, (&raw mut sa).cast(), &raw mut len) };
    if rc != 0 || i32::from(sa.sin_family) != libc::AF_INET {
        return None;
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
    Some(SocketAddr::from((ip, u16::from_be(sa.sin_port))))
}

/// TCP_NODELAY of the process's socket connected from `client` to `server`, once accepted.
fn server_side_nodelay(server: SocketAddr, client: SocketAddr) -> Option<bool> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        let Ok(fd) = entry.ok()?.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if addr_of(fd, libc::getsockname) != Some(server)
            || addr_of(fd, libc::getpeername) != Some(client)
        {
            continue;
        }
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` and `len` are valid for writes of an int option.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw mut v).cast(),
                &raw mut len,
            )
        };
        return (rc == 0).then_some(v != 0);
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_connections_have_tcp_nodelay() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(test_config(dir.path(), None)).await.unwrap();
    for (name, addr) in [("REST", server.rest_addr), ("portal", server.portal_addr)] {
        let (addr, found) = tokio::task::spawn_blocking(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            // A request makes sure the server has accepted (and tuned) the connection.
            c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let client = c.local_addr().unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Some(v) = server_side_nodelay(addr, client) {
                    return (addr, Some(v));
                }
                if Instant::now() > deadline {
                    return (addr, None);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
        .await
        .unwrap();
        assert_eq!(found, Some(true), "{name} connection to {addr}");
    }
    server.shutdown().await;
}
