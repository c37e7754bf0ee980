//! Every kernel on every instruction set this CPU has, compared bit for bit with the scalar
//! specification: widths 1 ..= 4 × (widest vector) + 1, odd heights, plane offsets of 1–3 bytes,
//! strides larger than the width, destinations pre-filled with sentinels (and checked untouched
//! outside the written area).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tessera_simd::{
    Filter, FitMode, Gain, I420Mut, I420Ref, Isa, Kernels, MixMinusF32, MixMinusI16, PlaneMut,
    PlaneRef, PlaneScaler, Rect, RegionScaler, Yuv,
};

/// The widest vector any table uses, in bytes.
const WIDEST: usize = 64;
const MAX_WIDTH: usize = 4 * WIDEST + 1;
const SENTINEL: u8 = 0xA5;

/// The SIMD tables this CPU supports (the scalar one is the reference).
fn simd_tables() -> Vec<&'static Kernels> {
    Isa::ALL
        .into_iter()
        .filter(|&isa| isa != Isa::Scalar)
        .filter_map(|isa| match Kernels::for_isa(isa) {
            Ok(k) => Some(k),
            Err(_) => {
                eprintln!("note: skipping {isa}: not supported by this CPU");
                None
            }
        })
        .collect()
}

/// A plane buffer: `height` rows of `stride` bytes, the plane starting `offset` bytes in.
struct Buf {
    data: Vec<u8>,
    offset: usize,
    width: usize,
    height: usize,
    stride: usize,
}

impl Buf {
    fn new(width: usize, height: usize, offset: usize, pad: usize, fill: u8) -> Buf {
        let stride = width + offset + pad;
        Buf {
            data: vec![fill; offset + height * stride + 7],
            offset,
            width,
            height,
            stride,
        }
    }

    fn random(width: usize, height: usize, offset: usize, pad: usize, rng: &mut StdRng) -> Buf {
        let mut b = Buf::new(width, height, offset, pad, 0);
        rng.fill(&mut b.data[..]);
        b
    }

    fn view(&self) -> PlaneRef<'_> {
        PlaneRef::new(
            &self.data[self.offset..],
            self.width,
            self.height,
            self.stride,
        )
        .unwrap()
    }

    fn view_mut(&mut self) -> PlaneMut<'_> {
        PlaneMut::new(
            &mut self.data[self.offset..],
            self.width,
            self.height,
            self.stride,
        )
        .unwrap()
    }

    /// Every byte outside the plane still holds the sentinel.
    fn assert_outside_untouched(&self, what: &str) {
        for (i, &b) in self.data.iter().enumerate() {
            let inside = i >= self.offset && {
                let r = i - self.offset;
                r / self.stride < self.height && r % self.stride < self.width
            };
            if !inside {
                assert_eq!(
                    b, SENTINEL,
                    "{what}: byte {i} outside the plane was written"
                );
            }
        }
    }
}

fn scale_case(
    tables: &[&'static Kernels],
    filter: Filter,
    src: (usize, usize),
    dst: (usize, usize),
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (so, doff) = (1 + (seed % 3) as usize, 1 + ((seed / 3) % 3) as usize);
    let input = Buf::random(src.0, src.1, so, 1 + (seed % 5) as usize, &mut rng);
    let mut want = Buf::new(dst.0, dst.1, doff, 3, SENTINEL);
    PlaneScaler::reference(src, dst, filter)
        .unwrap()
        .scale(&input.view(), &mut want.view_mut())
        .unwrap();
    want.assert_outside_untouched("reference");
    // The scalar table with its fast paths (row copy, fused ½) must match the definition too.
    for &k in std::iter::once(&Kernels::scalar()).chain(tables) {
        let mut got = Buf::new(dst.0, dst.1, doff, 3, SENTINEL);
        PlaneScaler::with_kernels(k, src, dst, filter)
            .unwrap()
            .scale(&input.view(), &mut got.view_mut())
            .unwrap();
        assert!(
            got.data == want.data,
            "{} {filter:?} {src:?} -> {dst:?} (seed {seed}) differs from scalar",
            k.isa()
        );
    }
}

#[test]
fn scaling_matches_scalar_at_every_width() {
    let tables = simd_tables();
    let mut seed = 0;
    for dw in 1..=MAX_WIDTH {
        // (source width, source height, destination height) per ratio; heights are odd where
        // the ratio allows.
        let cases = [
            (2 * dw, 6, 3),               // ½: fused fast path
            (3 * dw, 9, 3),               // ⅓
            ((3 * dw).div_ceil(2), 5, 3), // ≈ ⅔
            (dw * 3 + dw / 7 + 1, 7, 2),  // ≈ 3.14: four taps, some five
            (dw * 6 + 5, 15, 2),          // ≈ 6.7: two groups of four
            (dw.div_ceil(2), 3, 5),       // ≈ ×2 upscale
            (dw, 3, 7),                   // horizontal identity, vertical upscale
        ];
        for (sw, sh, dh) in cases {
            for filter in [Filter::Box, Filter::Bilinear] {
                seed += 1;
                scale_case(&tables, filter, (sw, sh), (dw, dh), seed);
            }
        }
    }
}

#[test]
fn scaling_matches_scalar_at_every_source_width() {
    // The vertical pass runs at the source width: sweep it directly, small outputs.
    let tables = simd_tables();
    for sw in 1..=MAX_WIDTH {
        for (dw, sh, dh) in [
            (sw.div_ceil(3), 5, 1),
            (sw.div_ceil(2), 3, 1),
            (sw.div_ceil(100), 1, 1),
        ] {
            scale_case(&tables, Filter::Box, (sw, sh), (dw, dh), sw as u64);
            scale_case(&tables, Filter::Bilinear, (sw, sh), (dw, dh), sw as u64 + 7);
        }
    }
}

#[test]
fn large_frames_match_scalar() {
    let tables = simd_tables();
    for (src, dst) in [
        ((1920, 1080), (640, 360)),
        ((1280, 720), (426, 240)),
        ((1920, 1080), (1280, 720)),
        ((1280, 720), (320, 180)),
        ((640, 360), (1280, 720)),
        ((1280, 720), (480, 270)),
        ((1920, 1080), (960, 540)),
    ] {
        scale_case(&tables, Filter::Box, src, dst, 99);
        scale_case(&tables, Filter::Bilinear, src, dst, 98);
    }
}

#[test]
fn extreme_ratios_match_scalar() {
    let tables = simd_tables();
    for (src, dst) in [
        ((1280, 700), (10, 6)),
        ((128 * 3, 128), (3, 1)),
        ((3, 2), (700, 9)),
        ((1, 1), (65, 3)),
        ((77, 1), (1, 1)),
    ] {
        scale_case(&tables, Filter::Box, src, dst, 5);
        scale_case(&tables, Filter::Bilinear, src, dst, 6);
    }
}

#[test]
fn blend_matches_scalar_at_every_width() {
    let tables = simd_tables();
    let scalar = Kernels::scalar();
    let mut rng = StdRng::seed_from_u64(7);
    for w in 1..=MAX_WIDTH {
        let h = 3;
        let off = 1 + w % 3;
        let src = Buf::random(w, h, 1 + (w + 1) % 3, 2, &mut rng);
        let mut alpha = Buf::random(w, h, 1 + (w + 2) % 3, 5, &mut rng);
        // Make sure the extremes occur.
        for (i, a) in alpha.data.iter_mut().enumerate() {
            match i % 7 {
                0 => *a = 0,
                1 => *a = 255,
                _ => {}
            }
        }
        let mut base = Buf::random(w, h, off, 4, &mut rng);
        // Sentinels outside the plane.
        for i in 0..base.data.len() {
            let inside = i >= off && {
                let r = i - off;
                r / base.stride < h && r % base.stride < w
            };
            if !inside {
                base.data[i] = SENTINEL;
            }
        }
        let mut want = Buf {
            data: base.data.clone(),
            ..Buf::new(w, h, off, 4, 0)
        };
        scalar
            .blend_plane(&mut want.view_mut(), &src.view(), &alpha.view())
            .unwrap();
        want.assert_outside_untouched("blend reference");
        for &k in &tables {
            let mut got = Buf {
                data: base.data.clone(),
                ..Buf::new(w, h, off, 4, 0)
            };
            k.blend_plane(&mut got.view_mut(), &src.view(), &alpha.view())
                .unwrap();
            assert!(got.data == want.data, "{} blend width {w} differs", k.isa());
        }
    }
}

/// Random `i16` samples with the extremes sprinkled in.
fn samples_i16(n: usize, rng: &mut StdRng) -> Vec<i16> {
    (0..n)
        .map(|i| match i % 11 {
            0 => i16::MIN,
            1 => i16::MAX,
            _ => rng.random(),
        })
        .collect()
}

fn samples_f32(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.5f32..1.5)).collect()
}

#[test]
fn audio_matches_scalar_at_every_length_and_frame_size() {
    let tables = simd_tables();
    let scalar = Kernels::scalar();
    let mut rng = StdRng::seed_from_u64(11);
    const GUARD: i16 = 0x5A5A;
    // Every short length, plus 10 ms and 20 ms at 48 kHz (mono and interleaved stereo).
    for len in (0..=MAX_WIDTH).chain([480, 960, 1920]) {
        let off = 1 + len % 3;
        let inputs: Vec<Vec<i16>> = (0..5).map(|_| samples_i16(len + off, &mut rng)).collect();
        let views: Vec<&[i16]> = inputs.iter().map(|v| &v[off..]).collect();
        let gains = [
            Gain::UNITY,
            Gain::from_q14(i16::MAX),
            Gain::from_q14(i16::MIN),
            Gain::from_q14(rng.random()),
            Gain::MUTE,
        ];
        let finputs: Vec<Vec<f32>> = (0..5).map(|_| samples_f32(len + off, &mut rng)).collect();
        let fviews: Vec<&[f32]> = finputs.iter().map(|v| &v[off..]).collect();
        let fgains = [1.0f32, 0.5, -2.0, rng.random_range(-2.0..2.0), 0.0];

        let run_i16 = |k: &'static Kernels| {
            let mut outs = Vec::new();
            for n in [0, 1, 5] {
                let mut buf = vec![GUARD; len + 2 * off];
                k.mix_i16(&views[..n], &gains[..n], &mut buf[off..off + len])
                    .unwrap();
                outs.push(buf);
            }
            let mut mm = MixMinusI16::with_kernels(k, len);
            mm.set_inputs(&views, &gains).unwrap();
            let mut buf = vec![GUARD; len + 2 * off];
            mm.write_total(&mut buf[off..off + len]).unwrap();
            outs.push(buf);
            for p in 0..views.len() {
                let mut buf = vec![GUARD; len + 2 * off];
                mm.write_minus(views[p], gains[p], &mut buf[off..off + len])
                    .unwrap();
                outs.push(buf);
            }
            let sums: Vec<u64> = views.iter().map(|v| k.sum_squares_i16(v)).collect();
            let levels: Vec<u8> = views.iter().map(|v| k.level_dbov_i16(v)).collect();
            (outs, sums, levels)
        };
        let run_f32 = |k: &'static Kernels| {
            let mut outs = Vec::new();
            let mut buf = vec![9.0f32; len + 2 * off];
            k.mix_f32(&fviews, &fgains, &mut buf[off..off + len])
                .unwrap();
            outs.push(buf);
            let mut mm = MixMinusF32::with_kernels(k, len);
            mm.set_inputs(&fviews, &fgains).unwrap();
            for p in 0..fviews.len() {
                let mut buf = vec![9.0f32; len + 2 * off];
                mm.write_minus(fviews[p], fgains[p], &mut buf[off..off + len])
                    .unwrap();
                outs.push(buf);
            }
            let bits: Vec<Vec<u32>> = outs
                .iter()
                .map(|o| o.iter().map(|x| x.to_bits()).collect())
                .collect();
            let sums: Vec<u64> = fviews
                .iter()
                .map(|v| k.sum_squares_f32(v).to_bits())
                .collect();
            let levels: Vec<u8> = fviews.iter().map(|v| k.level_dbov_f32(v)).collect();
            (bits, sums, levels)
        };

        let want = run_i16(scalar);
        let fwant = run_f32(scalar);
        for buf in &want.0 {
            assert!(buf[..off].iter().all(|&s| s == GUARD));
            assert!(buf[off + len..].iter().all(|&s| s == GUARD));
        }
        for &k in &tables {
            assert!(run_i16(k) == want, "{} i16 audio, length {len}", k.isa());
            assert!(run_f32(k) == fwant, "{} f32 audio, length {len}", k.isa());
        }
    }
}

#[test]
fn compose_matches_scalar() {
    let tables = simd_tables();
    let mut rng = StdRng::seed_from_u64(3);
    let mut frame = |w: usize, h: usize| {
        let mut f = tessera_simd::I420Frame::new(w, h, Yuv::BLACK).unwrap();
        let (y, u, v) = f.planes_mut();
        rng.fill(y);
        rng.fill(u);
        rng.fill(v);
        f
    };
    let inputs = [
        frame(1280, 720),
        frame(640, 480),
        frame(181, 99),
        frame(90, 160),
    ];
    let compose = |k: &'static Kernels| {
        let mut canvas = tessera_simd::I420Frame::new(642, 362, Yuv::new(1, 2, 3)).unwrap();
        let mut scalers: Vec<RegionScaler> =
            (0..9).map(|_| RegionScaler::with_kernels(k)).collect();
        for (i, s) in scalers.iter_mut().enumerate() {
            let rect = Rect::new((i % 3) * 214 + 1, (i / 3) * 120 + 1, 213, 121);
            let fit = if i % 2 == 0 {
                FitMode::Letterbox
            } else {
                FitMode::Crop
            };
            let src: I420Ref<'_> = inputs[i % inputs.len()].view();
            let mut dst: I420Mut<'_> = canvas.view_mut();
            s.scale_into_region(&src, &mut dst, rect, fit, Yuv::new(16, 128, 128))
                .unwrap();
        }
        canvas
    };
    let want = compose(Kernels::scalar());
    for &k in &tables {
        assert!(compose(k) == want, "{} compose differs", k.isa());
    }
}
