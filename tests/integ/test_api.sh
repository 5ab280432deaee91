#!/usr/bin/env bash
# The collector's HTTP API in the lab: the fault history it serves is the
# one the CLI reads, the summary's counts and MTTR follow the incidents,
# /metrics is valid Prometheus text (promtool), and bad parameters get a
# 400 with a reason.
source "$(dirname "$0")/lib.sh"

"$LAB" up >/dev/null
"$FLEET" start "$BUILD" "$RUN" --interval 2s
API=http://127.0.0.1:9105
get() { ip netns exec fl-coll curl -s "$API$1"; }
status() { ip netns exec fl-coll curl -s -o /dev/null -w '%{http_code}' "$API$1"; }
agents_up() { [ "$(get /api/v1/agents | jq length)" -eq 6 ]; }
wait_until 30 "six agents through the API" agents_up
# Every agent has seen web answer first: the fault then turns its checks from
# healthy to failing, which is what triggers the traces kept as evidence.
web_seen() { [ "$(get '/api/v1/results?target=http://web.lab.test/&status=ok&limit=1000' | jq '[.[].agent] | unique | length')" -eq 6 ]; }
wait_until 30 "every agent has reached web" web_seen
check "healthz" test "$(get /healthz)" = ok
check "the page" bash -c "ip netns exec fl-coll curl -fs $API/ | grep -q '<title>faultline</title>'"

"$LAB" fault web-down on >/dev/null
web_open() { get '/api/v1/incidents?open=true' | jq -e 'map(select(.verdict == "TARGET" and .component == "web.lab.test:80")) | length == 1'; }
check "web down: the API lists the open TARGET incident" wait_until 60 "incident" web_open
id=$(get '/api/v1/incidents?open=1' | jq '.[0].id')
check "API incidents equal the CLI's" \
    test "$(get '/api/v1/incidents?limit=50' | jq -c 'map([.id, .verdict, .component])')" = \
         "$("$CLI" --database "$RUN/faultline.db" incidents --json | jq -s -c 'map([.id, .verdict, .component])')"
check "filters: by target and code" \
    test "$(get '/api/v1/incidents?target=web.lab.test:80&code=0x3791' | jq -c 'map(.id)')" = "[$id]"
check "filters: by region" test "$(get '/api/v1/incidents?region=r2' | jq -c 'map(.id)')" = "[$id]"
check "filters: an agent not involved" test "$(get '/api/v1/incidents?agent=nobody' | jq length)" -eq 0
check "filters: a code that is not one is a 400" test "$(status '/api/v1/incidents?code=zz')" = 400
check "incident $id carries evidence: the failures that opened it and the traces they triggered" \
    bash -c "ip netns exec fl-coll curl -s $API/api/v1/incidents/$id | jq -e '(.evidence.failures | length) > 0 and (.evidence.traces | length) > 0 and (.evidence.failures | all(.status != \"ok\"))'"
check "incident $id by id" test "$(get "/api/v1/incidents/$id" | jq -r '.verdict + " " + .component')" = "TARGET web.lab.test:80"
check "metrics: one TARGET open" bash -c "ip netns exec fl-coll curl -s $API/metrics | grep -qx 'faultline_incidents_open{verdict=\"TARGET\"} 1'"
check "metrics: results stored" bash -c "ip netns exec fl-coll curl -s $API/metrics | awk '/^faultline_results_stored_total/ { exit !(\$2 > 0) }'"
check "metrics: promtool check metrics" bash -c "ip netns exec fl-coll curl -s $API/metrics | promtool check metrics"
check "summary: one open TARGET" test "$(get /api/v1/summary | jq -c '.by_verdict.TARGET | [.incidents, .open]')" = "[1,1]"

"$LAB" fault web-down off >/dev/null
closed() { get "/api/v1/incidents/$id" | jq -e '.open == false'; }
check "healed: closed" wait_until 60 "closed" closed
dur=$(get "/api/v1/incidents/$id" | jq .duration_s)
check "summary: MTTR is the incident's duration ($dur s)" \
    jq -e --argjson d "$dur" '.by_component["TARGET web.lab.test:80"].mttr_s - $d | fabs < 0.01' <<<"$(get /api/v1/summary)"
# No number carries the noise of its binary form (155.28862800000002).
clean() { ! get /api/v1/summary | grep -Eo '[0-9]+\.[0-9]+' | awk 'length($0) > 16' | grep -q .; }
check "summary: durations printed with the digits they have: $(get /api/v1/summary | jq -c .total.mttr_s)" clean
check "summary per region: web's incident touched 3 regions" \
    test "$(get /api/v1/summary | jq '.by_region | length')" -eq 3
check "results: filtered by agent and probe" \
    test "$(get '/api/v1/results?agent=r1a1&probe=icmp&limit=5' | jq -c '[length, (map(.agent + "/" + .probe) | unique)]')" = '[5,["r1a1/icmp"]]'

for bad in 'limit=abc' 'limit=0' 'since=yesterday' 'bogus=1' 'open=maybe' 'verdict=' 'verdict=BOGUS' \
    'limit=5&limit=6'; do
    check "bad parameter $bad: 400 with a reason" \
        bash -c "[ \"\$(ip netns exec fl-coll curl -s -w ' %{http_code}' '$API/api/v1/incidents?$bad')\" != '' ] &&
                 ip netns exec fl-coll curl -s -w ' %{http_code}' '$API/api/v1/incidents?$bad' | grep -q '^{\"error\":\".*\"} 400$'"
done
check "results: unknown probe is a 400" test "$(status '/api/v1/results?probe=nope')" = 400
check "incident id not a number: 400" test "$(status /api/v1/incidents/abc)" = 400
check "gaps: none reported in a healthy run" test "$(get /api/v1/gaps | jq length)" = 0
check "gaps: unknown parameter is a 400" test "$(status '/api/v1/gaps?agnt=a1')" = 400
check "gaps: agent given twice is a 400" test "$(status '/api/v1/gaps?agent=a1&agent=a2')" = 400
check "unknown incident: 404" test "$(status /api/v1/incidents/999999)" = 404
check "unknown path: 404" test "$(status /api/v2/x)" = 404
check "POST: 405" test "$(ip netns exec fl-coll curl -s -o /dev/null -w '%{http_code}' -X POST "$API/api/v1/incidents")" = 405
