#!/usr/bin/env bash
#   logpath.sh [BUILD] [REPEAT] - the figures of issue "the logged path at
#   the speed of the hop", each load run REPEAT times (default 3), one line
#   per run, then the median of each ratio over the runs:
#
#   - 1 and 32 calls in flight, and saturation (4 clients x 64): the
#     logged node against the bare ZeroMQ proxy (throughput and p99), and
#     the logged p99.9 against its own p99;
#   - --service-time 1ms at 32 in flight: logged p99 against unlogged p99;
#   - logbench --sync-floor before and after, on the folder the local
#     clusters use, so that the reader sees the disk the figures came from;
#   - then the log's group commits at 32 in flight, from its own trace:
#     how long a sync takes while the node is busy, and how many of the
#     calls in flight each group carries.
#
#   Each line is one `kpbench --local --compare --log-compare` (printed
#   first, to be rerun alone): the logged node, the unlogged node and the
#   proxy ran back to back in that order, in the same minute. The loads
#   take turns, so that a slow minute of the machine spreads over all of
#   them. One run on a shared 2-core machine swings by about a tenth: read
#   the medians. Needs /usr/bin/python3 (reads kpbench's JSON).
set -euo pipefail
build=${1:-build}
repeat=${2:-3}
cd "$(dirname "$0")/.."
kpbench="$build/bench/kpbench"
export KPNODE="$build/node/kpnode" KPCTL="$build/cli/kpctl"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# $(date -u '+%F %T') UTC, $(nproc) cores, load average: $(load)"
echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

#   The disk under the local clusters' folder (kpbench --local uses TMPDIR).
sync_floor() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/logpath-sync-XXXXXX")
    echo "\$ $build/bench/logbench --dir D --sync-floor"
    "$build/bench/logbench" --dir "$dir" --sync-floor 2>&1 | tail -3
    rm -rf "$dir"
}

#   bench OUT ARGS...: kpbench with ARGS, its output in OUT; when it fails,
#   shows OUT's tail and returns 1.
bench() {
    local to=$1
    shift
    "$kpbench" "$@" >"$to" 2>&1 && return 0
    tail -5 "$to"
    echo "kpbench failed (above)"
    return 1
}

loads=("--clients 1 --inflight 1" "--clients 1 --inflight 32" "--clients 4 --inflight 64"
       "--clients 1 --inflight 32 --service-time 1ms")
sync_floor
for r in $(seq 1 "$repeat"); do
    for i in "${!loads[@]}"; do
        # shellcheck disable=SC2206
        args=(--local --compare --log-compare --duration 5 --warmup 1 --drain 2 ${loads[$i]})
        echo "\$ $kpbench ${args[*]} --quiet   (run $r, load average $(load))"
        bench "$out/r.txt" "${args[@]}" --quiet --json "$out/r.json" || continue
        /usr/bin/python3 - "$i" "$out/r.json" "$out/rows" <<'EOF'
import json, sys
load, path, rows = int(sys.argv[1]), sys.argv[2], sys.argv[3]
runs = {r["target"]: r for r in json.load(open(path))["runs"]}
k, u, z = runs["kruispunt"], runs["kp-unlogged"], runs["zmq-proxy"]
lat = lambda r, p: r["latency_us"][p]
row = {"load": load,
       "rps": k["throughput_rps"], "unlogged_rps": u["throughput_rps"], "proxy_rps": z["throughput_rps"],
       "thr": k["throughput_rps"] / z["throughput_rps"],
       "p99": lat(k, "p99"), "proxy_p99": lat(z, "p99"), "unlogged_p99": lat(u, "p99"),
       "p99_ratio": lat(k, "p99") / lat(z, "p99"),
       "tail": lat(k, "p99.9") / lat(k, "p99"),
       "vs_unlogged_p99": lat(k, "p99") / lat(u, "p99")}
print("  logged %(rps).0f/s, unlogged %(unlogged_rps).0f/s, proxy %(proxy_rps).0f/s: "
      "logged/proxy %(thr).2fx; p99 logged %(p99)d us, proxy %(proxy_p99)d us: %(p99_ratio).2fx; "
      "logged p99 / unlogged p99 %(vs_unlogged_p99).2fx; logged p99.9 / p99 %(tail).2fx" % row)
open(rows, "a").write(json.dumps(row) + "\n")
EOF
    done
done
sync_floor

#   The group commits under the issue's load, from the log's own trace
#   (KP_TEST_SYNC_TRACE, test-hook builds: the default): how long a sync
#   takes while the node is busy, against the floor above, and how many
#   of the calls in flight each group carries.
groups() {
    local trace="$out/sync-trace"
    local args=(--local --clients 1 --inflight 32 --mix single=100 --duration 5 --warmup 1 --drain 1)
    echo "\$ KP_TEST_SYNC_TRACE=F $kpbench ${args[*]} --quiet   (load average $(load))"
    rm -f "$trace"
    KP_TEST_SYNC_TRACE="$trace" bench "$out/g.txt" "${args[@]}" --quiet || return
    if [ ! -s "$trace" ]; then
        echo "  no trace: a build without test hooks (meson -Dtest_hooks=false)"
        return
    fi
    grep -o '= [0-9.]* requests/s' "$out/g.txt" | head -1 | sed 's/^= /  logged node: /'
    /usr/bin/python3 - "$trace" <<'EOF2'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
rows = rows[len(rows) // 5:]  # past the warm-up
if len(rows) < 10:
    sys.exit("  too few groups in the trace")
q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
sync = [e - s for s, e, _ in rows]
gap = [rows[i + 1][0] - rows[i][1] for i in range(len(rows) - 1)]
recs = [rows[i + 1][2] - rows[i][2] for i in range(len(rows) - 1)]
secs = (rows[-1][1] - rows[0][0]) / 1e6
print("  %.0f group commits/s; a group's pwrite + fdatasync p50 %d us, p90 %d us; the log idle "
      "between groups p50 %d us; records a group p50 %d, p90 %d (64: every call in flight, "
      "a decision and an outcome each)"
      % (len(rows) / secs, q(sync, .5), q(sync, .9), q(gap, .5), q(recs, .5), q(recs, .9)))
EOF2
}
groups

echo "# medians over the runs (load average now: $(load))"
/usr/bin/python3 - "$out/rows" <<'EOF'
import json, os, statistics, sys
names = ["1 in flight", "32 in flight", "saturation 4 x 64", "32 in flight, --service-time 1ms"]
rows = [json.loads(l) for l in open(sys.argv[1])] if os.path.exists(sys.argv[1]) else []
for i, name in enumerate(names):
    mine = [r for r in rows if r["load"] == i]
    if not mine:
        continue
    m = lambda key: statistics.median(r[key] for r in mine)
    spread = lambda key: "%.2f-%.2f" % (min(r[key] for r in mine), max(r[key] for r in mine))
    if i == 3:
        print("%-34s logged p99 / unlogged p99 %.2fx (%s; target <= 1.1x)"
              % (name, m("vs_unlogged_p99"), spread("vs_unlogged_p99")))
        continue
    line = "%-34s logged/proxy %.2fx (%s), p99 %.2fx (%s), logged p99.9/p99 %.2fx (%s)" % (
        name, m("thr"), spread("thr"), m("p99_ratio"), spread("p99_ratio"), m("tail"), spread("tail"))
    if i == 1:
        line += "; targets >= 0.8x, <= 1.5x"
    if i == 2:
        line += "; target p99.9/p99 < 3x"
    print(line + " [%d runs]" % len(mine))
EOF
