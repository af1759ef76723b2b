#!/usr/bin/env bash
# Runs each Bats file given in its own bats process, so that each file's time
# is known; with RN_TEST_TIMES=FILE, writes "bats/NAME SECONDS" lines there.
# Exit status 1 if any file failed.
set -u
failed=0
[ -n "${RN_TEST_TIMES:-}" ] && : > "$RN_TEST_TIMES"
for f in "$@"; do
    start=$(date +%s.%N)
    bats "$f" || failed=1
    [ -n "${RN_TEST_TIMES:-}" ] &&
        awk -v n="bats/$(basename "$f")" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%s %.1f\n", n, e - s }' \
            >> "$RN_TEST_TIMES"
done
exit "$failed"
