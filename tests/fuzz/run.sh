#!/bin/sh
#   run.sh HARNESS SECONDS SEED-DIR - runs one libFuzzer harness for SECONDS
#   from the seed corpus, without writing into it (what it finds goes to a
#   temporary corpus). A crash leaves its input in the current folder
#   (crash-*, named on the output) and fails the run.
set -u
harness=$1 seconds=$2 seeds=$3
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
"$harness" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 "$work" "$seeds" >"$work/log" 2>&1
rc=$?
grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==[0-9]+==ERROR|SUMMARY)" \
    "$work/log"
if [ "$rc" -ne 0 ]; then
    tail -60 "$work/log"
    echo "$(basename "$harness"): CRASH (exit $rc)"
    exit 1
fi
echo "$(basename "$harness"): no crash in $seconds s"
