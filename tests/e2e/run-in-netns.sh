#!/usr/bin/env bash
# Runs a tessera server and one end-to-end scenario inside a private network namespace, so that
# every packet stays on loopback.
#
# Usage: run-in-netns.sh [--veth] <tessera-binary> <scenario> [args...]
#   <scenario> is a .mjs file (run with node; a bare name is looked up next to this script) or a
#   .py file (run with $PYTHON, default python3). It gets the REST base URL and the data
#   directory as its first two arguments, then [args...].
#   --veth adds a veth pair (jb0 with 127.0.0.2/32, and jb1) for libnice-based clients such as
#   GStreamer webrtcbin, which never gather candidates on a LOOPBACK interface; IPv6 is turned
#   off in the namespace so that jb0's 127.0.0.2 is their only host candidate. libnice pins its
#   sockets to the gathering interface (IP_UNICAST_IF = jb0), so its packets to the server's
#   127.0.0.1 leave through jb0 and come back in through jb1: the kernel drops 127/8 on a
#   non-loopback link and a packet whose source is one of its own addresses unless jb0 and jb1
#   have route_localnet=1 and jb1 has accept_local=1. (Without them libnice's sendmsg fails
#   with EINVAL and ICE fails.) Everything still stays inside the namespace.
# The server's UDP sockets bind 127.0.0.1 (not 0.0.0.0): a socket on 0.0.0.0 answers a peer on
# 127.0.0.2 from source 127.0.0.2 (the kernel's preferred source for that local route), so ICE
# responses would not come from the candidate address the peer checked.
# Environment: TESSERA_LOG (server log filter, default info), INTEROP_SERVER_LOG (copy the
# server's log there at the end).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${TESSERA_IN_NETNS:-}" ]; then
  export TESSERA_IN_NETNS=1
  if [ "$(id -u)" -eq 0 ]; then exec unshare -n "$0" "$@"; else exec unshare -rn "$0" "$@"; fi
fi
veth=""
if [ "${1:-}" = "--veth" ]; then veth=1; shift; fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--veth] <tessera-binary> <scenario.mjs|scenario.py> [args...]" >&2
  exit 2
fi
ip link set lo up
if [ -n "$veth" ]; then
  sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip link add jb0 type veth peer name jb1
  ip addr add 127.0.0.2/32 dev jb0
  ip link set jb1 up
  ip link set jb0 up
  sysctl -qw net.ipv4.conf.jb0.route_localnet=1 net.ipv4.conf.jb1.route_localnet=1 \
    net.ipv4.conf.jb1.accept_local=1
fi
bin="$1"; scenario="$2"; shift 2
[ -f "$scenario" ] || scenario="$here/$scenario"
case "$scenario" in
  *.mjs) runner=(node) ;;
  *.py) runner=("${PYTHON:-python3}") ;;
  *) echo "run-in-netns.sh: unknown scenario type: $scenario" >&2; exit 2 ;;
esac
data="$(mktemp -d)"
TESSERA_WEBRTC__BIND=127.0.0.1 "$bin" --data-dir "$data" --bind 127.0.0.1 --rest-port 3000 --demo-port 3001 --public-ip 127.0.0.1 --portal-port 8080 --portal-hostname 127.0.0.1 --log-level "${TESSERA_LOG:-info}" > "$data/server.out" 2> "$data/server.log" &
server=$!
status=0
"${runner[@]}" "$scenario" "http://127.0.0.1:3000" "$data" "$@" || status=$?
kill -TERM "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
if [ -n "${INTEROP_SERVER_LOG:-}" ]; then cp "$data/server.log" "$INTEROP_SERVER_LOG" || true; fi
if [ "$status" -ne 0 ]; then
  echo "---- server log (last 80 lines, backtraces left out) ----" >&2
  grep -v "^ *[0-9]*: \|^ *at " "$data/server.log" | tail -n 80 >&2
fi
rm -rf "$data"
exit "$status"
