#!/usr/bin/env bash
# A collector SIGKILLed and restarted during a standing fault carries on:
# the same incident stays open, no resolve and no second open reach the
# sinks, and the real Alertmanager (Debian's) shows one alert, linked to
# the incident, from the first open until the fault heals.  Then a fault
# that heals while the collector is down: once it is back, the incident
# closes with the time it healed (the agents' backlogs say when), not the
# time the collector came back.
source "$(dirname "$0")/lib.sh"

command -v prometheus-alertmanager >/dev/null || { not_ok "prometheus-alertmanager is installed"; exit 1; }
"$LAB" up >/dev/null
"$FLEET" start "$BUILD" "$RUN" --interval 2s --alertmanager
get() { ip netns exec fl-coll curl -fs "http://127.0.0.1:9105$1"; }
am() { ip netns exec fl-coll curl -fs http://127.0.0.1:9093/api/v2/alerts; }
now_us() { date +%s%6N; }
agents_up() { [ "$(get /api/v1/agents | jq length)" -eq 6 ]; }
wait_until 30 "six agents" agents_up

# The incident TARGET web.lab.test:80 open now (its id), or nothing.
web_incident() { get '/api/v1/incidents?open=true&verdict=TARGET&component=web.lab.test:80' | jq -e '.[0].id'; }
# Alertmanager's alerts for incident $1: "state startsAt generatorURL", one line each.
am_alerts() { am | jq -r --arg id "$1" '.[] | select(.labels.incident == $id) | "\(.status.state) \(.startsAt) \(.generatorURL)"'; }
am_shows() { [ "$(am_alerts "$1" | wc -l)" -eq 1 ]; }
am_clear() { [ "$(am_alerts "$1" | wc -l)" -eq 0 ]; }
events() { # ID EVENT: how many EVENT events the exec sink got for incident ID
    jq -s --argjson id "$1" --arg ev "$2" 'map(select(.incident.id == $id and .event == $ev)) | length' \
        "$RUN/alerts.jsonl"
}
kill_collector() {
    local pid; pid=$(cat "$RUN/collector.pid")
    kill -KILL "$pid"
    wait_until 10 "the collector is gone" not_alive "$pid"
    rm -f "$RUN/collector.pid"
}
start_collector() {
    "$FLEET" collector-start "$BUILD" "$RUN"
    wait_until 20 "the collector answers" get /healthz
}

"$LAB" fault web-down on >/dev/null
check "web down: a TARGET incident opens" wait_until 60 "incident" web_incident
id=$(web_incident)
check "Alertmanager shows its alert" wait_until 30 "alert for $id" am_shows "$id"
before=$(am_alerts "$id")
check "the alert links to the incident: $before" \
    grep -q " http://127.0.0.1:9105/api/v1/incidents/$id\$" <<<"$before"

# SIGKILL, then back after DOWN seconds (0: at once, as a supervisor
# restarts it; 20: longer than silent_after, 15 s, yet the agents are not
# silent for it).  For 30 s after the restart (three re-sends to
# Alertmanager, thirty evaluations) the fault stands and nothing about its
# incident may change.
restart_keeps() { # DOWN
    kill_collector
    [ "$1" = 0 ] || sleep "$1" # the scenario: a collector down for that long
    start_collector
    check "down ${1} s: it carried on from the store" \
        test "$(grep -c 'carried on from the store: [0-9]* results' "$RUN/collector.log")" -eq "$((++restarts))"
    local steady=1 end=$((SECONDS + 30))
    while [ $SECONDS -lt $end ]; do
        [ "$(web_incident)" = "$id" ] || { steady=0; echo "incident $id not open: $(get '/api/v1/incidents?open=true')"; break; }
        [ "$(am_alerts "$id")" = "$before" ] || { steady=0; echo "Alertmanager: '$(am_alerts "$id")', was '$before'"; break; }
        sleep 1
    done
    check "down ${1} s: incident $id stayed open and Alertmanager kept one unchanged alert for 30 s after the restart" test $steady = 1
    check "down ${1} s: one open of incident $id, no resolve" test "$(events "$id" open) $(events "$id" resolve)" = "1 0"
    check "down ${1} s: no other incident opened" test "$(get '/api/v1/incidents?limit=100' | jq length)" -eq 1
}
restarts=0
restart_keeps 0
restart_keeps 20

"$LAB" fault web-down off >/dev/null
closed() { get "/api/v1/incidents/$1" | jq -e '.open == false'; }
check "healed: incident $id closes" wait_until 60 "closed" closed "$id"
check "and Alertmanager resolves its alert" wait_until 30 "alert resolved" am_clear "$id"
check "one resolve" test "$(events "$id" resolve)" -eq 1

# It heals while the collector is down.
"$LAB" fault web-down on >/dev/null
another() { local i; i=$(web_incident) && [ "$i" != "$id" ]; }
check "down again: a new incident" wait_until 60 "incident" another
id2=$(web_incident)
kill_collector
healing=$(now_us)
"$LAB" fault web-down off >/dev/null
healed=$(now_us)
sleep 20 # the scenario: the fault is gone, the collector still down
start_collector
back=$(now_us)
check "healed while down: incident $id2 closes once the collector is back" \
    wait_until 60 "closed" closed "$id2"
end_us=$(get "/api/v1/incidents/$id2" | jq .end_us)
# The first good result after the heal: within two probe intervals of it
# (the agents probe every 2 s), long before the collector was back.
check "it ended when it healed: $(( (end_us - healed) / 1000 )) ms after the heal, $(( (back - end_us) / 1000000 )) s before the restart" \
    test "$end_us" -ge "$healing" -a "$end_us" -le $((healed + 5000000))
check "and Alertmanager resolves it" wait_until 30 "alert resolved" am_clear "$id2"
check "one open and one resolve for incident $id2" test "$(events "$id2" open) $(events "$id2" resolve)" = "1 1"
