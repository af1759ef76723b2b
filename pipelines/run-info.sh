#!/usr/bin/env bash
# run-info.sh INFO LOG LABEL COMMIT -- COMMAND...
#
# Runs one training COMMAND with its messages (stderr) appended to LOG, then
# writes INFO: what the report says about the run (label, host, CPU, GPU, backend,
# commit, start, wall time), as KEY<TAB>VALUE lines. The pipeline starts this
# script through $(RUN), so on a cluster it describes the node that did the work.
#
# A run may take several attempts (interrupted, then resumed: pipelines/resume.sh
# removes LOG when a run starts from scratch). Each attempt leaves a line in LOG;
# INFO gives the first attempt's start and the sum of the attempts' wall times.
#
# SIGTERM, SIGINT and SIGHUP to this script are passed on to COMMAND as SIGTERM
# (make sends SIGTERM to its recipe's process only, and so may a scheduler), and
# the script waits for it: rn-train saves its checkpoint and exits. SIGTERM, not
# SIGINT: a command started in the background ignores SIGINT until it sets a handler.
set -uo pipefail
[ $# -ge 6 ] && [ "$5" = -- ] || { echo "usage: run-info.sh INFO LOG LABEL COMMIT -- COMMAND..." >&2; exit 2; }
info=$1 log=$2 label=$3 commit=$4
shift 5

start=$(date +%s.%N)
echo "run-info: attempt started $(date -u -d "@${start%.*}" +%Y-%m-%dT%H:%M:%SZ)" >>"$log" || exit 1
signal=
"$@" 2>>"$log" &
child=$!
for s in TERM INT HUP; do
    trap "signal=$s; kill -TERM $child 2>/dev/null" "$s"
done
# wait returns early when a trapped signal arrives: wait again until the child is gone
while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break
done
end=$(date +%s.%N)
seconds() { echo "$1 - $2" | bc -l 2>/dev/null || awk -v a="$1" -v b="$2" 'BEGIN { print a - b }'; }
printf 'run-info: attempt ended after %.1f s, exit %d\n' "$(seconds "$end" "$start")" "$rc" >>"$log"
if [ "$rc" -ne 0 ] && [ -n "$signal" ]; then
    echo "run-info: training '$label' stopped by SIG$signal; make report resumes it from its checkpoint" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "run-info: training '$label' failed (exit $rc); the end of $log:" >&2
    tail -n 5 "$log" >&2
    exit "$rc"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -n1)
# rn-train names its device in its first line of each attempt:
# "... on cpu (2 threads), starting at step 0 of N" (or "resuming at step K of N")
backend=$(sed -n 's/^rn-train: training .* on \(.*\), \(starting\|resuming\) at step.*/\1/p' "$log" | tail -n1)
first=$(sed -n 's/^run-info: attempt started //p' "$log" | head -n1)
first=${first:-$(date -u -d "@${start%.*}" +%Y-%m-%dT%H:%M:%SZ)}
wall=$(sed -n 's/^run-info: attempt ended after \([0-9.]*\) s.*/\1/p' "$log" | awk '{ s += $1 } END { printf "%.1f", s }')
tmp=$(mktemp "$info.XXXXXX") || exit 1
{
    printf 'label\t%s\n' "$label"
    printf 'host\t%s\n' "$(hostname)"
    printf 'cpu\t%s (%s cores)\n' "${cpu:-unknown}" "$(nproc)"
    printf 'gpu\t%s\n' "${gpu:-none}"
    printf 'backend\t%s\n' "${backend:-unknown (see the log)}"
    printf 'commit\t%s\n' "$commit"
    printf 'started\t%s\n' "$first"
    printf 'wall_seconds\t%s\n' "$wall"
} >"$tmp" && mv "$tmp" "$info" || { rm -f "$tmp"; exit 1; }
