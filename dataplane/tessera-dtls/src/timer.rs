//! OpenSSL's DTLS retransmission timer, which the `openssl` crate does not wrap.
//!
//! Three entry points of libssl (all present since OpenSSL 1.1.1):
//! * `DTLSv1_get_timeout` = `SSL_ctrl(ssl, DTLS_CTRL_GET_TIMEOUT, 0, &timeval)`: 1 and the time
//!   left while a flight awaits its answer, 0 when no timer runs. OpenSSL reports less than
//!   15 ms as 0 ("expired").
//! * `DTLSv1_handle_timeout` = `SSL_ctrl(ssl, DTLS_CTRL_HANDLE_TIMEOUT, 0, NULL)`: if the timer
//!   has expired, back off, retransmit the flight and return 1; 0 if not expired; -1 once the
//!   retransmission limit (12) is exceeded.
//! * `DTLS_set_timer_cb(ssl, cb)`: `cb(ssl, previous_us)` returns the next timeout; `previous_us`
//!   is 0 for the first transmission of a flight.
//!
//! OpenSSL measures the timer against the wall clock (`gettimeofday`), not against the `now`
//! str0m passes in; see `docs/DTLS.md` for what that means for tests.

use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslRef, SslStream};
use openssl_sys::SSL;

const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;

/// Longest retransmission timeout, as RFC 6347 §4.2.4.1 and OpenSSL's own timer use.
pub const MAX_RETRANSMIT_US: u32 = 60_000_000;

type DtlsTimerCb = unsafe extern "C" fn(*mut SSL, c_uint) -> c_uint;

unsafe extern "C" {
    fn DTLS_set_timer_cb(s: *mut SSL, cb: Option<DtlsTimerCb>);
}

/// The ex-data slot holding an `Ssl`'s initial retransmission timeout in microseconds.
fn initial_timeout_index() -> Option<Index<Ssl, u32>> {
    static INDEX: OnceLock<Option<Index<Ssl, u32>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().ok())
}

/// Installs our timer policy on `ssl`: `initial_us` for a flight's first transmission, doubled
/// per retransmission up to [`MAX_RETRANSMIT_US`].
pub fn install(ssl: &mut SslRef, initial_us: u32) -> Result<(), openssl::error::ErrorStack> {
    let index = match initial_timeout_index() {
        Some(i) => i,
        None => return Err(openssl::error::ErrorStack::get()),
    };
    ssl.set_ex_data(index, initial_us);
    // SAFETY: `ssl` is a live SSL object; `timer_cb` matches libssl's `DTLS_timer_cb` type and
    // only reads ex-data of the SSL it is called for.
    unsafe { DTLS_set_timer_cb(ssl.as_ptr(), Some(timer_cb)) };
    Ok(())
}

/// # Safety
/// Called by libssl with the `SSL` whose timer is being (re)started, valid for the call.
unsafe extern "C" fn timer_cb(ssl: *mut SSL, previous_us: c_uint) -> c_uint {
    if previous_us != 0 {
        return previous_us.saturating_mul(2).min(MAX_RETRANSMIT_US);
    }
    // SAFETY: see the function's contract; the reference does not outlive the call.
    let ssl = unsafe { SslRef::from_ptr(ssl) };
    initial_timeout_index()
        .and_then(|i| ssl.ex_data(i).copied())
        .unwrap_or(1_000_000)
}

/// Time left on the running retransmission timer, or `None` when no flight awaits an answer.
pub fn remaining(ssl: &SslRef) -> Option<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: DTLS_CTRL_GET_TIMEOUT writes one `struct timeval` through `parg`, which points
    // to a live local; it does not keep the pointer.
    let running = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            DTLS_CTRL_GET_TIMEOUT,
            0,
            (&mut tv as *mut libc::timeval).cast::<c_void>(),
        )
    };
    (running == 1).then(|| {
        Duration::from_secs(tv.tv_sec.max(0) as u64)
            + Duration::from_micros(tv.tv_usec.max(0) as u64)
    })
}

/// What `DTLSv1_handle_timeout` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The timer had not expired (by the wall clock), or none was running.
    NotExpired,
    /// The flight was retransmitted.
    Retransmitted,
    /// The retransmission limit was exceeded; the handshake has failed.
    GaveUp,
}

/// Runs `DTLSv1_handle_timeout` on the stream's `SSL`. Takes the stream mutably because a
/// retransmission writes through its BIO.
pub fn handle<S: std::io::Read + std::io::Write>(stream: &mut SslStream<S>) -> Handled {
    // SAFETY: DTLS_CTRL_HANDLE_TIMEOUT takes no pointer argument; the SSL is live and, through
    // `&mut stream`, used by nobody else while OpenSSL writes to its BIO during the call.
    let r = unsafe {
        openssl_sys::SSL_ctrl(
            stream.ssl().as_ptr(),
            DTLS_CTRL_HANDLE_TIMEOUT,
            0,
            std::ptr::null_mut(),
        )
    };
    match r {
        1.. => Handled::Retransmitted,
        0 => Handled::NotExpired,
        _ => {
            // Drain this thread's OpenSSL error queue so it does not leak into later calls.
            let _ = openssl::error::ErrorStack::get();
            Handled::GaveUp
        }
    }
}
