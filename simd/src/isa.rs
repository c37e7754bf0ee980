//! Instruction sets, CPU detection and the `TESSERA_SIMD` override.

use std::fmt;
use std::str::FromStr;

/// An instruction set a kernel table can be built for.
///
/// Ordered from least to most capable, so `a < b` means "b can run everything a can".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust: the reference every other table is tested against.
    Scalar,
    /// x86-64 SSE4.1 (128-bit).
    Sse41,
    /// x86-64 AVX2 (256-bit).
    Avx2,
    /// x86-64 AVX-512 F+BW+VL (512-bit); kernels where 512-bit code does not beat AVX2 on the
    /// reference machine use the AVX2 code in this table (see `docs/SIMD.md`).
    Avx512,
}

impl Isa {
    /// Every variant, least capable first.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Sse41, Isa::Avx2, Isa::Avx512];

    /// The name `TESSERA_SIMD` accepts and logs show.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Sse41 => "sse41",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether the running CPU can execute this table.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Sse41 => std::is_x86_feature_detected!("sse4.1"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx2")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The most capable instruction set this CPU supports.
    pub fn best_supported() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Scalar)
    }

    /// Widest vector in bytes (1 for scalar): tests sweep widths up to `4 * lanes + 1`.
    pub fn vector_bytes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            Isa::Sse41 => 16,
            Isa::Avx2 => 32,
            Isa::Avx512 => 64,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `TESSERA_SIMD` held something other than an [`Isa`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown instruction set {0:?} (expected scalar, sse41, avx2 or avx512)")]
pub struct UnknownIsa(pub String);

impl FromStr for Isa {
    type Err = UnknownIsa;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Isa::Scalar),
            "sse41" | "sse4.1" => Ok(Isa::Sse41),
            "avx2" => Ok(Isa::Avx2),
            "avx512" => Ok(Isa::Avx512),
            _ => Err(UnknownIsa(s.to_owned())),
        }
    }
}

/// What start-up chose and why; the outcome of [`select`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub isa: Isa,
    pub requested: Option<String>,
    pub note: Option<String>,
}

/// Decide the instruction set from an optional `TESSERA_SIMD` value. A request the CPU cannot
/// honour falls back to the best supported set below it; an unknown name is ignored. Both are
/// reported in `note`.
pub(crate) fn select(requested: Option<&str>) -> Selection {
    let best = Isa::best_supported();
    let Some(raw) = requested else {
        return Selection {
            isa: best,
            requested: None,
            note: None,
        };
    };
    match raw.parse::<Isa>() {
        Ok(want) if want.is_supported() => Selection {
            isa: want,
            requested: Some(raw.to_owned()),
            note: None,
        },
        Ok(want) => {
            let isa = Isa::ALL
                .into_iter()
                .rev()
                .find(|i| *i < want && i.is_supported())
                .unwrap_or(Isa::Scalar);
            Selection {
                isa,
                requested: Some(raw.to_owned()),
                note: Some(format!("{want} is not supported by this CPU; using {isa}")),
            }
        }
        Err(e) => Selection {
            isa: best,
            requested: Some(raw.to_owned()),
            note: Some(format!("{e}; using {best}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        }
        assert_eq!("AVX2".parse::<Isa>().unwrap(), Isa::Avx2);
        assert!("neon".parse::<Isa>().is_err());
    }

    #[test]
    fn selection_honours_supported_requests_and_reports_others() {
        assert_eq!(select(None).isa, Isa::best_supported());
        let s = select(Some("scalar"));
        assert_eq!(s.isa, Isa::Scalar);
        assert!(s.note.is_none());
        let s = select(Some("bogus"));
        assert_eq!(s.isa, Isa::best_supported());
        assert!(s.note.unwrap().contains("bogus"));
        for isa in Isa::ALL {
            let s = select(Some(isa.name()));
            assert!(s.isa <= isa);
            assert!(s.isa.is_supported());
        }
    }
}
