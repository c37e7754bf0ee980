//! Plane and frame scaling. Together with `arch/scalar.rs` this file is the definition of both
//! filters; `docs/SIMD.md` restates it in prose.
//!
//! # The filters
//!
//! Scaling is separable: a vertical pass turns the source rows an output row needs into one
//! row `mid` of `i16` with 7 fractional bits, then a horizontal pass turns `mid` into the output
//! row. Each pass applies, per output index, a short list of integer weights on consecutive
//! source indices; the weights of one output sum to exactly `2^15` (vertical) or `2^14`
//! (horizontal).
//!
//! * [`Filter::Box`] (area average): output `o` of an axis scaled from `S` to `D` samples covers
//!   the source interval `[o·S/D, (o+1)·S/D)`; source sample `s` covers `[s, s+1)`. The exact
//!   weight of `s` is its overlap with that interval divided by `S/D`. Working in units of
//!   `1/D`, overlaps `ov_s` are integers summing to `S`; with `C_k` the running sum of the first
//!   `k` overlaps, the integer weights are `w_k = R(C_k) − R(C_{k−1})`,
//!   `R(C) = floor((2·C·ONE + S) / (2·S))` (round half up), so they sum to `ONE` exactly and
//!   each is within one unit of `ONE·ov/S`.
//! * [`Filter::Bilinear`]: centre-aligned sampling, `p = (o + ½)·S/D − ½`, clamped to
//!   `[0, S−1]`; taps `floor(p)` and `floor(p)+1` with weights `ONE − w` and
//!   `w = round_half_up(frac(p)·ONE)`.
//!
//! Both passes round as `arch/scalar.rs` states. The result is within 1 LSB of the same filter
//! evaluated in floating point (`tests/quality.rs`), and is the same on every instruction set.

use crate::plane::{I420Mut, I420Ref, PlaneMut, PlaneRef, chroma_len};
use crate::{Error, Kernels, MAX_DIMENSION};

/// Largest downscale ratio per axis the box filter accepts (`src <= 128 * dst`). It bounds the
/// taps per output, which keeps the fixed-point sums inside `i16`/`i32`.
pub const MAX_DOWNSCALE: usize = 128;

/// Fractional bits of the vertical pass output.
pub(crate) const MID_SHIFT: u32 = 7;
/// Vertical weights sum to `1 << V_WEIGHT_BITS`; a term is `(src * w) >> V_TERM_SHIFT`.
pub(crate) const V_WEIGHT_BITS: u32 = 15;
pub(crate) const V_ONE: u32 = 1 << V_WEIGHT_BITS;
pub(crate) const V_TERM_SHIFT: u32 = V_WEIGHT_BITS - MID_SHIFT;
/// Horizontal weights sum to `1 << H_WEIGHT_BITS`.
pub(crate) const H_WEIGHT_BITS: u32 = 14;
pub(crate) const H_ONE: u32 = 1 << H_WEIGHT_BITS;
/// Shift that turns a horizontal sum into a pixel.
pub(crate) const H_SHIFT: u32 = MID_SHIFT + H_WEIGHT_BITS;
pub(crate) const H_ROUND: i32 = 1 << (H_SHIFT - 1);

/// The horizontal rounding constant for an output row built from `vtaps` vertical taps: round
/// to nearest, plus half a `mid` unit per vertical term to cancel the truncation bias.
pub(crate) fn h_round(vtaps: usize) -> i32 {
    H_ROUND + vtaps as i32 * (1 << (H_WEIGHT_BITS - 1))
}

/// Outputs per row are padded to a multiple of this in a [`HPlan`], so every kernel can
/// process whole blocks.
const OUT_PAD: usize = 64;

/// The resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Area average; the filter for downscaling (what OWT's libyuv `kFilterBox` is for). It also
    /// upscales, as area-weighted nearest neighbour.
    Box,
    /// Centre-aligned bilinear interpolation, for upscaling and mild downscaling.
    Bilinear,
}

/// The taps of one output sample along one axis: first source index and weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Taps {
    pub start: usize,
    pub weights: Vec<u32>,
}

/// Box weights for `src -> dst`, summing to `one` per output.
pub(crate) fn box_taps(src: usize, dst: usize, one: u32) -> Vec<Taps> {
    let (s, d, one) = (src as u64, dst as u64, u64::from(one));
    (0..d)
        .map(|o| {
            let (lo, hi) = (o * s, (o + 1) * s);
            let first = lo / d;
            let last = hi.div_ceil(d) - 1;
            let mut cum = 0u64;
            let mut prev = 0u64;
            let mut weights = Vec::with_capacity((last - first + 1) as usize);
            for px in first..=last {
                let ov = ((px + 1) * d).min(hi) - (px * d).max(lo);
                cum += ov;
                let r = (2 * cum * one + s) / (2 * s);
                weights.push((r - prev) as u32);
                prev = r;
            }
            trim(Taps {
                start: first as usize,
                weights,
            })
        })
        .collect()
}

/// Bilinear weights for `src -> dst`, summing to `one` per output.
pub(crate) fn bilinear_taps(src: usize, dst: usize, one: u32) -> Vec<Taps> {
    let (s, d, one) = (src as i64, dst as i64, i64::from(one));
    (0..d)
        .map(|o| {
            // Position in units of 1/(2·dst): (2o+1)·src − dst.
            let num = (2 * o + 1) * s - d;
            let taps = if num <= 0 {
                Taps {
                    start: 0,
                    weights: vec![one as u32],
                }
            } else {
                let (s0, rem) = (num / (2 * d), num % (2 * d));
                if s0 >= s - 1 {
                    Taps {
                        start: (s - 1) as usize,
                        weights: vec![one as u32],
                    }
                } else {
                    let w1 = (rem * one + d) / (2 * d);
                    Taps {
                        start: s0 as usize,
                        weights: vec![(one - w1) as u32, w1 as u32],
                    }
                }
            };
            trim(taps)
        })
        .collect()
}

/// Drop zero weights at both ends (they contribute nothing; fewer taps is faster).
fn trim(mut t: Taps) -> Taps {
    let lead = t.weights.iter().take_while(|&&w| w == 0).count();
    t.weights.drain(..lead);
    t.start += lead;
    while t.weights.last() == Some(&0) {
        t.weights.pop();
    }
    t
}

fn taps_for(filter: Filter, src: usize, dst: usize, one: u32) -> Vec<Taps> {
    match filter {
        Filter::Box => box_taps(src, dst, one),
        Filter::Bilinear => bilinear_taps(src, dst, one),
    }
}

/// Outputs per block of the permute kernels.
pub(crate) const PERM_BLOCK: usize = 16;
/// Source samples a permute block may span (two 512-bit registers of `i16`).
pub(crate) const PERM_WINDOW: usize = 64;

/// The horizontal pass of one scaler: for every output, the first source index and the
/// weights, laid out for the kernels.
///
/// * `taps`: taps per output (the most any output needs; shorter ones are padded with zero
///   weights), `pairs = ceil(taps / 2)`, `quads = ceil(taps / 4)`.
/// * `w2[(j * padded + o) * 2 + i]` is the weight of `mid[start[o] + 2j + i]`; `w4` is the same
///   grouped by four: `w4[(q * padded + o) * 4 + i]` weighs `mid[start[o] + 4q + i]`.
/// * Outputs `dst_width .. padded` repeat the last start with zero weights.
/// * `perm`, when every block of [`PERM_BLOCK`] outputs spans at most [`PERM_WINDOW`] source
///   samples: per block, the window start and, per pair `j`, the 32 window positions
///   `(start[o] - base + 2j, start[o] - base + 2j + 1)` of its 16 outputs.
///
/// Every index any kernel reads (`start + 4·quads`, `base + PERM_WINDOW`) is below `mid_len`.
#[derive(Debug, Clone)]
pub(crate) struct HPlan {
    dst_width: usize,
    padded: usize,
    taps: usize,
    starts: Vec<i32>,
    w2: Vec<i16>,
    w4: Vec<i16>,
    perm: Option<PermTable>,
    mid_len: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct PermTable {
    pub base: Vec<u32>,
    pub idx: Vec<u16>,
}

impl HPlan {
    pub(crate) fn new(taps: &[Taps], src_width: usize) -> HPlan {
        let dst_width = taps.len();
        let ntaps = taps.iter().map(|t| t.weights.len()).max().unwrap_or(1);
        let (pairs, quads) = (ntaps.div_ceil(2), ntaps.div_ceil(4));
        let padded = dst_width.div_ceil(OUT_PAD) * OUT_PAD;
        let last = taps.last().map_or(0, |t| t.start as i32);
        let mut starts = vec![last; padded];
        let mut w2 = vec![0i16; pairs * padded * 2];
        let mut w4 = vec![0i16; quads * padded * 4];
        for (o, t) in taps.iter().enumerate() {
            starts[o] = t.start as i32;
            for (k, &w) in t.weights.iter().enumerate() {
                w2[((k / 2) * padded + o) * 2 + k % 2] = w as i16;
                w4[((k / 4) * padded + o) * 4 + k % 4] = w as i16;
            }
        }
        let perm = PermTable::new(&starts, pairs);
        HPlan {
            dst_width,
            padded,
            taps: ntaps,
            starts,
            w2,
            w4,
            perm,
            mid_len: src_width + 4 * quads + PERM_WINDOW + 64,
        }
    }

    pub(crate) fn dst_width(&self) -> usize {
        self.dst_width
    }
    pub(crate) fn padded(&self) -> usize {
        self.padded
    }
    /// Taps per output (including zero weights).
    pub(crate) fn taps(&self) -> usize {
        self.taps
    }
    pub(crate) fn pairs(&self) -> usize {
        self.taps.div_ceil(2)
    }
    pub(crate) fn quads(&self) -> usize {
        self.taps.div_ceil(4)
    }
    pub(crate) fn mid_len(&self) -> usize {
        self.mid_len
    }
    pub(crate) fn starts(&self) -> &[i32] {
        &self.starts
    }
    pub(crate) fn w2(&self) -> &[i16] {
        &self.w2
    }
    pub(crate) fn w4(&self) -> &[i16] {
        &self.w4
    }
    pub(crate) fn perm(&self) -> Option<&PermTable> {
        self.perm.as_ref()
    }
    pub(crate) fn start(&self, o: usize) -> usize {
        self.starts[o] as usize
    }
    pub(crate) fn weight(&self, o: usize, t: usize) -> i16 {
        self.w2[((t / 2) * self.padded + o) * 2 + t % 2]
    }
}

impl PermTable {
    fn new(starts: &[i32], pairs: usize) -> Option<PermTable> {
        let blocks = starts.len() / PERM_BLOCK;
        let mut base = Vec::with_capacity(blocks);
        let mut idx = Vec::with_capacity(blocks * pairs * 2 * PERM_BLOCK);
        for b in starts.chunks(PERM_BLOCK) {
            let b0 = b[0];
            let span = (b[PERM_BLOCK - 1] - b0) as usize + 2 * pairs;
            if span > PERM_WINDOW {
                return None;
            }
            base.push(b0 as u32);
            for j in 0..pairs {
                for &s in b {
                    let p = (s - b0) as usize + 2 * j;
                    idx.push(p as u16);
                    idx.push(p as u16 + 1);
                }
            }
        }
        Some(PermTable { base, idx })
    }
}

/// How a [`PlaneScaler`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Same size: copy rows.
    Copy,
    /// Box at exactly ½ on both axes: one fused kernel.
    Down2,
    /// Vertical pass then horizontal pass.
    Separable,
}

fn check_dims(what: &'static str, width: usize, height: usize) -> Result<(), Error> {
    if width == 0 || height == 0 {
        return Err(Error::EmptyPlane {
            what,
            width,
            height,
        });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::TooLarge {
            what,
            width,
            height,
            max: MAX_DIMENSION,
        });
    }
    Ok(())
}

fn check_ratio(filter: Filter, src: usize, dst: usize) -> Result<(), Error> {
    if filter == Filter::Box && src > dst * MAX_DOWNSCALE {
        return Err(Error::RatioTooLarge {
            src,
            dst,
            max: MAX_DOWNSCALE,
        });
    }
    Ok(())
}

/// Scales one plane of a fixed geometry. Build it once per geometry (the weight tables and the
/// row buffer are allocated here), then call [`PlaneScaler::scale`] per frame: it allocates
/// nothing.
#[derive(Debug)]
pub struct PlaneScaler {
    kernels: &'static Kernels,
    src: (usize, usize),
    dst: (usize, usize),
    filter: Filter,
    path: Path,
    vtaps: Vec<(usize, Vec<u16>)>,
    max_vtaps: usize,
    hplan: HPlan,
    mid: Vec<i16>,
}

impl PlaneScaler {
    /// A scaler from `src_width x src_height` to `dst_width x dst_height`, using the kernels
    /// chosen at start-up.
    pub fn new(
        src_width: usize,
        src_height: usize,
        dst_width: usize,
        dst_height: usize,
        filter: Filter,
    ) -> Result<Self, Error> {
        Self::with_kernels(
            Kernels::get(),
            (src_width, src_height),
            (dst_width, dst_height),
            filter,
        )
    }

    /// The same, with an explicit kernel table (tests and benches compare tables this way).
    pub fn with_kernels(
        kernels: &'static Kernels,
        src: (usize, usize),
        dst: (usize, usize),
        filter: Filter,
    ) -> Result<Self, Error> {
        Self::build(kernels, src, dst, filter, true)
    }

    /// The definition itself: scalar kernels and no fast paths (no fused ½, no row copy).
    /// Every other scaler must produce exactly what this one produces.
    pub fn reference(
        src: (usize, usize),
        dst: (usize, usize),
        filter: Filter,
    ) -> Result<Self, Error> {
        Self::build(Kernels::scalar(), src, dst, filter, false)
    }

    fn build(
        kernels: &'static Kernels,
        src: (usize, usize),
        dst: (usize, usize),
        filter: Filter,
        fast_paths: bool,
    ) -> Result<Self, Error> {
        check_dims("scale source", src.0, src.1)?;
        check_dims("scale destination", dst.0, dst.1)?;
        check_ratio(filter, src.0, dst.0)?;
        check_ratio(filter, src.1, dst.1)?;
        let path = if !fast_paths {
            Path::Separable
        } else if src == dst {
            Path::Copy
        } else if filter == Filter::Box && src.0 == 2 * dst.0 && src.1 == 2 * dst.1 {
            Path::Down2
        } else {
            Path::Separable
        };
        let (vtaps, hplan, mid) = if path == Path::Separable {
            let vtaps: Vec<(usize, Vec<u16>)> = taps_for(filter, src.1, dst.1, V_ONE)
                .into_iter()
                .map(|t| (t.start, t.weights.iter().map(|&w| w as u16).collect()))
                .collect();
            let hplan = HPlan::new(&taps_for(filter, src.0, dst.0, H_ONE), src.0);
            let mid = vec![0i16; hplan.mid_len()];
            (vtaps, hplan, mid)
        } else {
            (Vec::new(), HPlan::new(&[], 0), Vec::new())
        };
        let max_vtaps = vtaps.iter().map(|t| t.1.len()).max().unwrap_or(0);
        Ok(PlaneScaler {
            kernels,
            src,
            dst,
            filter,
            path,
            vtaps,
            max_vtaps,
            hplan,
            mid,
        })
    }

    /// Source size this scaler was built for.
    pub fn src_size(&self) -> (usize, usize) {
        self.src
    }

    /// Destination size this scaler was built for.
    pub fn dst_size(&self) -> (usize, usize) {
        self.dst
    }

    /// The filter.
    pub fn filter(&self) -> Filter {
        self.filter
    }

    /// Scale `src` into `dst`; both must have the sizes the scaler was built for.
    pub fn scale(&mut self, src: &PlaneRef<'_>, dst: &mut PlaneMut<'_>) -> Result<(), Error> {
        let expect = |what, w, h, (ew, eh): (usize, usize)| {
            if (w, h) == (ew, eh) {
                Ok(())
            } else {
                Err(Error::GeometryMismatch {
                    what,
                    width: w,
                    height: h,
                    expected_width: ew,
                    expected_height: eh,
                })
            }
        };
        expect("scale source", src.width(), src.height(), self.src)?;
        expect("scale destination", dst.width(), dst.height(), self.dst)?;
        let k = self.kernels;
        match self.path {
            // No software prefetch on the two light paths: measured on the reference machine,
            // it made a cache-resident ½ downscale 19% slower (the kernel is bound by load
            // slots, and a prefetch per source line adds one), while it would save 45% of a
            // DRAM-cold one. The separable path below is compute-heavier and gains either way.
            Path::Copy => {
                for y in 0..self.dst.1 {
                    dst.row_mut(y).copy_from_slice(src.row(y));
                }
            }
            Path::Down2 => {
                for y in 0..self.dst.1 {
                    (k.down2)(src.row(2 * y), src.row(2 * y + 1), dst.row_mut(y));
                }
            }
            Path::Separable => {
                let (sw, _) = self.src;
                let mut rows: [&[u8]; MAX_DOWNSCALE + 2] = [&[]; MAX_DOWNSCALE + 2];
                debug_assert!(self.max_vtaps <= rows.len());
                for (y, (start, weights)) in self.vtaps.iter().enumerate() {
                    for (i, r) in rows[..weights.len()].iter_mut().enumerate() {
                        *r = src.row(start + i);
                    }
                    // Fetch the source rows that output row y + PREFETCH_ROWS adds: rows are
                    // short, so the hardware prefetcher alone leaves the start of each one to
                    // DRAM latency.
                    if let Some((next, nw)) = self.vtaps.get(y + PREFETCH_ROWS) {
                        let prev = &self.vtaps[y + PREFETCH_ROWS - 1];
                        for r in (*next).max(prev.0 + prev.1.len())..next + nw.len() {
                            prefetch(src.row(r));
                        }
                    }
                    (k.vfilter)(&rows[..weights.len()], weights, &mut self.mid[..sw]);
                    let round = h_round(weights.len());
                    (k.hfilter)(&self.mid, &self.hplan, round, dst.row_mut(y));
                }
            }
        }
        Ok(())
    }
}

/// How many output rows ahead the scaler prefetches source rows. Measured on the reference
/// machine (docs/SIMD.md): 1 row ahead hides half the DRAM latency of a cold compose, 2 nearly
/// all of it, more gains nothing.
const PREFETCH_ROWS: usize = 2;

/// Ask for `row` to be brought into L2 ahead of use. Only a hint: results never depend on it.
/// L2 rather than L1 (T1 rather than T0): measured 35% faster for a DRAM-cold compose, as a
/// burst of L1 prefetches competes with the kernel's own loads for L1 miss buffers.
#[inline]
fn prefetch(row: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(64) {
        // SAFETY: PREFETCHT1 (SSE, part of x86-64) has no architectural effect besides caching;
        // the address is inside a live slice.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Scales I420 frames of a fixed geometry: luma `S -> D`, chroma `ceil(S/2) -> ceil(D/2)`.
#[derive(Debug)]
pub struct FrameScaler {
    luma: PlaneScaler,
    chroma: PlaneScaler,
}

impl FrameScaler {
    /// A scaler for frames of `src` (luma width, height) to `dst`, kernels chosen at start-up.
    pub fn new(src: (usize, usize), dst: (usize, usize), filter: Filter) -> Result<Self, Error> {
        Self::with_kernels(Kernels::get(), src, dst, filter)
    }

    /// The same, with an explicit kernel table.
    pub fn with_kernels(
        kernels: &'static Kernels,
        src: (usize, usize),
        dst: (usize, usize),
        filter: Filter,
    ) -> Result<Self, Error> {
        let half = |(w, h): (usize, usize)| (chroma_len(w), chroma_len(h));
        Ok(FrameScaler {
            luma: PlaneScaler::with_kernels(kernels, src, dst, filter)?,
            chroma: PlaneScaler::with_kernels(kernels, half(src), half(dst), filter)?,
        })
    }

    /// Source luma size.
    pub fn src_size(&self) -> (usize, usize) {
        self.luma.src_size()
    }

    /// Destination luma size.
    pub fn dst_size(&self) -> (usize, usize) {
        self.luma.dst_size()
    }

    /// The filter.
    pub fn filter(&self) -> Filter {
        self.luma.filter()
    }

    /// Scale all three planes.
    pub fn scale(&mut self, src: &I420Ref<'_>, dst: &mut I420Mut<'_>) -> Result<(), Error> {
        self.luma.scale(&src.y, &mut dst.y)?;
        self.chroma.scale(&src.u, &mut dst.u)?;
        self.chroma.scale(&src.v, &mut dst.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(taps: &[Taps]) -> Vec<u32> {
        taps.iter().map(|t| t.weights.iter().sum()).collect()
    }

    #[test]
    fn weights_sum_to_one_for_every_output() {
        for (s, d) in [
            (1, 1),
            (3, 1),
            (1920, 640),
            (1280, 426),
            (7, 5),
            (5, 7),
            (2, 9),
        ] {
            for one in [V_ONE, H_ONE] {
                assert!(sums(&box_taps(s, d, one)).iter().all(|&x| x == one));
                assert!(sums(&bilinear_taps(s, d, one)).iter().all(|&x| x == one));
            }
        }
    }

    #[test]
    fn exact_ratios_have_the_expected_weights() {
        let half = box_taps(4, 2, H_ONE);
        assert_eq!(half[1].start, 2);
        assert_eq!(half[1].weights, vec![8192, 8192]);
        let third = box_taps(6, 2, H_ONE);
        assert_eq!(third[0].weights, vec![5461, 5462, 5461]);
        let two_thirds = box_taps(3, 2, V_ONE);
        assert_eq!(two_thirds[0].weights, vec![21845, 10923]);
        assert_eq!(
            (two_thirds[1].start, &two_thirds[1].weights),
            (1, &vec![10923, 21845])
        );
        // Bilinear at 1:1 is the identity.
        assert!(
            bilinear_taps(5, 5, H_ONE)
                .iter()
                .enumerate()
                .all(|(o, t)| t.start == o && t.weights == vec![H_ONE])
        );
        // Upscaling by 2: samples at -0.25 (clamped), 0.25, 0.75, ...
        let up = bilinear_taps(2, 4, H_ONE);
        assert_eq!(up[0].weights, vec![H_ONE]);
        assert_eq!(up[1].weights, vec![12288, 4096]);
        assert_eq!(
            up[3],
            Taps {
                start: 1,
                weights: vec![H_ONE]
            }
        );
    }

    #[test]
    fn fused_half_equals_the_separable_definition() {
        // For the ½ box the vertical pass gives 64·(a+c) exactly and the horizontal pass
        // (2^19·(a+b+c+d) + 2^20) >> 21, which is (a+b+c+d+2) >> 2 for every sum.
        let plan = HPlan::new(&box_taps(2, 1, H_ONE), 2);
        for ac in 0..=510u32 {
            let vt = box_taps(2, 1, V_ONE);
            let (a, c) = (ac / 2, ac - ac / 2);
            let mut mid = vec![0i16; plan.mid_len()];
            let w: Vec<u16> = vt[0].weights.iter().map(|&w| w as u16).collect();
            crate::arch::scalar::vfilter(&[&[a as u8][..], &[c as u8][..]], &w, &mut mid[..1]);
            assert_eq!(mid[0] as u32, 64 * ac);
            for bd in (0..=510u32).step_by(7) {
                mid[1] = (64 * bd) as i16;
                let mut out = [0u8];
                crate::arch::scalar::hfilter(&mid, &plan, h_round(2), &mut out);
                assert_eq!(u32::from(out[0]), (ac + bd + 2) >> 2);
            }
        }
    }

    #[test]
    fn ratio_limit_is_enforced() {
        assert!(matches!(
            PlaneScaler::reference((129, 1), (1, 1), Filter::Box),
            Err(Error::RatioTooLarge { .. })
        ));
        assert!(PlaneScaler::reference((128, 1), (1, 1), Filter::Box).is_ok());
        assert!(PlaneScaler::reference((4000, 1), (1, 1), Filter::Bilinear).is_ok());
    }
}
