#!/usr/bin/env bats
# Crash safety of the pipeline: `make report PROFILE=ci` interrupted by SIGINT,
# SIGTERM, SIGHUP or SIGKILL, sent to make, to its process group or to one of
# the tools, at several moments; then make report again, until it ends. Each
# finished run must hold the same files as an uninterrupted run (made once, in
# setup_file), apart from the wall-clock timings: final weights, checkpoints,
# evaluations, figures and tables byte for byte, the metrics' values.
#
# No kill depends on timing: each waits for a state it can see (a file there,
# a metrics file holding k records, a tool held at a gate) and then signals.
# The gates: the tools run through wrappers in $GATE_BIN; a wrapper holds its
# tool (SIGSTOP) just before it starts or just after it finished its work when
# the test asks for it, so that even a tool that runs for milliseconds is
# signalled at a known moment. Each test prints the interruptions it survived.

load helpers/common
load helpers/pipeline

setup_file() {
    make_tiny_batches "$BATS_FILE_TMPDIR/batches" 20
    # the gated tools: cifar-prep, rn-eval and rn-plot are short; rn-train and
    # rn-init run as they are (linked)
    GATE_BIN="$BATS_FILE_TMPDIR/bin"
    mkdir -p "$GATE_BIN" "$BATS_FILE_TMPDIR/gates"
    for t in rn-init rn-train; do ln -s "$RN_BIN/$t" "$GATE_BIN/$t"; done
    for t in cifar-prep rn-eval rn-plot; do
        cat >"$GATE_BIN/$t" <<EOF
#!/usr/bin/env bash
# test gate for $t: \$RN_GATES/$t.before (or .after) asks that this run stops
# itself, writing its pid in \$RN_GATES/$t.held, before (after) the real tool
g=\${RN_GATES:-/nonexistent}/$t
hold() { rm -f "\$g.\$1"; echo \$\$ >"\$g.held.tmp" && mv "\$g.held.tmp" "\$g.held"; kill -STOP \$\$; }
[ -e "\$g.before" ] && hold before
"$RN_BIN/$t" "\$@"
rc=\$?
[ -e "\$g.after" ] && hold after
exit \$rc
EOF
        chmod +x "$GATE_BIN/$t"
    done
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
has_records() { [ "$(records "$1")" -ge "$2" ]; }

# tool_pid NAME: the pid of this test's running NAME (matched on its command line)
tool_pid() {
    local p
    for p in $(pgrep -x "$1"); do
        grep -qF "$R/" "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return 0; }
    done
    return 1
}

# signal_tool NAME SIG: signal this test's running NAME
signal_tool() {
    local pid
    pid=$(tool_pid "$1") || { echo "$1 is not running: nothing to signal" >&2; return 1; }
    kill -"$2" "$pid"
}

# gate TOOL before|after SIG: the next TOOL run is held at that moment, then signalled
gate() {
    local tool=$1 when=$2 sig=$3 pid
    touch "$RN_GATES/$tool.$when"
    wait_for "$tool was held $when its work" test -s "$RN_GATES/$tool.held" || return 1
    pid=$(cat "$RN_GATES/$tool.held")
    rm -f "$RN_GATES/$tool.held"
    until grep -q '^State:.*T' "/proc/$pid/status" 2>/dev/null; do sleep 0.01; done
    kill -"$sig" "$pid"
    kill -CONT "$pid"
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
    start_make
    wait_for "plain-8 started" test -f "$R/runs/plain-8-s1.metrics"
    kill -INT -- "-$mk"
    end_make
    # what make deleted before: the run's memory
    [ -f "$R/runs/plain-8-s1.metrics" ]
    [ ! -e "$R/runs/plain-8-s1.info" ]
    if [ -f "$R/runs/plain-8-s1.ckpt.safetensors" ] && [ "$(records "$R/runs/plain-8-s1.metrics")" -eq 0 ]; then
        echo "# (a checkpoint inside epoch 1 next to a metrics file with no record)" >&3
    fi
    # SIGTERM to make alone (kill PID, a service stop) between two epochs of a net
    start_make
    wait_for "plain-14 epoch 1" has_records "$R/runs/plain-14-s1.metrics" 1
    kill -TERM "$mk"
    end_make
    [ -f "$R/runs/plain-14-s1.ckpt.safetensors" ]
    grep -q "stopped by SIGTERM" "$D.log"
    # SIGTERM to the group (timeout, a batch scheduler's time limit) later in a run
    start_make
    wait_for "resnet-8 epoch 2" has_records "$R/runs/resnet-8-s1.metrics" 2
    kill -TERM -- "-$mk"
    end_make
    # SIGHUP to the group (the terminal closed) as the last net starts
    start_make
    wait_for "resnet-14 started" test -f "$R/runs/resnet-14-s1.metrics"
    kill -HUP -- "-$mk"
    end_make
    # no figure or table from a run that has not finished
    [ ! -e "$D/report/tables/results.tsv" ]
    [ ! -e "$D/report/figures/loss.png" ]
    # Ctrl-C among the evaluations, SIGTERM to make among the figures
    start_make
    wait_for "the first evaluation" test -f "$R/eval/plain-8-s1.eval"
    kill -INT -- "-$mk"
    end_make
    start_make
    wait_for "the first figure" test -f "$D/report/figures/loss.png"
    kill -TERM "$mk"
    end_make
    [ "$survived" -eq 6 ]
    finish
}

@test "signals to the tools (cifar-prep, rn-train in and between epochs, rn-eval, rn-plot), each resumed" {
    # cifar-prep: SIGTERM as it starts, SIGINT after it wrote its dataset
    start_make
    gate cifar-prep before TERM
    end_make
    [ ! -e "$R/data/train.ds" ]
    start_make
    gate cifar-prep after INT
    end_make
    [ -f "$R/data/train.ds" ]
    # rn-train: SIGINT in the first epoch, SIGTERM between epochs, SIGKILL
    start_make
    wait_for "plain-8 started" test -f "$R/runs/plain-8-s1.metrics"
    signal_tool rn-train INT
    end_make
    start_make
    wait_for "plain-14 epoch 1" has_records "$R/runs/plain-14-s1.metrics" 1
    signal_tool rn-train TERM
    end_make
    [ -f "$R/runs/plain-14-s1.ckpt.safetensors" ]
    start_make
    wait_for "resnet-8 epoch 2" has_records "$R/runs/resnet-8-s1.metrics" 2
    signal_tool rn-train KILL
    end_make
    # rn-eval: SIGTERM as it starts, SIGINT after it wrote its file
    start_make
    gate rn-eval before TERM
    end_make
    start_make
    gate rn-eval after INT
    end_make
    # rn-plot: SIGINT as it starts, SIGTERM after it drew
    start_make
    gate rn-plot before INT
    end_make
    start_make
    gate rn-plot after TERM
    end_make
    [ "$survived" -eq 9 ]
    finish
}

@test "kill -9: of the whole group (a stale lock, taken over), of make alone (its commands go on; a second make is refused)" {
    # everything killed at once inside a training: the lock file names a dead pid
    start_make
    wait_for "plain-14 epoch 1" has_records "$R/runs/plain-14-s1.metrics" 1
    kill -KILL -- "-$mk"
    end_make
    ! kill -0 "$(cat "$R/.lock")" 2>/dev/null
    # the next run takes the lock over; make alone killed: the make under the
    # lock goes on, and a second run is refused, naming it
    start_make
    wait_for "resnet-8 epoch 1" has_records "$R/runs/resnet-8-s1.metrics" 1
    kill -KILL "$mk"
    wait "$mk" || true
    local holder
    holder=$(cat "$R/.lock")
    kill -0 "$holder"
    run pipeline_make_in "$D" report
    assert_failure
    assert_output --partial "$R is in use by another pipeline run, pid $holder (lock file $R/.lock)"
    [ "${#lines[@]}" -eq 1 ]
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
