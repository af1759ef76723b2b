# progress-lib.sh: what pipelines/plan.sh and pipelines/status.sh share (sourced).

# flag_value FLAG "SETTINGS" DEFAULT: the word after FLAG in SETTINGS (the last one wins)
flag_value() {
    local v=$3 prev="" a
    for a in $2; do [ "$prev" = "$1" ] && v=$a; prev=$a; done
    echo "$v"
}

# run_depth RUN: plain-56-s1 -> 56, resnet-20b-s2 -> 20
run_depth() {
    local d=${1#*-}
    d=${d%%-*}
    echo "${d%b}"
}

# human SECONDS: "45 s", "12 min", "3.4 h"
human() {
    awk -v s="$1" 'BEGIN { if (s < 90) printf "%d s", s; else if (s < 5400) printf "%d min", s / 60 + 0.5;
                           else printf "%.1f h", s / 3600 }'
}

# metrics_tsv R RUN BIN: the run's metrics as TSV without the header (nothing when absent).
# rn-eval --tsv is the one reader of the format (docs/FORMATS.md); a torn last record is
# dropped, with its warning silenced here.
metrics_tsv() {
    [ -s "$1/runs/$2.metrics" ] || return 0
    "$3/rn-eval" --tsv "$1/runs/$2.metrics" 2>/dev/null | tail -n +2
}

# run_epochs_done R RUN BIN: epochs recorded in the run's metrics
run_epochs_done() {
    local n
    n=$(metrics_tsv "$@" | wc -l)
    echo "${n:-0}"
}
