#!/usr/bin/env bats
# What `make report` says before and while it runs, and after: the plan and its
# estimate (pipelines/plan.sh), the progress table and line (pipelines/status.sh),
# the comparison with a reference run (pipelines/compare.sh). On tiny synthetic
# data with depth-8 and 14 nets: seconds.

load helpers/common

setup_file() {
    make_tiny_batches "$BATS_FILE_TMPDIR/batches" 20
    cd "$BATS_FILE_TMPDIR" || return 1
    cifar-prep --quiet --train -o train.ds batches
    cifar-prep --quiet --test -o test.ds batches
    rn-init --quiet --arch plain --depth 8 --seed 1 -o p8.safetensors
    # without shuffling or augmentation the seed changes nothing: two seeds give the
    # same accuracy (a spread of 0)
    for s in 1 2; do
        rn-train --quiet --train train.ds --test test.ds --init p8.safetensors --epochs 2 --batch 25 \
            --no-shuffle --no-augment --seed "$s" --threads 1 \
            -o "fixed-s$s.safetensors" --metrics "fixed-s$s.metrics"
    done
    # tested on 3 images (an accuracy of 0, 33, 67 or 100 %) where the others have
    # 20 (a multiple of 5 %): the comparison test needs two different accuracies
    cifar-prep --quiet --limit 3 -o test3.ds test.ds
    rn-train --quiet --train train.ds --test test3.ds --init p8.safetensors --epochs 2 --batch 25 \
        --threads 1 -o trained.safetensors --metrics trained.metrics
}

setup() {
    common_setup
    F="$BATS_FILE_TMPDIR"
    export RN_CACHE="$BATS_TEST_TMPDIR/cache"
}

plan() {
    PLAN_PROFILE=${PLAN_PROFILE:-tiny} PLAN_DEVICE=cpu PLAN_DATA_TRAIN="--train --per-class 10" \
        PLAN_DATA_TEST="--test --per-class 2" bash "$REPO_ROOT/pipelines/plan.sh" R "$RN_BIN" "$@"
}

@test "plan: measures once, caches, and stops an unnamed profile over the limit" {
    RN_PLAN_LIMIT_S=1 PLAN_NAMED=0 run plan "plain-8-s1=--epochs 1000" "resnet-14-s1=--epochs 1000"
    assert_failure 1
    assert_line --partial "2 trainings, 2000 epochs in all, on 100 training images, tested on 20"
    assert_line --partial "measuring the training speed"
    assert_line --regexp "^plan:   depth 8: [0-9.]+ images/s training"
    assert_line --regexp "^plan:   depth 14: [0-9.]+ images/s training"
    assert_line --partial "device: cpu"
    assert_line --partial "not started: PROFILE=tiny on this CPU would take about"
    assert_line --partial "make report PROFILE=tiny    run it anyway"
    assert_line --partial "make report PROFILE=smoke"
    # named: the same plan runs, from the cache
    RN_PLAN_LIMIT_S=1 PLAN_NAMED=1 run plan "plain-8-s1=--epochs 1000" "resnet-14-s1=--epochs 1000"
    assert_success
    refute_line --partial "measuring"
    assert_line --partial "cached in $RN_CACHE/speed/"
    run cut -f1,2 R/plan.tsv
    assert_output "$(printf 'plain-8-s1\t1000\nresnet-14-s1\t1000')"
}

@test "plan: PROFILE=ci measures nothing" {
    PLAN_PROFILE=ci run plan "plain-8-s1=--epochs 3"
    assert_success
    assert_line "plan: estimate: not measured (PROFILE=ci or RN_PLAN_MEASURE=0)"
    [ ! -d "$RN_CACHE" ]
}

# results for four runs: plain-8 done, plain-14 stopped after 2 epochs, resnet-8
# running (a stand-in process named rn-train that writes its metrics), resnet-14 waiting
fake_results() {
    mkdir -p R/runs
    cp "$F/trained.metrics" R/runs/plain-8-s1.metrics
    cp "$F/trained.safetensors" R/runs/plain-8-s1.safetensors
    cp "$F/trained.metrics" R/runs/plain-14-s1.metrics
    cp "$F/trained.metrics" R/runs/resnet-8-s1.metrics
    touch -d '1 minute ago' R/runs/*.metrics
}
SPECS=("plain-8-s1=--epochs 2" "plain-14-s1=--epochs 5" "resnet-8-s1=--epochs 5" "resnet-14-s1=--epochs 5")

@test "status: a table of every training's state, epoch, accuracy and time left" {
    fake_results
    mkfifo hold
    printf '#!/bin/bash\nread -r _ <"$1"\n' >rn-train && chmod +x rn-train
    ./rn-train hold --metrics R/runs/resnet-8-s1.metrics --label x &
    # wait until the stand-in is seen as a process (an observable state, no timing)
    until grep -qs -- "--metrics" "/proc/$!/cmdline" && [ "$(cat /proc/$!/comm)" = rn-train ]; do :; done
    acc=$(rn-eval --tsv "$F/trained.metrics" | awk -F'\t' 'END { printf "%.2f", 100 * (1 - $7) }')
    run bash "$REPO_ROOT/pipelines/status.sh" table tiny R "$RN_BIN" "${SPECS[@]}"
    echo >hold; wait
    assert_success
    assert_line --index 0 --regexp "^report tiny: 1 of 4 trainings done, 1 running; ETA [0-9]+ (s|min) "
    assert_line --regexp "^plain-8-s1 +done +2/2 +$acc % "
    assert_line --regexp "^plain-14-s1 +stopped +2/5 +$acc % "
    assert_line --regexp "^resnet-8-s1 +running +2/5 +$acc % "
    assert_line --regexp "^resnet-14-s1 +waiting +0/5 +- +~"   # its speed: the depth-14 run's
}

@test "status: the progress line when make has ended: one line, the state then" {
    fake_results
    (exit 0) & dead=$!; wait "$dead"
    run bash "$REPO_ROOT/pipelines/status.sh" watch tiny R "$RN_BIN" "$dead" "${SPECS[@]}"
    assert_success
    assert_output --regexp "^report tiny: 1/4 done \| ETA [0-9]+ (s|min) "
    # every training done: the watcher stops by itself while make still runs (the
    # timeout only keeps a broken watcher from hanging the suite)
    run timeout 60 bash "$REPO_ROOT/pipelines/status.sh" watch tiny R "$RN_BIN" "$$" "plain-8-s1=--epochs 2"
    assert_success
    assert_output "report tiny: 1/1 done | trainings done"
}

@test "make status: the table for a profile, without building or running anything" {
    run make -C "$REPO_ROOT" --no-print-directory status PROFILE=ci BINDIR="$RN_BIN" BUILDDIR="$RN_BUILD" \
        RESULTS_DIR="$BATS_TEST_TMPDIR/none"
    assert_success
    assert_line --index 0 "report ci: 0 of 4 trainings done, 0 running; ETA unknown (no speed yet)"
    assert_line --regexp "^resnet-14-s1 +waiting +0/3 "
}

compare() { bash "$REPO_ROOT/pipelines/compare.sh" tiny P "$RN_BIN/rn-plot" "$@"; }

@test "compare: one seed: differences listed, not judged; no reference run said so" {
    cp "$F/trained.metrics" plain-8-s1.metrics
    run compare plain-8-s1.metrics
    assert_success
    assert_line --partial "no reference run for PROFILE=tiny in P/reference/"
    assert_line --regexp "^compare: +Plain-8 +[0-9.]+ \(1 seed\) +- +- +-$"
    assert_line --partial "is not the study's protocol"
}

@test "compare: against a reference run, judged by the seed spread" {
    mkdir -p P/reference
    cp "$F/fixed-s1.metrics" plain-8-s1.metrics; cp "$F/fixed-s2.metrics" plain-8-s2.metrics
    cp "$F/fixed-s1.metrics" P/reference/plain-8-s1.metrics; cp "$F/fixed-s2.metrics" P/reference/plain-8-s2.metrics
    printf 'cpu\tTest CPU (2 cores)\ncommit\tabc123\ngenerated\t2026-01-01T00:00:00Z\n' >P/reference/report.info
    run compare plain-8-s1.metrics plain-8-s2.metrics
    assert_success
    assert_line --partial "the reference run in P/reference/ (Test CPU (2 cores), commit abc123, 2026-01-01T00:00:00Z)"
    assert_line --partial "within the seed spread: Plain-8 vs the reference run +0.00 pp"
    # a reference that differs from ours, both with a spread of 0
    a=$(rn-eval --tsv "$F/fixed-s1.metrics" | awk -F'\t' 'END { print $7 }')
    b=$(rn-eval --tsv "$F/trained.metrics" | awk -F'\t' 'END { print $7 }')
    [ "$a" != "$b" ]   # the fixture must give two different accuracies
    cp "$F/trained.metrics" P/reference/plain-8-s1.metrics; cp "$F/trained.metrics" P/reference/plain-8-s2.metrics
    run compare plain-8-s1.metrics plain-8-s2.metrics
    assert_success
    assert_line --regexp "^compare: DIFFER by more than the seed spread \(2 std over seeds\): Plain-8 vs the reference run [-+][0-9.]+ pp \(spread 0.00\)$"
}
