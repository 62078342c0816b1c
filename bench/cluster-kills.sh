#!/usr/bin/env bash
#   cluster-kills.sh [KILLS] [BUILD] - kill -9 the leader of a two-site
#   cluster (node-1..4 and a witness, peer links through the relay) KILLS
#   times (default 20) during a stream of directory updates, with
#   test_sites' history checks (no acknowledged update lost, none applied
#   twice, no node going back, acknowledgements in real-time order), and
#   print the failover times: from the kill to the first update
#   acknowledged after it, median and max.
set -euo pipefail
kills=${1:-20}
build=${2:-build}
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
SITES_KILLS=$kills SITES_ONLY=test_kill_leader_during_updates \
    KPNODE="$build/node/kpnode" KPCTL="$build/cli/kpctl" KP_SOURCE_ROOT="$PWD" \
    "$build/tests/integration/test_sites" >"$out" 2>&1 || {
    grep -v '^[IWE]:' "$out" | tail -40
    echo "cluster-kills: the history check failed (above)"
    exit 1
}
grep '^# kill\|^# history' "$out"
refused=$(grep -c '^# update .* refused' "$out" || true)
echo "updates refused (no leader found within 5 s of retries): $refused"
grep -o 'failover -\?[0-9]* ms' "$out" | awk '{print $2}' | sort -n | awk '
    $1 < 0 { none++; next }
    { v[++n] = $1 }
    END {
        if (n == 0) { print "no failovers measured"; exit 1 }
        med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        printf "failover over %d kills: median %d ms, max %d ms, min %d ms", n, med, v[n], v[1]
        printf "; %d kills with no update acknowledged in the 8 sent after them\n", none
    }'
