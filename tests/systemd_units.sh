#!/usr/bin/env bash
# The systemd units in deploy/systemd pass systemd-analyze verify, pointed
# at the binaries of this build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in agent collector; do
    sed "s|/usr/sbin/faultline-$d|$BUILD/$d/faultline-$d|g" "$ROOT/deploy/systemd/faultline-$d.service" \
        >"$tmp/faultline-$d.service"
done
out=$(cd "$tmp" && systemd-analyze verify ./faultline-agent.service ./faultline-collector.service 2>&1) || {
    echo "$out"; exit 1; }
[ -z "$out" ] || { echo "$out"; exit 1; }
echo "2 passed, 0 failed"
