//! The scalar kernels. **These are the specification**: every other instruction set must produce
//! exactly the same bytes, samples and sums for every input (`tests/bitexact.rs`). They are
//! written for clarity, not speed.
//!
//! The arithmetic (see `docs/SIMD.md` for the derivation of the bounds):
//! * vertical pass: `mid[x] = Σ_k (row_k[x] * wv_k) >> 8`, `wv_k ≤ 32768`, `Σ wv_k = 32768`;
//!   `mid` has 7 fractional bits and is at most `255 << 7`.
//! * horizontal pass: `out[o] = min(255, (Σ_t wh[o][t] * mid[start[o] + t] + r) >> 21)`,
//!   `wh ≤ 16384`, `Σ wh = 16384`, in `i32`, with `r = 2^20 + 2^13 · n` for an output row made
//!   of `n` vertical taps: `2^20` rounds to nearest, `2^13 · n` adds back the mean of the `n`
//!   truncations of the vertical pass (half a unit of `mid` each).
//! * ½ box: `out[o] = (a + b + c + d + 2) >> 2`, equal to the two passes above for that ratio.
//! * blend: `dst = (src * a + dst * (255 - a) + 127) / 255` (integer division).
//! * mixing: `term = (x * g + 2^13) >> 14` in `i32`; sums saturate to `i16`; `f32` sums are
//!   `acc + x * g` (separate multiply and add, no fused multiply-add) clamped to `[-1, 1]`.
//! * sums of squares: exact in `u64` for `i16`; for `f32`, in `f64` over 8 interleaved lanes
//!   (sample `i` goes to lane `i % 8`), combined as `((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7))`.

use crate::scale::{H_SHIFT, HPlan, V_TERM_SHIFT};

/// Vertical pass: weighted sum of `rows` (each at least `mid.len()` bytes) into `mid`.
pub(crate) fn vfilter(rows: &[&[u8]], weights: &[u16], mid: &mut [i16]) {
    assert_eq!(rows.len(), weights.len());
    for (x, m) in mid.iter_mut().enumerate() {
        let mut acc: u32 = 0;
        for (row, &w) in rows.iter().zip(weights) {
            acc += (u32::from(row[x]) * u32::from(w)) >> V_TERM_SHIFT;
        }
        *m = acc as i16;
    }
}

/// Horizontal pass: one output byte per entry of the plan; `round` is the rounding constant
/// ([`crate::scale::h_round`]).
pub(crate) fn hfilter(mid: &[i16], plan: &HPlan, round: i32, out: &mut [u8]) {
    assert!(mid.len() >= plan.mid_len());
    assert_eq!(out.len(), plan.dst_width());
    for (o, dst) in out.iter_mut().enumerate() {
        let start = plan.start(o);
        let mut acc: i32 = 0;
        for t in 0..plan.taps() {
            acc += i32::from(plan.weight(o, t)) * i32::from(mid[start + t]);
        }
        *dst = ((acc + round) >> H_SHIFT).min(255) as u8;
    }
}

/// ½ box: each output is the rounded mean of a 2x2 block.
pub(crate) fn down2(s0: &[u8], s1: &[u8], out: &mut [u8]) {
    assert!(s0.len() >= 2 * out.len() && s1.len() >= 2 * out.len());
    for (o, dst) in out.iter_mut().enumerate() {
        let sum = u16::from(s0[2 * o])
            + u16::from(s0[2 * o + 1])
            + u16::from(s1[2 * o])
            + u16::from(s1[2 * o + 1]);
        *dst = ((sum + 2) >> 2) as u8;
    }
}

/// Alpha blend in place: `dst = (src * a + dst * (255 - a) + 127) / 255`.
pub(crate) fn blend(dst: &mut [u8], src: &[u8], alpha: &[u8]) {
    assert!(src.len() == dst.len() && alpha.len() == dst.len());
    for ((d, &s), &a) in dst.iter_mut().zip(src).zip(alpha) {
        let a = u32::from(a);
        let v = u32::from(s) * a + u32::from(*d) * (255 - a) + 127;
        *d = (v / 255) as u8;
    }
}

/// One stream's contribution: `(x * g + 2^13) >> 14`.
#[inline]
pub(crate) fn term_i16(x: i16, g: i16) -> i32 {
    (i32::from(x) * i32::from(g) + (1 << 13)) >> 14
}

/// `acc += term(x, g)`.
pub(crate) fn mix_acc_i16(acc: &mut [i32], x: &[i16], g: i16) {
    assert_eq!(acc.len(), x.len());
    for (a, &s) in acc.iter_mut().zip(x) {
        *a += term_i16(s, g);
    }
}

/// `out = saturate_i16(acc)`.
pub(crate) fn mix_store_i16(acc: &[i32], out: &mut [i16]) {
    assert_eq!(acc.len(), out.len());
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

/// `out = saturate_i16(acc - term(x, g))`: the total without one input.
pub(crate) fn mix_minus_i16(acc: &[i32], x: &[i16], g: i16, out: &mut [i16]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    for ((o, &a), &s) in out.iter_mut().zip(acc).zip(x) {
        *o = (a - term_i16(s, g)).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

/// `acc += x * g` (multiply, then add: no fused multiply-add).
pub(crate) fn mix_acc_f32(acc: &mut [f32], x: &[f32], g: f32) {
    assert_eq!(acc.len(), x.len());
    for (a, &s) in acc.iter_mut().zip(x) {
        let p = s * g;
        *a += p;
    }
}

/// Clamp to `[-1, 1]` the way `maxps`/`minps` do: NaN becomes -1.
#[inline]
pub(crate) fn clamp_unit(a: f32) -> f32 {
    let t = if a > -1.0 { a } else { -1.0 };
    if t < 1.0 { t } else { 1.0 }
}

/// `out = clamp(acc, -1, 1)`.
pub(crate) fn mix_store_f32(acc: &[f32], out: &mut [f32]) {
    assert_eq!(acc.len(), out.len());
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = clamp_unit(a);
    }
}

/// `out = clamp(acc - x * g, -1, 1)`.
pub(crate) fn mix_minus_f32(acc: &[f32], x: &[f32], g: f32, out: &mut [f32]) {
    assert!(acc.len() == out.len() && x.len() == out.len());
    for ((o, &a), &s) in out.iter_mut().zip(acc).zip(x) {
        let p = s * g;
        *o = clamp_unit(a - p);
    }
}

/// Exact sum of squares.
pub(crate) fn sumsq_i16(x: &[i16]) -> u64 {
    x.iter()
        .map(|&s| {
            let s = i64::from(s);
            (s * s) as u64
        })
        .sum()
}

/// Sum of squares in `f64` over 8 interleaved lanes.
pub(crate) fn sumsq_f32(x: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    sumsq_f32_lanes(x, 0, &mut lanes);
    combine_lanes(&lanes)
}

/// Add the squares of `x` into `lanes`, sample `i` going to lane `(first + i) % 8`.
pub(crate) fn sumsq_f32_lanes(x: &[f32], first: usize, lanes: &mut [f64; 8]) {
    for (i, &s) in x.iter().enumerate() {
        let d = f64::from(s);
        let p = d * d;
        lanes[(first + i) % 8] += p;
    }
}

/// The fixed reduction order of the eight lanes.
pub(crate) fn combine_lanes(l: &[f64; 8]) -> f64 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_by_255_identity_holds_for_every_16_bit_value() {
        // The SIMD blend divides with a high multiply: (v * 0x8081) >> 23.
        for v in 0u32..=u32::from(u16::MAX) {
            assert_eq!((v * 0x8081) >> 23, v / 255, "v = {v}");
        }
    }

    #[test]
    fn blend_extremes() {
        let mut d = [10u8, 10, 200];
        blend(&mut d, &[250, 250, 0], &[0, 255, 128]);
        assert_eq!(d, [10, 250, 100]);
    }

    #[test]
    fn clamp_unit_maps_nan_to_minus_one() {
        assert_eq!(clamp_unit(f32::NAN), -1.0);
        assert_eq!(clamp_unit(2.0), 1.0);
        assert_eq!(clamp_unit(-0.0).to_bits(), (-0.0f32).to_bits());
    }
}
