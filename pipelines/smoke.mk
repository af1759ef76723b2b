# PROFILE=smoke: the paper profile's four nets and pipeline on a budget of about
# 15 minutes on a 2-core CPU: enough to see the ordering of the training losses
# (deeper plain net above the shallower one, residual nets below), not to
# reproduce the accuracies.
#
# Sizing: one epoch costs about SUBSET x (1/v20 + 1/v56) x 2 seconds for the four
# nets, with v20 (ResNet-20) and v56 (ResNet-56, ~3x the multiply-adds) the training
# speeds in images/s. At ~400 and ~140 img/s a 10,000-image epoch of all four takes
# ~3.3 min, so 4 epochs fit. Retune with SMOKE_PER_CLASS (training images per class),
# SMOKE_EPOCHS and SMOKE_MILESTONES on the command line, e.g.
#   make report PROFILE=smoke SMOKE_EPOCHS=8 SMOKE_MILESTONES=6
PROFILE_TITLE ?= a 15-minute CPU budget version of the study's experiment
SMOKE_PER_CLASS ?= 1000
SMOKE_TEST_PER_CLASS ?= 200
SMOKE_EPOCHS ?= 4
SMOKE_MILESTONES ?= 3
PROTOCOL ?= a short budget: a class-balanced subset of the training set (the first $(SMOKE_PER_CLASS) images of each class), $(SMOKE_EPOCHS) epochs with the learning rate divided by 10 after epoch $(SMOKE_MILESTONES), evaluated after every epoch on the first $(SMOKE_TEST_PER_CLASS) test images of each class; numbers show early training only
NETS ?= plain-20 plain-56 resnet-20 resnet-56
DATA_TRAIN ?= --train --per-class $(SMOKE_PER_CLASS)
DATA_TEST ?= --test --per-class $(SMOKE_TEST_PER_CLASS)
TRAIN_FLAGS ?= --epochs $(SMOKE_EPOCHS) --milestones $(SMOKE_MILESTONES) --batch 128 --lr 0.1 --momentum 0.9 --weight-decay 1e-4
