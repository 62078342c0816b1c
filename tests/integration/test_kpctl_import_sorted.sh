#!/bin/sh
# kpctl directory import --data, the sorted import (cli/dirsort.h) against
# the file-order import in one transaction (--one-transaction): the real
# kpctl on real folders.
# Usage: test_kpctl_import_sorted.sh GENDIR
set -u
GENDIR=${1:?give the gendir binary as the first argument}
: "${KPCTL:?set KPCTL to the kpctl binary}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kpctl-sort-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh"

# A random file in random order from a gendir directory: every record
# once or more, some put twice, some with other values under the same key
# (an institution renamed and moved, a person's entry with another end),
# deletes of records that may come before or after their put (refused,
# then skipped with --skip-bad: the same lines either way), maintenance
# windows with and without ids (the next free id depends on file order),
# a delete of one of them, and keys. Lines are shuffled.
random_file() { # SEED OUT
    "$GENDIR" --persons 1200 --seed "$1" | awk -v seed="$1" '
    function emit(l) { print rand() "\t" l }
    BEGIN { srand(seed) }
    {
        line = $0
        if (rand() < 0.9) emit(line)
        if (rand() < 0.1) emit(line)
        if (rand() < 0.15) { d = line; sub(/^\{/, "{\"op\":\"delete\",", d); emit(d) }
        if (line ~ /"table":"institution"/ && rand() < 0.3) {
            m = line; sub(/"name":"[^"]*"/, "\"name\":\"Renamed " NR "\"", m)
            sub(/"sector":[0-9]+/, "\"sector\":" int(rand() * 30), m); emit(m)
        }
        if (line ~ /"table":"person"/ && rand() < 0.1) {
            m = line; sub(/"to":"[^"]*"/, "\"to\":\"9999-12-31\"", m); emit(m)
        }
    }
    END {
        for (i = 1; i <= 6; i++)
            emit("{\"table\":\"maintenance\"," (i % 2 ? "" : "\"id\":" i * 3 ",") \
                 "\"kbo\":\"0200000043\",\"message\":\"H1\",\"from\":\"2026-11-28T22:00:00Z\"," \
                 "\"to\":\"2026-11-29T06:00:00Z\",\"reason\":\"window " i "\"}")
        emit("{\"op\":\"delete\",\"table\":\"maintenance\",\"id\":2}")
        for (i = 1; i <= 20; i++) {
            k = ""
            for (j = 0; j < 40; j++) k = k substr("0123456789abcdefghijklmnopqrstuvwxyz", int(rand() * 36) + 1, 1)
            emit("{\"table\":\"key\",\"key\":\"" k "\",\"kind\":\"operator\",\"identity\":\"op" i "\",\"from\":\"2020-01-01\"}")
            if (rand() < 0.3)
                emit("{\"op\":\"delete\",\"table\":\"key\",\"key\":\"" k "\",\"kind\":\"operator\",\"identity\":\"op" i "\",\"from\":\"2020-01-01\"}")
        }
    }' | sort -t "$(printf '\t')" -k1,1 | cut -f2- >"$2"
}

same() { # NAME FILE1 FILE2
    if cmp -s "$2" "$3"; then ok "$1"; else bad "$1:"; sed 's/^/    /' "$2" "$3"; fi
}

# The property: for random files, on an empty directory and on one that
# holds another file already, sorted in one chunk or in many (64 KiB
# chunks: about ten runs), the sorted import gives the directory the
# one-transaction import gives (sequence, records, sha256), skips the same
# lines, and refuses (without --skip-bad) the same files.
for SEED in 11 12 13; do
    random_file "$SEED" "$WORK/r$SEED.jsonl"
    "$GENDIR" --persons 800 --seed $((SEED + 100)) >"$WORK/base.jsonl"
    for START in empty filled; do
        for CHUNK in 64K 64M; do
            O="$WORK/o-$SEED-$START-$CHUNK" S="$WORK/s-$SEED-$START-$CHUNK"
            if [ "$START" = filled ]; then
                "$KPCTL" directory import "$WORK/base.jsonl" --data "$O" --one-transaction >/dev/null
                "$KPCTL" directory import "$WORK/base.jsonl" --data "$S" --one-transaction >/dev/null
            fi
            "$KPCTL" directory import "$WORK/r$SEED.jsonl" --data "$O" --one-transaction \
                --skip-bad --json >"$WORK/o.json" 2>/dev/null
            echo "exit $?" >>"$WORK/o.json"
            "$KPCTL" directory import "$WORK/r$SEED.jsonl" --data "$S" --chunk "$CHUNK" \
                --skip-bad --json >"$WORK/s.json" 2>/dev/null
            echo "exit $?" >>"$WORK/s.json"
            has "$WORK/s.json" "exit 0" "seed $SEED, $START, chunk $CHUNK: imported"
            same "seed $SEED, $START, chunk $CHUNK: the same outcome and skipped lines" \
                "$WORK/o.json" "$WORK/s.json"
            "$KPCTL" directory checksum --data "$O" >"$WORK/o.sum"
            "$KPCTL" directory checksum --data "$S" >"$WORK/s.sum"
            same "seed $SEED, $START, chunk $CHUNK: the same directory" "$WORK/o.sum" "$WORK/s.sum"
            if [ ! -e "$S/directory.sort" ] && [ ! -e "$S/directory.import" ]; then
                ok "no runs, no copy left"; else bad "runs or a copy left behind"; fi
        done
    done
    "$KPCTL" directory import "$WORK/r$SEED.jsonl" --data "$WORK/ro$SEED" --one-transaction \
        >/dev/null 2>&1
    want=$?
    "$KPCTL" directory import "$WORK/r$SEED.jsonl" --data "$WORK/rs$SEED" --chunk 64K \
        >/dev/null 2>"$WORK/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "seed $SEED without --skip-bad: exit $got both ways"
    else bad "seed $SEED without --skip-bad: exit $got, one transaction $want"; fi
done
grep -q '"op":"delete"' "$WORK/r11.jsonl" && grep -q 'Renamed' "$WORK/r11.jsonl" &&
    ok "the random files hold deletes and changed records" || bad "the generator lost its deletes"

# Killed once its runs are written: the runs are private (a 0700 folder
# beside the directory, 0600 files) and the directory untouched; the same
# command starts again from the file, removes what was left, and gives
# the same directory as one run.
"$GENDIR" --persons 3000 --seed 5 >"$WORK/big.jsonl"
K="$WORK/k"
"$KPCTL" directory import "$WORK/base.jsonl" --data "$K" >/dev/null
"$KPCTL" directory checksum --data "$K" >"$WORK/k0.sum"
KPCTL_TEST_STOP_AFTER_SORT=1 "$KPCTL" directory import "$WORK/big.jsonl" --data "$K" --chunk 64K \
    >/dev/null 2>&1
RUNS=$(ls "$K/directory.sort" 2>/dev/null | wc -l)
if [ "$RUNS" -gt 2 ]; then ok "killed after the sort: $RUNS runs left"; else bad "no runs ($RUNS)"; fi
if [ "$(stat -c %a "$K/directory.sort")" = 700 ] &&
    [ -z "$(find "$K/directory.sort" -type f ! -perm 600)" ]; then
    ok "runs folder 0700, run files 0600"; else bad "runs are not private: $(ls -la "$K/directory.sort")"; fi
"$KPCTL" directory checksum --data "$K" >"$WORK/k1.sum"
same "the killed import changed nothing" "$WORK/k0.sum" "$WORK/k1.sum"
expect 0 "the same import again" "$KPCTL" directory import "$WORK/big.jsonl" --data "$K" --chunk 64K \
    --progress
has "$WORK/err" "sorting $WORK/big.jsonl" "the sort has a progress line"
has "$WORK/err" "writing $WORK/big.jsonl" "so has the write"
if [ ! -e "$K/directory.sort" ] && [ ! -e "$K/directory.import" ]; then
    ok "runs and copy removed at the end"; else bad "runs or copy left"; fi
C="$WORK/c"
"$KPCTL" directory import "$WORK/base.jsonl" --data "$C" >/dev/null
"$KPCTL" directory import "$WORK/big.jsonl" --data "$C" --one-transaction >/dev/null
"$KPCTL" directory checksum --data "$K" >"$WORK/k2.sum"
"$KPCTL" directory checksum --data "$C" >"$WORK/c.sum"
same "restarted import = one transaction" "$WORK/k2.sum" "$WORK/c.sum"

# Interrupted (SIGTERM) while it sorts standard input: it stops, removes
# its runs, and changes nothing. The file comes through a FIFO held open,
# so the signal surely comes before the end.
mkfifo "$WORK/fifo"
"$KPCTL" directory import - --data "$K" --chunk 64K <"$WORK/fifo" >"$WORK/out" 2>"$WORK/err" &
PID=$!
exec 3>"$WORK/fifo"
cat "$WORK/big.jsonl" >&3
i=0
while [ -z "$(ls "$K/directory.sort" 2>/dev/null)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $PID
exec 3>&-
wait $PID
got=$?
if [ "$got" -eq 1 ]; then ok "interrupted: exit 1"; else bad "interrupted: exit $got"; fi
has "$WORK/err" "interrupted" "it says it was interrupted"
if [ ! -e "$K/directory.sort" ]; then ok "the runs are removed"; else bad "runs left"; fi
"$KPCTL" directory checksum --data "$K" >"$WORK/k4.sum"
same "the interrupted import changed nothing" "$WORK/k2.sum" "$WORK/k4.sum"

# Refused after the sort (a delete of an absent record, met while
# writing): nothing changes, the line is named, nothing is left.
cp "$WORK/big.jsonl" "$WORK/del.jsonl"
echo '{"op":"delete","table":"user","id":"nobody"}' >>"$WORK/del.jsonl"
DEL=$(wc -l <"$WORK/del.jsonl")
expect 1 "a delete of an absent record" "$KPCTL" directory import "$WORK/del.jsonl" --data "$K" \
    --chunk 64K
has "$WORK/err" "line $DEL: cannot delete user 'nobody'" "its line is named"
"$KPCTL" directory checksum --data "$K" >"$WORK/k3.sum"
same "the refused import changed nothing" "$WORK/k2.sum" "$WORK/k3.sum"
if [ ! -e "$K/directory.sort" ] && [ ! -e "$K/directory.import" ]; then
    ok "nothing left after a refusal"; else bad "runs or copy left after a refusal"; fi
# A bad line: refused before anything is written, into a new folder too.
printf '%s\n' '{"table":"person","insz":"85073003327"}' >>"$WORK/del.jsonl"
expect 1 "a bad line" "$KPCTL" directory import "$WORK/del.jsonl" --data "$WORK/new" --chunk 64K
has "$WORK/err" "line $((DEL + 1)): invalid INSZ" "the bad line is named"
if [ ! -e "$WORK/new" ]; then ok "no folder made"; else bad "a folder was made"; fi
# A data folder whose parents are not there yet is made, as before.
expect 0 "into a new nested folder" "$KPCTL" directory import "$WORK/big.jsonl" --data "$WORK/x/y/z" \
    --chunk 64K
# Standard input is sorted too.
expect 0 "from standard input" sh -c "\"$KPCTL\" directory import - --data \"$WORK/in\" --chunk 64K <\"$WORK/big.jsonl\""
"$KPCTL" directory import "$WORK/big.jsonl" --data "$WORK/in1" --one-transaction >/dev/null
"$KPCTL" directory checksum --data "$WORK/in" >"$WORK/in.sum"
"$KPCTL" directory checksum --data "$WORK/in1" >"$WORK/in1.sum"
same "standard input = the file in one transaction" "$WORK/in.sum" "$WORK/in1.sum"
expect 2 "a chunk too small" "$KPCTL" directory import "$WORK/big.jsonl" --data "$K" --chunk 1K
has "$WORK/err" "--chunk wants a size" "the option is named"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
