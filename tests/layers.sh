#!/usr/bin/env bash
# The layers of the code (docs/DESIGN.md) from the #include lines themselves:
# every quoted include of every C/CUDA file under lib/, kernels/ and tools/ is
# resolved to a file (the includer's directory first, then lib/, kernels/,
# lib/engine/, lib/plot/, as the compilers search) and the edge between the
# two files' layers must point down or stay in the layer:
#   base    lib/*            may include: base
#   kernels kernels/**       base, kernels
#   engine  lib/engine/*     base, kernels, engine
#   plot    lib/plot/*       base, plot
#   tools   tools/*          everything
# Prints the graph between layers (edges and how many includes make each);
# exits 1 naming every include that runs back up or does not resolve.
#   usage: tests/layers.sh [ROOT]   (default: the repository this script is in)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || { echo "layers.sh: $root: no such directory" >&2; exit 2; }

layer_of() {
    case $1 in
        lib/engine/*) echo engine ;;
        lib/plot/*) echo plot ;;
        lib/*) echo base ;;
        kernels/*) echo kernels ;;
        tools/*) echo tools ;;
        *) echo outside ;;
    esac
}
allowed() {   # allowed FROM TO
    case $1:$2 in
        base:base | kernels:base | kernels:kernels | engine:base | engine:kernels | engine:engine) return 0 ;;
        plot:base | plot:plot | tools:*) return 0 ;;
    esac
    return 1
}

declare -A count
bad=0
while IFS= read -r file; do
    from=$(layer_of "$file")
    dir=$(dirname "$file")
    while IFS= read -r name; do
        target=
        for d in "$dir" lib kernels lib/engine lib/plot; do
            if [[ -f $d/$name ]]; then
                target=$d/$name
                break
            fi
        done
        if [[ -z $target ]]; then
            echo "layers.sh: $file includes \"$name\", which is no file of the tree (a system header goes in <>)" >&2
            bad=1
            continue
        fi
        target=$(realpath --relative-to=. "$target")
        to=$(layer_of "$target")
        count[$from -\> $to]=$((${count[$from -\> $to]:-0} + 1))
        if ! allowed "$from" "$to"; then
            echo "layers.sh: $file ($from) includes $target ($to): an include running back up (docs/DESIGN.md, \"Layers of the code\")" >&2
            bad=1
        fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find lib kernels tools -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)

for edge in "${!count[@]}"; do
    printf '%-22s %4d includes\n' "$edge" "${count[$edge]}"
done | sort
exit $bad
