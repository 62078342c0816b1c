#!/bin/sh
# kpnode refuses a cluster file whose numbers are out of range, naming the
# line and the range: a number past 2^32 in a 32-bit field would wrap
# (heartbeat = 4294967296 became 0 and the node spun), one past 2^64 is
# ERANGE. The real kpnode (env KPNODE); `timeout` stops a node that
# wrongly starts.
set -u
: "${KPNODE:?set KPNODE to the kpnode binary}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kpnode-config-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh"

# config KEY VALUE: a one-node cluster file with KEY = VALUE on line 4.
config() {
    cat >"$WORK/cluster.cfg" <<CFG
cluster
    name = "range"
    log-key = ""
    $1 = $2
node
    node-1
        data = "$WORK/node-1"
        client = "tcp://127.0.0.1:1"
        worker = "tcp://127.0.0.1:2"
        admin = "tcp://127.0.0.1:3"
CFG
}

for case in "heartbeat 4294967296" "heartbeat 99999999999999999999999" "deadline 0" \
    "max-frame 17179869184" "log-retention-days 18446744073709551616" "heartbeat -5" \
    "heartbeat 12ms" "log-segment-mib 0" "log-segment-mib 1025"; do
    set -- $case
    config "$1" "$2"
    expect 1 "$1 = $2 is refused" timeout 5 "$KPNODE" --config "$WORK/cluster.cfg"
    has "$WORK/err" "line 4: cluster/$1" "$1 = $2: the error names the line and the key"
done
config heartbeat 4294967296
timeout 5 "$KPNODE" --config "$WORK/cluster.cfg" 2>"$WORK/err"
has "$WORK/err" "from 10 to 4294967295" "the error gives the range"

# The limits section: the same checks, and a default deadline past the
# longest one a client may ask for.
cat >"$WORK/cluster.cfg" <<CFG
cluster
    deadline = 20000
limits
    max-in-flight = 4294967296
node
    node-1
        data = "$WORK/node-1"
        client = "tcp://127.0.0.1:1"
        worker = "tcp://127.0.0.1:2"
        admin = "tcp://127.0.0.1:3"
CFG
expect 1 "limits/max-in-flight = 4294967296 is refused" timeout 5 "$KPNODE" --config "$WORK/cluster.cfg"
has "$WORK/err" "line 4: limits/max-in-flight" "the error names the line and the key"
sed -i 's/max-in-flight = 4294967296/max-deadline = 10000/' "$WORK/cluster.cfg"
expect 1 "a deadline longer than max-deadline is refused" timeout 5 "$KPNODE" --config "$WORK/cluster.cfg"
has "$WORK/err" "line 2: cluster/deadline = 20000 is longer than limits/max-deadline" \
    "the error names the deadline's line"

# The snapshot rule's keys: a share past 1000 %, and a ceiling on the
# entries below the threshold, are refused with their line.
config snapshot-share 1001
expect 1 "snapshot-share = 1001 is refused" timeout 5 "$KPNODE" --config "$WORK/cluster.cfg"
has "$WORK/err" "line 4: cluster/snapshot-share = 1001 is out of range" "the error names the line"
config snapshot-max-entries 100
sed -i 's/^    snapshot-max-entries = 100$/    snapshot-threshold = 1024\n    snapshot-max-entries = 100/' \
    "$WORK/cluster.cfg"
expect 1 "snapshot-max-entries below snapshot-threshold is refused" \
    timeout 5 "$KPNODE" --config "$WORK/cluster.cfg"
has "$WORK/err" "line 5: snapshot-max-entries must not be below snapshot-threshold" \
    "the error names the ceiling's line"

# Inputs the fuzzer found (tests/fuzz/corpus/config/regress-*): a node
# name at the very end of the file made the line search read past the
# text (heap-buffer-overflow under ASan). Refused, and nothing read out of
# bounds (the sanitizer build's kpnode would say so on stderr).
if [ -n "${KP_SOURCE_ROOT:-}" ]; then
    for f in "$KP_SOURCE_ROOT"/tests/fuzz/corpus/config/regress-*; do
        expect 1 "$(basename "$f") is refused" timeout 5 "$KPNODE" --config "$f"
        if grep -q "Sanitizer" "$WORK/err"; then
            bad "$(basename "$f"): read out of bounds"
            sed 's/^/    /' "$WORK/err" | head -20
        else ok "$(basename "$f"): nothing read out of bounds"; fi
    done
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
