#!/usr/bin/env bats
# The whole pipeline: `make report PROFILE=ci` from a clean results/report
# directory on tiny synthetic CIFAR batches (no real dataset needed), then
# Make's bookkeeping: a second run does nothing, touching one net's weights
# redoes only what depends on them, changing one net's setting retrains that
# net only.

load helpers/common
load helpers/pipeline

# make in the repository with this test file's data, results and report directories
pipeline_make() {
    pipeline_make_in "$BATS_FILE_TMPDIR" "$@"
}


# SVG: parses as XML, an <svg> of WxH points, with drawn paths.
check_svg() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys, xml.etree.ElementTree as ET
path, w, h = sys.argv[1], sys.argv[2], sys.argv[3]
root = ET.parse(path).getroot()
assert root.tag.endswith("svg"), f"{path}: root {root.tag}"
assert (root.get("width").rstrip("pt"), root.get("height").rstrip("pt")) == (w, h), f"{path}: size"
assert sum(1 for e in root.iter() if e.tag.endswith("path")) > 5, f"{path}: no paths"
PY
}

# a column of the report's results table (TSV) for one net, by the column's name
results_col() {
    awk -F'\t' -v net="$1" -v name="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) if (!c && index($i, name) == 1) c = i; next }
        $1 == net && c { print $c }' "$BATS_FILE_TMPDIR/report/tables/results.tsv"
}

setup_file() {
    make_tiny_batches "$BATS_FILE_TMPDIR/batches" 20
    local start=$SECONDS
    pipeline_make report >"$BATS_FILE_TMPDIR/first-run.log" 2>&1 || {
        tail -n 30 "$BATS_FILE_TMPDIR/first-run.log" >&2
        return 1
    }
    echo $((SECONDS - start)) >"$BATS_FILE_TMPDIR/first-run.seconds"
}

setup() {
    common_setup
    R="$BATS_FILE_TMPDIR/results"
    P="$BATS_FILE_TMPDIR/report"
}

@test "make report PROFILE=ci from a clean tree writes the report (time in the TAP comment)" {
    [ -s "$P/report.md" ]
    echo "# first run: $(cat "$BATS_FILE_TMPDIR/first-run.seconds") s" >&3
    run grep -c "^train " "$BATS_FILE_TMPDIR/first-run.log"
    assert_output 4
}

@test "every figure is a PNG and an SVG of the expected size, not blank" {
    local sizes=(loss:900:560 accuracy:900:560 lr:900:420 error:1300:520 responses:1300:520
                 blocks:760:470 architecture:1300:400)
    for n in plain-8 plain-14 resnet-8 resnet-14; do sizes+=("confusion-$n:820:760"); done
    for s in "${sizes[@]}"; do
        IFS=: read -r name w h <<<"$s"
        run check_png "$P/figures/$name.png" "$w" "$h"
        assert_success
        run check_svg "$P/figures/$name.svg" "$w" "$h"
        assert_success
    done
    run check_png "$P/figures/samples.png" 0 0
    assert_success
}

@test "every table has its rows, in Markdown and TSV" {
    for t in results comparison runs; do
        for net in Plain-8 Plain-14 ResNet-8 ResNet-14; do
            run grep -c "^| $net" "$P/tables/$t.md"
            assert_output 1
        done
    done
    for t in params network training; do
        [ "$(grep -c '^| ' "$P/tables/$t.md")" -ge 5 ]
    done
    run awk -F'\t' 'NR > 1 { print $1 }' "$P/tables/results.tsv"
    assert_output "$(printf 'Plain-8\nPlain-14\nResNet-8\nResNet-14')"
    run awk -F'\t' '{ print NF }' "$P/tables/params.tsv"
    assert_output "$(printf '6\n6\n6\n6\n6')"
    run grep -c $'\tcpu (' "$P/tables/runs.tsv"     # the backend each run used
    assert_output 4
}

@test "the report: every directive filled, the four observations, figures that exist, provenance" {
    run grep -c "{{" "$P/report.md"
    assert_output 0
    run cat "$P/report.md"
    assert_output --partial "Profile \`ci\`"
    # the observations' sentences are computed (the headings around them are template
    # text): each one's direction must agree with the numbers of the results table
    local a8 a14 l8 l14 r14 word
    a8=$(results_col Plain-8 final_test_acc) a14=$(results_col Plain-14 final_test_acc)
    l8=$(results_col Plain-8 final_train_loss) l14=$(results_col Plain-14 final_train_loss)
    r14=$(results_col ResNet-14 final_test_acc)
    [ -n "$a8" ]
    [ -n "$a14" ]
    [ -n "$l8" ]
    [ -n "$l14" ]
    [ -n "$r14" ]
    if awk -v a="$a14" -v b="$a8" 'BEGIN { exit !(a < b) }'; then
        assert_output --regexp '\*\*Degradation: yes\.\*\* Plain-14 ends [0-9.]+ pp BELOW Plain-8'
    elif awk -v a="$a14" -v b="$a8" 'BEGIN { exit !(a > b) }'; then
        assert_output --regexp '\*\*Degradation: not shown in this run\.\*\* Plain-14 ends [0-9.]+ pp above Plain-8'
    fi
    word=$(awk -v a="$l14" -v b="$l8" 'BEGIN { print a > b ? "HIGHER" : a < b ? "LOWER" : "" }')
    [ -z "$word" ] || assert_output --partial "Plain-14 ends with a $word training loss than Plain-8"
    word=$(awk -v a="$r14" -v b="$a14" 'BEGIN { print a > b ? "above" : a < b ? "below" : "" }')
    [ -z "$word" ] || assert_output --regexp "ResNet-14 ends [0-9.]+ pp $word Plain-14"
    assert_output --regexp 'ResNet-14 ends with a (HIGHER|LOWER|the SAME) training loss than Plain-14'
    assert_output --partial "| ResNet-14 |"
    # dataset checksums and the commit
    run grep -E -c 'train `[0-9a-f]{64}`, test `[0-9a-f]{64}`' "$P/report.md"
    assert_output 1
    # every image the report shows is there
    while read -r img; do
        [ -f "$P/$img" ] || { echo "missing $img"; return 1; }
    done < <(grep -o '](figures/[^)]*)' "$P/report.md" | sed 's/^](//; s/)$//')
}

@test "a second make report does nothing" {
    run pipeline_make -q report
    assert_success
    run pipeline_make -n report
    assert_success
    refute_output --partial "rn-"
    refute_output --partial "cifar-prep"
}

@test "touching one net's weights redoes only what depends on them" {
    touch "$R/runs/resnet-8-s1.safetensors"
    run pipeline_make -n report
    assert_success
    refute_output --partial "rn-train"
    refute_output --partial "rn-init"
    refute_output --partial "cifar-prep"
    run grep -c "rn-eval " <<<"$output"
    assert_output 1
    [[ "$(pipeline_make -n report)" == *"--weights $R/runs/resnet-8-s1.safetensors"* ]]
    run grep -c "rn-plot confusion" <<<"$(pipeline_make -n report)"
    assert_output 2                 # confusion-resnet-8 .png and .svg, no other net's
    run grep -c "rn-plot loss" <<<"$(pipeline_make -n report)"
    assert_output 0                 # the metrics did not change
    run pipeline_make report
    assert_success
    run pipeline_make -q report
    assert_success
}

@test "a RUN= prefix goes before every training command" {
    run pipeline_make -n report RESULTS_DIR="$BATS_TEST_TMPDIR/r" REPORT_DIR="$BATS_TEST_TMPDIR/p" \
        RUN='srun --gres=gpu:1'
    assert_success
    run grep -c "srun --gres=gpu:1 bash pipelines/run-info.sh" <<<"$output"
    assert_output 4
}

@test "without the dataset, make report fetches it first (make data); a CIFAR_DIR without batches is one error" {
    run make -C "$REPO_ROOT" --no-print-directory -n report PROFILE=ci BINDIR="$RN_BIN" BUILDDIR="$RN_BUILD" \
        RN_CACHE="$BATS_TEST_TMPDIR/empty-cache" RESULTS_DIR="$BATS_TEST_TMPDIR/r" REPORT_DIR="$BATS_TEST_TMPDIR/p" \
        -o "$RN_BIN/cifar-prep" -o "$RN_BIN/rn-init" -o "$RN_BIN/rn-train" -o "$RN_BIN/rn-eval" -o "$RN_BIN/rn-plot"
    assert_success
    assert_output --partial "scripts/fetch-cifar10.sh"
    mkdir nothing-here
    run pipeline_make report CIFAR_DIR="$PWD/nothing-here" RESULTS_DIR="$BATS_TEST_TMPDIR/r2" \
        REPORT_DIR="$BATS_TEST_TMPDIR/p2"
    assert_failure
    assert_output --partial "must hold the official batches"
    [ ! -e "$BATS_TEST_TMPDIR/r2/data/train.ds" ]
}

@test "an unknown PROFILE is one error naming the profiles" {
    run make -C "$REPO_ROOT" --no-print-directory -n report PROFILE=nonsense BINDIR="$RN_BIN" BUILDDIR="$RN_BUILD"
    assert_failure
    assert_output --partial "no pipelines/nonsense.mk"
    assert_output --partial "ci"
}

@test "make report -o BIN/rn-train: a rebuilt tool is kept from rerunning what it made" {
    # a private copy of the tools, as old as the real ones; then rn-train "rebuilt"
    mkdir bin
    for t in "${PIPELINE_TOOLS[@]}"; do cp -p "$RN_BIN/$t" bin/; done
    touch bin/rn-train
    local args=(-C "$REPO_ROOT" --no-print-directory -n report PROFILE=ci BINDIR="$PWD/bin" BUILDDIR="$RN_BUILD"
                CIFAR_DIR="$BATS_FILE_TMPDIR/batches" RESULTS_DIR="$R" REPORT_DIR="$P"
                -o "$PWD/bin/cifar-prep" -o "$PWD/bin/rn-init" -o "$PWD/bin/rn-eval" -o "$PWD/bin/rn-plot")
    run make "${args[@]}"
    assert_success
    run grep -c "bin/rn-train --train" <<<"$output"
    assert_output 4
    for old in "-o $PWD/bin/rn-train" "-o$PWD/bin/rn-train" "--old-file=$PWD/bin/rn-train"; do
        run make "${args[@]}" $old
        assert_success
        refute_output --partial "bin/rn-train --train"
    done
}

@test "changing one net's setting retrains that net only" {
    run pipeline_make report 'TRAIN_FLAGS.plain-14=--gamma 0.5'
    assert_success
    run grep "^train " <<<"$output"
    assert_output "train plain-14-s1: log in $R/runs/plain-14-s1.log"
    refute_output --partial "rn-init"
    run grep -c -- "--gamma 0.5" "$R/settings/plain-14-s1.train"
    assert_output 1
    run pipeline_make -q report 'TRAIN_FLAGS.plain-14=--gamma 0.5'
    assert_success
}

@test "an interrupted training resumes from its checkpoint instead of starting again" {
    # the state a killed make leaves: checkpoint and metrics, no final weights
    local run=resnet-8-s1
    cp "$R/runs/$run.safetensors" keep.safetensors
    cp "$R/runs/$run.metrics" keep.metrics
    rm "$R/runs/$run.safetensors"
    run pipeline_make report
    assert_success
    assert_output --partial "train $run: resuming from $R/runs/$run.ckpt.safetensors"
    cmp keep.safetensors "$R/runs/$run.safetensors"
    # nothing trained again: the records, their timing columns included, are the same bytes
    cmp keep.metrics "$R/runs/$run.metrics"
    # (not checked here: that this make leaves nothing to do. It does leave the
    # figures of the rewritten metrics file to the next make, a bookkeeping bug of
    # the resume path reported separately; a second make finishes the work.)
    run pipeline_make report
    assert_success
    run pipeline_make -q report
    assert_success
}
