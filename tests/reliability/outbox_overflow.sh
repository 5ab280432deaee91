#!/usr/bin/env bash
# Outbox overflow: with the outbox capped small, the agents are cut from the
# collector until each has made twice the cap.  Shows that the outbox never
# holds more than the cap (sampled every 0.2 s), that once the link is back
# the collector knows exactly what was lost: for each agent the seq ranges
# absent from the store are exactly the ranges `faultline gaps` reports, no
# more, no less, and their total is at most what the agent says it dropped
# (it may have dropped results the collector stored but could not
# acknowledge across the cut); nothing is duplicated; integrity ok.  Prints one line per agent and
# a JSON summary; exit 1 on any failure.
#
#   outbox_overflow.sh BUILD_DIR [--agents 3] [--rate 100] [--cap 2000]
. "$(dirname "$0")/lib.sh"
AGENTS=3 RATE=100 OUTBOX_MAX=2000
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;; --cap) OUTBOX_MAX=$2; shift 2 ;;
    *) echo "$NAME: unknown argument $1" >&2; exit 2 ;;
    esac
done
rel_setup
start_collector
start_agents
wait_delivering

partition
# Until each agent has made twice the cap since the cut.
goal=$(awk -v a="$(next_seqs)" -v c="$OUTBOX_MAX" \
    'BEGIN{n = split(a, x, " "); for (i = 1; i <= n; i++) printf "%d ", x[i] + 2 * c}')
deepest=0
end=$((SECONDS + 20 * OUTBOX_MAX / RATE + 60))
until all_past "$(next_seqs)" "$goal" ge; do
    [ $SECONDS -lt $end ] || { echo "$NAME: agents did not make $goal" >&2; exit 1; }
    for i in $(seq 1 "$AGENTS"); do
        d=$(outbox "$i" 'SELECT count(*) FROM outbox')
        [ "$d" -gt "$deepest" ] && deepest=$d
    done
    sleep 0.2
done
echo "made twice the cap ($OUTBOX_MAX) while cut off; deepest outbox $deepest" >&2
heal

# Everything made is either stored or reported lost: stop the agents and
# let them empty their outboxes (gaps included) into the collector.
[ "$(until_past "$(made_so_far)" "$(date +%s.%N)" 60 ge)" != -1 ] || { echo "$NAME: backlog not delivered" >&2; exit 1; }
drain_outboxes
kill_collector TERM

bad=0 exact=1 missing_all=0 dropped_all=0 dup_all=0 made_all=0
for i in $(seq 1 "$AGENTS"); do
    e=$(epoch_of "$i") n=$(($(next_seq_of "$i") - 1))
    # The ranges the store lacks, from the results themselves.
    absent=$(db -separator ' ' "WITH s AS (SELECT DISTINCT seq FROM result r JOIN agent g
        ON g.id = r.agent_id WHERE g.name = 'k$i' AND r.epoch = $e
        UNION ALL SELECT $n + 1),
        l AS (SELECT seq, lag(seq, 1, 0) OVER (ORDER BY seq) AS prev FROM s)
        SELECT prev + 1, seq - 1 FROM l WHERE seq > prev + 1")
    reported=$("$CLI" --database "$DIR/faultline.db" gaps --agent "k$i" --json |
        jq -r "select(.epoch == $e) | \"\\(.from_seq) \\(.to_seq)\"")
    dropped=$(outbox "$i" "SELECT ifnull((SELECT value FROM meta WHERE key = 'dropped'), 0)")
    missing=$(echo "$absent" | awk 'NF {s += $2 - $1 + 1} END {print s + 0}')
    dup=$(db "SELECT count(*) - count(DISTINCT seq) FROM result r JOIN agent g ON g.id = r.agent_id
        WHERE g.name = 'k$i' AND r.epoch = $e")
    echo "k$i: made $n, missing $missing in $(echo "$absent" | grep -c .) ranges, dropped $dropped, duplicated $dup;" \
        "missing ranges $(echo "$absent" | paste -sd,) reported $(echo "$reported" | paste -sd,)"
    # Dropped results may still be stored: sent before the cut, their Ack lost in it.
    [ "$absent" = "$reported" ] && [ "$missing" -le "$dropped" ] && [ "$missing" -gt 0 ] || exact=0
    [ "$dup" = 0 ] || bad=1
    missing_all=$((missing_all + missing)) dropped_all=$((dropped_all + dropped)) dup_all=$((dup_all + dup)) made_all=$((made_all + n))
done
integrity=$(db 'PRAGMA integrity_check')
[ "$deepest" -le "$OUTBOX_MAX" ] && [ "$integrity" = ok ] && [ "$DRAINED" != -1 ] &&
    [ "$exact" = 1 ] || bad=1
failed=$bad
printf '{"agents":%d,"rate":%d,"cap":%d,"deepest_outbox":%d,"made":%d,"dropped":%d,"missing":%d,"duplicated":%d,"missing_equals_reported":%s,"integrity":"%s","ok":%s}\n' \
    "$AGENTS" "$RATE" "$OUTBOX_MAX" "$deepest" "$made_all" "$dropped_all" "$missing_all" "$dup_all" \
    "$([ "$exact" = 1 ] && echo true || echo false)" "$integrity" \
    "$([ "$failed" = 0 ] && echo true || echo false)"
exit "$failed"
