//! # tessera-sfu
//!
//! The forwarding engine of one shard, sans-IO. Inputs: decrypted RTP packets from publishers
//! (already demultiplexed to a source and simulcast layer), RTCP feedback from subscribers
//! (NACK, PLI/FIR, REMB), publishers' sender reports, and `now`. Outputs, through [`Out`]:
//! rewritten RTP packets for subscribers, NACKs / keyframe requests / receiver reports for
//! publishers, sender reports for subscribers. Timers: [`Router::poll_timeout`].
//!
//! * Each subscriber stream has its own SSRC, sequence and timestamp space ([`Rewriter`]);
//!   switching between simulcast layers happens only at a key frame of the new layer, and VP8/VP9
//!   picture ids stay continuous.
//! * NACKs are served from a per-source retransmission buffer ([`RtxBuffer`]) allocated once.
//! * Keyframe requests from many subscribers are coalesced and rate-limited upstream.
//! * Steady-state forwarding allocates nothing.
//!
//! ```
//! use std::time::Instant;
//! use tessera_sfu::{Router, SourceSpec, Kind, Codec};
//! let mut router = Router::new(Instant::now());
//! let src = router.add_source(SourceSpec {
//!     kind: Kind::Audio, codec: Codec::Opus, clock_rate: 48000, layers: 1, publisher: 0,
//!     nack: false, pli: false, fir: false, audio_level_id: Some(1), video_orientation_id: None,
//!     relayed: false,
//! });
//! assert!(router.has_source(src));
//! ```

pub mod codec;
pub mod recv;
pub mod rewrite;
mod router;
pub mod rtx;
pub mod seq;

pub use codec::Codec;
pub use recv::ReportBlock;
pub use rewrite::Rewriter;
pub use router::*;
pub use rtx::RtxBuffer;
