#!/usr/bin/env bats
# make install: the five tools and their man pages (made from each tool's --help)
# under DESTDIR/PREFIX; the pages render; make uninstall removes them again.

load helpers/common

TOOLS=(cifar-prep rn-init rn-train rn-eval rn-plot)

imake() { make -C "$REPO_ROOT" --no-print-directory BINDIR="$RN_BIN" BUILDDIR="$RN_BUILD" "$@"; }

@test "make install: tools and man pages into DESTDIR/PREFIX" {
    run imake install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
    assert_success
    for t in "${TOOLS[@]}"; do
        [ -x "$BATS_TEST_TMPDIR/root/usr/bin/$t" ]
        [ -s "$BATS_TEST_TMPDIR/root/usr/share/man/man1/$t.1" ]
    done
    run "$BATS_TEST_TMPDIR/root/usr/bin/rn-init" --version
    assert_success
    run imake uninstall DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
    assert_success
    run find "$BATS_TEST_TMPDIR/root" -type f
    assert_output ""
}

@test "man pages: every option of --help is in the rendered page, without groff warnings" {
    imake man
    for t in "${TOOLS[@]}"; do
        page="$RN_BUILD/man/$t.1"
        run groff -man -Tutf8 -ww -z "$page"
        assert_output ""
        if command -v man >/dev/null; then
            run env MANWIDTH=200 man -P cat -l "$page"
        else
            run groff -man -Tutf8 -P-c "$page"
        fi
        assert_success
        assert_line --regexp "^NAME$"
        rendered=$output
        # every long option the help names appears in the page
        for o in $("$RN_BIN/$t" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
            grep -qF -- "$o" <<<"$rendered" || { echo "$t.1 lacks $o" >&2; return 1; }
        done
    done
}
