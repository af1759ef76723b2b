#!/usr/bin/env bats
# rn-plot on synthetic inputs with known numbers: metrics and eval files are
# written byte by byte from docs/FORMATS.md by a small Python writer below (an
# independent implementation of the formats), so every table cell can be
# checked exactly; weights come from rn-init.

load helpers/common

# write_metrics FILE LABEL "lr,train_loss,train_err,test_loss,test_err;..." (one group per epoch)
write_metrics() {
    python3 - "$@" <<'PY'
import struct, sys, zlib
path, label, spec = sys.argv[1], sys.argv[2], sys.argv[3]
lab = label.encode()[:63].ljust(64, b"\0")
head = b"RNMETRIC" + struct.pack("<II", 1, 80) + lab
head += struct.pack("<II", zlib.crc32(head), 0)
out = bytearray(head)
steps = 0
for epoch, group in enumerate(spec.split(";"), 1):
    lr, tl, te, vl, ve = (float(v) for v in group.split(","))
    steps += 10
    rec = struct.pack("<IIQddddddd", epoch, 0, steps, lr, tl, te, vl, ve, 2.0, 500.0) + struct.pack("<I", 0)
    out += rec + struct.pack("<I", zlib.crc32(rec))
open(path, "wb").write(out)
PY
}

# write_eval FILE ARCH(0 plain, 1 resnet) DEPTH LABEL ACCURACY_PERCENT LAYERS
write_eval() {
    python3 - "$@" <<'PY'
import struct, sys, zlib
path, arch, depth, label, acc, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
C, per = 10, 100
names = "airplane automobile bird cat deer dog frog horse ship truck".split()
conf = [[0] * C for _ in range(C)]
right = round(per * acc / 100)
for t in range(C):
    conf[t][t] = right
    conf[t][(t + 1) % C] = per - right
count = C * per
error = 1 - right * C / count
b = b"RNEVAL\0\0" + struct.pack("<IIIIIIII", 1, C, layers, count, arch, depth, ord("A"), 0)
b += label.encode().ljust(64, b"\0") + struct.pack("<dd", 0.5, error)
b += b"".join(n.encode().ljust(32, b"\0") for n in names)
b += b"".join(struct.pack("<I", conf[t][p]) for t in range(C) for p in range(C))
b += b"".join(struct.pack("<d", 1.0 + 0.1 * ((i * 7) % 5) + (0.5 if arch == 0 else 0)) for i in range(layers))
b += struct.pack("<I", zlib.crc32(b))
open(path, "wb").write(b)
PY
}

# PNG: signature, IHDR size WxH, and the pixels are not all one colour.
check_png() {
    python3 - "$1" "$2" "$3" <<'PY'
import struct, sys, zlib
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
assert data[12:16] == b"IHDR", "no IHDR"
width, height = struct.unpack(">II", data[16:24])
assert (width, height) == (w, h), f"size {width}x{height}, expected {w}x{h}"
pos, idat = 8, b""
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4]); kind = data[pos + 4:pos + 8]
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
assert len(set(raw)) > 8, "blank image"
PY
}

# SVG: parses as XML, an <svg> of WxH points, with drawn paths.
check_svg() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys, xml.etree.ElementTree as ET
path, w, h = sys.argv[1], sys.argv[2], sys.argv[3]
root = ET.parse(path).getroot()
assert root.tag.endswith("svg"), root.tag
assert root.get("width").rstrip("pt") == w and root.get("height").rstrip("pt") == h, (root.get("width"), root.get("height"))
paths = [e for e in root.iter() if e.tag.endswith("path")]
assert len(paths) > 5, f"only {len(paths)} paths"
PY
}

setup_file() {
    local d="$BATS_FILE_TMPDIR"
    # lr 0.1 for 3 epochs then 0.01; final test errors: Plain-20 10% and 12% (two seeds),
    # Plain-56 14%, ResNet-20 9%, ResNet-56 7%; final train losses 0.20/0.22, 0.40, 0.15, 0.05
    write_metrics "$d/p20s1.metrics" "Plain-20 seed 1" "0.1,2.0,0.7,1.9,0.6;0.1,1.0,0.4,1.1,0.4;0.1,0.6,0.2,0.8,0.3;0.01,0.3,0.1,0.5,0.11;0.01,0.2,0.07,0.45,0.10"
    write_metrics "$d/p20s2.metrics" "Plain-20 seed 2" "0.1,2.1,0.7,1.9,0.6;0.1,1.1,0.4,1.1,0.4;0.1,0.7,0.2,0.8,0.3;0.01,0.3,0.1,0.5,0.13;0.01,0.22,0.08,0.47,0.12"
    write_metrics "$d/p56s1.metrics" "Plain-56 seed 1" "0.1,2.3,0.8,2.2,0.8;0.1,1.5,0.5,1.4,0.5;0.1,1.0,0.3,1.0,0.35;0.01,0.6,0.2,0.7,0.16;0.01,0.4,0.15,0.6,0.14"
    write_metrics "$d/r20s1.metrics" "ResNet-20 seed 1" "0.1,1.8,0.6,1.7,0.5;0.1,0.9,0.3,1.0,0.35;0.1,0.5,0.2,0.7,0.25;0.01,0.2,0.08,0.4,0.10;0.01,0.15,0.05,0.38,0.09"
    write_metrics "$d/r56s1.metrics" "ResNet-56 seed 1" "0.1,1.7,0.6,1.6,0.5;0.1,0.8,0.3,0.9,0.3;0.1,0.4,0.1,0.6,0.2;0.01,0.1,0.03,0.35,0.08;0.01,0.05,0.01,0.3,0.07"
    write_eval "$d/p20.eval" 0 20 "Plain-20" 90 19
    write_eval "$d/p56.eval" 0 56 "Plain-56" 86 55
    write_eval "$d/r20.eval" 1 20 "ResNet-20" 91 19
    write_eval "$d/r56.eval" 1 56 "ResNet-56" 93 55
    rn-init --quiet --arch plain --depth 20 --seed 1 -o "$d/p20.safetensors"
    rn-init --quiet --arch resnet --depth 20 --seed 1 -o "$d/r20.safetensors"
    rn-init --quiet --arch resnet --depth 56 --seed 1 -o "$d/r56.safetensors"
    printf 'label\tResNet-20 seed 1\nbackend\tcpu (2 threads)\ncpu\tTest CPU\ncommit\tabc123\nwall_seconds\t754.2\n' >"$d/r20s1.info"
    printf 'profile\ttest\ncommit\tdeadbeef\n' >"$d/global.info"
}

setup() {
    common_setup
    D="$BATS_FILE_TMPDIR"
    METRICS=("$D/p20s1.metrics" "$D/p20s2.metrics" "$D/p56s1.metrics" "$D/r20s1.metrics" "$D/r56s1.metrics")
    EVALS=("$D/p20.eval" "$D/p56.eval" "$D/r20.eval" "$D/r56.eval")
}

@test "rn-plot --help lists every command; --version" {
    run rn-plot --help
    assert_success
    for c in loss accuracy error lr responses confusion blocks architecture table report; do
        assert_output --partial "  $c"
    done
    run rn-plot --version
    assert_success
    assert_output --partial "rn-plot (rn-cifar)"
    run rn-plot loss --help
    assert_success
    assert_output --partial "--output"
}

@test "metrics figures: PNG and SVG of the documented size, not blank" {
    for f in loss:900:560 accuracy:900:560 lr:900:420 error:1300:520; do
        IFS=: read -r name w h <<<"$f"
        run rn-plot "$name" "${METRICS[@]}" -o "$name.png"
        assert_success
        run check_png "$name.png" "$w" "$h"
        assert_success
        run rn-plot "$name" "${METRICS[@]}" -o "$name.svg"
        assert_success
        run check_svg "$name.svg" "$w" "$h"
        assert_success
    done
}

@test "--width/--height and --title are honoured" {
    run rn-plot loss --width 640 --height 400 --title "My title" "${METRICS[@]}" -o small.png
    assert_success
    run check_png small.png 640 400
    assert_success
}

@test "eval figures (responses, confusion) and the diagrams" {
    run rn-plot responses "${EVALS[@]}" -o responses.png
    assert_success
    run check_png responses.png 1300 520
    assert_success
    run rn-plot confusion "$D/r56.eval" -o confusion.svg
    assert_success
    run check_svg confusion.svg 820 760
    assert_success
    run rn-plot blocks --depth 56 -o blocks.png
    assert_success
    run check_png blocks.png 760 470
    assert_success
    run rn-plot architecture --arch plain --depth 110 -o arch.svg
    assert_success
    run check_svg arch.svg 1300 400
    assert_success
}

@test "several seeds change the picture (mean line with a band)" {
    rn-plot loss "$D/p20s1.metrics" -o one.png
    rn-plot loss "$D/p20s1.metrics" "$D/p20s2.metrics" -o two.png
    run cmp -s one.png two.png
    assert_failure
}

@test "table results: one row per net, mean ± std over seeds, best labelled as test-set selection" {
    run rn-plot table results "${METRICS[@]}" -o results.md
    assert_success
    run cat results.md
    assert_output --partial "test-set selection"
    # Plain-20: final test acc 90 and 88 -> 89.00 ± 1.41; train loss 0.20/0.22 -> 0.2100 ± 0.0141
    assert_output --partial "| Plain-20 | 2 | 5 | 89.00 ± 1.41 | 89.00 ± 1.41 | 0.2100 ± 0.0141 |"
    assert_output --partial "| Plain-56 | 1 | 5 | 86.00 | 86.00 | 0.4000 |"
    assert_output --partial "| ResNet-56 | 1 | 5 | 93.00 | 93.00 | 0.0500 |"
    [ "$(grep -c '^| ' results.md)" -eq 5 ]   # the header and one row per net
}

@test "table results as TSV: mean and std in separate columns, every row the same width" {
    run rn-plot table results "${METRICS[@]}" -o results.tsv
    assert_success
    run awk -F'\t' '{ print NF }' results.tsv
    assert_output "$(printf '11\n11\n11\n11\n11')"
    run awk -F'\t' '$1 == "Plain-20" { print $4, $5 }' results.tsv
    assert_output "89.0000 1.4142"
}

@test "table comparison: the paper's and the study's numbers next to ours" {
    run rn-plot table comparison "${METRICS[@]}" -o comparison.md
    assert_success
    run cat comparison.md
    # ResNet-20: paper 100 - 8.75 = 91.25, study 91.26 final / 91.44 best; ours 91.00
    assert_output --partial "| ResNet-20 | 91.00 | 91.00 | 91.26 | 91.44 | 91.25 | -0.25 | -0.26 |"
    assert_output --partial "| ResNet-56 | 93.00 | 93.00 | 93.43 | 93.58 | 93.03 | -0.03 | -0.43 |"
    assert_output --partial "| Plain-56 | 86.00 | 86.00 | 87.23 | 87.69 | — (not reported) |"
    assert_output --partial "Table 6"
}

@test "table params and network from weights files" {
    run rn-plot table params "$D/p20.safetensors" "$D/r20.safetensors" "$D/r56.safetensors" -o params.md
    assert_success
    run cat params.md
    assert_output --partial "| Plain-20 | plain | 20 | none | 269,722 |"
    assert_output --partial "| ResNet-56 | resnet | 56 | A (zero-pad) | 853,018 |"
    run rn-plot table network "$D/r20.safetensors" "$D/r56.safetensors" -o network.tsv
    assert_success
    run cat network.tsv
    assert_output --partial $'stage2\t16x16\t[3x3, 32; 3x3, 32] x n (first block stride 2)\t6\t18'
    assert_output --partial $'total\t\t6n + 2\t20\t56'
}

@test "table training: the recorded lr schedule; table runs: wall time and backend from info files" {
    run rn-plot table training "${METRICS[@]}" -o training.md
    assert_success
    run cat training.md
    assert_output --partial "0.1 (ep 1-3), 0.01 (ep 4-5)"
    assert_output --partial "| runs (seeds) | 2 (1 2) |"
    run rn-plot table runs "${METRICS[@]}" "$D/r20s1.info" -o runs.md
    assert_success
    run grep "ResNet-20 seed 1" runs.md
    assert_output --partial "| 12.6 min | 500 | cpu (2 threads) | Test CPU |"
    # a run without an info file: the sum of its epochs' seconds
    run grep "Plain-56 seed 1" runs.md
    assert_output --partial "| 10.0 s |"
}

@test "report: directives filled, observations worded by the numbers" {
    cat >t.md <<'EOF'
Profile {{info profile}} at {{info commit}}; nets {{nets}}.
{{table results}}
D: {{obs degradation}}
O: {{obs overfitting}}
F: {{obs residual-fixes}}
T: {{obs residual-trains}}
{{per-net ![NAME](figures/confusion-name.png)}}
EOF
    run rn-plot report --template t.md "${METRICS[@]}" "$D/global.info" -o report.md
    assert_success
    run cat report.md
    refute_output --partial "{{"
    assert_output --partial "Profile test at deadbeef; nets Plain-20, Plain-56, ResNet-20, ResNet-56."
    assert_output --partial "D: **Degradation: yes.** Plain-56 ends 3.00 pp BELOW Plain-20 in final test accuracy (86.00% vs 89.00%)"
    assert_output --partial "O: Plain-56 ends with a HIGHER training loss than Plain-20 (0.4000 vs 0.2100"
    assert_output --partial "**Not overfitting:**"
    assert_output --partial "F: ResNet-56 ends 7.00 pp above Plain-56 in final test accuracy (93.00% vs 86.00%) and 2.00 pp above ResNet-20 (91.00%)"
    assert_output --partial "T: ResNet-56 ends with a LOWER training loss than Plain-56 (0.0500 vs 0.4000, 8.0x lower"
    assert_output --partial "![ResNet-56](figures/confusion-resnet-56.png)"
}

@test "report: no degradation claimed when the deeper plain net is better" {
    # swap the roles: Plain-20's files labelled Plain-56 and the other way round
    write_metrics a.metrics "Plain-56 seed 1" "0.1,0.2,0.07,0.45,0.10"
    write_metrics b.metrics "Plain-20 seed 1" "0.1,0.4,0.15,0.6,0.14"
    printf 'A {{obs degradation}}\nB {{obs overfitting}}\nC {{obs residual-fixes}}\n' >t.md
    run rn-plot report --template t.md a.metrics b.metrics -o report.md
    assert_success
    run cat report.md
    assert_output --partial "A **Degradation: not shown in this run.** Plain-56 ends 4.00 pp above Plain-20"
    refute_output --partial "Degradation: yes"
    assert_output --partial "B Plain-56 ends with a LOWER training loss"
    assert_output --partial "C *Not measurable"
}

@test "report: an unknown directive is an error naming the template line; nothing written" {
    printf 'line one\n{{table nonsense}}\n' >t.md
    run rn-plot report --template t.md "${METRICS[@]}" -o report.md
    assert_failure 1
    assert_output --partial "t.md:2: unknown table 'nonsense'"
    [ "${#lines[@]}" -eq 1 ]
    [ ! -e report.md ]
    [ -z "$(ls -A)" ] || [ "$(ls -A)" = t.md ]
}

@test "usage errors exit 2 with one line: no command, unknown command, no -o, bad suffix, unknown table" {
    run rn-plot
    assert_failure 2
    run rn-plot frobnicate -o x.png
    assert_failure 2
    assert_output --partial "unknown command 'frobnicate'"
    run rn-plot loss "${METRICS[@]}"
    assert_failure 2
    assert_output --partial "give -o OUT"
    run rn-plot loss "${METRICS[@]}" -o out.jpg
    assert_failure 2
    assert_output --partial "out.jpg"
    [ ! -e out.jpg ]
    run rn-plot table nonsense "${METRICS[@]}" -o t.md
    assert_failure 2
    assert_output --partial "unknown table 'nonsense'"
    run rn-plot table results "${METRICS[@]}" -o t.csv
    assert_failure 2
    run rn-plot responses "${METRICS[@]}" -o r.png
    assert_failure 2
    assert_output --partial "no eval files"
    run rn-plot report "${METRICS[@]}" -o r.md
    assert_failure 2
    assert_output --partial "--template"
    run rn-plot architecture --depth 21 -o a.png
    assert_failure 2
    [ ! -e a.png ]
}

@test "bad inputs: missing, truncated, corrupt, not a known kind; one line naming the file, no output" {
    run rn-plot loss missing.metrics -o out.png
    assert_failure 1
    assert_output --partial "missing.metrics"
    [ "${#lines[@]}" -eq 1 ]
    head -c 50 "$D/p20s1.metrics" >trunc.metrics
    run rn-plot loss trunc.metrics -o out.png
    assert_failure 1
    assert_output --partial "trunc.metrics"
    cp "$D/p20s1.metrics" corrupt.metrics
    printf 'X' | dd of=corrupt.metrics bs=1 seek=100 conv=notrunc 2>/dev/null   # inside the first record
    run rn-plot loss corrupt.metrics -o out.png
    assert_failure 1
    assert_output --partial "corrupt.metrics"
    printf '\x01\x02\x00\x00binary junk' >junk.bin
    run rn-plot loss junk.bin -o out.png
    assert_failure 1
    assert_output --partial "junk.bin: not a metrics, eval, weights or info file"
    printf 'no tab on this line\n' >notes.txt
    run rn-plot loss notes.txt -o out.png
    assert_failure 1
    assert_output --partial "notes.txt:1"
    python3 -c "
import struct, zlib
h = b'RNMETRIC' + struct.pack('<II', 1, 80) + b'Plain-20 seed 1'.ljust(64, b'\0')
open('empty.metrics', 'wb').write(h + struct.pack('<II', zlib.crc32(h), 0))"
    run rn-plot loss empty.metrics -o out.png
    assert_failure 1
    assert_output --partial "empty.metrics"
    [ ! -e out.png ]
    [ -z "$(ls -A | grep -v -e '\.metrics$' -e junk.bin -e notes.txt)" ]
}

@test "an output that cannot be written: exit 1, one line, no file left" {
    run rn-plot loss "${METRICS[@]}" -o no/such/dir/loss.png
    assert_failure 1
    assert_output --partial "no/such/dir/loss.png"
    run rn-plot table results "${METRICS[@]}" -o no/such/dir/results.md
    assert_failure 1
    [ ! -e no ]
}
