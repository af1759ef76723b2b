#!/usr/bin/env bats
# cifar-prep: tiny CIFAR-10 batches and PNG sheets made here, every mode, every
# kind of bad input; and the real dataset when `make data` has cached it.
load helpers/common

# Tiny inputs: 20 images per batch, so 100 training images (10 per class)
# and 20 test images (2 per class); made once, copied into each test.
setup_file() {
    make_tiny_batches "$BATS_FILE_TMPDIR/bins" 20
    make_tiny_png_sheets "$BATS_FILE_TMPDIR/sheets" 20
}

setup() {
    common_setup
    cp -r "$BATS_FILE_TMPDIR/bins" bins
}

tiny_sheets() { cp -r "$BATS_FILE_TMPDIR/sheets" sheets; }

HEADER=352   # 32 fixed bytes + 10 class names x 32 bytes

# ds_labels FILE: the labels of a dataset file, space-separated.
ds_labels() {
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
count, classes = struct.unpack_from("<I", d, 12)[0], struct.unpack_from("<I", d, 28)[0]
start = 32 + 32 * classes
print(" ".join(str(b) for b in d[start:start + count]))
PY
}

# batch_labels FILE...: the label bytes of official batch files, in order.
batch_labels() {
    python3 - "$@" <<'PY'
import sys
labels = []
for p in sys.argv[1:]:
    d = open(p, "rb").read()
    labels += [d[i] for i in range(0, len(d), 3073)]
print(" ".join(map(str, labels)))
PY
}

# patch FILE OFFSET BYTE...: overwrite bytes in place.
patch() {
    python3 - "$@" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
d = bytearray(open(path, "rb").read())
for i, b in enumerate(sys.argv[3:]):
    d[off + i] = int(b)
open(path, "wb").write(bytes(d))
PY
}

# A failed run: exit status $1, one line on stderr naming $2, no file $3 left
# (nor a temporary one beside it).
assert_failed_cleanly() {
    local status_want="$1" name="$2" out="$3"
    assert_equal "$status" "$status_want"
    assert_equal "${#lines[@]}" 1
    assert_output --partial "cifar-prep: "
    assert_output --partial "$name"
    [ ! -e "$out" ]
    ! ls -A "$(dirname "$out")" | grep -q '\.tmp\.'
}

# ----------------------------------------------------------------- basics

@test "--help and --version describe the tool" {
    run cifar-prep --help
    assert_success
    assert_output --partial "--split"
    assert_output --partial "--to-batches"
    run cifar-prep --version
    assert_success
    assert_output --partial "cifar-prep (rn-cifar)"
}

@test "--train writes batches 1-5 in order: header, labels and channel-planar pixels" {
    run cifar-prep --train -o train.ds bins
    assert_success
    [ "$(stat -c %s train.ds)" -eq $((HEADER + 100 * 3073)) ]
    [ "$(head -c 8 train.ds | od -An -c | tr -d ' ')" = 'RNCIFAR032' ]
    assert_equal "$(ds_labels train.ds)" "$(batch_labels bins/data_batch_{1,2,3,4,5}.bin)"
    # the first image's pixels are the first record's 3072 bytes, unchanged
    cmp <(tail -c +$((HEADER + 100 + 1)) train.ds | head -c 3072) <(tail -c +2 bins/data_batch_1.bin | head -c 3072)
    # and the last image's are the last record of batch 5
    cmp <(tail -c 3072 train.ds) <(tail -c 3072 bins/data_batch_5.bin)
}

@test "--test writes the test batch" {
    run cifar-prep --test -o test.ds bins
    assert_success
    assert_equal "$(ds_labels test.ds)" "$(batch_labels bins/test_batch.bin)"
    [ "$(stat -c %s test.ds)" -eq $((HEADER + 20 * 3073)) ]
}

@test "the PNG mirror and the binary batches give identical dataset bytes" {
    tiny_sheets
    cifar-prep --train -o a.ds bins
    cifar-prep --train -o b.ds sheets
    cmp a.ds b.ds
    cifar-prep --test -o a.ds bins
    cifar-prep --test -o b.ds sheets
    cmp a.ds b.ds
}

@test ".bin files given one by one are used whole, in the order given" {
    cifar-prep --train -o dir.ds bins
    cifar-prep -o files.ds bins/data_batch_{1,2,3,4,5}.bin
    cmp dir.ds files.ds
    cifar-prep -o two.ds bins/test_batch.bin bins/data_batch_1.bin
    assert_equal "$(ds_labels two.ds)" "$(batch_labels bins/test_batch.bin bins/data_batch_1.bin)"
}

@test "--to-batches turns the PNG sheets into the official batch files, byte for byte" {
    tiny_sheets
    run cifar-prep --to-batches out sheets
    assert_success
    for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
        cmp "bins/$f" "out/$f"
    done
    assert_equal "$(head -1 out/batches.meta.txt)" airplane
    assert_equal "$(wc -l <out/batches.meta.txt)" 10
}

# ----------------------------------------------------------------- selection

@test "--split val/train: class-balanced, disjoint, complete, in the original order" {
    cifar-prep --train -o all.ds bins
    run cifar-prep --split val --val-size 50 --seed 3 -o val.ds bins
    assert_success
    run cifar-prep --split train --val-size 50 --seed 3 -o train.ds bins
    assert_success
    run python3 - all.ds train.ds val.ds <<'PY'
import struct, sys
def load(p):
    d = open(p, "rb").read()
    n, classes = struct.unpack_from("<I", d, 12)[0], struct.unpack_from("<I", d, 28)[0]
    lab = 32 + 32 * classes
    return [(d[lab + i], d[lab + n + i * 3072: lab + n + (i + 1) * 3072]) for i in range(n)]
full, train, val = (load(p) for p in sys.argv[1:])
index = {img: i for i, img in enumerate(full)}
assert len(index) == len(full) == 100, "tiny images are distinct"
ti, vi = [index[x] for x in train], [index[x] for x in val]
assert len(vi) == 50 and len(ti) == 50
assert sorted(ti + vi) == list(range(100)), "train and val partition the set"
assert ti == sorted(ti) and vi == sorted(vi), "original order kept"
for c in range(10):
    assert sum(1 for lab, _ in val if lab == c) == 5, "5 of each class in val"
print("split ok")
PY
    assert_success
    assert_output "split ok"
}

@test "--split: same seed same bytes, another seed another split" {
    cifar-prep --split val --val-size 50 --seed 1 -o a.ds bins
    cifar-prep --split val --val-size 50 --seed 1 -o b.ds bins
    cifar-prep --split val --val-size 50 --seed 2 -o c.ds bins
    cmp a.ds b.ds
    ! cmp -s a.ds c.ds
}

@test "--split of a dataset file equals the split of the source directory" {
    cifar-prep --train -o all.ds bins
    cifar-prep --split val --val-size 50 -o a.ds bins
    cifar-prep --split val --val-size 50 -o b.ds all.ds
    cmp a.ds b.ds
}

@test "--per-class keeps the first N of each class, in order" {
    run cifar-prep --per-class 3 -o small.ds --train bins
    assert_success
    run cifar-prep --info small.ds
    assert_line "images: 30"
    assert_line "class 4 deer: 3"
    # in the tiny batches image r of batch b has label (7r + b) mod 10
    want=$(python3 -c '
seen = {}
out = []
for b in range(5):
    for r in range(20):
        c = (7 * r + b) % 10
        if seen.get(c, 0) < 3:
            seen[c] = seen.get(c, 0) + 1
            out.append(c)
print(" ".join(map(str, out)))')
    assert_equal "$(ds_labels small.ds)" "$want"
}

@test "--limit keeps the first N, after the other selections, from a dataset file too" {
    cifar-prep --train -o all.ds bins
    cifar-prep --limit 7 -o seven.ds all.ds
    assert_equal "$(ds_labels seven.ds)" "$(ds_labels all.ds | cut -d' ' -f1-7)"
    cmp <(tail -c $((7 * 3072)) seven.ds) <(tail -c +$((HEADER + 100 + 1)) all.ds | head -c $((7 * 3072)))
    cifar-prep --per-class 2 --limit 5 -o five.ds all.ds
    assert_equal "$(ds_labels five.ds)" "$(ds_labels all.ds | cut -d' ' -f1-5)"
    run cifar-prep --limit 1000 --info all.ds
    assert_line "images: 100"
}

# ----------------------------------------------------------------- info, grid, stdio

@test "--info: count, histogram and the exact per-channel mean/std" {
    run cifar-prep --info --test bins
    assert_success
    assert_line "images: 20"
    assert_line "shape: 3x32x32"
    assert_line "classes: 10"
    assert_line "class 0 airplane: 2"
    assert_line "class 9 truck: 2"
    want=$(python3 - bins/test_batch.bin <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
recs = [d[i + 1:i + 3073] for i in range(0, len(d), 3073)]
means, stds = [], []
for c in range(3):
    v = [x / 255 for r in recs for x in r[c * 1024:(c + 1) * 1024]]
    m = sum(v) / len(v)
    means.append(m)
    stds.append((sum((x - m) ** 2 for x in v) / len(v)) ** 0.5)
print("mean: " + " ".join("%.8f" % m for m in means))
print("std: " + " ".join("%.8f" % s for s in stds))
PY
)
    assert_line "$(sed -n 1p <<<"$want")"
    assert_line "$(sed -n 2p <<<"$want")"
}

@test "--grid writes a valid, non-blank PNG: one row per class" {
    run cifar-prep --grid grid.png --train bins
    assert_success
    run cifar-prep --grid small.png --grid-per-class 3 --grid-scale 1 --test bins
    assert_success
    run python3 - grid.png small.png <<'PY'
import struct, sys, zlib
for path, want in zip(sys.argv[1:], [(662, 662), (104, 342)]):
    d = open(path, "rb").read()
    assert d[:8] == b"\x89PNG\r\n\x1a\n", "signature"
    w, h, depth, colour = struct.unpack(">IIBB", d[16:26])
    assert (w, h) == want and depth == 8 and colour == 2, (w, h, depth, colour)
    idat, pos = b"", 8
    while pos < len(d):
        n, kind = struct.unpack(">I4s", d[pos:pos + 8])
        if kind == b"IDAT":
            idat += d[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + 3 * w)
    assert len(set(raw)) > 20, "not blank"
print("png ok")
PY
    assert_success
    assert_output "png ok"
}

@test "- writes to stdout and reads from stdin, so cifar-prep chains in a pipe" {
    cifar-prep --test -o file.ds bins
    cifar-prep --test -o - bins >stdout.ds
    cmp file.ds stdout.ds
    run bash -c 'cifar-prep --quiet --train bins | cifar-prep --per-class 1 - | cifar-prep --info -'
    assert_success
    assert_line "images: 10"
    assert_line "file: stdin"
    cifar-prep --info -o info.txt file.ds
    grep -q "images: 20" info.txt
}

# ----------------------------------------------------------------- bad batches

@test "a truncated batch file is rejected, naming it" {
    head -c 5000 bins/data_batch_2.bin >cut.bin
    mv cut.bin bins/data_batch_2.bin
    run cifar-prep --train -o out.ds bins
    assert_failed_cleanly 1 "bins/data_batch_2.bin: truncated" out.ds
}

@test "a batch whose records are not 3073 bytes is rejected (record size)" {
    head -c $((2 * 3074)) bins/test_batch.bin >c100.bin
    run cifar-prep -o out.ds c100.bin
    assert_failed_cleanly 1 "c100.bin" out.ds
    assert_output --partial "record size"
}

@test "an empty batch file is rejected" {
    : >empty.bin
    run cifar-prep -o out.ds empty.bin
    assert_failed_cleanly 1 "empty.bin: empty" out.ds
}

@test "a label > 9 in a batch is rejected" {
    patch bins/data_batch_1.bin $((3 * 3073)) 10
    run cifar-prep --train -o out.ds bins
    assert_failed_cleanly 1 "bins/data_batch_1.bin: record 3 has label 10" out.ds
}

@test "a missing batch in a source directory is named" {
    rm bins/data_batch_4.bin
    run cifar-prep --train -o out.ds bins
    assert_failed_cleanly 1 "bins/data_batch_4.bin: missing" out.ds
}

@test "a directory holding no CIFAR-10 is rejected" {
    mkdir nothing
    run cifar-prep --train -o out.ds nothing
    assert_failed_cleanly 1 "nothing: holds neither" out.ds
}

@test "a missing input file is named" {
    run cifar-prep -o out.ds no-such.bin
    assert_failed_cleanly 1 "no-such.bin" out.ds
}

# ----------------------------------------------------------------- bad PNG sheets

@test "a PNG sheet of the wrong width is rejected" {
    tiny_sheets
    python3 "$REPO_ROOT/tests/fixtures/cifar_png.py" raw sheets/data_batch_3.png 1000 20 8 2
    run cifar-prep --train -o out.ds sheets
    assert_failed_cleanly 1 "sheets/data_batch_3.png: 1000 pixels wide" out.ds
}

@test "a PNG sheet of the wrong bit depth is rejected" {
    tiny_sheets
    python3 "$REPO_ROOT/tests/fixtures/cifar_png.py" raw sheets/test_batch.png 1024 20 16 2
    run cifar-prep --test -o out.ds sheets
    assert_failed_cleanly 1 "sheets/test_batch.png: bit depth 16" out.ds
}

@test "a PNG sheet of the wrong colour type is rejected" {
    tiny_sheets
    python3 "$REPO_ROOT/tests/fixtures/cifar_png.py" raw sheets/test_batch.png 1024 20 8 6
    run cifar-prep --test -o out.ds sheets
    assert_failed_cleanly 1 "sheets/test_batch.png: colour type 6" out.ds
    python3 "$REPO_ROOT/tests/fixtures/cifar_png.py" raw sheets/test_batch.png 1024 20 8 0
    run cifar-prep --test -o out.ds sheets
    assert_failed_cleanly 1 "sheets/test_batch.png: colour type 0" out.ds
}

@test "a PNG sheet whose header promises implausibly many rows is rejected before decoding" {
    tiny_sheets
    python3 - sheets/test_batch.png <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
ihdr = struct.pack(">IIBBBBB", 1024, 500000, 8, 2, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 3073)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
    run cifar-prep --test -o out.ds sheets
    assert_failed_cleanly 1 "sheets/test_batch.png: 500000 rows, more than the 100000 a sheet may hold" out.ds
}

@test "a truncated or non-PNG sheet is rejected" {
    tiny_sheets
    head -c $(($(stat -c %s sheets/test_batch.png) - 100)) sheets/test_batch.png >cut.png
    mv cut.png sheets/test_batch.png
    run cifar-prep --test -o out.ds sheets
    assert_failed_cleanly 1 "sheets/test_batch.png: bad PNG" out.ds
    echo "not a png" >sheets/test_batch.png
    run cifar-prep --test -o out.ds sheets
    assert_failed_cleanly 1 "sheets/test_batch.png: not a PNG file" out.ds
}

@test "label JSON of the wrong length is rejected" {
    tiny_sheets
    python3 -c 'import json; json.dump(list(range(10)) * 9 + [1] * 9, open("sheets/train_lables.json", "w"))'
    run cifar-prep --train -o out.ds sheets
    assert_failed_cleanly 1 "sheets/train_lables.json: holds 99 labels, but the PNG sheets hold 100 images" out.ds
}

@test "label JSON that is not an array of integers 0..9 is rejected" {
    tiny_sheets
    for bad in '[3,1,10,0' '{"labels":[1,2]}' '[0,1,2,3,4,5,6,7,8,10,0,1,2,3,4,5,6,7,8,9]' \
        '[0,1,2,3,4,5,6,7,8,1.5,0,1,2,3,4,5,6,7,8,9]' '[0,1,2,3,4,5,6,7,8,"9",0,1,2,3,4,5,6,7,8,9]' \
        '[0,1,2,3,4,5,6,7,8,-1,0,1,2,3,4,5,6,7,8,9]'; do
        echo "$bad" >sheets/test_lables.json
        run cifar-prep --test -o out.ds sheets
        assert_failed_cleanly 1 "sheets/test_lables.json: " out.ds
    done
}

# ----------------------------------------------------------------- bad dataset files

@test "a dataset file with the wrong magic or version is rejected" {
    cifar-prep --test -o good.ds bins
    cp good.ds magic.ds
    patch magic.ds 0 88
    run cifar-prep --info -o out.txt magic.ds
    assert_failed_cleanly 1 "magic.ds: not a dataset file (bad magic" out.txt
    cp good.ds version.ds
    patch version.ds 8 2
    run cifar-prep --info -o out.txt version.ds
    assert_failed_cleanly 1 "version.ds: dataset format version 2 not supported" out.txt
}

@test "a truncated dataset file or one with trailing bytes is rejected" {
    cifar-prep --test -o good.ds bins
    head -c $(($(stat -c %s good.ds) - 1)) good.ds >cut.ds
    run cifar-prep --limit 3 -o out.ds cut.ds
    assert_failed_cleanly 1 "cut.ds: truncated" out.ds
    head -c 20 good.ds >stub.ds
    run cifar-prep --limit 3 -o out.ds stub.ds
    assert_failed_cleanly 1 "stub.ds: truncated" out.ds
    cp good.ds long.ds
    echo x >>long.ds
    run cifar-prep --limit 3 -o out.ds long.ds
    assert_failed_cleanly 1 "long.ds: size mismatch" out.ds
    # the same through a pipe, where the size is not known in advance
    run bash -c 'cat long.ds | cifar-prep --limit 3 -o out.ds -'
    assert_failed_cleanly 1 "stdin: size mismatch" out.ds
    run bash -c 'cat cut.ds | cifar-prep --limit 3 -o out.ds -'
    assert_failed_cleanly 1 "stdin: truncated" out.ds
}

@test "a dataset file with a label >= classes or impossible dimensions is rejected" {
    cifar-prep --test -o good.ds bins
    cp good.ds label.ds
    patch label.ds $((HEADER + 5)) 10
    run cifar-prep --info -o out.txt label.ds
    assert_failed_cleanly 1 "label.ds: image 5 has label 10 but there are only 10 classes" out.txt
    cp good.ds chan.ds
    patch chan.ds 16 0
    run cifar-prep --info -o out.txt chan.ds
    assert_failed_cleanly 1 "chan.ds: channels 0 out of range" out.txt
    cp good.ds side.ds
    patch side.ds 20 0 32   # height 8192
    run cifar-prep --info -o out.txt side.ds
    assert_failed_cleanly 1 "side.ds: image size 8192x32 out of range" out.txt
    cp good.ds count.ds
    patch count.ds 12 21   # one image more than the file holds
    run cifar-prep --info -o out.txt count.ds
    assert_failed_cleanly 1 "count.ds: truncated: header says 21 images" out.txt
}

# ----------------------------------------------------------------- outputs, usage

@test "an output directory that does not exist or is not writable: one line, nothing left" {
    run cifar-prep --test -o no/such/dir/out.ds bins
    assert_failed_cleanly 1 "no/such/dir/out.ds" no/such/dir/out.ds
    touch plainfile
    run cifar-prep --test -o plainfile/out.ds bins
    assert_equal "$status" 1
    assert_output --partial "plainfile/out.ds"
    if [ "$(id -u)" -ne 0 ]; then   # root writes anywhere: the mode test needs a user
        mkdir ro
        chmod 555 ro
        run cifar-prep --test -o ro/out.ds bins
        assert_failed_cleanly 1 "ro/out.ds" ro/out.ds
    fi
}

@test "a failed run leaves an existing output file untouched" {
    cifar-prep --test -o out.ds bins
    cp out.ds before.ds
    patch bins/test_batch.bin 0 11
    run cifar-prep --test -o out.ds bins
    assert_equal "$status" 1
    cmp out.ds before.ds
}

@test "usage errors exit 2 with one line" {
    for args in "" "--train" "bins" "--split foo bins" "--val-size 7 --split val bins" "--train --test bins" \
        "--info --grid g.png bins" "--bogus bins" "--limit -1 --train bins" "--test bins/test_batch.bin" \
        "--to-batches out --train bins"; do
        run cifar-prep $args
        assert_equal "$status" 2
        assert_equal "${#lines[@]}" 1
        assert_output --partial "cifar-prep: "
    done
}

@test "a split or subset the data cannot give is an error naming the input" {
    patch bins/data_batch_1.bin 0 1                  # records 0 and 10 of batch 1 are the
    patch bins/data_batch_1.bin $((10 * 3073)) 1     # class-0 images: relabel them
    run cifar-prep --split val --val-size 90 -o out.ds bins
    assert_failed_cleanly 1 "bins: class 0 (airplane) has 8 images, fewer than the 9" out.ds
    run cifar-prep --split val --val-size 100 -o out.ds bins
    assert_failed_cleanly 1 "bins: --val-size 100 leaves no training images" out.ds
    run cifar-prep --per-class 3 --test -o out.ds bins
    assert_failed_cleanly 1 "bins: class 0 (airplane) has only 2 images, fewer than --per-class 3" out.ds
}

# ----------------------------------------------------------------- the real dataset

real_verified_dir() {
    local dir
    dir=$(real_data_dir)
    [ -n "$dir" ] && [ -f "$dir/.verified" ] && echo "$dir"
}

@test "real CIFAR-10: counts, first labels, class counts, mean/std (needs make data)" {
    dir=$(real_verified_dir) || skip "no verified CIFAR-10 in \$RN_CACHE: run 'make data'"
    cifar-prep --train -o train.ds "$dir"
    cifar-prep --test -o test.ds "$dir"
    assert_equal "$(ds_labels train.ds | cut -d' ' -f1-10)" "6 9 9 4 1 1 2 7 8 3"
    assert_equal "$(ds_labels test.ds | cut -d' ' -f1-10)" "3 8 8 0 6 6 1 6 3 1"
    run cifar-prep --info train.ds
    assert_line "images: 50000"
    for c in 0 1 2 3 4 5 6 7 8 9; do
        assert_line --regexp "^class $c [a-z]+: 5000\$"
    done
    assert_line "mean: 0.49139968 0.48215841 0.44653091"
    assert_line "std: 0.24703223 0.24348513 0.26158784"
    run cifar-prep --info test.ds
    assert_line "images: 10000"
    for c in 0 1 2 3 4 5 6 7 8 9; do
        assert_line --regexp "^class $c [a-z]+: 1000\$"
    done
    run cifar-prep --info "$dir/data_batch_1.bin"
    assert_line "class 0 airplane: 1005"
    assert_line "class 5 dog: 937"
    assert_line "class 9 truck: 981"
    run cifar-prep --info --split val "$dir"
    assert_line "images: 5000"
    assert_line "class 3 cat: 500"
}
