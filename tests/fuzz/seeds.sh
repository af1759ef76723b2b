#!/usr/bin/env bash
# Seed corpora for the fuzzing harnesses, made by the tools themselves (nothing
# binary is committed): tests/fuzz/seeds.sh BINDIR OUTDIR makes OUTDIR/<reader>/
# for every reader: a tiny training run's dataset, weights, checkpoints (one
# saved mid-epoch), metrics and eval file, CIFAR batches and a PNG sheet, and a
# few small safetensors containers written by hand.
set -euo pipefail
bin=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cd "$tmp"

# 12 deterministic CIFAR-format records per batch
python3 - bins <<'PY'
import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for b, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
    out = bytearray()
    for r in range(12):
        out.append((r * 7 + b) % 10)
        out += bytes(((r * 131 + b * 17 + p * 3) % 256) for p in range(3072))
    open(os.path.join(d, name), "wb").write(out)
PY
python3 "$here/../fixtures/cifar_png.py" sheets bins png >/dev/null

"$bin/cifar-prep" -q -o train.ds bins/data_batch_1.bin
"$bin/rn-init" -q --arch resnet --depth 8 --seed 1 -o w8.safetensors
"$bin/rn-init" -q --arch plain --depth 8 --seed 2 -o p8.safetensors
train() { "$bin/rn-train" -q --train train.ds --test train.ds --init w8.safetensors --batch 4 --threads 1 \
    --milestones 1 "$@"; }
train --epochs 2 -o t.safetensors --checkpoint c.safetensors --metrics m.metrics
train --epochs 1 --max-steps 2 -o t2.safetensors --checkpoint mid.safetensors --metrics m2.metrics
"$bin/rn-eval" -q --weights t.safetensors --data train.ds -o e.eval --responses
"$bin/rn-eval" -q --weights p8.safetensors --data train.ds -o p.eval

# small containers: the header alone is what the generic reader looks at first
st() { python3 -c '
import struct, sys
h = sys.argv[2].encode(); n = int(sys.argv[3])
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + bytes(range(n % 256)) * (n // 256) + bytes(range(n % 256)))
' "$@"; }
mkdir -p hand
st hand/one.st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
st hand/two.st '{"__metadata__":{"k":"v"},"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}' 12
st hand/empty.st '{}' 0

seed() { local r=$1; shift; mkdir -p "$out/$r"; cp "$@" "$out/$r/"; }
seed safetensors hand/*.st w8.safetensors
seed weights w8.safetensors p8.safetensors t.safetensors
seed checkpoint c.safetensors mid.safetensors
seed dataset train.ds
seed metrics m.metrics m2.metrics
seed eval e.eval p.eval
seed cifar_batch bins/test_batch.bin
seed png_sheet png/test_batch.png
