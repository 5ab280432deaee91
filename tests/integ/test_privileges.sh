#!/usr/bin/env bash
# An agent started as root with `agent.user` runs as that user with
# CAP_NET_RAW alone and no_new_privs, in every thread, and its probes still
# work (raw and ping sockets, captures); a ping socket needs no capability
# at all where ping_group_range allows.
source "$(dirname "$0")/lib.sh"

"$LAB" up >/dev/null
cat >"$RUN/collector.yaml" <<YAML
listen: tcp://*:5555
database: $RUN/faultline.db
http_listen: ""
YAML
ip netns exec fl-coll "$BUILD/collector/faultline-collector" --insecure \
    --config.file "$RUN/collector.yaml" >>"$RUN/collector.log" 2>&1 &
echo $! >"$RUN/collector.pid"
cat >"$RUN/agent-r1a1.yaml" <<YAML
agent: {name: r1a1, user: nobody, labels: {region: r1}}
collector: {endpoint: "tcp://coll.lab.test:5555"}
outbox: {path: $RUN/outbox-r1a1.db}
defaults: {interval: 1s, timeout: 500ms}
checks:
  - {probe: icmp, targets: [web.lab.test], count: 2, spacing: 50ms}
  - {probe: tcp, targets: [web.lab.test], port: 80}
  - {probe: capture, targets: [web.lab.test], window: 1s, interval: 2s}
YAML
ip netns exec fl-r1a1 "$BUILD/agent/faultline-agent" --insecure --config.file "$RUN/agent-r1a1.yaml" \
    >>"$RUN/agent-r1a1.log" 2>&1 &
pid=$!
echo $pid >"$RUN/agent-r1a1.pid"

probes() { sql "SELECT count(DISTINCT probe) FROM result WHERE status = 1" 2>/dev/null || echo 0; }
two() { [ "$(probes)" -ge 2 ]; }
wait_until 30 "icmp and tcp results from the unprivileged agent" two
field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$pid/status"; }
nobody=$(id -u nobody)
check "uid is $nobody in every field: $(field Uid)" test "$(field Uid)" = "$nobody $nobody $nobody $nobody"
check "gid is nobody's: $(field Gid)" test "$(field Gid | awk '{ print $1 }')" = "$(id -g nobody)"
check "effective capabilities: CAP_NET_RAW alone ($(field CapEff))" test "$(field CapEff)" = 0000000000002000
check "permitted: the same ($(field CapPrm))" test "$(field CapPrm)" = 0000000000002000
check "nothing inheritable or ambient" \
    bash -c "[ '$(field CapInh)' = 0000000000000000 ] && [ '$(field CapAmb)' = 0000000000000000 ]"
check "NoNewPrivs: $(field NoNewPrivs)" test "$(field NoNewPrivs)" = 1
every_thread() {
    local t
    for t in /proc/"$pid"/task/*; do
        awk '$1 == "Uid:" && $2 == 0 { exit 1 } $1 == "NoNewPrivs:" && $2 != 1 { exit 1 }' "$t/status" || return 1
    done
}
check "every thread ($(ls /proc/"$pid"/task | wc -l)) is unprivileged and has no_new_privs" every_thread
check "its results are stored: icmp and tcp ok" two
captured() { [ "$(sql "SELECT count(*) FROM result WHERE probe = 7 AND fault_code <> $((0x1171))")" -ge 1 ]; }
wait_until 30 "a capture window" captured || true
check "a capture window ran (libpcap on a raw socket, no permission error)" captured

# A ping socket: no capability at all.
icmp=$(ip netns exec fl-r1a1 setpriv --reuid="$nobody" --regid="$(id -g nobody)" --clear-groups \
    --inh-caps=-all --bounding-set=-all "$BUILD/agent/faultline-agent" probe icmp --count 2 --json web.lab.test 2>/dev/null | head -1)
check "with no capabilities, ICMP works over a ping socket" \
    bash -c "jq -e '.status == \"ok\" and .icmp.raw_socket == false' <<<'$icmp' >/dev/null"
kill "$pid" "$(cat "$RUN/collector.pid")" 2>/dev/null || true
