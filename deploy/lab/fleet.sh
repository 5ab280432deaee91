#!/usr/bin/env bash
# Run faultline in the lab: the collector on fl-coll and one agent on each
# agent host, probing the lab's services and one peer in every other region.
#
#   fleet.sh start BUILD_DIR RUN_DIR [--interval 5s] [--test-ports] [--alertmanager] [--allow DIR]
#   fleet.sh stop RUN_DIR
#   fleet.sh collector-stop RUN_DIR | collector-start BUILD_DIR RUN_DIR
#
# RUN_DIR holds the configurations, the CURVE keys (RUN_DIR/keys: the
# collector's pair, one pair per agent, and the collector's allow-list
# RUN_DIR/keys/agents/NAME.pub), the collector's database
# (RUN_DIR/faultline.db), the agents' outboxes and every log.  Every alert
# event the collector raises is appended to RUN_DIR/alerts.jsonl (an exec
# sink).  --test-ports adds TCP checks of fl-web's closed (:81), dropped
# (:82) and reset (:83) ports.  --alertmanager runs Debian's
# prometheus-alertmanager on fl-coll (127.0.0.1:9093 there) and sends it
# the alerts.  --allow DIR gives the collector another allow-list directory.
set -euo pipefail

AGENTS=(r1a1 r1a2 r2a1 r2a2 r3a1 r3a2)
die() { echo "fleet: $*" >&2; exit 1; }

agent_config() { # HOST RUN_DIR INTERVAL TEST_PORTS
    local h=$1 dir=$2 interval=$3 test_ports=$4 region=${1:0:2}
    # Paths and host counters: every third slot is plenty.  A path MTU
    # search through a black hole takes 5-7 s (and the target answers it
    # with ICMP errors it rate-limits): every fifth.
    local slow_interval=$(( ${interval%s} * 3 ))s mtu_interval=$(( ${interval%s} * 5 ))s
    local peers=()
    for r in r1 r2 r3; do [ "$r" = "$region" ] || peers+=("${r}a1.lab.test"); done
    cat <<YAML
agent:
  name: $h
  labels: {region: $region, host: $h.lab.test, role: lab-agent}
collector:
  endpoint: tcp://coll.lab.test:5555
  server_key: $dir/keys/collector.pub
  key: $dir/keys/$h.key
outbox:
  path: $dir/outbox-$h.db
defaults:
  interval: $interval
  timeout: 1s
heartbeat: 2s
checks:
  - probe: icmp
    targets: [web.lab.test, dns.lab.test, far.lab.test, back.lab.test, ${peers[0]}, ${peers[1]}]
    count: 5
    spacing: 100ms
    max_rtt: 100ms
  - probe: tcp
    targets: [web.lab.test, far.lab.test, back.lab.test]
    port: 80
    capture_on_failure: 3s
  - probe: http
    targets: [web.lab.test, app.lab.test]
    timeout: 2s
    retries: 0
  - probe: dns
    targets: [web.lab.test, far.lab.test, api.svc.lab.test, db.svc.lab.test]
    servers: [10.77.101.2]
    type: A
  - probe: mtu
    targets: [far.lab.test]
    interval: $mtu_interval
  # The paths that work: what a failing path shares with none of them is
  # where it breaks (failing targets get a trace of their own at once).
  - probe: trace
    targets: [web.lab.test, dns.lab.test]
    interval: $slow_interval
  - probe: host
    targets: [$h]
    window: 1s
    interval: $slow_interval
YAML
    if [ "$test_ports" = 1 ]; then
        for p in 81 82 83; do
            printf '  - probe: tcp\n    targets: [web.lab.test]\n    port: %s\n' "$p"
        done
    fi
}

collector_config() { # RUN_DIR ALERTMANAGER [ALLOW_DIR]
    cat <<YAML
listen: tcp://*:5555
database: $1/faultline.db
key: $1/keys/collector.key
allow: ${3:-$1/keys/agents}
correlation:
  # The lab probes every few seconds: half a minute is plenty of results
  # for the window rules, and a fault's intermittent failures leave the
  # window before the next scenario.
  window: 30s
alerts:
  - type: exec
    command: [/bin/sh, -c, 'cat >> "\$0"', $1/alerts.jsonl]
  - type: log
YAML
    [ "$2" = 1 ] && printf '  - type: alertmanager\n    url: http://127.0.0.1:9093\n    resend_interval: 10s\n'
    return 0
}

collector_start() { # BUILD_DIR RUN_DIR
    local bin=$1/collector/faultline-collector dir=$2
    [ -x "$bin" ] || die "no collector at $bin: build first"
    [ -f "$dir/collector.yaml" ] || collector_config "$dir" 0 >"$dir/collector.yaml"
    "$bin" --config.file "$dir/collector.yaml" --config.check >/dev/null
    ip netns exec fl-coll "$bin" --config.file "$dir/collector.yaml" \
        --log.level info >>"$dir/collector.log" 2>&1 &
    echo $! >"$dir/collector.pid"
}

alertmanager_start() { # RUN_DIR
    local dir=$1 bin
    bin=$(command -v prometheus-alertmanager || command -v alertmanager) ||
        die "--alertmanager needs prometheus-alertmanager (deploy/install-deps.sh test)"
    mkdir -p "$dir/alertmanager"
    cat >"$dir/alertmanager/alertmanager.yml" <<YAML
route:
  receiver: none
  group_by: [incident]
receivers:
  - name: none
YAML
    ip netns exec fl-coll "$bin" --config.file "$dir/alertmanager/alertmanager.yml" \
        --storage.path "$dir/alertmanager" --web.listen-address 127.0.0.1:9093 \
        --cluster.listen-address= >>"$dir/alertmanager.log" 2>&1 &
    echo $! >"$dir/alertmanager.pid"
    for _ in $(seq 200); do
        ip netns exec fl-coll curl -fs http://127.0.0.1:9093/-/ready >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "alertmanager did not become ready (see $dir/alertmanager.log)"
}

# Running, and not a zombie waiting for whoever adopted it to reap it.
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

stop_pid() { # PIDFILE
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
}

# A key pair for the collector and each agent (kept when RUN_DIR is used
# again); every agent's public key is in the collector's allow-list.
keys() { # BUILD_DIR RUN_DIR
    local cli=$1/cli/faultline k=$2/keys
    [ -x "$cli" ] || die "no faultline CLI at $cli: build first"
    for n in collector "${AGENTS[@]}"; do
        [ -f "$k/$n.key" ] || "$cli" keygen "$k/$n" >/dev/null
    done
    for h in "${AGENTS[@]}"; do cp "$k/$h.pub" "$k/agents/$h.pub"; done
}

start() {
    local build=$1 dir=$2; shift 2
    local interval=5s test_ports=0 am=0 allow=
    while [ $# -gt 0 ]; do
        case $1 in
        --interval) interval=$2; shift 2 ;;
        --test-ports) test_ports=1; shift ;;
        --alertmanager) am=1; shift ;;
        --allow) allow=$2; shift 2 ;;
        *) die "unknown option $1" ;;
        esac
    done
    ip netns list | grep -qw fl-core || die "the lab is down: deploy/lab/lab.sh up"
    mkdir -p "$dir/keys/agents"
    keys "$build" "$dir"
    collector_config "$dir" "$am" "$allow" >"$dir/collector.yaml"
    [ "$am" = 0 ] || alertmanager_start "$dir"
    collector_start "$build" "$dir"
    for h in "${AGENTS[@]}"; do
        agent_config "$h" "$dir" "$interval" "$test_ports" >"$dir/agent-$h.yaml"
        "$build/agent/faultline-agent" --config.file "$dir/agent-$h.yaml" --config.check >/dev/null
        ip netns exec "fl-$h" "$build/agent/faultline-agent" --config.file "$dir/agent-$h.yaml" \
            >>"$dir/agent-$h.log" 2>&1 &
        echo $! >"$dir/agent-$h.pid"
    done
}

stop() {
    local dir=$1
    for h in "${AGENTS[@]}"; do stop_pid "$dir/agent-$h.pid"; done
    stop_pid "$dir/collector.pid"
    stop_pid "$dir/alertmanager.pid"
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
case ${1:-} in
start) shift; start "$@" ;;
stop) stop "${2:?RUN_DIR}" ;;
collector-stop) stop_pid "${2:?RUN_DIR}/collector.pid" ;;
collector-start) collector_start "${2:?BUILD_DIR}" "${3:?RUN_DIR}" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
