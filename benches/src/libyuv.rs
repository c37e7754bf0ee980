//! Hand-written bindings for the few libyuv functions the benches compare against (Debian
//! `libyuv-dev`, linked by `build.rs`), with safe wrappers over `tessera-simd` views.

use std::os::raw::c_int;

use tessera_simd::{I420Mut, I420Ref, PlaneMut, PlaneRef, Rect, Yuv};

/// libyuv's `enum FilterMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub enum FilterMode {
    /// Point sampling.
    None = 0,
    /// Horizontal only.
    Linear = 1,
    /// Bilinear.
    Bilinear = 2,
    /// Box averaging (what OWT's compositor asks for).
    Box = 3,
}

unsafe extern "C" {
    fn I420Scale(
        src_y: *const u8,
        src_stride_y: c_int,
        src_u: *const u8,
        src_stride_u: c_int,
        src_v: *const u8,
        src_stride_v: c_int,
        src_width: c_int,
        src_height: c_int,
        dst_y: *mut u8,
        dst_stride_y: c_int,
        dst_u: *mut u8,
        dst_stride_u: c_int,
        dst_v: *mut u8,
        dst_stride_v: c_int,
        dst_width: c_int,
        dst_height: c_int,
        filtering: FilterMode,
    ) -> c_int;

    fn BlendPlane(
        src_y0: *const u8,
        src_stride_y0: c_int,
        src_y1: *const u8,
        src_stride_y1: c_int,
        alpha: *const u8,
        alpha_stride: c_int,
        dst_y: *mut u8,
        dst_stride_y: c_int,
        width: c_int,
        height: c_int,
    ) -> c_int;

    fn I420Rect(
        dst_y: *mut u8,
        dst_stride_y: c_int,
        dst_u: *mut u8,
        dst_stride_u: c_int,
        dst_v: *mut u8,
        dst_stride_v: c_int,
        x: c_int,
        y: c_int,
        width: c_int,
        height: c_int,
        value_y: c_int,
        value_u: c_int,
        value_v: c_int,
    ) -> c_int;
}

fn int(n: usize) -> c_int {
    c_int::try_from(n).expect("plane dimensions are at most 16384")
}

/// libyuv `I420Scale` from `src` into `dst` (sizes taken from the views). Returns libyuv's
/// status (0 on success).
pub fn i420_scale(src: &I420Ref<'_>, dst: &mut I420Mut<'_>, filter: FilterMode) -> i32 {
    let (dw, dh) = (dst.width(), dst.height());
    // SAFETY: every pointer comes from a validated view whose buffer holds
    // `(height - 1) * stride + width` bytes, which is exactly what libyuv reads or writes for
    // the given sizes and strides; source and destination views cannot alias (shared vs
    // exclusive borrows).
    unsafe {
        I420Scale(
            src.y.as_ptr(),
            int(src.y.stride()),
            src.u.as_ptr(),
            int(src.u.stride()),
            src.v.as_ptr(),
            int(src.v.stride()),
            int(src.width()),
            int(src.height()),
            dst.y.as_mut_ptr(),
            int(dst.y.stride()),
            dst.u.as_mut_ptr(),
            int(dst.u.stride()),
            dst.v.as_mut_ptr(),
            int(dst.v.stride()),
            int(dw),
            int(dh),
            filter,
        )
    }
}

/// libyuv `BlendPlane` in place: `dst = fg·a + dst·(255−a)` (libyuv's own rounding). All
/// three planes must have the same size.
pub fn blend_plane(dst: &mut PlaneMut<'_>, fg: &PlaneRef<'_>, alpha: &PlaneRef<'_>) -> i32 {
    let (w, h) = (dst.width(), dst.height());
    assert!((fg.width(), fg.height()) == (w, h) && (alpha.width(), alpha.height()) == (w, h));
    let stride = int(dst.stride());
    let d = dst.as_mut_ptr();
    // SAFETY: the three views are validated and of equal size; libyuv reads the background from
    // `d` and writes the result to `d`, element by element, which it supports.
    unsafe {
        BlendPlane(
            fg.as_ptr(),
            int(fg.stride()),
            d,
            stride,
            alpha.as_ptr(),
            int(alpha.stride()),
            d,
            stride,
            int(w),
            int(h),
        )
    }
}

/// libyuv `I420Rect`: paint `rect` of `dst` (even coordinates) with `color`.
pub fn i420_rect(dst: &mut I420Mut<'_>, rect: Rect, color: Yuv) -> i32 {
    assert!(rect.x + rect.width <= dst.width() && rect.y + rect.height <= dst.height());
    // SAFETY: the rectangle lies inside the validated destination view (asserted above).
    unsafe {
        I420Rect(
            dst.y.as_mut_ptr(),
            int(dst.y.stride()),
            dst.u.as_mut_ptr(),
            int(dst.u.stride()),
            dst.v.as_mut_ptr(),
            int(dst.v.stride()),
            int(rect.x),
            int(rect.y),
            int(rect.width),
            int(rect.height),
            c_int::from(color.y),
            c_int::from(color.u),
            c_int::from(color.v),
        )
    }
}
