# Shared by the reliability loops: sourced, not run.
#
# Each loop runs a real collector and real agents over CURVE inside a
# network namespace of its own (loopback only), so that nft rules and ports
# touch nothing else on the machine.  Load comes from TCP connects to
# refused loopback addresses (127.0.1.x, port 9): every one is a result, and
# none leaves the namespace.  Waits poll for a condition; the loops' own
# random pauses are the scenario, not synchronisation.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR [options]}" && pwd); shift
NAME=$(basename "$0" .sh)
CLI=$BUILD/cli/faultline
AGENTS=10 RATE=500 PORT=5555 OUTBOX_MAX=1000000
LIMIT=2 # seconds within which delivery must resume (record_resume)
if [ "$(id -u)" -ne 0 ]; then
    echo "$NAME: skipped: needs root for a network namespace"
    exit 77
fi
DIR=$(mktemp -d "/tmp/faultline-$NAME.XXXXXX")
NS=flrel-$$
IN=(ip netns exec "$NS")
declare -A APID=()
ON_EXIT=() # more to undo at exit (commands, run with eval)
failed=1

rel_cleanup() {
    local p
    for p in "${APID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [ -f "$DIR/collector.pid" ] && kill -9 "$(cat "$DIR/collector.pid")" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    local c
    for c in "${ON_EXIT[@]}"; do eval "$c" || true; done
    if [ "$failed" != 0 ]; then
        echo "$NAME: FAILED, files kept in $DIR" >&2
        tail -n 5 "$DIR"/*.log >&2 2>/dev/null || true
    elif [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$DIR"
    fi
}
trap rel_cleanup EXIT

# The namespace, keys, and the collector's configuration.  Call after the
# options are parsed.
rel_setup() {
    ip netns add "$NS"
    "${IN[@]}" ip link set lo up
    mkdir -p "$DIR/keys/agents"
    "$CLI" keygen "$DIR/keys/collector" >/dev/null
    cat >"$DIR/collector.yaml" <<YAML
listen: tcp://127.0.0.1:$PORT
database: $(db_path)
key: $DIR/keys/collector.key
allow: $DIR/keys/agents
http_listen: "${HTTP:-}"
YAML
    # Each agent: RATE results a second, (RATE/10) targets every 100 ms.
    local targets=$(((RATE + 9) / 10)) list i
    list=$(seq 1 "$targets" | sed 's/^/127.0.1./' | paste -sd, -)
    for i in $(seq 1 "$AGENTS"); do
        "$CLI" keygen "$DIR/keys/k$i" >/dev/null
        cp "$DIR/keys/k$i.pub" "$DIR/keys/agents/k$i.pub"
        cat >"$DIR/k$i.yaml" <<YAML
agent: {name: k$i}
collector: {endpoint: "tcp://127.0.0.1:$PORT", server_key: $DIR/keys/collector.pub, key: $DIR/keys/k$i.key}
outbox: {path: $DIR/k$i.db, max_results: $OUTBOX_MAX}
heartbeat: 2s
checks:
  - {probe: tcp, targets: [$list], port: 9, interval: 100ms, timeout: 50ms}
YAML
    done
}

db_path() { echo "${DATABASE:-$DIR/faultline.db}"; }

start_collector() {
    "${IN[@]}" "$BUILD/collector/faultline-collector" --config.file "$DIR/collector.yaml" \
        >>"$DIR/collector.log" 2>&1 &
    echo $! >"$DIR/collector.pid"
}
kill_collector() { # SIGNAL
    local p
    p=$(cat "$DIR/collector.pid")
    kill "-$1" "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

start_agent() { # I
    "${IN[@]}" "$BUILD/agent/faultline-agent" --config.file "$DIR/k$1.yaml" >>"$DIR/k$1.log" 2>&1 &
    APID[$1]=$!
}
kill_agent() { # I SIGNAL
    kill "-$2" "${APID[$1]}" 2>/dev/null || true
    wait "${APID[$1]}" 2>/dev/null || true
    unset "APID[$1]"
}
start_agents() { local i; for i in $(seq 1 "$AGENTS"); do start_agent "$i"; done; }
stop_agents() { local i; for i in "${!APID[@]}"; do kill_agent "$i" TERM; done; }

db() { sqlite3 -cmd '.timeout 5000' "$(db_path)" "$@"; }
outbox() { sqlite3 -cmd '.timeout 5000' "$DIR/k$1.db" "${@:2}"; } # I SQL
stored() { db 'SELECT count(*) FROM result' 2>/dev/null || echo 0; }
epoch_of() { outbox "$1" "SELECT value FROM meta WHERE key = 'epoch'"; }
next_seq_of() { outbox "$1" "SELECT value FROM meta WHERE key = 'next_seq'"; }
next_seqs() { local i; for i in $(seq 1 "$AGENTS"); do next_seq_of "$i"; done | paste -sd' '; }
# The highest seq of agent I's current epoch the collector holds.  An
# outbox keeps its epoch for life, so it is read once and kept in a file
# (these run in subshells, where variables would not last).
upto_sql() { # I
    local f=$DIR/k$1.epoch e=
    [ -s "$f" ] && e=$(<"$f")
    if [ -z "$e" ]; then
        e=$(epoch_of "$1" 2>/dev/null) || true
        [ -n "$e" ] || { echo 0; return; } # no outbox yet
        echo "$e" >"$f"
    fi
    echo "(SELECT ifnull(max(seq), 0) FROM result WHERE epoch = $e AND agent_id =
        (SELECT id FROM agent WHERE name = 'k$1'))"
}
stored_upto() { db "SELECT $(upto_sql "$1")" 2>/dev/null || echo 0; }
# The same for every agent, in one query: "U1 U2 ...".
stored_uptos() {
    local i q=()
    for i in $(seq 1 "$AGENTS"); do q+=("$(upto_sql "$i")"); done
    db -separator ' ' "SELECT $(IFS=,; echo "${q[*]}")" 2>/dev/null || echo 0
}
# 0 when every number in "$1" is greater than (or with OP ge, at least) the
# one at the same place in "$2".
all_past() { # NOW THEN [ge]
    awk -v a="$1" -v b="$2" -v ge="${3:-}" 'BEGIN{n = split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= n; i++) if (ge ? x[i] + 0 < y[i] + 0 : x[i] + 0 <= y[i] + 0) exit 1}'
}
depth() {
    local n=0 i
    for i in $(seq 1 "$AGENTS"); do n=$((n + $(outbox "$i" 'SELECT count(*) FROM outbox'))); done
    echo "$n"
}
# Seconds (one decimal) since the monotonic-enough wall clock reading T0 (date +%s.%N).
since() { echo "$(date +%s.%N) $1" | awk '{printf "%.1f", $1 - $2}'; }

# Wait up to LIMIT seconds for every outbox to be empty; print the seconds
# it took, or -1.
wait_drained() { # LIMIT
    local t0 end
    t0=$(date +%s.%N) end=$((SECONDS + $1))
    while [ $SECONDS -lt "$end" ]; do
        [ "$(depth)" = 0 ] && { since "$t0"; return; }
        sleep 0.1
    done
    echo -1
}

# Each agent's last seq made so far: "N1 N2 ...".
made_so_far() {
    awk -v a="$(next_seqs)" 'BEGIN{n = split(a, x, " "); for (i = 1; i <= n; i++) printf "%d ", x[i] - 1}'
}

# Wait until every agent has had a result stored (30 s at most).
wait_delivering() {
    local zero
    zero=$(printf '0 %.0s' $(seq 1 "$AGENTS"))
    [ "$(until_past "$zero" "$(date +%s.%N)" 30)" != -1 ] ||
        { echo "$NAME: agents never delivered" >&2; exit 1; }
}

# One time until delivery resumed (-1: never) after WHAT: kept in
# $DIR/resumes; LATE counts those over LIMIT, WORST is the longest.
WORST=0 LATE=0
record_resume() { # SECONDS WHAT
    echo "$1" >>"$DIR/resumes"
    if [ "$1" = -1 ] || awk -v t="$1" -v l="$LIMIT" 'BEGIN{exit !(t > l)}'; then
        LATE=$((LATE + 1))
        echo "$2: delivery not resumed within ${LIMIT}s (${1}s)" >&2
    fi
    WORST=$(awk -v a="$WORST" -v b="$1" 'BEGIN{print (b > a ? b : a)}')
}
# "P50 P95" of the recorded times.
resume_percentiles() {
    sort -n "$DIR/resumes" | awk '{v[NR] = $1} END {
        printf "%s %s", v[int((NR + 1) / 2)], v[int(NR * 0.95 + 0.999)]}'
}

# The end of a loop: stop the agents (what is staged stays in the outbox),
# start them again and wait up to 60 s for every outbox to empty into the
# collector (DRAINED: the seconds it took, or -1), then stop them.
drain_outboxes() {
    stop_agents
    start_agents
    DRAINED=$(wait_drained 60)
    stop_agents
}

# Every agent's stream complete (verify_streams), none of them reported a
# gap, the database intact, the outboxes drained: sets GAPS and INTEGRITY;
# 1 on any failure.
verify_all() {
    local bad=0
    verify_streams || bad=1
    GAPS=$(db "SELECT count(*) FROM gap g JOIN agent a ON a.id = g.agent_id WHERE a.name GLOB 'k[0-9]*'")
    INTEGRITY=$(db 'PRAGMA integrity_check')
    [ "$GAPS" = 0 ] && [ "$INTEGRITY" = ok ] && [ "${DRAINED:--1}" != -1 ] || bad=1
    return $bad
}

# Every agent's current epoch: seqs 1 .. next_seq-1 each stored once, none
# missing.  Prints a line per agent; sets MADE, LOST, DUP; returns 1 on any loss.
verify_streams() {
    local i rows distinct lo hi made lost dup bad=0
    MADE=0 LOST=0 DUP=0
    for i in $(seq 1 "$AGENTS"); do
        read -r rows distinct lo hi <<<"$(db -separator ' ' "SELECT count(*), count(DISTINCT seq),
            ifnull(min(seq), 0), ifnull(max(seq), 0) FROM result r JOIN agent g ON g.id = r.agent_id
            WHERE g.name = 'k$i' AND r.epoch = $(epoch_of "$i")")"
        made=$(($(next_seq_of "$i") - 1))
        lost=$((made - distinct)) dup=$((rows - distinct))
        MADE=$((MADE + made)) LOST=$((LOST + lost)) DUP=$((DUP + dup))
        echo "k$i: made $made, stored $rows, lost $lost, duplicated $dup (seqs $lo..$hi)"
        [ "$lost" -eq 0 ] && [ "$dup" -eq 0 ] && [ "$hi" -eq "$made" ] || bad=1
    done
    return $bad
}

# Cut the agents from the collector: nft drops every packet to or from its
# port on arrival, so that both ends see a black hole, not an error.
partition() {
    "${IN[@]}" nft -f - <<NFT
table inet flrel {
    chain in {
        type filter hook input priority 0; policy accept;
        tcp dport $PORT drop
        tcp sport $PORT drop
    }
}
NFT
}
heal() { "${IN[@]}" nft delete table inet flrel; }
# Seconds from T0 until every agent's stored seq is past THEN (or, with ge,
# at least THEN); -1 after LIMIT2 s.
until_past() { # THEN T0 LIMIT2 [ge]
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt "$end" ]; do
        all_past "$(stored_uptos)" "$1" "${4:-}" && { since "$2"; return; }
        sleep 0.05
    done
    echo -1
}
# (agent, epoch) streams in the store: one per agent unless an outbox was lost.
epochs() { db 'SELECT count(DISTINCT agent_id || ":" || epoch) FROM result'; }
