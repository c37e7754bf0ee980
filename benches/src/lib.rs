//! # tessera-benches
//!
//! Benchmarks that compare Tessera side by side with a reference in one run and print ratios.
//! Each bench is a `harness = false` target under `benches/`; `docs/BENCHMARKS.md` records the
//! results and the command lines.
//!
//! * `tokens`: signed token creation per second through the REST API, on the embedded store
//!   and on MongoDB, next to the raw cost of signing a token.
//! * `forward` (`benches/forward/`): WebRTC forwarding through the release `tessera` binary,
//!   Janus 1.1.2 and a raw UDP fan-out loop, with a str0m-based load generator, in a private
//!   network namespace (root): packets per server CPU-second, cost next to an AES-GCM seal,
//!   latency, allocations per packet.
//! * `simd`: `tessera-simd`'s scaling, composition, blending and mixing against libyuv (what
//!   OWT's MCU uses) and `memcpy` bandwidth. libyuv (Debian `libyuv-dev`) is linked into this
//!   crate only, by `build.rs`; [`libyuv`] holds the hand-written bindings and [`media`] the test
//!   pictures, PSNR and timer the bench and `tests/quality_vs_libyuv.rs` share.

pub mod libyuv;
pub mod media;
