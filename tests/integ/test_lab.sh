#!/usr/bin/env bash
# The lab itself: topology, names, MTU, services, every fault on and off,
# and up/down idempotent and leaving nothing behind.
source "$(dirname "$0")/lib.sh"

x() { "$LAB" exec "$@"; }
reach4() { x "$1" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
reach6() { x "$1" ping -6 -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
no_reach4() { ! reach4 "$@"; }
no_reach6() { ! reach6 "$@"; }
http_status() { x "$1" curl -s -o /dev/null -m "${3:-3}" -w '%{http_code}' "http://$2/" || true; }

"$LAB" up >/dev/null
check "up twice is fine" "$LAB" up
check "names resolve to IPv4 from an agent host" \
    bash -c "'$LAB' exec r1a1 getent ahostsv4 web.lab.test | grep -q 10.77.100.2"
check "names resolve to IPv6 from an agent host" \
    bash -c "'$LAB' exec r1a1 getent ahostsv6 web.lab.test | grep -q fd77:0:0:100::2"
for a in r1a1 r1a2 r2a1 r2a2 r3a1 r3a2; do
    for s in web dns far coll; do
        reach4 "$a" "$s.lab.test" && reach6 "$a" "$s.lab.test" || not_ok "$a reaches $s over IPv4 and IPv6"
    done
done
ok "every agent host reaches every service over IPv4 and IPv6"
check "regions reach each other" reach4 r1a1 r3a2
check "nginx sends its version in Server" \
    bash -c "'$LAB' exec r2a1 curl -sI http://web.lab.test/ | grep -qE '^Server: nginx/[0-9.]+'"
check "path MTU toward far is 1400 (tracepath)" \
    bash -c "'$LAB' exec r1a1 tracepath -n 10.77.104.2 | grep -q 'pmtu 1400'"
check "path MTU toward web is 1500 (tracepath)" \
    bash -c "'$LAB' exec r1a1 tracepath -n 10.77.100.2 | grep -q 'pmtu 1500'"

"$LAB" fault cut on r1 r2 >/dev/null
check "cut r1 r2: r1 cannot reach r2" no_reach4 r1a1 r2a1.lab.test
check "cut r1 r2: nor over IPv6" no_reach6 r1a2 r2a2.lab.test
check "cut r1 r2: r1 still reaches r3" reach4 r1a1 r3a1.lab.test
check "cut r1 r2: r1 still reaches web" reach4 r1a1 web.lab.test
check "cut r1 r2: r3 still reaches r2" reach4 r3a1 r2a1.lab.test
"$LAB" fault cut off r1 r2 >/dev/null
check "cut off: r1 reaches r2 again" reach4 r1a1 r2a1.lab.test

"$LAB" fault isolate on r2a2 >/dev/null
check "isolate r2a2: it reaches nothing" no_reach4 r2a2 10.77.100.2
check "isolate r2a2: its neighbour is fine" reach4 r2a1 10.77.100.2
"$LAB" fault isolate off r2a2 >/dev/null
check "isolate off: r2a2 reaches web" reach4 r2a2 10.77.100.2

"$LAB" fault loss on r3 50 >/dev/null
loss=$(x r3a1 ping -q -c 200 -i 0.002 -W 1 10.77.100.2 | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
check "loss 50% each way on r3: round trip loses 60-90% (got $loss%)" \
    awk -v l="$loss" 'BEGIN { exit !(l >= 60 && l <= 90) }'
"$LAB" fault loss off r3 >/dev/null
check "loss off: no loss" bash -c "'$LAB' exec r3a1 ping -q -c 50 -i 0.002 10.77.100.2 | grep -q ' 0% packet loss'"

"$LAB" fault latency on r1 40 >/dev/null
avg=$(x r1a1 ping -q -c 5 -i 0.2 10.77.100.2 | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
check "latency 40 ms each way on r1: rtt about 80 ms (got $avg)" \
    awk -v a="$avg" 'BEGIN { exit !(a >= 79 && a <= 95) }'
avg2=$(x r2a1 ping -q -c 3 -i 0.2 10.77.100.2 | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
check "latency on r1 leaves r2 alone (got $avg2)" awk -v a="$avg2" 'BEGIN { exit !(a < 5) }'
"$LAB" fault latency off r1 >/dev/null
avg=$(x r1a1 ping -q -c 3 -i 0.2 10.77.100.2 | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
check "latency off: rtt back under 5 ms (got $avg)" awk -v a="$avg" 'BEGIN { exit !(a < 5) }'

"$LAB" fault web-down on >/dev/null
check "web-down: connection refused" test "$(http_status r1a1 web.lab.test)" = 000
"$LAB" fault web-down off >/dev/null
check "web-down off: 200 again" test "$(http_status r1a1 web.lab.test)" = 200

"$LAB" fault tcp-reset on 80 >/dev/null
check "tcp-reset 80: curl is refused" bash -c "! '$LAB' exec r1a1 curl -s -m 2 http://web.lab.test/"
"$LAB" fault tcp-reset off 80 >/dev/null
check "tcp-reset off: 200 again" test "$(http_status r1a1 web.lab.test)" = 200

check "app.lab.test has web's and far's addresses" \
    bash -c "[ \"\$('$LAB' exec r1a1 dig +short app.lab.test A | sort | tr '\n' ' ')\" = '10.77.100.2 10.77.104.2 ' ]"
"$LAB" fault drift on >/dev/null
check "drift: far says Server: nginx, web nginx/version" \
    bash -c "'$LAB' exec r1a1 curl -sI http://10.77.104.2/ | grep -qi '^server: nginx.\$' &&
             '$LAB' exec r1a1 curl -sI http://10.77.100.2/ | grep -qi '^server: nginx/'"
"$LAB" fault drift off >/dev/null
check "drift off: far names its version again" \
    bash -c "'$LAB' exec r1a1 curl -sI http://10.77.104.2/ | grep -qi '^server: nginx/'"

"$LAB" fault sysctl-drift on r2a2 >/dev/null
check "sysctl-drift: r2a2 has tcp_syn_retries 3, r2a1 not" \
    bash -c "[ \"\$('$LAB' exec r2a2 sysctl -n net.ipv4.tcp_syn_retries)\" = 3 ] &&
             [ \"\$('$LAB' exec r2a1 sysctl -n net.ipv4.tcp_syn_retries)\" != 3 ]"
"$LAB" fault sysctl-drift off r2a2 >/dev/null
check "sysctl-drift off: restored" \
    bash -c "[ \"\$('$LAB' exec r2a2 sysctl -n net.ipv4.tcp_syn_retries)\" = \"\$('$LAB' exec r2a1 sysctl -n net.ipv4.tcp_syn_retries)\" ]"

"$LAB" fault slow-http on >/dev/null
start=$SECONDS
code=$(http_status r1a1 web.lab.test 10)
check "slow-http: answers 200 after about 6 s (took $((SECONDS - start)) s)" \
    test "$code" = 200 -a $((SECONDS - start)) -ge 5
"$LAB" fault slow-http off >/dev/null
check "slow-http off: fast again" test "$(http_status r1a1 web.lab.test 2)" = 200

"$LAB" fault dns-down on >/dev/null
check "dns-down: no answer" bash -c "! '$LAB' exec r1a1 dig +time=1 +tries=1 @10.77.101.2 web.lab.test >/dev/null"
"$LAB" fault dns-down off >/dev/null
check "dns-down off: answers" bash -c "'$LAB' exec r1a1 dig +short @10.77.101.2 web.lab.test | grep -q 10.77.100.2"

check "svc zone answers" bash -c "'$LAB' exec r1a1 dig @10.77.101.2 api.svc.lab.test | grep -q 'status: NOERROR'"
"$LAB" fault dns-servfail on >/dev/null
check "dns-servfail: svc.lab.test SERVFAIL" \
    bash -c "'$LAB' exec r1a1 dig +time=2 +tries=1 @10.77.101.2 api.svc.lab.test | grep -q 'status: SERVFAIL'"
check "dns-servfail: the rest of lab.test answers" \
    bash -c "'$LAB' exec r1a1 dig +short @10.77.101.2 web.lab.test | grep -q 10.77.100.2"
"$LAB" fault dns-servfail off >/dev/null
check "dns-servfail off: svc answers" \
    bash -c "'$LAB' exec r1a1 dig +short @10.77.101.2 db.svc.lab.test | grep -q 10.77.104.2"

"$LAB" fault mtu-blackhole on >/dev/null
check "mtu-blackhole: no frag-needed comes back (tracepath sees 1500)" \
    bash -c "! '$LAB' exec r1a1 tracepath -n -m 6 10.77.104.2 | grep -q 'pmtu 1400'"
"$LAB" fault mtu-blackhole off >/dev/null
check "mtu-blackhole off: 1400 again" \
    bash -c "'$LAB' exec r1a1 tracepath -n 10.77.104.2 | grep -q 'pmtu 1400'"

check "bad fault arguments are refused" bash -c "! '$LAB' fault loss on r9 10 2>/dev/null && ! '$LAB' fault nosuch on 2>/dev/null"

"$LAB" down >/dev/null
check "down twice is fine" "$LAB" down
check "down leaves no namespace" bash -c "! ip netns list | grep -q '^fl-'"
check "down leaves no /etc/netns entry" bash -c "! ls /etc/netns 2>/dev/null | grep -q '^fl-'"
check "down leaves no lab process" bash -c "! pgrep -f '[f]aultline-lab' >/dev/null"
