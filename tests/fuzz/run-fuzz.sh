#!/usr/bin/env bash
# tests/fuzz/run-fuzz.sh SECONDS BINDIR FUZZ_BUILD READER...: runs each reader's
# libFuzzer harness for SECONDS on its corpus (seeded by seeds.sh on first use),
# then prints a table: reader, seconds, executions, crashes. A crash leaves its
# input in FUZZ_BUILD/crashes/READER/ and the log in FUZZ_BUILD/logs/; the exit
# status is 1 if any reader crashed. Every run is also appended to
# FUZZ_BUILD/history.tsv (date, reader, seconds, executions, crashes).
set -uo pipefail
seconds=$1 bindir=$2 build=$3
shift 3
if [ ! -d "$build/seeds" ]; then
    bash "$(dirname "$0")/seeds.sh" "$bindir" "$build/seeds.tmp" && mv "$build/seeds.tmp" "$build/seeds" || exit 1
fi
mkdir -p "$build/logs"
table=$(printf '%-12s %8s %12s %8s\n' reader seconds executions crashes)
failed=0
for r in "$@"; do
    corpus="$build/corpus/$r" crashes="$build/crashes/$r" log="$build/logs/$r.log"
    mkdir -p "$corpus" "$crashes"
    [ -n "$(ls -A "$corpus")" ] || cp "$build/seeds/$r"/* "$corpus/"
    # -timeout: an input taking 10 s is a hang; -rss_limit_mb: a reader using 2 GB is a bug here
    "$build/fuzz_$r" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(ls "$crashes" | wc -l)
    [ $rc -eq 0 ] || [ "$found" -gt 0 ] || found="rc=$rc"
    [ $rc -eq 0 ] || failed=1
    table+=$(printf '\n%-12s %8s %12s %8s' "$r" "$seconds" "${execs:-?}" "$found")
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$r" "$seconds" "${execs:-?}" "$found" >>"$build/history.tsv"
done
echo "$table"
[ $failed -eq 0 ] || echo "fuzz: crashes found: inputs in $build/crashes/, logs in $build/logs/" >&2
exit $failed
