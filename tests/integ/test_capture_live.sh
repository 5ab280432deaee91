#!/usr/bin/env bash
# A live capture window in the lab: what happened in it is counted, the
# window is kept when it shows anomalies, and reading the kept file gives
# the same counts.
source "$(dirname "$0")/lib.sh"

AGENT=$BUILD/agent/faultline-agent
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }

"$LAB" up >/dev/null
"$LAB" exec r3a2 "$AGENT" probe capture --window 3s --family ipv4 --ring_dir "$RUN/ring" \
    --json --verbose web.lab.test >"$RUN/live.json" 2>"$RUN/live.log" &
pid=$!
capturing() { grep -q 'capture on eth0 \[host 10.77.100.2\]' "$RUN/live.log"; }
wait_until 10 "the capture window opened" capturing
for _ in 1 2 3 4 5; do "$LAB" exec r3a2 curl -4 -s -m 2 http://web.lab.test:81/ || true; done
"$LAB" exec r3a2 curl -4 -s -o /dev/null http://web.lab.test/
"$LAB" exec r3a2 ping -4 -c 2 -i 0.2 -M do -s 1472 far.lab.test >/dev/null 2>&1 || true
wait "$pid" || true
live=$(cat "$RUN/live.json")
check "6 SYNs, 5 answered with a reset, 1 handshake of 6 completed" \
    test "$(field syn <<<"$live") $(field rst <<<"$live") $(field handshakes_completed <<<"$live")/$(field handshakes_attempted <<<"$live")" = "6 5 1/6"
check "no retransmissions and no kernel drops" \
    test "$(field retransmissions <<<"$live") $(field kernel_dropped <<<"$live")" = "0 0"
check "the anomalies are typed, 0x3861" test "$(field fault_code <<<"$live")" = 0x3861
saved=$(field saved_file <<<"$live")
check "the window was kept in the ring: $saved" test -s "$saved"
again=$("$AGENT" probe capture --read "$saved" --json file || true)
for k in syn synack rst handshakes_attempted handshakes_completed tcp; do
    check "reading the kept file gives the same $k ($(field $k <<<"$again"))" \
        test "$(field $k <<<"$again")" = "$(field $k <<<"$live")"
done

"$LAB" exec r3a2 "$AGENT" probe capture --window 2s --filter icmp --json --verbose --family ipv4 \
    far.lab.test >"$RUN/icmp.json" 2>"$RUN/icmp.log" &
pid=$!
capturing_icmp() { grep -q 'capture on eth0 \[icmp\]' "$RUN/icmp.log"; }
wait_until 10 "the ICMP window opened" capturing_icmp
"$LAB" exec r3a2 ip route flush cache
"$LAB" exec r3a2 ping -4 -c 1 -M do -s 1472 10.77.104.2 >/dev/null 2>&1 || true
"$LAB" exec r3a2 curl -s -m 1 http://10.77.77.77/ >/dev/null 2>&1 || true # no route past the core
wait "$pid" || true
icmp=$(cat "$RUN/icmp.json")
check "frag-needed from the 1400 link is counted" test "$(field frag_needed <<<"$icmp")" = 1
check "a quiet window is ok, and nothing is kept without a ring" \
    bash -c "'$LAB' exec r3a2 '$AGENT' probe capture --window 500ms --filter 'port 9' --json --family ipv4 web.lab.test | grep -q '\"status\":\"ok\".*\"saved_file\":\"\"'"
