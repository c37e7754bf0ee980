//! Property tests: random geometry, strides, offsets and data; every instruction set this CPU
//! has must equal the scalar specification.

use proptest::prelude::*;
use tessera_simd::{
    Filter, Gain, Isa, Kernels, MixMinusF32, MixMinusI16, PlaneMut, PlaneRef, PlaneScaler,
};

fn tables() -> Vec<&'static Kernels> {
    Isa::ALL
        .into_iter()
        .filter_map(|i| Kernels::for_isa(i).ok())
        .collect()
}

fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Geometry of one scaling case: sizes, offsets, stride padding.
#[derive(Debug, Clone)]
struct Case {
    src: (usize, usize),
    dst: (usize, usize),
    filter: Filter,
    offsets: (usize, usize),
    pads: (usize, usize),
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..300, 1usize..12, 1usize..300, 1usize..12),
        prop_oneof![Just(Filter::Box), Just(Filter::Bilinear)],
        (0usize..4, 0usize..4, 0usize..9, 0usize..9),
        any::<u64>(),
    )
        .prop_filter("box ratio limit", |((sw, sh, dw, dh), f, _, _)| {
            *f == Filter::Bilinear || (*sw <= dw * 128 && *sh <= dh * 128)
        })
        .prop_map(
            |((sw, sh, dw, dh), filter, (so, doff, sp, dp), seed)| Case {
                src: (sw, sh),
                dst: (dw, dh),
                filter,
                offsets: (so, doff),
                pads: (sp, dp),
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn scaling_equals_the_specification(c in case()) {
        let (sw, sh) = c.src;
        let (dw, dh) = c.dst;
        let sstride = sw + c.pads.0;
        let input = bytes(c.seed, c.offsets.0 + sh * sstride);
        let src = PlaneRef::new(&input[c.offsets.0..], sw, sh, sstride).unwrap();
        let dstride = dw + c.pads.1;
        let len = c.offsets.1 + dh * dstride + 5;
        let mut want = vec![0x5Au8; len];
        PlaneScaler::reference(c.src, c.dst, c.filter)
            .unwrap()
            .scale(&src, &mut PlaneMut::new(&mut want[c.offsets.1..], dw, dh, dstride).unwrap())
            .unwrap();
        for k in tables() {
            let mut got = vec![0x5Au8; len];
            PlaneScaler::with_kernels(k, c.src, c.dst, c.filter)
                .unwrap()
                .scale(&src, &mut PlaneMut::new(&mut got[c.offsets.1..], dw, dh, dstride).unwrap())
                .unwrap();
            prop_assert!(got == want, "{} differs", k.isa());
        }
    }

    #[test]
    fn blending_equals_the_specification(w in 1usize..300, h in 1usize..4, seed: u64) {
        let src = bytes(seed, w * h);
        let alpha = bytes(seed ^ 0xFF, w * h);
        let base = bytes(seed ^ 0xF0F0, w * h);
        let run = |k: &'static Kernels| {
            let mut d = base.clone();
            k.blend_plane(
                &mut PlaneMut::new(&mut d, w, h, w).unwrap(),
                &PlaneRef::new(&src, w, h, w).unwrap(),
                &PlaneRef::new(&alpha, w, h, w).unwrap(),
            )
            .unwrap();
            d
        };
        let want = run(Kernels::scalar());
        for k in tables() {
            prop_assert!(run(k) == want, "{} differs", k.isa());
        }
    }

    #[test]
    fn mixing_equals_the_specification(
        n in 0usize..8,
        len in 0usize..300,
        q in proptest::collection::vec(any::<i16>(), 8),
        fg in proptest::collection::vec(-2.0f32..2.0, 8),
        seed: u64,
    ) {
        let inputs: Vec<Vec<i16>> = (0..n as u64)
            .map(|i| {
                bytes(seed.wrapping_add(i), 2 * len)
                    .chunks(2)
                    .map(|p| i16::from_le_bytes([p[0], p[1]]))
                    .collect()
            })
            .collect();
        let views: Vec<&[i16]> = inputs.iter().map(|v| &v[..]).collect();
        let gains: Vec<Gain> = q[..n].iter().map(|&g| Gain::from_q14(g)).collect();
        let finputs: Vec<Vec<f32>> = inputs
            .iter()
            .map(|v| v.iter().map(|&s| f32::from(s) / 20000.0).collect())
            .collect();
        let fviews: Vec<&[f32]> = finputs.iter().map(|v| &v[..]).collect();
        let run = |k: &'static Kernels| {
            let mut out = vec![0i16; len];
            k.mix_i16(&views, &gains, &mut out).unwrap();
            let mut mm = MixMinusI16::with_kernels(k, len);
            mm.set_inputs(&views, &gains).unwrap();
            let mut minus = Vec::new();
            for p in 0..n {
                let mut o = vec![0i16; len];
                mm.write_minus(views[p], gains[p], &mut o).unwrap();
                minus.push(o);
            }
            let mut fout = vec![0f32; len];
            k.mix_f32(&fviews, &fg[..n], &mut fout).unwrap();
            let mut fmm = MixMinusF32::with_kernels(k, len);
            fmm.set_inputs(&fviews, &fg[..n]).unwrap();
            let mut fminus = Vec::new();
            for p in 0..n {
                let mut o = vec![0f32; len];
                fmm.write_minus(fviews[p], fg[p], &mut o).unwrap();
                fminus.push(o.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            }
            let sums: Vec<(u64, u64, u8, u8)> = views
                .iter()
                .zip(&fviews)
                .map(|(v, f)| {
                    (
                        k.sum_squares_i16(v),
                        k.sum_squares_f32(f).to_bits(),
                        k.level_dbov_i16(v),
                        k.level_dbov_f32(f),
                    )
                })
                .collect();
            (out, minus, fout.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), fminus, sums)
        };
        let want = run(Kernels::scalar());
        for k in tables() {
            prop_assert!(run(k) == want, "{} differs", k.isa());
        }
    }
}
