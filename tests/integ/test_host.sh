#!/usr/bin/env bash
# The host probe in a quiet lab host: its counter deltas equal nstat's over
# the same interval, and its socket states match ss -s.
source "$(dirname "$0")/lib.sh"

AGENT=$BUILD/agent/faultline-agent
H=r2a2 # no agent runs here: only this test's traffic moves its counters
x() { "$LAB" exec "$H" "$@"; }

"$LAB" up >/dev/null
export NSTAT_HISTORY=$RUN/nstat.history

x nstat -n # nstat's interval starts (the namespace is quiet)
x "$AGENT" probe host --window 3s --json --verbose self >"$RUN/host.json" 2>"$RUN/host.log" &
probe_pid=$!
started() { grep -q 'window of 3000 ms begins' "$RUN/host.log"; }
wait_until 10 "the probe read its first counters" started
# Traffic inside both intervals: refused connections and HTTP requests.
for _ in 1 2 3 4 5; do x bash -c 'exec 3<>/dev/tcp/10.77.100.2/81' 2>/dev/null || true; done
for _ in 1 2 3; do x curl -s -o /dev/null http://10.77.100.2/; done
wait "$probe_pid" || true
x nstat -z >"$RUN/nstat.out" # nstat's interval ends (quiet again)

ours() { grep -o "\"$1\":{\"value\":[0-9]*,\"delta\":-\\{0,1\\}[0-9]*}" "$RUN/host.json" | sed 's/.*"delta":\(-\{0,1\}[0-9]*\)}/\1/'; }
theirs() { awk -v n="$1" '$1 == n { print $2 }' "$RUN/nstat.out"; }
for c in Tcp:ActiveOpens Tcp:AttemptFails Tcp:OutRsts Tcp:InSegs Tcp:OutSegs Tcp:EstabResets \
    Tcp:PassiveOpens Tcp:RetransSegs TcpExt:TCPSynRetrans TcpExt:ListenDrops; do
    n=${c/:/}
    o=$(ours "$c")
    t=$(theirs "$n")
    check "$c: delta $o equals nstat's $n ${t:-0}" test "${o:-x}" = "${t:-0}"
done
check "the refused connections are counted: Tcp:AttemptFails +5" test "$(ours Tcp:AttemptFails)" = 5

# Held connections, as ss counts them.
x bash -c 'exec 3<>/dev/tcp/10.77.100.2/80 4<>/dev/tcp/10.77.100.2/80 5<>/dev/tcp/10.77.104.2/80; sleep 30' &
holder=$!
disown
held() { [ "$(x ss -Htn state established | wc -l)" -eq 3 ]; }
wait_until 10 "three established connections" held
states=$(x "$AGENT" probe host --window 100ms --json self || true)
ss_estab=$(x ss -s | sed -n 's/^TCP:.*estab \([0-9]*\),.*/\1/p')
our_estab=$(sed -n 's/.*"ESTABLISHED":\([0-9]*\).*/\1/p' <<<"$states")
check "ESTABLISHED $our_estab equals ss -s's estab $ss_estab" test "$our_estab" = "$ss_estab"
ss_tw=$(x ss -s | sed -n 's/^TCP:.*timewait \([0-9]*\).*/\1/p')
our_tw=$(sed -n 's/.*"TIME_WAIT":\([0-9]*\).*/\1/p' <<<"$states")
check "TIME_WAIT $our_tw equals ss -s's timewait $ss_tw" test "$our_tw" = "$ss_tw"
share=$(sed -n 's/.*"established_share":\([0-9.]*\).*/\1/p' <<<"$states")
conns=$(jq '.host.states | to_entries | map(select(.key != "LISTEN" and .key != "TIME_WAIT" and .key != "CLOSE") | .value) | add' <<<"$states")
check "the established share $share is ESTABLISHED / (every state but LISTEN, TIME_WAIT, CLOSE: $conns)" \
    awk -v s="$share" -v e="$our_estab" -v n="$conns" 'BEGIN { d = s - e / n; exit !(n > 0 && d < 0.001 && d > -0.001) }'
kill "$holder" 2>/dev/null || true
check "the TCP sysctls are reported as the kernel has them" \
    test "$(sed -n 's/.*"tcp_syn_retries":"\([0-9]*\)".*/\1/p' <<<"$states")" = "$(x sysctl -n net.ipv4.tcp_syn_retries)"
check "interface MTUs and the default route are reported" \
    bash -c "grep -q '\"eth0\":1500' <<<'$states' && grep -q '\"default_route_v4\":\"via 10.77.22.1 dev eth0\"' <<<'$states'"
