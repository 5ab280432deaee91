#!/usr/bin/env bash
# Install what the tests need, build, and run the whole test suite.
#   tests/run.sh [ctest arguments...]      e.g. tests/run.sh -L unit
# Unit tests run as any user; the lab tests (label integ) need root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FL_BUILD_DIR:-$ROOT/build}

"$ROOT/deploy/install-deps.sh" test
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFL_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
# A lab left behind by an interrupted run would make every lab test fail.
if [ "$(id -u)" -eq 0 ]; then "$ROOT/deploy/lab/lab.sh" down >/dev/null; fi
cd "$BUILD"
exec ctest --output-on-failure --timeout 900 "$@"
