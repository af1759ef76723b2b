#!/usr/bin/env bash
# compare.sh PROFILE REPORT_DIR RN_PLOT METRICS...
#
# The end of `make report`: the final test accuracy of each net next to the
# committed reference run of the same profile (REPORT_DIR/reference/, made by
# `make reference`), the study and the paper, and which differ by more than the
# seed spread. The numbers come from `rn-plot table comparison` (which holds the
# study's and the paper's numbers, lib/plot/reference.c), run once on these
# metrics and once on the reference's.
#
# Seed spread: twice the larger standard deviation over seeds of this run and
# of the reference (a net needs two seeds or more in one of them: one run of a
# profile varies as much as another); the study and the paper, single numbers,
# are judged with the same spread. With one seed everywhere the spread is
# unknown: the differences are listed, not judged.
set -uo pipefail
[ $# -ge 4 ] || { echo "usage: compare.sh PROFILE REPORT_DIR RN_PLOT METRICS..." >&2; exit 2; }
profile=$1 P=$2 PLOT=$3
shift 3

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# seeds per net label, from the run names (<net>-s<seed>.metrics)
seeds_of() { # FILES...: prints "net count" per net
    local f
    for f in "$@"; do f=${f##*/}; echo "${f%-s*}"; done | sort | uniq -c | awk '{ print $2, $1 }'
}
# net name (plain-20) -> the table's label (Plain-20)
label_of() { local a=${1%%-*} d=${1#*-}; [ "$a" = plain ] && echo "Plain-${d^^}" || echo "ResNet-${d^^}"; }

"$PLOT" table comparison --quiet "$@" -o "$tmp/yours.tsv" || exit 1
seeds_of "$@" | while read -r n c; do echo "$(label_of "$n") $c"; done >"$tmp/yours.seeds"
ref_files=()
[ -d "$P/reference" ] && mapfile -t ref_files < <(ls "$P"/reference/*.metrics 2>/dev/null)
if [ "${#ref_files[@]}" -gt 0 ]; then
    "$PLOT" table comparison --quiet "${ref_files[@]}" -o "$tmp/ref.tsv" || exit 1
    seeds_of "${ref_files[@]}" | while read -r n c; do echo "$(label_of "$n") $c"; done >"$tmp/ref.seeds"
    ref_about=$(awk -F'\t' '$1 == "cpu" { c = $2 } $1 == "gpu" && $2 != "none" { g = ", " $2 }
                            $1 == "commit" { m = $2 } $1 == "generated" { d = $2 }
                            END { printf "%s%s, commit %s, %s", c, g, m, d }' "$P/reference/report.info" 2>/dev/null)
    ref_what="the reference run in $P/reference/ (${ref_about:-no report.info})"
else
    : >"$tmp/ref.tsv"; : >"$tmp/ref.seeds"
    ref_what="no reference run for PROFILE=$profile in $P/reference/"
fi

echo "compare: final test accuracy (%): yours; $ref_what; the study (final epoch); the paper (Table 6)"
awk -F'\t' -v OFS='\t' '
    FILENAME ~ /yours.seeds$/ { split($0, a, " "); ys[a[1]] = a[2]; next }
    FILENAME ~ /ref.seeds$/   { split($0, a, " "); rs[a[1]] = a[2]; next }
    FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    FILENAME ~ /ref.tsv$/ { rm[$1] = $c["ours_final_test_acc_mean"]; rsd[$1] = $c["ours_final_test_acc_std"]; next }
    {
        net = $1; m = $c["ours_final_test_acc_mean"]; sd = $c["ours_final_test_acc_std"]
        n = ys[net] + 0; rn = rs[net] + 0
        # the spread: 2 std over seeds, from the runs that have two seeds or more
        spread = -1
        if (n >= 2) spread = 2 * sd
        if (rn >= 2 && 2 * rsd[net] > spread) spread = 2 * rsd[net]
        yours = n >= 2 ? sprintf("%.2f ± %.2f (%d seeds)", m, sd, n) : sprintf("%.2f (1 seed)", m)
        ref = net in rm ? (rn >= 2 ? sprintf("%.2f ± %.2f (%d seeds)", rm[net], rsd[net], rn) : sprintf("%.2f (1 seed)", rm[net])) : "-"
        study = $c["study_final_acc"]; paper = $c["paper_acc"]
        print net, yours, ref, study == "NA" ? "-" : study, paper == "NA" ? "-" : paper
        judge(net, "the reference run", net in rm ? m - rm[net] : "", spread)
        judge(net, "the study", study == "NA" ? "" : m - study, spread)
        judge(net, "the paper", paper == "NA" ? "" : m - paper, spread)
    }
    function judge(net, what, d, s) {
        if (d == "") return
        if (s < 0) unknown[++nu] = sprintf("%s vs %s %+.2f pp", net, what, d)
        else if (d > s || -d > s) differ[++nd] = sprintf("%s vs %s %+.2f pp (spread %.2f)", net, what, d, s)
        else within[++nw] = sprintf("%s vs %s %+.2f pp", net, what, d)
    }
    END {
        for (i = 1; i <= nd; i++) print "DIFFER", differ[i]
        for (i = 1; i <= nw; i++) print "WITHIN", within[i]
        for (i = 1; i <= nu; i++) print "UNKNOWN", unknown[i]
    }' "$tmp/yours.seeds" "$tmp/ref.seeds" "$tmp/ref.tsv" "$tmp/yours.tsv" >"$tmp/out"

{ printf 'net\tyours\treference run\tstudy\tpaper\n'; grep -v -e '^DIFFER' -e '^WITHIN' -e '^UNKNOWN' "$tmp/out"; } |
    column -t -s $'\t' | sed 's/^/compare:   /'
list() { grep "^$1	" "$tmp/out" | cut -f2 | paste -sd';' | sed 's/;/; /g'; }
d=$(list DIFFER) w=$(list WITHIN) u=$(list UNKNOWN)
[ -n "$d" ] && echo "compare: DIFFER by more than the seed spread (2 std over seeds): $d"
[ -n "$w" ] && echo "compare: within the seed spread: $w"
[ -n "$u" ] && echo "compare: not judged (one seed, so no spread is known; SEEDS=\"1 2 3\" measures it): $u"
[ "$profile" = paper ] ||
    echo "compare: PROFILE=$profile is not the study's protocol: its accuracies are not expected to reach the study's or the paper's"
exit 0
