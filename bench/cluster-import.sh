#!/usr/bin/env bash
#   cluster-import.sh [PERSONS] [BUILD] [BATCH-BYTES] - a directory of PERSONS persons
#   (gendir; default 1000000, about as many lines) imported through a
#   follower of a three-voter cluster on loopback: kpctl's wall time,
#   lines per second, then every node's sequence and checksum once they
#   have converged (kpctl cluster status), and each node's peak memory.
set -euo pipefail
persons=${1:-1000000}
build=$(cd "${2:-build}" && pwd)
batch=${3:-}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cfg="$work/cluster.cfg"
{
    printf 'cluster\n    name = "import"\n    insecure = true\n    heartbeat = 1000\n    stale-limit = 300\n'
    #   SNAPSHOT_MIB: the cluster's snapshot-mib (default 256), the entries'
    #   MiB after which a snapshot bounds the memory raft keeps them in.
    [ -z "${SNAPSHOT_MIB:-}" ] || printf '    snapshot-mib = %d\n' "$SNAPSHOT_MIB"
    printf 'node\n'
    for i in 1 2 3; do
        printf '    node-%d\n        role = "voter"\n        site = "site-%d"\n' "$i" "$i"
        printf '        data = "%s/node-%d"\n' "$work" "$i"
        for e in client worker admin peer; do printf '        %s = "tcp://127.0.0.1:%d"\n' "$e" "$(port)"; done
    done
} >"$cfg"
for i in 1 2 3; do
    "$build/node/kpnode" -c "$cfg" -n "node-$i" >"$work/node-$i.log" 2>&1 &
    pids+=($!)
done
"$build/bench/gendir" --persons "$persons" >"$work/dir.jsonl"
lines=$(wc -l <"$work/dir.jsonl")
until "$build/cli/kpctl" cluster status -c "$cfg" --json 2>/dev/null | grep -q '"leader":"node'; do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { tail -n 2 "$work"/node-*.log; exit 1; }; done
    sleep 0.2
done
leader=$("$build/cli/kpctl" cluster status -c "$cfg" --json | sed 's/.*"leader":"\([^"]*\)".*/\1/')
via=node-1; [ "$leader" = node-1 ] && via=node-2
echo "importing $lines lines through $via (leader $leader)"
# Each node's memory, sampled every second during the import: the peak of
# its anonymous memory (the raft entries kept since the last snapshot live
# there; the directory's and raft store's mapped pages are file-backed).
sample() {
    while :; do
        for i in 1 2 3; do
            awk -v n="$i" '/^RssAnon/ { print n, $2 }' "/proc/${pids[$((i - 1))]}/status" 2>/dev/null
        done >>"$work/rss.txt"
        sleep 1
    done
}
sample &
sampler=$!
pids+=("$sampler")
start=$(date +%s.%N)
"$build/cli/kpctl" directory import "$work/dir.jsonl" -c "$cfg" --node "$via" \
    ${batch:+--batch-bytes "$batch"} || echo "the import stopped (above)"
end=$(date +%s.%N)
kill "$sampler"
awk -v s="$start" -v e="$end" -v n="$lines" 'BEGIN { printf "import: %.1f s, %.0f lines/s\n", e - s, n / (e - s) }'
converged() {
    "$build/cli/kpctl" cluster status -c "$cfg" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
nodes = json.load(sys.stdin)["nodes"]
sys.exit(0 if len({(n.get("directory_seq"), n.get("checksum")) for n in nodes}) == 1 else 1)'
}
for i in $(seq 1 300); do converged && break; sleep 0.2; done
converged && echo "converged: every node holds the same sequence and checksum" || echo "NOT converged"
"$build/cli/kpctl" cluster status -c "$cfg"
for i in 1 2 3; do
    printf 'node-%d: peak RSS %s kB (VmHWM), peak anonymous %s kB (sampled each second); %s raft snapshots taken, %s installed\n' "$i" \
        "$(awk '/^VmHWM/ { print $2 }' "/proc/${pids[$((i - 1))]}/status")" \
        "$(awk -v n="$i" '$1 == n && $2 > m { m = $2 } END { print m + 0 }' "$work/rss.txt")" \
        "$(grep -c 'cluster: snapshot at' "$work/node-$i.log" || true)" \
        "$(grep -c 'directory replaced by the snapshot' "$work/node-$i.log" || true)"
done
