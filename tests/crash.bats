#!/usr/bin/env bats
# Crash safety of the pipeline: `make report PROFILE=ci` interrupted by SIGINT,
# SIGTERM, SIGHUP or SIGKILL, sent to make, to its process group or to one of
# the tools, at several moments; then make report again, until it ends. Each
# finished run must hold the same files as an uninterrupted run (made once, in
# setup_file), apart from the wall-clock timings: final weights, checkpoints,
# evaluations, figures and tables byte for byte, the metrics' values.
#
# No kill depends on timing: each waits for a state it can see and then
# signals. The tools run through wrappers in $BATS_FILE_TMPDIR/bin (gates) that
# hold a tool (SIGSTOP) at a known moment when the test asks for it: cifar-prep,
# rn-eval and rn-plot just before they start or just after they finished their
# work; rn-train when it prints a given message (it starts training, or ends
# epoch k: its messages pass through a reader that stops it at that line).
# The test signals make, the group or the held tool, then lets it go on
# (SIGCONT): a kill can never come too late, even for a tool that runs for
# milliseconds. Each test prints the interruptions it survived.

load helpers/common
load helpers/pipeline

setup_file() {
    make_tiny_batches "$BATS_FILE_TMPDIR/batches" 20
    # the gates (see the top): rn-init runs as it is
    GATE_BIN="$BATS_FILE_TMPDIR/bin"
    mkdir -p "$GATE_BIN" "$BATS_FILE_TMPDIR/gates"
    ln -s "$RN_BIN/rn-init" "$GATE_BIN/rn-init"
    for t in cifar-prep rn-eval rn-plot; do
        sed -e "s|@TOOL@|$t|g" -e "s|@REAL@|$RN_BIN/$t|g" >"$GATE_BIN/$t" <<'EOF'
#!/usr/bin/env bash
# test gate for @TOOL@: $RN_GATES/@TOOL@.before (or .after) asks that this run stops
# itself, its pid in $RN_GATES/@TOOL@.held, before (after) the real tool runs
g=${RN_GATES:-/nonexistent}/@TOOL@
hold() { rm -f "$g.$1"; echo $$ >"$g.held.tmp" && mv "$g.held.tmp" "$g.held"; kill -STOP $$; }
[ -e "$g.before" ] && hold before
"@REAL@" "$@"
rc=$?
[ -e "$g.after" ] && hold after
exit $rc
EOF
    done
    sed -e "s|@REAL@|$RN_BIN/rn-train|g" >"$GATE_BIN/rn-train" <<'EOF'
#!/usr/bin/env bash
# test gate for rn-train: with a text in $RN_GATES/rn-train.at, rn-train's messages
# go through a reader that stops rn-train at the first line holding that text,
# its pid in $RN_GATES/rn-train.held, and removes the request (a run that never
# prints the text leaves it to the next). exec: rn-train keeps this pid.
g=${RN_GATES:-/nonexistent}/rn-train
if [ -s "$g.at" ]; then
    at=$(cat "$g.at")
    pid=$$
    exec 3>&2
    exec 2> >(
        trap '' INT TERM HUP        # it lives as long as rn-train writes
        held=
        while IFS= read -r line; do
            printf '%s\n' "$line" >&3
            if [ -z "$held" ] && [[ $line == *"$at"* ]]; then
                held=1
                # not before rn-train catches SIGINT: it prints that it starts
                # training just before it sets its handlers
                for ((i = 0; i < 100000; i++)); do
                    caught=$(grep -m1 '^SigCgt:' "/proc/$pid/status" 2>/dev/null) || break
                    (((0x${caught##*[[:space:]]} & 2) != 0)) && break
                done
                kill -STOP "$pid"
                rm -f "$g.at"
                echo "$pid" >"$g.held.tmp" && mv "$g.held.tmp" "$g.held"
            fi
        done)
    exec 3>&-
fi
exec "@REAL@" "$@"
EOF
    chmod +x "$GATE_BIN"/cifar-prep "$GATE_BIN"/rn-eval "$GATE_BIN"/rn-plot "$GATE_BIN"/rn-train
    export PIPELINE_BIN=$GATE_BIN RN_GATES="$BATS_FILE_TMPDIR/gates"
    local start=$SECONDS
    pipeline_make_in "$BATS_FILE_TMPDIR/ref" report >"$BATS_FILE_TMPDIR/ref.log" 2>&1 || {
        tail -n 30 "$BATS_FILE_TMPDIR/ref.log" >&2
        return 1
    }
    echo $((SECONDS - start)) >"$BATS_FILE_TMPDIR/ref.seconds"
}

teardown_file() {
    [ -f "$BATS_FILE_TMPDIR/survived" ] &&
        echo "# interruptions survived in all: $(awk '{ s += $1 } END { print s }' "$BATS_FILE_TMPDIR/survived")" >&3
    return 0
}

setup() {
    common_setup
    export PIPELINE_BIN="$BATS_FILE_TMPDIR/bin" RN_GATES="$BATS_FILE_TMPDIR/gates"
    REF="$BATS_FILE_TMPDIR/ref"
    D="$BATS_TEST_TMPDIR/run"          # this test's results and report
    R="$D/results"
    survived=0
}

teardown() {
    # nothing a test started may outlive it
    [ -n "${mk:-}" ] && kill -KILL -- "-$mk" 2>/dev/null
    rm -f "$RN_GATES"/*
    return 0
}

# ---------------------------------------------------------------- states

# records FILE: the epochs a metrics file holds (88-byte header, 80-byte records)
records() {
    local size
    size=$(stat -c %s "$1" 2>/dev/null) || { echo -1; return; }
    echo $(((size - 88) / 80))
}

# start make report in the background, in a process group of its own ($mk is
# make's pid and the group's id), its messages in $D.log. As from a terminal:
# a command started in the background by a script ignores SIGINT (and make then
# keeps it ignored), so SIGINT and SIGQUIT are set back to their default.
start_make() {
    setsid env --default-signal=INT,QUIT make -C "$REPO_ROOT" --no-print-directory PROFILE=ci \
        BINDIR="$PIPELINE_BIN" BUILDDIR="$RN_BUILD" CIFAR_DIR="$BATS_FILE_TMPDIR/batches" \
        RESULTS_DIR="$R" REPORT_DIR="$D/report" \
        $(for t in "${PIPELINE_TOOLS[@]}"; do echo "-o $PIPELINE_BIN/$t"; done) report >>"$D.log" 2>&1 &
    mk=$!
}

# wait_for WHAT TEST...: poll until the command TEST succeeds; fail when make ended first
wait_for() {
    local what=$1
    shift
    until "$@"; do
        kill -0 "$mk" 2>/dev/null || { echo "make ended before $what" >&2; tail -n 5 "$D.log" >&2; return 1; }
        sleep 0.02
    done
}

# hold TOOL before|after, hold rn-train TEXT: ask that the next run of TOOL be
# held at that moment; wait until it is (stopped); its pid in $held. The caller
# signals, then lets it go on: kill -CONT "$held".
hold() {
    local tool=$1
    if [ "$tool" = rn-train ]; then
        printf '%s' "$2" >"$RN_GATES/rn-train.at"
    else
        touch "$RN_GATES/$tool.$2"
    fi
    wait_for "$tool was held ($2)" test -s "$RN_GATES/$tool.held" || return 1
    held=$(cat "$RN_GATES/$tool.held")
    rm -f "$RN_GATES/$tool.held"
    until grep -q '^State:.*T' "/proc/$held/status" 2>/dev/null; do sleep 0.01; done
}

# end_make: wait for make, which must fail (it was interrupted); one interruption more
end_make() {
    local rc=0
    wait "$mk" || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "make exited 0 although interrupted" >&2
        tail -n 20 "$D.log" >&2
        return 1
    fi
    # nothing make started is left running
    while pgrep -g "$mk" >/dev/null; do sleep 0.02; done
    mk=
    survived=$((survived + 1))
}

# finish: make report until it is done, then compare with the reference run
finish() {
    run pipeline_make_in "$D" report
    assert_success
    run pipeline_make_in "$D" -q report
    assert_success
    same_as_reference
    echo "# $survived interruptions survived" >&3
    echo "$survived" >>"$BATS_FILE_TMPDIR/survived"
}

# The run's files against the reference: byte for byte, except what holds
# wall-clock times (metrics: seconds and images/s; runs tables: wall time and
# images/s; report.md: those and the time it was generated).
same_as_reference() {
    local f rel n=0
    while IFS= read -r f; do
        rel=${f#"$REF"/}
        case $rel in
        results/runs/*.metrics)
            diff <(rn-eval --tsv "$f" | cut -f1-7) <(rn-eval --tsv "$D/$rel" | cut -f1-7) ||
                { echo "$rel: other values" >&2; return 1; } ;;
        report/tables/runs.tsv)
            diff <(cut -f1,2,5- "$f") <(cut -f1,2,5- "$D/$rel") || { echo "$rel differs" >&2; return 1; } ;;
        report/tables/runs.md | report/report.md | report/report.html)
            diff <(untimed <"$f") <(untimed <"$D/$rel") || { echo "$rel differs" >&2; return 1; } ;;
        *)
            cmp "$f" "$D/$rel" || { echo "$rel differs" >&2; return 1; } ;;
        esac
        n=$((n + 1))
    done < <(find "$REF/results/data" "$REF/results/init" "$REF/results/runs" "$REF/results/eval" \
        "$REF/report" -type f ! -name '*.log' ! -name '*.info' ! -name '.*' | sort)
    [ "$n" -ge 58 ] || { echo "only $n files compared" >&2; return 1; }
    # no file the reference does not have (a leftover temp file, a run twice)
    # (not counted: lock files, and a temp file that a kill -9 left, which the
    # tool that writes there next removes once it is a day old)
    diff <(cd "$REF" && find results report -type f ! -name '*.lock' ! -name '.*.tmp.*' | sort) \
        <(cd "$D" && find results report -type f ! -name '*.lock' ! -name '.*.tmp.*' | sort)
}
# the runs table's wall time and images/s columns, and ISO times, blanked
untimed() {
    sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/TIME/g' |
        awk -F'|' -v OFS='|' '/^\| (Plain|ResNet)-[0-9]+B? seed [0-9]+ \|/ { $4 = ""; $5 = "" } { print }'
}

# ---------------------------------------------------------------- the tests

@test "the reference: an uninterrupted make report PROFILE=ci (time in the TAP comment)" {
    [ -s "$REF/report/report.md" ]
    echo "# uninterrupted run: $(cat "$BATS_FILE_TMPDIR/ref.seconds") s" >&3
}

@test "signals to make (SIGINT, SIGTERM, SIGHUP; to make or to its group) at six moments, each resumed" {
    # Ctrl-C (SIGINT to the group) while the first net trains its first epoch
    # (it saves a checkpoint, inside the epoch unless the signal came in its last step)
    start_make
    hold rn-train "starting at step 0"
    kill -INT -- "-$mk"
    kill -CONT "$held"
    end_make
    # what make deleted before: the run's memory
    [ -f "$R/runs/plain-8-s1.metrics" ]
    [ ! -e "$R/runs/plain-8-s1.info" ]
    if [ -f "$R/runs/plain-8-s1.ckpt.safetensors" ] && [ "$(records "$R/runs/plain-8-s1.metrics")" -eq 0 ]; then
        echo "# (a checkpoint inside epoch 1 next to a metrics file with no record)" >&3
    fi
    # SIGTERM to make alone (kill PID, a service stop) between two epochs of a net
    : >"$D.log"
    start_make
    hold rn-train "epoch 1/3"
    kill -TERM "$mk"
    kill -CONT "$held"
    end_make
    grep -q "stopped by SIGTERM" "$D.log"
    grep -q "train plain-8-s1: resuming from" "$D.log"    # the checkpoint of the first interruption
    # SIGTERM to the group (timeout, a batch scheduler's time limit) later in a run
    start_make
    hold rn-train "epoch 2/3"
    kill -TERM -- "-$mk"
    kill -CONT "$held"
    end_make
    # SIGHUP to the group (the terminal closed) as a net starts
    start_make
    hold rn-train "starting at step 0"
    kill -HUP -- "-$mk"
    kill -CONT "$held"
    end_make
    # no figure or table from a run that has not finished
    [ ! -e "$D/report/tables/results.tsv" ]
    [ ! -e "$D/report/figures/loss.png" ]
    # Ctrl-C as an evaluation starts, SIGTERM to make as a figure was drawn
    start_make
    hold rn-eval before
    kill -INT -- "-$mk"
    kill -CONT "$held"
    end_make
    start_make
    hold rn-plot after
    kill -TERM "$mk"
    kill -CONT "$held"
    end_make
    [ "$survived" -eq 6 ]
    finish
}

@test "signals to the tools (cifar-prep, rn-train in and between epochs, rn-eval, rn-plot), each resumed" {
    # cifar-prep: SIGTERM as it starts, SIGINT after it wrote its dataset
    start_make
    hold cifar-prep before
    kill -TERM "$held"
    kill -CONT "$held"
    end_make
    [ ! -e "$R/data/train.ds" ]
    start_make
    hold cifar-prep after
    kill -INT "$held"
    kill -CONT "$held"
    end_make
    [ -f "$R/data/train.ds" ]
    # rn-train: SIGINT in the first epoch, SIGTERM between epochs, SIGKILL
    start_make
    hold rn-train "starting at step 0"
    kill -INT "$held"
    kill -CONT "$held"
    end_make
    start_make
    hold rn-train "epoch 1/3"
    kill -TERM "$held"
    kill -CONT "$held"
    end_make
    start_make
    hold rn-train "epoch 2/3"
    kill -KILL "$held"
    end_make
    # rn-eval: SIGTERM as it starts, SIGINT after it wrote its file
    start_make
    hold rn-eval before
    kill -TERM "$held"
    kill -CONT "$held"
    end_make
    start_make
    hold rn-eval after
    kill -INT "$held"
    kill -CONT "$held"
    end_make
    # rn-plot: SIGINT as it starts, SIGTERM after it drew
    start_make
    hold rn-plot before
    kill -INT "$held"
    kill -CONT "$held"
    end_make
    start_make
    hold rn-plot after
    kill -TERM "$held"
    kill -CONT "$held"
    end_make
    [ "$survived" -eq 9 ]
    finish
}

@test "kill -9: of the whole group (a stale lock, taken over), of make alone (its commands go on; a second make is refused)" {
    # everything killed at once inside a training: the lock file names a dead pid
    start_make
    hold rn-train "epoch 1/3"
    kill -KILL -- "-$mk"
    end_make
    ! kill -0 "$(cat "$R/.lock")" 2>/dev/null
    # the next run takes the lock over; make alone killed: the make under the
    # lock goes on, and a second run is refused, naming it
    start_make
    hold rn-train "epoch 1/3"
    kill -KILL "$mk"
    wait "$mk" || true
    local holder
    holder=$(cat "$R/.lock")
    kill -0 "$holder"
    run pipeline_make_in "$D" report
    assert_failure
    assert_output --partial "$R is in use by another pipeline run, pid $holder (lock file $R/.lock)"
    [ "${#lines[@]}" -eq 1 ]
    kill -CONT "$held"
    # ... until it ends
    while pgrep -g "$mk" >/dev/null; do sleep 0.05; done
    mk=
    survived=$((survived + 1))
    finish
}

@test "two make report at once on one results directory: the second is refused, the first is not disturbed" {
    start_make
    wait_for "the first run holds the lock" test -s "$R/.lock"
    run pipeline_make_in "$D" report
    assert_failure
    assert_output --partial "$R is in use by another pipeline run, pid $(cat "$R/.lock") (lock file $R/.lock)"
    [ "${#lines[@]}" -eq 1 ]
    wait "$mk"
    mk=
    same_as_reference
    # both started at once: one runs, the other is refused (at once, or by
    # lock.sh when both passed make's first look in the same instant), or, if it
    # came after the first ended, finds nothing to do; never both at work
    rm -rf "$D"
    mkdir -p "$D"
    pipeline_make_in "$D" report >"$D/a.log" 2>&1 &
    local a=$!
    pipeline_make_in "$D" report >"$D/b.log" 2>&1 &
    local b=$! ra=0 rb=0
    wait "$a" || ra=$?
    wait "$b" || rb=$?
    [ "$ra" -eq 0 ] || [ "$rb" -eq 0 ]
    [ "$ra" -eq 0 ] || grep -q "is in use by another pipeline run" "$D/a.log"
    [ "$rb" -eq 0 ] || grep -q "is in use by another pipeline run" "$D/b.log"
    # each net trained once, by one of them
    [ $(($(grep -c "^train " "$D/a.log") + $(grep -c "^train " "$D/b.log"))) -eq 4 ]
    rm "$D"/?.log
    same_as_reference
}

@test "the lock: one line naming the holder, taken over when its holder is dead" {
    local lock="$BATS_TEST_TMPDIR/r/.lock"
    run bash "$REPO_ROOT/pipelines/lock.sh" --check "$lock"
    assert_success
    assert_output ""
    # held: by a process waiting on a pipe that this test closes
    mkfifo hold
    bash "$REPO_ROOT/pipelines/lock.sh" "$lock" bash -c 'read -r _ <hold' &
    local holder=$!
    exec 4>hold
    wait_until_held() { until [ "$(cat "$lock" 2>/dev/null)" = "$holder" ]; do sleep 0.01; done; }
    wait_until_held
    run bash "$REPO_ROOT/pipelines/lock.sh" --check "$lock"
    assert_output "$BATS_TEST_TMPDIR/r is in use by another pipeline run, pid $holder (lock file $lock): wait for it to end, or stop it"
    run bash "$REPO_ROOT/pipelines/lock.sh" "$lock" true
    assert_failure
    assert_output --partial "pid $holder"
    # the holder killed with -9: the file still names it, the lock is free
    kill -KILL "$holder"
    wait "$holder" || true
    exec 4>&-
    [ "$(cat "$lock")" = "$holder" ]
    run bash "$REPO_ROOT/pipelines/lock.sh" --check "$lock"
    assert_output ""
    run bash "$REPO_ROOT/pipelines/lock.sh" "$lock" bash -c 'echo "ran as $$"'
    assert_success
    assert_output "ran as $(cat "$lock")"
}
