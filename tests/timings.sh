#!/usr/bin/env bash
# The closing table of `make test`: seconds per part (each unit binary, each
# Bats file), from the "NAME SECONDS" files the runners wrote, slowest first,
# so that slow growth of the suite shows.
set -u
cat "$@" 2>/dev/null | sort -k2,2 -g -r | awk '
    { t += $2; printf "  %-28s %7.1f s\n", $1, $2 }
    END { if (NR) printf "  %-28s %7.1f s\n", "total", t }' | { echo "test: seconds per part"; cat; }
