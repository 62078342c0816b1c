#!/bin/sh
# Change notifications (issue 15): the figures of the closing note, on one
# node (a cluster of one: its queues go through its raft log) on loopback.
#   bench/mutations.sh [BUILD]        (BUILD: the meson build folder, default build)
# Prints:
#   1. fan-out and publish->notify p50/p99 at RATE (1,000) changes a second
#      to persons held by 5 institutions each, for SECONDS_RUN (20) s;
#   2. the drain of a BACKLOG (100,000) of one institution (CM offline while
#      they are published; the other four take theirs);
#   3. the cost on request routing: kpbench (KPB_RATE 2,000 req/s open loop,
#      KPB_SECONDS 15 s) against the same node without and with RATE changes
#      a second beside it, ROUNDS (2) times in turn, and each round's ratio
#      of the p99 of "single" requests;
#   4. a day's backlog of one institution, measured: DAY_BACKLOG (5,000,000;
#      0 skips it) changes about persons held by CM alone, published while CM
#      is offline, then CM's worker comes back: the drain time and rate, and
#      the time a day at 1,000 changes/s (86.4M) would take at that rate;
# with the load average between the steps (the machine's other work skews
# every figure: compare the ratios of one run), the raft snapshots taken
# after each round, and the node's peak memory.
# SNAPSHOTS=count: the cluster file asks for a snapshot every 1,024 raft
# entries whatever their size (snapshot-share = 0, the rule before the
# share): the cost of the snapshot's write alone, as often as before.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "$BUILD" && pwd)
DIR=$(mktemp -d)
NODE=
P1=
P2=
trap 'kill $NODE $P1 $P2 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
la() { cut -d' ' -f1-3 /proc/loadavg; }
load() { echo "# load: $(la)"; }
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
C=$(port); W=$(port); A=$(port)
cat > "$DIR/cluster.cfg" <<CFG
cluster
    name = "mutbench"
    insecure = true
$([ "${SNAPSHOTS:-}" = count ] && echo "    snapshot-share = 0")
node
    node-1
        site = "here"
        data = "$DIR/node-1"
        client = "tcp://127.0.0.1:$C"
        worker = "tcp://127.0.0.1:$W"
        admin = "tcp://127.0.0.1:$A"
CFG
"$B/node/kpnode" -c "$DIR/cluster.cfg" -n node-1 >"$DIR/node.log" 2>&1 &
NODE=$!
sleep 1
PERSONS=${PERSONS:-10000}
RATE=${RATE:-1000}
"$B/cli/kpctl" directory import "$ROOT/cluster-config/sample-directory.jsonl" -c "$DIR/cluster.cfg" >/dev/null
"$B/bench/mutbench" --gen-persons "$PERSONS" > "$DIR/persons.jsonl"
"$B/cli/kpctl" directory import "$DIR/persons.jsonl" -c "$DIR/cluster.cfg" >/dev/null
load
"$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --rate "$RATE" --seconds "${SECONDS_RUN:-20}" --persons "$PERSONS"
load
"$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --backlog "${BACKLOG:-100000}" --persons "$PERSONS"
load
"$B/cli/kpctl" mutations status -c "$DIR/cluster.cfg"

# The cost on request routing: kpbench against the same node, without and
# with a mutation stream (RATE changes a second) beside it, in turn.
"$B/bench/kpbench" --write-directory "$DIR/bench.jsonl" --persons 10000 >/dev/null
"$B/cli/kpctl" directory import "$DIR/bench.jsonl" -c "$DIR/cluster.cfg" >/dev/null
"$B/cli/kpctl" provider -c "$DIR/cluster.cfg" --kbo 0200000043 --message wage --message career --echo --quiet --concurrency 16 >/dev/null 2>&1 &
P1=$!
"$B/cli/kpctl" provider -c "$DIR/cluster.cfg" --kbo 0300000016 --message career --echo --quiet --concurrency 16 >/dev/null 2>&1 &
P2=$!
sleep 1
KPB_SECONDS=${KPB_SECONDS:-15}
KPB="--rate ${KPB_RATE:-2000} --duration $KPB_SECONDS --clients 4"
# The raft snapshots the node took so far (each a compacted copy of the
# directory and its queues, written while requests are routed).
snapshots() {
    echo "# raft snapshots so far: $(grep -c 'cluster: snapshot at' "$DIR/node.log" || true)$(grep -o 'cluster: snapshot at raft index [0-9]* .*: [0-9]* bytes in [0-9.]* s' "$DIR/node.log" | awk '{ printf "%s at %s, %.0f MB in %s s", NR == 1 ? ":" : ";", $6, $(NF - 4) / 1e6, $(NF - 1) }')"
    "$B/cli/kpctl" cluster status -c "$DIR/cluster.cfg" --json | /usr/bin/python3 -c '
import json, sys
n = json.load(sys.stdin)["nodes"][0]
print("# raft entries since the last snapshot: %d, %.1f MB; the last snapshot %.1f MB (0: none yet)" % (
    n.get("applied_index", 0) - n.get("snapshot_index", 0), n.get("since_snapshot_bytes", 0) / 1e6,
    n.get("snapshot_bytes", 0) / 1e6))' || true
}
p99() { awk '$1 == "single" { print $5 }' "$1"; }
ms() { case "$1" in *ms) echo "${1%ms}" ;; *us) echo "${1%us}" | awk '{ print $1 / 1000 }' ;; *s) echo "${1%s}" | awk '{ print $1 * 1000 }' ;; esac; }
round=1
while [ "$round" -le "${ROUNDS:-2}" ]; do
    echo "# round $round: kpbench without mutations; load: $(la)"
    "$B/bench/kpbench" -c "$DIR/cluster.cfg" $KPB > "$DIR/without.txt" 2>&1
    grep -E -A5 "^kruispunt:" "$DIR/without.txt"
    "$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --rate "$RATE" --seconds $((KPB_SECONDS + 3)) --persons "$PERSONS" > "$DIR/stream.txt" &
    MB=$!
    sleep 1
    echo "# round $round: kpbench with $RATE mutations/s beside it; load: $(la)"
    "$B/bench/kpbench" -c "$DIR/cluster.cfg" $KPB > "$DIR/with.txt" 2>&1
    grep -E -A5 "^kruispunt:" "$DIR/with.txt"
    wait $MB
    cat "$DIR/stream.txt"
    echo "# round $round: single p99 $(p99 "$DIR/without.txt") without, $(p99 "$DIR/with.txt") with: x$(echo "$(ms "$(p99 "$DIR/with.txt")") $(ms "$(p99 "$DIR/without.txt")")" | awk '{ printf "%.2f", $1 / $2 }')"
    snapshots
    round=$((round + 1))
done
kill $P1 $P2 2>/dev/null || true
P1=
P2=

# A day's backlog of one institution, measured as far as this machine
# allows: persons held by CM alone, so that only CM's queue grows.
DAY=${DAY_BACKLOG:-5000000}
if [ "$DAY" -gt 0 ]; then
    "$B/bench/mutbench" --gen-persons "$PERSONS" --cm-only > "$DIR/cm.jsonl"
    "$B/cli/kpctl" directory import "$DIR/cm.jsonl" -c "$DIR/cluster.cfg" >/dev/null
    load
    "$B/bench/mutbench" --worker "tcp://127.0.0.1:$W" --backlog "$DAY" --persons "$PERSONS" --cm-only | tee "$DIR/day.txt"
    load
    awk '/CM drained/ { gsub(/[(\/s)]/, "", $NF); if ($NF > 0) printf "# a day at 1,000 changes/s (86,400,000) at %s/s: %.1f minutes (extrapolated from the %s measured)\n", $NF, 86400000 / $NF / 60, $3 }' "$DIR/day.txt"
    echo "# node data: $(du -sh "$DIR/node-1" | cut -f1)"
fi
snapshots
echo "# node's peak memory: $(grep -E '^VmHWM' /proc/$NODE/status | tr -s ' ')"
echo "# load after: $(la)"
