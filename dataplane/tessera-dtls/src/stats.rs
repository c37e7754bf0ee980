//! Process-wide DTLS counters, for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) static HANDSHAKES_COMPLETED: AtomicU64 = AtomicU64::new(0);
pub(crate) static HANDSHAKES_FAILED: AtomicU64 = AtomicU64::new(0);
pub(crate) static MALFORMED_DATAGRAMS: AtomicU64 = AtomicU64::new(0);
pub(crate) static RETRANSMISSIONS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the counters of every instance in the process since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DtlsCounters {
    /// Handshakes that produced keys.
    pub handshakes_completed: u64,
    /// Handshakes OpenSSL failed, or that ended without a peer certificate or SRTP profile.
    pub handshakes_failed: u64,
    /// Datagrams dropped because they were not framed as DTLS 1.2 records.
    pub malformed_datagrams: u64,
    /// Flights retransmitted from `handle_timeout`.
    pub retransmissions: u64,
}

/// Reads the counters.
pub fn counters() -> DtlsCounters {
    DtlsCounters {
        handshakes_completed: HANDSHAKES_COMPLETED.load(Ordering::Relaxed),
        handshakes_failed: HANDSHAKES_FAILED.load(Ordering::Relaxed),
        malformed_datagrams: MALFORMED_DATAGRAMS.load(Ordering::Relaxed),
        retransmissions: RETRANSMISSIONS.load(Ordering::Relaxed),
    }
}
