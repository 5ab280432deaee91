#!/usr/bin/env bash
# Run every benchmark and print one JSON line per figure.  Root (namespaces).
#   bench/run.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
"$ROOT/deploy/install-deps.sh" bench
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
for sync in full normal; do
    "$BUILD/bench/bench_ingest" --collector "$BUILD/collector/faultline-collector" \
        --results 500000 --agents 10 --batch 256 --sync "$sync"
done
for agents in 100 1000; do "$BUILD/bench/bench_correlate" "$agents" 10 9; done
"$ROOT/bench/agent_cpu.sh" "$BUILD" 200 30
