#!/usr/bin/env bash
#   cluster-figures.sh [BUILD] [REPEAT] - the kpbench figures of a local
#   two-site cluster (issue "two sites and a witness"), each run REPEAT
#   times (default 2), one line per run:
#
#   1. routing throughput and p99, 4 voters + witness against one node,
#      closed loop (8 clients x 16 in flight), back to back;
#   2. availability with a node killed (kill -9) every 4 s and restarted
#      1 s later, each node that serves clients in turn, 2000 req/s open
#      loop: never answered (must be 0), p99, max, longest gap, the
#      stubs' failovers and returns to their site;
#   3. the logged path: log-durability local against two-sites, the sites
#      joined through kpbench's relay with 0 and 2 ms one-way delay,
#      1000 req/s open loop: p50, p99, and the throughput closed loop.
#
#   Every kpbench command is printed before its line, to be rerun alone.
#   The load average is printed first and last: the machine's other work
#   shows in every figure. Needs /usr/bin/python3 (reads the JSON).
set -euo pipefail
build=${1:-build}
repeat=${2:-2}
cd "$(dirname "$0")/.."
kpbench="$build/bench/kpbench"
export KPNODE="$build/node/kpnode" KPCTL="$build/cli/kpctl"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "# $(date -u '+%F %T') UTC, $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

#   One run: prints its command, then its figures from the JSON.
run() {
    local name=$1
    shift
    echo "\$ $kpbench $(printf '%q ' "$@")--quiet"
    if ! "$kpbench" "$@" --quiet --json "$out/r.json" >"$out/r.txt" 2>&1; then
        tail -5 "$out/r.txt"
        echo "$name: kpbench failed (above)"
        return 0
    fi
    /usr/bin/python3 - "$name" "$out/r.json" <<'EOF'
import json, sys
name, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))["runs"][0]
lat = r["latency_us"]
line = "%-28s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  max %8.2f ms  lost %d  unexpected %d" % (
    name, r["throughput_rps"], lat["p50"] / 1e3, lat["p99"] / 1e3, lat["max"] / 1e3,
    r["lost"], r["unexpected"])
a = r.get("availability")
if a:
    line += "  | kills %d, ok<=1s %.3f%%, longest gap %.3f s" % (
        a["kills"], 100 * a["ok_within_1s"], a["longest_gap_s"])
s = r.get("stub")
if s:
    line += "  | failovers %d, back to site %d, resent %d, given up %d" % (
        s["failovers"], s["failbacks"], s["resent"], s["given_up"])
print(line, flush=True)
EOF
}

closed="--clients 8 --inflight 16 --duration 15"
echo "## 1. throughput, closed loop: one node against 4 voters + witness (two sites)"
for i in $(seq "$repeat"); do
    run "1 node" --local --nodes 1 $closed
    run "4 nodes + witness" --local --nodes 4 $closed
done

echo "## 2. chaos: kill -9 a node every 4 s, restart after 1 s (4 voters + witness)"
for i in $(seq "$repeat"); do
    run "chaos kill every 4s" --local --nodes 4 --rate 2000 --duration 40 \
        --chaos "kill any every 4s, restart after 1s"
done

echo "## 3. logged path: log-durability local / two-sites, WAN delay 0 / 2 ms (4 voters + witness)"
for i in $(seq "$repeat"); do
    for wan in 0 2; do
        run "local, wan ${wan} ms, 1000/s" --local --nodes 4 --wan-delay "$wan" --rate 1000 \
            --duration 15
        run "two-sites, wan ${wan} ms, 1000/s" --local --nodes 4 --wan-delay "$wan" --two-sites \
            --rate 1000 --duration 15
        run "local, wan ${wan} ms, closed" --local --nodes 4 --wan-delay "$wan" $closed
        run "two-sites, wan ${wan} ms, closed" --local --nodes 4 --wan-delay "$wan" --two-sites \
            $closed
    done
done
echo "# $(date -u '+%F %T') UTC, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
