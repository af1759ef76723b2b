#!/usr/bin/env bash
# resume.sh RUN INIT INPUT...
#
# How the pipeline's training RUN (its path without extension, e.g.
# results/ci/runs/plain-8-s1) starts: prints rn-train's option for it,
# "--resume RUN.ckpt.safetensors" when the run goes on from its checkpoint, else
# "--init INIT" after removing what an earlier run left (checkpoint, metrics, log).
#
# A run resumes when its checkpoint and metrics are there and none of INIT and
# the INPUTs (data, rn-train, the settings stamp) changed since the checkpoint was
# written. That holds at every point where a run can stop: the metrics file is
# created before the first checkpoint and gets each epoch's record before the
# checkpoint of that epoch, and rn-train cuts the metrics back to the checkpoint
# when it resumes (a header with no record, next to a checkpoint saved inside
# epoch 1, included). A run that has not started yet, or was killed before its
# first checkpoint, starts again from INIT.
#
# First of all, the files that say the run finished (its final weights and its
# info, written last) are removed: from here on the run has not finished, and the
# figures and tables, which depend on them, wait for it.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: resume.sh RUN INIT INPUT..." >&2; exit 2; }
run=$1 init=$2
shift 2
ckpt=$run.ckpt.safetensors

rm -f "$run.safetensors" "$run.info"
if [ -f "$ckpt" ] && [ -f "$run.metrics" ] && [ -z "$(find "$init" "$@" -newer "$ckpt" -print -quit)" ]; then
    echo "train $(basename "$run"): resuming from $ckpt" >&2
    printf -- '--resume %s\n' "$ckpt"
else
    rm -f "$ckpt" "$run.metrics" "$run.log"
    printf -- '--init %s\n' "$init"
fi
