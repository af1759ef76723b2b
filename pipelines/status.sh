#!/usr/bin/env bash
# status.sh: the progress of a profile's pipeline, read from its files.
#
#   status.sh table PROFILE RESULTS_DIR BINDIR RUN=TRAIN_SETTINGS...
#   status.sh watch PROFILE RESULTS_DIR BINDIR MAKE_PID RUN=TRAIN_SETTINGS...
#
# table (`make status`): one row per training: its state, epoch, last test
# accuracy, seconds per epoch and time left, then the ETA of the whole report.
# watch (started by `make report`): the same in one line, redrawn every
# RN_PROGRESS_INTERVAL seconds (default 5) on a terminal; when stderr is not a
# terminal, a plain line each time a training starts, finishes an epoch or ends.
# Ends when every training is done, or when MAKE_PID ends.
#
# States: done (final weights written), running (an rn-train process on this
# machine writes the run's metrics; under RUN=srun the process is elsewhere and
# the run shows as stopped), stopped (a checkpoint and metrics but no process:
# the next `make report` resumes it), waiting. Epochs and accuracies come from
# the metrics files (read by rn-eval --tsv); seconds per epoch from the run's
# own epochs, else from another seed of the net or another net of the same depth, else from the plan's
# measured estimate (RESULTS_DIR/plan.tsv). The ETA adds what is left of each
# training, one after another, as `make report` runs them.
set -uo pipefail
[ $# -ge 4 ] || { echo "usage: status.sh table|watch PROFILE RESULTS_DIR BINDIR [MAKE_PID] RUN=SETTINGS..." >&2; exit 2; }
mode=$1 PROFILE=$2 R=$3 BIN=$4
shift 4
make_pid=""
if [ "$mode" = watch ]; then make_pid=$1; shift; fi
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=pipelines/progress-lib.sh
. "$here/progress-lib.sh"

if [ ! -x "$BIN/rn-eval" ]; then
    echo "status: $BIN/rn-eval is not built (run make first)" >&2
    exit 1
fi

# The command lines of the rn-train processes on this machine, one per line.
# (Builtins only for the scan: the watcher repeats it every few seconds beside a
# training that wants every core.)
trainers() {
    local p c
    for p in /proc/[0-9]*; do
        read -r c 2>/dev/null <"$p/comm" || continue
        [ "$c" = rn-train ] || continue
        c=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) && echo "$c"
    done
}

# run_tsv RUN: metrics_tsv, read again only when the metrics file changed
declare -A tsv_key=() tsv_text=()
run_tsv() {
    local m="$R/runs/$1.metrics" k
    k=$(stat -c '%Y %s' "$m" 2>/dev/null)
    if [ "${tsv_key[$1]-x}" != "$k" ]; then
        tsv_text[$1]=$(metrics_tsv "$R" "$1" "$BIN")
        tsv_key[$1]=$k
    fi
    [ -n "${tsv_text[$1]}" ] && printf '%s\n' "${tsv_text[$1]}"
}

# Fills the arrays below, one entry per run, and the totals.
collect() {
    local procs spec run e k acc spe left m now age
    procs=$(trainers)
    now=$(date +%s)
    runs=() states=() epochs=() accs=() spes=() lefts=()
    n_done=0 n_running=0 eta=0 eta_known=1
    # seconds per epoch by depth, from the runs with epochs recorded (measured on the
    # real data, so better than the plan's estimate)
    # (another seed of the same net first, then any net of the same depth)
    declare -gA depth_spe=() net_spe=()
    for spec in "$@"; do
        run=${spec%%=*}
        run_tsv "$run" >/dev/null   # fills the cache here, not in a subshell
        spe=$(run_tsv "$run" | awk -F'\t' '{ s += $8; n++ } END { if (n) printf "%.1f", s / n }')
        [ -n "$spe" ] && depth_spe[$(run_depth "$run")]=$spe && net_spe[${run%-s*}]=$spe
    done
    for spec in "$@"; do
        run=${spec%%=*}
        e=$(flag_value --epochs "${spec#*=}" 200)
        m="$R/runs/$run.metrics"
        # epoch, last test accuracy, mean seconds per epoch
        read -r k acc spe < <(run_tsv "$run" | awk -F'\t' '
            { n++; s += $8; a = $7 }
            END { if (!n) { print 0, "-", "-"; exit }
                  printf "%d %s %.1f\n", n, (a == "nan" || a == "NA" || a == "") ? "-" : sprintf("%.2f", 100 * (1 - a)), s / n }')
        if [ "$spe" = "-" ]; then
            spe=${net_spe[${run%-s*}]:-${depth_spe[$(run_depth "$run")]:-}}
            [ -z "$spe" ] && [ -f "$R/plan.tsv" ] && spe=$(awk -F'\t' -v r="$run" '$1 == r { print $3 }' "$R/plan.tsv")
            [ -n "$spe" ] && spe="~$spe"
        fi
        if [ -f "$R/runs/$run.safetensors" ] && [ ! "$R/runs/$run.safetensors" -ot "$m" ]; then
            state=done; n_done=$((n_done + 1)); left=0
        else
            if grep -qF -- "--metrics $m " <<<"$procs "; then state=running; n_running=$((n_running + 1))
            elif [ -f "$m" ] || [ -f "$R/runs/$run.ckpt.safetensors" ]; then state=stopped
            else state=waiting; fi
            if [ -n "$spe" ]; then
                # the running epoch has been going since the last record (or the log's start)
                age=0
                if [ "$state" = running ]; then
                    age=$(( now - $(stat -c %Y "$m" 2>/dev/null || stat -c %Y "$R/runs/$run.log" 2>/dev/null || echo "$now") ))
                fi
                left=$(awk -v e="$e" -v k="$k" -v s="${spe#\~}" -v a="$age" \
                    'BEGIN { l = (e - k) * s - a; if (l < 0) l = 0; printf "%.0f", l }')
                eta=$((eta + left))
            else
                left=""; eta_known=0
            fi
        fi
        runs+=("$run") states+=("$state") epochs+=("$k/$e") accs+=("$acc") spes+=("${spe:--}") lefts+=("$left")
    done
}

eta_text() {
    if [ "$n_done" -eq "${#runs[@]}" ]; then echo "trainings done"
    elif [ "$eta_known" = 1 ]; then echo "ETA $(human "$eta") ($(date -u -d "@$(( $(date +%s) + eta ))" +%H:%M) UTC)"
    else echo "ETA unknown (no speed yet)"; fi
}

table() {
    collect "$@"
    echo "report $PROFILE: ${n_done} of ${#runs[@]} trainings done, $n_running running; $(eta_text)"
    {
        printf 'run\tstate\tepoch\ttest acc\ts/epoch\tleft\n'
        for i in "${!runs[@]}"; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${runs[$i]}" "${states[$i]}" "${epochs[$i]}" \
                "$( [ "${accs[$i]}" = - ] && echo - || echo "${accs[$i]} %")" "${spes[$i]}" \
                "$( [ -n "${lefts[$i]}" ] && { [ "${lefts[$i]}" = 0 ] && echo - || human "${lefts[$i]}"; } || echo "?")"
        done
    } | column -t -s $'\t'
}

line() { # sets LINE (not printed: collect's counts stay in this shell)
    collect "$@"
    local i
    LINE="report $PROFILE: $n_done/${#runs[@]} done"
    for i in "${!runs[@]}"; do
        [ "${states[$i]}" = running ] || continue
        LINE+=" | ${runs[$i]} epoch ${epochs[$i]}"
        [ "${accs[$i]}" != - ] && LINE+=", test acc ${accs[$i]} %"
    done
    LINE+=" | $(eta_text)"
}

case "$mode" in
    table) table "$@" ;;
    watch)
        # The watcher stops once every training is done (evaluations and figures take
        # seconds), or when make does; in a log its last line is the state at that time.
        interval=${RN_PROGRESS_INTERVAL:-5}
        last=""
        while :; do
            alive=1; kill -0 "$make_pid" 2>/dev/null || alive=0
            line "$@"
            all_done=0; [ "$n_done" -eq "${#runs[@]}" ] && all_done=1
            if [ -t 2 ]; then
                [ "$alive" = 1 ] || break
                if [ "$all_done" = 1 ]; then printf '\r\033[K' >&2; break; fi
                # drawn with the cursor left at its start: a line make prints meanwhile
                # overwrites it instead of being appended to it
                printf '\r\033[K%s\r' "${LINE:0:$(( $(tput cols 2>/dev/null || echo 100) - 1 ))}" >&2
            else
                key=${LINE% | *}   # without the ETA: a line when a count or an epoch changed
                [ "$key" != "$last" ] && echo "$LINE" >&2
                last=$key
                [ "$alive" = 1 ] && [ "$all_done" = 0 ] || break
            fi
            sleep "$interval"
        done
        ;;
    *) echo "status.sh: unknown mode '$mode' (table or watch)" >&2; exit 2 ;;
esac
exit 0
