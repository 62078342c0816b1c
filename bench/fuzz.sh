#!/usr/bin/env bash
#   fuzz.sh - the libFuzzer harnesses of tests/fuzz, run for longer than the
#   test command does.
#
#   bench/fuzz.sh SECONDS [HARNESS...]   run each harness (default: all) for
#                                        SECONDS; print executions and crashes
#   bench/fuzz.sh --build                only build them (build-fuzz/)
#   bench/fuzz.sh --seeds                rewrite the generated seed corpus
#
#   The harnesses are built with clang, libFuzzer, ASan and UBSan in
#   build-fuzz/. What a run finds is kept in build-fuzz/fuzz-corpus/HARNESS
#   (the next run starts from it and the committed seeds); a crash leaves
#   its input in build-fuzz/fuzz-crashes/ and makes the exit status 1.
set -uo pipefail
cd "$(dirname "$0")/.."
B=build-fuzz

harnesses=()
for f in tests/fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    [ "$name" = fuzz_common ] || harnesses+=("${name#fuzz_}")
done

build() {
    command -v clang >/dev/null || { echo "fuzz: clang is not installed (scripts/setup.sh)"; return 1; }
    if [ ! -f "$B/build.ninja" ]; then
        local log
        log=$(mktemp)
        CC=clang meson setup "$B" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
            -Db_lundef=false >"$log" 2>&1 || { cat "$log"; rm -f "$log"; return 1; }
        rm -f "$log"
    fi
    ninja -C "$B" build.ninja >/dev/null 2>&1 #  a harness added since the last setup
    local targets=(fuzz_seeds)
    for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
    meson compile -C "$B" "${targets[@]}" >"$B/fuzz-build.log" 2>&1 \
        || { tail -40 "$B/fuzz-build.log"; return 1; }
}

case "${1:-}" in
    --build) build; exit ;;
    --seeds) build && "$B/tests/fuzz/fuzz_seeds" tests/fuzz/corpus; exit ;;
    ""|-h|--help) sed -n '2,16p' "$0" | sed 's/^#   \{0,1\}//'; exit 0 ;;
esac
seconds=$1
shift
[ $# -gt 0 ] && harnesses=("$@")
build || exit 1

mkdir -p "$B/fuzz-crashes"
failed=0
printf "%-10s %14s %8s %10s %8s\n" harness executions per_s corpus crashes
for h in "${harnesses[@]}"; do
    corpus="$B/fuzz-corpus/$h"
    mkdir -p "$corpus"
    log="$B/fuzz-$h.log"
    "$B/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$B/fuzz-crashes/$h-" \
        "$corpus" "tests/fuzz/corpus/$h" >"$log" 2>&1
    rc=$?
    execs=$(awk '/^stat::number_of_executed_units/{print $2}' "$log")
    crashes=0
    [ "$rc" -ne 0 ] && crashes=1 && failed=1
    printf "%-10s %14s %8s %10s %8s\n" "$h" "${execs:-?}" "$(( ${execs:-0} / seconds ))" \
        "$(ls "$corpus" | wc -l)" "$crashes"
    [ "$rc" -ne 0 ] && grep -E "ERROR|SUMMARY|artifact" "$log" | head -5
done
exit "$failed"
