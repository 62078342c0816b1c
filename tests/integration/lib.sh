# lib.sh - the TAP-style helpers the kpctl shell tests share. Source it
# with . "$(dirname "$0")/lib.sh"; the script sets WORK (a temporary
# folder) before its first expect, and prints its own summary from
# $passed and $failed.
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "not ok - $1"; }
# expect_shows: what a failed expect prints; a script may define its own
# after sourcing this file.
expect_shows() { sed 's/^/    /' "$WORK/err" "$WORK/out"; }
# expect CODE NAME COMMAND...: runs COMMAND, output in $WORK/out and $WORK/err
expect() {
    want=$1; name=$2; shift 2
    "$@" >"$WORK/out" 2>"$WORK/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name (exit $got)"; else
        bad "$name: exit $got, wanted $want"; expect_shows; fi
}
has() { # has FILE TEXT NAME
    if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3: no '$2' in:"; sed 's/^/    /' "$1"; fi
}
