//! AVX2 kernels (256-bit). See `arch/scalar.rs` for what each computes.

use core::arch::x86_64::*;

use crate::arch::scalar;
use crate::scale::{H_SHIFT, HPlan};
use crate::{Isa, Kernels};

pub(crate) static TABLE: Kernels = Kernels {
    isa: Isa::Avx2,
    vfilter,
    hfilter,
    down2,
    blend,
    mix_acc_i16,
    mix_store_i16,
    mix_minus_i16,
    mix_acc_f32,
    mix_store_f32,
    mix_minus_f32,
    sumsq_i16,
    sumsq_f32,
};

// ---------------------------------------------------------------------------------------------
// Safe wrappers.

pub(crate) fn vfilter(rows: &[&[u8]], weights: &[u16], mid: &mut [i16]) {
    assert_eq!(rows.len(), weights.len());
    assert!(rows.iter().all(|r| r.len() >= mid.len()));
    // SAFETY: reachable only through TABLE (CPU has AVX2); every row holds `mid.len()` bytes.
    unsafe { vfilter_impl(rows, weights, mid) }
}

pub(crate) fn hfilter(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    assert!(mid.len() >= plan.mid_len());
    assert_eq!(out.len(), plan.dst_width());
    // SAFETY: CPU has AVX2; the plan's invariant keeps every gathered index below `mid_len`.
    unsafe { hfilter_impl(mid, plan, round, out) }
}

pub(crate) fn down2(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    assert!(s0.len() >= 2 * out.len() && s1.len() >= 2 * out.len());
    // SAFETY: CPU has AVX2; both rows hold `2 * out.len()` bytes.
    unsafe { down2_impl(s0, s1, out) }
}

pub(crate) fn blend(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    assert!(src.len() == dst.len() && alpha.len() == dst.len());
    // SAFETY: CPU has AVX2; all three slices have the same length.
    unsafe { blend_impl(dst, src, alpha) }
}

pub(crate) fn mix_acc_i16(acc: &mut [i32], x: &[i16], g: i16) {
    assert_eq!(acc.len(), x.len());
    // SAFETY: CPU has AVX2; equal lengths.
    unsafe { mix_acc_i16_impl(acc, x, g) }
}

pub(crate) fn mix_store_i16(acc: &[i32], out: &mut [i16]) {
    assert_eq!(acc.len(), out.len());
    // SAFETY: CPU has AVX2; equal lengths.
    unsafe { mix_store_i16_impl(acc, out) }
}

pub(crate) fn mix_minus_i16(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    // SAFETY: CPU has AVX2; equal lengths.
    unsafe { mix_minus_i16_impl(acc, x, g, out) }
}

pub(crate) fn mix_acc_f32(acc: &mut [f32], x: &[f32], g: f32) {
    assert_eq!(acc.len(), x.len());
    // SAFETY: CPU has AVX2; equal lengths.
    unsafe { mix_acc_f32_impl(acc, x, g) }
}

pub(crate) fn mix_store_f32(acc: &[f32], out: &mut [f32]) {
    assert_eq!(acc.len(), out.len());
    // SAFETY: CPU has AVX2; equal lengths.
    unsafe { mix_store_f32_impl(acc, out) }
}

pub(crate) fn mix_minus_f32(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    // SAFETY: CPU has AVX2; equal lengths.
    unsafe { mix_minus_f32_impl(acc, x, g, out) }
}

pub(crate) fn sumsq_i16(x: &[i16]) -> u64 {
    // SAFETY: CPU has AVX2.
    unsafe { sumsq_i16_impl(x) }
}

pub(crate) fn sumsq_f32(x: &[f32]) -> f64 {
    // SAFETY: CPU has AVX2.
    unsafe { sumsq_f32_impl(x) }
}

// ---------------------------------------------------------------------------------------------
// Video.

/// Vertical pass for 16 pixels at `x`: `Σ mulhi_u16(row[x..] << 8, w)`.
///
/// # Safety
/// Every row must hold at least `x + 16` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn vchunk16(rows: &[&[u8]], weights: &[u16], x: usize) -> __m256i {
    let mut acc = _mm256_setzero_si256();
    for (row, &w) in rows.iter().zip(weights) {
        // SAFETY: the caller guarantees 16 readable bytes at `x`.
        let v = unsafe { _mm_loadu_si128(row.as_ptr().add(x).cast()) };
        let v = _mm256_slli_epi16::<8>(_mm256_cvtepu8_epi16(v));
        acc = _mm256_add_epi16(acc, _mm256_mulhi_epu16(v, _mm256_set1_epi16(w as i16)));
    }
    acc
}

/// The same for 32 pixels, returned in order as pixels 0..16 and 16..32.
///
/// # Safety
/// Every row must hold at least `x + 32` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn vchunk32(rows: &[&[u8]], weights: &[u16], x: usize) -> (__m256i, __m256i) {
    let zero = _mm256_setzero_si256();
    let mut a = _mm256_setzero_si256();
    let mut b = _mm256_setzero_si256();
    for (row, &w) in rows.iter().zip(weights) {
        // SAFETY: the caller guarantees 32 readable bytes at `x`.
        let v = unsafe { _mm256_loadu_si256(row.as_ptr().add(x).cast()) };
        let wv = _mm256_set1_epi16(w as i16);
        // Interleaving with zero puts each pixel in the high byte (`src << 8`), in the
        // in-lane order [0..8 | 16..24] and [8..16 | 24..32]; sorted out once at the end.
        a = _mm256_add_epi16(a, _mm256_mulhi_epu16(_mm256_unpacklo_epi8(zero, v), wv));
        b = _mm256_add_epi16(b, _mm256_mulhi_epu16(_mm256_unpackhi_epi8(zero, v), wv));
    }
    (
        _mm256_permute2x128_si256::<0x20>(a, b),
        _mm256_permute2x128_si256::<0x31>(a, b),
    )
}

/// # Safety
/// CPU has AVX2; every row holds at least `mid.len()` bytes.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn vfilter_impl(rows: &[&[u8]], weights: &[u16], mid: &mut [i16]) {
    let w = mid.len();
    if w < 16 {
        return scalar::vfilter(rows, weights, mid);
    }
    let out = mid.as_mut_ptr();
    let mut x = 0;
    // SAFETY (all stores and chunk calls below): x + 32 <= w or x + 16 <= w, and every row and
    // `mid` hold `w` elements.
    while x + 32 <= w {
        unsafe {
            let (a, b) = vchunk32(rows, weights, x);
            _mm256_storeu_si256(out.add(x).cast(), a);
            _mm256_storeu_si256(out.add(x + 16).cast(), b);
        }
        x += 32;
    }
    if x + 16 <= w {
        unsafe { _mm256_storeu_si256(out.add(x).cast(), vchunk16(rows, weights, x)) };
        x += 16;
    }
    if x < w {
        // Recompute the last 16 (each output depends only on its own column).
        unsafe { _mm256_storeu_si256(out.add(w - 16).cast(), vchunk16(rows, weights, w - 16)) };
    }
}

/// Round, shift and narrow two vectors of eight `i32` sums to sixteen bytes.
#[target_feature(enable = "avx2")]
#[inline]
fn finish16(a: __m256i, b: __m256i, r: __m256i) -> __m128i {
    let a = _mm256_srai_epi32::<{ H_SHIFT as i32 }>(_mm256_add_epi32(a, r));
    let b = _mm256_srai_epi32::<{ H_SHIFT as i32 }>(_mm256_add_epi32(b, r));
    let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(a, b));
    let bytes = _mm256_packus_epi16(w, w);
    _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(bytes))
}

/// Sixteen outputs of a plan with groups of 2 taps (one group per output).
///
/// # Safety
/// `o + 16 <= plan.padded()`; `mid` satisfies the plan's `mid_len`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hpair16(mid: *const i16, plan: &HPlan, o: usize, r: __m256i) -> __m128i {
    let starts = plan.starts().as_ptr();
    let wts = plan.w2().as_ptr();
    // SAFETY: table reads within `padded`; gathers read `mid[start .. start + 2]`, below
    // `mid_len` by the plan's invariant.
    unsafe {
        let i0 = _mm256_loadu_si256(starts.add(o).cast());
        let i1 = _mm256_loadu_si256(starts.add(o + 8).cast());
        let g0 = _mm256_i32gather_epi32::<2>(mid.cast(), i0);
        let g1 = _mm256_i32gather_epi32::<2>(mid.cast(), i1);
        let w0 = _mm256_loadu_si256(wts.add(2 * o).cast());
        let w1 = _mm256_loadu_si256(wts.add(2 * o + 16).cast());
        finish16(_mm256_madd_epi16(g0, w0), _mm256_madd_epi16(g1, w1), r)
    }
}

/// Eight outputs of a plan with groups of 4 taps, as eight `i32` sums.
///
/// # Safety
/// `o + 8 <= plan.padded()`; `mid` satisfies the plan's `mid_len`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hquad8(mid: *const i16, plan: &HPlan, o: usize) -> __m256i {
    let padded = plan.padded();
    let wts = plan.w4().as_ptr();
    // Gather outputs (0,1,4,5) into `a` and (2,3,6,7) into `b` so that the final horizontal
    // add yields them in order.
    // SAFETY: as for `hpair16`; weight reads stay inside `groups * padded * 4`.
    unsafe {
        let s = _mm256_loadu_si256(plan.starts().as_ptr().add(o).cast());
        let s = _mm256_permutevar8x32_epi32(s, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7));
        let ia = _mm256_castsi256_si128(s);
        let ib = _mm256_extracti128_si256::<1>(s);
        let mut pa = _mm256_setzero_si256();
        let mut pb = _mm256_setzero_si256();
        for g in 0..plan.quads() {
            let off = _mm_set1_epi32(4 * g as i32);
            let ga = _mm256_i32gather_epi64::<2>(mid.cast(), _mm_add_epi32(ia, off));
            let gb = _mm256_i32gather_epi64::<2>(mid.cast(), _mm_add_epi32(ib, off));
            let w = wts.add((g * padded + o) * 4);
            let wa = _mm256_loadu2_m128i(w.add(16).cast(), w.cast());
            let wb = _mm256_loadu2_m128i(w.add(24).cast(), w.add(8).cast());
            pa = _mm256_add_epi32(pa, _mm256_madd_epi16(ga, wa));
            pb = _mm256_add_epi32(pb, _mm256_madd_epi16(gb, wb));
        }
        _mm256_hadd_epi32(pa, pb)
    }
}

/// # Safety
/// CPU has AVX2; `mid.len() >= plan.mid_len()`, `out.len() == plan.dst_width()`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn hfilter_impl(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    let n = out.len();
    let m = mid.as_ptr();
    let r = _mm256_set1_epi32(round);
    let mut o = 0;
    while o < n {
        // SAFETY: o + 16 <= padded because padded is a multiple of 64 and o < n <= padded.
        let v = unsafe {
            if plan.taps() <= 2 {
                hpair16(m, plan, o, r)
            } else {
                finish16(hquad8(m, plan, o), hquad8(m, plan, o + 8), r)
            }
        };
        if o + 16 <= n {
            // SAFETY: 16 bytes fit at `o`.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().add(o).cast(), v) };
        } else {
            let mut tmp = [0u8; 16];
            // SAFETY: `tmp` holds 16 bytes.
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), v) };
            out[o..].copy_from_slice(&tmp[..n - o]);
        }
        o += 16;
    }
}

/// ½ box for 16 outputs at `o`.
///
/// # Safety
/// Both rows hold at least `2 * o + 32` bytes; `out` holds `o + 16`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn down2_16(s0: *const u8, s1: *const u8, out: *mut u8, o: usize) {
    let ones = _mm256_set1_epi8(1);
    // SAFETY: bounds from the caller.
    unsafe {
        let a = _mm256_maddubs_epi16(_mm256_loadu_si256(s0.add(2 * o).cast()), ones);
        let b = _mm256_maddubs_epi16(_mm256_loadu_si256(s1.add(2 * o).cast()), ones);
        let t = _mm256_srli_epi16::<2>(_mm256_add_epi16(
            _mm256_add_epi16(a, b),
            _mm256_set1_epi16(2),
        ));
        let p = _mm256_permute4x64_epi64::<0b00_00_10_00>(_mm256_packus_epi16(t, t));
        _mm_storeu_si128(out.add(o).cast(), _mm256_castsi256_si128(p));
    }
}

/// ½ box for 32 outputs at `o`.
///
/// # Safety
/// Both rows hold at least `2 * o + 64` bytes; `out` holds `o + 32`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn down2_32(s0: *const u8, s1: *const u8, out: *mut u8, o: usize) {
    let ones = _mm256_set1_epi8(1);
    let two = _mm256_set1_epi16(2);
    // SAFETY: bounds from the caller.
    unsafe {
        let a0 = _mm256_maddubs_epi16(_mm256_loadu_si256(s0.add(2 * o).cast()), ones);
        let a1 = _mm256_maddubs_epi16(_mm256_loadu_si256(s0.add(2 * o + 32).cast()), ones);
        let b0 = _mm256_maddubs_epi16(_mm256_loadu_si256(s1.add(2 * o).cast()), ones);
        let b1 = _mm256_maddubs_epi16(_mm256_loadu_si256(s1.add(2 * o + 32).cast()), ones);
        let t0 = _mm256_srli_epi16::<2>(_mm256_add_epi16(_mm256_add_epi16(a0, b0), two));
        let t1 = _mm256_srli_epi16::<2>(_mm256_add_epi16(_mm256_add_epi16(a1, b1), two));
        let p = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(t0, t1));
        _mm256_storeu_si256(out.add(o).cast(), p);
    }
}

/// # Safety
/// CPU has AVX2; both rows hold at least `2 * out.len()` bytes.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn down2_impl(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    let n = out.len();
    if n < 16 {
        return scalar::down2(s0, s1, out);
    }
    let (p0, p1, q) = (s0.as_ptr(), s1.as_ptr(), out.as_mut_ptr());
    let mut o = 0;
    // SAFETY (all calls): every chunk ends at or before `n` outputs / `2n` input bytes. The
    // overlapping last chunk rewrites identical values (outputs are pure functions of inputs
    // that do not alias `out`).
    while o + 32 <= n {
        unsafe { down2_32(p0, p1, q, o) };
        o += 32;
    }
    if o + 16 <= n {
        unsafe { down2_16(p0, p1, q, o) };
        o += 16;
    }
    if o < n {
        unsafe { down2_16(p0, p1, q, n - 16) };
    }
}

/// Blend 32 pixels in place.
///
/// `pmaddubsw` of the pairs `(a, 255 - a)` (unsigned) and `(src - 128, dst - 128)` (signed)
/// gives `a·src + (255−a)·dst − 32640` exactly, without saturation; adding `32767` gives
/// `v = a·src + (255−a)·dst + 127`, and `v / 255 == (v · 0x8081) >> 23` for every 16-bit `v`.
///
/// # Safety
/// 32 bytes readable at `s` and `a`, readable and writable at `d`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn blend32(d: *mut u8, s: *const u8, a: *const u8) {
    let flip = _mm256_set1_epi8(-128);
    // SAFETY: bounds from the caller.
    let (dv, sv, av) = unsafe {
        (
            _mm256_loadu_si256(d.cast()),
            _mm256_loadu_si256(s.cast()),
            _mm256_loadu_si256(a.cast()),
        )
    };
    let (sp, dp) = (_mm256_xor_si256(sv, flip), _mm256_xor_si256(dv, flip));
    let na = _mm256_xor_si256(av, _mm256_set1_epi8(-1));
    let lo = _mm256_maddubs_epi16(_mm256_unpacklo_epi8(av, na), _mm256_unpacklo_epi8(sp, dp));
    let hi = _mm256_maddubs_epi16(_mm256_unpackhi_epi8(av, na), _mm256_unpackhi_epi8(sp, dp));
    let div = |m: __m256i| {
        let v = _mm256_add_epi16(m, _mm256_set1_epi16(32767));
        _mm256_srli_epi16::<7>(_mm256_mulhi_epu16(v, _mm256_set1_epi16(0x8081u16 as i16)))
    };
    // SAFETY: 32 writable bytes at `d`.
    unsafe { _mm256_storeu_si256(d.cast(), _mm256_packus_epi16(div(lo), div(hi))) };
}

/// # Safety
/// CPU has AVX2; the three slices have equal lengths.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn blend_impl(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    let n = dst.len();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: 32 elements at `i` in each slice.
        unsafe {
            blend32(
                dst.as_mut_ptr().add(i),
                src.as_ptr().add(i),
                alpha.as_ptr().add(i),
            )
        };
        i += 32;
    }
    if i < n {
        // In place, so no overlapping recompute: blend a copy of the tail.
        let r = n - i;
        let (mut d, mut s, mut a) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        d[..r].copy_from_slice(&dst[i..]);
        s[..r].copy_from_slice(&src[i..]);
        a[..r].copy_from_slice(&alpha[i..]);
        // SAFETY: the buffers hold 32 bytes.
        unsafe { blend32(d.as_mut_ptr(), s.as_ptr(), a.as_ptr()) };
        dst[i..].copy_from_slice(&d[..r]);
    }
}

// ---------------------------------------------------------------------------------------------
// Audio.

/// `(x * g + 2^13) >> 14` for eight samples.
#[target_feature(enable = "avx2")]
#[inline]
fn term8(x: __m128i, g: __m256i) -> __m256i {
    let p = _mm256_mullo_epi32(_mm256_cvtepi16_epi32(x), g);
    _mm256_srai_epi32::<14>(_mm256_add_epi32(p, _mm256_set1_epi32(1 << 13)))
}

/// # Safety
/// CPU has AVX2; equal lengths.
#[target_feature(enable = "avx2")]
unsafe fn mix_acc_i16_impl(acc: &mut [i32], x: &[i16], g: i16) {
    let n = acc.len();
    let gv = _mm256_set1_epi32(i32::from(g));
    let (a, s) = (acc.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in both slices.
        unsafe {
            let t = term8(_mm_loadu_si128(s.add(i).cast()), gv);
            let v = _mm256_add_epi32(_mm256_loadu_si256(a.add(i).cast()), t);
            _mm256_storeu_si256(a.add(i).cast(), v);
        }
        i += 8;
    }
    scalar::mix_acc_i16(&mut acc[i..], &x[i..], g);
}

/// # Safety
/// CPU has AVX2; equal lengths.
#[target_feature(enable = "avx2")]
unsafe fn mix_store_i16_impl(acc: &[i32], out: &mut [i16]) {
    let n = out.len();
    let (a, o) = (acc.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in both slices.
        unsafe {
            let v0 = _mm256_loadu_si256(a.add(i).cast());
            let v1 = _mm256_loadu_si256(a.add(i + 8).cast());
            let p = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(v0, v1));
            _mm256_storeu_si256(o.add(i).cast(), p);
        }
        i += 16;
    }
    scalar::mix_store_i16(&acc[i..], &mut out[i..]);
}

/// # Safety
/// CPU has AVX2; equal lengths.
#[target_feature(enable = "avx2")]
unsafe fn mix_minus_i16_impl(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    let n = out.len();
    let gv = _mm256_set1_epi32(i32::from(g));
    let (a, s, o) = (acc.as_ptr(), x.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in all slices.
        unsafe {
            let t0 = term8(_mm_loadu_si128(s.add(i).cast()), gv);
            let t1 = term8(_mm_loadu_si128(s.add(i + 8).cast()), gv);
            let v0 = _mm256_sub_epi32(_mm256_loadu_si256(a.add(i).cast()), t0);
            let v1 = _mm256_sub_epi32(_mm256_loadu_si256(a.add(i + 8).cast()), t1);
            let p = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(v0, v1));
            _mm256_storeu_si256(o.add(i).cast(), p);
        }
        i += 16;
    }
    scalar::mix_minus_i16(&acc[i..], &x[i..], g, &mut out[i..]);
}

/// # Safety
/// CPU has AVX2; equal lengths.
#[target_feature(enable = "avx2")]
unsafe fn mix_acc_f32_impl(acc: &mut [f32], x: &[f32], g: f32) {
    let n = acc.len();
    let gv = _mm256_set1_ps(g);
    let (a, s) = (acc.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in both slices.
        unsafe {
            let p = _mm256_mul_ps(_mm256_loadu_ps(s.add(i)), gv);
            _mm256_storeu_ps(a.add(i), _mm256_add_ps(_mm256_loadu_ps(a.add(i)), p));
        }
        i += 8;
    }
    scalar::mix_acc_f32(&mut acc[i..], &x[i..], g);
}

/// `min(max(v, -1), 1)` with `maxps`/`minps` operand order (NaN becomes -1).
#[target_feature(enable = "avx2")]
#[inline]
fn clamp8(v: __m256) -> __m256 {
    _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-1.0)), _mm256_set1_ps(1.0))
}

/// # Safety
/// CPU has AVX2; equal lengths.
#[target_feature(enable = "avx2")]
unsafe fn mix_store_f32_impl(acc: &[f32], out: &mut [f32]) {
    let n = out.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in both slices.
        unsafe {
            let v = clamp8(_mm256_loadu_ps(acc.as_ptr().add(i)));
            _mm256_storeu_ps(out.as_mut_ptr().add(i), v);
        }
        i += 8;
    }
    scalar::mix_store_f32(&acc[i..], &mut out[i..]);
}

/// # Safety
/// CPU has AVX2; equal lengths.
#[target_feature(enable = "avx2")]
unsafe fn mix_minus_f32_impl(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    let n = out.len();
    let gv = _mm256_set1_ps(g);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in all slices.
        unsafe {
            let p = _mm256_mul_ps(_mm256_loadu_ps(x.as_ptr().add(i)), gv);
            let v = _mm256_sub_ps(_mm256_loadu_ps(acc.as_ptr().add(i)), p);
            _mm256_storeu_ps(out.as_mut_ptr().add(i), clamp8(v));
        }
        i += 8;
    }
    scalar::mix_minus_f32(&acc[i..], &x[i..], g, &mut out[i..]);
}

/// # Safety
/// CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn sumsq_i16_impl(x: &[i16]) -> u64 {
    let n = x.len();
    let zero = _mm256_setzero_si256();
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 samples at `i`.
        let v = unsafe { _mm256_loadu_si256(x.as_ptr().add(i).cast()) };
        // Pairs of squares: at most 2^31, exact when read as u32.
        let m = _mm256_madd_epi16(v, v);
        let lo = _mm256_unpacklo_epi32(m, zero);
        let hi = _mm256_unpackhi_epi32(m, zero);
        acc = _mm256_add_epi64(acc, _mm256_add_epi64(lo, hi));
        i += 16;
    }
    let mut lanes = [0u64; 4];
    // SAFETY: `lanes` holds 32 bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    lanes.iter().sum::<u64>() + scalar::sumsq_i16(&x[i..])
}

/// # Safety
/// CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn sumsq_f32_impl(x: &[f32]) -> f64 {
    let n = x.len();
    // Lanes 0-3 and 4-7 of the specification.
    let mut lo = _mm256_setzero_pd();
    let mut hi = _mm256_setzero_pd();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 samples at `i`.
        let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) };
        let a = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        let b = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v));
        lo = _mm256_add_pd(lo, _mm256_mul_pd(a, a));
        hi = _mm256_add_pd(hi, _mm256_mul_pd(b, b));
        i += 8;
    }
    let mut lanes = [0.0f64; 8];
    // SAFETY: `lanes` holds 8 doubles.
    unsafe {
        _mm256_storeu_pd(lanes.as_mut_ptr(), lo);
        _mm256_storeu_pd(lanes.as_mut_ptr().add(4), hi);
    }
    scalar::sumsq_f32_lanes(&x[i..], i, &mut lanes);
    scalar::combine_lanes(&lanes)
}
