#!/bin/sh
# kpctl log and kpctl keys on a real, signed log made by logbench.
# Usage: test_kpctl_log.sh LOGBENCH   (env KPCTL: the kpctl binary)
set -u
: "${KPCTL:?set KPCTL to the kpctl binary}"
LOGBENCH=${1:?give the logbench binary as the first argument}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kpctl-log-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh"

# A signed log of 3000 records (logbench makes the key: bench.key, .pub).
expect 0 "logbench makes a log" "$LOGBENCH" --dir "$WORK/lb" --records 3000 --queries 0
LOG="$WORK/lb/log"
PUB="$WORK/lb/bench.key.pub"

# verify
expect 0 "verify a good log" "$KPCTL" log verify --log "$LOG" --pub "$PUB"
has "$WORK/out" "ok: 3000 records" "verify counts the records"
expect 0 "verify --json" "$KPCTL" log verify --log "$LOG" --pub "$PUB" --json
has "$WORK/out" '"ok":true' "verify --json says ok"
has "$WORK/out" '"key_from_log":false' "verify used the trusted key"

# One changed byte in a copy: named, exit 1.
cp -r "$LOG" "$WORK/bad"
SEG=$(ls "$WORK/bad"/*.kplog | head -n 1)
printf 'Z' | dd of="$SEG" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect 1 "verify finds a changed byte" "$KPCTL" log verify --log "$WORK/bad" --pub "$PUB"
has "$WORK/out" "changed record" "verify says the record was changed"
has "$WORK/out" "$(basename "$SEG"), offset" "verify names the segment and offset"
has "$WORK/out" "seq " "verify names the seq"
expect 1 "verify --json on the changed copy" "$KPCTL" log verify --log "$WORK/bad" --pub "$PUB" --json
has "$WORK/out" '"problem":"changed"' "verify --json names the problem"

# query: find a person through --message, then ask for that person.
expect 0 "query --message --json" "$KPCTL" log query --log "$LOG" --message wage --json
has "$WORK/out" '"count":375' "query --message finds every wage record"
PERSON=$(sed -n 's/^{"records":\[{[^}]*"person":"\([0-9]*\)".*/\1/p' "$WORK/out")
if [ -n "$PERSON" ]; then ok "a person from the query ($PERSON)"; else bad "no person in the query"; fi
expect 0 "query --person --json" "$KPCTL" log query --log "$LOG" --person "$PERSON" --json
has "$WORK/out" "\"person\":\"$PERSON\"" "query --person answers with that person's records"
if grep -o '"person":"[0-9]*"' "$WORK/out" | grep -vqF "\"$PERSON\""; then
    bad "query --person returned someone else"; else ok "only that person's records"; fi
expect 0 "query --person (text)" "$KPCTL" log query --log "$LOG" --person "$PERSON"
expect 2 "query with no key is a usage error" "$KPCTL" log query --log "$LOG"

# reindex: the index rebuilt from the segments answers the same; an index
# whose files are damaged is made anew and filled by the next catch-up.
"$KPCTL" log query --log "$LOG" --person "$PERSON" --json >"$WORK/before"
expect 0 "reindex --progress --json" "$KPCTL" log reindex --log "$LOG" --progress --json
has "$WORK/out" '"records":3000' "reindex indexes every record"
has "$WORK/err" "records/s" "reindex shows its progress on stderr"
"$KPCTL" log query --log "$LOG" --person "$PERSON" --json >"$WORK/after"
if cmp -s "$WORK/before" "$WORK/after"; then ok "the same answer after reindex"; else
    bad "reindex changed the answer"; fi
head -c 8192 /dev/urandom >"$LOG/index/data.mdb"
expect 0 "query on a damaged index" "$KPCTL" log query --log "$LOG" --person "$PERSON" --json
if cmp -s "$WORK/before" "$WORK/out"; then ok "a damaged index is rebuilt"; else
    bad "the answer after rebuilding a damaged index differs"; fi
expect 0 "query --message --wait 0" "$KPCTL" log query --log "$LOG" --message wage --wait 0 --json
has "$WORK/out" '"count":375' "--wait 0 answers from the index as it is"
expect 2 "a bad --wait" "$KPCTL" log query --log "$LOG" --message wage --wait soon

# Pages: --limit N answers the first N messages and where the next page
# starts; the pages of 100 together are the whole answer, in order.
expect 0 "query --limit" "$KPCTL" log query --log "$LOG" --message wage --limit 100 --json
has "$WORK/out" '"count":100' "a page holds --limit messages"
has "$WORK/out" '"truncated":true' "a page says more follow"
AFTER=0
: >"$WORK/pages"
for page in 1 2 3 4; do
    "$KPCTL" log query --log "$LOG" --message wage --limit 100 --after "$AFTER" --json >"$WORK/page"
    grep -o '"seq":[0-9]*' "$WORK/page" >>"$WORK/pages"
    AFTER=$(sed -n 's/.*"next_after":\([0-9]*\).*/\1/p' "$WORK/page")
    [ -n "$AFTER" ] || break
done
if [ -z "$AFTER" ] && [ "$page" = 4 ]; then ok "the fourth page is the last"; else
    bad "pages: next_after '$AFTER' after page $page"; fi
"$KPCTL" log query --log "$LOG" --message wage --json | grep -o '"seq":[0-9]*' >"$WORK/all"
if cmp -s "$WORK/all" "$WORK/pages" && [ "$(wc -l <"$WORK/all")" = 375 ]; then
    ok "the pages together are the whole answer"; else bad "the pages differ from the whole answer"; fi
expect 0 "query --limit (text)" "$KPCTL" log query --log "$LOG" --message wage --limit 10
has "$WORK/err" "the next page is --after" "the text answer says how to get the next page"
expect 2 "--after without --limit" "$KPCTL" log query --log "$LOG" --message wage --after 5
expect 2 "a bad --limit" "$KPCTL" log query --log "$LOG" --message wage --limit 0

# stats
expect 0 "stats --json" "$KPCTL" log stats --log "$LOG" --json
has "$WORK/out" '"records":3000' "stats counts every record"
has "$WORK/out" '"wage":375' "stats per message type"
has "$WORK/out" '"0200065765":750' "stats per institution"

# prune refuses segments younger than the retention, and says why.
expect 1 "prune refuses young segments" "$KPCTL" log prune --log "$LOG" --before 2099-01-01
has "$WORK/err" "refused" "prune says it refused"
has "$WORK/err" "retention" "prune says why (retention)"
expect 1 "prune --json refuses" "$KPCTL" log prune --log "$LOG" --before 2099-01-01 --json
has "$WORK/out" '"ok":false,"error":"refused' "prune --json carries the reason"
expect 0 "the log is whole after the refusal" "$KPCTL" log verify --log "$LOG" --pub "$PUB"

# export, then verify the copy.
expect 0 "export" "$KPCTL" log export --log "$LOG" "$WORK/copy"
has "$WORK/out" "exported 1 segment" "export tells how many segments"
expect 0 "verify --log the copy" "$KPCTL" log verify --log "$WORK/copy" --pub "$PUB"
has "$WORK/out" "ok: 3000 records" "the copy holds every record"

# keys
mkdir "$WORK/keys"
expect 0 "keys" "$KPCTL" keys --out "$WORK/keys/log.key"
MODE=$(stat -c %a "$WORK/keys/log.key")
if [ "$MODE" = 600 ]; then ok "private key is 0600"; else bad "private key mode $MODE"; fi
if [ -s "$WORK/keys/log.key.pub" ]; then ok "public key written"; else bad "no public key"; fi
expect 1 "keys never overwrites" "$KPCTL" keys --out "$WORK/keys/log.key"
expect 0 "keys --json with a quote in the path" "$KPCTL" keys --out "$WORK/keys/a\"b.key" --json
has "$WORK/out" '"private":"' "keys --json names the private key"
has "$WORK/out" 'a\"b.key.pub"' "keys --json escapes the path"

# --help of each exits 0
expect 0 "log --help" "$KPCTL" log --help
for cmd in verify query stats prune export reindex; do
    expect 0 "log $cmd --help" "$KPCTL" log "$cmd" --help
done
expect 0 "keys --help" "$KPCTL" keys --help
expect 2 "unknown log command" "$KPCTL" log frobnicate --log "$LOG"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
