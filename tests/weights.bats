#!/usr/bin/env bats
# The weights reader on rn-init files corrupted in every way a file can be.
# rn-init only writes, so the reader runs through the unit-test binary
# ($RN_BUILD/tests/test_formats --read-weights FILE); tests/unit/test_formats.c
# covers more cases (offsets, metadata, checkpoints) in C.

load helpers/common

setup() {
    common_setup
    READ="$RN_BUILD/tests/test_formats"
    [ -x "$READ" ] || skip "build the unit tests first (make test-unit)"
    rn-init -q --arch resnet --depth 20 --seed 3 -o w.safetensors
}

read_weights() { "$READ" --read-weights "$@"; }

# patch FILE OLD NEW: replace the first OLD by NEW (same length) in the header
patch() {
    python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert len(old) == len(new)
data = open(path, "rb").read()
i = data.index(old)
open(path, "wb").write(data[:i] + new + data[i + len(old):])
PY
}

# the reader fails with exit 1 and one line naming FILE and containing TEXT
assert_rejected() {
    local file="$1" text="$2"
    run read_weights "$file"
    assert_failure 1
    [ "${#lines[@]}" -eq 1 ]
    assert_output --partial "$file"
    assert_output --partial "$text"
}

@test "weights: an rn-init file reads back, from a file and from a pipe" {
    run read_weights w.safetensors
    assert_success
    assert_output "ResNet-20 269722 parameters, seed 3, epoch 0, weights"
    run bash -c "rn-init -q --arch plain --depth 56 --seed 4 -o - | '$READ' --read-weights -"
    assert_success
    assert_output "Plain-56 853018 parameters, seed 4, epoch 0, weights"
}

@test "weights: truncated files" {
    head -c -1 w.safetensors > t1.safetensors
    assert_rejected t1.safetensors "truncated"
    head -c 100 w.safetensors > t2.safetensors
    assert_rejected t2.safetensors "truncated"
    head -c 3 w.safetensors > t3.safetensors
    assert_rejected t3.safetensors "truncated"
    : > t4.safetensors
    assert_rejected t4.safetensors "truncated"
}

@test "weights: header length larger than the file" {
    cp w.safetensors h.safetensors
    printf '\xff\xff\xff\x00\x00\x00\x00\x00' | dd of=h.safetensors conv=notrunc status=none
    assert_rejected h.safetensors "header length"
}

@test "weights: one byte flipped in the header" {
    cp w.safetensors f.safetensors
    patch f.safetensors '"format":' '"format";'
    assert_rejected f.safetensors "not valid JSON"
    cp w.safetensors g.safetensors
    patch g.safetensors '[16,3,3,3]' '[16,3,3,4]'
    assert_rejected g.safetensors "data_offsets span"
}

@test "weights: invalid JSON header" {
    cp w.safetensors j.safetensors
    patch j.safetensors '{"__metadata__"' '["__metadata__"'
    assert_rejected j.safetensors "does not start with '{'"
}

@test "weights: wrong dtype" {
    cp w.safetensors d.safetensors
    patch d.safetensors '"dtype":"F32"' '"dtype":"F16"'
    assert_rejected d.safetensors "dtype F16"
    cp w.safetensors e.safetensors
    patch e.safetensors '"dtype":"I64"' '"dtype":"F64"'
    assert_rejected e.safetensors "dtype F64"
}

@test "weights: shapes not matching the declared architecture" {
    cp w.safetensors s.safetensors
    patch s.safetensors '"depth":"20"' '"depth":"32"'
    assert_rejected s.safetensors "is missing (needed by resnet-32"
    cp w.safetensors b.safetensors
    patch b.safetensors '"shortcut":"A"' '"shortcut":"B"'
    assert_rejected b.safetensors "layer2.0.shortcut.0.weight is missing"
    cp w.safetensors c.safetensors
    patch c.safetensors '"classes":"10"' '"classes":"12"'
    assert_rejected c.safetensors "linear.weight has shape [10,64], expected [12,64]"
    cp w.safetensors p.safetensors
    patch p.safetensors '"arch":"resnet"' '"arch":"plains"'
    assert_rejected p.safetensors '"arch" is "plains"'
}

@test "weights: bad metadata" {
    cp w.safetensors m.safetensors
    patch m.safetensors '"format_version":"1"' '"format_version":"9"'
    assert_rejected m.safetensors "format_version 9 is not supported"
    cp w.safetensors n.safetensors
    patch n.safetensors '"depth":"20"' '"depth":"21"'
    assert_rejected n.safetensors "depth must be 6n+2"
    cp w.safetensors o.safetensors
    patch o.safetensors 'rn-cifar-weights' 'rn-cifar-wrights'
    assert_rejected o.safetensors "not an rn-cifar weights file"
}

@test "weights: a missing file" {
    run read_weights nowhere.safetensors
    assert_failure 1
    assert_output --partial "cannot open nowhere.safetensors"
}
