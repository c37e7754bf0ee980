//! # tessera-webrtc
//!
//! One WebRTC peer connection, sans-IO, as an SFU needs it:
//!
//! * [`demux`]: first-byte classification of datagrams on a shared port and the STUN USERNAME
//!   lookup that routes a new peer to its transport.
//! * [`negotiate`]: per-m-line answer decisions (publisher codec choice, subscriber payload
//!   types, kept RTCP feedback and header extensions).
//! * [`stun`]: the STUN a connected transport answers and sends itself (ICE consent), with no
//!   allocation and without str0m.
//! * [`transport::Transport`]: str0m for ICE until connected (full agent, controlled) and
//!   DTLS (OpenSSL via `tessera-dtls`) through its direct API, [`stun`] for ICE consent after,
//!   our own SDP answers, and SRTP contexts keyed from the DTLS-SRTP export for every RTP/RTCP
//!   packet — str0m never sees media.
//!
//! Inputs: datagrams (`handle_stun_dtls`, `unprotect`), offers, `now`. Outputs: datagrams into a
//! [`transport::DatagramSink`], [`transport::TransportEvent`]s, the next deadline.

pub mod demux;
pub mod negotiate;
pub mod stun;
pub mod transport;

pub use transport::{DatagramSink, Drop, Handled, Transport, TransportEvent, TransportState};
