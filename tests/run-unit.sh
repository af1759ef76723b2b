#!/usr/bin/env bash
# Runs every C unit-test binary given on the command line (TAP output) and
# prints one summary line; exit status 1 if any failed.
set -u
passed=0 failed=0
for t in "$@"; do
    name=$(basename "$t")
    if out=$("$t" 2>&1); then
        passed=$((passed + 1))
        echo "ok   unit/$name ($(grep -c '^ok ' <<<"$out") checks)"
    else
        failed=$((failed + 1))
        echo "FAIL unit/$name"
        grep -v '^ok ' <<<"$out" | sed 's/^/    /'
    fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
