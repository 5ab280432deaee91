#!/usr/bin/env bash
# Collector kill loop: agents deliver a steady load over CURVE on
# 127.0.0.1 while the collector is SIGKILLed again and again and restarted
# within a second.  Afterwards every result every agent made is stored
# exactly once (lost 0, duplicated 0), no gap was reported, the database
# passes PRAGMA integrity_check, and the backlog drained after the last
# restart.  Prints one line per agent and a JSON summary; exit 1 on any
# failure.
#
#   collector_kill.sh BUILD_DIR [--agents 10] [--rate 500] [--kills 20]
#                     [--min 5] [--max 40] [--port 15601]
#
# The full run (the defaults) takes about 10 minutes; the test suite runs a
# short one (3 agents x 100 results/s, 4 kills 2-5 s apart).
set -euo pipefail
BUILD=${1:?BUILD_DIR}; shift
AGENTS=10 RATE=500 KILLS=20 MIN=5 MAX=40 PORT=15601
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;; --kills) KILLS=$2; shift 2 ;;
    --min) MIN=$2; shift 2 ;; --max) MAX=$2; shift 2 ;; --port) PORT=$2; shift 2 ;;
    *) echo "collector_kill: unknown argument $1" >&2; exit 2 ;;
    esac
done
DIR=$(mktemp -d /tmp/faultline-kill.XXXXXX)
CLI=$BUILD/cli/faultline
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$DIR/collector.pid" ] && kill -9 "$(cat "$DIR/collector.pid")" 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] || [ "${failed:-1}" != 0 ] || rm -rf "$DIR"
}
trap cleanup EXIT

mkdir -p "$DIR/keys/agents"
"$CLI" keygen "$DIR/keys/collector" >/dev/null
cat >"$DIR/collector.yaml" <<YAML
listen: tcp://127.0.0.1:$PORT
database: $DIR/faultline.db
key: $DIR/keys/collector.key
allow: $DIR/keys/agents
http_listen: ""
YAML
start_collector() {
    "$BUILD/collector/faultline-collector" --config.file "$DIR/collector.yaml" \
        >>"$DIR/collector.log" 2>&1 &
    echo $! >"$DIR/collector.pid"
}

# Each agent: TCP connects to refused loopback ports, RATE results a second
# (targets x 10 per second, every 100 ms).
targets=$(( (RATE + 9) / 10 ))
list=$(seq 1 "$targets" | sed 's/^/127.0.1./' | paste -sd, -)
for i in $(seq 1 "$AGENTS"); do
    a=k$i
    "$CLI" keygen "$DIR/keys/$a" >/dev/null
    cp "$DIR/keys/$a.pub" "$DIR/keys/agents/$a.pub"
    cat >"$DIR/$a.yaml" <<YAML
agent: {name: $a}
collector: {endpoint: "tcp://127.0.0.1:$PORT", server_key: $DIR/keys/collector.pub, key: $DIR/keys/$a.key}
outbox: {path: $DIR/$a.db}
heartbeat: 2s
checks:
  - {probe: tcp, targets: [$list], port: 9, interval: 100ms, timeout: 50ms}
YAML
done
start_collector
for i in $(seq 1 "$AGENTS"); do
    "$BUILD/agent/faultline-agent" --config.file "$DIR/k$i.yaml" >>"$DIR/k$i.log" 2>&1 &
    pids+=($!)
done

stored() { sqlite3 -cmd '.timeout 5000' "$DIR/faultline.db" 'SELECT count(*) FROM result' 2>/dev/null || echo 0; }
for k in $(seq 1 "$KILLS"); do
    # The loop itself is the scenario: random intervals between kills.
    sleep $(( MIN + RANDOM % (MAX - MIN + 1) ))
    { kill -9 "$(cat "$DIR/collector.pid")"; wait "$(cat "$DIR/collector.pid")"; } 2>/dev/null || true
    start_collector
    echo "kill $k/$KILLS: restarted; $(stored) results stored so far" >&2
done
last=$(date +%s)

# Stop the agents (what is staged stays in the outbox), then wait for the
# backlog to reach the collector: every outbox empty.
for p in "${pids[@]}"; do kill "$p"; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
for i in $(seq 1 "$AGENTS"); do
    "$BUILD/agent/faultline-agent" --config.file "$DIR/k$i.yaml" >>"$DIR/k$i.log" 2>&1 &
    pids+=($!)
done
depth() { local n=0 i; for i in $(seq 1 "$AGENTS"); do
    n=$(( n + $(sqlite3 -cmd '.timeout 5000' "$DIR/k$i.db" 'SELECT count(*) FROM outbox') )); done; echo $n; }
drained=-1
for _ in $(seq 1 600); do
    [ "$(depth)" = 0 ] && { drained=$(( $(date +%s) - last )); break; }
    sleep 0.1
done
for p in "${pids[@]}"; do kill "$p"; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
kill "$(cat "$DIR/collector.pid")"; wait "$(cat "$DIR/collector.pid")" 2>/dev/null || true

failed=0 total=0 lost_all=0 dup_all=0
db() { sqlite3 -cmd '.timeout 5000' "$DIR/faultline.db" "$@"; }
for i in $(seq 1 "$AGENTS"); do
    a=k$i ob=$DIR/k$i.db
    epoch=$(sqlite3 "$ob" "SELECT value FROM meta WHERE key = 'epoch'")
    next=$(sqlite3 "$ob" "SELECT value FROM meta WHERE key = 'next_seq'")
    read -r rows distinct lo hi <<<"$(db -separator ' ' "SELECT count(*), count(DISTINCT seq),
        ifnull(min(seq), 0), ifnull(max(seq), 0) FROM result r JOIN agent g ON g.id = r.agent_id
        WHERE g.name = '$a' AND r.epoch = $epoch")"
    made=$((next - 1)) lost=$((next - 1 - distinct)) dup=$((rows - distinct))
    total=$((total + made)) lost_all=$((lost_all + lost)) dup_all=$((dup_all + dup))
    echo "$a: made $made, stored $rows, lost $lost, duplicated $dup (seqs $lo..$hi)"
    [ "$lost" -eq 0 ] && [ "$dup" -eq 0 ] && [ "$hi" -eq "$made" ] || failed=1
done
gaps=$(db 'SELECT count(*) FROM gap')
integrity=$(db 'PRAGMA integrity_check')
[ "$gaps" = 0 ] && [ "$integrity" = ok ] && [ "$drained" -ge 0 ] && [ "$drained" -le 60 ] || failed=1
printf '{"agents":%d,"rate":%d,"kills":%d,"made":%d,"lost":%d,"duplicated":%d,"gaps":%d,"integrity":"%s","drained_s":%d,"ok":%s}\n' \
    "$AGENTS" "$RATE" "$KILLS" "$total" "$lost_all" "$dup_all" "$gaps" "$integrity" "$drained" \
    "$([ $failed = 0 ] && echo true || echo false)"
[ $failed = 0 ] || echo "collector_kill: FAILED, files kept in $DIR" >&2
exit $failed
