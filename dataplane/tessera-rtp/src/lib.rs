//! # tessera-rtp
//!
//! Tessera's RTP vocabulary: the packet-level pieces every media path of the SFU/MCU uses.
//! A pure engine with no I/O, clocks, threads or hidden randomness.
//!
//! **Inputs**: byte slices the caller received (RTP, RTCP, SRTP, SRTCP, codec payloads), DTLS
//! exporter keying material, and the values to write. **Outputs**: borrowed, typed views
//! over those bytes; packets written or transformed *in place* in caller-owned buffers; errors
//! from one classified enum ([`RtpError`]) whose variants name what the peer got wrong.
//! **Timers**: none — where time matters (transport-cc arrival times, abs-send-time) the
//! caller passes it in.
//!
//! Steady-state packet work allocates nothing: parsing borrows, writers take `&mut [u8]`, and
//! SRTP keeps per-SSRC state in a table that grows only when a new SSRC appears (a test with
//! a counting allocator checks this).
//!
//! | module | what |
//! |---|---|
//! | [`rtp`] | RTP header view (RFC 3550 §5.1), RFC 8285 extensions, header writer, in-place setters |
//! | [`ext`] | WebRTC header-extension URIs, an id map, value codecs |
//! | [`rtcp`] | compound RTCP iterator, SR/RR/SDES/BYE/APP/NACK/transport-cc/PLI/FIR/REMB views and writers |
//! | [`srtp`] | SRTP/SRTCP (RFC 3711, RFC 7714), DTLS-SRTP key split (RFC 5764) |
//! | [`codec`] | VP8/VP9/H.264/AV1 key-frame detection, VP8/VP9 picture-id rewriting |
//!

mod error;
pub mod ext;
pub mod rtcp;
pub mod rtp;
pub mod srtp;

pub use error::RtpError;
