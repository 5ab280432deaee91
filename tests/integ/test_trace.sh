#!/usr/bin/env bash
# The traceroute probe in the lab, compared with tracepath run from the same
# host at the same time.
source "$(dirname "$0")/lib.sh"

AGENT=$BUILD/agent/faultline-agent
# The probe exits 1 when its result is not ok: that is what some checks want.
probe() { "$LAB" exec "$1" "$AGENT" probe trace --json "${@:2}" || true; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
# "ttl address" per answering hop, from our JSON and from tracepath (the
# last address tracepath prints for each hop number).
our_hops() { grep -o '"ttl":[0-9]*,"address":"[^"]*"' | sed 's/"ttl":\([0-9]*\),"address":"\(.*\)"/\1 \2/' | awk '$2 != ""'; }
tracepath_hops() {
    "$LAB" exec "$1" tracepath -n "$2" | awk '$1 ~ /^[0-9]+:$/ && $2 !~ /LOCALHOST|no reply/ { sub(":", "", $1); h[$1] = $2 }
        END { for (i = 1; i <= 30; i++) if (i in h) print i, h[i] }'
}

"$LAB" up >/dev/null

for a in r1a1 r2a2 r3a1; do
    for dst in 10.77.104.2 fd77:0:0:104::2 10.77.100.2 fd77:0:0:31::2; do
        [ "$a" = r3a1 ] && [ "$dst" = fd77:0:0:31::2 ] && continue # itself
        ours=$(probe "$a" "$dst")
        got=$(our_hops <<<"$ours")
        want=$(tracepath_hops "$a" "$dst")
        check "$a -> $dst: hops equal tracepath's ($(echo $got | tr '\n' ' '))" test "$got" = "$want"
        check "$a -> $dst: reached" test "$(field reached <<<"$ours")" = true
    done
done

"$LAB" fault cut on r1 r2 >/dev/null
for fam in 4 6; do
    cut=$(probe r1a1 --family "ipv$fam" --wait 300ms r2a1.lab.test)
    core=10.77.1.1
    [ $fam = 6 ] && core=fd77:0:0:1::1
    check "cut r1 r2 (IPv$fam): the trace stops at the core ($core), the last reachable hop" \
        test "$(field reached <<<"$cut") $(field last_address <<<"$cut")" = "false $core"
    check "cut r1 r2 (IPv$fam): typed as an incomplete trace, 0x3591" \
        test "$(field fault_code <<<"$cut")" = 0x3591
done
"$LAB" fault cut off r1 r2 >/dev/null
"$LAB" fault isolate on r3a1 >/dev/null
iso=$(probe r3a1 --family ipv4 --wait 200ms web.lab.test)
check "an isolated host: no hop answers" test "$(field last_address <<<"$iso")" = ""
"$LAB" fault isolate off r3a1 >/dev/null

# A target turning from healthy to failing gets a trace at once, stored with
# its results and naming the failing result it explains.
"$FLEET" start "$BUILD" "$RUN" --interval 2s
R() { "$CLI" --database "$RUN/faultline.db" results "$@"; }
ok_once() { R --agent r2a1 --target web.lab.test:80 --status ok --limit 1 --json | grep -q '"status":"ok"'; }
wait_until 30 "a healthy result for web:80 from r2a1" ok_once
"$LAB" fault web-down on >/dev/null
failed() { R --agent r2a1 --target web.lab.test:80 --status fail --limit 1 --json | grep -q 0x3791; }
wait_until 30 "the first failure of web:80 from r2a1" failed
traced() { R --agent r2a1 --target web.lab.test:80 --probe trace --limit 1 --json | grep -q triggered_by; }
wait_until 10 "a triggered trace" traced
first=$(R --agent r2a1 --target web.lab.test:80 --status fail --limit 0 --json | tail -1)
trace=$(R --agent r2a1 --target web.lab.test:80 --probe trace --limit 0 --json | tail -1)
fail_us=$(field start_us <<<"$first")
trace_us=$(field start_us <<<"$trace")
check "the trace starts within one interval (2 s) of the first failure ($(((trace_us - fail_us) / 1000)) ms)" \
    test $((trace_us - fail_us)) -ge 0 -a $((trace_us - fail_us)) -le 2000000
check "the trace names the failing result it explains" \
    test "$(field triggered_by <<<"$trace")" = "$(field seq <<<"$first")"
check "the trace is kept with the target's results and reaches it" \
    test "$(field target <<<"$trace") $(field reached <<<"$trace")" = "web.lab.test:80 true"
captured() { R --agent r2a1 --target web.lab.test:80 --probe capture --limit 1 --json | grep -q triggered_by; }
wait_until 15 "a capture window triggered by the failure" captured
cap=$(R --agent r2a1 --target web.lab.test:80 --probe capture --limit 0 --json | tail -1)
check "the triggered capture names the failing result and saw the next refusals (rst $(field rst <<<"$cap"))" \
    test "$(field triggered_by <<<"$cap")" = "$(field seq <<<"$first")" -a "$(field rst <<<"$cap")" -ge 1
"$LAB" fault web-down off >/dev/null
