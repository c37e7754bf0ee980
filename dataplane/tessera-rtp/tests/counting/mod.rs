//! A counting `#[global_allocator]` plus `malloc`/`calloc`/`realloc` hooks (forwarding to
//! glibc's `__libc_*`), for harness-less tests that check work allocates nothing. The Rust
//! counter sees every Rust allocation; the C counter sees what aws-lc allocates, which
//! bypasses the Rust allocator. Shared by `tessera-rtp`'s and `tessera-webrtc`'s `no_alloc`
//! tests (the latter includes this file by path).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static ARMED: AtomicBool = AtomicBool::new(false);
static RUST_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static C_ALLOCS: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` with the counters armed; returns its result and the (Rust, C) allocations it made.
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    RUST_ALLOCS.store(0, Ordering::SeqCst);
    C_ALLOCS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let r = f();
    ARMED.store(false, Ordering::SeqCst);
    (
        r,
        RUST_ALLOCS.load(Ordering::SeqCst),
        C_ALLOCS.load(Ordering::SeqCst),
    )
}

/// Whether the counters see allocations at all: a Rust one, and (glibc targets) one made
/// inside aws-lc, which must show more C than Rust allocations. Prints what it saw.
pub fn counters_work() -> bool {
    let (v, r, _) = counted(|| std::hint::black_box(vec![1u8; 64]));
    drop(v);
    println!("control allocation counted: {}", r > 0);
    let mut ok = r > 0;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let (key, r, c) = counted(|| {
            aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256)
        });
        drop(std::hint::black_box(key));
        println!("control aws-lc allocation counted: {c} C vs {r} Rust");
        ok &= c > r;
    }
    ok
}

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
