#!/usr/bin/env bash
# The paper's 2x2 experiment (Plain-20, Plain-56, ResNet-20, ResNet-56, option A) on one
# GPU with the whole 50k/10k CIFAR-10 and a shortened schedule: EPOCHS epochs, lr 0.1
# divided by 10 at 50% and 75% of the run (the paper recipe's 100/150 of 200, compressed).
# Everything else is the paper profile's recipe. For the full 200-epoch reproduction use
# `make report PROFILE=paper DEVICE=cuda`; this script is the short version that fits a
# few minutes of a borrowed GPU.
#
#   OUT=dir bash tests/gpu/four-nets.sh BATCHDIR... [-- EPOCHS]
# BATCHDIR(s) hold the official data_batch_1..5.bin and test_batch.bin (they may be
# spread over several directories). Writes OUT/NET.metrics and OUT/NET.eval per net.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/tmp/gpu-out}
mkdir -p "$OUT"
dirs=() epochs=30
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then epochs=$2; break; fi
    dirs+=("$1"); shift
done
find_batch() { for d in "${dirs[@]}"; do [ -f "$d/$1" ] && { echo "$d/$1"; return; }; done; echo "missing $1" >&2; return 1; }

. tests/gpu/gpu-env.sh
BUILD=tmp/build-gpu B=$BUILD/bin W=tmp/four-nets
mkdir -p "$W"
make -j"$(nproc)" CUDA=1 CUDA_HOME="$CUDA_HOME" CUDNN_HOME="$CUDNN_HOME" CUDA_ARCH="$CUDA_ARCH" \
    BUILDDIR=$BUILD BINDIR=$B $B/cifar-prep $B/rn-init $B/rn-train $B/rn-eval > "$W/build.log" 2>&1 ||
    { tail -30 "$W/build.log"; exit 1; }
train_batches=()
for i in 1 2 3 4 5; do train_batches+=("$(find_batch data_batch_$i.bin)") || exit 1; done
$B/cifar-prep -o "$W/train.ds" "${train_batches[@]}" || exit 1
$B/cifar-prep -o "$W/test.ds" "$(find_batch test_batch.bin)" || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null
milestones="$((epochs / 2)),$((epochs * 3 / 4))"
echo "four nets, $epochs epochs, milestones $milestones"
for net in plain-20 plain-56 resnet-20 resnet-56; do
    arch=${net%-*} depth=${net#*-}
    s=$SECONDS
    $B/rn-init --quiet --arch "$arch" --depth "$depth" --seed 1 -o "$W/$net-init.safetensors" &&
    $B/rn-train --device "${DEVICE:-cuda}" --train "$W/train.ds" --test "$W/test.ds" --init "$W/$net-init.safetensors" \
        --epochs "$epochs" --milestones "$milestones" --metrics "$OUT/$net.metrics" \
        -o "$W/$net.safetensors" 2>&1 | grep -E "epoch ($epochs|1)/|error|rn-train:.*(training|device)" &&
    $B/rn-eval --device "${DEVICE:-cuda}" --responses --weights "$W/$net.safetensors" --data "$W/test.ds" -o "$OUT/$net.eval" || exit 1
    echo "$net: $((SECONDS - s)) s wall (init + train + eval)"
done
for net in plain-20 plain-56 resnet-20 resnet-56; do
    echo "== $net"; $B/rn-eval --tsv "$OUT/$net.metrics" | sed -n '1p;$p'
done
