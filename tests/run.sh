#!/usr/bin/env bash
# Install what the tests need, build, and run the whole test suite.
#   tests/run.sh [ctest arguments...]      e.g. tests/run.sh -L unit
# Unit tests run as any user; the lab tests (label integ) need root.
# Without arguments the libFuzzer targets (label fuzz, a clang build in
# build-fuzz) run too, FL_FUZZ_SECONDS each (default 20; 300 for a long run),
# from FL_FUZZ_SEED (default 1, repeatable; 0 for a random one).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FL_BUILD_DIR:-$ROOT/build}

"$ROOT/deploy/install-deps.sh" test
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFL_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
# A lab left behind by an interrupted run would make every lab test fail.
if [ "$(id -u)" -eq 0 ]; then "$ROOT/deploy/lab/lab.sh" down >/dev/null; fi
rc=0
(cd "$BUILD" && ctest --output-on-failure --timeout 900 "$@") || rc=1
if [ $# -eq 0 ]; then
    FUZZ=${FL_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
    CC=clang cmake -S "$ROOT" -B "$FUZZ" -DFL_FUZZ=ON \
        -DFL_FUZZ_SECONDS="${FL_FUZZ_SECONDS:-30}" -DFL_FUZZ_SEED="${FL_FUZZ_SEED:-1}" >/dev/null
    cmake --build "$FUZZ" -j "$(nproc)" --target fuzz_wire fuzz_dns_answer fuzz_capture fuzz_allow_list \
        fuzz_config fuzz_api_query >/dev/null 2>&1 || cmake --build "$FUZZ" -j "$(nproc)"
    (cd "$FUZZ" && ctest --output-on-failure -L fuzz) || rc=1
fi
exit $rc
