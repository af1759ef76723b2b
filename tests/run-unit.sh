#!/usr/bin/env bash
# Runs every C unit-test binary given on the command line (TAP output) and
# prints one summary line; exit status 1 if any failed. A binary whose checks
# are all skips (test_cuda without a GPU) is reported "ok ... # skip", so a
# tally can count it apart from the passes. With RN_TEST_TIMES=FILE, the
# seconds each binary took are written there ("unit/NAME SECONDS" lines).
set -u
passed=0 failed=0 skipped=0
[ -n "${RN_TEST_TIMES:-}" ] && : > "$RN_TEST_TIMES"
for t in "$@"; do
    name=$(basename "$t")
    start=$(date +%s.%N)
    if out=$("$t" 2>&1); then
        checks=$(grep -c '^ok ' <<<"$out")
        skips=$(grep -c '^ok .*# skip' <<<"$out")
        if [ "$checks" -gt 0 ] && [ "$skips" -eq "$checks" ]; then
            skipped=$((skipped + 1))
            echo "ok   unit/$name # skip $(grep -m1 '^ok .*# skip' <<<"$out" | sed 's/.*# skip *//')"
        else
            passed=$((passed + 1))
            echo "ok   unit/$name ($checks checks)"
        fi
    else
        failed=$((failed + 1))
        echo "FAIL unit/$name"
        grep -v '^ok ' <<<"$out" | sed 's/^/    /'
    fi
    [ -n "${RN_TEST_TIMES:-}" ] &&
        awk -v n="unit/$name" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%s %.1f\n", n, e - s }' >> "$RN_TEST_TIMES"
done
echo "unit: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
