# PROFILE=he2016: the paper's own CIFAR-10 experiments (He et al. 2016, section 4.2):
# Table 6, Fig. 6 and Fig. 7, by the paper's protocol. Its figures, tables and
# report rules are in pipelines/rules/he2016.mk; its report template is
# report/he2016-template.md.
#
# Nets: Plain-20/32/44/56 and ResNet-20/32/44/56/110 (option A); XL=1 adds
# ResNet-1202 (19.4M parameters: days on one GPU, off by default).
# Protocol: 64k iterations of batch 128 (rn-train --max-steps; --epochs is only
# an upper bound), lr 0.1 divided by 10 at iterations 32k and 48k, momentum 0.9,
# weight decay 1e-4, pad-4 crop + flip, the per-pixel mean subtracted
# (NORM=pixel; NORM=channel gives the study's per-channel mean/std). ResNet-110
# warms up at lr 0.01: the paper does so "until the training error is below 80%
# (about 400 iterations)"; here a fixed 400 iterations (rn-train --warmup-iters
# 400), HE_WARMUP_ITERS to change it. ResNet-1202 too: the paper does not say,
# but it is deeper than the net that needed it.
# Seeds: ResNet-110 five (the paper reports the best of 5 runs and their mean ±
# std), every other net one: SEEDS="1 2" changes the others, SEEDS.resnet-110=...
# ResNet-110's.
# VAL=1: train on the paper's 45k/5k split (cifar-prep --split train) and
# evaluate the 5k validation images after every epoch (the curves of Fig. 6 are
# then validation error); the test set is evaluated once, on the final weights.
# VAL=0 (default): train on all 50k, the test set after every epoch.
#
# A GPU job: about 9 nets x 64k steps (see README for the estimated time).
# NORM=pixel runs on the CPU backend only (the CUDA data path does not subtract
# a mean image yet): on a GPU today, run `make report PROFILE=he2016 NORM=channel`.
#
# Every size is a variable, so the tests run this very profile at toy size
# (tests/he2016.bats): HE_PLAIN_DEPTHS, HE_RESNET_DEPTHS, HE_DEEP_NET (the net
# with the warm-up and five seeds), XL_NET, HE_FIG7_NETS, HE_ITERS,
# HE_MILESTONES, HE_BATCH, HE_EPOCHS, VAL_SIZE, HE_TRAIN_EXTRA (e.g. --threads 1).
PROFILE_TITLE ?= the paper's CIFAR-10 experiments (He et al. 2016, section 4.2: Table 6, Fig. 6, Fig. 7)
HE_PLAIN_DEPTHS ?= 20 32 44 56
HE_RESNET_DEPTHS ?= 20 32 44 56 110
HE_DEEP_NET ?= resnet-110
XL ?= 0
XL_NET ?= resnet-1202
HE_FIG7_NETS ?= plain-20 plain-56 resnet-20 resnet-56 $(HE_DEEP_NET)
HE_ITERS ?= 64000
HE_MILESTONES ?= 32000,48000
HE_WARMUP_ITERS ?= 400
HE_BATCH ?= 128
HE_EPOCHS ?= 200
HE_TRAIN_EXTRA ?=
NORM ?= pixel
VAL ?= 0
VAL_SIZE ?= 5000

NETS ?= $(HE_PLAIN_DEPTHS:%=plain-%) $(HE_RESNET_DEPTHS:%=resnet-%) $(if $(filter 1,$(XL)),$(XL_NET))
SEEDS.$(HE_DEEP_NET) ?= 1 2 3 4 5
SEEDS.$(XL_NET) ?= 1
ifeq ($(VAL),1)
  DATA_TRAIN ?= --split train --val-size $(VAL_SIZE)
  DATA_VAL ?= --split val --val-size $(VAL_SIZE)
  HELDOUT := val
  HE_HELDOUT_TEXT := the $(VAL_SIZE)-image validation split after every epoch (the test set once, on the final weights)
else
  DATA_TRAIN ?= --train
  HE_HELDOUT_TEXT := the test set after every epoch (final-iteration numbers are reported; nothing is selected on it)
endif
DATA_TEST ?= --test
TRAIN_FLAGS ?= --max-steps $(HE_ITERS) --epochs $(HE_EPOCHS) --milestones $(HE_MILESTONES) --milestone-unit iter \
               --batch $(HE_BATCH) --lr 0.1 --momentum 0.9 --weight-decay 1e-4 --normalize $(NORM) $(HE_TRAIN_EXTRA)
TRAIN_FLAGS.$(HE_DEEP_NET) ?= --warmup-lr 0.01 --warmup-iters $(HE_WARMUP_ITERS)
TRAIN_FLAGS.$(XL_NET) ?= --warmup-lr 0.01 --warmup-iters $(HE_WARMUP_ITERS)
# rn-eval normalises as the training did: the mean image of this profile's training set
EVAL_FLAGS = $(if $(filter pixel,$(NORM)),--normalize pixel --mean-from $(R)/data/train.ds)
REPORT_TEMPLATE := report/he2016-template.md
HE_COMMA := ,
PROTOCOL ?= the paper's (section 4.2): $(HE_ITERS) iterations of batch $(HE_BATCH), lr 0.1 divided by 10 at iterations $(subst $(HE_COMMA), and ,$(HE_MILESTONES)), momentum 0.9, weight decay 1e-4, pad-4 crop and flip, $(if $(filter pixel,$(NORM)),the per-pixel mean of the training set subtracted,per-channel mean/std normalisation (the study's; the paper subtracts the per-pixel mean)); $(subst resnet,ResNet,$(HE_DEEP_NET))$(if $(filter 1,$(XL)), and $(subst resnet,ResNet,$(XL_NET))) warm up at lr 0.01 for $(HE_WARMUP_ITERS) iterations; trained on $(if $(filter 1,$(VAL)),the train/val split's training part,all training images), evaluated on $(HE_HELDOUT_TEXT)
