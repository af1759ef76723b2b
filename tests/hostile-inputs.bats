#!/usr/bin/env bats
# Hostile inputs to every reader (issue "Nothing lost", bounded reads and value
# checks): /dev/zero, endless pipes, headers that promise more than the file
# holds, records with a valid checksum over impossible values. Each must end at
# once with one line naming the input, under a 2 GB address-space limit, so a
# reader that grows without bound fails here instead of swapping.

load helpers/common

setup() {
    common_setup
}

# bounded CMD...: runs CMD under `ulimit -v` 2 GB; not in AddressSanitizer
# builds, which reserve terabytes of address space up front (there the reads
# are still checked for their one-line error). `timeout` only keeps a
# regression from hanging the suite.
bounded() {
    if ldd "$RN_BIN/rn-eval" 2>/dev/null | grep -q libasan; then
        timeout 120 "$@"
    else
        (ulimit -v 2000000 && exec timeout 120 "$@")
    fi
}

# refused TEXT: the last `run` failed with exit 1 and one line containing TEXT
refused() {
    assert_equal "$status" 1
    assert_equal "${#lines[@]}" 1
    assert_output --partial "$1"
}

tiny_run() {
    make_tiny_batches bins 12
    cifar-prep -q -o train.ds bins/data_batch_1.bin
    rn-init -q --arch resnet --depth 8 --seed 1 -o w.safetensors
    rn-train -q --train train.ds --test train.ds --init w.safetensors --batch 4 --threads 1 --milestones 1 \
        --epochs 2 -o t.safetensors --checkpoint c.safetensors --metrics m.metrics
}

@test "/dev/zero as weights, checkpoint, dataset, batch, metrics or eval: one line, bounded memory" {
    tiny_run
    run bounded rn-eval --weights /dev/zero --data train.ds
    refused "/dev/zero: not a safetensors file (header length 0"
    run bounded bash -c 'rn-eval --weights - --data train.ds </dev/zero'
    refused "stdin: not a safetensors file"
    run bounded rn-train --train train.ds --resume /dev/zero -o x.safetensors
    refused "/dev/zero: not a safetensors file"
    run bounded rn-eval --weights t.safetensors --data /dev/zero
    refused "/dev/zero: not a dataset file"
    run bounded bash -c 'cifar-prep -o x.ds - </dev/zero'
    refused "stdin: not a dataset file"
    run bounded cifar-prep -o x.ds /dev/zero
    refused "/dev/zero: larger than 307300000 bytes, the most a CIFAR-10 batch may be"
    run bounded rn-eval --tsv /dev/zero
    refused "/dev/zero: neither a metrics file"
    run bounded rn-plot loss /dev/zero -o x.png
    refused "/dev/zero: not a metrics, eval, weights or info file"
    [ ! -e x.ds ] && [ ! -e x.png ] && [ ! -e x.safetensors ]
}

@test "a valid header followed by an endless stream: refused at the header's size or the format's cap" {
    tiny_run
    # safetensors: exactly the data the header accounts for is read, then the rest is refused
    hlen=$(python3 -c 'import struct,sys; print(struct.unpack("<Q", open(sys.argv[1],"rb").read(8))[0])' t.safetensors)
    run bounded bash -c "(head -c $((8 + hlen)) t.safetensors; cat /dev/zero) | rn-eval --weights - --data train.ds"
    refused "stdin: bytes after the last tensor's data"
    # metrics and eval through a FIFO (rn-eval --tsv wants a name): capped at the format's most
    mkfifo fifo
    (head -c 88 m.metrics; cat /dev/zero) >fifo 2>/dev/null &
    run bounded rn-eval --tsv fifo
    refused "fifo: larger than 80000088 bytes, the most a metrics file may be"
    wait
    rn-eval -q --weights t.safetensors --data train.ds -o e.eval
    (head -c 16 e.eval; cat /dev/zero) >fifo 2>/dev/null &
    run bounded rn-plot confusion fifo -o x.png
    refused "fifo: larger than"
    wait
}

@test "a dataset header promising more than a pipe delivers costs only what came" {
    # 100 million 3x32x32 images promised (307 GB), 50 MB sent
    python3 - <<'PY'
import struct
h = b"RNCIFAR\x1a" + struct.pack("<6I", 1, 100_000_000, 3, 32, 32, 10)
names = b"".join(n.encode().ljust(32, b"\0") for n in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
open("head.ds", "wb").write(h + names)
PY
    run bounded bash -c '(cat head.ds; head -c 50000000 /dev/zero) | cifar-prep -o x.ds -'
    refused "stdin: truncated: the labels: 100000000 bytes needed, only 50000000 left"
    run bounded bash -c '(cat head.ds; head -c 150000000 /dev/zero) | cifar-prep -o x.ds -'
    refused "stdin: truncated: the pixels: 307200000000 bytes needed, only 50000000 left"
    [ ! -e x.ds ]
}

@test "a CIFAR batch directory with a 20 GB file, and a PNG sheet promising 100,000 rows" {
    make_tiny_batches bins 12
    truncate -s 20G bins/data_batch_2.bin
    run bounded cifar-prep --train -o x.ds bins
    refused "bins/data_batch_2.bin: larger than 307300000 bytes"
    # a PNG header (IHDR) promising ROWS rows of 1024 RGB pixels, then a cut-off image
    sheet() {
        python3 - "$@" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
ihdr = struct.pack(">IIBBBBB", 1024, int(sys.argv[2]), 8, 2, 0, 0, 0)
idat = zlib.compress(b"\0" + bytes(3072))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))
PY
    }
    mkdir -p tall taller
    sheet tall/data_batch_1.png 100000
    run bounded cifar-prep --train -o x.ds tall
    refused "tall/data_batch_1.png: bad PNG"
    sheet taller/data_batch_1.png 100001
    run bounded cifar-prep --train -o x.ds taller
    refused "taller/data_batch_1.png: 100001 rows, more than the 100000 a sheet may hold"
    [ ! -e x.ds ]
}

# metrics FILE EPOCH ITER LR TRAIN_LOSS TRAIN_ERR TEST_LOSS TEST_ERR SECONDS IPS...: appends
# records with valid checksums (whatever the values) to a copy of m.metrics' header
forge_metrics() {
    python3 - "$@" <<'PY'
import struct, sys, zlib
out, src, recs = sys.argv[1], sys.argv[2], sys.argv[3:]
data = open(src, "rb").read(88)
for r in recs:
    f = r.split(",")
    body = struct.pack("<IIQ7d", int(f[0]), 0, int(f[1]), *map(float, f[2:])) + b"\0" * 4
    data += body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
open(out, "wb").write(data)
PY
}

@test "metrics records with valid checksums but impossible values are refused, naming file and record" {
    tiny_run
    good1="1,3,0.1,2.3,0.9,2.3,0.9,1.5,100" good2="2,6,0.1,2.2,0.8,2.2,0.85,1.5,100"
    forge_metrics ok.metrics m.metrics "$good1" "$good2"
    run rn-eval --tsv ok.metrics
    assert_success
    forge_metrics bad.metrics m.metrics "$good1" "2,6,0.1,2.2,0.8,2.2,-3,1.5,100"
    run rn-plot accuracy bad.metrics -o x.png
    refused "bad.metrics: metrics record 2 of 2 is invalid: test_err is -3 (a rate must be in [0, 1])"
    [ ! -e x.png ]
    forge_metrics bad.metrics m.metrics "$good2" "$good1"
    run rn-eval --tsv bad.metrics
    refused "bad.metrics: metrics record 2 of 2 is invalid: epoch 1 follows epoch 2"
    forge_metrics bad.metrics m.metrics "$good1" "2,3,0.1,2.2,0.8,2.2,0.85,1.5,100"
    run rn-eval --tsv bad.metrics
    refused "record 2 of 2 is invalid: iteration 3 at epoch 2"
    forge_metrics bad.metrics m.metrics "1,3,0.1,nan,0.9,2.3,0.9,1.5,100"
    run rn-eval --tsv bad.metrics
    refused "record 1 of 1 is invalid: train_loss is nan"
    forge_metrics bad.metrics m.metrics "1,3,0,2.3,0.9,2.3,0.9,1.5,100"
    run rn-eval --tsv bad.metrics
    refused "record 1 of 1 is invalid: lr is 0"
    forge_metrics bad.metrics m.metrics "1,3,0.1,2.3,0.9,2.3,0.9,-1,100"
    run rn-eval --tsv bad.metrics
    refused "record 1 of 1 is invalid: seconds is -1"
    # no test set: NaN test values are allowed
    forge_metrics ok.metrics m.metrics "1,3,0.1,2.3,0.9,nan,nan,1.5,100"
    run rn-eval --tsv ok.metrics
    assert_success
}

@test "a torn last metrics record is still dropped on resume; a bad one in the middle is an error" {
    tiny_run
    head -c -7 m.metrics >torn.metrics
    run rn-eval --tsv torn.metrics
    assert_success
    assert_output --partial "dropping a torn last metrics record"
    python3 - <<'PY'
d = bytearray(open("m.metrics", "rb").read())
d[88 + 20] ^= 1
open("mid.metrics", "wb").write(d)
PY
    run rn-eval --tsv mid.metrics
    refused "mid.metrics: metrics record 1 of 2 is corrupt"
}

# seen while writing tests/fuzz/fuzz_checkpoint.c: a mid-epoch checkpoint whose recipe
# says images=1e300 was converted to an int64 (undefined behaviour)
@test "a mid-epoch checkpoint with an impossible image count is refused on resume" {
    make_tiny_batches bins 12
    cifar-prep -q -o train.ds bins/data_batch_1.bin
    rn-init -q --arch resnet --depth 8 --seed 1 -o w.safetensors
    args=(--train train.ds --batch 4 --threads 1 --milestones 1 --epochs 1)
    rn-train -q "${args[@]}" --init w.safetensors --max-steps 2 -o t.safetensors --checkpoint mid.safetensors
    python3 - <<'PY'
import json, re, struct
d = open("mid.safetensors", "rb").read()
n = struct.unpack("<Q", d[:8])[0]
h = json.loads(d[8:8 + n])
h["__metadata__"]["recipe"] = re.sub(r"images=[^\n]*", "images=1e300", h["__metadata__"]["recipe"])
hb = json.dumps(h, separators=(",", ":")).encode()
hb += b" " * (-len(hb) % 8)
open("bad.safetensors", "wb").write(struct.pack("<Q", len(hb)) + hb + d[8 + n:])
PY
    run rn-train -q "${args[@]}" --resume bad.safetensors -o t2.safetensors --checkpoint c2.safetensors
    refused "bad.safetensors: checkpoint progress has images=1e+300"
    [ ! -e t2.safetensors ]
    run rn-train -q "${args[@]}" --resume mid.safetensors -o t2.safetensors --checkpoint c2.safetensors
    assert_success
}
