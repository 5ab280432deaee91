#!/usr/bin/env bash
# Collector disk full: the collector's database lives on a small tmpfs that
# is filled up under load and freed again.  Shows: the collector keeps
# running while nothing can be written (its commit failures are counted),
# it acknowledges nothing it did not commit (the agents delete only what is
# acknowledged, so any early Ack would show as a lost result), delivery
# resumes within 5 s of space returning, and afterwards: lost 0,
# duplicated 0, no gap, integrity ok.  Prints one line per agent and a JSON
# summary; exit 1 on any failure.
#
#   disk_full.sh BUILD_DIR [--agents 3] [--rate 100] [--full 30] [--size 16m]
#                [--resume-limit 5]
. "$(dirname "$0")/lib.sh"
AGENTS=3 RATE=100 FULL=30 SIZE=16m LIMIT=5
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;; --rate) RATE=$2; shift 2 ;; --full) FULL=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;; --resume-limit) LIMIT=$2; shift 2 ;;
    *) echo "$NAME: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir "$DIR/db"
mount -t tmpfs -o "size=$SIZE" faultline-disk-full "$DIR/db"
ON_EXIT+=("umount '$DIR/db'")
DATABASE=$DIR/db/faultline.db
rel_setup
start_collector
start_agents
wait_delivering

# Fill the file system, then keep it full: the collector's next commits
# find no room (SQLite grows its WAL, then the database, by pages).
dd if=/dev/zero of="$DIR/db/filler" bs=64k 2>/dev/null || true
df -h "$DIR/db" | tail -1 >&2
sleep "$FULL"
before=$(stored_uptos)
alive=0
kill -0 "$(cat "$DIR/collector.pid")" 2>/dev/null && alive=1
# The store must not have moved on in the last seconds of the full disk.
sleep 2
stuck=0
[ "$(stored_uptos)" = "$before" ] && stuck=1
rm "$DIR/db/filler"
t0=$(date +%s.%N)
resumed=$(until_past "$before" "$t0" 30)
echo "disk full for ${FULL}s: collector alive $alive, store stuck $stuck; resumed ${resumed}s after space returned" >&2

drain_outboxes
p=$(cat "$DIR/collector.pid")
kill -TERM "$p"
rc=0
wait "$p" || rc=$?
failures=$(grep -o 'commit_failures=[0-9]*' "$DIR/collector.log" | tail -1 | cut -d= -f2)

ok=0
verify_all || ok=1
[ "$alive" = 1 ] && [ "$stuck" = 1 ] && [ "${failures:-0}" -gt 0 ] && [ "$rc" = 0 ] &&
    [ "$resumed" != -1 ] && awk -v t="$resumed" -v l="$LIMIT" 'BEGIN{exit !(t <= l)}' || ok=1
failed=$ok
printf '{"agents":%d,"rate":%d,"full_s":%d,"commit_failures":%d,"made":%d,"lost":%d,"duplicated":%d,"gaps":%d,"integrity":"%s","resumed_s":%s,"collector_exit":%d,"ok":%s}\n' \
    "$AGENTS" "$RATE" "$FULL" "${failures:-0}" "$MADE" "$LOST" "$DUP" "$GAPS" "$INTEGRITY" \
    "$resumed" "$rc" "$([ "$failed" = 0 ] && echo true || echo false)"
exit "$failed"
