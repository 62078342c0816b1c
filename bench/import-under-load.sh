#!/usr/bin/env bash
#   import-under-load.sh [BUILD] [PERSONS] [RATE] [DURATION] [IMPORT-AT] - calls'
#   latency during a directory import through the node, against the same
#   load without an import, in one run of this script (issue 13).
#
#   Two kpbench runs, one after the other, each on a fresh local node
#   (--local --insecure --persons PERSONS --rate RATE --duration DURATION;
#   defaults 1000000, 2000, 60):
#     1. the load alone (the baseline);
#     2. the same load, and IMPORT-AT seconds (default 15) after the load
#        starts, `kpctl directory import DIR/directory.jsonl -c
#        DIR/cluster.cfg --json` of the bench's own directory (about
#        2.7 lines per person) through the node's admin socket.
#   Prints the load average before each run, each run's kpbench summary,
#   the import's outcome, wall time and peak memory (/usr/bin/time), and
#   the node's peak memory (VmHWM). The machine's other work shows in the
#   load average: compare the two runs of one invocation, not runs of
#   different invocations.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
persons=${2:-1000000}
rate=${3:-2000}
duration=${4:-60}
import_at=${5:-15}
work=$(mktemp -d)
bench_pid=
cleanup() {
    [ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

loadavg() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) cores)"; }

#   The node's admin answers with its request count once the load is on.
requests() {
    "$build/cli/kpctl" status -c "$1" --json 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("requests", 0))' 2>/dev/null ||
        echo 0
}

run() {
    local name=$1 with_import=$2
    local tmp="$work/$name"
    mkdir -p "$tmp"
    echo "=== $name: $(loadavg)"
    TMPDIR="$tmp" "$build/bench/kpbench" --local --keep --insecure --quiet --persons "$persons" \
        --rate "$rate" --duration "$duration" >"$tmp/kpbench.out" 2>"$tmp/kpbench.err" &
    bench_pid=$!
    local dir="" cfg=""
    until [ -n "$dir" ] && [ -f "$cfg" ]; do
        kill -0 "$bench_pid" 2>/dev/null || break
        sleep 0.5
        dir=$(ls -d "$tmp"/kpbench-* 2>/dev/null | head -1 || true)
        cfg="$dir/cluster.cfg"
    done
    #   Wait for the load (the bench imports its directory and starts its
    #   providers first).
    while kill -0 "$bench_pid" 2>/dev/null && [ "$(requests "$cfg")" -eq 0 ]; do sleep 0.5; done
    local node_pid
    node_pid=$(pgrep -f -n "kpnode --config $cfg" || true)
    echo "load started: $(loadavg)"
    if [ "$with_import" = yes ]; then
        sleep "$import_at"
        echo "import starts ${import_at}s into the load: $(wc -l <"$dir/directory.jsonl") lines; $(loadavg)"
        /usr/bin/time -f 'kpctl: %e s wall, %U s user, %S s sys, max RSS %M kB' \
            "$build/cli/kpctl" directory import "$dir/directory.jsonl" -c "$cfg" --json \
            >"$tmp/import.out" 2>"$tmp/import.err" || true
        echo "import: $(cat "$tmp/import.out")"
        tail -1 "$tmp/import.err"
        echo "after the import: $(loadavg)"
    fi
    [ -n "$node_pid" ] && grep VmHWM "/proc/$node_pid/status" 2>/dev/null | sed 's/^/node /' || true
    wait "$bench_pid" || echo "kpbench exited $?"
    bench_pid=
    cat "$tmp/kpbench.out"
    grep -v '^kpbench: kept' "$tmp/kpbench.err" | tail -5 || true
    rm -rf "$dir"
}

run without-import no
run with-import yes
echo "=== done: $(loadavg)"
