//! # tessera-dtls
//!
//! DTLS for Tessera's WebRTC sessions: str0m's DTLS provider traits implemented on OpenSSL, so
//! that peers with RSA certificates (GStreamer webrtcbin, libnice-based clients) can connect,
//! combined with str0m-aws-lc-rs for SRTP, STUN's HMAC and hashing. The project's only
//! `openssl` user. See `docs/DTLS.md` for why and for measurements.
//!
//! * **Inputs**: datagrams str0m classifies as DTLS (`handle_packet`), the time
//!   (`handle_timeout(now)`), SCTP payloads to protect (`send_application_data`).
//! * **Outputs** (`poll_output`): datagrams to send, the peer's certificate (str0m pins it to
//!   the SDP fingerprint), `Connected`, the DTLS-SRTP keying material and profile, decrypted
//!   SCTP payloads, the peer's close_notify, and last the next `Timeout`.
//! * **Timers**: OpenSSL's retransmission timer, reported as `Timeout(now + time left)`;
//!   `handle_timeout` runs `DTLSv1_handle_timeout`. OpenSSL measures it by the wall clock.
//! * **Key tap**: [`build_with_tap`] / [`with_key_tap`] hand the session an [`ExportedSrtpKeys`]
//!   (profile, keying material, role) for an SRTP fast path outside str0m.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use str0m::RtcConfig;
//!
//! let config = RtcConfig::new()
//!     .set_crypto_provider(Arc::new(tessera_dtls::crypto_provider()))
//!     .set_dtls_cert(tessera_dtls::shared_dtls_cert());
//! let (rtc, tap) = tessera_dtls::build_with_tap(config, Instant::now());
//! assert!(tap.is_attached());
//! assert!(tap.get().is_none()); // filled once the handshake completes
//! # drop(rtc);
//! ```

mod cert;
mod error;
mod instance;
mod provider;
pub mod record;
mod stats;
mod tap;
mod timer;

pub use cert::{SESSION_CERT_VALIDITY, SHARED_CERT_VALIDITY, generate_dtls_cert, shared_dtls_cert};
pub use error::Error;
pub use instance::{OpensslDtlsInstance, SRTP_EXPORTER_LABEL};
pub use provider::MIN_INITIAL_RETRANSMIT;
pub use provider::{CIPHER_LIST, DEFAULT_INITIAL_RETRANSMIT, DTLS_PROVIDER, GROUPS};
pub use provider::{OpensslDtlsProvider, crypto_provider};
pub use stats::{DtlsCounters, counters};
pub use tap::{ExportedSrtpKeys, KeyTap, SrtpProtectionProfile, build_with_tap, with_key_tap};
