# Shared by the integration tests: sourced, not run.
# Every wait polls for a condition with a deadline; none sleeps to synchronise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build}
LAB=$ROOT/deploy/lab/lab.sh
FLEET=$ROOT/deploy/lab/fleet.sh
CLI=$BUILD/cli/faultline
PASSED=0
FAILED=0
TEST_NAME=$(basename "$0" .sh)

if [ "$(id -u)" -ne 0 ]; then
    echo "$TEST_NAME: skipped: needs root for network namespaces"
    exit 77
fi

RUN=$(mktemp -d "/tmp/faultline-$TEST_NAME.XXXXXX")

ok() { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
check() { # DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s.
wait_until() {
    local limit=$1 what=$2; shift 2
    local end=$((SECONDS + limit))
    while [ $SECONDS -lt $end ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "timed out after ${limit}s waiting for: $what" >&2
    return 1
}

# A stopped process may stay a zombie until whoever adopted it reaps it.
not_alive() { ! [ -r "/proc/$1/status" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

sql() { sqlite3 -cmd '.timeout 5000' "$RUN/faultline.db" "$@"; }

finish() {
    local rc=$?
    "$FLEET" stop "$RUN" >/dev/null 2>&1 || true
    "$LAB" down >/dev/null 2>&1 || true
    if [ $FAILED -gt 0 ] || [ $rc -ne 0 ]; then
        echo "--- logs kept in $RUN"
        tail -n 20 "$RUN"/*.log 2>/dev/null || true
    else
        rm -rf "$RUN"
    fi
    echo "$PASSED passed, $FAILED failed"
    if [ $FAILED -eq 0 ] && [ $rc -eq 0 ]; then exit 0; else exit 1; fi
}
trap finish EXIT
