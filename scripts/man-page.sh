#!/usr/bin/env bash
# man-page.sh TOOL VERSION: a man page (roff, on stdout) from TOOL --help, so the
# page and --help are one text. The help's layout is the tools' common one
# (lib/opts.c): "Usage: ..." lines, a one-line summary, then paragraphs; a
# heading is an unindented line ending in ':'; an option is an indented line
# starting with '-', its description after a run of two or more spaces, and
# more-indented lines continue it.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: man-page.sh TOOL VERSION" >&2; exit 2; }
tool=$1 version=$2
name=$(basename "$tool")
help=$("$tool" --help)

awk -v name="$name" -v version="$version" '
    function esc(s) {
        gsub(/\\/, "\\e", s)
        gsub(/-/, "\\-", s)
        if (s ~ /^[.\047]/) s = "\\&" s
        return s
    }
    NR == 1 {
        printf ".TH %s 1 \"\" \"rn-cifar %s\" \"User Commands\"\n", toupper(name), version
        sub(/^Usage: */, "")
        synopsis = esc($0); next
    }
    NR == 2 && !/^Usage:/ && !named {
        printf ".SH NAME\n%s \\- %s\n.SH SYNOPSIS\n.nf\n%s\n.fi\n.SH DESCRIPTION\n", name, esc($0), synopsis
        named = 1; next
    }
    !named { sub(/^Usage: */, ""); synopsis = synopsis "\n" esc($0); next }
    # indented lines that are not options (a command list, examples): kept as laid out
    pre && !/^ / { print ".fi"; pre = 0 }
    /^$/ { print ".PP"; inopt = 0; next }
    /^[^ ].*:$/ { sub(/:$/, ""); printf ".SS %s\n", esc($0); inopt = 0; next }
    /^ +-/ {
        line = $0; sub(/^ +/, "", line)
        term = line; desc = ""
        if (match(line, /  +/)) { term = substr(line, 1, RSTART - 1); desc = substr(line, RSTART + RLENGTH) }
        printf ".TP\n.B %s\n%s\n", esc(term), esc(desc)
        inopt = 1; next
    }
    inopt && /^      +/ { line = $0; sub(/^ +/, "", line); print esc(line); next }
    /^ / { if (!pre) print ".nf"; pre = 1; inopt = 0; line = $0; sub(/^  /, "", line); print esc(line); next }
    { print esc($0) }
    END {
        if (pre) print ".fi"
        printf ".SH SEE ALSO\n.BR cifar\\-prep (1),\n.BR rn\\-init (1),\n.BR rn\\-train (1),\n.BR rn\\-eval (1),\n.BR rn\\-plot (1)\n" }
' <<<"$help"
