#!/bin/sh
# The cost of raft snapshots on request routing (issue 15), on one node on
# loopback whose directory is large: gendir PERSONS (default 3,000,000
# persons, about 170 MB once compacted) imported into its data folder
# before it starts.
#   bench/snapshot-cost.sh [BUILD]   (BUILD: the meson build folder, default build)
# kpbench (KPB_RATE 2,000 req/s open loop, KPB_SECONDS 15 s) runs ROUNDS
# (2) times in two phases, each with a small directory update every 0.2 s
# beside it and the node (and its two echo providers) started afresh:
# "off", a cluster file that never asks for a snapshot; "on", one that
# asks for one every 2 entries whatever their size (snapshot-threshold 2,
# snapshot-share 0), so that the node takes one after another for the
# whole phase (harsher than any real rule). Prints each round's p99 of
# "single" requests and their ratio, the snapshots of each phase with
# their sizes and times, the node's CPU in each phase (/proc/PID/stat) and
# its peak memory.
set -eu
BUILD=${1:-build}
B=$(cd "$BUILD" && pwd)
DIR=$(mktemp -d)
NODE=
P1=
P2=
FEED=
trap 'kill $NODE $P1 $P2 $FEED 2>/dev/null || true; wait 2>/dev/null; rm -rf "$DIR"' EXIT
la() { cut -d' ' -f1-3 /proc/loadavg; }
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
C=$(port); W=$(port); A=$(port)
# SNAPSHOTS: "on" asks for one every 2 entries whatever their size; "off"
# for one every 1M entries (never, here).
config() {
    if [ "$1" = on ]; then t=2; else t=1000000; fi
    cat > "$DIR/cluster.cfg" <<CFG
cluster
    name = "snapbench"
    insecure = true
    snapshot-threshold = $t
    snapshot-max-entries = $t
    snapshot-trailing = 1
    snapshot-share = 0
node
    node-1
        site = "here"
        data = "$DIR/node-1"
        client = "tcp://127.0.0.1:$C"
        worker = "tcp://127.0.0.1:$W"
        admin = "tcp://127.0.0.1:$A"
CFG
}
config off
PERSONS=${PERSONS:-3000000}
echo "# gendir --persons $PERSONS, imported into the node's data folder; load: $(la)"
"$B/bench/gendir" --persons "$PERSONS" > "$DIR/dir.jsonl"
"$B/cli/kpctl" directory import "$DIR/dir.jsonl" --data "$DIR/node-1" >/dev/null
"$B/bench/kpbench" --write-directory "$DIR/bench.jsonl" --persons 10000 >/dev/null
"$B/cli/kpctl" directory import "$DIR/bench.jsonl" --data "$DIR/node-1" >/dev/null
rm -f "$DIR/dir.jsonl"
echo "# directory: $(stat -c %s "$DIR/node-1/directory/data.mdb") bytes"
grep -m1 '"table":"person"' "$DIR/bench.jsonl" > "$DIR/one.jsonl"
# The node and its two echo providers, with the cluster file for $1.
start() {
    config "$1"
    "$B/node/kpnode" -c "$DIR/cluster.cfg" -n node-1 >>"$DIR/node.log" 2>&1 &
    NODE=$!
    until "$B/cli/kpctl" cluster status -c "$DIR/cluster.cfg" --json 2>/dev/null | grep -q '"leader":"node-1"'; do
        kill -0 $NODE 2>/dev/null || { tail -3 "$DIR/node.log"; exit 1; }
        sleep 0.2
    done
    "$B/cli/kpctl" provider -c "$DIR/cluster.cfg" --kbo 0200000043 --message wage --message career --echo --quiet --concurrency 16 >/dev/null 2>&1 &
    P1=$!
    "$B/cli/kpctl" provider -c "$DIR/cluster.cfg" --kbo 0300000016 --message career --echo --quiet --concurrency 16 >/dev/null 2>&1 &
    P2=$!
    sleep 1
}
stop() {
    kill $FEED $P1 $P2 2>/dev/null || true
    wait $FEED $P1 $P2 2>/dev/null || true
    kill $NODE
    wait $NODE 2>/dev/null || true
    FEED= P1= P2= NODE=
}
feed() {
    while :; do
        "$B/cli/kpctl" directory import "$DIR/one.jsonl" -c "$DIR/cluster.cfg" >/dev/null 2>&1 || true
        sleep 0.2
    done
}
taken() { grep -c 'cluster: snapshot at' "$DIR/node.log" || true; }
# The node's CPU so far (utime + stime of every thread, ended ones too), in ticks.
cpu() { cut -d' ' -f14,15 /proc/$NODE/stat | awk '{ print $1 + $2 }'; }
KPB_SECONDS=${KPB_SECONDS:-15}
KPB="--rate ${KPB_RATE:-2000} --duration $KPB_SECONDS --clients 4"
p99() { awk '$1 == "single" { print $5 }' "$1"; }
ms() { case "$1" in *ms) echo "${1%ms}" ;; *us) echo "${1%us}" | awk '{ print $1 / 1000 }' ;; *s) echo "${1%s}" | awk '{ print $1 * 1000 }' ;; esac; }
# One phase: the node with snapshots $1, updates fed, kpbench into $2.
phase() {
    start "$1"
    before=$(taken)
    feed &
    FEED=$!
    sleep 1
    echo "# round $round: kpbench, an update every 0.2 s, snapshots $1; load: $(la)"
    c0=$(cpu)
    "$B/bench/kpbench" -c "$DIR/cluster.cfg" $KPB > "$2" 2>&1
    echo "#   the node's CPU in the phase: $(($(cpu) - c0)) ticks of 1/$(getconf CLK_TCK) s"
    grep -E -A5 "^kruispunt:" "$2"
    echo "#   snapshots in the phase: $(($(taken) - before)); node's peak memory: $(grep -E '^VmHWM' /proc/$NODE/status | tr -s ' ')"
    grep 'cluster: snapshot at' "$DIR/node.log" | tail -n +$((before + 1)) | sed 's/^.*cluster: /#     /'
    stop
}
round=1
while [ "$round" -le "${ROUNDS:-2}" ]; do
    phase off "$DIR/without.txt"
    phase on "$DIR/with.txt"
    echo "# round $round: single p99 $(p99 "$DIR/without.txt") without snapshots, $(p99 "$DIR/with.txt") with: x$(echo "$(ms "$(p99 "$DIR/with.txt")") $(ms "$(p99 "$DIR/without.txt")")" | awk '{ printf "%.2f", $1 / $2 }')"
    round=$((round + 1))
done
echo "# load after: $(la)"
