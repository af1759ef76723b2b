#!/usr/bin/env bash
# plan.sh: what `make report` is about to do, and how long it will take.
#
#   plan.sh RESULTS_DIR BINDIR RUN=TRAIN_SETTINGS...
#
# with the environment PLAN_PROFILE, PLAN_TITLE, PLAN_NAMED (1 when PROFILE was
# named on the command line or in the environment), PLAN_NETS, PLAN_SEEDS,
# PLAN_DEVICE, PLAN_DATA_TRAIN, PLAN_DATA_TEST (the profile's cifar-prep options).
#
# Prints the profile, nets, seeds, epochs, the device found and an estimate of
# the wall time, from the training and test speeds measured on this machine:
# two short epochs of rn-train per net depth on 256 synthetic images, about
# 10 s in all on 2 cores, cached in $RN_CACHE/speed/ per machine, build and
# device. Writes RESULTS_DIR/plan.tsv (RUN, epochs, estimated seconds per
# epoch) for pipelines/status.sh's ETA.
#
# Exit 1 (the pipeline stops) when the profile was not named and the estimate
# of what is left is over two hours on a CPU: the message names the choices.
# PROFILE=ci and RN_PLAN_MEASURE=0 skip the measurement (no estimate): the
# self-test takes seconds, and the tests that run it should stay fast.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: plan.sh RESULTS_DIR BINDIR RUN=TRAIN_SETTINGS..." >&2; exit 2; }
R=$1 BIN=$2
shift 2
LIMIT_S=${RN_PLAN_LIMIT_S:-7200}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=pipelines/progress-lib.sh
. "$here/progress-lib.sh"

say() { echo "plan: $*" >&2; }

# Images in a dataset: its header's u32 at byte 12 (docs/FORMATS.md) when it
# exists already, else worked out from the profile's cifar-prep options.
count_images() { # FILE CIFAR_PREP_OPTIONS
    if [ -f "$1" ]; then od -An -tu4 -j12 -N4 "$1" | tr -d ' '; return; fi
    local n=0 val=5000 per="" limit="" split="" a prev=""
    for a in $2; do
        case "$prev" in
            --per-class) per=$a ;; --limit) limit=$a ;; --split) split=$a ;; --val-size) val=$a ;;
        esac
        case "$a" in --train) n=50000 ;; --test) n=10000 ;; esac
        prev=$a
    done
    case "$split" in train) n=$((50000 - val)) ;; val) n=$val ;; esac
    [ -n "$per" ] && [ $((per * 10)) -lt "$n" ] && n=$((per * 10))
    [ -n "$limit" ] && [ "$limit" -lt "$n" ] && n=$limit
    echo "$n"
}

ntrain=$(count_images "$R/data/train.ds" "${PLAN_DATA_TRAIN:-}")
ntest=$(count_images "$R/data/test.ds" "${PLAN_DATA_TEST:-}")
nruns=$#
epochs_all=0 depths=""
for spec in "$@"; do
    run=${spec%%=*}
    e=$(flag_value --epochs "${spec#*=}" 200)
    epochs_all=$((epochs_all + e))
    d=$(run_depth "$run")
    case " $depths " in *" $d "*) ;; *) depths+="$d " ;; esac
done
say "profile ${PLAN_PROFILE:-?} (${PLAN_TITLE:-}): nets ${PLAN_NETS:-?}; seeds ${PLAN_SEEDS:-1}"
say "$nruns trainings, $epochs_all epochs in all, on $ntrain training images, tested on $ntest after every epoch"

# ---------------------------------------------------------------- speed
# cached per machine (host, CPU, cores), build (rn-train's checksum) and device
machine="$(hostname) $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2-) $(nproc)"
key=$(printf '%s|%s|%s|%s' "$machine" "$(sha256sum "$BIN/rn-train" | cut -c1-16)" "${PLAN_DEVICE:-auto}" \
      "${OMP_NUM_THREADS:-}" | sha256sum | cut -c1-16)
cache="${RN_CACHE:-$HOME/.cache/rn-cifar}/speed/$key.tsv"

measure_depth() { # DEPTH: prints "DEPTH train_ips test_ips device"
    local d=$1 tmp=$2
    "$BIN/rn-init" --arch resnet --depth "$d" --seed 1 --quiet -o "$tmp/init-$d.safetensors" || return 1
    "$BIN/rn-train" --train "$tmp/train.ds" --test "$tmp/test.ds" --init "$tmp/init-$d.safetensors" \
        -o "$tmp/out-$d.safetensors" --checkpoint "$tmp/ckpt-$d.safetensors" --metrics "$tmp/m-$d.metrics" \
        --epochs 2 --batch 128 --no-augment --device "${PLAN_DEVICE:-auto}" 2>"$tmp/log-$d" || {
        tail -n 2 "$tmp/log-$d" >&2; return 1; }
    local dev
    dev=$(sed -n 's/^rn-train: training .* on \(.*\), starting at step.*/\1/p' "$tmp/log-$d" | head -n1)
    # the second epoch (the first pays for allocations): train speed, and the test pass's
    # share of the epoch's seconds
    "$BIN/rn-eval" --tsv "$tmp/m-$d.metrics" | awk -F'\t' -v d="$d" -v dev="$dev" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { ips = $c["images_per_sec"]; sec = $c["seconds"] }
        END { t = sec - 256 / ips; if (t <= 0) t = 1e-3; printf "%s\t%.1f\t%.1f\t%s\n", d, ips, 100 / t, dev }'
}

measure() {
    local tmp rc=0 d
    tmp=$(mktemp -d) || return 1
    # 256 training images (two full batches) and 100 test images of noise, one official batch file each
    python3 - "$tmp" <<'PY' || { rm -rf "$tmp"; return 1; }
import os, sys
for name, n in (("train.bin", 256), ("test.bin", 100)):
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        for r in range(n):
            f.write(bytes([r % 10]) + os.urandom(3072))
PY
    "$BIN/cifar-prep" --quiet -o "$tmp/train.ds" "$tmp/train.bin" &&
        "$BIN/cifar-prep" --quiet -o "$tmp/test.ds" "$tmp/test.bin" || rc=1
    for d in $depths; do
        [ "$rc" = 0 ] || break
        measure_depth "$d" "$tmp" || rc=1
    done
    rm -rf "$tmp"
    return "$rc"
}

speeds=""
if [ "${PLAN_PROFILE:-}" = ci ] || [ "${RN_PLAN_MEASURE:-1}" = 0 ]; then
    say "estimate: not measured (PROFILE=ci or RN_PLAN_MEASURE=0)"
    exit 0
fi
if [ -f "$cache" ]; then
    speeds=$(cat "$cache")
    for d in $depths; do grep -q "^$d	" <<<"$speeds" || speeds=""; done
fi
how="cached in $cache"
if [ -z "$speeds" ]; then
    say "measuring the training speed on this machine (two short epochs per depth: ${depths% }; once per build)..."
    start=$SECONDS
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)
    if ! speeds=$(measure); then
        say "estimate: the speed measurement failed (see above); no estimate"
        exit 0
    fi
    mkdir -p "$(dirname "$cache")" && printf '%s\n' "$speeds" >"$cache.tmp.$$" && mv "$cache.tmp.$$" "$cache"
    how="measured in $((SECONDS - start)) s at load average ${load:-?} on $(nproc) cores, cached in $cache: delete it to measure again"
fi
device=$(head -n1 <<<"$speeds" | cut -f4)
say "device: $device; speed ($how):"
while IFS=$'\t' read -r d tr te _; do
    say "  depth $d: $tr images/s training, $te images/s testing"
done <<<"$speeds"

# ---------------------------------------------------------------- estimate
mkdir -p "$R"
total=0 left=0 done_epochs=0
tmp_plan=$(mktemp "$R/plan.tsv.XXXXXX") || exit 1
for spec in "$@"; do
    run=${spec%%=*}
    e=$(flag_value --epochs "${spec#*=}" 200)
    d=$(run_depth "$run")
    per=$(awk -F'\t' -v d="$d" -v n="$ntrain" -v t="$ntest" '$1 == d { printf "%.1f", n / $2 + t / $3 }' <<<"$speeds")
    have=$(run_epochs_done "$R" "$run" "$BIN")
    printf '%s\t%s\t%s\n' "$run" "$e" "$per" >>"$tmp_plan"
    total=$(awk -v a="$total" -v e="$e" -v p="$per" 'BEGIN { printf "%.0f", a + e * p }')
    left=$(awk -v a="$left" -v e="$e" -v h="$have" -v p="$per" 'BEGIN { r = e - h; if (r < 0) r = 0; printf "%.0f", a + r * p }')
    done_epochs=$((done_epochs + have))
done
mv "$tmp_plan" "$R/plan.tsv"
say "estimate: $(human "$total") for the trainings, one after another; left: $(human "$left")" \
    "($done_epochs of $epochs_all epochs done)"

if [ "${PLAN_NAMED:-0}" != 1 ] && [ "$left" -gt "$LIMIT_S" ] && [[ "$device" == cpu* ]]; then
    cat >&2 <<EOF
plan: not started: PROFILE=${PLAN_PROFILE:-} on this CPU would take about $(human "$left"). Choose one:
plan:   make report PROFILE=${PLAN_PROFILE:-}    run it anyway (Ctrl-C stops it; run it again to resume)
plan:   make report PROFILE=smoke    the same four nets on a short budget (minutes on a CPU)
plan:   a machine with an NVIDIA GPU and CUDA: the same command uses it (DEVICE=cuda to insist)
EOF
    exit 1
fi
exit 0
