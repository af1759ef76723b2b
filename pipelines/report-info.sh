#!/usr/bin/env bash
# report-info.sh PROFILE TITLE PROTOCOL NETS SEEDS DEVICE COMMIT TRAIN.ds TEST.ds CIFAR_DIR
#
# Prints what the report states about the whole pipeline run as KEY<TAB>VALUE
# lines (rn-plot report reads them for its {{info KEY}} directives): the
# profile and its settings, the commit, the machine, and the checksums of the
# data the runs used.
set -euo pipefail
[ $# -eq 10 ] || { echo "usage: report-info.sh PROFILE TITLE PROTOCOL NETS SEEDS DEVICE COMMIT TRAIN.ds TEST.ds CIFAR_DIR" >&2; exit 2; }
profile=$1 title=$2 protocol=$3 nets=$4 seeds=$5 device=$6 commit=$7 train=$8 test=$9 cifar=${10}

sum() { sha256sum "$1" | cut -d' ' -f1; }
# the image count is the dataset header's u32 at byte 12 (docs/FORMATS.md)
count() { od -An -tu4 -j12 -N4 "$1" | tr -d ' '; }

printf 'profile\t%s\n' "$profile"
printf 'profile_title\t%s\n' "$title"
printf 'protocol\t%s\n' "$protocol"
printf 'nets\t%s\n' "$nets"
printf 'seeds\t%s\n' "$seeds"
printf 'device\t%s\n' "$device"
printf 'commit\t%s\n' "$commit"
printf 'generated\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'host\t%s\n' "$(hostname)"
printf 'cpu\t%s (%s cores)\n' "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')" "$(nproc)"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || true)
printf 'gpu\t%s\n' "${gpu:-none}"
printf 'train_images\t%s\n' "$(count "$train")"
printf 'test_images\t%s\n' "$(count "$test")"
printf 'train_sha256\t%s\n' "$(sum "$train")"
printf 'test_sha256\t%s\n' "$(sum "$test")"
sources=""
for b in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    [ -f "$cifar/$b.bin" ] && sources+="$b.bin $(sum "$cifar/$b.bin" | cut -c1-16)…; "
done
printf 'source_sha256\t%s\n' "${sources:-not available}"
