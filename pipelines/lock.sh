#!/usr/bin/env bash
# lock.sh LOCK COMMAND...   run COMMAND holding the lock LOCK (refused when another run holds it)
# lock.sh --check LOCK      print one line naming the holder when LOCK is held, else nothing
#
# One pipeline run at a time per results directory: `make report` (every pipeline
# goal) runs itself again under this script, see pipelines/pipeline.mk.
#
# The lock is flock(1) (util-linux, installed on every Debian system) on the file
# LOCK, which also holds the pid of the make that has it. The kernel releases a
# flock when the last process holding the open file ends, however it ends (kill -9
# included), so a stale lock needs no cleaning: the next run takes it and writes
# its own pid. COMMAND and everything it starts inherit the open file: a training
# left running by a make killed with -9 keeps the directory locked until it ends,
# since it still writes there.
set -uo pipefail

usage() { echo "usage: lock.sh LOCK COMMAND... | lock.sh --check LOCK" >&2; exit 2; }
command -v flock >/dev/null ||
    { echo "lock.sh: flock is missing (install util-linux)" >&2; exit 1; }

# The one line that says who holds LOCK: the pid written in it, or, when that
# make is gone, the processes it left that still hold the file open.
holder() {
    local lock=$1 dir pid others
    dir=$(dirname "$lock")
    pid=$(head -c 32 "$lock" 2>/dev/null | tr -dc 0-9)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$dir is in use by another pipeline run, pid $pid (lock file $lock): wait for it to end, or stop it"
        return
    fi
    # /proc/PID/fd/N links to the open file: the processes that keep the lock
    others=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "$lock" 2>/dev/null | cut -d/ -f3 | sort -un | tr '\n' ' ')
    others=${others% }
    echo "$dir is in use by pid ${others:-?}, left running by the pipeline run pid ${pid:-?} that has ended (lock file $lock): wait for it to end, or stop it"
}

[ $# -ge 2 ] || usage
if [ "$1" = --check ]; then
    [ $# -eq 2 ] || usage
    lock=$2
    [ -e "$lock" ] || exit 0
    exec 9<"$lock" || exit 1
    # a shared lock: two checks at once do not stand in each other's way
    flock -n -s 9 || holder "$lock"
    exit 0
fi

lock=$1
shift
mkdir -p "$(dirname "$lock")" || exit 1
exec 9<>"$lock" || { echo "lock.sh: cannot open $lock (is the results directory writable?)" >&2; exit 1; }
# A second's grace: a --check of another run that is starting holds a shared lock
# for a moment. A run that really holds it is still refused at once, as far as
# anyone can tell.
if ! flock -w 1 -x 9; then
    echo "make: $(holder "$lock")" >&2
    exit 1
fi
# ours now: the pid is this process's, which COMMAND keeps (exec)
printf '%s\n' "$$" >"$lock" || exit 1
exec "$@"
