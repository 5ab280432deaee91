#!/usr/bin/env bash
# Partition loop: nft drops every packet between the agents and the
# collector (both ways, on arrival, so the senders see a black hole, not an
# error) for a long while, then the link flaps: dropped for 1-5 s, up for
# 1-5 s, many times.  Shows:
#   - delivery resumes within RESUME seconds of every heal (each agent's
#     stored seq moves past where it stood when the link came back);
#   - the backlog of the long partition drains at least 3x as fast as
#     results are made (backlog / time from heal until every result made
#     before the heal is stored, against agents x rate);
#   - afterwards: lost 0, duplicated 0, no gap, integrity ok, and each
#     agent's open descriptors and resident memory back to their baseline,
#     taken after a first 20 s cut (the same descriptor count; RSS within
#     10 % or 1 MiB).
# Prints one line per agent and a JSON summary; exit 1 on any failure.
#
#   partition.sh BUILD_DIR [--agents 10] [--rate 500] [--long 600]
#                [--flaps 200] [--min 1] [--max 5] [--resume-limit 2]
#
# The full run (the defaults) takes about 30 minutes; the test suite runs a
# short one.
. "$(dirname "$0")/lib.sh"
LONG=600 FLAPS=200 MIN=1 MAX=5
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;; --long) LONG=$2; shift 2 ;;
    --flaps) FLAPS=$2; shift 2 ;; --min) MIN=$2; shift 2 ;; --max) MAX=$2; shift 2 ;;
    --resume-limit) LIMIT=$2; shift 2 ;;
    *) echo "$NAME: unknown argument $1" >&2; exit 2 ;;
    esac
done
rel_setup
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Descriptors, the fewest of 10 looks 50 ms apart: a probe's socket comes
# and goes within milliseconds.
fds() {
    local k n m=
    for k in 1 2 3 4 5 6 7 8 9 10; do
        n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l)
        [ -z "$m" ] || [ "$n" -lt "$m" ] && m=$n
        sleep 0.05
    done
    echo "$m"
}
usage() { local i; for i in $(seq 1 "$AGENTS"); do echo "$(rss "${APID[$i]}") $(fds "${APID[$i]}")"; done; }

start_collector
start_agents
wait_delivering
# The baseline is taken after a first, 20 s cut has been delivered: the
# outbox's SQLite page cache (2 MiB at most) and the allocator have warmed
# up, so what is compared afterwards is growth, not warm-up.
partition
sleep 20
heal
[ "$(until_past "$(made_so_far)" "$(date +%s.%N)" 60 ge)" != -1 ] || { echo "$NAME: warm-up not delivered" >&2; exit 1; }
sleep 5 # steady state again
baseline=$(usage)

echo "partition for ${LONG}s" >&2
partition
sleep "$LONG"
made=$(made_so_far) before=$(stored_uptos)
backlog=$(awk -v a="$made" -v b="$before" 'BEGIN{n = split(a, x, " "); split(b, y, " ");
    for (i = 1; i <= n; i++) s += x[i] - y[i]; print s}')
heal
t0=$(date +%s.%N)
long_resume=$(until_past "$before" "$t0" 30)
record_resume "$long_resume" "the long cut"
# Every result made before the heal stored.
drain=$(until_past "$made" "$t0" $((LONG + 60)) ge)
ratio=$(awk -v b="$backlog" -v t="$drain" -v r=$((AGENTS * RATE)) \
    'BEGIN{printf("%.1f", t > 0 ? b / t / r : 0)}')
echo "healed: resumed in ${long_resume}s; backlog $backlog drained in ${drain}s (${ratio}x the ingest rate)" >&2

for f in $(seq 1 "$FLAPS"); do
    partition
    cut=$((MIN + RANDOM % (MAX - MIN + 1)))
    sleep "$cut"
    before=$(stored_uptos)
    heal
    t0=$(date +%s.%N)
    echo "flap $f healed at $(date -u +%T.%3N) after ${cut}s" >>"$DIR/events"
    took=$(until_past "$before" "$t0" 30)
    record_resume "$took" "flap $f"
    echo "flap $f resumed in ${took}s" >>"$DIR/events"
    [ $((f % 10)) = 0 ] && echo "flap $f/$FLAPS: slowest resume so far ${WORST}s" >&2
    sleep $((MIN + RANDOM % (MAX - MIN + 1)))
done

# The resume times of every heal: median, 95th percentile.
read -r p50 p95 <<<"$(resume_percentiles)"

# Back to normal: every result made so far stored, then the agents' usage.
settled=$(until_past "$(made_so_far)" "$(date +%s.%N)" 120 ge)
after=$(usage)
usage_ok=1
# Under AddressSanitizer freed memory stays in its quarantine: RSS is shown,
# not judged.
asan=0
ldd "$BUILD/agent/faultline-agent" | grep -q libasan && asan=1
while read -r b_rss b_fds a_rss a_fds; do
    echo "agent usage: RSS $b_rss -> $a_rss KiB, descriptors $b_fds -> $a_fds" >&2
    [ "$a_fds" -eq "$b_fds" ] && { [ $asan = 1 ] || awk -v b="$b_rss" -v a="$a_rss" \
        'BEGIN{exit !(a <= b * 1.1 || a <= b + 1024)}'; } || usage_ok=0
done < <(paste -d' ' <(echo "$baseline") <(echo "$after"))

drain_outboxes
kill_collector TERM
ok=0
verify_all || ok=1
[ "$LATE" = 0 ] && [ "$drain" != -1 ] && awk -v r="$ratio" 'BEGIN{exit !(r >= 3)}' &&
    [ "$usage_ok" = 1 ] && [ "$settled" != -1 ] || ok=1
failed=$ok
printf '{"agents":%d,"rate":%d,"long_s":%d,"flaps":%d,"made":%d,"lost":%d,"duplicated":%d,"gaps":%d,"integrity":"%s","backlog":%d,"drain_s":%s,"drain_ratio":%s,"resume_s":{"p50":%s,"p95":%s,"max":%s},"late_resumes":%d,"usage_back":%s,"ok":%s}\n' \
    "$AGENTS" "$RATE" "$LONG" "$FLAPS" "$MADE" "$LOST" "$DUP" "$GAPS" "$INTEGRITY" "$backlog" \
    "$drain" "$ratio" "$p50" "$p95" "$WORST" "$LATE" "$([ $usage_ok = 1 ] && echo true || echo false)" \
    "$([ "$failed" = 0 ] && echo true || echo false)"
exit "$failed"
