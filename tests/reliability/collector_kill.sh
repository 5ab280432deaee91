#!/usr/bin/env bash
# Collector kill loop: agents deliver a steady load over CURVE while the
# collector is SIGKILLed again and again and restarted at once.  Afterwards
# every result every agent made is stored exactly once (lost 0, duplicated
# 0), no gap was reported, the database passes PRAGMA integrity_check, and
# the backlog drained after the last restart.  Prints one line per agent
# and a JSON summary; exit 1 on any failure.
#
#   collector_kill.sh BUILD_DIR [--agents 10] [--rate 500] [--kills 20]
#                     [--min 5] [--max 40]
#
# The full run (the defaults) takes about 10 minutes; the test suite runs a
# short one (3 agents x 100 results/s, 4 kills 2-5 s apart).
. "$(dirname "$0")/lib.sh"
KILLS=20 MIN=5 MAX=40
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;; --kills) KILLS=$2; shift 2 ;;
    --min) MIN=$2; shift 2 ;; --max) MAX=$2; shift 2 ;;
    *) echo "$NAME: unknown argument $1" >&2; exit 2 ;;
    esac
done
rel_setup
start_collector
start_agents
for k in $(seq 1 "$KILLS"); do
    # The loop itself is the scenario: random intervals between kills.
    sleep $((MIN + RANDOM % (MAX - MIN + 1)))
    kill_collector KILL
    start_collector
    echo "kill $k/$KILLS: restarted; $(stored) results stored so far" >&2
done

drain_outboxes
kill_collector TERM
ok=0
verify_all || ok=1
failed=$ok
printf '{"agents":%d,"rate":%d,"kills":%d,"made":%d,"lost":%d,"duplicated":%d,"gaps":%d,"integrity":"%s","drained_s":%s,"ok":%s}\n' \
    "$AGENTS" "$RATE" "$KILLS" "$MADE" "$LOST" "$DUP" "$GAPS" "$INTEGRITY" "$DRAINED" \
    "$([ "$failed" = 0 ] && echo true || echo false)"
exit "$failed"
