//! Quality is proven, not assumed: the fixed-point filters stay within 1 LSB of the same filters
//! evaluated in `f64` (exact overlaps and weights, no intermediate rounding).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tessera_simd::{Filter, Kernels, PlaneMut, PlaneRef, PlaneScaler};

/// Exact per-axis weights in floating point: `(first source index, weights)` per output.
fn float_taps(filter: Filter, src: usize, dst: usize) -> Vec<(usize, Vec<f64>)> {
    let r = src as f64 / dst as f64;
    (0..dst)
        .map(|o| match filter {
            Filter::Box => {
                // Output o covers [o·r, (o+1)·r); source s covers [s, s+1).
                let (lo, hi) = (o as f64 * r, (o + 1) as f64 * r);
                let first = lo.floor() as usize;
                let last = (hi.ceil() as usize).min(src) - 1;
                let w = (first..=last)
                    .map(|s| ((s + 1) as f64).min(hi) - (s as f64).max(lo))
                    .map(|ov| ov.max(0.0) / r)
                    .collect();
                (first, w)
            }
            Filter::Bilinear => {
                let p = ((o as f64 + 0.5) * r - 0.5).clamp(0.0, (src - 1) as f64);
                let s0 = (p.floor() as usize).min(src - 1);
                let f = p - s0 as f64;
                if s0 + 1 < src {
                    (s0, vec![1.0 - f, f])
                } else {
                    (s0, vec![1.0])
                }
            }
        })
        .collect()
}

/// The filter in `f64`: unrounded output values.
fn float_scale(
    filter: Filter,
    src: &[u8],
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
) -> Vec<f64> {
    let (hx, vy) = (float_taps(filter, sw, dw), float_taps(filter, sh, dh));
    let mut out = vec![0.0; dw * dh];
    let mut mid = vec![0.0; sw];
    for (oy, (y0, wy)) in vy.iter().enumerate() {
        for (x, m) in mid.iter_mut().enumerate() {
            *m = wy
                .iter()
                .enumerate()
                .map(|(k, w)| w * f64::from(src[(y0 + k) * sw + x]))
                .sum();
        }
        for (ox, (x0, wx)) in hx.iter().enumerate() {
            out[oy * dw + ox] = wx.iter().enumerate().map(|(k, w)| w * mid[x0 + k]).sum();
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Content {
    Noise,
    Checkerboard,
    Gradient,
    Edges,
}

fn content(kind: Content, w: usize, h: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            match kind {
                Content::Noise => rng.random(),
                Content::Checkerboard => {
                    if (x + y) % 2 == 0 {
                        0
                    } else {
                        255
                    }
                }
                Content::Gradient => ((x * 255 / w.max(1) + y * 97 / h.max(1)) % 256) as u8,
                Content::Edges => {
                    if (x / 7 + y / 5) % 3 == 0 {
                        250
                    } else {
                        5
                    }
                }
            }
        })
        .collect()
}

/// Scale with the specification and with the dispatched kernels; both must equal each other
/// and stay within 1 LSB of the float filter. Returns the mean absolute difference.
fn check(filter: Filter, kind: Content, src: (usize, usize), dst: (usize, usize)) -> f64 {
    let data = content(kind, src.0, src.1, (src.0 * 31 + dst.0) as u64);
    let want = float_scale(filter, &data, src, dst);
    let sp = PlaneRef::new(&data, src.0, src.1, src.0).unwrap();
    let mut got = vec![0u8; dst.0 * dst.1];
    PlaneScaler::reference(src, dst, filter)
        .unwrap()
        .scale(
            &sp,
            &mut PlaneMut::new(&mut got, dst.0, dst.1, dst.0).unwrap(),
        )
        .unwrap();
    let mut fast = vec![0u8; dst.0 * dst.1];
    PlaneScaler::with_kernels(Kernels::get(), src, dst, filter)
        .unwrap()
        .scale(
            &sp,
            &mut PlaneMut::new(&mut fast, dst.0, dst.1, dst.0).unwrap(),
        )
        .unwrap();
    assert!(
        got == fast,
        "dispatched kernels differ from the specification"
    );
    let (mut exact, mut total, mut worst) = (0usize, 0.0f64, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(
            err <= 1.0,
            "{filter:?} {kind:?} {src:?} -> {dst:?}: pixel {i} is {g}, float filter gives {w:.4}"
        );
        if f64::from(g) == w.round() {
            exact += 1;
        }
        total += err;
        worst = worst.max(err);
    }
    let mean = total / got.len() as f64;
    eprintln!(
        "{filter:?} {kind:?} {src:?} -> {dst:?}: max |ours - float| {worst:.3}, mean {mean:.3}, \
         equal to the rounded float value {:.1}%",
        100.0 * exact as f64 / got.len() as f64
    );
    mean
}

const CASES: [((usize, usize), (usize, usize)); 9] = [
    ((1920, 1080), (960, 540)),  // ½
    ((1920, 1080), (640, 360)),  // ⅓, 1080p → 360p
    ((1920, 1080), (1280, 720)), // ⅔
    ((1280, 720), (426, 240)),   // 720p → 240p
    ((1280, 720), (480, 270)),   // 3/8
    ((1280, 720), (320, 180)),   // ¼
    ((97, 53), (13, 7)),         // odd, generic
    ((101, 99), (100, 98)),      // barely shrinking
    ((640, 360), (7, 3)),        // large ratio
];

#[test]
fn box_downscale_is_within_one_lsb_of_float() {
    for (src, dst) in CASES {
        for kind in [
            Content::Noise,
            Content::Checkerboard,
            Content::Gradient,
            Content::Edges,
        ] {
            // Rounding alone gives a mean error of at most 0.5 (all ties); a bias would exceed it.
            let mean = check(Filter::Box, kind, src, dst);
            assert!(
                mean <= 0.5,
                "{kind:?} {src:?} -> {dst:?}: mean error {mean:.3}"
            );
        }
    }
}

#[test]
fn bilinear_is_within_one_lsb_of_float() {
    let up = [
        ((100, 57), (173, 99)),
        ((33, 17), (640, 360)),
        ((2, 2), (9, 9)),
    ];
    for (src, dst) in CASES.into_iter().chain(up) {
        for kind in [Content::Noise, Content::Gradient, Content::Edges] {
            let mean = check(Filter::Bilinear, kind, src, dst);
            assert!(
                mean <= 0.5,
                "{kind:?} {src:?} -> {dst:?}: mean error {mean:.3}"
            );
        }
    }
}
