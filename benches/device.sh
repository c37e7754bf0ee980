#!/bin/bash
# Forwarding benchmarks on a lent machine that cannot install anything (docs/BENCHMARKS.md).
#
# Prepare here, then carry target/device.tgz:
#   benches/device.sh pack      # release binaries (stripped), Janus 1.1.2 and iproute2 with
#                               # every library they load, in target/device.tgz
# On the machine (from the repository root, $OUT collects the logs):
#   benches/device.sh run
# Stages, each bounded in time, each writing $OUT/<stage>.log:
#   probe     CPU, kernel, user, whether a network namespace with a veth can be made
#   janus50   Tessera vs Janus (both configurations) vs the raw loop at N = 50, 3 interleaved runs
#   janus10_200 the same at N = 10 and 200, one run each (not in the default stages)
#   burst50   the same at N = 50 with a bursty publisher (FORWARD_BURST=1), Tessera with and
#             without UDP GSO, one run each (not in the default stages)
#   scale50   per-core scaling K = 1, 2, 4, 8 at N = 50 (Tessera and the raw loop)
#   fanout800 one stream's 800 subscribers over K = 1, 2, 4, 8 shards
# DEVICE_STAGES picks stages (default all, in that order; keep `probe` first: it chooses
# between a network namespace with a veth and a non-loopback interface for Janus); DEVICE_QUICK=1 shrinks them (a local
# check of the script).
set -u
cmd=${1:-}
root=$(cd "$(dirname "$0")/.." && pwd)

pack() {
    set -e
    cd "$root"
    cargo build --release --locked -p tessera --features count-allocs
    local fwd join
    fwd=$(cargo bench --locked --no-run -p tessera-benches --bench forward --bench join \
        --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"] in ("forward","join"):
        print(m["target"]["name"], m["executable"])')
    local d=target/device
    rm -rf "$d" target/device.tgz
    mkdir -p "$d/bin" "$d/lib" "$d/janus/plugins" "$d/janus/transports" "$d/janus/events" \
        "$d/janus/loggers"
    strip -o "$d/tessera" target/release/tessera
    strip -o "$d/forward" "$(echo "$fwd" | awk '$1=="forward"{print $2}')"
    strip -o "$d/join" "$(echo "$fwd" | awk '$1=="join"{print $2}')"
    local jl=/usr/lib/x86_64-linux-gnu/janus
    cp /usr/bin/janus "$d/janus/janus.real"
    cp -L "$jl/plugins/libjanus_streaming.so" "$d/janus/plugins/"
    cp -L "$jl/transports/libjanus_http.so" "$d/janus/transports/"
    cp /usr/sbin/ip "$d/bin/ip.real"
    for f in /usr/bin/janus "$d"/janus/plugins/*.so "$d"/janus/transports/*.so /usr/sbin/ip; do
        ldd "$f" | awk '/=>/ {print $3} /ld-linux/ {print $1}'
    done | sort -u | while read -r l; do cp -L "$l" "$d/lib/"; done
    # Debian's libsrtp2 is built on NSS, which dlopens its soft token and freebl (ldd does not
    # list them); without them Janus stops at start-up with "error setting up libsrtp?".
    local nss=/usr/lib/x86_64-linux-gnu
    for f in libsoftokn3 libfreebl3 libfreeblpriv3 libnssckbi libnssdbm3; do
        for e in so chk; do
            if [ -e "$nss/$f.$e" ]; then cp -L "$nss/$f.$e" "$d/lib/"; fi
        done
    done
    for p in janus ip; do
        local real="janus/janus.real"
        [ "$p" = ip ] && real="bin/ip.real"
        cat >"$d/bin/$p" <<EOF
#!/bin/sh
# $p with its own copies of every library it loads.
d=\$(dirname "\$(readlink -f "\$0")")/..
exec "\$d/lib/ld-linux-x86-64.so.2" --library-path "\$d/lib" "\$d/$real" "\$@"
EOF
        chmod +x "$d/bin/$p"
    done
    tar czf target/device.tgz -C target device
    ls -la target/device.tgz
}

run() {
    local out=${OUT:-/tmp/device-out}
    mkdir -p "$out"
    local b=/tmp/tessera-device
    rm -rf "$b" && mkdir -p "$b"
    tar xzf "$root/target/device.tgz" -C "$b" || { echo "no target/device.tgz"; return 2; }
    b=$b/device
    export PATH="$b/bin:$PATH" TESSERA_BIN="$b/tessera" FORWARD_JANUS_LIB="$b/janus"
    export FORWARD_RUNTIMES=uring
    command -v perf >/dev/null || export FORWARD_PERF=0
    local quick=${DEVICE_QUICK:-0}
    local stages=${DEVICE_STAGES:-probe janus50 scale50 fanout800}
    for s in $stages; do
        echo "=== $s $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
        case $s in
        probe)
            {
                uname -a
                id
                nproc
                grep -m1 'model name' /proc/cpuinfo
                ls /sys/class/net
                janus --version 2>&1 | head -1
                if unshare -n sh -c "ip link set lo up && ip link add jb0 type veth peer name jb1" 2>&1; then
                    echo "netns+veth: yes"
                else
                    echo "netns+veth: no"
                fi
            } 2>&1 | tee "$out/probe.log"
            if grep -q 'netns+veth: yes' "$out/probe.log"; then
                export FORWARD_NETNS=1
            else
                export FORWARD_NETNS=0
                local ifc
                ifc=$(ls /sys/class/net | grep -v '^lo$' | head -1)
                [ -n "$ifc" ] && export FORWARD_JANUS_IFACE=$ifc
                echo "no veth: FORWARD_NETNS=0, Janus on ${ifc:-nothing}" | tee -a "$out/probe.log"
            fi
            ;;
        janus50)
            if [ "$quick" = 1 ]; then
                FORWARD_N=10 FORWARD_REPEAT=1 FORWARD_SECONDS=2 FORWARD_WARMUP=1 \
                    timeout 120 "$b/forward" --bench >"$out/$s.log" 2>&1
            else
                FORWARD_N=50 FORWARD_REPEAT=3 FORWARD_SECONDS=5 FORWARD_WARMUP=2 \
                    timeout 200 "$b/forward" --bench >"$out/$s.log" 2>&1
            fi
            echo "rc $?"
            ;;
        janus10_200)
            FORWARD_N=10,200 FORWARD_REPEAT=1 FORWARD_SECONDS=5 FORWARD_WARMUP=2 \
                timeout 200 "$b/forward" --bench >"$out/$s.log" 2>&1
            echo "rc $?"
            ;;
        burst50)
            FORWARD_BURST=1 FORWARD_N=50 FORWARD_REPEAT=1 FORWARD_RUNTIMES=uring,uring-nogso \
                FORWARD_SECONDS=5 FORWARD_WARMUP=2 \
                timeout 120 "$b/forward" --bench >"$out/$s.log" 2>&1
            echo "rc $?"
            ;;
        scale50)
            if [ "$quick" = 1 ]; then
                FORWARD_SCALE=1,2 FORWARD_SHARE_CPUS=1 FORWARD_N=10 FORWARD_SERVERS=tessera,raw \
                    FORWARD_SECONDS=2 FORWARD_WARMUP=1 \
                    timeout 120 "$b/forward" --bench >"$out/$s.log" 2>&1
            else
                FORWARD_SCALE=1,2,4,8 FORWARD_N=50 FORWARD_SERVERS=tessera,raw \
                    FORWARD_SECONDS=5 FORWARD_WARMUP=2 \
                    timeout 150 "$b/forward" --bench >"$out/$s.log" 2>&1
            fi
            echo "rc $?"
            ;;
        fanout800)
            if [ "$quick" = 1 ]; then
                FORWARD_FANOUT=1 FORWARD_SCALE=2 FORWARD_SHARE_CPUS=1 FORWARD_N=20 \
                    FORWARD_SERVERS=tessera FORWARD_SECONDS=2 FORWARD_WARMUP=1 \
                    timeout 120 "$b/forward" --bench >"$out/$s.log" 2>&1
            else
                FORWARD_FANOUT=1 FORWARD_SCALE=1,2,4,8 FORWARD_N=800 FORWARD_SERVERS=tessera \
                    FORWARD_SECONDS=5 FORWARD_WARMUP=2 \
                    timeout 150 "$b/forward" --bench >"$out/$s.log" 2>&1
            fi
            echo "rc $?"
            ;;
        *) echo "unknown stage $s" ;;
        esac
        grep -E '^\|' "$out/$s.log" 2>/dev/null | tail -30
        grep -iE 'error|FAILED' "$out/$s.log" 2>/dev/null | head -5
    done
    echo "=== done $(date -u +%T)"
}

case $cmd in
pack) pack ;;
run) run ;;
*)
    echo "usage: benches/device.sh pack|run (see the comment at the top)"
    exit 2
    ;;
esac
