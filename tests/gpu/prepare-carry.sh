#!/usr/bin/env bash
# Prepares tmp/gpu/ (git-ignored) on the development machine for
# tests/gpu/device-check.sh on a GPU machine that has nvcc and PyTorch but
# maybe neither the -dev packages the build needs nor the dataset, and no
# network:
#   tmp/gpu/deps/   libpng and cJSON headers + shared libraries, and a small
#                   pkg-config stand-in that serves them (used only when the
#                   machine's own pkg-config cannot find them)
#   tmp/gpu/data/   train-10k.ds (1,000 images per class of the official
#                   training set) and test-5k.ds (500 per class of the test set)
# About 48 MB in all, under the 64 MiB a device call can carry.
#
# usage: bash tests/gpu/prepare-carry.sh   (needs `make data` done: $RN_CACHE/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=tmp/gpu
cache=${RN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rn-cifar}
src=$cache/cifar-10-batches-bin
[ -d "$src" ] || { echo "prepare-carry: $src not found (run 'make data' first)" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest/deps/include" "$dest/deps/lib" "$dest/deps/bin" "$dest/data"

# ---- libraries: headers, the versioned .so and a link-time name
cp -r /usr/include/libpng16 "$dest/deps/include/"
cp -r /usr/include/cjson "$dest/deps/include/"
libdir=$(pkg-config --variable=libdir libpng)
for lib in libpng16.so.16 libcjson.so.1; do
    cp -L "$libdir/$lib" "$dest/deps/lib/$lib"
    ln -s "$lib" "$dest/deps/lib/${lib%.so.*}.so"
done
cat > "$dest/deps/bin/pkg-config" <<'SHIM'
#!/bin/sh
# pkg-config stand-in for the device machine: answers --exists/--cflags/--libs
# for libpng and libcjson from tmp/gpu/deps; anything else is "not found".
deps=$(cd "$(dirname "$0")/.." && pwd)
mode= pkg=
for a in "$@"; do
    case "$a" in --exists|--cflags|--libs) mode=$a ;; -*) ;; *) pkg=$a ;; esac
done
case "$pkg" in
libpng) cflags="-I$deps/include/libpng16" libs="-L$deps/lib -Wl,-rpath,$deps/lib -lpng16" ;;
libcjson) cflags="-I$deps/include -I$deps/include/cjson" libs="-L$deps/lib -Wl,-rpath,$deps/lib -lcjson" ;;
*) exit 1 ;;
esac
case "$mode" in
--cflags) echo "$cflags" ;;
--libs) echo "$libs" ;;
esac
exit 0
SHIM
chmod +x "$dest/deps/bin/pkg-config"

# ---- data: class-balanced subsets of the real dataset
make -s CUDA=0 BUILDDIR=tmp/gpu-build BINDIR=tmp/gpu-build/bin tmp/gpu-build/bin/cifar-prep
tmp/gpu-build/bin/cifar-prep --train --per-class 1000 -o "$dest/data/train-10k.ds" "$src"
tmp/gpu-build/bin/cifar-prep --test --per-class 500 -o "$dest/data/test-5k.ds" "$src"
rm -rf tmp/gpu-build
du -sh "$dest"
echo "prepare-carry: ready; carry [\"tmp/gpu\"] with tests/gpu/device-check.sh"
