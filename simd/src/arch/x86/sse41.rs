//! SSE4.1 kernels (128-bit). See `arch/scalar.rs` for what each computes.

use core::arch::x86_64::*;
use core::ptr::read_unaligned;

use crate::arch::scalar;
use crate::scale::{H_SHIFT, HPlan};
use crate::{Isa, Kernels};

pub(crate) static TABLE: Kernels = Kernels {
    isa: Isa::Sse41,
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
    // SAFETY: reachable only through TABLE (CPU has SSE4.1); every row holds `mid.len()` bytes.
    unsafe { vfilter_impl(rows, weights, mid) }
}

fn hfilter(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    assert!(mid.len() >= plan.mid_len());
    assert_eq!(out.len(), plan.dst_width());
    // SAFETY: CPU has SSE4.1; the plan's invariant keeps every read index below `mid_len`.
    unsafe { hfilter_impl(mid, plan, round, out) }
}

fn down2(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    assert!(s0.len() >= 2 * out.len() && s1.len() >= 2 * out.len());
    // SAFETY: CPU has SSE4.1; both rows hold `2 * out.len()` bytes.
    unsafe { down2_impl(s0, s1, out) }
}

fn blend(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    assert!(src.len() == dst.len() && alpha.len() == dst.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { blend_impl(dst, src, alpha) }
}

fn mix_acc_i16(acc: &mut [i32], x: &[i16], g: i16) {
    assert_eq!(acc.len(), x.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { mix_acc_i16_impl(acc, x, g) }
}

fn mix_store_i16(acc: &[i32], out: &mut [i16]) {
    assert_eq!(acc.len(), out.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { mix_store_i16_impl(acc, out) }
}

fn mix_minus_i16(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { mix_minus_i16_impl(acc, x, g, out) }
}

fn mix_acc_f32(acc: &mut [f32], x: &[f32], g: f32) {
    assert_eq!(acc.len(), x.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { mix_acc_f32_impl(acc, x, g) }
}

fn mix_store_f32(acc: &[f32], out: &mut [f32]) {
    assert_eq!(acc.len(), out.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { mix_store_f32_impl(acc, out) }
}

fn mix_minus_f32(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    // SAFETY: CPU has SSE4.1; equal lengths.
    unsafe { mix_minus_f32_impl(acc, x, g, out) }
}

fn sumsq_i16(x: &[i16]) -> u64 {
    // SAFETY: CPU has SSE4.1.
    unsafe { sumsq_i16_impl(x) }
}

fn sumsq_f32(x: &[f32]) -> f64 {
    // SAFETY: CPU has SSE4.1.
    unsafe { sumsq_f32_impl(x) }
}

// ---------------------------------------------------------------------------------------------
// Video.

/// Vertical pass for 16 pixels at `x`: `Σ mulhi_u16(row[x..] << 8, w)`.
///
/// # Safety
/// Every row must hold at least `x + 16` bytes.
#[target_feature(enable = "sse4.1")]
#[inline]
unsafe fn vchunk16(rows: &[&[u8]], weights: &[u16], x: usize) -> (__m128i, __m128i) {
    let zero = _mm_setzero_si128();
    let mut a = _mm_setzero_si128();
    let mut b = _mm_setzero_si128();
    for (row, &w) in rows.iter().zip(weights) {
        // SAFETY: 16 readable bytes at `x`.
        let v = unsafe { _mm_loadu_si128(row.as_ptr().add(x).cast()) };
        let wv = _mm_set1_epi16(w as i16);
        // Interleaving with zero bytes puts each pixel in the high byte: `src << 8`.
        a = _mm_add_epi16(a, _mm_mulhi_epu16(_mm_unpacklo_epi8(zero, v), wv));
        b = _mm_add_epi16(b, _mm_mulhi_epu16(_mm_unpackhi_epi8(zero, v), wv));
    }
    (a, b)
}

/// # Safety
/// CPU has SSE4.1; every row holds at least `mid.len()` bytes.
#[target_feature(enable = "sse4.1")]
unsafe fn vfilter_impl(rows: &[&[u8]], weights: &[u16], mid: &mut [i16]) {
    let w = mid.len();
    if w < 16 {
        return scalar::vfilter(rows, weights, mid);
    }
    let out = mid.as_mut_ptr();
    let mut x = 0;
    loop {
        // The last chunk may overlap the previous one; it recomputes identical values.
        let at = x.min(w - 16);
        // SAFETY: at + 16 <= w.
        unsafe {
            let (a, b) = vchunk16(rows, weights, at);
            _mm_storeu_si128(out.add(at).cast(), a);
            _mm_storeu_si128(out.add(at + 8).cast(), b);
        }
        x += 16;
        if x >= w {
            break;
        }
    }
}

/// # Safety
/// Four bytes readable at `p`.
#[inline]
unsafe fn load_i32(p: *const i16) -> i32 {
    // SAFETY: from the caller.
    unsafe { read_unaligned(p.cast::<i32>()) }
}

/// # Safety
/// Eight bytes readable at `p`.
#[inline]
unsafe fn load_i64(p: *const i16) -> i64 {
    // SAFETY: from the caller.
    unsafe { read_unaligned(p.cast::<i64>()) }
}

/// Four outputs of a pair plan, as `i32` sums.
///
/// # Safety
/// `o + 4 <= plan.padded()`; `mid` satisfies the plan's `mid_len`.
#[target_feature(enable = "sse4.1")]
#[inline]
unsafe fn hpair4(mid: *const i16, plan: &HPlan, o: usize) -> __m128i {
    let s = &plan.starts()[o..o + 4];
    // SAFETY: indices below `mid_len`; weights inside the table.
    unsafe {
        let g = _mm_setr_epi32(
            load_i32(mid.add(s[0] as usize)),
            load_i32(mid.add(s[1] as usize)),
            load_i32(mid.add(s[2] as usize)),
            load_i32(mid.add(s[3] as usize)),
        );
        let w = _mm_loadu_si128(plan.w2().as_ptr().add(2 * o).cast());
        _mm_madd_epi16(g, w)
    }
}

/// Four outputs of a quad plan, as `i32` sums.
///
/// # Safety
/// `o + 4 <= plan.padded()`; `mid` satisfies the plan's `mid_len`.
#[target_feature(enable = "sse4.1")]
#[inline]
unsafe fn hquad4(mid: *const i16, plan: &HPlan, o: usize) -> __m128i {
    let s = &plan.starts()[o..o + 4];
    let padded = plan.padded();
    let mut pa = _mm_setzero_si128();
    let mut pb = _mm_setzero_si128();
    for g in 0..plan.quads() {
        let k = 4 * g;
        // SAFETY: indices below `mid_len`; weights inside the table.
        unsafe {
            let w = plan.w4().as_ptr().add((g * padded + o) * 4);
            let ga = _mm_set_epi64x(
                load_i64(mid.add(s[1] as usize + k)),
                load_i64(mid.add(s[0] as usize + k)),
            );
            let gb = _mm_set_epi64x(
                load_i64(mid.add(s[3] as usize + k)),
                load_i64(mid.add(s[2] as usize + k)),
            );
            pa = _mm_add_epi32(pa, _mm_madd_epi16(ga, _mm_loadu_si128(w.cast())));
            pb = _mm_add_epi32(pb, _mm_madd_epi16(gb, _mm_loadu_si128(w.add(8).cast())));
        }
    }
    _mm_hadd_epi32(pa, pb)
}

/// # Safety
/// CPU has SSE4.1; `mid.len() >= plan.mid_len()`, `out.len() == plan.dst_width()`.
#[target_feature(enable = "sse4.1")]
unsafe fn hfilter_impl(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    let n = out.len();
    let m = mid.as_ptr();
    let r = _mm_set1_epi32(round);
    let mut o = 0;
    while o < n {
        let mut v = [_mm_setzero_si128(); 4];
        for (k, vk) in v.iter_mut().enumerate() {
            // SAFETY: o + 16 <= padded (a multiple of 64).
            let s = unsafe {
                if plan.taps() <= 2 {
                    hpair4(m, plan, o + 4 * k)
                } else {
                    hquad4(m, plan, o + 4 * k)
                }
            };
            *vk = _mm_srai_epi32::<{ H_SHIFT as i32 }>(_mm_add_epi32(s, r));
        }
        let bytes = _mm_packus_epi16(_mm_packs_epi32(v[0], v[1]), _mm_packs_epi32(v[2], v[3]));
        if o + 16 <= n {
            // SAFETY: 16 bytes fit at `o`.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().add(o).cast(), bytes) };
        } else {
            let mut tmp = [0u8; 16];
            // SAFETY: `tmp` holds 16 bytes.
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes) };
            out[o..].copy_from_slice(&tmp[..n - o]);
        }
        o += 16;
    }
}

/// # Safety
/// CPU has SSE4.1; both rows hold at least `2 * out.len()` bytes.
#[target_feature(enable = "sse4.1")]
unsafe fn down2_impl(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    let n = out.len();
    if n < 16 {
        return scalar::down2(s0, s1, out);
    }
    let ones = _mm_set1_epi8(1);
    let two = _mm_set1_epi16(2);
    let (p0, p1, q) = (s0.as_ptr(), s1.as_ptr(), out.as_mut_ptr());
    let mut o = 0;
    loop {
        let at = o.min(n - 16);
        // SAFETY: at + 16 <= n outputs, 2 * at + 32 <= 2n input bytes; the overlapping last
        // chunk rewrites identical values.
        unsafe {
            let a0 = _mm_maddubs_epi16(_mm_loadu_si128(p0.add(2 * at).cast()), ones);
            let a1 = _mm_maddubs_epi16(_mm_loadu_si128(p0.add(2 * at + 16).cast()), ones);
            let b0 = _mm_maddubs_epi16(_mm_loadu_si128(p1.add(2 * at).cast()), ones);
            let b1 = _mm_maddubs_epi16(_mm_loadu_si128(p1.add(2 * at + 16).cast()), ones);
            let t0 = _mm_srli_epi16::<2>(_mm_add_epi16(_mm_add_epi16(a0, b0), two));
            let t1 = _mm_srli_epi16::<2>(_mm_add_epi16(_mm_add_epi16(a1, b1), two));
            _mm_storeu_si128(q.add(at).cast(), _mm_packus_epi16(t0, t1));
        }
        o += 16;
        if o >= n {
            break;
        }
    }
}

/// Blend 16 pixels in place (see the AVX2 `blend32` for the arithmetic).
///
/// # Safety
/// 16 bytes readable at `s` and `a`, readable and writable at `d`.
#[target_feature(enable = "sse4.1")]
#[inline]
unsafe fn blend16(d: *mut u8, s: *const u8, a: *const u8) {
    let flip = _mm_set1_epi8(-128);
    // SAFETY: bounds from the caller.
    let (dv, sv, av) = unsafe {
        (
            _mm_loadu_si128(d.cast()),
            _mm_loadu_si128(s.cast()),
            _mm_loadu_si128(a.cast()),
        )
    };
    let (sp, dp) = (_mm_xor_si128(sv, flip), _mm_xor_si128(dv, flip));
    let na = _mm_xor_si128(av, _mm_set1_epi8(-1));
    let lo = _mm_maddubs_epi16(_mm_unpacklo_epi8(av, na), _mm_unpacklo_epi8(sp, dp));
    let hi = _mm_maddubs_epi16(_mm_unpackhi_epi8(av, na), _mm_unpackhi_epi8(sp, dp));
    let div = |m: __m128i| {
        let v = _mm_add_epi16(m, _mm_set1_epi16(32767));
        _mm_srli_epi16::<7>(_mm_mulhi_epu16(v, _mm_set1_epi16(0x8081u16 as i16)))
    };
    // SAFETY: 16 writable bytes at `d`.
    unsafe { _mm_storeu_si128(d.cast(), _mm_packus_epi16(div(lo), div(hi))) };
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn blend_impl(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    let n = dst.len();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 elements at `i` in each slice.
        unsafe {
            blend16(
                dst.as_mut_ptr().add(i),
                src.as_ptr().add(i),
                alpha.as_ptr().add(i),
            )
        };
        i += 16;
    }
    if i < n {
        let r = n - i;
        let (mut d, mut s, mut a) = ([0u8; 16], [0u8; 16], [0u8; 16]);
        d[..r].copy_from_slice(&dst[i..]);
        s[..r].copy_from_slice(&src[i..]);
        a[..r].copy_from_slice(&alpha[i..]);
        // SAFETY: the buffers hold 16 bytes.
        unsafe { blend16(d.as_mut_ptr(), s.as_ptr(), a.as_ptr()) };
        dst[i..].copy_from_slice(&d[..r]);
    }
}

// ---------------------------------------------------------------------------------------------
// Audio.

/// `(x * g + 2^13) >> 14` for four samples (the low four of `x`).
#[target_feature(enable = "sse4.1")]
#[inline]
fn term4(x: __m128i, g: __m128i) -> __m128i {
    let p = _mm_mullo_epi32(_mm_cvtepi16_epi32(x), g);
    _mm_srai_epi32::<14>(_mm_add_epi32(p, _mm_set1_epi32(1 << 13)))
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn mix_acc_i16_impl(acc: &mut [i32], x: &[i16], g: i16) {
    let n = acc.len();
    let gv = _mm_set1_epi32(i32::from(g));
    let (a, s) = (acc.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in both slices.
        unsafe {
            let xv = _mm_loadu_si128(s.add(i).cast());
            let t0 = term4(xv, gv);
            let t1 = term4(_mm_srli_si128::<8>(xv), gv);
            _mm_storeu_si128(
                a.add(i).cast(),
                _mm_add_epi32(_mm_loadu_si128(a.add(i).cast()), t0),
            );
            _mm_storeu_si128(
                a.add(i + 4).cast(),
                _mm_add_epi32(_mm_loadu_si128(a.add(i + 4).cast()), t1),
            );
        }
        i += 8;
    }
    scalar::mix_acc_i16(&mut acc[i..], &x[i..], g);
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn mix_store_i16_impl(acc: &[i32], out: &mut [i16]) {
    let n = out.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in both slices.
        unsafe {
            let v0 = _mm_loadu_si128(acc.as_ptr().add(i).cast());
            let v1 = _mm_loadu_si128(acc.as_ptr().add(i + 4).cast());
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm_packs_epi32(v0, v1));
        }
        i += 8;
    }
    scalar::mix_store_i16(&acc[i..], &mut out[i..]);
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn mix_minus_i16_impl(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    let n = out.len();
    let gv = _mm_set1_epi32(i32::from(g));
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 elements at `i` in all slices.
        unsafe {
            let xv = _mm_loadu_si128(x.as_ptr().add(i).cast());
            let v0 = _mm_sub_epi32(_mm_loadu_si128(acc.as_ptr().add(i).cast()), term4(xv, gv));
            let v1 = _mm_sub_epi32(
                _mm_loadu_si128(acc.as_ptr().add(i + 4).cast()),
                term4(_mm_srli_si128::<8>(xv), gv),
            );
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm_packs_epi32(v0, v1));
        }
        i += 8;
    }
    scalar::mix_minus_i16(&acc[i..], &x[i..], g, &mut out[i..]);
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn mix_acc_f32_impl(acc: &mut [f32], x: &[f32], g: f32) {
    let n = acc.len();
    let gv = _mm_set1_ps(g);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: 4 elements at `i` in both slices.
        unsafe {
            let p = _mm_mul_ps(_mm_loadu_ps(x.as_ptr().add(i)), gv);
            let a = acc.as_mut_ptr().add(i);
            _mm_storeu_ps(a, _mm_add_ps(_mm_loadu_ps(a), p));
        }
        i += 4;
    }
    scalar::mix_acc_f32(&mut acc[i..], &x[i..], g);
}

#[target_feature(enable = "sse4.1")]
#[inline]
fn clamp4(v: __m128) -> __m128 {
    _mm_min_ps(_mm_max_ps(v, _mm_set1_ps(-1.0)), _mm_set1_ps(1.0))
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn mix_store_f32_impl(acc: &[f32], out: &mut [f32]) {
    let n = out.len();
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: 4 elements at `i` in both slices.
        unsafe {
            let v = clamp4(_mm_loadu_ps(acc.as_ptr().add(i)));
            _mm_storeu_ps(out.as_mut_ptr().add(i), v);
        }
        i += 4;
    }
    scalar::mix_store_f32(&acc[i..], &mut out[i..]);
}

/// # Safety
/// CPU has SSE4.1; equal lengths.
#[target_feature(enable = "sse4.1")]
unsafe fn mix_minus_f32_impl(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    let n = out.len();
    let gv = _mm_set1_ps(g);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: 4 elements at `i` in all slices.
        unsafe {
            let p = _mm_mul_ps(_mm_loadu_ps(x.as_ptr().add(i)), gv);
            let v = _mm_sub_ps(_mm_loadu_ps(acc.as_ptr().add(i)), p);
            _mm_storeu_ps(out.as_mut_ptr().add(i), clamp4(v));
        }
        i += 4;
    }
    scalar::mix_minus_f32(&acc[i..], &x[i..], g, &mut out[i..]);
}

/// # Safety
/// CPU has SSE4.1.
#[target_feature(enable = "sse4.1")]
unsafe fn sumsq_i16_impl(x: &[i16]) -> u64 {
    let n = x.len();
    let zero = _mm_setzero_si128();
    let mut acc = _mm_setzero_si128();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 samples at `i`.
        let v = unsafe { _mm_loadu_si128(x.as_ptr().add(i).cast()) };
        let m = _mm_madd_epi16(v, v);
        let s = _mm_add_epi64(_mm_unpacklo_epi32(m, zero), _mm_unpackhi_epi32(m, zero));
        acc = _mm_add_epi64(acc, s);
        i += 8;
    }
    let lanes = [
        _mm_cvtsi128_si64(acc) as u64,
        _mm_extract_epi64::<1>(acc) as u64,
    ];
    lanes[0] + lanes[1] + scalar::sumsq_i16(&x[i..])
}

/// # Safety
/// CPU has SSE4.1.
#[target_feature(enable = "sse4.1")]
unsafe fn sumsq_f32_impl(x: &[f32]) -> f64 {
    let n = x.len();
    let mut acc = [_mm_setzero_pd(); 4];
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: 8 samples at `i`.
        let (v0, v1) = unsafe {
            (
                _mm_loadu_ps(x.as_ptr().add(i)),
                _mm_loadu_ps(x.as_ptr().add(i + 4)),
            )
        };
        let parts = [
            _mm_cvtps_pd(v0),
            _mm_cvtps_pd(_mm_movehl_ps(v0, v0)),
            _mm_cvtps_pd(v1),
            _mm_cvtps_pd(_mm_movehl_ps(v1, v1)),
        ];
        for (a, p) in acc.iter_mut().zip(parts) {
            *a = _mm_add_pd(*a, _mm_mul_pd(p, p));
        }
        i += 8;
    }
    let mut lanes = [0.0f64; 8];
    for (k, a) in acc.iter().enumerate() {
        // SAFETY: two doubles fit at `2k`.
        unsafe { _mm_storeu_pd(lanes.as_mut_ptr().add(2 * k), *a) };
    }
    scalar::sumsq_f32_lanes(&x[i..], i, &mut lanes);
    scalar::combine_lanes(&lanes)
}
