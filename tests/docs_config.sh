#!/usr/bin/env bash
# The configuration examples in docs/configuration.md and deploy/examples are
# valid: the daemons' own --config.check says so.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The first ```yaml block is the agent's, the second the collector's.
awk '/^```yaml/ { n++; on = 1; next } /^```/ { on = 0 } on { print > (dir "/block" n ".yaml") }' \
    dir="$tmp" "$ROOT/docs/configuration.md"
"$BUILD/agent/faultline-agent" --config.file "$tmp/block1.yaml" --config.check
"$BUILD/collector/faultline-collector" --config.file "$tmp/block2.yaml" --config.check
"$BUILD/agent/faultline-agent" --config.file "$ROOT/deploy/examples/agent.yaml" --config.check
"$BUILD/collector/faultline-collector" --config.file "$ROOT/deploy/examples/collector.yaml" --config.check
echo "4 passed, 0 failed"
