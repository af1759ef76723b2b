#!/usr/bin/env bats
# rn-init: parameter counts, determinism, output handling, usage errors.

bats_require_minimum_version 1.5.0
load helpers/common

setup() {
    common_setup
}

# total trainable parameters from the summary of ARGS...
params() {
    rn-init "$@" --summary | sed -n 's/^total: \([0-9,]*\) trainable parameters.*/\1/p'
}

@test "rn-init: ResNet option A parameter counts match the paper" {
    [ "$(params --arch resnet --depth 20)" = "269,722" ]
    [ "$(params --arch resnet --depth 32)" = "464,154" ]
    [ "$(params --arch resnet --depth 44)" = "658,586" ]
    [ "$(params --arch resnet --depth 56)" = "853,018" ]
    [ "$(params --arch resnet --depth 110)" = "1,727,962" ]
}

@test "rn-init: plain nets have the same counts as ResNet option A" {
    [ "$(params --arch plain --depth 20)" = "269,722" ]
    [ "$(params --arch plain --depth 32)" = "464,154" ]
    [ "$(params --arch plain --depth 44)" = "658,586" ]
    [ "$(params --arch plain --depth 56)" = "853,018" ]
    [ "$(params --arch plain --depth 110)" = "1,727,962" ]
}

@test "rn-init: option B adds the two projection shortcuts (2,752 parameters)" {
    [ "$(params --arch resnet --depth 20 --shortcut B)" = "272,474" ]
    [ "$(params --arch resnet --depth 56 --shortcut B)" = "855,770" ]
    [ "$(params --arch resnet --depth 110 --shortcut B)" = "1,730,714" ]
}

@test "rn-init: summary has per-layer rows and the MAC total" {
    run rn-init --arch resnet --depth 20 --summary
    assert_success
    assert_output --partial "layer2.0.conv1           [32,16,3,3]          4,608  32x16x16       1,179,648"
    assert_output --partial "layer2.0.shortcut        A:pad"
    assert_output --partial "linear                   [10,64]                650  10"
    assert_output --partial "total: 40,551,040 MACs per image (40.55 M"
    run rn-init --arch resnet --depth 56 --summary
    assert_output --partial "(125.49 M"
}

@test "rn-init: writes a file, table on stderr; --quiet silences it" {
    run --separate-stderr rn-init --arch resnet --depth 20 -o w.safetensors
    assert_success
    [ -z "$output" ]
    [[ "$stderr" == *"total: 269,722 trainable parameters"* ]]
    [ -s w.safetensors ]
    run --separate-stderr rn-init --quiet --arch resnet --depth 20 -o q.safetensors
    assert_success
    [ -z "$output" ]
    [ -z "$stderr" ]
    cmp w.safetensors q.safetensors
}

@test "rn-init: the file is safetensors with our metadata" {
    rn-init -q --arch plain --depth 20 --seed 9 -o w.safetensors
    # 8-byte little-endian header length, then the JSON header
    run bash -c "head -c 400 w.safetensors | tail -c +9"
    assert_output --partial '"__metadata__":{"format":"rn-cifar-weights","format_version":"1","kind":"weights","arch":"plain","depth":"20","shortcut":"A","classes":"10","seed":"9","epoch":"0"}'
    assert_output --partial '"conv1.weight":{"dtype":"F32","shape":[16,3,3,3],"data_offsets":[0,1728]}'
}

@test "rn-init: same seed, same bytes; different seed, different bytes" {
    rn-init -q --arch resnet --depth 32 --seed 5 -o a.safetensors
    rn-init -q --arch resnet --depth 32 --seed 5 -o b.safetensors
    rn-init -q --arch resnet --depth 32 --seed 6 -o c.safetensors
    cmp a.safetensors b.safetensors
    run cmp -s a.safetensors c.safetensors
    assert_failure
}

@test "rn-init: -o - writes to a pipe; default output is stdout when not a terminal" {
    rn-init -q --arch resnet --depth 20 -o f.safetensors
    rn-init -q --arch resnet --depth 20 -o - | cat > p.safetensors
    cmp f.safetensors p.safetensors
    rn-init -q --arch resnet --depth 20 > d.safetensors
    cmp f.safetensors d.safetensors
}

@test "rn-init: --summary with -o FILE writes both, never mixed" {
    run --separate-stderr rn-init --arch resnet --depth 20 --summary -o w.safetensors
    assert_success
    [[ "$output" == *"total: 269,722"* ]]
    [ -s w.safetensors ]
    run rn-init --arch resnet --depth 20 --summary -o -
    assert_failure 2
    assert_output --partial "the weights need -o FILE"
}

@test "rn-init: depth not 6n+2 is a usage error naming the valid forms" {
    for d in 21 2 0 -4 7 1208; do
        run rn-init --arch resnet --depth "$d" -o w.safetensors
        assert_failure 2
        assert_output --partial "depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110"
        [ "${#lines[@]}" -eq 1 ]
    done
    [ ! -e w.safetensors ]
    run rn-init --arch resnet --depth abc -o w.safetensors
    assert_failure 2
    assert_output --partial "not an integer"
}

@test "rn-init: bad arch, shortcut, classes, missing options are usage errors" {
    run rn-init --arch vgg --depth 20 -o w.safetensors
    assert_failure 2
    assert_output --partial "--arch must be plain or resnet, not 'vgg'"
    run rn-init --depth 20 -o w.safetensors
    assert_failure 2
    assert_output --partial "--arch is required: plain or resnet"
    run rn-init --arch resnet -o w.safetensors
    assert_failure 2
    assert_output --partial "--depth is required: 6n+2"
    run rn-init --arch resnet --depth 20 --shortcut C -o w.safetensors
    assert_failure 2
    assert_output --partial "--shortcut must be A (zero-padding) or B (1x1 projection)"
    run rn-init --arch plain --depth 20 --shortcut B -o w.safetensors
    assert_failure 2
    assert_output --partial "resnet only"
    run rn-init --arch resnet --depth 20 --classes 1 -o w.safetensors
    assert_failure 2
    assert_output --partial "classes must be between 2 and 100"
    run rn-init --arch resnet --depth 20 --bogus
    assert_failure 2
    assert_output --partial "unknown option '--bogus'"
    run rn-init --arch resnet --depth 20 extra.txt
    assert_failure 2
    [ ! -e w.safetensors ]
}

@test "rn-init: output in a missing directory or under a file fails with exit 1, no file left" {
    run rn-init -q --arch resnet --depth 20 -o missing-dir/w.safetensors
    assert_failure 1
    assert_output --partial "missing-dir/w.safetensors"
    [ "${#lines[@]}" -eq 1 ]
    [ ! -e missing-dir ]
    touch plainfile
    run rn-init --arch resnet --depth 20 -o plainfile/w.safetensors
    assert_failure 1
    assert_output --partial "plainfile/w.safetensors"
    [ ! -s plainfile ]
}

@test "rn-init: unwritable output directory fails with exit 1 and leaves no file" {
    mkdir ro
    chmod 555 ro
    if touch ro/probe 2>/dev/null; then skip "running as root: directory permissions are not enforced"; fi
    run rn-init --arch resnet --depth 20 -o ro/w.safetensors
    assert_failure 1
    assert_output --partial "ro/w.safetensors"
    [ "$(ls -A ro)" = "" ]
}

@test "rn-init: a full disk (stdout is /dev/full) fails with exit 1" {
    [ -w /dev/full ] || skip "no /dev/full"
    run bash -c 'rn-init -q --arch resnet --depth 20 -o - > /dev/full'
    assert_failure 1
    assert_output --partial "cannot write stdout"
}

@test "rn-init: --help and --version" {
    run rn-init --help
    assert_success
    assert_output --partial "--arch ARCH"
    assert_output --partial "6n+2"
    run rn-init --version
    assert_success
    assert_output --partial "rn-init (rn-cifar)"
}
