#!/usr/bin/env bats
# The output rules of every tool (lib/io.h): devices and FIFOs written
# through, symlinks followed, an output that is an input refused, temp files
# removed on signals and when stale, rn-train's run lock, and the checks of
# option values (a batch larger than the data, --per-class 0, a resume past
# the end of the run). No test waits for a time: each waits for a state it
# can see (a temp or lock file appearing), then acts.

load helpers/common

setup_file() {
    cd "$BATS_FILE_TMPDIR" || return 1
    make_tiny_batches b 10                      # 50 training, 10 test images
    cifar-prep -q --train -o train.ds b
    cifar-prep -q --test -o test.ds b
    rn-init -q --arch resnet --depth 8 --seed 1 -o r8.safetensors 2>/dev/null
}

setup() {
    common_setup
    D="$BATS_FILE_TMPDIR"
    BG=
}

# a tool left blocked on a FIFO by a failed test must not hold up the suite
teardown() {
    if [ -n "$BG" ] && kill -0 "$BG" 2>/dev/null; then
        kill -KILL "$BG" 2>/dev/null || true
    fi
}

train() {
    rn-train -q --device cpu --threads 1 --train "$D/train.ds" --batch 25 --milestones '' "$@"
}

# Starts CMD... in the background with SIGINT and SIGHUP at their default
# action (a shell without job control starts background jobs with SIGINT
# ignored); the pid is in $BG.
start_bg() {
    python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
    signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" &
    BG=$!
}

# Waits until a file matching the glob exists (the tool reached that state).
wait_for() {
    local i
    for i in $(seq 1 3000); do
        compgen -G "$1" >/dev/null && return 0
        kill -0 "$BG" 2>/dev/null || { echo "the process ended before $1 appeared" >&2; return 1; }
        sleep 0.01
    done
    echo "timed out waiting for $1" >&2
    return 1
}

# Waits until FILE holds TEXT.
wait_for_content() {
    local i
    for i in $(seq 1 3000); do
        [ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
        kill -0 "$BG" 2>/dev/null || { echo "the process ended before $1 held $2" >&2; return 1; }
        sleep 0.01
    done
    return 1
}

no_temp_files() { [ -z "$(find . -name '.*.tmp.*')" ]; }

# On a private copy of /dev/null (same major/minor, made with mknod in the
# test's directory), so that a tool that replaced it would break this test
# and not the machine. Root only, as in CI.
@test "an output that is a character device is written through: a null device stays a device" {
    mknod -m 666 null c 1 3 2>/dev/null || skip "mknod needs root"
    rn-init -q --arch resnet --depth 8 -o null
    cifar-prep -q -o ./null "$D/train.ds"
    rn-eval -q --weights "$D/r8.safetensors" --data "$D/test.ds" -o null
    train --init "$D/r8.safetensors" -o null --checkpoint c.ckpt --epochs 1
    ln -s null link-to-null
    rn-init -q --arch resnet --depth 8 -o link-to-null
    [ -c null ]
    [ -L link-to-null ]
    [ -s c.ckpt ]
    [ ! -e null.lock ]
    no_temp_files
}

@test "an output that is a FIFO is written through, not replaced" {
    mkfifo w.fifo d.fifo
    timeout 60 cat w.fifo > got.safetensors &   # a bounded reader: a tool that replaced the FIFO fails the test
    rn-init -q --arch resnet --depth 8 --seed 3 -o w.fifo
    wait $!
    rn-init -q --arch resnet --depth 8 --seed 3 -o want.safetensors
    cmp got.safetensors want.safetensors
    timeout 60 cat d.fifo > got.ds &
    cifar-prep -q --limit 7 -o d.fifo "$D/train.ds"
    wait $!
    cifar-prep -q --limit 7 -o want.ds "$D/train.ds"
    cmp got.ds want.ds
    [ -p w.fifo ]
    [ -p d.fifo ]
    no_temp_files
}

@test "an output that is a symlink: the target is written, the link kept" {
    mkdir real links
    rn-init -q --arch resnet --depth 8 --seed 1 -o real/w.safetensors
    ln -s ../real/w.safetensors links/w.safetensors         # relative to the link's directory
    ln -s "$PWD/real/new.ds" links/new.ds                  # dangling: the target is created
    rn-init -q --arch resnet --depth 8 --seed 2 -o links/w.safetensors
    rn-init -q --arch resnet --depth 8 --seed 2 -o want.safetensors
    [ -L links/w.safetensors ]
    cmp real/w.safetensors want.safetensors
    cifar-prep -q --limit 5 -o links/new.ds "$D/train.ds"
    [ -L links/new.ds ]
    [ -f real/new.ds ]
    [ ! -L real/new.ds ]
    run cifar-prep --info -o - real/new.ds
    assert_line "images: 5"
    [ -z "$(find . -name '.*.tmp.*')" ]
}

@test "an output that is a directory is refused before any work" {
    mkdir out.ds
    run cifar-prep -o out.ds "$D/train.ds"
    assert_failure 1
    assert_output "cifar-prep: cannot write out.ds: it is a directory (give a file name)"
    run rn-eval --weights "$D/r8.safetensors" --data "$D/test.ds" -o out.ds
    assert_failure 1
    assert_output --partial "out.ds: it is a directory"
}

# RUN's output must be one line naming both files, and FILE unchanged.
refused() {
    local file="$1" before
    shift
    before=$(cksum < "$file")
    run "$@"
    assert_failure 1
    [ "${#lines[@]}" -eq 1 ]
    assert_output --partial "is the same file as"
    [ "$(cksum < "$file")" = "$before" ]
    no_temp_files
}

@test "rn-eval and rn-train refuse an output that is one of their inputs (inode, not spelling)" {
    cp "$D/r8.safetensors" w.safetensors
    cp "$D/train.ds" train.ds
    ln w.safetensors hard.safetensors
    refused w.safetensors rn-eval --weights w.safetensors --data "$D/test.ds" -o w.safetensors
    assert_output "rn-eval: w.safetensors: -o is the same file as --weights w.safetensors: refusing to overwrite an input (give -o another name)"
    refused w.safetensors rn-eval --weights w.safetensors --data "$D/test.ds" -o ./w.safetensors
    refused w.safetensors rn-eval --weights w.safetensors --data "$D/test.ds" -o hard.safetensors
    assert_output --partial "hard.safetensors: -o is the same file as --weights w.safetensors"
    refused train.ds rn-eval --weights w.safetensors --data train.ds -o "$PWD/train.ds"
    refused "$D/train.ds" train --init w.safetensors -o f.safetensors --metrics "$D/./train.ds"
    assert_output --partial "train.ds: --metrics is the same file as --train"
    refused w.safetensors train --init w.safetensors -o hard.safetensors
    refused w.safetensors train --init w.safetensors -o f.safetensors --checkpoint w.safetensors
    [ ! -e f.safetensors ]
}

@test "rn-train: two of its outputs may not be one file; a resume rewrites its own checkpoint" {
    run train --init "$D/r8.safetensors" -o x.safetensors --checkpoint ./x.safetensors --epochs 1
    assert_failure 1
    assert_output "rn-train: ./x.safetensors: --checkpoint is the same file as -o x.safetensors: one output would overwrite the other (give --checkpoint another name)"
    run train --init "$D/r8.safetensors" -o x.safetensors --checkpoint c.ckpt --metrics c.ckpt --epochs 1
    assert_failure 1
    assert_output --partial "--metrics is the same file as --checkpoint"
    [ ! -e x.safetensors ]
    [ ! -e c.ckpt ]
    train --init "$D/r8.safetensors" -o x.safetensors --checkpoint c.ckpt --metrics m --epochs 1
    train --resume c.ckpt --checkpoint c.ckpt -o x.safetensors --metrics m --epochs 2   # the normal resume
    [ "$(rn-eval --tsv m | wc -l)" -eq 3 ]
    refused c.ckpt train --resume c.ckpt --checkpoint c.ckpt -o c.ckpt --epochs 3
    refused c.ckpt train --resume c.ckpt --checkpoint c.ckpt -o x.safetensors --metrics c.ckpt --epochs 3
}

@test "cifar-prep and rn-plot refuse an output that is one of their inputs" {
    cp "$D/train.ds" t.ds
    refused t.ds cifar-prep --limit 3 -o t.ds t.ds
    assert_output "cifar-prep: t.ds: -o is the same file as input t.ds: refusing to overwrite an input (give -o another name)"
    refused t.ds cifar-prep --info -o ./t.ds t.ds
    cp -r "$D/b" src
    refused src/data_batch_1.bin cifar-prep --train -o src/data_batch_1.bin src
    refused src/test_batch.bin cifar-prep --to-batches src src
    assert_output --partial "--to-batches is the same file as input src/data_batch_1.bin"
    train --init "$D/r8.safetensors" -o f.safetensors --metrics run.metrics --epochs 1
    printf '# report\n' > t.md
    refused t.md rn-plot report --template t.md run.metrics -o ./t.md
    assert_output --partial "-o is the same file as --template t.md"
    cp run.metrics run.tsv
    refused run.tsv rn-plot table training run.tsv -o run.tsv
}

# SIGNAL to cifar-prep while its output's temp file is open: it blocks
# reading a FIFO nobody writes, after opening the output.
signal_leaves_no_temp() {
    local sig="$1" status
    mkfifo "in-$sig.ds"
    start_bg cifar-prep -q -o "out-$sig.ds" "in-$sig.ds"
    wait_for ".out-$sig.ds.tmp.*"
    kill -s "$sig" "$BG"
    status=0
    wait "$BG" || status=$?
    [ "$status" -eq $((128 + $(kill -l "$sig"))) ]   # killed by the signal, as without a handler
    no_temp_files
    [ ! -e "out-$sig.ds" ]
}

@test "SIGTERM, SIGINT and SIGHUP to cifar-prep remove its temp file" {
    signal_leaves_no_temp TERM
    signal_leaves_no_temp INT
    signal_leaves_no_temp HUP
}

@test "SIGTERM to rn-train while it loads removes its lock; its checkpoint and metrics are kept" {
    train --init "$D/r8.safetensors" -o f.safetensors --checkpoint c.ckpt --metrics m --epochs 1
    cp c.ckpt c.before
    cp m m.before
    mkfifo slow.ds
    start_bg rn-train -q --device cpu --train slow.ds --resume c.ckpt -o f.safetensors --checkpoint c.ckpt \
        --metrics m --epochs 2 --batch 25 --milestones ''
    wait_for_content c.ckpt.lock "$BG"
    kill -TERM "$BG"
    status=0
    wait "$BG" || status=$?
    [ "$status" -eq 143 ]
    [ ! -e c.ckpt.lock ]
    [ ! -e m.lock ]
    cmp c.ckpt c.before
    cmp m m.before
    no_temp_files
}

@test "stale temp files of ours older than a day are removed when a tool next writes there" {
    touch -d '2 days ago' .old.ds.tmp.AbC123 .x.safetensors.tmp.Zz9Yy8 notours.tmp.AbC123 .other.tmp.toolong1
    touch .fresh.ds.tmp.QwE456                  # another process may be writing it now
    mkdir sub && touch -d '2 days ago' sub/.old.ds.tmp.AbC123
    run cifar-prep --limit 3 -o out.ds "$D/train.ds"
    assert_success
    assert_output --partial "removed 2 stale temporary files"
    [ ! -e .old.ds.tmp.AbC123 ]
    [ ! -e .x.safetensors.tmp.Zz9Yy8 ]
    [ -e .fresh.ds.tmp.QwE456 ]
    [ -e notours.tmp.AbC123 ]
    [ -e .other.tmp.toolong1 ]
    [ -e sub/.old.ds.tmp.AbC123 ]               # another directory: not written, not touched
}

@test "rn-train run lock: a second writer is refused at once naming the pid; a dead holder's lock is taken over" {
    # the first run takes its locks, then blocks opening its --init FIFO
    mkfifo init.fifo
    start_bg rn-train -q --device cpu --train "$D/train.ds" --init init.fifo -o a.safetensors \
        --checkpoint run.ckpt --metrics run.metrics --batch 25 --epochs 1
    wait_for_content run.ckpt.lock "$BG"
    wait_for_content run.metrics.lock "$BG"
    run train --init "$D/r8.safetensors" -o b.safetensors --checkpoint run.ckpt --epochs 1
    assert_failure 1
    assert_output "rn-train: run.ckpt.lock: held by pid $BG, which is writing the checkpoint run.ckpt (wait for it to end, or stop it)"
    # another checkpoint, the same metrics: two runs would record every epoch twice
    run train --init "$D/r8.safetensors" -o b.safetensors --checkpoint other.ckpt --metrics ./run.metrics --epochs 1
    assert_failure 1
    assert_output --partial "run.metrics.lock: held by pid $BG, which is writing the metrics ./run.metrics"
    [ ! -e b.safetensors ]
    [ ! -e other.ckpt ]
    [ ! -e run.metrics ]
    # kill -9: the lock files stay, but the kernel released the locks
    kill -KILL "$BG"
    wait "$BG" || true
    [ -e run.ckpt.lock ]
    run rn-train --device cpu --threads 1 --train "$D/train.ds" --init "$D/r8.safetensors" -o a.safetensors \
        --checkpoint run.ckpt --metrics run.metrics --batch 25 --epochs 1 --milestones ''
    assert_success
    assert_output --partial "run.ckpt.lock: taking over the lock of pid $BG, which has ended"
    [ ! -e run.ckpt.lock ]
    [ ! -e run.metrics.lock ]       # removed at the end
    [ "$(rn-eval --tsv run.metrics | wc -l)" -eq 2 ]
}

@test "the lock is held with flock(2): a process holding it with flock(1) is refused too" {
    command -v flock >/dev/null || skip "no flock(1)"
    # the lock file is the checkpoint's name with .lock
    touch run.ckpt.lock
    flock run.ckpt.lock -c "rn-train -q --train '$D/train.ds' --init '$D/r8.safetensors' -o a.safetensors --checkpoint run.ckpt --epochs 1 2>err; echo \$? > rc"
    [ "$(cat rc)" -eq 1 ]
    grep -q "run.ckpt.lock: held by another process writing the checkpoint run.ckpt" err
    [ ! -e a.safetensors ]
}

@test "--batch larger than the training set is clamped: the same weights as a batch of the whole set" {
    run train --init "$D/r8.safetensors" -o huge.safetensors --batch 100000 --epochs 2 --metrics huge.metrics
    assert_success
    train --init "$D/r8.safetensors" -o whole.safetensors --batch 50 --epochs 2 --metrics whole.metrics
    cmp huge.safetensors whole.safetensors
    [ "$(rn-eval --tsv huge.metrics | cut -f1-2 | tail -1)" = "2	2" ]    # one step per epoch
    run rn-train --device cpu --train "$D/train.ds" --init "$D/r8.safetensors" -o x.safetensors --batch 100000 --epochs 1
    assert_output --partial "--batch 100000 is larger than the 50 training images: using batches of 50"
}

@test "a batch whose activations cannot fit in memory is one error before anything is allocated" {
    # the limit is RLIMIT_AS; an ASan build reserves terabytes of address space and cannot start under it
    bash -c "ulimit -v 1000000; exec rn-train --version" >/dev/null 2>&1 || skip "the tools cannot start under ulimit -v"
    rn-init -q --arch resnet --depth 20 -o r20.safetensors
    make_tiny_batches big 400
    cifar-prep -q --train -o big.ds big
    run bash -c "ulimit -v 1000000; exec rn-train --device cpu --train big.ds --init r20.safetensors -o x.safetensors --batch 2000 --epochs 1"
    assert_failure 1
    assert_output --regexp "^rn-train: --batch 2000 needs about [0-9.]+ GiB for the activations .* more than the 1\.0 GiB of memory here \(give a smaller --batch\)$"
    [ ! -e x.safetensors ]
    [ ! -e x.ckpt.safetensors ]
}

@test "option values: --per-class 0, --limit 0 and other out-of-range numbers are usage errors" {
    run cifar-prep --per-class 0 -o x.ds "$D/train.ds"
    assert_failure 2
    assert_output --partial "--per-class"
    run cifar-prep --limit 0 -o x.ds "$D/train.ds"
    assert_failure 2
    run cifar-prep --limit -3 -o x.ds "$D/train.ds"
    assert_failure 2
    run train --init "$D/r8.safetensors" -o x.safetensors --momentum 1
    assert_failure 2
    assert_output --partial "--momentum must be in [0, 1)"
    run train --init "$D/r8.safetensors" -o x.safetensors --warmup-lr 0
    assert_failure 2
    run train --init "$D/r8.safetensors" -o x.safetensors --threads 100000
    assert_failure 2
    run train --init "$D/r8.safetensors" -o x.safetensors --label "$(printf 'L%.0s' $(seq 1 80))"
    assert_failure 2
    assert_output --partial "--label is longer than 63 bytes"
    run rn-eval --weights "$D/r8.safetensors" --data "$D/test.ds" --threads -1
    assert_failure 2
    run rn-plot blocks --width 10 -o x.png
    assert_failure 2
    [ -z "$(ls -A)" ]
}

@test "resuming a checkpoint past --epochs or --max-steps is an error; exactly at the end writes the weights" {
    train --init "$D/r8.safetensors" -o six.safetensors --metrics six.metrics --epochs 6
    cp six.safetensors six.final
    rm six.safetensors
    run train --resume six.ckpt.safetensors -o six.safetensors --metrics six.metrics --epochs 2
    assert_failure 1
    assert_output "rn-train: six.ckpt.safetensors: the checkpoint is at epoch 6 (step 12), past the end of this run (--epochs 2, step 4): nothing to train (give the run's own --epochs/--max-steps to finish it)"
    run train --resume six.ckpt.safetensors -o six.safetensors --metrics six.metrics --epochs 6 --max-steps 11
    assert_failure 1
    assert_output --partial "(--max-steps 11, step 11)"
    [ ! -e six.safetensors ]
    [ "$(rn-eval --tsv six.metrics | wc -l)" -eq 7 ]       # untouched
    train --resume six.ckpt.safetensors -o six.safetensors --metrics six.metrics --epochs 6
    cmp six.safetensors six.final
}
