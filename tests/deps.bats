#!/usr/bin/env bats
# scripts/install-deps.sh, the one list of packages, without installing anything:
# dpkg-query, id, sudo and apt-get are stubs on PATH, and apt-get only records
# how it was called. PATH holds nothing else, so python3, npm and curl are
# "missing" unless a test adds a stub for them.

load helpers/common

setup() {
    common_setup
    STUB="$BATS_TEST_TMPDIR/stub"
    mkdir -p "$STUB"
    # dpkg-query: every package installed except those named in $MISSING
    cat >"$STUB/dpkg-query" <<'SH'
#!/bin/bash
shift 2   # -W -f=FORMAT
for p in "$@"; do
    case " $MISSING " in *" $p "*) echo "$p deinstall ok config-files" ;; *) echo "$p install ok installed" ;; esac
done
SH
    printf '#!/bin/bash\necho "${UID_STUB:-0}"\n' >"$STUB/id"
    # sudo: works without a password only when SUDO_OK=1; runs its command
    printf '#!/bin/bash\n[ "${SUDO_OK:-0}" = 1 ] || exit 1\n[ "$1" = -n ] && shift\n[ "$1" = true ] && exit 0\necho "sudo $*" >>"$BATS_TEST_TMPDIR/calls"\n"$@"\n' >"$STUB/sudo"
    printf '#!/bin/bash\necho "apt-get $*" >>"$BATS_TEST_TMPDIR/calls"\n' >"$STUB/apt-get"
    for c in python3 npm curl; do printf '#!/bin/bash\n' >"$STUB/$c"; done
    chmod +x "$STUB"/*
    export BATS_TEST_TMPDIR
}

deps() { PATH="$STUB" /bin/bash "$REPO_ROOT/scripts/install-deps.sh" "$@"; }

@test "install-deps: nothing missing: silent, installs nothing" {
    MISSING="" run deps
    assert_success
    assert_output ""
    [ ! -e calls ]
}

@test "install-deps: as root it installs exactly what is missing and says so" {
    MISSING="libcjson-dev bats" run deps
    assert_success
    assert_line --partial "installing bats libcjson-dev"
    run cat calls
    assert_line --index 0 "apt-get update -q"
    assert_line --index 1 "apt-get install -y -q bats libcjson-dev"
}

@test "install-deps: a command that is missing adds its package; one that exists does not" {
    rm "$STUB/npm"
    MISSING="" run deps
    assert_success
    run cat calls
    assert_line --index 1 "apt-get install -y -q npm"
}

@test "install-deps: not root, sudo without a password: installs through sudo" {
    UID_STUB=1000 SUDO_OK=1 MISSING="libpng-dev" run deps
    assert_success
    run cat calls
    assert_line "sudo apt-get install -y -q libpng-dev"
}

@test "install-deps: not root and no sudo: stops with the one command that would" {
    UID_STUB=1000 SUDO_OK=0 MISSING="libpng-dev libcairo2-dev" run deps
    assert_failure 1
    assert_output "install-deps: missing libpng-dev libcairo2-dev: install them with: sudo apt-get install -y libpng-dev libcairo2-dev"
    [ ! -e calls ]
}

@test "install-deps: --check names what is missing and installs nothing" {
    MISSING="bats-assert" run deps --check
    assert_failure 1
    assert_output "install-deps: missing: bats-assert"
    [ ! -e calls ]
}

@test "install-deps: --list is the list .ci/run relies on" {
    run deps --list
    assert_success
    for p in build-essential pkg-config bats bats-assert bats-support libpng-dev libcjson-dev libcairo2-dev \
             ca-certificates python3 npm curl; do
        assert_line "$p"
    done
}

@test "make: a build goal runs install-deps first and stops with its command" {
    # the real PATH after the stubs: make and the shell are found, the packages are
    # not; RN_DEPS_DONE (set by a make that runs these tests) would skip the check
    unset RN_DEPS_DONE RN_DEPS
    UID_STUB=1000 SUDO_OK=0 MISSING="libcjson-dev" PATH="$STUB:$PATH" \
        run make -C "$REPO_ROOT" --no-print-directory -n BINDIR="$RN_BIN" BUILDDIR="$RN_BUILD" all
    assert_failure
    assert_line --partial "sudo apt-get install -y libcjson-dev"
    assert_line --partial "missing dependencies"
    # goals that build nothing do not check
    UID_STUB=1000 SUDO_OK=0 MISSING="libcjson-dev" PATH="$STUB:$PATH" \
        run make -C "$REPO_ROOT" --no-print-directory help
    assert_success
}
