# PROFILE=ci: the whole pipeline in seconds, for the tests. Depth 8 and 14 nets
# (n = 1, 2; a plain/residual pair at two depths, so every table, figure and
# observation has its inputs), 3 epochs of 100 images with an lr drop, 20 test
# images. The data source is overridable so it runs without the real dataset:
#   make report PROFILE=ci CIFAR_DIR=/path/to/tiny-batches RESULTS_DIR=... REPORT_DIR=...
# (tests/pipeline.bats writes tiny synthetic batches; with the real data the same
# --per-class subsets are taken from it).
PROFILE_TITLE ?= the pipeline's self-test (tiny data, seconds)
PROTOCOL ?= a self-test of the pipeline on 10 training and 2 test images per class: the numbers mean nothing
NETS ?= plain-8 plain-14 resnet-8 resnet-14
DATA_TRAIN ?= --train --per-class 10
DATA_TEST ?= --test --per-class 2
TRAIN_FLAGS ?= --epochs 3 --milestones 2 --batch 25 --lr 0.1 --momentum 0.9 --weight-decay 1e-4 --threads 1
