//! # tessera-simd
//!
//! The pixel and sample kernels under Tessera's MCU: the video compositor scales inputs into
//! canvas regions and the audio mixer sums streams, per frame, on a pinned core.
//!
//! * **Inputs**: borrowed I420 frames and planes ([`I420Ref`], [`PlaneRef`]: 8-bit planes with
//!   any stride, validated once at construction), `i16` or `f32` audio frames.
//! * **Outputs**: written into caller-owned buffers ([`I420Mut`], [`PlaneMut`], `&mut [i16]`);
//!   steady-state calls allocate nothing (scalers and mixers allocate their tables when built).
//! * **Video**: plane and frame scaling with a box (area) or bilinear filter at any ratio
//!   ([`PlaneScaler`], [`FrameScaler`]); OWT-style composition ([`RegionScaler`] with
//!   [`FitMode::Letterbox`] / [`FitMode::Crop`], coordinates rounded down to even, background
//!   colour), rectangle fill, borders, per-pixel alpha blending ([`blend_i420`]).
//! * **Audio**: mixing with per-stream gain and saturation ([`mix_i16`], [`mix_f32`]),
//!   mix-minus without re-summing ([`MixMinusI16`], [`MixMinusF32`]) and RFC 6464 levels
//!   ([`level_dbov_i16`]).
//! * **Dispatch**: one [`Kernels`] table per instruction set (scalar, SSE4.1, AVX2, AVX-512),
//!   chosen once at first use ([`Kernels::get`]) and logged under `tessera::simd`;
//!   `TESSERA_SIMD=scalar|sse41|avx2|avx512` forces one. The scalar kernels are the
//!   specification: every other table produces exactly the same output (`docs/SIMD.md`).
//! * No I/O, no clocks, no threads. `unsafe` is confined to the per-ISA modules.
//!
//! ```
//! use tessera_simd::{FitMode, Gain, I420Frame, Rect, RegionScaler, Yuv, level_dbov_i16, mix_i16};
//!
//! // Put a 720p input into the top-left cell of a 3x3 grid on a 720p canvas.
//! let input = I420Frame::new(1280, 720, Yuv::new(180, 100, 150))?;
//! let mut canvas = I420Frame::new(1280, 720, Yuv::BLACK)?;
//! let mut cell = RegionScaler::new();
//! let placed = cell.scale_into_region(
//!     &input.view(),
//!     &mut canvas.view_mut(),
//!     Rect::new(0, 0, 1280 / 3, 720 / 3),
//!     FitMode::Letterbox,
//!     Yuv::BLACK,
//! )?;
//! assert_eq!(placed.region, Rect::new(0, 0, 426, 240));
//! assert_eq!(placed.content, Rect::new(0, 0, 426, 238));
//! assert_eq!(canvas.view().y.row(100)[100], 180);
//!
//! // Mix two 10 ms frames and measure the result.
//! let (a, b) = ([1000i16; 480], [-200i16; 480]);
//! let mut out = [0i16; 480];
//! mix_i16(&[&a, &b], &[Gain::UNITY, Gain::UNITY], &mut out)?;
//! assert_eq!(out[0], 800);
//! assert_eq!(level_dbov_i16(&out), 32);
//! # Ok::<(), tessera_simd::Error>(())
//! ```

mod arch;
mod audio;
mod compose;
mod error;
mod isa;
mod kernels;
mod plane;
mod scale;

pub use audio::{
    Gain, MAX_INPUTS, MixMinusF32, MixMinusI16, level_dbov_f32, level_dbov_i16, mix_f32, mix_i16,
};
pub use compose::{
    FitMode, Placement, RegionScaler, blend_i420, chroma_alpha, draw_border, fill_rect,
    fill_uncovered, fit, region_on_canvas, scale_into_region,
};
pub use error::Error;
pub use isa::{Isa, UnknownIsa};
pub use kernels::{ENV_VAR, Kernels};
pub use plane::{
    I420Frame, I420Mut, I420Ref, MAX_DIMENSION, PlaneMut, PlaneRef, Rect, Yuv, chroma_len,
};
pub use scale::{Filter, FrameScaler, MAX_DOWNSCALE, PlaneScaler};
