#!/bin/sh
# Change notifications (issue 15): the figures of the closing note, on one
# node (a cluster of one: its queues go through its raft log) on loopback.
#   bench/mutations.sh [BUILD]        (BUILD: the meson build folder, default build)
# Prints: fan-out and publish->notify p50/p99 at 1,000 changes a second to
# persons held by 5 institutions each; the drain of a backlog of one
# institution; kpbench without and with a mutation stream beside it; the
# integration test at the issue's 10,000 changes; load averages.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "$BUILD" && pwd)
DIR=$(mktemp -d)
trap 'kill $NODE 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
C=$(port); W=$(port); A=$(port)
cat > "$DIR/cluster.cfg" <<CFG
cluster
    name = "mutbench"
    insecure = true
node
    node-1
        site = "here"
        data = "$DIR/node-1"
        client = "tcp://127.0.0.1:$C"
        worker = "tcp://127.0.0.1:$W"
        admin = "tcp://127.0.0.1:$A"
CFG
"$B/node/kpnode" -c "$DIR/cluster.cfg" -n node-1 2>"$DIR/node.log" &
NODE=$!
sleep 1
PERSONS=${PERSONS:-10000}
"$B/cli/kpctl" directory import "$ROOT/cluster-config/sample-directory.jsonl" -c "$DIR/cluster.cfg" >/dev/null
"$B/bench/mutbench" --gen-persons "$PERSONS" > "$DIR/persons.jsonl"
"$B/cli/kpctl" directory import "$DIR/persons.jsonl" -c "$DIR/cluster.cfg" >/dev/null
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --rate "${RATE:-1000}" --seconds "${SECONDS_RUN:-20}" --persons "$PERSONS"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --backlog "${BACKLOG:-100000}" --persons "$PERSONS"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/cli/kpctl" mutations status -c "$DIR/cluster.cfg"
# The cost on request routing: kpbench against the same node, without and
# with a mutation stream (RATE changes a second) beside it.
"$B/bench/kpbench" --write-directory "$DIR/bench.jsonl" --persons 10000 >/dev/null
"$B/cli/kpctl" directory import "$DIR/bench.jsonl" -c "$DIR/cluster.cfg" >/dev/null
"$B/cli/kpctl" provider -c "$DIR/cluster.cfg" --kbo 0200000043 --message wage --message career --echo --quiet --concurrency 16 >/dev/null 2>&1 &
P1=$!
"$B/cli/kpctl" provider -c "$DIR/cluster.cfg" --kbo 0300000016 --message career --echo --quiet --concurrency 16 >/dev/null 2>&1 &
P2=$!
sleep 1
KPB="--rate ${KPB_RATE:-2000} --duration ${KPB_SECONDS:-15} --clients 4"
echo "# kpbench without mutations; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/kpbench" -c "$DIR/cluster.cfg" $KPB 2>&1 | grep -E -A5 "^kruispunt:"
"$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --rate "${RATE:-1000}" --seconds $(( ${KPB_SECONDS:-15} + 3 )) --persons "$PERSONS" > "$DIR/stream.txt" &
MB=$!
sleep 1
echo "# kpbench with ${RATE:-1000} mutations/s beside it; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/kpbench" -c "$DIR/cluster.cfg" $KPB 2>&1 | grep -E -A5 "^kruispunt:"
wait $MB
cat "$DIR/stream.txt"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill $P1 $P2 2>/dev/null || true
