# Running the pipeline (make report PROFILE=ci) in the tests, on tiny synthetic
# batches in $BATS_FILE_TMPDIR/batches (make_tiny_batches), with results and
# report directories of the test's choosing.
#
# The tools are held fixed with make's -o (--old-file): they were built before
# the tests, and other edits to the sources while the tests run must not make
# the pipeline retrain everything. (Without -o, a rebuilt tool reruns what it
# made: that is the intended bookkeeping, but not what these tests are about.)

PIPELINE_TOOLS=(cifar-prep rn-init rn-train rn-eval rn-plot)

# pipeline_make_in DIR [ARGS...]: make with DIR/results and DIR/report, the tools in
# ${PIPELINE_BIN:-$RN_BIN}
pipeline_make_in() {
    local dir=$1 bin=${PIPELINE_BIN:-$RN_BIN} old=() t
    shift
    for t in "${PIPELINE_TOOLS[@]}"; do old+=(-o "$bin/$t"); done
    make -C "$REPO_ROOT" --no-print-directory PROFILE=ci BINDIR="$bin" BUILDDIR="$RN_BUILD" \
        CIFAR_DIR="$BATS_FILE_TMPDIR/batches" RESULTS_DIR="$dir/results" REPORT_DIR="$dir/report" \
        "${old[@]}" "$@"
}
