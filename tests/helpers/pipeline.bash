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

# PNG: signature, IHDR size WxH (any size when W is 0), pixels not all one colour.
check_png() {
    python3 - "$1" "$2" "$3" <<'PY'
import struct, sys, zlib
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path}: not a PNG"
size = struct.unpack(">II", data[16:24])
assert w == 0 or size == (w, h), f"{path}: size {size}, expected {w}x{h}"
pos, idat = 8, b""
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    if data[pos + 4:pos + 8] == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
assert len(set(zlib.decompress(idat))) > 8, f"{path}: blank"
PY
}
