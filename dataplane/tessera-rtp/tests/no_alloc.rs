//! Steady-state packet work allocates nothing.
//!
//! Two counters: a `#[global_allocator]` wrapper sees every Rust allocation, and `malloc`,
//! `calloc` and `realloc` defined here (forwarding to glibc's `__libc_*`) see the C
//! allocations aws-lc makes, which bypass the Rust allocator. Runs without the test harness
//! so no other thread allocates while the counters are armed.

// A harness-less test program: its report is its stdout.
#![allow(clippy::print_stdout)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tessera_rtp::rtcp::{RtcpCompound, RtcpPacket, write_nack, write_pli, write_transport_cc};
use tessera_rtp::rtp::{self, RtpHeader, RtpWriter};
use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};

static ARMED: AtomicBool = AtomicBool::new(false);
static RUST_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static C_ALLOCS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod c_hooks {
    use super::*;

    unsafe extern "C" {
        fn __libc_malloc(size: usize) -> *mut c_void;
        fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
        fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    }

    fn count() {
        if ARMED.load(Ordering::Relaxed) {
            C_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// # Safety
    /// Same contract as C `malloc`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
        count();
        // SAFETY: forwards to glibc's implementation.
        unsafe { __libc_malloc(size) }
    }

    /// # Safety
    /// Same contract as C `calloc`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
        count();
        // SAFETY: forwards to glibc's implementation.
        unsafe { __libc_calloc(n, size) }
    }

    /// # Safety
    /// Same contract as C `realloc`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        count();
        // SAFETY: forwards to glibc's implementation.
        unsafe { __libc_realloc(ptr, size) }
    }
}

const PACKETS: u16 = 2000;

/// Protects and unprotects `PACKETS` RTP packets (crossing a sequence-number wrap) and a few
/// hundred RTCP packets, parsing them on the way as a forwarder would.
fn steady_state(
    profile: SrtpProfile,
    tx: &mut SrtpContext,
    rx: &mut SrtpContext,
    start: u16,
    count: u16,
) {
    let mut template = [0u8; 1500];
    let twcc = 1u16.to_be_bytes();
    let exts: [(u8, &[u8]); 2] = [(1, b"0"), (3, &twcc)];
    let header = RtpWriter {
        payload_type: 96,
        sequence_number: 0,
        timestamp: 0,
        ssrc: 0x1234_5678,
        extensions: &exts,
        ..RtpWriter::default()
    };
    let plen = header
        .write_packet(&[0xAB; 1200], &mut template)
        .expect("fits");
    let mut buf = [0u8; 1500];
    let mut rtcp = [0u8; 1500];
    for i in 0..count {
        let seq = start.wrapping_add(i);
        buf[..plen].copy_from_slice(&template[..plen]);
        rtp::set_sequence_number(&mut buf, seq).expect("header");
        rtp::set_timestamp(&mut buf, u32::from(seq) * 3000).expect("header");
        let n = tx.protect_rtp(&mut buf, plen).expect("protect");
        assert_eq!(n, plen + profile.rtp_overhead());
        let m = rx.unprotect_rtp(&mut buf[..n]).expect("unprotect");
        let h = RtpHeader::parse(&buf[..m]).expect("parse");
        assert_eq!(h.sequence_number(), seq);
        assert_eq!(h.extensions().count(), 2);

        if i % 8 == 0 {
            let mut len = write_pli(1, 0x1234_5678, &mut rtcp).expect("pli");
            len += write_nack(
                1,
                0x1234_5678,
                &[seq, seq.wrapping_add(2)],
                &mut rtcp[len..],
            )
            .expect("nack");
            let arrivals = [
                (seq, i64::from(i) * 1000),
                (seq.wrapping_add(3), i64::from(i) * 1000 + 700),
            ];
            len += write_transport_cc(1, 2, i as u8, &arrivals, &mut rtcp[len..])
                .expect("twcc")
                .len;
            let n = tx.protect_rtcp(&mut rtcp, len).expect("protect rtcp");
            let m = rx.unprotect_rtcp(&mut rtcp[..n]).expect("unprotect rtcp");
            let mut lost = 0;
            for p in RtcpCompound::new(&rtcp[..m]) {
                match p.expect("rtcp") {
                    RtcpPacket::Nack(k) => lost += k.lost_sequence_numbers().count(),
                    RtcpPacket::TransportCc(t) => {
                        lost += t.statuses().filter(|s| s.1.is_none()).count()
                    }
                    _ => {}
                }
            }
            assert_eq!(lost, 4);
        }
    }
}

fn main() {
    let mut failed = false;
    for profile in SrtpProfile::ALL {
        let km = vec![0x5A; profile.keying_material_len()];
        let (client, _) = split_keying_material(profile, &km).expect("keys");
        let mut tx = SrtpContext::new(&client).expect("context");
        let mut rx = SrtpContext::new(&client).expect("context");
        // The first packet of an SSRC inserts its state: the one allocation allowed.
        steady_state(profile, &mut tx, &mut rx, 64_000, 1);

        RUST_ALLOCS.store(0, Ordering::SeqCst);
        C_ALLOCS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        steady_state(profile, &mut tx, &mut rx, 65_000, PACKETS);
        ARMED.store(false, Ordering::SeqCst);
        let (r, c) = (
            RUST_ALLOCS.load(Ordering::SeqCst),
            C_ALLOCS.load(Ordering::SeqCst),
        );
        let ok = r == 0 && c == 0;
        failed |= !ok;
        println!(
            "{profile:?}: {PACKETS} RTP + {} RTCP packets: {r} Rust allocations, {c} C allocations {}",
            PACKETS.div_ceil(8),
            if ok { "ok" } else { "FAILED" }
        );
    }

    // The counters work: an allocation while armed is seen.
    ARMED.store(true, Ordering::SeqCst);
    let v = std::hint::black_box(vec![1u8; 64]);
    ARMED.store(false, Ordering::SeqCst);
    drop(v);
    let seen = RUST_ALLOCS.load(Ordering::SeqCst) > 0;
    println!("control allocation counted: {seen}");
    failed |= !seen;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // An allocation inside aws-lc is seen by the malloc hook: generating a key pair
        // allocates C structures, more mallocs than the Rust side accounts for.
        RUST_ALLOCS.store(0, Ordering::SeqCst);
        C_ALLOCS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        let key = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256);
        ARMED.store(false, Ordering::SeqCst);
        drop(std::hint::black_box(key));
        let (r, c) = (
            RUST_ALLOCS.load(Ordering::SeqCst),
            C_ALLOCS.load(Ordering::SeqCst),
        );
        println!("control aws-lc allocation counted: {c} C vs {r} Rust");
        failed |= c <= r;
    }
    if failed {
        std::process::exit(1);
    }
}
