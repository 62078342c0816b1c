#!/bin/sh
# kpctl directory against real folders: the real kpctl binary (env KPCTL)
# and the sample directory (env KP_SOURCE_ROOT).
# Usage: test_kpctl_directory.sh GENDIR
set -u
GENDIR=${1:?give the gendir binary as the first argument}
: "${KPCTL:?set KPCTL to the kpctl binary}"
: "${KP_SOURCE_ROOT:?set KP_SOURCE_ROOT to the source tree}"
SAMPLE="$KP_SOURCE_ROOT/cluster-config/sample-directory.jsonl"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kpctl-dir-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh"
# A failed expect shows standard error only.
expect_shows() { sed 's/^/    /' "$WORK/err"; }

A="$WORK/a"
expect 0 "import the sample" "$KPCTL" directory import "$SAMPLE" --data "$A"
has "$WORK/out" "imported 70 records" "import tells how many records"
expect 0 "stats --json" "$KPCTL" directory stats --data "$A" --json
has "$WORK/out" '"seq":1,' "stats shows seq 1"
has "$WORK/out" '"institutions":8,' "stats counts institutions"
has "$WORK/out" '"persons":34,' "stats counts person entries"
has "$WORK/out" '"distinct_persons":19' "stats counts distinct people"
has "$WORK/out" '{"sector":6,"persons":9,"entries":9}' "stats counts persons per sector"

# One bad line (line 12): nothing changes, the line is named.
awk 'NR == 12 { sub(/"table":"user"/, "\"table\":\"usr\"") } { print }' "$SAMPLE" >"$WORK/bad.jsonl"
sed -i 's/85073003328/85073003327/' "$WORK/bad.jsonl"
expect 1 "import with bad lines fails" "$KPCTL" directory import "$WORK/bad.jsonl" --data "$A"
has "$WORK/err" "line 12: unknown table 'usr'" "the bad table is named with its line"
has "$WORK/err" "invalid INSZ '85073003327'" "the bad INSZ is named"
has "$WORK/err" "nothing imported" "the user is told nothing changed"
"$KPCTL" directory stats --data "$A" --json >"$WORK/out"
has "$WORK/out" '"seq":1,' "a failed import leaves seq alone"
B0="$WORK/never"
expect 1 "a failed import into a new folder" "$KPCTL" directory import "$WORK/bad.jsonl" --data "$B0"
if [ ! -e "$B0/directory/data.mdb" ]; then ok "no directory made by a failed import"; else bad "directory made"; fi

# --skip-bad applies the good lines and lists the skipped ones.
S="$WORK/s"
expect 0 "import --skip-bad" "$KPCTL" directory import "$WORK/bad.jsonl" --data "$S" --skip-bad
has "$WORK/err" "line 12: unknown table 'usr'" "skipped line is listed"
has "$WORK/err" "skipped" "skipping is said"
"$KPCTL" directory stats --data "$S" --json >"$WORK/out"
has "$WORK/out" '"users":5,' "good lines were applied, the bad user not"
expect 0 "import --skip-bad --json" "$KPCTL" directory import "$WORK/bad.jsonl" --data "$S" --skip-bad --json
has "$WORK/out" '"ok":true' "json outcome says ok"
has "$WORK/out" '{"line":12,"reason":"unknown table' "json outcome lists the skipped line"

# A delete of an absent record stops the whole import, named by line.
printf '%s\n' '{"table":"availability","message":"Q1","sector":1,"type":1}' \
    '{"op":"delete","table":"user","id":"nobody"}' >"$WORK/del.jsonl"
expect 1 "delete of an absent record fails" "$KPCTL" directory import "$WORK/del.jsonl" --data "$A"
has "$WORK/err" "line 2: cannot delete user 'nobody'" "the absent record is named with its line"

# A streamed import: a file many times the reader's buffer, and thousands
# of records more than the writer holds between two releases of the map,
# goes in whole and in one update.
"$GENDIR" --persons 20000 --seed 7 >"$WORK/big.jsonl"
LINES=$(wc -l <"$WORK/big.jsonl")
PERSONS=$(grep -c '"table":"person"' "$WORK/big.jsonl")
G="$WORK/g"
expect 0 "import $LINES lines with --progress --json" "$KPCTL" directory import "$WORK/big.jsonl" \
    --data "$G" --progress --json
has "$WORK/out" "\"applied\":$LINES," "every line applied"
has "$WORK/out" '"seq":1,' "as one update"
has "$WORK/err" "lines/s" "the progress line goes to stderr"
if [ "$(wc -l <"$WORK/out")" -eq 1 ] && [ "$(head -c 1 "$WORK/out")" = "{" ]; then
    ok "stdout holds the JSON outcome alone"; else bad "stdout is not one JSON line"; fi
"$KPCTL" directory stats --data "$G" --json >"$WORK/out"
has "$WORK/out" "\"persons\":$PERSONS," "every person entry is there"

# Another directory's file with one bad line at its very end: nothing of
# it is applied, though every line before was.
"$GENDIR" --persons 20000 --seed 8 >"$WORK/late.jsonl"
echo '{"table":"person","insz":"85073003327"}' >>"$WORK/late.jsonl"
LATE=$(wc -l <"$WORK/late.jsonl")
expect 1 "a bad last line fails the import" "$KPCTL" directory import "$WORK/late.jsonl" --data "$G"
has "$WORK/err" "line $LATE: invalid INSZ" "the last line is named"
"$KPCTL" directory stats --data "$G" --json >"$WORK/out"
has "$WORK/out" '"seq":1,' "seq unchanged after a bad last line"
has "$WORK/out" "\"persons\":$PERSONS," "person entries unchanged after a bad last line"
expect 0 "the same with --skip-bad" "$KPCTL" directory import "$WORK/late.jsonl" --data "$WORK/h" \
    --skip-bad --json
has "$WORK/out" "\"applied\":$((LATE - 1))," "all but the bad line applied"
has "$WORK/out" "{\"line\":$LATE,\"reason\":\"invalid INSZ" "the skipped line is listed"

# --in-parts: the import goes through a copy, DATA/directory.import, in
# parts of 16384 records (bounded memory), put in place at the end. Killed
# after its first part, the copy stays and the directory is untouched; the
# same command goes on after that part's last line and gives the same
# directory as one run; the copy is gone once in place, and a failed
# import (the bad last line above) leaves none behind.
R="$WORK/r"
KPCTL_TEST_STOP_AFTER_PARTS=1 "$KPCTL" directory import "$WORK/big.jsonl" --data "$R" --in-parts \
    >"$WORK/out" 2>"$WORK/err"
if [ -d "$R/directory.import" ] && [ ! -e "$R/directory/data.mdb" ]; then
    ok "an interrupted import leaves its copy, not the directory"; else bad "no copy, or a directory"; fi
expect 0 "the same import again" "$KPCTL" directory import "$WORK/big.jsonl" --data "$R" --in-parts
has "$WORK/err" "after line 16384 (an earlier run was interrupted)" "it goes on after the first part"
"$KPCTL" directory checksum --data "$R" >"$WORK/r.sum"
"$KPCTL" directory checksum --data "$G" >"$WORK/g.sum"
if cmp -s "$WORK/r.sum" "$WORK/g.sum"; then ok "resumed import = one run (seq, records, sha256)"
else bad "resumed import differs: $(cat "$WORK/r.sum") $(cat "$WORK/g.sum")"; fi
expect 1 "a bad last line, in parts" "$KPCTL" directory import "$WORK/late.jsonl" --data "$R" --in-parts
"$KPCTL" directory checksum --data "$R" >"$WORK/r2.sum"
if cmp -s "$WORK/r.sum" "$WORK/r2.sum"; then ok "a failed import in parts changes nothing"
else bad "a failed import in parts changed the directory"; fi
if [ ! -e "$R/directory.import" ]; then ok "no copy left behind"; else bad "a copy was left behind"; fi

# Export, import into a fresh folder, export again: the same bytes.
expect 0 "export" "$KPCTL" directory export --data "$A" --output "$WORK/export1.jsonl"
B="$WORK/b"
expect 0 "import the export" "$KPCTL" directory import "$WORK/export1.jsonl" --data "$B"
"$KPCTL" directory export --data "$B" >"$WORK/export2.jsonl"
if cmp -s "$WORK/export1.jsonl" "$WORK/export2.jsonl"; then ok "export/import round trip"
else bad "export/import round trip differs"; diff "$WORK/export1.jsonl" "$WORK/export2.jsonl" | head; fi
if [ "$(sort "$SAMPLE" | md5sum)" = "$(sort "$WORK/export1.jsonl" | md5sum)" ]; then
    ok "the export holds exactly the sample's records"; else bad "export differs from the sample"; fi

# One person.
expect 0 "person" "$KPCTL" directory person 85073003328 --data "$A"
has "$WORK/out" "Rijksdienst voor Sociale Zekerheid" "person names the institutions"
expect 0 "person --json" "$KPCTL" directory person 85073003328 --data "$A" --json
has "$WORK/out" '{"sector":25,"type":0,"capacity":2,"kbo":"0206731645","name":"Rijksdienst voor Sociale Zekerheid","from":"2008-09-01","to":"9999-12-31"}' "person --json gives the entries"
expect 0 "person held by nobody" "$KPCTL" directory person 75123199921 --data "$A" --json
has "$WORK/out" '"entries":[]' "no entries"
expect 2 "person with a bad INSZ" "$KPCTL" directory person 85073003327 --data "$A"
has "$WORK/err" "invalid INSZ" "the bad INSZ is named"

# Usage and errors.
expect 0 "directory --help" "$KPCTL" directory --help
for c in import export stats person checksum; do
    expect 0 "$c --help" "$KPCTL" directory $c --help
done
expect 2 "no sub-command" "$KPCTL" directory
expect 2 "unknown sub-command" "$KPCTL" directory frobnicate
expect 2 "unknown option" "$KPCTL" directory stats --data "$A" --colour
expect 2 "no target" "$KPCTL" directory stats
has "$WORK/err" "--data DIR" "the fix is named"
expect 2 "import without a file" "$KPCTL" directory import --data "$A"
expect 1 "stats of a missing folder" "$KPCTL" directory stats --data "$WORK/missing"
has "$WORK/err" "no directory in" "the missing folder is named"
expect 1 "import of a missing file" "$KPCTL" directory import "$WORK/none.jsonl" --data "$A"
has "$WORK/err" "cannot open" "the missing file is named"

# Batches: the same file in batches of about 1 KiB of records gives the
# same directory, one sequence number per batch; --from-line goes on after
# a stop; standard input stops at its first bad line with the batches
# before applied, and says where to go on.
BA="$WORK/batches"
expect 0 "import in small batches" "$KPCTL" directory import "$SAMPLE" --data "$BA" --batch-bytes 1024
has "$WORK/out" "imported 70 records" "every record of the batches is applied"
"$KPCTL" directory checksum --data "$A" >"$WORK/sum-a" 2>&1
"$KPCTL" directory checksum --data "$BA" >"$WORK/sum-b" 2>&1
sha_a=$(sed 's/.*"sha256":"\([0-9a-f]*\)".*/\1/' "$WORK/sum-a")
sha_b=$(sed 's/.*"sha256":"\([0-9a-f]*\)".*/\1/' "$WORK/sum-b")
if [ -n "$sha_a" ] && [ "$sha_a" = "$sha_b" ]; then ok "batches give the same checksum"
else bad "checksums differ: $sha_a / $sha_b"; fi
export_sha=$("$KPCTL" directory export --data "$BA" | sha256sum | cut -d' ' -f1)
[ "$export_sha" = "$sha_b" ] && ok "checksum is the export's SHA-256" || bad "checksum $sha_b, export $export_sha"
seq_b=$(sed 's/.*"seq":\([0-9]*\).*/\1/' "$WORK/sum-b")
[ "$seq_b" -gt 1 ] && ok "one sequence number per batch ($seq_b)" || bad "seq $seq_b after batches"
ST="$WORK/stdin"
{ head -n 40 "$SAMPLE"; echo '{"table":"usr"}'; tail -n +41 "$SAMPLE"; } >"$WORK/mid-bad.jsonl"
expect 1 "standard input stops at a bad line" sh -c \
    "'$KPCTL' directory import - --data '$ST' --batch-bytes 1024 < '$WORK/mid-bad.jsonl'"
has "$WORK/err" "line 41: unknown table" "the bad line is named"
has "$WORK/err" "re-run with --from-line" "how to go on is said"
from=$(sed -n 's/.*--from-line \([0-9]*\).*/\1/p' "$WORK/err")
expect 0 "go on with --from-line" "$KPCTL" directory import "$WORK/mid-bad.jsonl" --data "$ST" \
    --skip-bad --from-line "$from"
"$KPCTL" directory checksum --data "$ST" >"$WORK/sum-s" 2>&1
sha_s=$(sed 's/.*"sha256":"\([0-9a-f]*\)".*/\1/' "$WORK/sum-s")
[ "$sha_s" = "$sha_a" ] && ok "stop and go on gives the whole directory" || bad "after --from-line: $sha_s"
expect 2 "--batch-bytes is bounded" "$KPCTL" directory import "$SAMPLE" --data "$BA" --batch-bytes 99999999

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
