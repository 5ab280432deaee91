#!/usr/bin/env bash
# The faultline demo: build, bring up the lab (three regions, six agent hosts,
# web, DNS and an MTU-1400 host in network namespaces), run the collector and
# one agent per host for about a minute, break the web server, and show what
# faultline saw: the failing checks, and the one incident that names the
# cause.  Everything is cleaned up at the end.
# It exits 1, with the collector's and the agents' last warnings, when no
# results arrive within 20 s, an agent never reports, or the fault does not
# open (and close) its incident.
#   deploy/demo.sh [--keep] [--allow DIR]
#     --keep       leave the lab and the fleet running
#     --allow DIR  the collector's allow-list directory (default: every
#                  agent's key; an empty one shows what a refusal looks like)
#   FL_DEMO_DIR (default /tmp/faultline-demo; demo-run/ in the source tree
#   when the tree is in it) holds keys, logs and the database; FL_BUILD_DIR
#   (default build/) the build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FL_BUILD_DIR:-$ROOT/build}
RUN=${FL_DEMO_DIR:-/tmp/faultline-demo}
RUN=${RUN%/}
# The run directory is emptied first: never the tree the demo runs from
# (a clone made at /tmp/faultline-demo keeps its run in demo-run/).
case "$ROOT/" in "$RUN"/*) RUN=$ROOT/demo-run ;; esac
LAB=$ROOT/deploy/lab/lab.sh
FLEET=$ROOT/deploy/lab/fleet.sh
KEEP=0
fleet_args=()
while [ $# -gt 0 ]; do
    case $1 in
    --keep) KEEP=1; shift ;;
    --allow) fleet_args+=(--allow "$2"); shift 2 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fl() { "$BUILD/cli/faultline" --database "$RUN/faultline.db" "$@"; }

# Whatever went wrong, say so, show the daemons' last complaints and exit 1.
fail() {
    printf '\n\033[1;31mdemo FAILED: %s\033[0m\n' "$*" >&2
    local log
    for log in "$RUN/collector.log" "$RUN"/agent-*.log; do
        [ -f "$log" ] || continue
        echo "--- $(basename "$log" .log): last warnings and errors" >&2
        grep -E 'level=(warn|error)' "$log" | tail -n 6 >&2 || echo "    (none)" >&2
    done
    echo "--- logs in $RUN" >&2
    exit 1
}

cleanup() {
    [ $KEEP -eq 1 ] && return
    "$FLEET" stop "$RUN" >/dev/null 2>&1 || true
    "$LAB" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "installing packages and building"
"$ROOT/deploy/install-deps.sh" test
# A build directory that exists keeps its own settings.
if [ -f "$BUILD/CMakeCache.txt" ]; then cmake -S "$ROOT" -B "$BUILD" >/dev/null
else cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null; fi
cmake --build "$BUILD" -j "$(nproc)" >/dev/null

say "bringing up the lab"
"$LAB" down >/dev/null
"$LAB" up
"$LAB" hosts

say "starting the collector (SQLite at $RUN/faultline.db) and six agents"
rm -rf "$RUN"
"$FLEET" start "$BUILD" "$RUN" --interval 5s "${fleet_args[@]}"
stored() { sqlite3 -cmd '.timeout 2000' "$RUN/faultline.db" 'SELECT count(*) FROM result' 2>/dev/null || echo 0; }
reporting() { # the agents with results stored
    sqlite3 -cmd '.timeout 2000' "$RUN/faultline.db" \
        'SELECT name FROM agent WHERE id IN (SELECT DISTINCT agent_id FROM result) ORDER BY name' 2>/dev/null | paste -sd' '
}
# Results within 20 s, from all six agents within 40 s, then a traceroute of
# the paths that work from every agent (traced every 15 s): a fault's failing
# paths are compared with them.
t0=$SECONDS
until [ "$(stored)" -gt 0 ]; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "no results stored within 20 s"
    sleep 1
done
until [ "$(reporting | wc -w)" -eq 6 ]; do
    [ $((SECONDS - t0)) -lt 40 ] || fail "after 40 s only these agents have reported: $(reporting)"
    sleep 1
done
traced() { # the agents with a traceroute stored
    sqlite3 -cmd '.timeout 2000' "$RUN/faultline.db" \
        'SELECT count(DISTINCT agent_id) FROM result WHERE probe = 6' 2>/dev/null || echo 0
}
until [ "$(traced)" -eq 6 ]; do
    [ $((SECONDS - t0)) -lt 60 ] || fail "after 60 s only $(traced) of six agents have traced the paths that work"
    sleep 1
done
printf '  %3ds: %s results stored, paths traced from all six agents\n' $((SECONDS - t0)) "$(stored)"
echo "  results from all six agents: $(reporting)"

say "faultline agents"
fl agents
say "faultline results --limit 12"
fl results --limit 12

say "injecting a fault: nginx on web.lab.test stops"
"$LAB" fault web-down on
fault_at=$(date +%s)
# Three failed checks (5 s apart) make a failing check, held 3 s an incident.
opened() { [ -n "$(fl incidents --open --json)" ]; }
for _ in $(seq 60); do opened && break; sleep 1; done
opened || fail "no incident opened within 60 s of the fault"
expected='TARGET web.lab.test:80'
seen=$(fl incidents --open --json | jq -r '"\(.verdict) \(.component)"' | paste -sd,)
[ "$seen" = "$expected" ] || fail "the fault opened '$seen', not '$expected'"

say "faultline results --status notok --since @$fault_at   (the fault, as every agent saw it)"
fl results --status notok --since "@$fault_at" --limit 14
say "failing checks per target since the fault (traces and captures triggered by it are evidence)"
sqlite3 -cmd '.timeout 2000' -column -header "$RUN/faultline.db" \
    "SELECT t.name AS target, printf('0x%04x', r.fault_code) AS fault, count(DISTINCT r.agent_id) AS agents,
            count(*) AS failures
       FROM result r JOIN target t ON t.id = r.target_id
      WHERE r.status <> 1 AND r.probe NOT IN (6, 7) AND r.ts_us >= $fault_at * 1000000
      GROUP BY 1, 2 ORDER BY failures DESC"
code=$(sqlite3 "$RUN/faultline.db" "SELECT printf('0x%04x', fault_code) FROM result WHERE status <> 1 AND ts_us >= $fault_at * 1000000 LIMIT 1" 2>/dev/null || true)
if [ -n "$code" ]; then
    say "faultline decode $code"
    fl decode "$code"
fi

say "faultline incidents   (one root cause, named, instead of a failing check per agent and address)"
fl incidents
id=$(fl incidents --limit 1 --json | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
if [ -n "$id" ]; then
    say "faultline incident $id"
    fl incident "$id"
fi

say "healing the fault"
"$LAB" fault web-down off
closed() { [ -z "$(fl incidents --open --json)" ]; }
for _ in $(seq 60); do closed && break; sleep 1; done
fl incidents
closed || fail "the incident is still open 60 s after the fault was healed"
say "faultline summary   (the fault report: counts, durations, MTTR)"
fl summary
say "the same over HTTP: curl http://127.0.0.1:9105/api/v1/incidents (inside fl-coll)"
ip netns exec fl-coll curl -s http://127.0.0.1:9105/api/v1/summary; echo
say "demo passed: results from all six agents, the incident ($expected) and its closing"
if [ $KEEP -eq 1 ]; then
    echo "lab and fleet left running; database $RUN/faultline.db"
    echo "stop with: $FLEET stop $RUN; $LAB down"
fi
