#!/usr/bin/env bash
# Runs Tessera's benchmarks with everything they compare against installed (idempotent):
#   scripts/bench.sh                 all benchmarks (tokens, simd against libyuv, forward, join)
#   scripts/bench.sh forward         one of them (extra arguments go to `cargo bench`)
# The forwarding benchmark needs root (it makes its own private network namespace) and runs
# Janus (Debian `janus`) and `perf` (Debian `linux-perf`). Results and how to read them:
# docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install "${BUILD_PACKAGES[@]}" libyuv-dev iproute2 util-linux janus linux-perf
ensure_rust
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if [ $# -eq 0 ]; then
  cargo bench --locked -p tessera-benches
else
  bench="$1"; shift
  cargo bench --locked -p tessera-benches --bench "$bench" "$@"
fi
