#!/usr/bin/env bash
# Lab scenarios: a fleet of six agents, one fault at a time (and two at
# once); each opens exactly the incident that names it, and it closes once
# the fault is healed.  A healthy lab opens none.
source "$(dirname "$0")/lib.sh"

INTERVAL=2
"$LAB" up >/dev/null
"$FLEET" start "$BUILD" "$RUN" --interval ${INTERVAL}s
I() { "$CLI" --database "$RUN/faultline.db" incidents "$@"; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
# Incidents that started at or after unix time $1 (--since also lists those
# still running then).
started_since() { I --since "@$1" --limit 0 --json | awk -v t="$1" '{ if (match($0, /"start_us":[0-9]+/)) { v = substr($0, RSTART + 11, RLENGTH - 11); if (v / 1000000 >= t) print } }'; }
count_since() { started_since "$1" | grep -c '"id"' || true; }
open_count() { I --open --limit 0 --json | grep -c '"id"' || true; }
agents_up() { [ "$("$CLI" --database "$RUN/faultline.db" agents --json | grep -c '"name"')" -eq 6 ]; }
wait_until 30 "all six agents reporting" agents_up

start=$(date +%s)
sleep 20 # a quiet stretch of the lab: the scenario, not a synchronisation
check "20 s of healthy lab: no incident" test "$(count_since "$start")" -eq 0

# scenario NAME "FAULT ARGS[;FAULT ARGS]" EXPECTED...: EXPECTED is "VERDICT COMPONENT"
apply() { # "FAULT on ARGS;..." and on|off
    local f
    IFS=';' read -ra faults <<<"$1"
    for f in "${faults[@]}"; do
        # shellcheck disable=SC2086
        "$LAB" fault ${f/ on/ $2} >/dev/null
    done
}
scenario() {
    local name=$1 fault=$2; shift 2
    local t0; t0=$(date +%s)
    apply "$fault" on
    opened() { [ "$(open_count)" -ge $# ]; }
    if ! wait_until 60 "$name: incidents" opened "$@"; then
        not_ok "$name: $# incident(s) opened"
    fi
    local got detect
    got=$(started_since "$t0")
    detect=$(($(field start_us <<<"$(tail -1 <<<"$got")") / 1000000 - t0))
    for want in "$@"; do
        read -r v c <<<"$want"
        check "$name: $v $c opened (after ${detect}s)" \
            bash -c "grep -q '\"verdict\":\"$v\",\"component\":\"$c\"' <<<'$got'"
    done
    check "$name: exactly $# incident(s), no others" test "$(grep -c '"id"' <<<"$got")" -eq $#
    apply "$fault" off
    local healed=$SECONDS
    closed() { [ "$(open_count)" -eq 0 ]; }
    check "$name: closed after healing" wait_until 60 "$name: closed" closed
    echo "     $name: resolved $((SECONDS - healed)) s after the heal"
}

scenario web-down "web-down on" "TARGET web.lab.test:80"
scenario cut "cut on r1 r2" "PATH r1<->r2"
scenario isolate "isolate on r3a2" "AGENT r3a2"
scenario two-faults "isolate on r1a2;web-down on" "AGENT r1a2" "TARGET web.lab.test:80"
