#!/usr/bin/env bash
# The Quick start's demo, as a new user runs it: from run directories of
# three lengths (one makes every key path exactly 40 characters, all of
# them Z85 characters, which once were taken for keys), it must see results
# from all six agents, the TARGET incident and its closing, and exit 0.
# With an empty allow-list it must exit non-zero and name the refusals.
source "$(dirname "$0")/lib.sh"

demo() { # RUN_DIR OUT [demo arguments]
    local dir=$1 out=$2; shift 2
    FL_BUILD_DIR=$BUILD FL_DEMO_DIR=$dir "$ROOT/deploy/demo.sh" "$@" >"$out" 2>&1
}
passed() { # OUT
    grep -q 'demo passed: results from all six agents, the incident (TARGET web.lab.test:80) and its closing' "$1"
}

forty=$(mktemp -d /tmp/fl-demo-XXXXXX) # 19 characters, like /tmp/faultline-demo
key_path=$forty/keys/agents/r1a1.pub
check "the key paths of $forty are 40 characters: ${#key_path}" test ${#key_path} -eq 40
for dir in "$forty" "$RUN/d" "$RUN/a-run-directory/with-a-much-longer-name-than-the-default"; do
    out=$RUN/demo-$(echo "$dir" | md5sum | cut -c1-8).out
    rc=0; demo "$dir" "$out" || rc=$?
    check "the demo in $dir exits 0: $rc" test $rc -eq 0
    check "and shows six agents, the incident and its closing" passed "$out"
    [ "$rc" -eq 0 ] || tail -n 40 "$out"
done
rm -rf "$forty"

mkdir -p "$RUN/empty"
rc=0; demo "$RUN/e" "$RUN/refused.out" --allow "$RUN/empty" || rc=$?
check "with an empty allow-list the demo fails: $rc" test $rc -ne 0
check "saying no results arrived" grep -q 'demo FAILED: no results stored within 20 s' "$RUN/refused.out"
check "and naming the refusals" grep -q 'refused a connection from 10.77.*: not allowed' "$RUN/refused.out"
