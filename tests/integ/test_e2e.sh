#!/usr/bin/env bash
# End to end in the lab: six agents in three regions report to one
# collector; results agree with ping(8); TCP outcomes are typed; a
# collector down for 30 s loses nothing and duplicates nothing.
source "$(dirname "$0")/lib.sh"

AGENTS=(r1a1 r1a2 r2a1 r2a2 r3a1 r3a2)
"$LAB" up >/dev/null
"$FLEET" start "$BUILD" "$RUN" --interval 2s --test-ports

# Every agent has a result for each of its targets, over IPv4 and IPv6.
pairs() { sql "SELECT count(DISTINCT a.name || ' ' || t.name || ' ' || t.address)
               FROM result r JOIN agent a ON a.id = r.agent_id JOIN target t ON t.id = r.target_id"; }
# Per agent: icmp 6 targets x 2 families, tcp (web, far, back :80, web :81-:83) 6 x 2, http web
# (2 addresses) and app (web's and far's: 4), dns 4 names at one server, host 1; the mtu check's
# (far.lab.test, address) pairs are the icmp check's, and so are the trace check's (web, dns).
expected=$((6 * (12 + 12 + 6 + 4 + 1)))
enough_pairs() { [ "$(pairs)" -ge $expected ]; }
wait_until 60 "results for all $expected (agent, target, address) triples" enough_pairs
check "results stored for every (agent, target, address): $(pairs) of $expected" \
    test "$(pairs)" -eq $expected
check "every agent is listed with its region" \
    test "$("$CLI" --database "$RUN/faultline.db" agents --json | grep -c '"region":"r[123]"')" -eq 6

# ICMP: the stored average rtt agrees with ping run from the same host,
# on a bare path and on one with 20 ms added each way.
icmp_vs_ping() { # AGENT DEST SINCE_US
    local a=$1 dst=$2 since=$3
    local ping_avg ours
    ping_avg=$("$LAB" exec "$a" ping -q -c 10 -i 0.1 "$dst" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    ours=$("$CLI" --database "$RUN/faultline.db" results --agent "$a" --probe icmp --since "@$since" \
        --limit 30 --json | grep "\"address\":\"$dst\"" | head -5 |
        sed -n 's/.*"rtt_avg_ms":\([0-9.e-]*\).*/\1/p' | awk '{ s += $1; n++ } END { if (n) printf "%.4f", s / n }')
    check "icmp $a -> $dst: faultline ${ours:-none} ms vs ping ${ping_avg:-none} ms (within 1 ms or 10%)" \
        awk -v a="${ours:-x}" -v b="${ping_avg:-y}" \
        'BEGIN { if (a == "x" || b == "y") exit 1; d = a - b; if (d < 0) d = -d; exit !(d <= 1 || d <= 0.1 * b) }'
}
for a in r1a1 r2a2; do
    for dst in 10.77.104.2 fd77:0:0:100::2; do icmp_vs_ping "$a" "$dst" 0; done
done
"$LAB" fault latency on r3 20 >/dev/null
since=$(date +%s)
new_icmp() { [ "$("$CLI" --database "$RUN/faultline.db" results --agent r3a1 --probe icmp \
    --since "@$((since + 1))" --json | grep -c 10.77.100.2)" -ge 3 ]; }
wait_until 30 "icmp results with the added latency" new_icmp
icmp_vs_ping r3a1 10.77.100.2 $((since + 1))
"$LAB" fault latency off r3 >/dev/null

# TCP: the outcome of each lab port, as the kernel reports it.
latest() { # AGENT TARGET -> "status fault_code"
    "$CLI" --database "$RUN/faultline.db" results --agent "$1" --target "$2" --limit 1 --json |
        sed -n 's/.*"status":"\([a-z]*\)","fault_code":"\(0x[0-9a-f]*\)".*/\1 \2/p'
}
check "tcp web:80 connects" test "$(latest r1a1 web.lab.test:80)" = "ok 0x0000"
check "tcp web:81 (closed) is refused, 0x3791" test "$(latest r2a1 web.lab.test:81)" = "fail 0x3791"
check "tcp web:82 (dropped) times out, 0x3792" test "$(latest r3a1 web.lab.test:82)" = "fail 0x3792"
check "tcp web:83 (reject with tcp reset) is refused, 0x3791" \
    test "$(latest r1a2 web.lab.test:83)" = "fail 0x3791"

# Collector down for 30 s: the agents keep everything; after the restart
# every result arrives exactly once.
outbox_depth() { sqlite3 -cmd '.timeout 5000' "$RUN/outbox-$1.db" 'SELECT count(*) FROM outbox'; }
"$FLEET" collector-stop "$RUN"
down_at=$SECONDS
wait_until 20 "the outboxes fill while the collector is down" \
    bash -c "[ \$(sqlite3 -cmd '.timeout 5000' '$RUN/outbox-r3a2.db' 'SELECT count(*) FROM outbox') -gt 20 ]"
# The outage itself lasts 30 s: this wait is the scenario, not a synchronisation.
sleep $((30 - (SECONDS - down_at)))
held=$(outbox_depth r1a1)
"$FLEET" collector-start "$BUILD" "$RUN"
all_drained() { for a in "${AGENTS[@]}"; do [ "$(outbox_depth "$a")" -lt 40 ] || return 1; done; }
check "after 30 s down, r1a1 held $held results; the outboxes drain after the restart" \
    wait_until 60 "outboxes drained" all_drained

# Stop the agents; every seq they assigned is in the collector or still in
# their outbox (not yet acknowledged), and none is in the collector twice.
for a in "${AGENTS[@]}"; do kill "$(cat "$RUN/agent-$a.pid")"; done
for a in "${AGENTS[@]}"; do
    wait_until 10 "agent $a stopped" not_alive "$(cat "$RUN/agent-$a.pid")"
done
for a in "${AGENTS[@]}"; do
    ob=$RUN/outbox-$a.db
    epoch=$(sqlite3 "$ob" "SELECT value FROM meta WHERE key = 'epoch'")
    next=$(sqlite3 "$ob" "SELECT value FROM meta WHERE key = 'next_seq'")
    read -r rows distinct lo hi <<<"$(sql -separator ' ' "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
        FROM result r JOIN agent a ON a.id = r.agent_id WHERE a.name = '$a' AND r.epoch = $epoch")"
    union=$(sql "ATTACH '$ob' AS ob; SELECT count(*) FROM (SELECT seq FROM result r JOIN agent a
        ON a.id = r.agent_id WHERE a.name = '$a' AND r.epoch = $epoch UNION SELECT seq FROM ob.outbox)")
    lost=$((next - 1 - union))
    check "$a: $((next - 1)) results made, $rows stored, $((rows - distinct)) duplicated, $lost lost" \
        test "$rows" -eq "$distinct" -a "$lost" -eq 0 -a "$lo" -eq 1 -a "$hi" -le $((next - 1))
done
check "no gaps were reported" test "$(sql 'SELECT count(*) FROM gap')" -eq 0
check "the database is intact" test "$(sql 'PRAGMA integrity_check')" = ok
