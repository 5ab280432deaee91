#!/usr/bin/env bash
# Agent CPU per TCP-connect probe and RSS, next to prometheus-blackbox-exporter
# probing the same targets, in one run.  Both run in a network namespace of
# their own whose loopback answers on 127.0.1.1-127.0.1.N:18080.
#   bench/agent_cpu.sh BUILD_DIR [TARGETS] [SECONDS]     (root)
set -euo pipefail
BUILD=${1:?BUILD_DIR}
TARGETS=${2:-200}
SECONDS_RUN=${3:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
NS=fl-bench
DIR=$(mktemp -d /tmp/faultline-bench-agent.XXXXXX)
BB=$(command -v prometheus-blackbox-exporter || true)
[ -n "$BB" ] || { echo "install prometheus-blackbox-exporter (deploy/install-deps.sh bench)" >&2; exit 1; }

cleanup() {
    exec 2>/dev/null # no "Terminated" notices for the helpers
    for p in $(ip netns pids $NS 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    ip netns del $NS 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip netns exec $NS ip link set lo up
x() { ip netns exec $NS "$@"; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

x python3 "$HERE/tcp_sink.py" 18080 &
disown
for _ in $(seq 100); do x bash -c 'exec 3<>/dev/tcp/127.0.0.1/18080' 2>/dev/null && break; sleep 0.05; done

# ---- faultline-agent ----
targets_yaml=$(for t in $(seq 0 $((TARGETS - 1))); do printf '127.0.%d.%d, ' $((1 + t / 250)) $((1 + t % 250)); done)
cat >"$DIR/agent.yaml" <<YAML
agent: {name: bench, labels: {region: bench}}
collector: {endpoint: "tcp://127.0.0.1:15998"}
outbox: {path: $DIR/outbox.db}
checks:
  - probe: tcp
    targets: [${targets_yaml%, }]
    port: 18080
    interval: 1s
    timeout: 500ms
YAML
x "$BUILD/collector/faultline-collector" --insecure --listen tcp://127.0.0.1:15998 --database "$DIR/c.db" 2>"$DIR/c.log" &
disown
ip netns exec $NS "$BUILD/agent/faultline-agent" --insecure --config.file "$DIR/agent.yaml" 2>"$DIR/a.log" &
apid=$!; disown
sleep 3 # warm-up: every job has fired and the outbox exists
c0=$(cpu_ticks $apid)
n0=$(sqlite3 -cmd '.timeout 5000' "$DIR/c.db" 'SELECT count(*) FROM result')
sleep "$SECONDS_RUN"
c1=$(cpu_ticks $apid)
n1=$(sqlite3 -cmd '.timeout 5000' "$DIR/c.db" 'SELECT count(*) FROM result')
ok=$(sqlite3 -cmd '.timeout 5000' "$DIR/c.db" 'SELECT count(*) FROM result WHERE status = 1')
fl_rss=$(rss_kb $apid); fl_hwm=$(hwm_kb $apid)
kill $apid
fl_probes=$((n1 - n0))
fl_us=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n=$fl_probes 'BEGIN { printf "%.1f", c / hz * 1e6 / n }')

# ---- blackbox_exporter ----
cat >"$DIR/bb.yml" <<YAML
modules:
  tcp_connect:
    prober: tcp
    timeout: 500ms
YAML
ip netns exec $NS "$BB" --config.file "$DIR/bb.yml" --web.listen-address 127.0.0.1:19115 2>"$DIR/bb.log" &
bpid=$!; disown
for _ in $(seq 100); do x bash -c 'exec 3<>/dev/tcp/127.0.0.1/19115' 2>/dev/null && break; sleep 0.05; done
x python3 "$HERE/bb_driver.py" 127.0.0.1 19115 "$TARGETS" 1 3 >/dev/null # warm-up
c0=$(cpu_ticks $bpid)
read -r bb_probes bb_ok < <(x python3 "$HERE/bb_driver.py" 127.0.0.1 19115 "$TARGETS" 1 "$SECONDS_RUN")
c1=$(cpu_ticks $bpid)
bb_rss=$(rss_kb $bpid); bb_hwm=$(hwm_kb $bpid)
bb_us=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$bb_probes" 'BEGIN { printf "%.1f", c / hz * 1e6 / n }')
kill $bpid

ratio=$(awk -v a="$fl_us" -v b="$bb_us" 'BEGIN { printf "%.2f", a / b }')
printf '{"bench":"agent_tcp_cpu","targets":%d,"seconds":%d,"faultline_probes":%d,"faultline_cpu_us_per_probe":%s,"faultline_rss_kb":%d,"faultline_hwm_kb":%d,"blackbox_probes":%d,"blackbox_success":%d,"blackbox_cpu_us_per_probe":%s,"blackbox_rss_kb":%d,"blackbox_hwm_kb":%d,"cpu_ratio":%s}\n' \
    "$TARGETS" "$SECONDS_RUN" "$fl_probes" "$fl_us" "$fl_rss" "$fl_hwm" "$bb_probes" "$bb_ok" "$bb_us" "$bb_rss" "$bb_hwm" "$ratio"
