#!/usr/bin/env bash
# run-info.sh INFO LOG LABEL COMMIT -- COMMAND...
#
# Runs one training COMMAND with its messages (stderr) in LOG, then writes
# INFO: what the report says about the run (label, host, CPU, GPU, backend,
# commit, wall time), as KEY<TAB>VALUE lines. The pipeline starts this script
# through $(RUN), so on a cluster it describes the node that did the work.
set -uo pipefail
[ $# -ge 6 ] && [ "$5" = -- ] || { echo "usage: run-info.sh INFO LOG LABEL COMMIT -- COMMAND..." >&2; exit 2; }
info=$1 log=$2 label=$3 commit=$4
shift 5

start=$(date +%s.%N)
"$@" 2>"$log"
rc=$?
end=$(date +%s.%N)
if [ "$rc" -ne 0 ]; then
    echo "run-info: training '$label' failed (exit $rc); the end of $log:" >&2
    tail -n 5 "$log" >&2
    exit "$rc"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -n1)
# rn-train names its device in its first line: "... on cpu (2 threads), starting at step 0 of N"
backend=$(sed -n 's/^rn-train: training .* on \(.*\), starting at step.*/\1/p' "$log" | head -n1)
tmp=$(mktemp "$info.XXXXXX") || exit 1
{
    printf 'label\t%s\n' "$label"
    printf 'host\t%s\n' "$(hostname)"
    printf 'cpu\t%s (%s cores)\n' "${cpu:-unknown}" "$(nproc)"
    printf 'gpu\t%s\n' "${gpu:-none}"
    printf 'backend\t%s\n' "${backend:-unknown (see the log)}"
    printf 'commit\t%s\n' "$commit"
    printf 'started\t%s\n' "$(date -u -d "@${start%.*}" +%Y-%m-%dT%H:%M:%SZ)"
    printf 'wall_seconds\t%.1f\n' "$(echo "$end - $start" | bc -l 2>/dev/null || awk -v a="$end" -v b="$start" 'BEGIN{print a-b}')"
} >"$tmp" && mv "$tmp" "$info"
