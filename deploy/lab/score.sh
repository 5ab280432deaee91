#!/usr/bin/env bash
# The faultline scorecard: bring up the lab and a fleet (collector, six
# agents, Alertmanager), inject every fault the lab knows, alone and in
# pairs, and score what faultline said about each.
#
#   score.sh [--build DIR] [--interval 2s] [--healthy SECONDS] [--json]
#            [--only NAME[,NAME...]] [--keep RUN_DIR]
#
# Per scenario: the incidents that opened (verdict and component), whether
# they are exactly the expected ones, detection latency (fault on -> the
# last expected incident open), resolution latency (fault off -> the last
# one closed), alert events sent, and whether Alertmanager showed exactly
# one alert per incident with the right labels and then resolved it.
# Limits: detection within (open_after + 2) intervals plus confirm_after
# (silent agents: silent_after + 2 intervals + confirm_after), resolution
# within (close_after + 2) intervals.  "healthy" runs the fleet with no fault: zero incidents.
# --json prints one JSON object per line.  Exit 0 when every scenario
# passed, 1 otherwise.  Needs root; the lab is brought up when it is down
# and left as found.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$HERE/lab.sh
FLEET=$HERE/fleet.sh
BUILD=${FL_BUILD:-$HERE/../../build}
INTERVAL=2
HEALTHY=60
JSON=0
ONLY=
KEEP=
OPEN_AFTER=3 CLOSE_AFTER=2 SILENT_AFTER=15 CONFIRM=3 # the collector's defaults

die() { echo "score: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --interval) INTERVAL=${2%s}; shift 2 ;;
    --healthy) HEALTHY=${2%s}; shift 2 ;;
    --json) JSON=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $INTERVAL =~ ^[0-9]+$ && $INTERVAL -ge 1 && $INTERVAL -le 60 ]] || die "--interval: 1s to 60s"
[[ $HEALTHY =~ ^[0-9]+$ ]] || die "--healthy: a number of seconds"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
command -v jq >/dev/null || die "needs jq (deploy/install-deps.sh test)"
CLI=$BUILD/cli/faultline
[ -x "$CLI" ] || die "no faultline CLI in $BUILD: build first"

# name | faults ("fault args" separated by ';') | expected ("VERDICT component" by ';')
SCENARIOS=(
    "web-down|web-down|TARGET web.lab.test:80"
    "tcp-reset|tcp-reset 80|TARGET web.lab.test:80"
    "isolated-agent|isolate r3a2|AGENT r3a2"
    "region-cut|cut r1 r2|PATH r1<->r2"
    "uplink-loss|loss r2 30|REGION r2"
    "uplink-latency|latency r3 150|REGION r3"
    "dns-down|dns-down|DNS_RESOLVER 10.77.101.2"
    "dns-servfail|dns-servfail|DNS_ZONE svc.lab.test"
    "mtu-blackhole|mtu-blackhole|MTU_BLACKHOLE far.lab.test"
    "router-down|router-down|HOP 10.77.103.2"
    "slow-http|slow-http|TARGET http://web.lab.test/"
    "server-drift|drift|DRIFT app.lab.test"
    "sysctl-drift|sysctl-drift r2a2|DRIFT lab-agent/tcp_syn_retries"
    "isolated-agent+web-down|isolate r1a2;web-down|AGENT r1a2;TARGET web.lab.test:80"
    "region-cut+dns-down|cut r2 r3;dns-down|PATH r2<->r3;DNS_RESOLVER 10.77.101.2"
)

RUN=${KEEP:-$(mktemp -d /tmp/faultline-score.XXXXXX)}
mkdir -p "$RUN"
DB=$RUN/faultline.db
lab_was_up=0
ip netns list | grep -qw fl-core && lab_was_up=1
active_faults=()

cleanup() {
    for f in "${active_faults[@]}"; do fault_set off "$f" 2>/dev/null || true; done
    "$FLEET" stop "$RUN" >/dev/null 2>&1 || true
    [ $lab_was_up = 1 ] || "$LAB" down >/dev/null 2>&1 || true
    [ -n "$KEEP" ] || rm -rf "$RUN"
}
trap cleanup EXIT

now_us() { echo $(( $(date +%s%N) / 1000 )); }
incidents_since() { "$CLI" --database "$DB" incidents --since "@$(( $1 / 1000000 ))" --limit 0 --json 2>/dev/null | jq -c "select(.start_us >= $1)"; }
open_count() { "$CLI" --database "$DB" incidents --open --limit 0 --json 2>/dev/null | grep -c . || true; }
am_alerts() { ip netns exec fl-coll curl -fs http://127.0.0.1:9093/api/v2/alerts 2>/dev/null || echo '[]'; }

# Poll (not sleep-and-hope): run CMD every 0.5 s until it succeeds or
# SECONDS pass.
wait_for() { # SECONDS CMD...
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do [ "$(date +%s)" -lt $end ] || return 1; sleep 0.5; done
}

fault_set() { # on|off "name args"
    local mode=$1 f=$2 name args
    name=${f%% *}; args=; [ "$name" = "$f" ] || args=${f#* }
    # shellcheck disable=SC2086
    "$LAB" fault "$name" "$mode" $args >/dev/null
}

# Every expected "VERDICT component" is among the incidents since T0.
expected_open() { # T0 EXPECTED...
    local t0=$1 got; shift
    got=$(incidents_since "$t0" | jq -r '.verdict + " " + .component')
    for e in "$@"; do grep -qxF "$e" <<<"$got" || return 1; done
}

all_closed_since() { [ "$(incidents_since "$1" | jq -s 'map(select(.open)) | length')" = 0 ]; }
# Nothing open and nothing failing, not even below an incident: a fault's
# failures still in hysteresis must not spill into the next scenario.
pairs_failing() { ip netns exec fl-coll curl -fs http://127.0.0.1:9105/metrics 2>/dev/null | awk '$1 == "faultline_pairs_failing" { print $2 }'; }
quiet() { [ "$(open_count)" = 0 ] && [ "$(pairs_failing)" = 0 ]; }

# Alertmanager holds exactly one active alert per incident id in IDS, with
# the incident's verdict and component as labels.
am_matches() { # INCIDENTS_JSONL
    local alerts; alerts=$(am_alerts)
    jq -e --argjson a "$alerts" -s 'all(.[]; . as $i | ($a | map(select(.labels.incident == ($i.id|tostring)
        and .labels.verdict == $i.verdict and .labels.component == $i.component
        and .labels.alertname == "FaultlineIncident")) | length) == 1)' <<<"$1" >/dev/null
}
am_resolved() { # INCIDENTS_JSONL
    local alerts; alerts=$(am_alerts)
    jq -e --argjson a "$alerts" -s 'all(.[]; . as $i | ($a | map(select(.labels.incident == ($i.id|tostring))) | length) == 0)' \
        <<<"$1" >/dev/null
}

results=()
report() { # JSON object
    results+=("$1")
    if [ $JSON = 1 ]; then echo "$1"; return; fi
    jq -r '[.scenario, (if .verdict_ok then "yes" else "NO" end), (if .component_ok then "yes" else "NO" end),
        (.detection_s // "-" | tostring), (.resolution_s // "-" | tostring), (.alerts|tostring),
        (if .ok then "pass" else "FAIL" end), (.got | join(", "))] | @tsv' <<<"$1" |
        awk -F'\t' '{ printf "%-24s %-7s %-9s %9s %10s %6s  %-4s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
}

# ---- bring up ---------------------------------------------------------------
[ $lab_was_up = 1 ] || "$LAB" up >/dev/null
"$FLEET" start "$BUILD" "$RUN" --interval "${INTERVAL}s" --alertmanager
wait_for 60 bash -c "[ \"\$('$CLI' --database '$DB' agents --json 2>/dev/null | jq -s 'map(select(.results > 20)) | length')\" = 6 ]" ||
    die "the fleet did not start reporting (see $RUN)"
[ $JSON = 1 ] || printf '%-24s %-7s %-9s %9s %10s %6s  %-4s  %s\n' SCENARIO VERDICT COMPONENT DETECT_S RESOLVE_S ALERTS "" INCIDENTS

selected() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# ---- healthy ------------------------------------------------------------------
if selected healthy && [ "$HEALTHY" -gt 0 ]; then
    t0=$(now_us)
    sleep "$HEALTHY" # the scenario is the passing of time itself
    got=$(incidents_since "$t0")
    n=$(grep -c . <<<"$got" || true)
    report "$(jq -nc --argjson n "$n" --argjson s "$HEALTHY" --arg got "$(jq -r '.verdict + " " + .component' <<<"$got")" \
        '{scenario: "healthy", seconds: $s, expected: [], got: ($got | split("\n") | map(select(length > 0))),
          verdict_ok: ($n == 0), component_ok: ($n == 0), detection_s: null, resolution_s: null,
          alerts: 0, alerts_ok: true, ok: ($n == 0)}')"
fi

# ---- faults -------------------------------------------------------------------
for sc in "${SCENARIOS[@]}"; do
    IFS='|' read -r name faults expected <<<"$sc"
    selected "$name" || continue
    IFS=';' read -r -a flist <<<"$faults"
    IFS=';' read -r -a elist <<<"$expected"
    wait_for 120 quiet || die "incidents open or checks failing before $name (see $RUN)"
    # The interval of the checks that see it (the fleet runs host checks
    # every third slot, path MTU every fifth); silent agents are known by
    # silence.
    every=$INTERVAL
    [[ $faults == *sysctl* ]] && every=$(( 3 * INTERVAL ))
    [[ $faults == *mtu* ]] && every=$(( 5 * INTERVAL ))
    detect_limit=$(( (OPEN_AFTER + 2) * every + CONFIRM ))
    [[ $faults == *isolate* ]] && detect_limit=$(( SILENT_AFTER + 2 * every + CONFIRM ))
    resolve_limit=$(( (CLOSE_AFTER + 2) * every ))

    t0=$(now_us)
    for f in "${flist[@]}"; do fault_set on "$f"; active_faults+=("$f"); done
    t_on=$(now_us)
    detected=0
    wait_for $(( detect_limit * 3 + 10 )) expected_open "$t0" "${elist[@]}" && detected=1
    # Let it run two more intervals: anything else that opens counts against it.
    sleep $(( 2 * INTERVAL ))
    open_now=$(incidents_since "$t0")
    am_ok=0
    [ $detected = 1 ] && wait_for 10 am_matches "$open_now" && am_ok=1
    t_off_start=$(now_us)
    for f in "${flist[@]}"; do fault_set off "$f"; done
    active_faults=()
    t_off=$(now_us)
    wait_for $(( resolve_limit * 3 + 30 )) all_closed_since "$t0" || true
    final=$(incidents_since "$t0")
    [ -z "$final" ] || wait_for 30 am_resolved "$final" || am_ok=0

    ids=$(jq -s -c 'map(.id)' <<<"${final:-}")
    alerts=$(jq -s --argjson ids "$ids" 'map(select(.event == "open" and (.incident.id as $i | $ids | index($i)))) | length' \
        "$RUN/alerts.jsonl" 2>/dev/null || echo 0)
    resolves=$(jq -s --argjson ids "$ids" 'map(select(.event == "resolve" and (.incident.id as $i | $ids | index($i)))) | length' \
        "$RUN/alerts.jsonl" 2>/dev/null || echo 0)
    nfinal=$(grep -c . <<<"$final" || true)
    report "$(jq -nc \
        --arg name "$name" --arg faults "$faults" --arg expected "$expected" \
        --argjson final "$(jq -s -c . <<<"${final:-}")" \
        --argjson t_on "$t_on" --argjson t_off "$t_off" --argjson detected "$detected" \
        --argjson dl "$detect_limit" --argjson rl "$resolve_limit" \
        --argjson alerts "$alerts" --argjson resolves "$resolves" --argjson am "$am_ok" \
        --argjson n "$nfinal" '
        ($expected | split(";")) as $exp
        | ($final | map(.verdict + " " + .component)) as $got
        | ($final | map(.verdict) | sort) as $gv
        | ($exp | map(split(" ")[0]) | sort) as $ev
        | ($final | map(.start_us) | max) as $last_open
        | ($final | map(.end_us // null)) as $ends
        | {scenario: $name, faults: ($faults | split(";")), expected: $exp, got: $got,
           verdict_ok: ($detected == 1 and $gv == $ev),
           component_ok: ($detected == 1 and ($got | sort) == ($exp | sort)),
           detection_s: (if $detected == 1 then ((($last_open - $t_on) / 1e5 | round) / 10) else null end),
           resolution_s: (if ($final | length) > 0 and ($final | all(.open | not))
                          then ((($final | map(.start_us + (.duration_s * 1e6)) | max) - $t_off) / 1e5 | round) / 10
                          else null end),
           detection_limit_s: $dl, resolution_limit_s: $rl,
           alerts: $alerts, alerts_resolved: $resolves,
           alerts_ok: ($am == 1 and $alerts == $n and $resolves == $n)}
        | .ok = (.verdict_ok and .component_ok and .alerts_ok
                 and .detection_s != null and .detection_s <= $dl
                 and .resolution_s != null and .resolution_s <= $rl)')"
done

failed=$(printf '%s\n' "${results[@]}" | jq -s 'map(select(.ok | not)) | length')
[ $JSON = 1 ] || echo "$(( ${#results[@]} - failed )) of ${#results[@]} scenarios passed (interval ${INTERVAL}s)"
[ "$failed" = 0 ]
