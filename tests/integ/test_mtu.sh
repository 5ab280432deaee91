#!/usr/bin/env bash
# The path-MTU probe in the lab, compared with tracepath run from the same
# host at the same time; and the black hole that tracepath cannot see.
source "$(dirname "$0")/lib.sh"

AGENT=$BUILD/agent/faultline-agent
# The probe exits 1 when its result is not ok: that is what some checks want.
probe() { "$LAB" exec "$1" "$AGENT" probe mtu --json "${@:2}" || true; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
tracepath_pmtu() { "$LAB" exec "$1" tracepath -n "$2" | sed -n 's/.*Resume: pmtu \([0-9]*\).*/\1/p'; }

"$LAB" up >/dev/null

for a in r1a1 r3a2; do
    for dst in 10.77.104.2 fd77:0:0:104::2 10.77.100.2 fd77:0:0:100::2; do
        ours=$(probe "$a" "$dst")
        theirs=$(tracepath_pmtu "$a" "$dst")
        check "$a -> $dst: path MTU $(field path_mtu <<<"$ours") equals tracepath's $theirs" \
            test "$(field path_mtu <<<"$ours")" = "$theirs"
    done
done
far=$(probe r2a1 --family ipv4 far.lab.test)
check "toward far: 1400, told by the path (icmp), status ok" \
    test "$(field path_mtu <<<"$far") $(field method <<<"$far") $(field status <<<"$far")" = "1400 icmp ok"
check "toward far: the outgoing interface and its MTU are named" \
    test "$(field interface <<<"$far") $(field interface_mtu <<<"$far")" = "eth0 1500"
check "expect_mtu 1500 toward far is a fault, 0x3463" \
    test "$(probe r2a1 --family ipv4 --expect_mtu 1500 far.lab.test | field fault_code)" = 0x3463

"$LAB" fault mtu-blackhole on >/dev/null
for dst in 10.77.104.2 fd77:0:0:104::2; do
    hole=$(probe r1a2 "$dst")
    check "black hole toward $dst: still finds 1400 by searching" \
        test "$(field path_mtu <<<"$hole") $(field method <<<"$hole")" = "1400 search"
    check "black hole toward $dst: says black hole, 0x34a1" \
        test "$(field black_hole <<<"$hole") $(field fault_code <<<"$hole")" = "true 0x34a1"
done
check "tracepath, by contrast, sees no 1400 through the black hole" \
    bash -c "[ \"\$('$LAB' exec r1a2 tracepath -n -m 6 10.77.104.2 | sed -n 's/.*Resume: pmtu \([0-9]*\).*/\1/p')\" != 1400 ]"
"$LAB" fault mtu-blackhole off >/dev/null
check "black hole healed: 1400 told by the path again" \
    test "$(probe r1a2 --family ipv4 far.lab.test | field method)" = icmp

# Big probes lost by chance (the core drops the first two over 1400 bytes,
# then lets them pass): a search, but the confirmation sees the size arrive.
# web answers every probe for this one (no ICMP rate limit), so the search
# itself is exact.
"$LAB" exec core nft 'add table inet fl_test_loss; add chain inet fl_test_loss c { type filter hook forward priority -20; }
add rule inet fl_test_loss c udp dport 33434-34000 meta length > 1400 quota over 3200 bytes accept
add rule inet fl_test_loss c udp dport 33434-34000 meta length > 1400 drop'
limit=$("$LAB" exec web sysctl -n net.ipv4.icmp_ratelimit)
"$LAB" exec web sysctl -qw net.ipv4.icmp_ratelimit=0
lossy=$(probe r2a1 10.77.100.2)
"$LAB" exec web sysctl -qw net.ipv4.icmp_ratelimit="$limit"
"$LAB" exec core nft delete table inet fl_test_loss
check "two big probes lost by chance: no black hole, path MTU 1500 ($(field path_mtu <<<"$lossy") $(field black_hole <<<"$lossy") $(field status <<<"$lossy"))" \
    test "$(field path_mtu <<<"$lossy") $(field black_hole <<<"$lossy") $(field status <<<"$lossy")" = "1500 false ok"

"$LAB" fault cut on r1 r3 >/dev/null
check "a cut path: no probe gets through, 0x34a2" \
    test "$(probe r1a1 --family ipv4 --wait 200ms r3a1.lab.test | field fault_code)" = 0x34a2
"$LAB" fault cut off r1 r3 >/dev/null
