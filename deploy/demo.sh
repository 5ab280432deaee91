#!/usr/bin/env bash
# The faultline demo: build, bring up the lab (three regions, six agent hosts,
# web, DNS and an MTU-1400 host in network namespaces), run the collector and
# one agent per host for about a minute, break the web server, and show what
# faultline saw: the failing checks, and the one incident that names the
# cause.  Everything is cleaned up at the end.
#   deploy/demo.sh [--keep]     --keep leaves the lab and the fleet running
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FL_BUILD_DIR:-$ROOT/build}
RUN=${FL_DEMO_DIR:-/tmp/faultline-demo}
LAB=$ROOT/deploy/lab/lab.sh
FLEET=$ROOT/deploy/lab/fleet.sh
KEEP=0
[ "${1:-}" = --keep ] && KEEP=1
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fl() { "$BUILD/cli/faultline" --database "$RUN/faultline.db" "$@"; }

cleanup() {
    [ $KEEP -eq 1 ] && return
    "$FLEET" stop "$RUN" >/dev/null 2>&1 || true
    "$LAB" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "installing packages and building"
"$ROOT/deploy/install-deps.sh" test
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null

say "bringing up the lab"
"$LAB" down >/dev/null
"$LAB" up
"$LAB" hosts

say "starting the collector (SQLite at $RUN/faultline.db) and six agents"
rm -rf "$RUN"
"$FLEET" start "$BUILD" "$RUN" --interval 5s
for i in $(seq 12); do
    sleep 5
    printf '  %3ds: %s results stored\n' $((i * 5)) \
        "$(sqlite3 -cmd '.timeout 2000' "$RUN/faultline.db" 'SELECT count(*) FROM result' 2>/dev/null || echo 0)"
done

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
for _ in $(seq 30); do closed && break; sleep 1; done
fl incidents
say "faultline summary   (the fault report: counts, durations, MTTR)"
fl summary
say "the same over HTTP: curl http://127.0.0.1:9105/api/v1/incidents (inside fl-coll)"
ip netns exec fl-coll curl -s http://127.0.0.1:9105/api/v1/summary; echo
if [ $KEEP -eq 1 ]; then
    echo "lab and fleet left running; database $RUN/faultline.db"
    echo "stop with: $FLEET stop $RUN; $LAB down"
fi
