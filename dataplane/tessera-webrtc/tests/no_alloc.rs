//! The STUN a connected transport handles itself allocates nothing: reading and
//! authenticating a peer's binding request, writing the answer, writing a consent check with a
//! fresh transaction id, and reading and authenticating the peer's answer to it. The counters
//! (Rust and C allocations) are `tessera-rtp`'s; the program runs without the test harness so
//! no other thread allocates while they are armed.

// A harness-less test program: its report is its stdout.
#![allow(clippy::print_stdout)]

#[path = "../../tessera-rtp/tests/counting/mod.rs"]
mod counting;

use std::net::SocketAddr;

use counting::{counted, counters_work};
use tessera_webrtc::stun::{self, Key, Request};

const ROUNDS: usize = 2000;

/// One consent round each way, as a connected transport and its peer do it; returns how many
/// messages authenticated.
fn rounds(ours: &Key, theirs: &Key, peer: SocketAddr, n: usize) -> usize {
    let mut ok = 0;
    let mut request = [0u8; 256];
    let mut reply = [0u8; 256];
    for _ in 0..n {
        // The peer's check, as we receive it, and our answer.
        let r = Request {
            transaction: rand::random(),
            remote_ufrag: "srvU",
            local_ufrag: "cliU",
            priority: 0x6e00_01ff,
            tiebreaker: 7,
        };
        let len = stun::write_binding_request(&mut request, &r, ours);
        let m = stun::parse(&request[..len]).expect("a request");
        if m.username_is("srvU", "cliU") && m.authentic(ours) {
            ok += 1;
        }
        let len = stun::write_binding_success(&mut reply, &m.transaction, peer, ours);
        // Our consent check, and the peer's answer as we receive it.
        let c = Request {
            transaction: rand::random(),
            remote_ufrag: "cliU",
            local_ufrag: "srvU",
            priority: 0x6eff_ffff,
            tiebreaker: 9,
        };
        let clen = stun::write_binding_request(&mut request, &c, theirs);
        assert!(clen > 0 && len > 0);
        let answer = stun::write_binding_success(&mut reply, &c.transaction, peer, theirs);
        let a = stun::parse(&reply[..answer]).expect("a response");
        if a.transaction == c.transaction && a.authentic(theirs) {
            ok += 1;
        }
    }
    ok
}

fn main() {
    let ours = Key::new("server-password-0123456789");
    let theirs = Key::new("client-password-0123456789");
    let peer: SocketAddr = "192.0.2.7:50000".parse().expect("address");
    // Warm-up: the thread's random generator is created on first use.
    assert_eq!(rounds(&ours, &theirs, peer, 1), 2);
    let (ok, r, c) = counted(|| rounds(&ours, &theirs, peer, ROUNDS));
    let passed = ok == 2 * ROUNDS && r == 0 && c == 0;
    println!(
        "{ROUNDS} consent rounds each way: {ok} authentic, {r} Rust allocations, {c} C allocations {}",
        if passed { "ok" } else { "FAILED" }
    );
    if !(passed && counters_work()) {
        std::process::exit(1);
    }
}
