#!/usr/bin/env bash
# CURVE between real daemons in the lab: a listed agent's results are
# stored under the name its key is listed with (whatever name its payload
# claims), an unlisted key stores nothing and is logged and counted, a
# wrong server key never connects while the outbox keeps everything, the
# traffic carries none of the results' text, and a key removed from the
# allow-list (SIGHUP) loses its live connection.
source "$(dirname "$0")/lib.sh"

"$LAB" up >/dev/null
K=$RUN/keys
mkdir -p "$K/agents"
for k in coll other r1a1 r1a2 r2a1 r3a1; do "$CLI" keygen "$K/$k" >/dev/null; done
for a in r1a1 r2a1 r3a1; do cp "$K/$a.pub" "$K/agents/$a.pub"; done # r1a2 is not listed

cat >"$RUN/collector.yaml" <<YAML
listen: tcp://*:5555
database: $RUN/faultline.db
key: $K/coll.key
allow: $K/agents
YAML
ip netns exec fl-coll "$BUILD/collector/faultline-collector" --config.file "$RUN/collector.yaml" \
    >>"$RUN/collector.log" 2>&1 &
echo $! >"$RUN/collector.pid"

agent() { # HOST NAME KEY SERVER_PUB
    cat >"$RUN/agent-$1.yaml" <<YAML
agent: {name: $2, labels: {region: ${1:0:2}}}
collector: {endpoint: "tcp://coll.lab.test:5555", server_key: $K/$4.pub, key: $K/$3.key}
outbox: {path: $RUN/outbox-$1.db}
defaults: {interval: 1s, timeout: 500ms}
checks:
  - {probe: icmp, targets: [web.lab.test], count: 2, spacing: 50ms}
  - {probe: tcp, targets: [web.lab.test], port: 80}
YAML
    ip netns exec "fl-$1" "$BUILD/agent/faultline-agent" --config.file "$RUN/agent-$1.yaml" \
        >>"$RUN/agent-$1.log" 2>&1 &
    echo $! >"$RUN/agent-$1.pid"
}
agent r1a1 r1a1 r1a1 coll     # listed
agent r1a2 r1a2 r1a2 coll     # not listed
agent r2a1 mallory r2a1 coll  # listed as r2a1, claims to be mallory
agent r3a1 r3a1 r3a1 other    # the wrong server key

stored() { sql "SELECT count(*) FROM result r JOIN agent a ON a.id = r.agent_id WHERE a.name = '$1'" 2>/dev/null || echo 0; }
metric() { ip netns exec fl-coll curl -fs http://127.0.0.1:9105/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
has() { [ "$(stored "$1")" -ge "$2" ]; }

# A capture of the agents' traffic on fl-coll while results flow.
ip netns exec fl-coll tcpdump -i eth0 -w "$RUN/wire.pcap" -U 'tcp port 5555' >/dev/null 2>&1 &
dump=$!
wait_until 30 "r1a1's results stored" has r1a1 10
wait_until 30 "r2a1's results stored" has r2a1 10
kill "$dump"; wait "$dump" 2>/dev/null || true

check "the listed agent's results are stored: $(stored r1a1)" has r1a1 10
check "a payload naming itself mallory is stored under its key's name r2a1: $(stored r2a1), mallory $(stored mallory)" \
    bash -c "[ $(stored r2a1) -ge 10 ] && [ $(stored mallory) -eq 0 ]"
check "impersonations are counted: $(metric faultline_impersonations_total)" \
    test "$(metric faultline_impersonations_total)" -ge 1
check "the unlisted key stores nothing: $(stored r1a2)" test "$(stored r1a2)" -eq 0
refused_logged() { grep -q 'refused a connection from 10.77.12.2' "$RUN/collector.log"; }
check "its handshakes are refused and logged with its address" refused_logged
check "and counted: $(metric faultline_handshakes_refused_total)" \
    test "$(metric faultline_handshakes_refused_total)" -ge 1
check "the agent with the wrong server key stores nothing: $(stored r3a1)" test "$(stored r3a1)" -eq 0
kept() { [ "$(sqlite3 -cmd '.timeout 5000' "$RUN/outbox-r3a1.db" 'SELECT count(*) FROM outbox')" -ge 10 ]; }
wait_until 30 "r3a1's outbox holds its results" kept || true
check "and its outbox keeps them: $(sqlite3 -cmd '.timeout 5000' "$RUN/outbox-r3a1.db" 'SELECT count(*) FROM outbox')" kept
check "and it says why: the handshake fails, is server_key the collector's?" \
    grep -q "the handshake with the collector at tcp://coll.lab.test:5555 failed .*is collector.server_key" \
    "$RUN/agent-r3a1.log"
packets=$(tcpdump -r "$RUN/wire.pcap" 2>/dev/null | wc -l)
check "the capture holds the agents' traffic: $packets packets" test "$packets" -ge 20
check "and none of the results' text (web.lab.test, r1a1)" \
    bash -c "! tcpdump -r '$RUN/wire.pcap' -A 2>/dev/null | grep -qE 'web\\.lab|r1a1'"
# The same check can see through plain text: the control.
check "(control: the results' text is in the outbox, which is not encrypted)" \
    bash -c "sqlite3 '$RUN/outbox-r3a1.db' 'SELECT hex(data) FROM outbox LIMIT 5' | grep -q '$(printf web.lab | od -An -tx1 | tr -d ' \n' | tr a-f A-F)'"

# The refused agent says so, keeps knocking, and is in within 2 s of the
# operator listing its key and reloading the collector.
r1a2_key=$(sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$K/r1a2.pub")
refusal_logged() {
    grep -F "the collector at tcp://coll.lab.test:5555 refused this agent's key $r1a2_key" \
        "$RUN/agent-r1a2.log" >/dev/null
}
check "the refused agent logs the refusal with the collector's address and its own key" refusal_logged
knocks() {
    ip netns exec fl-coll curl -fs http://127.0.0.1:9105/metrics |
        grep -F "faultline_refused_key_handshakes_total{key=\"$r1a2_key\"}" | awk '{ print $2 }'
}
check "and keeps trying: $(knocks) handshakes refused" test "$(knocks)" -ge 5
lines=$(grep -c "refused this agent's key" "$RUN/agent-r1a2.log" || true)
check "logging only on back-off steps: $lines lines for $(knocks) refusals" \
    bash -c "[ $lines -ge 1 ] && [ $(( 1 << (lines - 1) )) -le $(knocks) ]"
check "/metrics names the key with its address" bash -c \
    "ip netns exec fl-coll curl -fs http://127.0.0.1:9105/metrics | grep -qF 'faultline_refused_key_last_seen_timestamp_seconds{key=\"$r1a2_key\",address=\"10.77.12.2\"}'"
agents_refused() { "$CLI" --database "$RUN/faultline.db" agents | grep -F "$r1a2_key" | grep -q 10.77.12.2; }
wait_until 5 "faultline agents lists the refused key" agents_refused || true
check "faultline agents lists the refused key and its address" agents_refused
cp "$K/r1a2.pub" "$K/agents/r1a2.pub"
t0=$(date +%s%N)
kill -HUP "$(cat "$RUN/collector.pid")"
wait_until 10 "r1a2's first result stored" has r1a2 1 || true
t1=$(date +%s%N)
check "listed and reloaded, the refused agent delivers within 2 s: $(( (t1 - t0) / 1000000 )) ms" \
    bash -c "[ $(stored r1a2) -ge 1 ] && [ $(( (t1 - t0) / 1000000 )) -le 2000 ]"
check "with neither side restarted, and it says it is in" \
    grep -q 'let this agent in after' "$RUN/agent-r1a2.log"
not_refused() { ! agents_refused; }
wait_until 5 "the key leaves the refused list" not_refused || true
check "its key is no longer listed as refused" not_refused

# Revoke r1a1: its live connection is cut at the reload, nothing more of it is stored.
rm "$K/agents/r1a1.pub"
t0=$(date +%s%N)
kill -HUP "$(cat "$RUN/collector.pid")"
revoked() { grep -q 'agent r1a1 is no longer allowed' "$RUN/collector.log"; }
wait_until 5 "the collector cuts r1a1" revoked || true
t1=$(date +%s%N)
check "the reload cuts r1a1 within 1 s ($(( (t1 - t0) / 1000000 )) ms)" \
    bash -c "grep -q 'agent r1a1 is no longer allowed' '$RUN/collector.log' && [ $(( (t1 - t0) / 1000000 )) -le 1000 ]"
check "counted: $(metric faultline_connections_revoked_total)" \
    test "$(metric faultline_connections_revoked_total)" -eq 1
more_r2a1() { [ "$(stored r2a1)" -ge $(( $1 + 4 )) ]; }
n2=$(stored r2a1)
wait_until 30 "r2a1 goes on" more_r2a1 "$n2" # whatever was on its way is in
before=$(stored r1a1)
n2=$(stored r2a1)
wait_until 30 "r2a1 goes on" more_r2a1 "$n2"
check "after it, r1a1 stores nothing more ($before, then $(stored r1a1)) while r2a1 goes on" \
    test "$(stored r1a1)" -eq "$before"
for p in "$RUN"/agent-*.pid "$RUN/collector.pid"; do kill "$(cat "$p")" 2>/dev/null || true; done
