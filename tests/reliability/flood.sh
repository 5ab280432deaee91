#!/usr/bin/env bash
# Hostile input: while legitimate agents deliver a steady load, an agent
# with a listed key sends a flood of mutated and random messages, and
# hundreds of raw TCP connections send garbage to the collector's port.
# Shows: the collector stays up (no crash; with a sanitizer build, no
# report in its log), every message the flood tool knows to be invalid is
# counted as rejected (faultline_messages_rejected_total), every garbage
# connection is closed by the collector and counted (accepted, never
# authenticated: faultline_connections_accepted_total less the handshakes
# accepted and refused; the ones that start like ZeroMQ also in
# faultline_handshakes_failed_total), the legitimate agents keep at least
# 90 % of the throughput they had before the flood, and afterwards their
# streams are complete (lost 0, duplicated 0) and integrity is ok.  Also
# reports the collector's resident memory before, at peak and after.
#
#   flood.sh BUILD_DIR [--agents 3] [--rate 500] [--messages 1000000]
#            [--connections 500] [--seed 1]
. "$(dirname "$0")/lib.sh"
AGENTS=3 RATE=500 MESSAGES=1000000 CONNS=500 SEED=1 HTTP=127.0.0.1:9105
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;;
    --messages) MESSAGES=$2; shift 2 ;; --connections) CONNS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    *) echo "$NAME: unknown argument $1" >&2; exit 2 ;;
    esac
done
rel_setup
"$CLI" keygen "$DIR/keys/flood" >/dev/null
cp "$DIR/keys/flood.pub" "$DIR/keys/agents/flood.pub"
metric() { # NAME: the sum of its samples
    "${IN[@]}" curl -sf "http://$HTTP/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}'
}
cpid() { cat "$DIR/collector.pid"; }
mem() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # PID VmRSS|VmHWM

start_collector
start_agents
wait_delivering
total() { echo "$1" | awk '{for (i = 1; i <= NF; i++) s += $i; print s}'; }

# Throughput before: results stored per second over 10 s.
u0=$(stored_uptos) t0=$(date +%s.%N)
sleep 10
u1=$(stored_uptos)
base=$(awk -v a="$(total "$u1")" -v b="$(total "$u0")" -v t="$(since "$t0")" 'BEGIN{printf("%.0f", (a - b) / t)}')
rss_before=$(mem "$(cpid)" VmRSS)
rejected0=$(metric faultline_messages_rejected_total)
# Connections that never authenticated: accepted, less those the ZAP
# handler let in or refused.
unauthenticated() {
    echo $(($(metric faultline_connections_accepted_total) - $(metric faultline_handshakes_accepted_total) -
        $(metric faultline_handshakes_refused_total)))
}
unauth0=$(unauthenticated) closed0=$(metric faultline_connections_closed_total)
failed0=$(metric faultline_handshakes_failed_total)

u0=$(stored_uptos) t0=$(date +%s.%N)
"${IN[@]}" "$BUILD/tests/fl_flood" garbage 127.0.0.1 "$PORT" "$CONNS" "$SEED" >"$DIR/garbage.json" &
gpid=$!
"${IN[@]}" "$BUILD/tests/fl_flood" messages "tcp://127.0.0.1:$PORT" "$DIR/keys/collector.pub" \
    "$DIR/keys/flood.key" "$MESSAGES" "$SEED" >"$DIR/flood.json"
u1=$(stored_uptos) took=$(since "$t0")
during=$(awk -v a="$(total "$u1")" -v b="$(total "$u0")" -v t="$took" 'BEGIN{printf("%.0f", (a - b) / t)}')
wait "$gpid" || true
invalid=$(jq .invalid "$DIR/flood.json")
echo "flood: $(cat "$DIR/flood.json") in ${took}s; garbage: $(cat "$DIR/garbage.json")" >&2

# Every invalid message counted (the collector may still be reading them).
counted=-1
for _ in $(seq 1 600); do
    counted=$(($(metric faultline_messages_rejected_total) - rejected0))
    [ "$counted" -ge "$invalid" ] && break
    sleep 0.1
done
conns=$(jq .connections "$DIR/garbage.json") closed=$(jq .closed_by_peer "$DIR/garbage.json")
garbage=$(($(unauthenticated) - unauth0))
closed_n=$(($(metric faultline_connections_closed_total) - closed0))
failed_hs=$(($(metric faultline_handshakes_failed_total) - failed0))
rss_peak=$(mem "$(cpid)" VmHWM) rss_after=$(mem "$(cpid)" VmRSS)
alive=0
kill -0 "$(cpid)" 2>/dev/null && alive=1

drain_outboxes
kill_collector TERM
reports=$(grep -c 'Sanitizer\|runtime error:' "$DIR/collector.log" || true)

ok=0
verify_all || ok=1
ratio=$(awk -v d="$during" -v b="$base" 'BEGIN{printf("%.2f", b > 0 ? d / b : 0)}')
[ "$alive" = 1 ] && [ "$reports" = 0 ] && [ "$counted" = "$invalid" ] && [ "$closed" = "$conns" ] &&
    [ "$garbage" = "$conns" ] && [ "$closed_n" -ge "$conns" ] && [ "$failed_hs" -gt 0 ] &&
    awk -v r="$ratio" 'BEGIN{exit !(r >= 0.9)}' || ok=1
failed=$ok
printf '{"messages":%d,"invalid":%d,"rejected_counted":%d,"connections":%d,"closed_by_collector":%d,"counted_unauthenticated":%d,"handshakes_failed":%d,"flood_s":%s,"legit_results_per_s_before":%d,"during":%d,"ratio":%s,"collector_rss_kib":{"before":%d,"peak":%d,"after":%d},"sanitizer_reports":%d,"lost":%d,"duplicated":%d,"integrity":"%s","ok":%s}\n' \
    "$MESSAGES" "$invalid" "$counted" "$conns" "$closed" "$garbage" "$failed_hs" "$took" "$base" "$during" \
    "$ratio" "$rss_before" "$rss_peak" "$rss_after" "$reports" "$LOST" "$DUP" "$INTEGRITY" \
    "$([ "$failed" = 0 ] && echo true || echo false)"
exit "$failed"
