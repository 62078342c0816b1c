#!/usr/bin/env bash
#   test.sh - installs what is missing, builds with warnings as errors, and
#   runs the whole test suite; then builds with AddressSanitizer and
#   UndefinedBehaviorSanitizer and runs it again; then builds the libFuzzer
#   harnesses with clang (tests/fuzz, bench/fuzz.sh) and runs each a few
#   seconds (KP_FUZZ=0 skips them), each one a test. A last suite, "lint"
#   (scripts/lint.sh: clang-format and cppcheck; KP_LINT=0 skips it), counts
#   as 1 passed or 1 failed. Ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
#   setup.sh runs with -e; here a failing test must be counted, not end the run.
set +e

kp_install || { echo "could not install the packages; see above"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0

#   run_suite NAME BUILD-DIR MESON-OPTIONS...
run_suite() {
    local name=$1 dir=$2
    shift 2
    echo "== $name: building in $dir"
    if ! kp_build "$dir" "$@"; then
        ninja -C "$dir" 2>&1 | tail -30
        echo "== $name: the build failed"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: testing"
    run_tests "$name" "$dir"
}

#   run_tests NAME BUILD-DIR [MESON-TEST-OPTIONS...]: runs and counts them.
run_tests() {
    local name=$1 dir=$2
    shift 2
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" >"$dir/test-output.txt" 2>&1
    grep -E "^ *[0-9]+/[0-9]+ " "$dir/test-output.txt"
    grep -E "^(Ok|Fail|Timeout|Expected Fail|Unexpected Pass):" "$dir/test-output.txt"
    local ok fail timeout
    ok=$(awk '/^Ok:/{print $2}' "$dir/test-output.txt")
    fail=$(awk '/^Fail:/{print $2}' "$dir/test-output.txt")
    timeout=$(awk '/^Timeout:/{print $2}' "$dir/test-output.txt")
    if [ -z "$ok" ]; then
        tail -40 "$dir/test-output.txt"
        failed=$((failed + 1))
        return
    fi
    if [ "${fail:-0}" != 0 ] || [ "${timeout:-0}" != 0 ]; then
        sed -n '/^=* [0-9]*\/[0-9]* /,$p' "$dir/test-output.txt" | grep -v "^ *[0-9]*/[0-9]* .* OK " | tail -80
    fi
    passed=$((passed + ok))
    failed=$((failed + ${fail:-0} + ${timeout:-0}))
}

run_suite "release" build -Dwerror=true
#   Warnings are errors in the build above; here the point is the runtime checks.
run_suite "sanitizers" build-asan -Db_sanitize=address,undefined -Db_lundef=false

if [ "${KP_FUZZ:-1}" = 1 ]; then
    echo "== fuzz: building the harnesses in build-fuzz (clang)"
    if bash bench/fuzz.sh --build; then
        echo "== fuzz: running each harness from the seed corpus"
        run_tests "fuzz" build-fuzz --suite fuzz --no-rebuild
    else
        echo "== fuzz: the build failed"
        failed=$((failed + 1))
    fi
fi

if [ "${KP_LINT:-1}" = 1 ]; then
    echo "== lint: clang-format and cppcheck"
    if bash scripts/lint.sh --install; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
