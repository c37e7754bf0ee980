//! The process's heap allocator. With the `mimalloc` feature (on by default) it is mimalloc:
//! the join benchmark (50 participants joining at once) spent about a fifth of the server's
//! CPU in glibc's malloc and free, whose arenas and consolidation cost more than mimalloc's
//! per-thread free lists (docs/BENCHMARKS.md, "Join latency"). Without the feature it is the
//! system allocator. With `count-allocs`, `alloc_count` wraps whichever this is.

/// The allocator every heap allocation goes to.
#[cfg(feature = "mimalloc")]
pub type Backend = mimalloc::MiMalloc;
/// The allocator every heap allocation goes to.
#[cfg(not(feature = "mimalloc"))]
pub type Backend = std::alloc::System;

/// The backing allocator as a value.
#[cfg(feature = "mimalloc")]
pub const BACKEND: Backend = mimalloc::MiMalloc;
/// The backing allocator as a value.
#[cfg(not(feature = "mimalloc"))]
pub const BACKEND: Backend = std::alloc::System;

/// Which allocator this build uses (shown at start-up).
pub const NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "system"
};

#[cfg(all(feature = "mimalloc", not(feature = "count-allocs")))]
#[global_allocator]
static GLOBAL: Backend = BACKEND;
