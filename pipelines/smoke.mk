# PROFILE=smoke: the paper profile's four nets and pipeline on a budget of about
# 15 minutes on a 2-core CPU: enough to see the ordering of the training losses
# (deeper plain net above the shallower one, residual nets below), not to
# reproduce the accuracies.
#
# Sizing: one epoch of the four nets costs about 2 x TRAIN x (1/v20 + 1/v56) seconds
# of training plus 2 x TEST x (1/(3 v20) + 1/(3 v56)) of testing, with v20 (ResNet-20)
# and v56 (ResNet-56, ~3x the multiply-adds) the training speeds in images/s. At
# ~400 and ~130 img/s (2 cores) a 5,000-image epoch with 1,000 test images takes
# ~110 s, so 8 epochs fit in ~15 minutes. Retune on the command line with
# SMOKE_PER_CLASS (training images per class), SMOKE_TEST_PER_CLASS, SMOKE_EPOCHS
# and SMOKE_MILESTONES, e.g. on a loaded machine:
#   make report PROFILE=smoke SMOKE_EPOCHS=4 SMOKE_MILESTONES=3
PROFILE_TITLE ?= a 15-minute CPU budget version of the study's experiment
SMOKE_PER_CLASS ?= 500
SMOKE_TEST_PER_CLASS ?= 100
SMOKE_EPOCHS ?= 8
SMOKE_MILESTONES ?= 6
# A warm-up at lr 0.01 for the first epoch's steps, as the paper does for ResNet-110
# ("0.1 is slightly too large to start converging"): with only ~300 steps in all, a
# 56-layer net that stumbles at lr 0.1 in its first steps (seen here: ResNet-56 at
# loss 3.0 after epoch 1, then stuck at chance) would show nothing. Applied to all
# four nets so they stay comparable; SMOKE_WARMUP_ITERS=0 turns it off.
SMOKE_WARMUP_ITERS ?= 40
PROTOCOL ?= a short budget: a class-balanced subset of the training set (the first $(SMOKE_PER_CLASS) images of each class), $(SMOKE_EPOCHS) epochs with the learning rate divided by 10 after epoch $(SMOKE_MILESTONES), a warm-up at lr 0.01 for the first $(SMOKE_WARMUP_ITERS) steps, evaluated after every epoch on the first $(SMOKE_TEST_PER_CLASS) test images of each class; numbers show early training only
NETS ?= plain-20 plain-56 resnet-20 resnet-56
DATA_TRAIN ?= --train --per-class $(SMOKE_PER_CLASS)
DATA_TEST ?= --test --per-class $(SMOKE_TEST_PER_CLASS)
TRAIN_FLAGS ?= --epochs $(SMOKE_EPOCHS) --milestones $(SMOKE_MILESTONES) --batch 128 --lr 0.1 --momentum 0.9 --weight-decay 1e-4 \
               --warmup-lr 0.01 --warmup-iters $(SMOKE_WARMUP_ITERS)
