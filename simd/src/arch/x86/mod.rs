//! x86-64 kernels: SSE4.1, AVX2 and AVX-512.
//!
//! Layout of every module: a `TABLE`, one safe wrapper per kernel that checks the lengths the
//! SIMD code relies on and then calls the `#[target_feature]` implementation, and the
//! implementations. A wrapper is only reachable through its `TABLE`, and [`crate::Kernels`]
//! hands a table out only after confirming the CPU supports its instruction set; that is the
//! invariant each `// SAFETY:` comment about CPU features refers to.
//!
//! Tails shorter than a vector are handled one of three ways, chosen per kernel: recomputing an
//! overlapping last vector (only where outputs are pure functions of inputs that do not alias
//! them), processing a copy in a stack buffer, or the scalar kernel.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod sse41;
