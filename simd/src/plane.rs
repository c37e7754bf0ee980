//! Borrowed views of 8-bit planes and I420 frames, with geometry validated once at construction.
//!
//! A plane view is `height` rows of `width` bytes, row `y` starting at byte `y * stride` of its
//! slice. The slice may end right after the last row's last pixel (`(height - 1) * stride +
//! width` bytes), so a sub-view of a larger buffer needs no padding after it.

use crate::Error;

/// Largest width or height any view accepts. Keeps every index computation inside `i32`.
pub const MAX_DIMENSION: usize = 16384;

fn check_geometry(
    what: &'static str,
    len: usize,
    width: usize,
    height: usize,
    stride: usize,
) -> Result<(), Error> {
    if width == 0 || height == 0 {
        return Err(Error::EmptyPlane {
            what,
            width,
            height,
        });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::TooLarge {
            what,
            width,
            height,
            max: MAX_DIMENSION,
        });
    }
    if stride < width {
        return Err(Error::StrideTooSmall {
            what,
            stride,
            width,
        });
    }
    let needed = (height - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(width))
        .ok_or(Error::BufferTooSmall {
            what,
            len,
            needed: usize::MAX,
        })?;
    if len < needed {
        return Err(Error::BufferTooSmall { what, len, needed });
    }
    Ok(())
}

fn check_rect(what: &'static str, rect: Rect, width: usize, height: usize) -> Result<(), Error> {
    let fits = rect.width >= 1
        && rect.height >= 1
        && rect.x.checked_add(rect.width).is_some_and(|r| r <= width)
        && rect.y.checked_add(rect.height).is_some_and(|b| b <= height);
    if fits {
        Ok(())
    } else {
        Err(Error::OutOfBounds {
            what,
            x: rect.x,
            y: rect.y,
            width: rect.width,
            height: rect.height,
            outer_width: width,
            outer_height: height,
        })
    }
}

/// A rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
}

impl Rect {
    /// A rectangle from its left, top, width and height.
    pub const fn new(x: usize, y: usize, width: usize, height: usize) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// Whether it covers no pixel.
    pub const fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Every coordinate and size rounded down to even, as I420 composition requires (OWT spec
    /// §5.9.3).
    pub const fn even(self) -> Rect {
        Rect {
            x: self.x & !1,
            y: self.y & !1,
            width: self.width & !1,
            height: self.height & !1,
        }
    }
}

/// A colour in Y'CbCr (the values written into the three planes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Yuv {
    /// Luma.
    pub y: u8,
    /// Cb.
    pub u: u8,
    /// Cr.
    pub v: u8,
}

impl Yuv {
    /// Black in BT.601 limited range, OWT's default background (`bgColor` {0,0,0}).
    pub const BLACK: Yuv = Yuv {
        y: 16,
        u: 128,
        v: 128,
    };

    /// A colour from its three components.
    pub const fn new(y: u8, u: u8, v: u8) -> Yuv {
        Yuv { y, u, v }
    }

    /// Convert 8-bit RGB to BT.601 limited-range Y'CbCr (how OWT turns `bgColor` into the
    /// canvas colour), rounding to nearest.
    pub fn from_rgb_bt601(r: u8, g: u8, b: u8) -> Yuv {
        let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
        // Coefficients scaled by 2^16 (BT.601, studio swing).
        let y = (16_829 * r + 33_039 * g + 6_416 * b + (16 << 16) + (1 << 15)) >> 16;
        let u = (-9_714 * r - 19_071 * g + 28_784 * b + (128 << 16) + (1 << 15)) >> 16;
        let v = (28_784 * r - 24_103 * g - 4_681 * b + (128 << 16) + (1 << 15)) >> 16;
        let c = |x: i32| x.clamp(0, 255) as u8;
        Yuv {
            y: c(y),
            u: c(u),
            v: c(v),
        }
    }
}

/// A read-only view of one 8-bit plane.
#[derive(Debug, Clone, Copy)]
pub struct PlaneRef<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a> PlaneRef<'a> {
    /// View `data` as `height` rows of `width` bytes, `stride` bytes apart.
    pub fn new(data: &'a [u8], width: usize, height: usize, stride: usize) -> Result<Self, Error> {
        check_geometry("plane", data.len(), width, height, stride)?;
        Ok(PlaneRef {
            data,
            width,
            height,
            stride,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes from one row to the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Pointer to pixel (0, 0), valid for reads of `(height - 1) * stride + width` bytes while
    /// the view lives; for handing the plane to C code (codecs, libyuv in the benches).
    pub fn as_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }

    /// Row `y` (exactly `width` bytes). Panics if `y >= height`, like slice indexing.
    pub fn row(&self, y: usize) -> &'a [u8] {
        assert!(y < self.height, "row {y} of a {}-row plane", self.height);
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }

    /// The part of this plane inside `rect`.
    pub fn sub(&self, rect: Rect) -> Result<PlaneRef<'a>, Error> {
        check_rect("sub-plane", rect, self.width, self.height)?;
        let start = rect.y * self.stride + rect.x;
        Ok(PlaneRef {
            data: &self.data[start..],
            width: rect.width,
            height: rect.height,
            stride: self.stride,
        })
    }
}

/// A writable view of one 8-bit plane.
#[derive(Debug)]
pub struct PlaneMut<'a> {
    data: &'a mut [u8],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a> PlaneMut<'a> {
    /// View `data` as `height` rows of `width` bytes, `stride` bytes apart.
    pub fn new(
        data: &'a mut [u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<Self, Error> {
        check_geometry("plane", data.len(), width, height, stride)?;
        Ok(PlaneMut {
            data,
            width,
            height,
            stride,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes from one row to the next.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `y` (exactly `width` bytes). Panics if `y >= height`, like slice indexing.
    pub fn row(&self, y: usize) -> &[u8] {
        self.as_ref().row(y)
    }

    /// Pointer to pixel (0, 0), valid for reads and writes of `(height - 1) * stride + width`
    /// bytes while this view is borrowed; for handing the plane to C code.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }

    /// Row `y`, writable (exactly `width` bytes). Panics if `y >= height`.
    pub fn row_mut(&mut self, y: usize) -> &mut [u8] {
        assert!(y < self.height, "row {y} of a {}-row plane", self.height);
        let start = y * self.stride;
        &mut self.data[start..start + self.width]
    }

    /// A read-only view of the same pixels.
    pub fn as_ref(&self) -> PlaneRef<'_> {
        PlaneRef {
            data: self.data,
            width: self.width,
            height: self.height,
            stride: self.stride,
        }
    }

    /// A shorter-lived writable view of the same pixels.
    pub fn reborrow(&mut self) -> PlaneMut<'_> {
        PlaneMut {
            data: self.data,
            width: self.width,
            height: self.height,
            stride: self.stride,
        }
    }

    /// The part of this plane inside `rect`, writable.
    pub fn sub_mut(&mut self, rect: Rect) -> Result<PlaneMut<'_>, Error> {
        check_rect("sub-plane", rect, self.width, self.height)?;
        let start = rect.y * self.stride + rect.x;
        Ok(PlaneMut {
            data: &mut self.data[start..],
            width: rect.width,
            height: rect.height,
            stride: self.stride,
        })
    }

    /// Set every pixel to `value` (a `memset` per row; the C library's is already vectorised).
    pub fn fill(&mut self, value: u8) {
        for y in 0..self.height {
            self.row_mut(y).fill(value);
        }
    }
}

/// Chroma size for a luma size: `ceil(n / 2)`.
pub const fn chroma_len(n: usize) -> usize {
    n.div_ceil(2)
}

fn check_chroma(y: (usize, usize), u: (usize, usize), v: (usize, usize)) -> Result<(), Error> {
    let expected = (chroma_len(y.0), chroma_len(y.1));
    if u == expected && v == expected {
        Ok(())
    } else {
        Err(Error::ChromaMismatch {
            width: y.0,
            height: y.1,
            u_width: u.0,
            u_height: u.1,
            v_width: v.0,
            v_height: v.1,
            expected_width: expected.0,
            expected_height: expected.1,
        })
    }
}

fn check_even_offset(what: &'static str, rect: Rect) -> Result<(), Error> {
    if rect.x.is_multiple_of(2) && rect.y.is_multiple_of(2) {
        Ok(())
    } else {
        Err(Error::OddOffset {
            what,
            x: rect.x,
            y: rect.y,
        })
    }
}

/// The chroma rectangle of an I420 luma rectangle whose offset is even.
fn chroma_rect(rect: Rect) -> Rect {
    Rect::new(
        rect.x / 2,
        rect.y / 2,
        chroma_len(rect.width),
        chroma_len(rect.height),
    )
}

/// A read-only I420 frame: a luma plane and two chroma planes of `ceil(w/2) x ceil(h/2)`.
#[derive(Debug, Clone, Copy)]
pub struct I420Ref<'a> {
    /// Luma.
    pub y: PlaneRef<'a>,
    /// Cb.
    pub u: PlaneRef<'a>,
    /// Cr.
    pub v: PlaneRef<'a>,
}

impl<'a> I420Ref<'a> {
    /// A frame from its three planes; the chroma sizes must match the luma size.
    pub fn new(y: PlaneRef<'a>, u: PlaneRef<'a>, v: PlaneRef<'a>) -> Result<Self, Error> {
        check_chroma(
            (y.width, y.height),
            (u.width, u.height),
            (v.width, v.height),
        )?;
        Ok(I420Ref { y, u, v })
    }

    /// Luma width.
    pub fn width(&self) -> usize {
        self.y.width
    }

    /// Luma height.
    pub fn height(&self) -> usize {
        self.y.height
    }

    /// The part of the frame inside `rect` (luma coordinates; `x` and `y` must be even).
    pub fn crop(&self, rect: Rect) -> Result<I420Ref<'a>, Error> {
        check_even_offset("crop", rect)?;
        let c = chroma_rect(rect);
        Ok(I420Ref {
            y: self.y.sub(rect)?,
            u: self.u.sub(c)?,
            v: self.v.sub(c)?,
        })
    }
}

/// A writable I420 frame.
#[derive(Debug)]
pub struct I420Mut<'a> {
    /// Luma.
    pub y: PlaneMut<'a>,
    /// Cb.
    pub u: PlaneMut<'a>,
    /// Cr.
    pub v: PlaneMut<'a>,
}

impl<'a> I420Mut<'a> {
    /// A frame from its three planes; the chroma sizes must match the luma size.
    pub fn new(y: PlaneMut<'a>, u: PlaneMut<'a>, v: PlaneMut<'a>) -> Result<Self, Error> {
        check_chroma(
            (y.width, y.height),
            (u.width, u.height),
            (v.width, v.height),
        )?;
        Ok(I420Mut { y, u, v })
    }

    /// Luma width.
    pub fn width(&self) -> usize {
        self.y.width
    }

    /// Luma height.
    pub fn height(&self) -> usize {
        self.y.height
    }

    /// A read-only view of the same frame.
    pub fn as_ref(&self) -> I420Ref<'_> {
        I420Ref {
            y: self.y.as_ref(),
            u: self.u.as_ref(),
            v: self.v.as_ref(),
        }
    }

    /// A shorter-lived writable view of the same frame.
    pub fn reborrow(&mut self) -> I420Mut<'_> {
        I420Mut {
            y: self.y.reborrow(),
            u: self.u.reborrow(),
            v: self.v.reborrow(),
        }
    }

    /// The part of the frame inside `rect` (luma coordinates; `x` and `y` must be even).
    pub fn sub_mut(&mut self, rect: Rect) -> Result<I420Mut<'_>, Error> {
        check_even_offset("region", rect)?;
        let c = chroma_rect(rect);
        Ok(I420Mut {
            y: self.y.sub_mut(rect)?,
            u: self.u.sub_mut(c)?,
            v: self.v.sub_mut(c)?,
        })
    }

    /// Paint the whole frame one colour.
    pub fn fill(&mut self, color: Yuv) {
        self.y.fill(color.y);
        self.u.fill(color.u);
        self.v.fill(color.v);
    }
}

/// An owned I420 frame with tightly packed rows (`stride == width`), for tests, avatars and
/// benches. The compositor itself works on borrowed views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420Frame {
    /// A `width x height` frame painted `color`.
    pub fn new(width: usize, height: usize, color: Yuv) -> Result<Self, Error> {
        check_geometry("frame", width * height, width, height, width)?;
        let (cw, ch) = (chroma_len(width), chroma_len(height));
        Ok(I420Frame {
            width,
            height,
            y: vec![color.y; width * height],
            u: vec![color.u; cw * ch],
            v: vec![color.v; cw * ch],
        })
    }

    /// A frame from tightly packed planes (`y` is `width*height` bytes, `u` and `v`
    /// `ceil(w/2)*ceil(h/2)`), such as a raw `.yuv` avatar file split in three.
    pub fn from_planes(
        width: usize,
        height: usize,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Self, Error> {
        let (cw, ch) = (chroma_len(width), chroma_len(height));
        check_geometry("luma", y.len(), width, height, width)?;
        check_geometry("cb", u.len(), cw, ch, cw)?;
        check_geometry("cr", v.len(), cw, ch, cw)?;
        Ok(I420Frame {
            width,
            height,
            y,
            u,
            v,
        })
    }

    /// Luma width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Luma height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The three planes, read-only.
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        (&self.y, &self.u, &self.v)
    }

    /// The three planes, writable.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }

    /// A read-only view.
    pub fn view(&self) -> I420Ref<'_> {
        let (cw, ch) = (chroma_len(self.width), chroma_len(self.height));
        I420Ref {
            y: PlaneRef {
                data: &self.y,
                width: self.width,
                height: self.height,
                stride: self.width,
            },
            u: PlaneRef {
                data: &self.u,
                width: cw,
                height: ch,
                stride: cw,
            },
            v: PlaneRef {
                data: &self.v,
                width: cw,
                height: ch,
                stride: cw,
            },
        }
    }

    /// A writable view.
    pub fn view_mut(&mut self) -> I420Mut<'_> {
        let (cw, ch) = (chroma_len(self.width), chroma_len(self.height));
        I420Mut {
            y: PlaneMut {
                data: &mut self.y,
                width: self.width,
                height: self.height,
                stride: self.width,
            },
            u: PlaneMut {
                data: &mut self.u,
                width: cw,
                height: ch,
                stride: cw,
            },
            v: PlaneMut {
                data: &mut self.v,
                width: cw,
                height: ch,
                stride: cw,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_validated() {
        let buf = [0u8; 100];
        assert!(PlaneRef::new(&buf, 10, 10, 10).is_ok());
        // The last row may end right after its last pixel.
        assert!(PlaneRef::new(&buf[..95], 5, 10, 10).is_ok());
        assert!(matches!(
            PlaneRef::new(&buf[..94], 5, 10, 10),
            Err(Error::BufferTooSmall { needed: 95, .. })
        ));
        assert!(matches!(
            PlaneRef::new(&buf, 10, 2, 9),
            Err(Error::StrideTooSmall { .. })
        ));
        assert!(matches!(
            PlaneRef::new(&buf, 0, 2, 9),
            Err(Error::EmptyPlane { .. })
        ));
        assert!(matches!(
            PlaneRef::new(&buf, MAX_DIMENSION + 1, 1, MAX_DIMENSION + 1),
            Err(Error::TooLarge { .. })
        ));
        let p = PlaneRef::new(&buf, 10, 10, 10).unwrap();
        assert!(p.sub(Rect::new(8, 8, 3, 1)).is_err());
        assert_eq!(p.sub(Rect::new(8, 8, 2, 2)).unwrap().width(), 2);
    }

    #[test]
    fn crops_keep_chroma_aligned() {
        let f = I420Frame::new(7, 5, Yuv::BLACK).unwrap();
        let v = f.view();
        assert_eq!(v.u.width(), 4);
        assert_eq!(v.u.height(), 3);
        let c = v.crop(Rect::new(2, 2, 5, 3)).unwrap();
        assert_eq!((c.u.width(), c.u.height()), (3, 2));
        assert!(matches!(
            v.crop(Rect::new(1, 0, 2, 2)),
            Err(Error::OddOffset { .. })
        ));
    }

    #[test]
    fn bt601_black_and_white() {
        assert_eq!(Yuv::from_rgb_bt601(0, 0, 0), Yuv::BLACK);
        assert_eq!(Yuv::from_rgb_bt601(255, 255, 255), Yuv::new(235, 128, 128));
    }
}
