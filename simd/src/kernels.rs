//! The kernel table: one set of function pointers per instruction set, chosen once.

use std::sync::OnceLock;

use crate::Error;
use crate::arch;
use crate::isa::{self, Isa};
use crate::scale::HPlan;

/// Environment variable that forces an instruction set: `scalar`, `sse41`, `avx2` or `avx512`.
pub const ENV_VAR: &str = "TESSERA_SIMD";

/// A table of kernels for one instruction set.
///
/// Obtain it with [`Kernels::get`] (the table chosen at start-up, the one production code uses)
/// or [`Kernels::for_isa`] (a specific one, for tests and benches). Both only hand out tables
/// the running CPU supports, which is what makes calling the SIMD entries sound: the function
/// pointers for an instruction set are reachable only through its table.
pub struct Kernels {
    pub(crate) isa: Isa,
    pub(crate) vfilter: fn(&[&[u8]], &[u16], &mut [i16]),
    pub(crate) hfilter: fn(&[i16], &HPlan, i32, &mut [u8]),
    pub(crate) down2: fn(&[u8], &[u8], &mut [u8]),
    pub(crate) blend: fn(&mut [u8], &[u8], &[u8]),
    pub(crate) mix_acc_i16: fn(&mut [i32], &[i16], i16),
    pub(crate) mix_store_i16: fn(&[i32], &mut [i16]),
    pub(crate) mix_minus_i16: fn(&[i32], &[i16], i16, &mut [i16]),
    pub(crate) mix_acc_f32: fn(&mut [f32], &[f32], f32),
    pub(crate) mix_store_f32: fn(&[f32], &mut [f32]),
    pub(crate) mix_minus_f32: fn(&[f32], &[f32], f32, &mut [f32]),
    pub(crate) sumsq_i16: fn(&[i16]) -> u64,
    pub(crate) sumsq_f32: fn(&[f32]) -> f64,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("isa", &self.isa).finish()
    }
}

static SELECTED: OnceLock<&'static Kernels> = OnceLock::new();

impl Kernels {
    /// The table chosen at first use: the best instruction set this CPU has, or the one
    /// `TESSERA_SIMD` names (falling back to the best supported one below it). The choice is
    /// logged once under the `tessera::simd` target.
    pub fn get() -> &'static Kernels {
        SELECTED.get_or_init(|| {
            let env = std::env::var(ENV_VAR).ok();
            let sel = isa::select(env.as_deref());
            if let Some(note) = &sel.note {
                tracing::warn!(target: "tessera::simd", requested = ?sel.requested, "{note}");
            }
            tracing::info!(
                target: "tessera::simd",
                isa = %sel.isa,
                forced = sel.requested.is_some(),
                best = %Isa::best_supported(),
                "SIMD kernels selected"
            );
            table(sel.isa)
        })
    }

    /// The table for `isa`, if this CPU supports it.
    pub fn for_isa(isa: Isa) -> Result<&'static Kernels, Error> {
        if isa.is_supported() {
            Ok(table(isa))
        } else {
            Err(Error::IsaUnavailable(isa))
        }
    }

    /// The scalar table (always available).
    pub fn scalar() -> &'static Kernels {
        &arch::scalar_table::TABLE
    }

    /// The instruction set of this table.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// Only called with an `isa` the CPU supports.
fn table(isa: Isa) -> &'static Kernels {
    debug_assert!(isa.is_supported());
    match isa {
        Isa::Scalar => Kernels::scalar(),
        #[cfg(target_arch = "x86_64")]
        Isa::Sse41 => &arch::x86::sse41::TABLE,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &arch::x86::avx2::TABLE,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &arch::x86::avx512::TABLE,
        #[cfg(not(target_arch = "x86_64"))]
        _ => Kernels::scalar(),
    }
}
