#!/usr/bin/env bash
#   raft-seeds.sh - the deterministic raft simulation (tests/unit/test_dirfsm)
#   over many more seeds than the test command runs.
#
#   Usage: bench/raft-seeds.sh [COUNT] [BUILD]   (default 1000 seeds, build/)
#   Seeds 1..COUNT; a failure names its seed (rerun it alone with
#   KP_SEED=N). KP_RAFT_UNFIXED=1 runs libraft 0.15 without our shim
#   (node/raftfix.h), to see the bug it works around.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-1000}"
build="${2:-build}"
exe="$build/tests/unit/test_dirfsm"
[ -x "$exe" ] || { echo "raft-seeds: build first (ninja -C $build)"; exit 1; }
start=$(date +%s)
if KP_SEED_COUNT="$count" "$exe" >"${TMPDIR:-/tmp}/raft-seeds.log" 2>&1; then
    echo "raft-seeds: $count seeds passed in $(( $(date +%s) - start )) s"
else
    tail -5 "${TMPDIR:-/tmp}/raft-seeds.log"
    echo "raft-seeds: failed at $(grep '# seed' "${TMPDIR:-/tmp}/raft-seeds.log" | tail -1)"
    exit 1
fi
