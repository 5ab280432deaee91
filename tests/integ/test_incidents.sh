#!/usr/bin/env bash
# Lab scenarios through the scorecard users run (faultline lab score): a
# fleet of six agents, a collector and a real Alertmanager; every fault the
# lab can inject, alone and two at once.  Each must open exactly the
# expected incidents (verdict and component) within its detection limit,
# close them within its resolution limit, raise one alert per incident and
# resolve it in Alertmanager.  A healthy stretch of lab opens none.
# FL_HEALTHY_SECONDS sets the healthy stretch (30 s here; 600 for the long run).
source "$(dirname "$0")/lib.sh"

command -v prometheus-alertmanager >/dev/null || { not_ok "prometheus-alertmanager is installed"; exit 1; }
out=$BUILD/scorecard.jsonl
"$CLI" lab score --json --interval 2s --healthy "${FL_HEALTHY_SECONDS:-30}" --keep "$RUN" >"$out" || true
check "every scenario reported" test "$(grep -c '"scenario"' "$out")" -eq 16
while read -r line; do
    name=$(jq -r .scenario <<<"$line")
    what=$(jq -r '"expected [\(.expected | join(", "))], got [\(.got | join(", "))], detection \(.detection_s) s (limit \(.detection_limit_s // "-")), resolution \(.resolution_s) s (limit \(.resolution_limit_s // "-")), alerts \(.alerts)"' <<<"$line")
    check "$name: $what" test "$(jq -r .ok <<<"$line")" = true
done <"$out"
echo "scorecard: $out"
