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
//! ## Example: receive, rewrite and forward one packet
//!
//! ```
//! use tessera_rtp::rtp::{self, RtpHeader, RtpWriter};
//! use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};
//! use tessera_rtp::codec::{Codec, is_keyframe};
//!
//! // Keys from the DTLS exporter (RFC 5764 §4.2) of the publisher's and a subscriber's
//! // transports; here made up.
//! let profile = SrtpProfile::AeadAes128Gcm;
//! let (pub_client, _) = split_keying_material(profile, &[1u8; 56])?;
//! let (_, sub_server) = split_keying_material(profile, &[2u8; 56])?;
//! let mut publisher_tx = SrtpContext::new(&pub_client)?; // the browser's side, for the demo
//! let mut from_publisher = SrtpContext::new(&pub_client)?;
//! let mut to_subscriber = SrtpContext::new(&sub_server)?;
//!
//! // A VP8 key-frame packet as the publisher sends it.
//! let mut buf = [0u8; 1500];
//! let vp8 = [0x10, 0x50, 0x01, 0x00];
//! let writer = RtpWriter { payload_type: 96, sequence_number: 7, ssrc: 0xAAAA, ..RtpWriter::default() };
//! let n = writer.write_packet(&vp8, &mut buf)?;
//! let n = publisher_tx.protect_rtp(&mut buf, n)?;
//!
//! // The SFU: decrypt, inspect, rewrite for the subscriber, encrypt again — all in `buf`.
//! let n = from_publisher.unprotect_rtp(&mut buf[..n])?;
//! let header = RtpHeader::parse(&buf[..n])?;
//! assert!(is_keyframe(Codec::Vp8, header.payload()));
//! rtp::set_ssrc(&mut buf[..n], 0xBBBB)?;
//! rtp::set_sequence_number(&mut buf[..n], 1000)?;
//! let n = to_subscriber.protect_rtp(&mut buf, n)?;
//! assert_eq!(n, 12 + vp8.len() + profile.rtp_overhead());
//! # Ok::<(), tessera_rtp::RtpError>(())
//! ```

pub mod codec;
mod error;
pub mod ext;
pub mod rtcp;
pub mod rtp;
pub mod srtp;

pub use error::RtpError;
