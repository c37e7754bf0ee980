//! AVX-512 kernels (F + BW + VL). See `arch/scalar.rs` for what each computes.
//!
//! The AVX-512 table requires AVX2 as well ([`crate::Isa::is_supported`]), so kernels here fall
//! back to the AVX2 ones for short rows, and the table uses the AVX2 kernel wherever 512-bit
//! code did not win on the reference machine (`docs/SIMD.md` lists which).

use core::arch::x86_64::*;

use super::avx2;
use crate::arch::scalar;
use crate::scale::{H_SHIFT, HPlan, PERM_BLOCK, PermTable};
use crate::{Isa, Kernels};

pub(crate) static TABLE: Kernels = Kernels {
    isa: Isa::Avx512,
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

fn vfilter(rows: &[&[u8]], weights: &[u16], mid: &mut [i16]) {
    assert_eq!(rows.len(), weights.len());
    assert!(rows.iter().all(|r| r.len() >= mid.len()));
    // SAFETY: reachable only through TABLE (CPU has AVX-512 F/BW/VL and AVX2); every row holds
    // `mid.len()` bytes.
    unsafe { vfilter_impl(rows, weights, mid) }
}

fn hfilter(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    assert!(mid.len() >= plan.mid_len());
    assert_eq!(out.len(), plan.dst_width());
    // SAFETY: CPU has AVX-512; the plan's invariant keeps every gathered index below `mid_len`.
    unsafe { hfilter_impl(mid, plan, round, out) }
}

fn down2(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    assert!(s0.len() >= 2 * out.len() && s1.len() >= 2 * out.len());
    // SAFETY: CPU has AVX-512 and AVX2; both rows hold `2 * out.len()` bytes.
    unsafe { down2_impl(s0, s1, out) }
}

fn blend(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    assert!(src.len() == dst.len() && alpha.len() == dst.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { blend_impl(dst, src, alpha) }
}

fn mix_acc_i16(acc: &mut [i32], x: &[i16], g: i16) {
    assert_eq!(acc.len(), x.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { mix_acc_i16_impl(acc, x, g) }
}

fn mix_store_i16(acc: &[i32], out: &mut [i16]) {
    assert_eq!(acc.len(), out.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { mix_store_i16_impl(acc, out) }
}

fn mix_minus_i16(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { mix_minus_i16_impl(acc, x, g, out) }
}

fn mix_acc_f32(acc: &mut [f32], x: &[f32], g: f32) {
    assert_eq!(acc.len(), x.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { mix_acc_f32_impl(acc, x, g) }
}

fn mix_store_f32(acc: &[f32], out: &mut [f32]) {
    assert_eq!(acc.len(), out.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { mix_store_f32_impl(acc, out) }
}

fn mix_minus_f32(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    // SAFETY: CPU has AVX-512; equal lengths.
    unsafe { mix_minus_f32_impl(acc, x, g, out) }
}

fn sumsq_i16(x: &[i16]) -> u64 {
    // SAFETY: CPU has AVX-512.
    unsafe { sumsq_i16_impl(x) }
}

fn sumsq_f32(x: &[f32]) -> f64 {
    // SAFETY: CPU has AVX-512.
    unsafe { sumsq_f32_impl(x) }
}

// ---------------------------------------------------------------------------------------------
// Video.

/// Vertical pass for 64 pixels at `x`, returned in order as pixels 0..32 and 32..64.
///
/// # Safety
/// Every row must hold at least `x + 64` bytes.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn vchunk64(rows: &[&[u8]], weights: &[u16], x: usize) -> (__m512i, __m512i) {
    let zero = _mm512_setzero_si512();
    let mut a = _mm512_setzero_si512();
    let mut b = _mm512_setzero_si512();
    for (row, &w) in rows.iter().zip(weights) {
        // SAFETY: 64 readable bytes at `x`.
        let v = unsafe { _mm512_loadu_si512(row.as_ptr().add(x).cast()) };
        let wv = _mm512_set1_epi16(w as i16);
        // Interleaving with zero puts each pixel in the high byte (`src << 8`); `a` holds
        // pixels [0..8, 16..24, 32..40, 48..56], `b` the other halves of each 16.
        a = _mm512_add_epi16(a, _mm512_mulhi_epu16(_mm512_unpacklo_epi8(zero, v), wv));
        b = _mm512_add_epi16(b, _mm512_mulhi_epu16(_mm512_unpackhi_epi8(zero, v), wv));
    }
    let lo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    let hi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    (
        _mm512_permutex2var_epi64(a, lo, b),
        _mm512_permutex2var_epi64(a, hi, b),
    )
}

/// Vertical pass for 32 pixels at `x`.
///
/// # Safety
/// Every row must hold at least `x + 32` bytes.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn vchunk32(rows: &[&[u8]], weights: &[u16], x: usize) -> __m512i {
    let mut a = _mm512_setzero_si512();
    for (row, &w) in rows.iter().zip(weights) {
        // SAFETY: 32 readable bytes at `x`.
        let v = unsafe { _mm256_loadu_si256(row.as_ptr().add(x).cast()) };
        let v = _mm512_slli_epi16::<8>(_mm512_cvtepu8_epi16(v));
        a = _mm512_add_epi16(a, _mm512_mulhi_epu16(v, _mm512_set1_epi16(w as i16)));
    }
    a
}

/// # Safety
/// CPU has AVX-512 F/BW and AVX2; every row holds at least `mid.len()` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn vfilter_impl(rows: &[&[u8]], weights: &[u16], mid: &mut [i16]) {
    let w = mid.len();
    if w < 32 {
        // SAFETY: same contract, and the CPU has AVX2.
        return unsafe { avx2::vfilter_impl(rows, weights, mid) };
    }
    let out = mid.as_mut_ptr();
    let mut x = 0;
    // SAFETY (all chunks and stores): they end at or before `w`; the overlapping last chunk
    // recomputes identical values.
    while x + 64 <= w {
        unsafe {
            let (a, b) = vchunk64(rows, weights, x);
            _mm512_storeu_si512(out.add(x).cast(), a);
            _mm512_storeu_si512(out.add(x + 32).cast(), b);
        }
        x += 64;
    }
    if x + 32 <= w {
        unsafe { _mm512_storeu_si512(out.add(x).cast(), vchunk32(rows, weights, x)) };
        x += 32;
    }
    if x < w {
        unsafe { _mm512_storeu_si512(out.add(w - 32).cast(), vchunk32(rows, weights, w - 32)) };
    }
}

/// Round, shift and narrow sixteen `i32` sums to sixteen bytes.
#[target_feature(enable = "avx512f")]
#[inline]
fn finish16(v: __m512i, r: __m512i) -> __m128i {
    let v = _mm512_srai_epi32::<H_SHIFT>(_mm512_add_epi32(v, r));
    _mm512_cvtusepi32_epi8(v)
}

/// Sixteen outputs of a pair plan.
///
/// # Safety
/// `o + 16 <= plan.padded()`; `mid` satisfies the plan's `mid_len`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn hpair16(mid: *const i16, plan: &HPlan, o: usize, r: __m512i) -> __m128i {
    // SAFETY: table reads within `padded`; gathers below `mid_len`.
    unsafe {
        let idx = _mm512_loadu_si512(plan.starts().as_ptr().add(o).cast());
        let g = _mm512_i32gather_epi32::<2>(idx, mid.cast());
        let w = _mm512_loadu_si512(plan.w2().as_ptr().add(2 * o).cast());
        finish16(_mm512_madd_epi16(g, w), r)
    }
}

/// Eight outputs of a quad plan, as eight `i32` sums.
///
/// # Safety
/// `o + 8 <= plan.padded()`; `mid` satisfies the plan's `mid_len`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn hquad8(mid: *const i16, plan: &HPlan, o: usize) -> __m256i {
    let padded = plan.padded();
    // SAFETY: table reads within `groups * padded * 4`; gathers below `mid_len`.
    unsafe {
        let idx = _mm256_loadu_si256(plan.starts().as_ptr().add(o).cast());
        let mut p = _mm512_setzero_si512();
        for g in 0..plan.quads() {
            let i = _mm256_add_epi32(idx, _mm256_set1_epi32(4 * g as i32));
            let q = _mm512_i32gather_epi64::<2>(i, mid.cast());
            let w = _mm512_loadu_si512(plan.w4().as_ptr().add((g * padded + o) * 4).cast());
            p = _mm512_add_epi32(p, _mm512_madd_epi16(q, w));
        }
        // Each output's two partial sums share a qword: add them, keep the low dword.
        _mm512_cvtepi64_epi32(_mm512_add_epi32(p, _mm512_srli_epi64::<32>(p)))
    }
}

/// Sixteen outputs (block `blk`) through two-register word permutes: the block's source
/// window is two vectors, and each pair of taps of all 16 outputs is one permute.
///
/// # Safety
/// `blk` is a block of the plan; `mid` satisfies the plan's `mid_len` (which covers
/// `base + PERM_WINDOW`).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn hperm16(
    mid: *const i16,
    plan: &HPlan,
    perm: &PermTable,
    pairs: usize,
    blk: usize,
    r: __m512i,
) -> __m128i {
    let o = blk * PERM_BLOCK;
    // SAFETY: window reads below `mid_len`; table reads inside `idx` and `w2`.
    unsafe {
        let base = *perm.base.get_unchecked(blk) as usize;
        let a = _mm512_loadu_si512(mid.add(base).cast());
        let b = _mm512_loadu_si512(mid.add(base + 32).cast());
        let idx = perm.idx.as_ptr().add(blk * pairs * 2 * PERM_BLOCK);
        let w2 = plan.w2().as_ptr();
        let mut acc = _mm512_setzero_si512();
        for j in 0..pairs {
            let iv = _mm512_loadu_si512(idx.add(j * 2 * PERM_BLOCK).cast());
            let g = _mm512_permutex2var_epi16(a, iv, b);
            let w = _mm512_loadu_si512(w2.add((j * plan.padded() + o) * 2).cast());
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(g, w));
        }
        finish16(acc, r)
    }
}

/// A whole row through [`hperm16`] with `P` pairs known at compile time.
///
/// # Safety
/// As for [`hfilter_impl`]; `P == plan.pairs()`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn hperm_row<const P: usize>(
    mid: &[i16],
    plan: &HPlan,
    perm: &PermTable,
    r: __m512i,
    out: &mut [u8],
) {
    // SAFETY: from the caller.
    unsafe { hperm_row_dyn(mid, plan, perm, P, r, out) }
}

/// # Safety
/// As for [`hfilter_impl`]; `pairs == plan.pairs()`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn hperm_row_dyn(
    mid: &[i16],
    plan: &HPlan,
    perm: &PermTable,
    pairs: usize,
    r: __m512i,
    out: &mut [u8],
) {
    let n = out.len();
    let m = mid.as_ptr();
    let mut o = 0;
    while o < n {
        // SAFETY: o < n <= padded, so block o / 16 exists.
        let v = unsafe { hperm16(m, plan, perm, pairs, o / PERM_BLOCK, r) };
        store16(out, o, v);
        o += PERM_BLOCK;
    }
}

/// Store 16 bytes at `o`, or the part of them that fits.
#[target_feature(enable = "avx512f")]
#[inline]
fn store16(out: &mut [u8], o: usize, v: __m128i) {
    if o + 16 <= out.len() {
        // SAFETY: 16 bytes fit at `o`.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(o).cast(), v) };
    } else {
        let mut tmp = [0u8; 16];
        // SAFETY: `tmp` holds 16 bytes.
        unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), v) };
        let n = out.len();
        out[o..].copy_from_slice(&tmp[..n - o]);
    }
}

/// # Safety
/// CPU has AVX-512 F/BW; `mid.len() >= plan.mid_len()`, `out.len() == plan.dst_width()`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn hfilter_impl(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    let n = out.len();
    let m = mid.as_ptr();
    let r = _mm512_set1_epi32(round);
    if let Some(perm) = plan.perm() {
        // SAFETY (all arms): the caller's contract, with the plan's own pair count.
        unsafe {
            match plan.pairs() {
                1 => hperm_row::<1>(mid, plan, perm, r, out),
                2 => hperm_row::<2>(mid, plan, perm, r, out),
                3 => hperm_row::<3>(mid, plan, perm, r, out),
                p => hperm_row_dyn(mid, plan, perm, p, r, out),
            }
        }
        return;
    }
    let mut o = 0;
    while o < n {
        // SAFETY: o + 16 <= padded (a multiple of 64).
        let v = unsafe {
            if plan.taps() <= 2 {
                hpair16(m, plan, o, r)
            } else {
                let a = hquad8(m, plan, o);
                let b = hquad8(m, plan, o + 8);
                finish16(_mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b), r)
            }
        };
        store16(out, o, v);
        o += 16;
    }
}

/// ½ box for 64 outputs at `o`.
///
/// # Safety
/// Both rows hold at least `2 * o + 128` bytes; `out` holds `o + 64`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn down2_64(s0: *const u8, s1: *const u8, out: *mut u8, o: usize) {
    let ones = _mm512_set1_epi8(1);
    let two = _mm512_set1_epi16(2);
    // SAFETY: bounds from the caller.
    unsafe {
        let a0 = _mm512_maddubs_epi16(_mm512_loadu_si512(s0.add(2 * o).cast()), ones);
        let a1 = _mm512_maddubs_epi16(_mm512_loadu_si512(s0.add(2 * o + 64).cast()), ones);
        let b0 = _mm512_maddubs_epi16(_mm512_loadu_si512(s1.add(2 * o).cast()), ones);
        let b1 = _mm512_maddubs_epi16(_mm512_loadu_si512(s1.add(2 * o + 64).cast()), ones);
        let t0 = _mm512_srli_epi16::<2>(_mm512_add_epi16(_mm512_add_epi16(a0, b0), two));
        let t1 = _mm512_srli_epi16::<2>(_mm512_add_epi16(_mm512_add_epi16(a1, b1), two));
        _mm256_storeu_si256(out.add(o).cast(), _mm512_cvtepi16_epi8(t0));
        _mm256_storeu_si256(out.add(o + 32).cast(), _mm512_cvtepi16_epi8(t1));
    }
}

/// # Safety
/// CPU has AVX-512 F/BW and AVX2; both rows hold at least `2 * out.len()` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn down2_impl(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    let n = out.len();
    if n < 64 {
        // SAFETY: same contract, and the CPU has AVX2.
        return unsafe { avx2::down2_impl(s0, s1, out) };
    }
    let (p0, p1, q) = (s0.as_ptr(), s1.as_ptr(), out.as_mut_ptr());
    let mut o = 0;
    // SAFETY (all chunks): they end at or before `n`; the overlapping last chunk rewrites
    // identical values.
    while o + 64 <= n {
        unsafe { down2_64(p0, p1, q, o) };
        o += 64;
    }
    if o < n {
        unsafe { down2_64(p0, p1, q, n - 64) };
    }
}

/// Blend 64 pixels in place; only the lanes in `mask` are read and written (see the AVX2
/// `blend32` for the arithmetic).
///
/// # Safety
/// The masked-in bytes are readable at `s` and `a`, readable and writable at `d`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn blend64(d: *mut u8, s: *const u8, a: *const u8, mask: u64) {
    let flip = _mm512_set1_epi8(-128);
    let full = mask == u64::MAX;
    // SAFETY: masked loads touch only masked-in bytes, which the caller vouches for; a full
    // mask means all 64 are readable.
    let (dv, sv, av) = unsafe {
        if full {
            (
                _mm512_loadu_si512(d.cast()),
                _mm512_loadu_si512(s.cast()),
                _mm512_loadu_si512(a.cast()),
            )
        } else {
            (
                _mm512_maskz_loadu_epi8(mask, d.cast()),
                _mm512_maskz_loadu_epi8(mask, s.cast()),
                _mm512_maskz_loadu_epi8(mask, a.cast()),
            )
        }
    };
    let (sp, dp) = (_mm512_xor_si512(sv, flip), _mm512_xor_si512(dv, flip));
    let na = _mm512_xor_si512(av, _mm512_set1_epi8(-1));
    let lo = _mm512_maddubs_epi16(_mm512_unpacklo_epi8(av, na), _mm512_unpacklo_epi8(sp, dp));
    let hi = _mm512_maddubs_epi16(_mm512_unpackhi_epi8(av, na), _mm512_unpackhi_epi8(sp, dp));
    let div = |m: __m512i| {
        let v = _mm512_add_epi16(m, _mm512_set1_epi16(32767));
        _mm512_srli_epi16::<7>(_mm512_mulhi_epu16(v, _mm512_set1_epi16(0x8081u16 as i16)))
    };
    let q = _mm512_packus_epi16(div(lo), div(hi));
    // SAFETY: the masked store writes only masked-in bytes (masked stores are slow on Zen 4, so
    // full vectors use a plain store).
    unsafe {
        if full {
            _mm512_storeu_si512(d.cast(), q)
        } else {
            _mm512_mask_storeu_epi8(d.cast(), mask, q)
        }
    };
}

/// # Safety
/// CPU has AVX-512 F/BW; equal lengths.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn blend_impl(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    let n = dst.len();
    let (d, s, a) = (dst.as_mut_ptr(), src.as_ptr(), alpha.as_ptr());
    let mut i = 0;
    while i < n {
        let r = n - i;
        let mask = if r >= 64 { u64::MAX } else { (1u64 << r) - 1 };
        // SAFETY: the mask covers exactly the elements left at `i` (at most 64).
        unsafe { blend64(d.add(i), s.add(i), a.add(i), mask) };
        i += 64;
    }
}

// ---------------------------------------------------------------------------------------------
// Audio.

/// `(x * g + 2^13) >> 14` for sixteen samples.
#[target_feature(enable = "avx512f")]
#[inline]
fn term16(x: __m256i, g: __m512i) -> __m512i {
    let p = _mm512_mullo_epi32(_mm512_cvtepi16_epi32(x), g);
    _mm512_srai_epi32::<14>(_mm512_add_epi32(p, _mm512_set1_epi32(1 << 13)))
}

/// # Safety
/// CPU has AVX-512 F; equal lengths.
#[target_feature(enable = "avx512f")]
unsafe fn mix_acc_i16_impl(acc: &mut [i32], x: &[i16], g: i16) {
    let n = acc.len();
    let gv = _mm512_set1_epi32(i32::from(g));
    let (a, s) = (acc.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in both slices.
        unsafe {
            let t = term16(_mm256_loadu_si256(s.add(i).cast()), gv);
            let v = _mm512_add_epi32(_mm512_loadu_si512(a.add(i).cast()), t);
            _mm512_storeu_si512(a.add(i).cast(), v);
        }
        i += 16;
    }
    scalar::mix_acc_i16(&mut acc[i..], &x[i..], g);
}

/// # Safety
/// CPU has AVX-512 F; equal lengths.
#[target_feature(enable = "avx512f")]
unsafe fn mix_store_i16_impl(acc: &[i32], out: &mut [i16]) {
    let n = out.len();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in both slices.
        unsafe {
            let v = _mm512_loadu_si512(acc.as_ptr().add(i).cast());
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), _mm512_cvtsepi32_epi16(v));
        }
        i += 16;
    }
    scalar::mix_store_i16(&acc[i..], &mut out[i..]);
}

/// # Safety
/// CPU has AVX-512 F; equal lengths.
#[target_feature(enable = "avx512f")]
unsafe fn mix_minus_i16_impl(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    let n = out.len();
    let gv = _mm512_set1_epi32(i32::from(g));
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in all slices.
        unsafe {
            let t = term16(_mm256_loadu_si256(x.as_ptr().add(i).cast()), gv);
            let v = _mm512_sub_epi32(_mm512_loadu_si512(acc.as_ptr().add(i).cast()), t);
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), _mm512_cvtsepi32_epi16(v));
        }
        i += 16;
    }
    scalar::mix_minus_i16(&acc[i..], &x[i..], g, &mut out[i..]);
}

/// # Safety
/// CPU has AVX-512 F; equal lengths.
#[target_feature(enable = "avx512f")]
unsafe fn mix_acc_f32_impl(acc: &mut [f32], x: &[f32], g: f32) {
    let n = acc.len();
    let gv = _mm512_set1_ps(g);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in both slices.
        unsafe {
            let p = _mm512_mul_ps(_mm512_loadu_ps(x.as_ptr().add(i)), gv);
            let a = acc.as_mut_ptr().add(i);
            _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), p));
        }
        i += 16;
    }
    scalar::mix_acc_f32(&mut acc[i..], &x[i..], g);
}

#[target_feature(enable = "avx512f")]
#[inline]
fn clamp16(v: __m512) -> __m512 {
    _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-1.0)), _mm512_set1_ps(1.0))
}

/// # Safety
/// CPU has AVX-512 F; equal lengths.
#[target_feature(enable = "avx512f")]
unsafe fn mix_store_f32_impl(acc: &[f32], out: &mut [f32]) {
    let n = out.len();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in both slices.
        unsafe {
            let v = clamp16(_mm512_loadu_ps(acc.as_ptr().add(i)));
            _mm512_storeu_ps(out.as_mut_ptr().add(i), v);
        }
        i += 16;
    }
    scalar::mix_store_f32(&acc[i..], &mut out[i..]);
}

/// # Safety
/// CPU has AVX-512 F; equal lengths.
#[target_feature(enable = "avx512f")]
unsafe fn mix_minus_f32_impl(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    let n = out.len();
    let gv = _mm512_set1_ps(g);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in all slices.
        unsafe {
            let p = _mm512_mul_ps(_mm512_loadu_ps(x.as_ptr().add(i)), gv);
            let v = _mm512_sub_ps(_mm512_loadu_ps(acc.as_ptr().add(i)), p);
            _mm512_storeu_ps(out.as_mut_ptr().add(i), clamp16(v));
        }
        i += 16;
    }
    scalar::mix_minus_f32(&acc[i..], &x[i..], g, &mut out[i..]);
}

/// # Safety
/// CPU has AVX-512 F/BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn sumsq_i16_impl(x: &[i16]) -> u64 {
    let n = x.len();
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: 32 samples at `i`.
        let v = unsafe { _mm512_loadu_si512(x.as_ptr().add(i).cast()) };
        let m = _mm512_madd_epi16(v, v);
        let lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(m));
        let hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(m));
        acc = _mm512_add_epi64(acc, _mm512_add_epi64(lo, hi));
        i += 32;
    }
    _mm512_reduce_add_epi64(acc) as u64 + scalar::sumsq_i16(&x[i..])
}

/// # Safety
/// CPU has AVX-512 F.
#[target_feature(enable = "avx512f")]
unsafe fn sumsq_f32_impl(x: &[f32]) -> f64 {
    let n = x.len();
    let mut acc = _mm512_setzero_pd();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 samples at `i`.
        let v = _mm512_cvtps_pd(unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) });
        acc = _mm512_add_pd(acc, _mm512_mul_pd(v, v));
        i += 8;
    }
    let mut lanes = [0.0f64; 8];
    // SAFETY: `lanes` holds 8 doubles.
    unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
    scalar::sumsq_f32_lanes(&x[i..], i, &mut lanes);
    scalar::combine_lanes(&lanes)
}
