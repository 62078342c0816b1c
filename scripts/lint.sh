#!/usr/bin/env bash
#   lint.sh - checks every C source and header of the tree: clang-format
#   (the root .clang-format) and cppcheck. Prints each finding, then one
#   line per check; exits 0 only when both are clean.
#
#   Usage: scripts/lint.sh [--install]   (--install: apt-get what is missing)
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--install" ]; then
    source scripts/setup.sh
    kp_install "${KP_LINT_PACKAGES[@]}" || { echo "lint: could not install the tools"; exit 1; }
fi
for tool in clang-format cppcheck; do
    command -v "$tool" >/dev/null || { echo "lint: $tool is not installed"; exit 1; }
done

#   The C files git knows of, or would add: tracked and untracked-not-ignored.
#   Without git (a copy of the tree), every .c/.h below the source folders.
if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
    mapfile -t sources < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' | sort -u)
else
    mapfile -t sources < <(find broker log node cli client bench tests proto -name '*.[ch]' \
        ! -name '*.pb-c.*' | sort -u)
fi

failed=0

format_bad=()
for f in "${sources[@]}"; do
    [ -f "$f" ] || continue #   deleted in the working tree
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || format_bad+=("$f")
done
if [ ${#format_bad[@]} -eq 0 ]; then
    echo "lint: clang-format: clean (${#sources[@]} files)"
else
    for f in "${format_bad[@]}"; do
        echo "lint: clang-format: $f is not formatted (clang-format -i $f)"
    done
    echo "lint: clang-format: ${#format_bad[@]} of ${#sources[@]} files not formatted"
    failed=1
fi

#   The generated protobuf header lives in the build folder; cppcheck goes
#   on without it (missing includes are not findings with --quiet).
if cppcheck --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
    -I broker -I log -I node -I client -I cli -I bench -I tests/common -I tests/integration \
    broker log node cli client bench tests; then
    echo "lint: cppcheck: clean"
else
    echo "lint: cppcheck: findings above"
    failed=1
fi

[ "$failed" -eq 0 ] && echo "lint: clean"
exit "$failed"
