#!/bin/sh
# kpctl through a running node: the real kpnode and kpctl (env KPNODE,
# KPCTL), the sample directory (env KP_SOURCE_ROOT). Every directory
# change goes through the node's admin socket, the one update path.
set -u
: "${KPCTL:?set KPCTL to the kpctl binary}"
: "${KPNODE:?set KPNODE to the kpnode binary}"
: "${KP_SOURCE_ROOT:?set KP_SOURCE_ROOT to the source tree}"
SAMPLE="$KP_SOURCE_ROOT/cluster-config/sample-directory.jsonl"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kpctl-node-XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
# A failed expect shows standard output, then standard error.
expect_shows() { sed 's/^/    /' "$WORK/out" "$WORK/err"; }
hasnt() { if grep -qF -- "$2" "$1"; then bad "$3: '$2' in:"; sed 's/^/    /' "$1"; else ok "$3"; fi; }

# Below the ephemeral range (32768 and up on Linux), where the other tests' free
# ports and outgoing connections come from.
port=$(( 20000 + $$ % 12000 ))
CFG="$WORK/cluster.cfg"
cat >"$CFG" <<CFG
cluster
    heartbeat = 100
    deadline = 2000
node
    node-1
        site = "brussels"
        data = "$WORK/node-1"
        client = "tcp://127.0.0.1:$port"
        worker = "tcp://127.0.0.1:$((port + 1))"
        admin = "tcp://127.0.0.1:$((port + 2))"
        cert = "$WORK/keys/node-1.cert_secret"
CFG

# Keys: the node's, an operator's (put in the directory before the node
# starts: the admin socket takes nothing else), an application's, a
# provider's. kpctl's admin commands use the operator's through KP_CERT.
for k in node-1 ops gent rsz; do "$KPCTL" keys new "$WORK/keys/$k.cert" >/dev/null; done
expect 1 "keys new never overwrites" "$KPCTL" keys new "$WORK/keys/ops.cert"
expect 0 "keys show with a kind makes the record" "$KPCTL" keys show "$WORK/keys/ops.cert" --kind operator --identity ops
cp "$WORK/out" "$WORK/ops.jsonl"
has "$WORK/ops.jsonl" '"kind":"operator"' "the record names the kind"
[ "$(stat -c %a "$WORK/keys/ops.cert_secret")" = 600 ] && ok "the secret file is 0600" || bad "the secret file is $(stat -c %a "$WORK/keys/ops.cert_secret")"
expect 0 "the operator key goes in before the node starts" "$KPCTL" directory import "$WORK/ops.jsonl" --data "$WORK/node-1"
export KP_CERT="$WORK/keys/ops.cert"

# Plain text only on request: without its certificate a node does not start.
grep -v 'cert = ' "$CFG" >"$WORK/nocert.cfg"
expect 1 "a node without a certificate is refused" "$KPNODE" --config "$WORK/nocert.cfg"
has "$WORK/err" "insecure = true" "the refusal names the certificate and the way out"
# A log key that others can read is refused.
"$KPCTL" keys --out "$WORK/keys/log.key" >/dev/null
chmod 644 "$WORK/keys/log.key"
sed "s#^cluster\$#cluster\n    log-key = \"$WORK/keys/log.key\"#" "$CFG" >"$WORK/openkey.cfg"
expect 1 "a log key readable by others is refused" "$KPNODE" --config "$WORK/openkey.cfg" --data "$WORK/openkey"
has "$WORK/err" "readable by others" "the refusal says why"

"$KPNODE" --config "$CFG" >"$WORK/node.log" 2>&1 &
NODE=$!
PIDS="$PIDS $NODE"
i=0
until "$KPCTL" status -c "$CFG" --timeout 200 >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 50 ] && { bad "node did not start"; cat "$WORK/node.log"; exit 1; }
done
ok "node answers status"
has "$WORK/node.log" "not signed" "a node without log-key says its log is unsigned"
[ "$(stat -c %a "$WORK/node-1")" = 700 ] && ok "the data folder is 0700" || bad "the data folder is $(stat -c %a "$WORK/node-1")"
[ "$(stat -c %a "$WORK/node-1/directory/data.mdb")" = 600 ] && ok "the directory is 0600" || bad "the directory is $(stat -c %a "$WORK/node-1/directory/data.mdb")"

expect 0 "import through the node" "$KPCTL" directory import "$SAMPLE" -c "$CFG"
has "$WORK/out" "imported 70 records" "import through the node counts the records"
expect 0 "stats through the node" "$KPCTL" directory stats -c "$CFG" --json
has "$WORK/out" '"institutions":8' "stats counts the institutions"
expect 0 "person through the node" "$KPCTL" directory person 85073003328 -c "$CFG" --json
has "$WORK/out" '"kbo":"0206731645"' "person lists RSZ's entry"
# A sorted import of several chunks into a running node's folder: the node
# holds the directory open (a rename would leave it on the old file), so
# the records go into one transaction of it, and kpctl says so.
for i in 1 2 3 4 5 6 7 8 9 10; do cat "$SAMPLE"; done >"$WORK/sample10.jsonl"
expect 0 "a sorted import into a running node's folder" "$KPCTL" directory import \
    "$WORK/sample10.jsonl" --data "$WORK/node-1" --chunk 64K
has "$WORK/err" "importing into it in one transaction" "it says why it does not stage"
[ ! -e "$WORK/node-1/directory.sort" ] && [ ! -e "$WORK/node-1/directory.import" ] &&
    ok "no runs, no copy left" || bad "runs or a copy left in the node's folder"
expect 0 "stats through the node after it" "$KPCTL" directory stats -c "$CFG" --json
has "$WORK/out" '"institutions":8' "the node reads the same directory"
# Interrupted (SIGTERM) while a batch waits for a node that does not
# answer (stopped): kpctl stops retrying at once and says the batch's
# outcome is unknown and where to go on; it does not wait for the node to
# come back and go on with the file.
kill -STOP "$NODE"
"$KPCTL" directory import "$WORK/sample10.jsonl" -c "$CFG" --batch-bytes 4096 --timeout 60000 \
    >"$WORK/out" 2>"$WORK/err" &
IMPORT=$!
i=0
until grep -q "sending it again" "$WORK/err" || [ $i -gt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM "$IMPORT"
kill -CONT "$NODE"
wait "$IMPORT"
got=$?
if [ "$got" -eq 1 ]; then ok "an interrupted import through the node stops (exit 1)"
else bad "an interrupted import through the node: exit $got"; sed 's/^/    /' "$WORK/err"; fi
has "$WORK/err" "re-run with --from-line" "it says where to go on"
expect 0 "export through the node" "$KPCTL" directory export -c "$CFG"
[ "$(grep -c . "$WORK/out")" -eq 71 ] && ok "export has 70 lines and the operator's key" || bad "export has $(grep -c . "$WORK/out") lines"
printf '%s\n' '{"table":"person","insz":"85073003329","kbo":"0206731645","sector":25,"type":0,"capacity":1,"from":"2020-01-01","to":"9999-12-31"}' >"$WORK/bad.jsonl"
expect 1 "a bad line is refused through the node too" "$KPCTL" directory import "$WORK/bad.jsonl" -c "$CFG"
has "$WORK/err" "line 1" "the bad line is named"

# Without a certificate, or with one that is not an operator's, no admin.
expect 1 "status without a certificate" env -u KP_CERT "$KPCTL" status -c "$CFG" --timeout 300
has "$WORK/err" "--cert FILE" "the error says how to give one"
expect 1 "status with an unknown key" "$KPCTL" status -c "$CFG" --timeout 300 --cert "$WORK/keys/gent.cert"
"$KPCTL" keys show "$WORK/keys/gent.cert" --kind application --identity ocmw-gent-app >"$WORK/app.jsonl"
"$KPCTL" keys show "$WORK/keys/rsz.cert" --kind provider --identity 0206731645 >>"$WORK/app.jsonl"
expect 0 "keys through the node" "$KPCTL" directory import "$WORK/app.jsonl" -c "$CFG"
expect 1 "status with an application key" "$KPCTL" status -c "$CFG" --timeout 300 --cert "$WORK/keys/gent.cert"
expect 0 "log query of the admin commands" "$KPCTL" log query --data "$WORK/node-1" --message admin.directory.apply --json
has "$WORK/out" 'admin.directory.apply' "the privacy log records the admin commands"

"$KPCTL" provider -c "$CFG" --cert "$WORK/keys/rsz.cert" --kbo 0206731645 --message A1 --echo --quiet >"$WORK/provider.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until "$KPCTL" status -c "$CFG" --json 2>/dev/null | grep -q '"kbo":"0206731645"'; do
    i=$((i + 1)); [ $i -gt 100 ] && { bad "provider did not register"; break; }; sleep 0.05
done
expect 0 "status shows the provider" "$KPCTL" status -c "$CFG" --json
has "$WORK/out" '"messages":["A1"]' "status lists the provider's message types"

GENT="--cert $WORK/keys/gent.cert --user ocmw-gent-app --sector 31 --type 0"
expect 0 "call OK" "$KPCTL" call -c "$CFG" $GENT --message A1 --person 85073003328 --capacity 1 --json
has "$WORK/out" '"status":"OK"' "call says OK"
has "$WORK/out" '\"person\":\"85073003328\"' "the echo payload names the person"
expect 1 "call DENIED exits 1" "$KPCTL" call -c "$CFG" $GENT --message A1 --person 85073003328 --capacity 2 --json
has "$WORK/out" '"reason":"CAPACITY_NOT_AUTHORIZED"' "the reason is named"
expect 0 "call preferring the node's site" "$KPCTL" call -c "$CFG" --site brussels $GENT --message A1 --person 85073003328 --capacity 1 --json
has "$WORK/out" '"status":"OK"' "call with --site says OK"
expect 2 "call preferring a site the file does not have" "$KPCTL" call -c "$CFG" --site nowhere $GENT --message A1 --person 85073003328 --capacity 1
has "$WORK/err" "no node of" "call names the unknown site"
expect 2 "call without --message is a usage error" "$KPCTL" call -c "$CFG" $GENT --person 85073003328 --capacity 1

from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
expect 0 "maintenance add" "$KPCTL" maintenance add -c "$CFG" --kbo 0206731645 --message A1 --from "$from" --to "$to" --reason test
expect 0 "maintenance list" "$KPCTL" maintenance list -c "$CFG" --json
has "$WORK/out" '"reason":"test"' "the window is listed"
id=$(sed -n 's/.*"id":\([0-9]*\),"kbo":"0206731645","message":"A1".*/\1/p' "$WORK/out" | head -1)
expect 1 "call in the window" "$KPCTL" call -c "$CFG" $GENT --message A1 --person 85073003328 --capacity 1 --json
has "$WORK/out" "\"until\":\"$to\"" "the answer says until when"
expect 0 "maintenance remove" "$KPCTL" maintenance remove "$id" -c "$CFG"
expect 1 "removing it twice fails" "$KPCTL" maintenance remove "$id" -c "$CFG"
expect 0 "maintenance list after remove" "$KPCTL" maintenance list -c "$CFG" --json
hasnt "$WORK/out" '"reason":"test"' "the window is gone"
expect 0 "call after the window" "$KPCTL" call -c "$CFG" $GENT --message A1 --person 85073003328 --capacity 1
# Another institution's window whose reason names this one, with braces
# and a quote: listing this institution's windows shows neither it nor a
# cut-off piece of it, and --json stays valid JSON.
expect 0 "maintenance add (reason with braces)" "$KPCTL" maintenance add -c "$CFG" --kbo 0411724220 --from "$from" --to "$to" --reason 'moved from {0206731645} "soon"'
expect 0 "maintenance add (second window)" "$KPCTL" maintenance add -c "$CFG" --kbo 0206731645 --message A1 --from "$from" --to "$to" --reason 'disk {swap}'
expect 0 "maintenance list --kbo --json" "$KPCTL" maintenance list -c "$CFG" --kbo 0206731645 --json
if /usr/bin/python3 -c 'import json, sys
w = json.load(sys.stdin)
assert [x["kbo"] for x in w] == ["0206731645"], w
assert w[0]["reason"] == "disk {swap}", w' <"$WORK/out"; then
    ok "--kbo lists that institution's one window, whole, as valid JSON"
else
    bad "--kbo --json output:"; sed 's/^/    /' "$WORK/out"
fi
expect 0 "maintenance list --kbo" "$KPCTL" maintenance list -c "$CFG" --kbo 0206731645
has "$WORK/out" "disk {swap}" "the table shows the reason whole"
hasnt "$WORK/out" "0411724220" "the table shows no other institution's window"
expect 1 "maintenance list --kbo with a bad KBO" "$KPCTL" maintenance list -c "$CFG" --kbo 0206731646
has "$WORK/err" "not a valid KBO" "the bad KBO is named"
expect 0 "maintenance list --json (all)" "$KPCTL" maintenance list -c "$CFG" --json
for id in $(/usr/bin/python3 -c 'import json, sys
print(" ".join(str(w["id"]) for w in json.load(sys.stdin) if "{" in w["reason"]))' <"$WORK/out"); do
    expect 0 "maintenance remove $id (tidy up)" "$KPCTL" maintenance remove "$id" -c "$CFG"
done
expect 2 "maintenance add with a bad KBO" "$KPCTL" maintenance add -c "$CFG" --kbo 0206731646 --from "$from" --to "$to" --reason x

# Global options before or after the command, and KP_CLUSTER as the default.
expect 0 "kpctl -c FILE status" "$KPCTL" -c "$CFG" status --json
has "$WORK/out" '"node":"node-1"' "status through a leading -c names the node"
expect 0 "kpctl --config=FILE --node NAME status" "$KPCTL" --config="$CFG" --node node-1 status
expect 0 "KP_CLUSTER=FILE kpctl status" env KP_CLUSTER="$CFG" "$KPCTL" status --json
has "$WORK/out" '"node":"node-1"' "status through KP_CLUSTER names the node"
expect 1 "an unknown --node before the command" "$KPCTL" -c "$CFG" --node node-9 status
has "$WORK/err" "no node 'node-9'" "the unknown node is named"
expect 0 "kpctl -c FILE directory stats" "$KPCTL" -c "$CFG" directory stats --json
has "$WORK/out" '"institutions":8' "directory stats through a leading -c"
expect 0 "kpctl -c FILE maintenance list" "$KPCTL" -c "$CFG" maintenance list
expect 0 "KP_CLUSTER with call" env KP_CLUSTER="$CFG" "$KPCTL" call $GENT --message A1 --person 85073003328 --capacity 1 --json
has "$WORK/out" '"status":"OK"' "call through KP_CLUSTER says OK"
expect 0 "kpctl -c FILE --node NAME log stats" "$KPCTL" -c "$CFG" --node node-1 log stats --json
has "$WORK/out" '"records"' "log stats finds the node's data folder"
expect 2 "a -c without its file" "$KPCTL" -c
has "$WORK/err" "-c needs a value" "the missing value is named"
expect 2 "a global option without a command" "$KPCTL" -c "$CFG"
has "$WORK/err" "a command is missing" "the missing command is named"
expect 2 "maintenance without add, list or remove" "$KPCTL" -c "$CFG" maintenance
expect 2 "status without a cluster file" env -u KP_CLUSTER "$KPCTL" status
has "$WORK/err" "KP_CLUSTER" "the error names KP_CLUSTER"
# cluster, mutations and register share one parser (cli/options.c): the same
# options, the same errors, and each command's own options beside them.
expect 0 "cluster status --json --timeout (shared options)" "$KPCTL" cluster status -c "$CFG" --json --timeout 3000
has "$WORK/out" '"nodes":[{"node":"node-1"' "cluster status answers in JSON"
expect 2 "cluster status --timeout 0" "$KPCTL" cluster status -c "$CFG" --timeout 0
has "$WORK/err" "--timeout must be at least 1 ms" "a zero timeout is named"
expect 2 "mutations status --timeout x" "$KPCTL" mutations status -c "$CFG" --timeout x
has "$WORK/err" "kpctl mutations status: --timeout 'x' is not a number" "a bad timeout is named with its command"
expect 2 "register show --bogus" "$KPCTL" register show 85073003328 -c "$CFG" --bogus
has "$WORK/err" "unknown option or missing value '--bogus'" "an unknown option is named"
expect 2 "log query -c --after naming no node of the file" "$KPCTL" log query -c "$CFG" --person 85073003328 --limit 2 --after node-9:5
has "$WORK/err" "'node-9:5' is not NODE:SEQ" "the error names the bad --after"
expect 2 "log query -c --after without --limit" "$KPCTL" log query -c "$CFG" --person 85073003328 --after node-1:5
expect 2 "cluster transfer-leadership --to without its node" "$KPCTL" cluster transfer-leadership -c "$CFG" --to
has "$WORK/err" "missing value '--to'" "a command's own option without its value is named"
expect 0 "kpctl --help names the global options" "$KPCTL" --help
has "$WORK/out" "KP_CLUSTER" "--help tells of KP_CLUSTER"

for cmd in status maintenance call provider directory log keys; do
    expect 0 "kpctl $cmd --help" "$KPCTL" $cmd --help
done
expect 0 "kpnode --help" "$KPNODE" --help
expect 2 "kpnode without --config" "$KPNODE"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
