#!/usr/bin/env bats
# rn-eval: the eval file and its summary, the Fig. 7 responses, agreement
# with rn-train's test pass, --tsv of metrics (torn record) and eval files,
# and bad input.

bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
    cd "$BATS_FILE_TMPDIR" || return 1
    make_tiny_batches b 24
    cifar-prep -q --train -o train.ds b
    cifar-prep -q --test -o test.ds b
    rn-init -q --arch resnet --depth 8 --seed 1 -o r8.safetensors 2>/dev/null
    rn-init -q --arch resnet --depth 8 --classes 5 -o r8c5.safetensors 2>/dev/null
    rn-train -q --train train.ds --test test.ds --init r8.safetensors -o trained.safetensors \
        --metrics run.metrics --epochs 2 --batch 16
}

setup() {
    common_setup
    D="$BATS_FILE_TMPDIR"
}

@test "rn-eval --help explains the response statistic" {
    run rn-eval --help
    assert_success
    assert_output --partial "population standard deviation over ALL elements"
    run rn-eval --weights "$D/r8.safetensors"
    assert_failure 2
}

@test "rn-eval writes an eval file and a summary; error and loss equal rn-train's last test pass" {
    run rn-eval --weights "$D/trained.safetensors" --data "$D/test.ds" -o out.eval --batch 7
    assert_success
    assert_output --partial "24 images"
    [ -s out.eval ]
    run rn-eval --tsv out.eval
    assert_success
    assert_line "# summary"
    assert_line "# per-class"
    assert_line "# confusion"
    # the test columns of rn-train's last record (same weights, same images, eval mode)
    read -r tl te < <(rn-eval --tsv "$D/run.metrics" | awk -F'\t' 'END { print $6, $7 }')
    read -r el ee < <(rn-eval --tsv out.eval | awk -F'\t' '$1 == "ResNet-8" { print $8, $9 }')
    awk -v a="$tl" -v b="$el" -v c="$te" -v d="$ee" 'BEGIN { exit !(a - b < 1e-4 && b - a < 1e-4 && c == d) }'
}

@test "rn-eval without -o prints the summary on stdout" {
    run --separate-stderr rn-eval -q --weights "$D/trained.safetensors" --data "$D/test.ds"
    assert_success
    assert_output --regexp "ResNet-8 .* 24 images, loss [0-9.]+, error [0-9.]+%"
}

@test "rn-eval --responses: one std per 3x3 layer, from a checkpoint too" {
    run rn-eval -q --weights "$D/trained.ckpt.safetensors" --data "$D/test.ds" --responses -o r.eval
    assert_success
    run rn-eval --tsv r.eval
    assert_success
    assert_line "# layer-std"
    n=$(awk '/^# layer-std/ { on = 1; next } on && /^[0-9]/ { n++ } END { print n + 0 }' <<< "$output")
    [ "$n" -eq 7 ]                              # conv1 + 2 per block, depth 8
}

@test "rn-eval --tsv of a torn metrics file drops the torn record with a warning" {
    cp "$D/run.metrics" torn.metrics
    size=$(stat -c %s torn.metrics)
    truncate -s $((size - 5)) torn.metrics
    run --separate-stderr rn-eval --tsv torn.metrics
    assert_success
    [ "${#lines[@]}" -eq 2 ]                    # header + epoch 1 only
    [[ "$stderr" == *"torn"* ]]
}

@test "rn-eval --tsv of something else is a one-line error" {
    echo hello > notes.txt
    run rn-eval --tsv notes.txt
    assert_failure 1
    assert_output "rn-eval: notes.txt: neither a metrics file (RNMETRIC) nor an eval file (RNEVAL)"
    run rn-eval --tsv missing.metrics
    assert_failure 1
    assert_output --partial "missing.metrics"
}

@test "rn-eval: bad input is one line and leaves no output" {
    run rn-eval --weights "$D/r8c5.safetensors" --data "$D/test.ds" -o x.eval
    assert_failure 1
    assert_output --regexp "test\.ds has 10 classes but the weights .*r8c5\.safetensors have 5"
    [ "${#lines[@]}" -eq 1 ]
    head -c 1000 "$D/r8.safetensors" > torn.safetensors
    run rn-eval --weights torn.safetensors --data "$D/test.ds" -o x.eval
    assert_failure 1
    assert_output --partial "torn.safetensors"
    [ "${#lines[@]}" -eq 1 ]
    run rn-eval --weights "$D/r8.safetensors" --data "$D/test.ds" -o nodir/x.eval
    assert_failure 1
    assert_output --partial "nodir/x.eval"
    [ ! -e x.eval ]
}
