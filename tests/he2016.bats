#!/usr/bin/env bats
# PROFILE=he2016 (the paper's Table 6, Fig. 6, Fig. 7) end to end at toy size:
# the profile itself, with its sizes overridden on the command line (depths
# 8/14 for the plain nets, 8/14/20 for the ResNets with ResNet-20 in
# ResNet-110's role: warm-up and two seeds, and ResNet-26 in ResNet-1202's,
# XL=1), 12 iterations of batch 25 on tiny synthetic batches. Then that every
# table and figure is made and filled, that the protocol reached rn-train, that
# rn-eval normalises as rn-train did, and the VAL=1 variant.
# Also --normalize on its own: the default is the old per-channel recipe, bit
# for bit, and bad uses are usage errors.

load helpers/common
load helpers/pipeline   # check_png, PIPELINE_TOOLS


# The toy-size he2016: what the test overrides, and nothing else.
HE_TOY=(HE_PLAIN_DEPTHS="8 14" HE_RESNET_DEPTHS="8 14 20" HE_DEEP_NET=resnet-20 SEEDS.resnet-20="1 2"
        XL=1 XL_NET=resnet-26 HE_FIG7_NETS="plain-8 plain-14 resnet-8 resnet-14 resnet-20"
        HE_ITERS=12 HE_MILESTONES=6,9 HE_WARMUP_ITERS=2 HE_BATCH=25 HE_TRAIN_EXTRA="--threads 1")

he_make() {    # he_make RESULTS REPORT [make arguments...]
    local r=$1 p=$2 old=()
    shift 2
    for t in "${PIPELINE_TOOLS[@]}"; do old+=(-o "$RN_BIN/$t"); done
    make -C "$REPO_ROOT" --no-print-directory PROFILE=he2016 BINDIR="$RN_BIN" BUILDDIR="$RN_BUILD" \
        CIFAR_DIR="$BATS_FILE_TMPDIR/batches" RESULTS_DIR="$r" REPORT_DIR="$p" "${old[@]}" "${HE_TOY[@]}" "$@"
}


setup_file() {
    make_tiny_batches "$BATS_FILE_TMPDIR/batches" 20
    local start=$SECONDS
    he_make "$BATS_FILE_TMPDIR/r" "$BATS_FILE_TMPDIR/p" -j2 report >"$BATS_FILE_TMPDIR/run.log" 2>&1 || {
        tail -n 30 "$BATS_FILE_TMPDIR/run.log" >&2
        return 1
    }
    echo $((SECONDS - start)) >"$BATS_FILE_TMPDIR/run.seconds"
}

setup() {
    common_setup
    R="$BATS_FILE_TMPDIR/r"
    P="$BATS_FILE_TMPDIR/p"
}

@test "he2016 at toy size: the report, every directive filled, its figures there (time in the TAP comment)" {
    echo "# he2016 toy run: $(cat "$BATS_FILE_TMPDIR/run.seconds") s" >&3
    run grep -c "^train " "$BATS_FILE_TMPDIR/run.log"
    assert_output 7                   # 6 nets, ResNet-20 twice
    run grep -c "{{" "$P/report.md"
    assert_output 0
    run cat "$P/report.md"
    assert_output --partial "Profile \`he2016\`"
    assert_output --partial "## 2. Table 6"
    assert_output --partial "| ResNet-20 | 20 | 0.27M | 0.27M | 2 |"
    assert_output --partial "per-pixel mean of the training set subtracted"
    assert_output --partial "12 iterations of batch 25, lr 0.1 divided by 10 at iterations 6 and 9"
    while read -r img; do
        [ -s "$P/$img" ] || { echo "missing $img"; return 1; }
    done < <(grep -o '](figures/[^)]*)' "$P/report.md" | sed 's/^](//; s/)$//')
    grep -q '](figures/fig6.png)' "$P/report.md"
    grep -q '](figures/fig7.png)' "$P/report.md"
}

@test "Table 6: a row per net with our numbers, the paper's, the spread of the seeds" {
    for net in Plain-8 Plain-14 ResNet-8 ResNet-14 ResNet-20 ResNet-26; do
        run grep -c "^| $net | " "$P/tables/table6.md"
        assert_output 1
    done
    # ResNet-20: two runs -> mean ± std and a min-max; the paper's 8.75 and the difference
    run grep "^| ResNet-20 |" "$P/tables/table6.md"
    assert_output --regexp '\| 2 \| [0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \| [0-9]+\.[0-9]{2}–[0-9]+\.[0-9]{2} \| 8\.75 \| [+-][0-9]+\.[0-9]{2} \| 12 \|$'
    run grep "^| Plain-14 |" "$P/tables/table6.md"
    assert_output --partial "curves only"
    # TSV: header + 6 rows of 16 columns, the error a number in every row
    run awk -F'\t' '{ print NF }' "$P/tables/table6.tsv"
    assert_output "$(printf '16\n%.0s' 1 2 3 4 5 6 7)"
    run awk -F'\t' 'NR > 1 && $6 !~ /^[0-9]+\.[0-9]+$/ { print "bad: " $0 }' "$P/tables/table6.tsv"
    assert_output ""
    run awk -F'\t' '$1 == "ResNet-20" { print $3, $4, $5, $10, $15, $16 }' "$P/tables/table6.tsv"
    assert_output "269722 0.27 2 8.75 12 20"
}

@test "Fig. 6 and Fig. 7: PNG and SVG of their size, not blank" {
    run check_png "$P/figures/fig6.png" 1500 520
    assert_success
    run check_png "$P/figures/fig7.png" 1000 860
    assert_success
    for f in fig6 fig7; do
        grep -q '<svg' "$P/figures/$f.svg"
        [ "$(grep -c '<path' "$P/figures/$f.svg")" -gt 20 ]
    done
    # Fig. 6's right panel: ResNet-20 (deepest below XL_NET) beside ResNet-26
    grep -q -- "--deep 26 " "$BATS_FILE_TMPDIR/run.log"
}

@test "the paper's protocol reaches rn-train: iterations, milestones, normalisation, warm-up and seeds of the deep net" {
    run cat "$R/settings/resnet-20-s2.train"
    assert_output --partial "--max-steps 12 "
    assert_output --partial "--milestones 6,9 --milestone-unit iter --batch 25 --lr 0.1 --momentum 0.9 --weight-decay 1e-4"
    assert_output --partial "--normalize pixel"
    assert_output --partial "--warmup-lr 0.01 --warmup-iters 2 --seed 2"
    run cat "$R/settings/plain-14-s1.train"
    refute_output --partial "warmup"
    [ ! -e "$R/settings/plain-14-s2.train" ]
    # every metrics file ends at iteration 12; every checkpoint's recipe says pixel
    for m in "$R"/runs/*.metrics; do
        [ "$(rn-eval --tsv "$m" | awk -F'\t' 'END { print $2 }')" = 12 ]
    done
    run grep -c "^| normalize | pixel | pixel | pixel | pixel | pixel | pixel |" "$P/tables/training.md"
    assert_output 1
}

@test "rn-eval --normalize pixel --mean-from gives exactly rn-train's last test loss" {
    for m in "$R"/runs/*.metrics; do
        run_name=$(basename "$m" .metrics)
        train_loss=$(rn-eval --tsv "$m" | awk -F'\t' 'END { print $6 }')
        eval_loss=$(rn-eval --tsv "$R/eval/$run_name.eval" | awk -F'\t' 'NR == 3 { print $8 }')
        [ -n "$train_loss" ] && [ "$train_loss" = "$eval_loss" ] || {
            echo "$run_name: rn-train $train_loss, rn-eval $eval_loss"
            return 1
        }
    done
    # without the mean image the same weights give another loss: the option matters
    rn-eval --quiet --weights "$R/runs/resnet-14-s1.safetensors" --data "$R/data/test.ds" -o channel.eval
    [ "$(rn-eval --tsv channel.eval | awk -F'\t' 'NR == 3 { print $8 }')" != \
      "$(rn-eval --tsv "$R/eval/resnet-14-s1.eval" | awk -F'\t' 'NR == 3 { print $8 }')" ]
}

@test "a second make report does nothing" {
    run he_make "$R" "$P" -q report
    assert_success
}

@test "VAL=1: trains on the split's train part, evaluates the val part every epoch, reports validation error" {
    local val=(VAL=1 VAL_SIZE=20 HE_PLAIN_DEPTHS=8 HE_RESNET_DEPTHS=8 HE_DEEP_NET=resnet-8 SEEDS.resnet-8=1 XL=0
               HE_FIG7_NETS="plain-8 resnet-8")
    run he_make "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/p" report "${val[@]}"
    assert_success
    # the val split is what rn-train evaluates: a newer one would retrain every net against it
    run he_make "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/p" -n -W "$BATS_TEST_TMPDIR/r/data/val.ds" report "${val[@]}"
    assert_success
    run grep -c -- "--test $BATS_TEST_TMPDIR/r/data/val.ds" <<<"$output"
    assert_output 2
    [ "$(od -An -tu4 -j12 -N4 "$BATS_TEST_TMPDIR/r/data/train.ds" | tr -d ' ')" = 80 ]
    [ "$(od -An -tu4 -j12 -N4 "$BATS_TEST_TMPDIR/r/data/val.ds" | tr -d ' ')" = 20 ]
    run cat "$BATS_TEST_TMPDIR/p/report.md"
    assert_output --partial "Validation error (%)"
    assert_output --partial "the 20-image validation split after every epoch"
    run grep -c "^| ResNet-8 | 8 | " "$BATS_TEST_TMPDIR/p/tables/table6.md"
    assert_output 1
    run check_png "$BATS_TEST_TMPDIR/p/figures/fig6.png" 1500 520
    assert_success
}

@test "--normalize channel is the default: the recipe and the weights are bitwise the same as without it" {
    D="$BATS_FILE_TMPDIR/r/data"
    rn-init --quiet --arch resnet --depth 8 --seed 3 -o init.safetensors
    for how in none channel; do
        flag=(); [ "$how" = channel ] && flag=(--normalize channel)
        rn-train --quiet --train "$D/train.ds" --test "$D/test.ds" --init init.safetensors -o "$how.safetensors" \
            --epochs 1 --batch 50 --threads 1 "${flag[@]}"
    done
    cmp none.safetensors channel.safetensors
    cmp none.ckpt.safetensors channel.ckpt.safetensors
    ! grep -a -q "normalize=" none.ckpt.safetensors
    rn-train --quiet --train "$D/train.ds" --init init.safetensors -o pixel.safetensors --epochs 1 --batch 50 \
        --threads 1 --normalize pixel
    grep -a -q 'normalize=pixel' pixel.ckpt.safetensors
    ! cmp -s none.safetensors pixel.safetensors
}

@test "--normalize: unknown modes and a pixel rn-eval without its training set are usage errors" {
    run rn-train --train x.ds --init y -o z --normalize image
    assert_failure 2
    assert_output --partial "--normalize must be 'channel' or 'pixel'"
    run rn-eval --weights "$BATS_FILE_TMPDIR/r/runs/resnet-8-s1.safetensors" --data "$BATS_FILE_TMPDIR/r/data/test.ds" \
        --normalize pixel
    assert_failure 2
    assert_output --partial "--normalize pixel and --mean-from TRAIN.ds go together"
    run rn-eval --weights "$BATS_FILE_TMPDIR/r/runs/resnet-8-s1.safetensors" --data "$BATS_FILE_TMPDIR/r/data/test.ds" \
        --mean-from "$BATS_FILE_TMPDIR/r/data/train.ds"
    assert_failure 2
}
