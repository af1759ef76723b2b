# PROFILE=paper: the reference study's experiment (its chapter 3), the default.
# Plain-20, Plain-56, ResNet-20, ResNet-56 (option A), trained on all 50,000
# training images for 200 epochs, batch 128, lr 0.1 divided by 10 at epochs 100
# and 150, momentum 0.9, weight decay 1e-4 (rn-train's defaults, spelled out
# here so the settings stamps record them), tested on the 10,000 test images
# after every epoch. About 4 x 200 epochs: hours on a GPU, days on this CPU.
PROFILE_TITLE ?= the reference study's experiment
PROTOCOL ?= the study's protocol: train on the full training set, evaluate on the test set after every epoch; final-epoch numbers are reported, and the best-epoch numbers are a selection on the test set (labelled so)
NETS ?= plain-20 plain-56 resnet-20 resnet-56
DATA_TRAIN ?= --train
DATA_TEST ?= --test
TRAIN_FLAGS ?= --epochs 200 --milestones 100,150 --batch 128 --lr 0.1 --momentum 0.9 --weight-decay 1e-4
# Per-net extra options, e.g. TRAIN_FLAGS.resnet-110 := --warmup-iters 400
