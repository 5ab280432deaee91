#!/usr/bin/env bash
# Every command and subcommand of the three binaries answers --help with its
# usage on stdout and exit 0, and an unknown option with its usage on stderr
# and exit 2; `faultline decode` reads hex, decimal and binary alike.
set -uo pipefail
BUILD=${1:?BUILD_DIR}
CLI=$BUILD/cli/faultline
AGENT=$BUILD/agent/faultline-agent
COLLECTOR=$BUILD/collector/faultline-collector
failed=0 passed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

helps() { # COMMAND...: --help prints usage on stdout, exit 0
    "$@" --help >"$out" 2>"$err"
    local rc=$?
    if [ $rc -eq 0 ] && grep -q '^usage:' "$out" && [ ! -s "$err" ]; then ok
    else bad "$* --help: exit $rc, stdout '$(head -c 80 "$out")', stderr '$(head -c 80 "$err")'"; fi
}
rejects() { # COMMAND...: an unknown option: usage on stderr, exit 2
    "$@" --no-such-option >"$out" 2>"$err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q 'usage:' "$err" && [ ! -s "$out" ]; then ok
    else bad "$* --no-such-option: exit $rc, stderr '$(head -c 80 "$err")'"; fi
}

# The commands faultline --help lists, every one of them.
mapfile -t commands < <("$CLI" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p')
[ ${#commands[@]} -ge 9 ] && ok || bad "faultline --help lists ${#commands[@]} commands"
helps "$CLI"
rejects "$CLI"
for c in "${commands[@]}"; do
    helps "$CLI" "$c"
    [ "$c" = lab ] || rejects "$CLI" "$c" # lab hands its arguments to the lab's scripts
done
helps "$AGENT"
rejects "$AGENT"
helps "$AGENT" probe
for t in $("$AGENT" probe --help | sed -n 's/^  probe types: //p' | tr ',' ' '); do
    helps "$AGENT" probe "$t"
done
helps "$COLLECTOR"
rejects "$COLLECTOR"

# One code, three spellings, one decoding.
a=$("$CLI" decode 14229) b=$("$CLI" decode 0x3795) c=$("$CLI" decode 0b0011011110010101)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ] &&
    grep -q '^0x3795 = 14229 = 0b0011011110010101$' <<<"$a" &&
    grep -q 'error  *0x5 connection reset' <<<"$a"; then ok
else bad "decode 14229 / 0x3795 / 0b...: '$a' / '$b' / '$c'"; fi
[ "$("$CLI" decode 014229 | head -1)" = "0x3795 = 14229 = 0b0011011110010101" ] && ok ||
    bad "a bare number with a leading zero is decimal"
"$CLI" decode 0x10000 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "decode 0x10000 is refused with 2"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
