//! The crate's one error type: every way a caller can misuse the API.

use crate::Isa;

/// Why a request was refused. Nothing in this crate panics on bad geometry or lengths; it
/// returns one of these instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A plane or region has a zero width or height where pixels are needed.
    #[error("{what}: width and height must be at least 1 (got {width}x{height})")]
    EmptyPlane {
        /// Which argument.
        what: &'static str,
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
    },
    /// A dimension exceeds [`crate::MAX_DIMENSION`].
    #[error("{what}: {width}x{height} exceeds the {max} pixel limit per side")]
    TooLarge {
        /// Which argument.
        what: &'static str,
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
        /// The limit.
        max: usize,
    },
    /// A stride is smaller than the width it must hold.
    #[error("{what}: stride {stride} is smaller than width {width}")]
    StrideTooSmall {
        /// Which argument.
        what: &'static str,
        /// The stride.
        stride: usize,
        /// The width.
        width: usize,
    },
    /// A buffer is shorter than its geometry needs (`(height - 1) * stride + width`).
    #[error("{what}: buffer has {len} bytes, geometry needs {needed}")]
    BufferTooSmall {
        /// Which argument.
        what: &'static str,
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The chroma planes of an I420 frame are not `ceil(w/2) x ceil(h/2)`.
    #[error(
        "chroma planes are {u_width}x{u_height} and {v_width}x{v_height}, expected {expected_width}x{expected_height} for luma {width}x{height}"
    )]
    ChromaMismatch {
        /// Luma width.
        width: usize,
        /// Luma height.
        height: usize,
        /// U plane width.
        u_width: usize,
        /// U plane height.
        u_height: usize,
        /// V plane width.
        v_width: usize,
        /// V plane height.
        v_height: usize,
        /// Expected chroma width.
        expected_width: usize,
        /// Expected chroma height.
        expected_height: usize,
    },
    /// A rectangle does not lie inside the plane or canvas it addresses.
    #[error(
        "{what}: rectangle {x},{y} {width}x{height} is outside the {outer_width}x{outer_height} plane"
    )]
    OutOfBounds {
        /// Which argument.
        what: &'static str,
        /// Left edge.
        x: usize,
        /// Top edge.
        y: usize,
        /// Width.
        width: usize,
        /// Height.
        height: usize,
        /// Width of the enclosing plane.
        outer_width: usize,
        /// Height of the enclosing plane.
        outer_height: usize,
    },
    /// An I420 crop or region starts at an odd coordinate, which would split a chroma sample.
    #[error("{what}: offset {x},{y} is odd; I420 offsets must be even")]
    OddOffset {
        /// Which argument.
        what: &'static str,
        /// Left edge.
        x: usize,
        /// Top edge.
        y: usize,
    },
    /// A plane or frame handed to a prepared scaler does not have the geometry it was built for.
    #[error(
        "{what}: got {width}x{height}, the scaler was built for {expected_width}x{expected_height}"
    )]
    GeometryMismatch {
        /// Which argument.
        what: &'static str,
        /// Width received.
        width: usize,
        /// Height received.
        height: usize,
        /// Width expected.
        expected_width: usize,
        /// Height expected.
        expected_height: usize,
    },
    /// The downscale ratio on one axis exceeds [`crate::MAX_DOWNSCALE`].
    #[error("downscale {src} -> {dst} exceeds the {max}:1 limit per axis")]
    RatioTooLarge {
        /// Source size on that axis.
        src: usize,
        /// Destination size on that axis.
        dst: usize,
        /// The limit.
        max: usize,
    },
    /// Slices that must have equal lengths do not.
    #[error("{what}: length {len}, expected {expected}")]
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// Length received.
        len: usize,
        /// Length expected.
        expected: usize,
    },
    /// More audio inputs than the 32-bit accumulator can sum without overflow.
    #[error("{count} audio inputs exceed the limit of {max}")]
    TooManyInputs {
        /// Inputs given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A kernel table was requested for an instruction set this CPU lacks.
    #[error("this CPU does not support {0}")]
    IsaUnavailable(Isa),
}
