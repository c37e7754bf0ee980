//! Composition helpers for the MCU's video mixer (OWT spec §5.9.3): scale an input into a
//! region of the canvas with letterbox or crop fit, fill rectangles, draw borders, blend
//! avatars and labels with per-pixel alpha.
//!
//! All coordinates and sizes are luma pixels and are rounded down to even numbers, as OWT does,
//! so every rectangle maps to whole chroma samples.

use crate::plane::{I420Mut, I420Ref, PlaneMut, PlaneRef, Rect, Yuv, chroma_len};
use crate::scale::{FrameScaler, MAX_DOWNSCALE, PlaneScaler};
use crate::{Error, Filter, Kernels};

/// How an input fills a region whose aspect ratio differs from its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FitMode {
    /// Scale the whole input to fit inside the region, centred; the rest of the region is
    /// background (OWT's default, `letterbox`).
    #[default]
    Letterbox,
    /// Scale the input to cover the region, cropping its centre (OWT's `crop`).
    Crop,
}

/// Where a [`RegionScaler::scale_into_region`] call put the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placement {
    /// The region after rounding to even and clamping to the canvas.
    pub region: Rect,
    /// The part of the region the scaled picture covers (canvas coordinates); empty when the
    /// region was too small to show anything.
    pub content: Rect,
    /// The part of the input that was scaled (input coordinates).
    pub source: Rect,
}

const fn even(n: usize) -> usize {
    n & !1
}

/// The region `rect` becomes on a `canvas_w x canvas_h` canvas: origin rounded down to even,
/// size rounded down to even and clamped to the canvas.
pub fn region_on_canvas(rect: Rect, canvas_w: usize, canvas_h: usize) -> Result<Rect, Error> {
    let (x, y) = (even(rect.x), even(rect.y));
    if x >= canvas_w || y >= canvas_h {
        return Err(Error::OutOfBounds {
            what: "region",
            x: rect.x,
            y: rect.y,
            width: rect.width,
            height: rect.height,
            outer_width: canvas_w,
            outer_height: canvas_h,
        });
    }
    Ok(Rect::new(
        x,
        y,
        even(rect.width.min(canvas_w - x)),
        even(rect.height.min(canvas_h - y)),
    ))
}

/// The geometry of fitting a `src_w x src_h` input into a `region` (already even):
/// `(source crop, content rectangle in canvas coordinates)`. Pure arithmetic, exposed so the
/// compositor can report or test layouts without touching pixels.
///
/// * Letterbox: the content keeps the input's aspect ratio with its size rounded down to even,
///   and is centred (offset rounded down to even).
/// * Crop: the source crop has the region's aspect ratio, size rounded down to even (at least
///   1), centred (offset rounded down to even); the content is the whole region.
pub fn fit(src_w: usize, src_h: usize, region: Rect, mode: FitMode) -> (Rect, Rect) {
    let (rw, rh) = (region.width, region.height);
    let full = Rect::new(0, 0, src_w, src_h);
    if rw == 0 || rh == 0 || src_w == 0 || src_h == 0 {
        return (full, Rect::new(region.x, region.y, 0, 0));
    }
    let (sw, sh, w64, h64) = (src_w as u64, src_h as u64, rw as u64, rh as u64);
    match mode {
        FitMode::Letterbox => {
            let (fw, fh) = if sw * h64 >= sh * w64 {
                (rw, even((sh * w64 / sw) as usize).min(rh))
            } else {
                (even((sw * h64 / sh) as usize).min(rw), rh)
            };
            if fw == 0 || fh == 0 {
                return (full, Rect::new(region.x, region.y, 0, 0));
            }
            let content = Rect::new(
                region.x + even((rw - fw) / 2),
                region.y + even((rh - fh) / 2),
                fw,
                fh,
            );
            (full, content)
        }
        FitMode::Crop => {
            let crop = if sw * h64 > sh * w64 {
                let cw = even((sh * w64 / h64) as usize).clamp(1, src_w);
                Rect::new(even((src_w - cw) / 2), 0, cw, src_h)
            } else if sw * h64 < sh * w64 {
                let ch = even((sw * h64 / w64) as usize).clamp(1, src_h);
                Rect::new(0, even((src_h - ch) / 2), src_w, ch)
            } else {
                full
            };
            (crop, region)
        }
    }
}

/// Box when shrinking (or keeping) both axes, bilinear when either axis grows; bilinear also
/// when the shrink exceeds [`MAX_DOWNSCALE`].
fn pick_filter(src: (usize, usize), dst: (usize, usize)) -> Filter {
    let shrinks = dst.0 <= src.0 && dst.1 <= src.1;
    let within = src.0 <= dst.0 * MAX_DOWNSCALE && src.1 <= dst.1 * MAX_DOWNSCALE;
    if shrinks && within {
        Filter::Box
    } else {
        Filter::Bilinear
    }
}

/// Fill `rect` (even, inside the canvas) with `color`; empty rectangles are a no-op.
fn fill_even(canvas: &mut I420Mut<'_>, rect: Rect, color: Yuv) -> Result<(), Error> {
    if rect.is_empty() {
        return Ok(());
    }
    canvas.sub_mut(rect)?.fill(color);
    Ok(())
}

/// Scales inputs into one canvas region, keeping the weight tables between frames: it
/// re-plans (allocates) only when the input size, region size or fit changes.
#[derive(Debug)]
pub struct RegionScaler {
    kernels: &'static Kernels,
    scaler: Option<FrameScaler>,
}

impl Default for RegionScaler {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionScaler {
    /// A region scaler using the kernels chosen at start-up.
    pub fn new() -> Self {
        Self::with_kernels(Kernels::get())
    }

    /// The same, with an explicit kernel table.
    pub fn with_kernels(kernels: &'static Kernels) -> Self {
        RegionScaler {
            kernels,
            scaler: None,
        }
    }

    /// Scale `src` into `rect` of `canvas` with the given fit; uncovered parts of the region
    /// are painted `background`. `rect` is rounded down to even and clamped to the canvas (it
    /// must start inside it).
    pub fn scale_into_region(
        &mut self,
        src: &I420Ref<'_>,
        canvas: &mut I420Mut<'_>,
        rect: Rect,
        mode: FitMode,
        background: Yuv,
    ) -> Result<Placement, Error> {
        let region = region_on_canvas(rect, canvas.width(), canvas.height())?;
        let (source, content) = fit(src.width(), src.height(), region, mode);
        let placement = Placement {
            region,
            content,
            source,
        };
        if content.is_empty() {
            fill_even(canvas, region, background)?;
            return Ok(placement);
        }
        // Bars around the content (letterbox); none for crop.
        let (r, c) = (region, content);
        fill_even(canvas, Rect::new(r.x, r.y, r.width, c.y - r.y), background)?;
        fill_even(
            canvas,
            Rect::new(
                r.x,
                c.y + c.height,
                r.width,
                r.y + r.height - c.y - c.height,
            ),
            background,
        )?;
        fill_even(canvas, Rect::new(r.x, c.y, c.x - r.x, c.height), background)?;
        fill_even(
            canvas,
            Rect::new(c.x + c.width, c.y, r.x + r.width - c.x - c.width, c.height),
            background,
        )?;

        let from = (source.width, source.height);
        let to = (content.width, content.height);
        let filter = pick_filter(from, to);
        let reuse = self
            .scaler
            .as_ref()
            .is_some_and(|s| s.src_size() == from && s.dst_size() == to && s.filter() == filter);
        if !reuse {
            self.scaler = Some(FrameScaler::with_kernels(self.kernels, from, to, filter)?);
        }
        let scaler = self.scaler.as_mut().expect("set just above");
        let src = src.crop(source)?;
        let mut dst = canvas.sub_mut(content)?;
        scaler.scale(&src, &mut dst)?;
        Ok(placement)
    }
}

/// One-shot [`RegionScaler::scale_into_region`] (plans, and so allocates, on every call).
pub fn scale_into_region(
    src: &I420Ref<'_>,
    canvas: &mut I420Mut<'_>,
    rect: Rect,
    mode: FitMode,
    background: Yuv,
) -> Result<Placement, Error> {
    RegionScaler::new().scale_into_region(src, canvas, rect, mode, background)
}

/// Paint `rect` (rounded down to even, clamped to the canvas) with `color`. Returns the
/// rectangle painted.
pub fn fill_rect(canvas: &mut I420Mut<'_>, rect: Rect, color: Yuv) -> Result<Rect, Error> {
    let r = region_on_canvas(rect, canvas.width(), canvas.height())?;
    fill_even(canvas, r, color)?;
    Ok(r)
}

/// Paint every part of the canvas that none of `regions` covers (each rounded and clamped as
/// [`region_on_canvas`] does; regions that start outside the canvas are ignored). With
/// [`RegionScaler::scale_into_region`] painting the rest, each canvas pixel is written once per
/// frame instead of twice (fill everything, then scale over it). Allocates nothing.
pub fn fill_uncovered(canvas: &mut I420Mut<'_>, regions: &[Rect], color: Yuv) -> Result<(), Error> {
    let (cw, ch) = (canvas.width(), canvas.height());
    let rect = |r: &Rect| region_on_canvas(*r, cw, ch).ok().filter(|r| !r.is_empty());
    let mut y = 0;
    while y < ch {
        // Rows [y, band_end) are covered by the same set of regions.
        let band_end = regions
            .iter()
            .filter_map(rect)
            .flat_map(|r| [r.y, r.y + r.height])
            .filter(|&e| e > y)
            .fold(ch, usize::min);
        let covers = |r: &Rect| r.y <= y && y < r.y + r.height;
        let mut x = 0;
        while x < cw {
            if let Some(r) = regions
                .iter()
                .filter_map(rect)
                .find(|r| covers(r) && r.x <= x && x < r.x + r.width)
            {
                x = r.x + r.width;
                continue;
            }
            let next = regions
                .iter()
                .filter_map(rect)
                .filter(|r| covers(r) && r.x > x)
                .map(|r| r.x)
                .fold(cw, usize::min);
            fill_even(canvas, Rect::new(x, y, next - x, band_end - y), color)?;
            x = next;
        }
        y = band_end;
    }
    Ok(())
}

/// Draw a border of `thickness` pixels (rounded down to even, at least 2) just inside `rect`
/// (rounded down to even, clamped to the canvas). Returns the rectangle framed.
pub fn draw_border(
    canvas: &mut I420Mut<'_>,
    rect: Rect,
    thickness: usize,
    color: Yuv,
) -> Result<Rect, Error> {
    let r = region_on_canvas(rect, canvas.width(), canvas.height())?;
    let t = even(thickness)
        .max(2)
        .min(even(r.width / 2))
        .min(even(r.height / 2));
    if t == 0 {
        fill_even(canvas, r, color)?;
        return Ok(r);
    }
    fill_even(canvas, Rect::new(r.x, r.y, r.width, t), color)?;
    fill_even(
        canvas,
        Rect::new(r.x, r.y + r.height - t, r.width, t),
        color,
    )?;
    fill_even(canvas, Rect::new(r.x, r.y + t, t, r.height - 2 * t), color)?;
    fill_even(
        canvas,
        Rect::new(r.x + r.width - t, r.y + t, t, r.height - 2 * t),
        color,
    )?;
    Ok(r)
}

/// Make the chroma-resolution alpha plane for [`Kernels::blend_i420`] from a luma-resolution
/// one: the box average of each 2x2 block (`alpha_uv` must be `ceil(w/2) x ceil(h/2)`).
/// Meant for static assets (avatars, labels): it builds a scaler, so it allocates.
pub fn chroma_alpha(alpha_y: &PlaneRef<'_>, alpha_uv: &mut PlaneMut<'_>) -> Result<(), Error> {
    let (w, h) = (alpha_y.width(), alpha_y.height());
    PlaneScaler::new(w, h, chroma_len(w), chroma_len(h), Filter::Box)?.scale(alpha_y, alpha_uv)
}

impl Kernels {
    /// Blend `src` over `dst` in place with per-pixel `alpha` (255 = `src`):
    /// `dst = (src·a + dst·(255−a) + 127) / 255`. All three must have the same size.
    pub fn blend_plane(
        &self,
        dst: &mut PlaneMut<'_>,
        src: &PlaneRef<'_>,
        alpha: &PlaneRef<'_>,
    ) -> Result<(), Error> {
        for (what, p) in [("blend source", src), ("blend alpha", alpha)] {
            if (p.width(), p.height()) != (dst.width(), dst.height()) {
                return Err(Error::GeometryMismatch {
                    what,
                    width: p.width(),
                    height: p.height(),
                    expected_width: dst.width(),
                    expected_height: dst.height(),
                });
            }
        }
        for y in 0..dst.height() {
            (self.blend)(dst.row_mut(y), src.row(y), alpha.row(y));
        }
        Ok(())
    }

    /// Blend an I420 picture (an avatar, a label) onto `canvas` at `(x, y)` (even) with
    /// per-pixel alpha at luma and chroma resolution (see [`chroma_alpha`]).
    pub fn blend_i420(
        &self,
        canvas: &mut I420Mut<'_>,
        x: usize,
        y: usize,
        src: &I420Ref<'_>,
        alpha_y: &PlaneRef<'_>,
        alpha_uv: &PlaneRef<'_>,
    ) -> Result<(), Error> {
        let mut dst = canvas.sub_mut(Rect::new(x, y, src.width(), src.height()))?;
        self.blend_plane(&mut dst.y, &src.y, alpha_y)?;
        self.blend_plane(&mut dst.u, &src.u, alpha_uv)?;
        self.blend_plane(&mut dst.v, &src.v, alpha_uv)
    }
}

/// [`Kernels::blend_i420`] with the kernels chosen at start-up.
pub fn blend_i420(
    canvas: &mut I420Mut<'_>,
    x: usize,
    y: usize,
    src: &I420Ref<'_>,
    alpha_y: &PlaneRef<'_>,
    alpha_uv: &PlaneRef<'_>,
) -> Result<(), Error> {
    Kernels::get().blend_i420(canvas, x, y, src, alpha_y, alpha_uv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::I420Frame;

    #[test]
    fn regions_round_down_to_even_and_clamp() {
        assert_eq!(
            region_on_canvas(Rect::new(427, 241, 427, 241), 1280, 720).unwrap(),
            Rect::new(426, 240, 426, 240)
        );
        assert_eq!(
            region_on_canvas(Rect::new(1200, 700, 427, 241), 1280, 720).unwrap(),
            Rect::new(1200, 700, 80, 20)
        );
        assert!(region_on_canvas(Rect::new(1280, 0, 2, 2), 1280, 720).is_err());
    }

    #[test]
    fn letterbox_centres_and_keeps_aspect() {
        // 16:9 into a 4:3 region: full width, bars top and bottom.
        let (src, c) = fit(1280, 720, Rect::new(0, 0, 640, 480), FitMode::Letterbox);
        assert_eq!(src, Rect::new(0, 0, 1280, 720));
        assert_eq!(c, Rect::new(0, 60, 640, 360));
        // 4:3 into 16:9: full height, bars left and right.
        let (_, c) = fit(640, 480, Rect::new(10, 20, 426, 240), FitMode::Letterbox);
        assert_eq!(c, Rect::new(10 + 52, 20, 320, 240));
    }

    #[test]
    fn crop_takes_the_centre() {
        let (src, c) = fit(1280, 720, Rect::new(0, 0, 480, 480), FitMode::Crop);
        assert_eq!(src, Rect::new(280, 0, 720, 720));
        assert_eq!(c, Rect::new(0, 0, 480, 480));
        let (src, _) = fit(640, 480, Rect::new(0, 0, 640, 360), FitMode::Crop);
        assert_eq!(src, Rect::new(0, 60, 640, 360));
    }

    #[test]
    fn scale_into_region_paints_bars_and_content() {
        let src = I420Frame::new(64, 36, Yuv::new(200, 50, 60)).unwrap();
        let mut canvas = I420Frame::new(96, 96, Yuv::new(1, 2, 3)).unwrap();
        let bg = Yuv::new(16, 128, 128);
        let p = scale_into_region(
            &src.view(),
            &mut canvas.view_mut(),
            Rect::new(16, 16, 65, 65),
            FitMode::Letterbox,
            bg,
        )
        .unwrap();
        assert_eq!(p.region, Rect::new(16, 16, 64, 64));
        assert_eq!(p.content, Rect::new(16, 30, 64, 36));
        let v = canvas.view();
        assert_eq!(v.y.row(16)[20], 16); // top bar
        assert_eq!(v.y.row(30)[20], 200); // content
        assert_eq!(v.u.row(15)[10], 50);
        assert_eq!(v.y.row(66)[20], 16); // bottom bar
        assert_eq!(v.y.row(79)[20], 16);
        assert_eq!(v.y.row(80)[20], 1);
        assert_eq!(v.y.row(81)[20], 1); // outside the region
        assert_eq!(v.y.row(20)[15], 1);
    }

    #[test]
    fn fill_uncovered_paints_exactly_the_gaps() {
        let mut canvas = I420Frame::new(40, 30, Yuv::new(1, 2, 3)).unwrap();
        let regions = [
            Rect::new(0, 0, 20, 10),
            Rect::new(21, 0, 19, 10), // rounds to x 20, width 18
            Rect::new(10, 12, 10, 10),
            Rect::new(100, 0, 4, 4), // outside: ignored
        ];
        fill_uncovered(&mut canvas.view_mut(), &regions, Yuv::new(9, 8, 7)).unwrap();
        let v = canvas.view();
        for y in 0..30 {
            for x in 0..40 {
                let covered =
                    (y < 10 && x < 38) || ((12..22).contains(&y) && (10..20).contains(&x));
                let want = if covered { 1 } else { 9 };
                assert_eq!(v.y.row(y)[x], want, "luma {x},{y}");
                assert_eq!(
                    v.u.row(y / 2)[x / 2],
                    if covered { 2 } else { 8 },
                    "cb {x},{y}"
                );
            }
        }
    }

    #[test]
    fn border_frames_the_rectangle() {
        let mut canvas = I420Frame::new(32, 32, Yuv::BLACK).unwrap();
        let white = Yuv::new(235, 128, 128);
        draw_border(&mut canvas.view_mut(), Rect::new(4, 4, 20, 20), 3, white).unwrap();
        let v = canvas.view();
        assert_eq!(v.y.row(4)[4], 235);
        assert_eq!(v.y.row(5)[12], 235);
        assert_eq!(v.y.row(6)[12], 16);
        assert_eq!(v.y.row(12)[22], 235);
        assert_eq!(v.y.row(12)[21], 16);
        assert_eq!(v.y.row(24)[12], 16);
    }
}
