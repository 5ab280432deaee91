#!/usr/bin/env bash
# The DNS probe against unbound in the lab, compared with dig run from the
# same host at the same time.
source "$(dirname "$0")/lib.sh"

AGENT=$BUILD/agent/faultline-agent
# The probe exits 1 when its result is not ok: that is what most checks want.
probe() { "$LAB" exec "$1" "$AGENT" probe dns --json "${@:2}" || true; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
answers() { # JSON -> one answer per line, sorted, as dig +short prints them
    sed -n 's/.*"answers":\[\(.*\)\],"tcp".*/\1/p' | sed 's/","/"\n"/g' |
        sed 's/^"//; s/"$//; s/\\"/"/g' | grep -v '^$' | sort || true
}
dig_short() { "$LAB" exec "$1" dig +short "${@:2}" | sort; }
dig_status() { "$LAB" exec "$1" dig "${@:2}" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

"$LAB" up >/dev/null

for server in 10.77.101.2 fd77:0:0:101::2; do
    for q in "web.lab.test A" "far.lab.test AAAA" "lab.test NS" "lab.test MX" "lab.test TXT" \
        "lab.test SOA" "www.lab.test CNAME" "ns.lab.test A"; do
        read -r name type <<<"$q"
        ours=$(probe r1a2 --servers "$server" --type "$type" "$name")
        want=$(dig_short r1a2 "@$server" "$name" "$type")
        got=$(answers <<<"$ours")
        check "$name $type @$server: answers equal dig's ($(echo $got))" test "$got" = "$want"
        check "$name $type @$server: rcode $(field rcode_name <<<"$ours") equals dig's" \
            test "$(field rcode_name <<<"$ours")" = "$(dig_status r1a2 "@$server" "$name" "$type")"
    done
done

nx=$(probe r2a1 --servers 10.77.101.2 nosuch.lab.test)
check "NXDOMAIN is typed 0x2291, as dig says NXDOMAIN" \
    test "$(field fault_code <<<"$nx") $(dig_status r2a1 @10.77.101.2 nosuch.lab.test)" = "0x2291 NXDOMAIN"
sf=$(probe r2a1 --servers 10.77.101.2 x.broken.test)
check "SERVFAIL is typed 0x22a2, as dig says SERVFAIL" \
    test "$(field fault_code <<<"$sf") $(dig_status r2a1 @10.77.101.2 x.broken.test)" = "0x22a2 SERVFAIL"
rf=$(probe r2a1 --servers 10.77.101.2 example.com)
check "REFUSED is typed 0x2293" test "$(field fault_code <<<"$rf")" = 0x2293
nodata=$(probe r2a1 --servers 10.77.101.2 --type AAAA lab.test)
check "NOERROR without a record of the type is no data, 0x2268" \
    test "$(field fault_code <<<"$nodata") $(field rcode_name <<<"$nodata")" = "0x2268 NOERROR"

start=$SECONDS
dead=$(probe r3a1 --servers 10.77.100.2 --timeout 500ms --retries 1 web.lab.test)
check "a server that never answers is a timeout, 0x22a4, after 2 tries ($((SECONDS - start)) s)" \
    test "$(field fault_code <<<"$dead")" = 0x22a4
"$LAB" fault dns-down on >/dev/null
down=$(probe r3a1 --servers 10.77.101.2 --timeout 500ms web.lab.test)
check "with unbound stopped the server is unreachable, 0x22a9" test "$(field fault_code <<<"$down")" = 0x22a9
"$LAB" fault dns-down off >/dev/null

many=$(probe r1a1 --servers 10.77.101.2 many.lab.test)
check "a truncated answer is retried over TCP and says so" \
    test "$(field tcp <<<"$many") $(field truncated_retry <<<"$many") $(field status <<<"$many")" = "true true ok"
check "the TCP answer holds all 40 records, as dig's" \
    test "$(answers <<<"$many")" = "$(dig_short r1a1 @10.77.101.2 many.lab.test)"
forced=$(probe r1a1 --servers fd77:0:0:101::2 --transport tcp web.lab.test)
check "transport tcp: over TCP, not as a retry" \
    test "$(field tcp <<<"$forced") $(field truncated_retry <<<"$forced")" = "true false"

check "expected answers: ok when they match" \
    test "$(probe r1a1 --servers 10.77.101.2 --expect 10.77.100.2 web.lab.test | field status)" = ok
check "expected answers: 0x2276 when they do not" \
    test "$(probe r1a1 --servers 10.77.101.2 --expect 10.77.100.9 web.lab.test | field fault_code)" = 0x2276
absent=$(probe r1a1 --servers 10.77.101.2 --expect_rcode NXDOMAIN nosuch.lab.test)
check "a name that must not exist: ok on NXDOMAIN (as dig says $(dig_status r1a1 @10.77.101.2 nosuch.lab.test))" \
    test "$(field status <<<"$absent") $(field rcode_name <<<"$absent")" = "ok NXDOMAIN"
check "a name that must not exist but does: 0x2276, NOERROR named" \
    test "$(probe r1a1 --servers 10.77.101.2 --expect_rcode NXDOMAIN web.lab.test | field fault_code)" = 0x2276

"$LAB" fault latency on r1 30 >/dev/null
slow=$(probe r1a1 --servers 10.77.101.2 --slow 40ms web.lab.test)
ms=$(field response_ms <<<"$slow")
check "an answer after ${ms} ms with a 40 ms threshold is slow, 0x2255" \
    test "$(field fault_code <<<"$slow")" = 0x2255
"$LAB" fault latency off r1 >/dev/null

sys=$(probe r2a2 web.lab.test)
check "without servers, both of resolv.conf's are asked" \
    test "$(grep -c '"status":"ok"' <<<"$sys")" -eq 2
