#!/bin/sh
# Issue 16's import figures: a national directory (gendir, random INSZ
# order) imported into a data folder, then the control's speed on it.
#   bench/import-national.sh [BUILD] [PERSONS] [WORK]
#     BUILD    the meson build folder (default build)
#     PERSONS  gendir --persons (default 12000000: about as many person
#              entries, 1.57 GB of JSON; 50000000 for 50M entries, 6.5 GB)
#     WORK     where to work, on a disk with room (default TMPDIR or
#              /tmp): a folder is made there, about 2.6x the file's size
#              while it runs (the file, the runs, the directory), and
#              removed at the end
# Env: FILE=F imports F (kept) instead of generating one;
#      MODES (default "sorted"; add "one" for --one-transaction beside it),
#      NODE=1 also imports the file through a running node (a cluster of
#      one, insecure, on loopback) to show kpctl's own peak memory there.
# Prints, per mode: wall time, lines/s, peak memory (/usr/bin/time -v),
# data.mdb's size, dirbench --seconds 5 decisions/s; the load averages.
set -eu
BUILD=${1:-build}
PERSONS=${2:-12000000}
B=$(cd "$BUILD" && pwd)
WORK=$(mktemp -d "${3:-${TMPDIR:-/tmp}}/import-national-XXXXXX")
NODE_PID=
cleanup() {
    if [ -n "$NODE_PID" ]; then kill "$NODE_PID" 2>/dev/null; wait "$NODE_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
load() { echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

if [ -n "${FILE:-}" ]; then
    F=$FILE
else
    F="$WORK/d.jsonl"
    echo "# $B/bench/gendir --persons $PERSONS > d.jsonl"
    "$B/bench/gendir" --persons "$PERSONS" >"$F"
fi
LINES=$(wc -l <"$F")
echo "# $F: $LINES lines, $(stat -c %s "$F") bytes"
df -h "$WORK" | tail -1

# time FILE: wall seconds, max RSS kB from /usr/bin/time -v's report.
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
    for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }

for MODE in ${MODES:-sorted}; do
    D="$WORK/data-$MODE"
    OPT=
    [ "$MODE" = one ] && OPT=--one-transaction
    load
    echo "# /usr/bin/time -v $B/cli/kpctl directory import $F --data $D $OPT"
    /usr/bin/time -v "$B/cli/kpctl" directory import "$F" --data "$D" $OPT \
        2>"$WORK/$MODE.time"
    W=$(wall "$WORK/$MODE.time")
    echo "$MODE: $W s, $(awk -v n="$LINES" -v s="$W" 'BEGIN { printf "%.0f", n / s }') lines/s," \
        "peak $(rss "$WORK/$MODE.time") kB, data.mdb $(stat -c %s "$D/directory/data.mdb") bytes"
    grep -E "User time|System time|Percent of CPU|File system outputs" "$WORK/$MODE.time"
    load
    echo "# $B/bench/dirbench --data $D --seconds 5"
    "$B/bench/dirbench" --data "$D" --seconds 5
    [ "$MODE" = one ] && rm -rf "$D"
done
load

if [ "${NODE:-}" = 1 ]; then
    port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    cat >"$WORK/node.cfg" <<CFG
cluster
    name = "import"
    insecure = true
node
    node-1
        site = "here"
        data = "$WORK/node"
        client = "tcp://127.0.0.1:$(port)"
        worker = "tcp://127.0.0.1:$(port)"
        admin = "tcp://127.0.0.1:$(port)"
CFG
    "$B/node/kpnode" -c "$WORK/node.cfg" -n node-1 >"$WORK/node.log" 2>&1 &
    NODE_PID=$!
    until "$B/cli/kpctl" status -c "$WORK/node.cfg" --timeout 200 >/dev/null 2>&1; do sleep 0.2; done
    echo "# /usr/bin/time -v $B/cli/kpctl directory import $F -c node.cfg"
    /usr/bin/time -v "$B/cli/kpctl" directory import "$F" -c "$WORK/node.cfg" \
        2>"$WORK/node.time"
    echo "through the node: $(wall "$WORK/node.time") s, kpctl peak $(rss "$WORK/node.time") kB," \
        "node VmHWM $(awk '/VmHWM/ { print $2 }' "/proc/$NODE_PID/status") kB"
    load
fi
