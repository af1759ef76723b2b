#!/usr/bin/env bash
# install-deps.sh [--fuzz] [--list | --check]
#
# The one list of what building, testing and running the report needs on
# Debian/Ubuntu, and the one place that installs it. `make`, `make test`,
# `make report` and .ci/run all call this script.
#
#   (no option)  install what is missing, saying what: as root with apt-get,
#                else through `sudo -n` (sudo without a password); when neither
#                works, print the one command that would, and exit 1
#   --check      only say what is missing (exit 1 when something is)
#   --list       print the package list and exit
#   --fuzz       also what `make fuzz` needs: clang and its libFuzzer runtime
#
# Nothing is printed when nothing is missing. RN_DEPS=0 in the environment
# skips the script (another distribution, or a hand-made set-up): the Makefile
# then still names any missing library itself.
set -uo pipefail

# Debian packages, checked with dpkg-query.
PACKAGES=(build-essential pkg-config bats bats-assert bats-support libpng-dev libcjson-dev
          libcairo2-dev ca-certificates)
# Programs that may come from outside Debian (node's npm, pyenv's python3): the
# Debian package is installed only when the command is missing, so an existing
# install is not fought. python3 runs the tests' fixtures; npm or curl fetches
# the dataset.
COMMANDS=(python3:python3 npm:npm curl:curl)
# Only for fuzzing (make fuzz, make fuzz-ci, CI): the compiler with libFuzzer,
# whose runtime Debian ships apart from clang.
FUZZ_PACKAGES=(clang libclang-rt-dev)

mode=install
if [ "${1:-}" = --fuzz ]; then PACKAGES+=("${FUZZ_PACKAGES[@]}"); shift; fi
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    --list) printf '%s\n' "${PACKAGES[@]}" "${COMMANDS[@]#*:}"; exit 0 ;;
    -h|--help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option '$1' (--fuzz, --check, --list or none)" >&2; exit 2 ;;
esac
[ "${RN_DEPS:-1}" = 0 ] && exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: nothing to install with; the Makefile names missing libraries.
    exit 0
fi

missing=()
# One dpkg-query for the whole list (this runs on every make): a package it does
# not know prints nothing or a status without "installed".
declare -A installed=()
while read -r name status; do
    [ "$status" = "install ok installed" ] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null)
for p in "${PACKAGES[@]}"; do
    [ -n "${installed[$p]:-}" ] || missing+=("$p")
done
for pc in "${COMMANDS[@]}"; do
    command -v "${pc%%:*}" >/dev/null 2>&1 || missing+=("${pc#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$mode" = check ]; then
    echo "install-deps: missing: ${missing[*]}" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    as=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as=(sudo -n)
else
    echo "install-deps: missing ${missing[*]}: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]} (apt-get${as:+ through sudo})" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${as[@]}" apt-get update -q >&2 || ! "${as[@]}" apt-get install -y -q "${missing[@]}" >&2; then
    echo "install-deps: apt-get install ${missing[*]} failed (see above; run it by hand: ${as:+sudo }apt-get install -y ${missing[*]})" >&2
    exit 1
fi
echo "install-deps: installed ${missing[*]}" >&2
