#!/usr/bin/env bash
# Agent kill loop: under load, each agent is SIGKILLed again and again (at a
# random moment: while probing, committing its outbox or sending) and
# restarted at once.  Each restart must be sending again quickly: the time
# from the restart until the collector holds a result the new process made
# (a seq at or past the outbox's next_seq at the kill).  Afterwards every
# agent's stream (agent, epoch) is contiguous from 1, with no duplicate and
# no gap reported, and the database passes PRAGMA integrity_check.  Prints
# one line per agent and a JSON summary; exit 1 on any failure.
#
#   agent_kill.sh BUILD_DIR [--agents 10] [--rate 500] [--kills 20]
#                 [--min-ms 200] [--max-ms 2000] [--resume-limit 2]
#
# --kills is per agent: the full run (the defaults) kills 200 times and takes
# about 10 minutes; the test suite runs a short one.
. "$(dirname "$0")/lib.sh"
KILLS=20 MIN_MS=200 MAX_MS=2000
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;; --kills) KILLS=$2; shift 2 ;;
    --min-ms) MIN_MS=$2; shift 2 ;; --max-ms) MAX_MS=$2; shift 2 ;;
    --resume-limit) LIMIT=$2; shift 2 ;;
    *) echo "$NAME: unknown argument $1" >&2; exit 2 ;;
    esac
done
rel_setup
start_collector
start_agents

# Wait until agent I holds the collector at or past seq FROM; print the
# seconds since T0, or -1 after 10 s.
resumed() { # I FROM T0
    local end=$((SECONDS + 10))
    while [ $SECONDS -lt $end ]; do
        [ "$(stored_upto "$1")" -ge "$2" ] && { since "$3"; return; }
        sleep 0.05
    done
    echo -1
}

kills=0
for round in $(seq 1 "$KILLS"); do
    for i in $(seq 1 "$AGENTS" | shuf); do
        # The loop itself is the scenario: a random moment in the agent's work.
        sleep "$(awk -v r=$RANDOM -v lo="$MIN_MS" -v hi="$MAX_MS" \
            'BEGIN{printf "%.3f", (lo + r % (hi - lo + 1)) / 1000}')"
        kill_agent "$i" KILL
        from=$(next_seq_of "$i")
        t0=$(date +%s.%N)
        start_agent "$i"
        record_resume "$(resumed "$i" "$from" "$t0")" "k$i restarted"
        kills=$((kills + 1))
    done
    echo "round $round/$KILLS: $(stored) results stored so far, slowest resume ${WORST}s" >&2
done

drain_outboxes
kill_collector TERM
ok=0
verify_all || ok=1
streams=$(epochs)
[ "$streams" = "$AGENTS" ] && [ "$LATE" = 0 ] || ok=1
failed=$ok
printf '{"agents":%d,"rate":%d,"kills":%d,"made":%d,"lost":%d,"duplicated":%d,"gaps":%d,"streams":%d,"integrity":"%s","slowest_resume_s":%s,"late_resumes":%d,"ok":%s}\n' \
    "$AGENTS" "$RATE" "$kills" "$MADE" "$LOST" "$DUP" "$GAPS" "$streams" "$INTEGRITY" "$WORST" \
    "$LATE" "$([ "$failed" = 0 ] && echo true || echo false)"
exit "$failed"
