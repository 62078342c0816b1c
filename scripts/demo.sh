#!/usr/bin/env bash
#   demo.sh - installs what is missing, builds, and runs a local Kruispunt:
#   one node (cluster-config/single.cfg) with the sample directory, demo
#   echo providers, and a few sample calls with what the broker decided.
#   It runs secure: every program has a CURVE certificate of its own
#   (kpctl keys new), and the directory holds the key records that say
#   whose each key is.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
kp_install
kp_build build

B=build
work=$(mktemp -d /tmp/kruispunt-demo-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

#   The demo's cluster: single.cfg with ports free on this machine.
cfg="$work/cluster.cfg"
port=$((20000 + RANDOM % 20000))
#   The privacy log's checkpoints are signed with a key of the demo's own.
$B/cli/kpctl keys --out "$work/log.key" >/dev/null
sed -e "s#var/node-1#$work/node-1#" -e "s#^cluster\$#cluster\n    log-key = \"$work/log.key\"#" \
    -e "s#127.0.0.1:7100#127.0.0.1:$port#" -e "s#127.0.0.1:7101#127.0.0.1:$((port + 1))#" \
    -e "s#127.0.0.1:7102#127.0.0.1:$((port + 2))#" -e "s#127.0.0.1:7104#127.0.0.1:$((port + 4))#" \
    -e "s#keys/node-1.cert#$work/keys/node-1.cert#" \
    cluster-config/single.cfg >"$cfg"

#   Keys: the node's, an operator's (kpctl's admin commands), each demo
#   application's and provider's. The public keys go into the directory.
key() {
    $B/cli/kpctl keys new "$work/keys/$1.cert" >/dev/null
    $B/cli/kpctl keys show "$work/keys/$1.cert" --kind "$2" --identity "$3" >>"$work/keys.jsonl"
}
key node-1 node node-1
key operator operator demo-operator
key ocmw-gent application ocmw-gent-app
key rsz-app application rsz-app
key nobody application nobody-app
key rsz provider 0206731645
key rva provider 0206737484
key acv provider 0411702543
key cm provider 0411766483
export KP_CERT="$work/keys/operator.cert"

echo "== importing the sample directory"
$B/cli/kpctl directory import cluster-config/sample-directory.jsonl --data "$work/node-1"
$B/cli/kpctl directory import "$work/keys.jsonl" --data "$work/node-1"
$B/cli/kpctl directory stats --data "$work/node-1"

echo "== starting kpnode and demo providers"
$B/node/kpnode --config "$cfg" 2>"$work/node.log" &
pids+=($!)
for _ in $(seq 50); do $B/cli/kpctl status -c "$cfg" --timeout 200 >/dev/null 2>&1 && break; done
provider() {
    local cert=$1
    shift
    $B/cli/kpctl provider -c "$cfg" --cert "$work/keys/$cert.cert" --echo --quiet "$@" \
        >"$work/provider-$2.log" 2>&1 &
    pids+=($!)
}
provider rsz --kbo 0206731645 --message A1 --message A2          # RSZ
provider rva --kbo 0206737484 --message S1                       # RVA
provider acv --kbo 0411702543 --message S1 --message U1 --message B2  # ACV-CSC
provider cm --kbo 0411766483 --message S1 --message H1 --message B1  # CM
sleep 1

call() {
    local label=$1
    shift
    printf '\n-- %s\n' "$label"
    $B/cli/kpctl call -c "$cfg" "$@" || true
}
gent=(--cert "$work/keys/ocmw-gent.cert" --user ocmw-gent-app --sector 31 --type 0)
rsz=(--cert "$work/keys/rsz-app.cert" --user rsz-app)
call "wage data (A1), one provider" "${gent[@]}" --message A1 --person 85073003328 --capacity 1
call "benefits overview (S1), integrated service" "${gent[@]}" --message S1 --person 85073003328 --capacity 1
call "no employer holds this person" "${gent[@]}" --message A1 --person 03021412546 --capacity 1
call "unknown application (its key is known, its user is not)" --cert "$work/keys/nobody.cert" \
    --user nobody-app --sector 31 --type 0 --message A1 --person 85073003328 --capacity 1
call "claiming another application's user" --cert "$work/keys/nobody.cert" "${gent[@]:2}" \
    --message A1 --person 85073003328 --capacity 1
call "capacity not authorized" "${gent[@]}" --message A1 --person 85073003328 --capacity 2
call "file closed in 2019" "${gent[@]}" --message A1 --person 79042206193 --capacity 1
call "the same, on 2018-06-01" "${gent[@]}" --message A1 --person 79042206193 --capacity 1 --date 2018-06-01
call "legal framework IVC-23-001" "${rsz[@]}" --kbo 0206731645 --legal IVC-23-001 --message B1 --person 85073003328
call "legal framework not authorized" "${rsz[@]}" --kbo 0206731645 --legal IVC-23-999 --message B1 --person 85073003328
call "invalid INSZ" "${gent[@]}" --message A1 --person 85073003329 --capacity 1

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
$B/cli/kpctl maintenance add -c "$cfg" --kbo 0206731645 --message A1 --from "$now" --to "$later" \
    --reason "demo: planned upgrade" >/dev/null
call "RSZ in a planned maintenance window" "${gent[@]}" --message A1 --person 85073003328 --capacity 1 --json

printf '\n== the node after the demo\n'
$B/cli/kpctl status -c "$cfg"
printf '\n== the privacy log: who consulted 85073003328\n'
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
$B/cli/kpctl log query --data "$work/node-1" --person 85073003328
printf '\n== the privacy log: chain and signatures\n'
$B/cli/kpctl log verify --data "$work/node-1" --pub "$work/log.key.pub"
