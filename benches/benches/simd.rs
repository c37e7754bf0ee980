//! `cargo bench -p tessera-benches --bench simd`
//!
//! Tessera's SIMD kernels against libyuv (what OWT's MCU uses) and against the memory system,
//! in one run, printing times and ratios (`docs/BENCHMARKS.md` records the results):
//!
//! 1. I420 box downscaling at ½, ⅓, ⅔, 1080p→360p and 720p→240p: libyuv `I420Scale(kFilterBox)`
//!    vs ours on every instruction set this CPU has.
//! 2. Composition of 3×3 and 4×4 grids of 720p inputs into 720p and 1080p canvases (letterbox):
//!    ours (fill + `RegionScaler` per region) vs an OWT-style libyuv compose (`I420Rect` +
//!    `I420Scale(kFilterBox)` per region), sources warm.
//! 3. The same compose with every source flushed from the caches before each pass, against
//!    `memcpy` of the same number of bytes (also flushed).
//! 4. Alpha blending of a 720p plane: libyuv `BlendPlane` vs ours on every instruction set.
//! 5. Mixing 100 streams of 10 ms (480 samples at 48 kHz): total, 100 mix-minus outputs and
//!    100 levels, as a share of one core's 10 ms.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use tessera_benches::libyuv::{self, FilterMode};
use tessera_benches::media::{SplitMix, canvas, median_time, natural_frame};
use tessera_simd::{
    Filter, FitMode, FrameScaler, Gain, I420Frame, Isa, Kernels, MixMinusF32, MixMinusI16, Rect,
    RegionScaler, Yuv, fill_uncovered, fit, region_on_canvas,
};

const BUDGET: Duration = Duration::from_millis(400);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn tables() -> Vec<&'static Kernels> {
    Isa::ALL
        .into_iter()
        .filter_map(|i| Kernels::for_isa(i).ok())
        .collect()
}

fn scaling() {
    println!("\n## I420 box downscale, one frame (ms, median; sources warm)\n");
    let ts = tables();
    let mut header = String::from("| case | libyuv |");
    for k in &ts {
        header += &format!(" {} |", k.isa());
    }
    header += " libyuv / ours |";
    println!("{header}");
    println!("|{}", "---|".repeat(ts.len() + 3));
    let cases = [
        ("1/2  1920x1080 -> 960x540", (1920, 1080), (960, 540)),
        ("1/3  1920x1080 -> 640x360", (1920, 1080), (640, 360)),
        ("2/3  1920x1080 -> 1280x720", (1920, 1080), (1280, 720)),
        (
            "1080p -> 360p  1920x1080 -> 640x360",
            (1920, 1080),
            (640, 360),
        ),
        ("720p -> 240p  1280x720 -> 426x240", (1280, 720), (426, 240)),
    ];
    let chosen = Kernels::get().isa();
    for (name, src, dst) in cases {
        let input = natural_frame(src.0, src.1, 42);
        let mut out = canvas(dst.0, dst.1);
        let yuv = median_time(
            BUDGET,
            5,
            || {},
            || {
                let s = input.view();
                let mut d = out.view_mut();
                black_box(libyuv::i420_scale(&s, &mut d, FilterMode::Box));
            },
        );
        let mut row = format!("| {name} | {:.3} |", ms(yuv));
        let mut ours_chosen = Duration::ZERO;
        for &k in &ts {
            let mut sc = FrameScaler::with_kernels(k, src, dst, Filter::Box).unwrap();
            let t = median_time(
                BUDGET,
                5,
                || {},
                || {
                    sc.scale(&input.view(), &mut out.view_mut()).unwrap();
                },
            );
            if k.isa() == chosen {
                ours_chosen = t;
            }
            row += &format!(" {:.3} |", ms(t));
        }
        row += &format!(
            " **{:.2}x** ({chosen}) |",
            yuv.as_secs_f64() / ours_chosen.as_secs_f64()
        );
        println!("{row}");
    }
}

/// The fluid d×d layout of OWT (spec §5.9.1): cell i at (i % d, i / d), size canvas / d.
fn grid(d: usize, cw: usize, ch: usize) -> Vec<Rect> {
    (0..d * d)
        .map(|i| {
            let (c, r) = (i % d, i / d);
            let (x0, y0) = (c * cw / d, r * ch / d);
            let (x1, y1) = ((c + 1) * cw / d, (r + 1) * ch / d);
            region_on_canvas(Rect::new(x0, y0, x1 - x0, y1 - y0), cw, ch).unwrap()
        })
        .collect()
}

struct Compose {
    name: String,
    inputs: Vec<I420Frame>,
    regions: Vec<Rect>,
    canvas: I420Frame,
    scalers: Vec<RegionScaler>,
}

impl Compose {
    fn new(d: usize, cw: usize, ch: usize, input: (usize, usize)) -> Compose {
        let inputs = (0..d * d)
            .map(|i| natural_frame(input.0, input.1, 100 + i as u64))
            .collect();
        Compose {
            name: format!("{d}x{d} of {}x{} -> {cw}x{ch}", input.0, input.1),
            inputs,
            regions: grid(d, cw, ch),
            canvas: canvas(cw, ch),
            scalers: (0..d * d).map(|_| RegionScaler::new()).collect(),
        }
    }

    fn source_bytes(&self) -> usize {
        self.inputs
            .iter()
            .map(|f| {
                let (y, u, v) = f.planes();
                y.len() + u.len() + v.len()
            })
            .sum()
    }

    fn canvas_bytes(&self) -> usize {
        let (y, u, v) = self.canvas.planes();
        y.len() + u.len() + v.len()
    }

    /// Our compose: paint only what no region covers, then scale each input into its region
    /// (which paints its own letterbox bars).
    fn ours(&mut self) {
        let bg = Yuv::BLACK;
        let mut c = self.canvas.view_mut();
        fill_uncovered(&mut c, &self.regions, bg).unwrap();
        for ((s, input), &r) in self.scalers.iter_mut().zip(&self.inputs).zip(&self.regions) {
            s.scale_into_region(&input.view(), &mut c, r, FitMode::Letterbox, bg)
                .unwrap();
        }
    }

    /// OWT's compose with libyuv: paint the whole canvas, then `I420Scale` (box) each input into
    /// its letterboxed rectangle.
    fn libyuv(&mut self) {
        let bg = Yuv::BLACK;
        let mut c = self.canvas.view_mut();
        let whole = Rect::new(0, 0, c.width(), c.height());
        libyuv::i420_rect(&mut c, whole, bg);
        for (input, &r) in self.inputs.iter().zip(&self.regions) {
            let (_, content) = fit(input.width(), input.height(), r, FitMode::Letterbox);
            let mut dst = c.sub_mut(content).unwrap();
            libyuv::i420_scale(&input.view(), &mut dst, FilterMode::Box);
        }
    }

    fn flush_sources(&self) {
        for f in &self.inputs {
            let (y, u, v) = f.planes();
            flush(y);
            flush(u);
            flush(v);
        }
    }
}

/// Evict `buf` from every cache level.
fn flush(buf: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_clflush, _mm_mfence};
        for line in buf.chunks(64) {
            // SAFETY: `line` points into a live slice; CLFLUSH (SSE2, part of x86-64) only
            // evicts the cache line.
            unsafe { _mm_clflush(line.as_ptr()) };
        }
        // SAFETY: a fence has no memory-safety preconditions.
        unsafe { _mm_mfence() };
    }
}

/// Median of 15 passes of `pass`, each after flushing the sources.
fn cold_median(c: &mut Compose, pass: fn(&mut Compose)) -> Duration {
    let mut t: Vec<Duration> = (0..15)
        .map(|_| {
            c.flush_sources();
            let s = std::time::Instant::now();
            pass(c);
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn composing() {
    println!("\n## Compose, letterbox, one output frame (ms, median; sources warm)\n");
    println!(
        "| grid | ours ({}) | OWT-style libyuv | libyuv / ours |",
        Kernels::get().isa()
    );
    println!("|---|---|---|---|");
    for (d, cw, ch) in [
        (3, 1280, 720),
        (4, 1280, 720),
        (3, 1920, 1080),
        (4, 1920, 1080),
    ] {
        let mut c = Compose::new(d, cw, ch, (1280, 720));
        let ours = median_time(BUDGET, 5, || {}, || c.ours());
        let yuv = median_time(BUDGET, 5, || {}, || c.libyuv());
        println!(
            "| {} | {:.3} | {:.3} | **{:.2}x** |",
            c.name,
            ms(ours),
            ms(yuv),
            yuv.as_secs_f64() / ours.as_secs_f64()
        );
    }
}

fn cold() {
    println!("\n## Compose with sources cold in DRAM vs memcpy bandwidth\n");
    println!(
        "Every source frame (and the memcpy source, the same number of bytes) is flushed from \
         all caches with CLFLUSH before each timed pass; median of 15. Bandwidth = source bytes \
         per second: bytes copied per second for memcpy, source bytes composed per second for \
         a compose, so `ours / memcpy` is memcpy time / compose time. The traffic column counts \
         bytes read plus bytes written instead (2 x source for memcpy; source + canvas for a \
         compose).\n"
    );
    println!(
        "| grid | source MB | memcpy ms | memcpy GB/s | ours ms | ours GB/s | **ours / memcpy** | ours / memcpy, traffic | libyuv ms | libyuv / memcpy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (d, cw, ch) in [
        (3, 1280, 720),
        (4, 1280, 720),
        (3, 1920, 1080),
        (4, 1920, 1080),
    ] {
        let mut c = Compose::new(d, cw, ch, (1280, 720));
        let n = c.source_bytes();
        let src = vec![7u8; n];
        let mut dst = vec![0u8; n];
        let copy = median_time(
            BUDGET,
            15,
            || flush(&src),
            || {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            },
        );
        let ours = cold_median(&mut c, Compose::ours);
        let yuv = cold_median(&mut c, Compose::libyuv);
        let gbs = |bytes: f64, t: Duration| bytes / t.as_secs_f64() / 1e9;
        let traffic = gbs((n + c.canvas_bytes()) as f64, ours) / gbs(2.0 * n as f64, copy);
        println!(
            "| {} | {:.1} | {:.3} | {:.1} | {:.3} | {:.1} | **{:.0}%** | {:.0}% | {:.3} | {:.0}% |",
            c.name,
            n as f64 / 1e6,
            ms(copy),
            gbs(n as f64, copy),
            ms(ours),
            gbs(n as f64, ours),
            100.0 * copy.as_secs_f64() / ours.as_secs_f64(),
            100.0 * traffic,
            ms(yuv),
            100.0 * copy.as_secs_f64() / yuv.as_secs_f64(),
        );
    }
}

fn blending() {
    println!("\n## Alpha blend of a 1280x720 plane, in place (ms, median)\n");
    let ts = tables();
    let mut header = String::from("| case | libyuv BlendPlane |");
    for k in &ts {
        header += &format!(" {} |", k.isa());
    }
    header += " libyuv / ours |";
    println!("{header}");
    println!("|{}", "---|".repeat(ts.len() + 3));
    let (w, h) = (1280, 720);
    let fg = natural_frame(w, h, 5);
    let alpha = natural_frame(w, h, 6);
    let mut bg = natural_frame(w, h, 7);
    let fgv = fg.view();
    let av = alpha.view();
    let yuv = median_time(
        BUDGET,
        5,
        || {},
        || {
            libyuv::blend_plane(&mut bg.view_mut().y, &fgv.y, &av.y);
        },
    );
    let mut row = format!("| 1280x720 luma | {:.3} |", ms(yuv));
    let chosen = Kernels::get().isa();
    let mut ours = Duration::ZERO;
    for &k in &ts {
        let t = median_time(
            BUDGET,
            5,
            || {},
            || {
                k.blend_plane(&mut bg.view_mut().y, &fgv.y, &av.y).unwrap();
            },
        );
        if k.isa() == chosen {
            ours = t;
        }
        row += &format!(" {:.3} |", ms(t));
    }
    row += &format!(
        " **{:.2}x** ({chosen}) |",
        yuv.as_secs_f64() / ours.as_secs_f64()
    );
    println!("{row}");
}

fn mixing() {
    const STREAMS: usize = 100;
    const FRAME: usize = 480; // 10 ms at 48 kHz, mono
    println!(
        "\n## Mixing {STREAMS} streams x 10 ms ({FRAME} samples at 48 kHz), per 10 ms frame (µs, median)\n"
    );
    println!(
        "\"full\" = total + {STREAMS} mix-minus outputs + {STREAMS} RFC 6464 levels. Share of one core = time / 10 ms.\n"
    );
    let mut rng = SplitMix::new(9);
    let inputs: Vec<Vec<i16>> = (0..STREAMS)
        .map(|_| {
            (0..FRAME)
                .map(|_| (rng.range(-1.0, 1.0) * 12000.0) as i16)
                .collect()
        })
        .collect();
    let views: Vec<&[i16]> = inputs.iter().map(|v| &v[..]).collect();
    let gains: Vec<Gain> = (0..STREAMS)
        .map(|_| Gain::from_linear(rng.range(0.3, 1.5) as f32))
        .collect();
    let finputs: Vec<Vec<f32>> = inputs
        .iter()
        .map(|v| v.iter().map(|&s| f32::from(s) / 32768.0).collect())
        .collect();
    let fviews: Vec<&[f32]> = finputs.iter().map(|v| &v[..]).collect();
    let fgains: Vec<f32> = gains.iter().map(|g| g.linear()).collect();

    println!(
        "| ISA | i16 mix | i16 full | i16 full, % core | f32 mix | f32 full | f32 full, % core |"
    );
    println!("|---|---|---|---|---|---|---|");
    for k in tables() {
        let mut out = vec![0i16; FRAME];
        let mix = median_time(
            BUDGET,
            50,
            || {},
            || {
                k.mix_i16(&views, &gains, &mut out).unwrap();
                black_box(&mut out);
            },
        );
        let mut mm = MixMinusI16::with_kernels(k, FRAME);
        let mut outs = vec![vec![0i16; FRAME]; STREAMS];
        let mut levels = [0u8; STREAMS];
        let full = median_time(
            BUDGET,
            50,
            || {},
            || {
                mm.set_inputs(&views, &gains).unwrap();
                for (p, o) in outs.iter_mut().enumerate() {
                    mm.write_minus(views[p], gains[p], o).unwrap();
                }
                for (l, v) in levels.iter_mut().zip(&views) {
                    *l = k.level_dbov_i16(v);
                }
                black_box((&mut outs, &mut levels));
            },
        );
        let mut fout = vec![0f32; FRAME];
        let fmix = median_time(
            BUDGET,
            50,
            || {},
            || {
                k.mix_f32(&fviews, &fgains, &mut fout).unwrap();
                black_box(&mut fout);
            },
        );
        let mut fmm = MixMinusF32::with_kernels(k, FRAME);
        let mut fouts = vec![vec![0f32; FRAME]; STREAMS];
        let ffull = median_time(
            BUDGET,
            50,
            || {},
            || {
                fmm.set_inputs(&fviews, &fgains).unwrap();
                for (p, o) in fouts.iter_mut().enumerate() {
                    fmm.write_minus(fviews[p], fgains[p], o).unwrap();
                }
                for (l, v) in levels.iter_mut().zip(&fviews) {
                    *l = k.level_dbov_f32(v);
                }
                black_box((&mut fouts, &mut levels));
            },
        );
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let pct = |d: Duration| 100.0 * d.as_secs_f64() / 0.010;
        println!(
            "| {} | {:.1} | {:.1} | {:.3}% | {:.1} | {:.1} | {:.3}% |",
            k.isa(),
            us(mix),
            us(full),
            pct(full),
            us(fmix),
            us(ffull),
            pct(ffull)
        );
    }
}

fn main() {
    let start = std::time::Instant::now();
    let k = Kernels::get();
    println!(
        "# tessera-simd vs libyuv\n\nDispatched ISA: {} (best supported: {}; TESSERA_SIMD={})",
        k.isa(),
        Isa::best_supported(),
        std::env::var(tessera_simd::ENV_VAR).unwrap_or_else(|_| "unset".into())
    );
    // `cargo bench ... -- scale compose` runs only the named sections.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let sections: [(&str, fn()); 5] = [
        ("scale", scaling),
        ("compose", composing),
        ("cold", cold),
        ("blend", blending),
        ("mix", mixing),
    ];
    for (name, f) in sections {
        if run(name) {
            f();
        }
    }
    println!("\nTotal bench time: {:.1} s", start.elapsed().as_secs_f64());
}
