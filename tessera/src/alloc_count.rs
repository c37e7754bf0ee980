//! Opt-in allocation counting (cargo feature `count-allocs`): a `#[global_allocator]` that
//! wraps the process's allocator (mimalloc, or the system's without the `mimalloc` feature)
//! and counts every allocation (and reallocation), exported as
//! `tessera_allocations_total` in `/metrics`. The forwarding benchmark builds the binary with
//! it to check that steady-state forwarding allocates nothing. Off by default: the counter is
//! one relaxed atomic add per allocation, which production does not need.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::allocator::BACKEND;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The process's allocator, counting.
#[derive(Debug)]
pub struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the backing allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { BACKEND.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { BACKEND.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { BACKEND.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { BACKEND.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations (including reallocations) since the process started.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Registers `tessera_allocations` (a counter read at scrape time).
pub fn register(registry: &mut prometheus_client::registry::Registry) {
    registry.register(
        "tessera_allocations",
        "Heap allocations and reallocations by the whole process (feature count-allocs)",
        AllocCounter,
    );
}

#[derive(Debug)]
struct AllocCounter;

impl prometheus_client::encoding::EncodeMetric for AllocCounter {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        encoder
            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&allocations(), None)
    }
    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Counter
    }
}
