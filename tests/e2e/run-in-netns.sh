#!/usr/bin/env bash
# Runs a tessera server and one end-to-end scenario inside a private network namespace, so that
# every packet stays on loopback. Usage: run-in-netns.sh <tessera-binary> <scenario> [args...]
# <scenario> is a .mjs file (run with node; a bare name is looked up next to this script) or a
# .py file (run with $PYTHON, default python3). It gets the REST base URL and the data
# directory as its first two arguments, then [args...].
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${TESSERA_IN_NETNS:-}" ]; then
  export TESSERA_IN_NETNS=1
  if [ "$(id -u)" -eq 0 ]; then exec unshare -n "$0" "$@"; else exec unshare -rn "$0" "$@"; fi
fi
ip link set lo up
bin="$1"; scenario="$2"; shift 2
[ -f "$scenario" ] || scenario="$here/$scenario"
case "$scenario" in
  *.mjs) runner=(node) ;;
  *.py) runner=("${PYTHON:-python3}") ;;
  *) echo "run-in-netns.sh: unknown scenario type: $scenario" >&2; exit 2 ;;
esac
data="$(mktemp -d)"
"$bin" --data-dir "$data" --bind 127.0.0.1 --rest-port 3000 --demo-port 3001 --public-ip 127.0.0.1 --portal-port 8080 --portal-hostname 127.0.0.1 --log-level "${TESSERA_LOG:-info}" > "$data/server.out" 2> "$data/server.log" &
server=$!
status=0
"${runner[@]}" "$scenario" "http://127.0.0.1:3000" "$data" "$@" || status=$?
kill -TERM "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
if [ "$status" -ne 0 ]; then
  echo "---- server log (last 60 lines) ----" >&2
  grep -v "^ *[0-9]*: \|^ *at " "$data/server.log" | head -n 80 >&2
fi
rm -rf "$data"
exit "$status"
