#!/usr/bin/env bash
# `make bench`: one speed table of our CPU backend against PyTorch on the same
# machine (when /usr/bin/python3 can import torch; nothing is installed), plus
# the reference kernels as the baseline, 1-vs-2-thread scaling, the fp32 FMA
# rate the cores sustain (bench_peak), the peak RSS of a training process, and
# the GPU rows when a CUDA device is usable.
#
#   make bench                      build, then this script
#   RN_BENCH_STEPS=15               timed steps per measurement (median)
#   RN_BENCH_ROUNDS=3               rounds of ours-then-PyTorch per net (medians)
#   RN_BENCH_EPOCH=2560             images of the scaled epoch (0: skip; 50000: a real one)
#   RN_BENCH_DATASET=FILE.ds        real images for the epoch (default: random)
#   RN_BENCH_NETS="resnet:20 plain:20 resnet:56 plain:56"
#   RN_BENCH_PYTHON=/usr/bin/python3
#
# Columns: "train" is the median training step (forward, loss, backward, SGD)
# at batch 128 on random data; "epoch" is a scaled epoch through the data
# pipeline (order, crop, flip, normalise) plus the test pass over a fifth as
# many images, per training image: the figure the speed targets compare with PyTorch's
# bare step. "eval" is eval mode at batch 1000. Each net runs RN_BENCH_ROUNDS
# rounds, ours then PyTorch's; the table gives the median of each figure, and
# each ratio is the median of the rounds' ratios (ours / PyTorch's in the same
# round), so a slow spell of a shared machine moves one round, not the ratio.
# The ratio's range over the rounds follows it in brackets.
#
# PyTorch runs with glibc's malloc tuned (the issue's peer is "malloc tuned"):
# without it every step returns its activations to the kernel and faults them
# back in, which on this machine halves PyTorch's eval speed. The tuning is
# environment only (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
# MALLOC_TOP_PAD_); nothing is installed. RN_BENCH_TORCH_MALLOC=plain turns it off.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${RN_BUILD:-$here/../../build}"
bench="$build/bench/bench_step"
steps="${RN_BENCH_STEPS:-15}"
rounds="${RN_BENCH_ROUNDS:-3}"
epoch="${RN_BENCH_EPOCH:-2560}"
nets="${RN_BENCH_NETS:-resnet:20 plain:20 resnet:56 plain:56}"
py="${RN_BENCH_PYTHON:-/usr/bin/python3}"
torch_env=(env MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456)
[ "${RN_BENCH_TORCH_MALLOC:-tuned}" = plain ] && torch_env=(env)

[ -x "$bench" ] || { echo "run-bench: $bench not built (run 'make bench')" >&2; exit 1; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "run-bench: RN_BENCH_ROUNDS=$rounds: expected a count >= 1" >&2; exit 1; }

kv() {   # kv KEY LINE: the value of KEY=... in a key=value line, or "-"
    local v
    v=$(sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2")
    echo "${v:--}"
}
ratio() {   # ratio A B: A/B with two decimals, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "-" }'
}
median() {   # median X...: the median of the numbers among the arguments, or "-"
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                                   else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio_range() {   # ratio_range A1 B1 A2 B2 ...: "median (min-max)" of the ratios Ai/Bi, or "-"
    awk 'BEGIN { for (i = 1; i + 1 < ARGC; i += 2) if (ARGV[i] + 0 > 0 && ARGV[i + 1] + 0 > 0) r[++n] = ARGV[i] / ARGV[i + 1];
                 if (!n) { print "-"; exit }
                 for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
                 m = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
                 if (n == 1) printf "%.2fx", m; else printf "%.2fx (%.2f-%.2f)", m, r[1], r[n] }' "$@"
}
median_range() {   # median_range X...: "median (min-max)" of ratios already made, or "-"
    local args=() x
    for x in "$@"; do args+=("$x" 1); done
    ratio_range "${args[@]}"
}
label() {   # label ARCH DEPTH
    case "$1" in resnet) echo "ResNet-$2" ;; plain) echo "Plain-$2" ;; esac
}

have_torch=0
if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
    have_torch=1
fi
ds_opt=()
[ -n "${RN_BENCH_DATASET:-}" ] && ds_opt=(--dataset "$RN_BENCH_DATASET")

echo "# rn-cifar bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
if [ "$have_torch" = 1 ]; then
    echo "# PyTorch: $("$py" -c 'import torch; print(torch.__version__)') via $py, 2 threads, channels_last," \
         "glibc malloc $([ ${#torch_env[@]} -gt 1 ] && echo "tuned (${torch_env[*]:1})" || echo "untuned")"
else
    echo "# PyTorch: not importable by $py (install Debian's python3-torch for the comparison)"
fi
echo "# steps per median: $steps; scaled epoch: $epoch training images + $((epoch / 5)) test images;" \
     "rounds per net: $rounds (figures: medians; ratios: median of the rounds' ratios (range))"
echo
printf '| %-10s | %9s | %9s | %9s | %9s | %9s | %-19s | %-19s | %8s |\n' net "train/s" "epoch/s" "eval/s" \
    "torch tr/s" "torch ev/s" "epoch/torch" "eval/torch" "RSS MiB"
printf '|%s|\n' "------------|-----------|-----------|-----------|------------|------------|---------------------|---------------------|----------"
for spec in $nets; do
    arch=${spec%%:*} depth=${spec##*:}
    tr=() ep=() ev=() ttr=() tev=() ep_pairs=() ev_pairs=() rss=()
    for ((r = 0; r < rounds; r++)); do
        ours=$("$bench" --arch "$arch" --depth "$depth" --steps "$steps" --epoch-images "$epoch" "${ds_opt[@]}")
        torch_line=""
        [ "$have_torch" = 1 ] && torch_line=$("${torch_env[@]}" "$py" "$here/pytorch_bench.py" --arch "$arch" \
            --depth "$depth" --steps "$steps" --threads 2 2>/dev/null)
        tr+=("$(kv train_img_s "$ours")") ep+=("$(kv epoch_img_s "$ours")") ev+=("$(kv eval_img_s "$ours")")
        ttr+=("$(kv train_img_s "$torch_line")") tev+=("$(kv eval_img_s "$torch_line")")
        rss+=("$(kv rss_mib "$ours")")
        ep_pairs+=("${ep[r]}" "${ttr[r]}") ev_pairs+=("${ev[r]}" "${tev[r]}")
    done
    printf '| %-10s | %9s | %9s | %9s | %10s | %10s | %-19s | %-19s | %8s |\n' "$(label "$arch" "$depth")" \
        "$(median "${tr[@]}")" "$(median "${ep[@]}")" "$(median "${ev[@]}")" "$(median "${ttr[@]}")" \
        "$(median "${tev[@]}")" "$(ratio_range "${ep_pairs[@]}")" "$(ratio_range "${ev_pairs[@]}")" \
        "$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)"
done
echo

# The baseline the fast paths are measured against, and thread scaling.
ref=$("$bench" --reference --steps 3 --warmup 1)
one=() two=() scale=()
for ((r = 0; r < rounds; r++)); do
    line=$("$bench" --scaling --threads 2 --steps "$steps")
    one+=("$(kv one_thread_img_s "$line")") two+=("$(kv train_img_s "$line")") scale+=("$(kv scaling "$line")")
done
echo "ResNet-20 reference kernels (cpu-ref): train $(kv train_img_s "$ref")/s, eval $(kv eval_img_s "$ref")/s;" \
     "fast paths: $(ratio "$(median "${two[@]}")" "$(kv train_img_s "$ref")") the reference's training speed"
echo "ResNet-20 thread scaling (steps on 1 and 2 threads in turn, one process per round):" \
     "1 thread $(median "${one[@]}")/s, 2 threads $(median "${two[@]}")/s:" \
     "$(median_range "${scale[@]}") (target 1.8x)"

# What the arithmetic allows: the FMA rate a core sustains (not the chip's
# nominal peak), and how close our Winograd GEMM gets to it.
peak="$build/bench/bench_peak"
if [ -x "$peak" ]; then
    p=$("$peak")
    echo "fp32 FMA rate sustained: one core $(kv fma_gflops_1t "$p") GFLOP/s, both $(kv fma_gflops_2t "$p") GFLOP/s;" \
         "the Winograd products (rn_fast_gemm_nn) on one core: $(kv gemm_gflops "$p") GFLOP/s" \
         "($(awk -v a="$(kv gemm_gflops "$p")" -v b="$(kv fma_gflops_1t "$p")" \
             'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.0f%%", 100 * a / b; else print "-" }') of a core's FMA rate)"
fi

# Peak resident memory of a training process (model, activations, workspace) at batch 128.
for depth in 56 110; do
    r=$("$bench" --depth "$depth" --steps 2 --warmup 1 --no-eval)
    echo "ResNet-$depth training process at batch 128: peak RSS $(kv rss_mib "$r") MiB" \
         "(target < $([ "$depth" = 56 ] && echo 1024 || echo 2048) MiB)"
done

# GPU rows, when a CUDA device is usable (the backend says so when it is not).
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo
    echo "# GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
    gpu_py=""   # the first python whose torch sees the GPU (Debian's is CPU-only)
    for p in "$py" python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
            gpu_py=$p
            echo "# PyTorch on the GPU: $("$p" -c 'import torch; print(torch.__version__)') via $p"
            break
        fi
    done
    for spec in $nets; do
        arch=${spec%%:*} depth=${spec##*:}
        g=$("$bench" --device cuda --arch "$arch" --depth "$depth" --steps "$steps" 2>&1 | tail -1)
        t=""
        [ -n "$gpu_py" ] && t=$("$gpu_py" "$here/pytorch_bench.py" --device cuda --arch "$arch" --depth "$depth" \
            --steps "$steps" 2>/dev/null)
        echo "$(label "$arch" "$depth") cuda: ours train $(kv train_img_s "$g")/s eval $(kv eval_img_s "$g")/s;" \
             "torch fp32 train $(kv train_img_s "$t")/s eval $(kv eval_img_s "$t")/s," \
             "AMP train $(kv amp_train_img_s "$t")/s eval $(kv amp_eval_img_s "$t")/s"
    done
fi
