#!/usr/bin/env bash
# Builds Tessera (release) and runs the standalone server: every role in one process, the
# embedded store under ./tessera-data, a demo room ready. Installs what it needs; idempotent.
# Extra arguments go to `tessera` (see `scripts/run.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install "${BUILD_PACKAGES[@]}"
ensure_rust
say "building tessera (release; the first build takes several minutes)"
cargo build --release --locked -p tessera
exec ./target/release/tessera "$@"
