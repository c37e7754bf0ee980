//! What the SIMD benches and comparison tests share: deterministic natural-looking test pictures,
//! PSNR and a median timer.

use std::time::{Duration, Instant};

use tessera_simd::{I420Frame, PlaneRef, Yuv};

/// SplitMix64: a tiny deterministic generator for test content.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Smooth value noise: random values on a lattice of `cell` pixels, interpolated with a
/// smoothstep.
struct ValueNoise {
    cols: usize,
    cell: f64,
    values: Vec<f64>,
}

impl ValueNoise {
    fn new(width: usize, height: usize, cell: f64, rng: &mut SplitMix) -> Self {
        let cols = (width as f64 / cell) as usize + 3;
        let rows = (height as f64 / cell) as usize + 3;
        let values = (0..cols * rows).map(|_| rng.range(-1.0, 1.0)).collect();
        ValueNoise { cols, cell, values }
    }

    fn at(&self, x: f64, y: f64) -> f64 {
        let (fx, fy) = (x / self.cell, y / self.cell);
        let (ix, iy) = (fx.floor() as usize, fy.floor() as usize);
        let s = |t: f64| t * t * (3.0 - 2.0 * t);
        let (tx, ty) = (s(fx - fx.floor()), s(fy - fy.floor()));
        let v = |c: usize, r: usize| self.values[r * self.cols + c];
        let top = v(ix, iy) * (1.0 - tx) + v(ix + 1, iy) * tx;
        let bottom = v(ix, iy + 1) * (1.0 - tx) + v(ix + 1, iy + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// One plane of a synthetic "natural" picture: a lit gradient, soft blobs, objects with hard
/// (but anti-aliased) edges, multi-scale texture and a little sensor noise.
fn natural_plane(
    width: usize,
    height: usize,
    scale: f64,
    base: f64,
    rng: &mut SplitMix,
) -> Vec<u8> {
    let (w, h) = (width as f64, height as f64);
    let gx = rng.range(-40.0, 40.0);
    let gy = rng.range(-40.0, 40.0);
    let blobs: Vec<(f64, f64, f64, f64)> = (0..6)
        .map(|_| {
            (
                rng.range(0.0, w),
                rng.range(0.0, h),
                rng.range(0.05, 0.2) * w,
                rng.range(-60.0, 60.0),
            )
        })
        .collect();
    // Objects: discs and boxes with a value step at the edge.
    let objects: Vec<(bool, f64, f64, f64, f64, f64)> = (0..8)
        .map(|i| {
            (
                i % 2 == 0,
                rng.range(0.1, 0.9) * w,
                rng.range(0.1, 0.9) * h,
                rng.range(0.04, 0.15) * w,
                rng.range(0.04, 0.15) * h,
                if rng.unit() < 0.5 { -1.0 } else { 1.0 } * rng.range(40.0, 100.0),
            )
        })
        .collect();
    let coarse = ValueNoise::new(width, height, 24.0 * scale, rng);
    let fine = ValueNoise::new(width, height, 5.0 * scale, rng);
    let finest = ValueNoise::new(width, height, 2.0 * scale.max(1.0), rng);
    let mut out = vec![0u8; width * height];
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let mut v = base + gx * (fx / w - 0.5) + gy * (fy / h - 0.5);
            for &(bx, by, r, a) in &blobs {
                let d2 = ((fx - bx).powi(2) + (fy - by).powi(2)) / (r * r);
                v += a * (-d2).exp();
            }
            for &(disc, ox, oy, rx, ry, a) in &objects {
                // Signed distance in pixels (approximate), anti-aliased over one pixel.
                let d = if disc {
                    (((fx - ox) / rx).powi(2) + ((fy - oy) / ry).powi(2)).sqrt() - 1.0
                } else {
                    ((fx - ox).abs() / rx).max((fy - oy).abs() / ry) - 1.0
                };
                let px = d * rx.min(ry);
                v += a * (0.5 - px).clamp(0.0, 1.0);
            }
            v += 25.0 * coarse.at(fx, fy) + 14.0 * fine.at(fx, fy) + 10.0 * finest.at(fx, fy);
            v += rng.range(-3.0, 3.0);
            out[y * width + x] = v.round().clamp(16.0, 235.0) as u8;
        }
    }
    out
}

/// A deterministic natural-looking I420 picture (seeded; no files).
pub fn natural_frame(width: usize, height: usize, seed: u64) -> I420Frame {
    let mut rng = SplitMix::new(seed);
    let (cw, ch) = (
        tessera_simd::chroma_len(width),
        tessera_simd::chroma_len(height),
    );
    let scale = width as f64 / 1280.0;
    let y = natural_plane(width, height, scale.max(0.25), 120.0, &mut rng);
    let u = natural_plane(cw, ch, (scale / 2.0).max(0.25), 128.0, &mut rng)
        .into_iter()
        .map(|v| (128 + (i32::from(v) - 128) / 2) as u8)
        .collect();
    let v = natural_plane(cw, ch, (scale / 2.0).max(0.25), 128.0, &mut rng)
        .into_iter()
        .map(|v| (128 + (i32::from(v) - 128) / 2) as u8)
        .collect();
    I420Frame::from_planes(width, height, y, u, v).expect("sizes computed above")
}

/// Peak signal-to-noise ratio between two planes of equal size, in dB (infinite if equal).
pub fn psnr(a: &PlaneRef<'_>, b: &PlaneRef<'_>) -> f64 {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let mut se = 0u64;
    for y in 0..a.height() {
        for (&p, &q) in a.row(y).iter().zip(b.row(y)) {
            let d = i64::from(p) - i64::from(q);
            se += (d * d) as u64;
        }
    }
    if se == 0 {
        return f64::INFINITY;
    }
    let mse = se as f64 / (a.width() * a.height()) as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Run `f` repeatedly (after one warm-up call) for about `budget` and at least `min_runs`
/// times; return the median duration of one call. `setup` runs before each call, untimed.
pub fn median_time<S: FnMut(), F: FnMut()>(
    budget: Duration,
    min_runs: usize,
    mut setup: S,
    mut f: F,
) -> Duration {
    setup();
    f();
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < min_runs || (start.elapsed() < budget && samples.len() < 100_000) {
        setup();
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// A frame painted one colour, for canvases.
pub fn canvas(width: usize, height: usize) -> I420Frame {
    I420Frame::new(width, height, Yuv::BLACK).expect("valid canvas size")
}
