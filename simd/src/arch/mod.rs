//! Per-instruction-set kernels. `scalar` is the specification; the others must match it bit for
//! bit. Each module exports one `TABLE`.

pub(crate) mod scalar;

pub(crate) mod scalar_table {
    use super::scalar;
    use crate::{Isa, Kernels};

    pub(crate) static TABLE: Kernels = Kernels {
        isa: Isa::Scalar,
        vfilter: scalar::vfilter,
        hfilter: scalar::hfilter,
        down2: scalar::down2,
        blend: scalar::blend,
        mix_acc_i16: scalar::mix_acc_i16,
        mix_store_i16: scalar::mix_store_i16,
        mix_minus_i16: scalar::mix_minus_i16,
        mix_acc_f32: scalar::mix_acc_f32,
        mix_store_f32: scalar::mix_store_f32,
        mix_minus_f32: scalar::mix_minus_f32,
        sumsq_i16: scalar::sumsq_i16,
        sumsq_f32: scalar::sumsq_f32,
    };
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
