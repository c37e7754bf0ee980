//! `TESSERA_SIMD` forces the table chosen at start-up (this file is its own process, so the
//! variable is set before the first `Kernels::get`).

use tessera_simd::{ENV_VAR, Isa, Kernels};

#[test]
fn environment_forces_the_instruction_set_once() {
    let want = if Isa::Sse41.is_supported() {
        Isa::Sse41
    } else {
        Isa::Scalar
    };
    // SAFETY: the only test in this binary; no other thread reads the environment yet.
    unsafe { std::env::set_var(ENV_VAR, want.name()) };
    assert_eq!(Kernels::get().isa(), want);
    // Chosen once: later changes are ignored.
    // SAFETY: as above.
    unsafe { std::env::set_var(ENV_VAR, "scalar") };
    assert_eq!(Kernels::get().isa(), want);
    assert!(std::ptr::eq(Kernels::get(), Kernels::get()));
    for isa in Isa::ALL {
        match Kernels::for_isa(isa) {
            Ok(k) => assert_eq!(k.isa(), isa),
            Err(e) => {
                assert!(!isa.is_supported());
                eprintln!("note: {e}");
            }
        }
    }
}
