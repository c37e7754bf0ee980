//! # tessera-benches
//!
//! Benchmarks that compare Tessera side by side with a reference in one run and print ratios.
//! Each bench is a `harness = false` target under `benches/`; `docs/BENCHMARKS.md` records the
//! results and the command lines.
//!
//! * `tokens`: signed token creation per second through the REST API, on the embedded store
//!   and on MongoDB, next to the raw cost of signing a token.
