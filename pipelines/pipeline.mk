# The experiment pipeline (included by the Makefile): dataset files -> initial
# weights -> trainings -> evaluations -> figures, tables -> report.
#
#   make report [PROFILE=paper|smoke|ci|he2016] [SEEDS="1 2 3"] [DEVICE=auto|cpu|cuda] [RUN=...]
#
# PROFILE   pipelines/$(PROFILE).mk: nets, schedule, data, split (default: paper)
# SEEDS     every net is trained once per seed; tables show mean ± std, figures mean + min-max band
#           (SEEDS.<net>, e.g. SEEDS.resnet-110="1 2 3 4 5", gives one net its own seeds)
# DEVICE    passed to rn-train/rn-eval --device (default: auto = the GPU when one is usable)
# RUN       a prefix put before every training command, e.g. RUN='srun --gres=gpu:1' on a
#           Slurm cluster (with make -j8 the trainings run as parallel jobs); empty by default
# CIFAR_DIR the official batches (default: $RN_CACHE/cifar-10-batches-bin, made by `make data`)
# RESULTS_DIR / REPORT_DIR   where results and the report go (default: results/$(PROFILE), report/$(PROFILE))
#
# Bookkeeping: every file depends on exactly what made it: the tool binary, its input
# files, and a settings stamp per step ($(RESULTS_DIR)/settings/*) that holds the
# step's options and is rewritten only when that text changes. So a second `make
# report` does nothing; changing one net's options (TRAIN_FLAGS.<net> in the profile)
# retrains that net only; rebuilding a tool reruns what it made. To keep results
# made by an older binary, tell make the binary is old: make report -o bin/rn-train.
# A training that was interrupted resumes from its checkpoint when nothing it depends
# on changed since the checkpoint was written.

PROFILE ?= paper
PROFILES := $(sort $(filter-out pipeline,$(patsubst pipelines/%.mk,%,$(wildcard pipelines/*.mk))))
ifeq ($(filter $(PROFILE),$(PROFILES)),)
  $(error PROFILE=$(PROFILE): there is no pipelines/$(PROFILE).mk (profiles: $(PROFILES)))
endif

# ---------------------------------------------------------------- profile defaults
# A profile sets these with ?= or :=; the command line overrides both.
SEEDS ?= 1
DEVICE ?= auto
RUN ?=
CIFAR_DIR ?= $(RN_CACHE)/cifar-10-batches-bin
include pipelines/$(PROFILE).mk
RESULTS_DIR ?= results/$(PROFILE)
REPORT_DIR ?= report/$(PROFILE)
# What a profile may change beyond its nets and settings (he2016 does): the
# report's template, the set rn-train evaluates after every epoch (test, or val
# for a profile's own $(R)/data/val.ds rule), and extra rn-eval options.
REPORT_TEMPLATE ?= report/template.md
HELDOUT ?= test
EVAL_FLAGS ?=

R := $(RESULTS_DIR)
P := $(REPORT_DIR)
S := $(R)/settings
PIPE_BIN := $(abspath $(BINDIR))

CIFAR_BATCHES := $(addprefix $(CIFAR_DIR)/,data_batch_1.bin data_batch_2.bin data_batch_3.bin \
                   data_batch_4.bin data_batch_5.bin test_batch.bin)

# net names: plain-20, resnet-56, resnet-20b (shortcut B); runs: <net>-s<seed>
net_arch = $(word 1,$(subst -, ,$(1)))
net_depth = $(patsubst %b,%,$(word 2,$(subst -, ,$(1))))
net_shortcut = $(if $(filter %b,$(1)),B,A)
net_label = $(if $(filter plain,$(call net_arch,$(1))),Plain,ResNet)-$(call net_depth,$(1))$(if $(filter %b,$(1)),B,)
run_net = $(patsubst %-s$(lastword $(subst -s, ,$(1))),%,$(1))
run_seed = $(lastword $(subst -s, ,$(1)))
net_seeds = $(or $(SEEDS.$(1)),$(SEEDS))
RUNS := $(foreach n,$(NETS),$(foreach s,$(call net_seeds,$(n)),$(n)-s$(s)))

# What each step is run with: the settings stamps hold exactly this text.
init_settings = rn-init --arch $(call net_arch,$(1)) --depth $(call net_depth,$(1)) --shortcut $(call net_shortcut,$(1)) --seed $(call run_seed,$(2))
train_settings = $(TRAIN_FLAGS) $(TRAIN_FLAGS.$(1)) --seed $(call run_seed,$(2)) --device $(DEVICE)
DATA_TRAIN_SETTINGS := $(DATA_TRAIN) source=$(abspath $(CIFAR_DIR))
DATA_TEST_SETTINGS := $(DATA_TEST) source=$(abspath $(CIFAR_DIR))
EVAL_SETTINGS := --responses --device $(DEVICE)$(if $(strip $(EVAL_FLAGS)), $(strip $(EVAL_FLAGS)))

# ---------------------------------------------------------------- settings stamps
# Written while make reads this file (not by a rule), and only when the text
# changed: a rule would have to run every time, and `make -q report` could then
# never say "up to date". Only for goals that use the pipeline.
PIPELINE_GOALS := report results trainings evaluations figures tables
write_if_changed = $(shell mkdir -p $(dir $(1)) && { printf '%s\n' '$(2)' | cmp -s - $(1) || printf '%s\n' '$(2)' > $(1); })
ifneq ($(filter $(PIPELINE_GOALS) $(R)/% $(P)/%,$(MAKECMDGOALS)),)
  $(call write_if_changed,$(S)/data-train,$(DATA_TRAIN_SETTINGS))
  $(call write_if_changed,$(S)/data-test,$(DATA_TEST_SETTINGS))
  $(call write_if_changed,$(S)/eval,$(EVAL_SETTINGS))
  $(foreach r,$(RUNS),$(call write_if_changed,$(S)/$(r).init,$(call init_settings,$(call run_net,$(r)),$(r))))
  $(foreach r,$(RUNS),$(call write_if_changed,$(S)/$(r).train,$(call train_settings,$(call run_net,$(r)),$(r))))
endif

.PHONY: $(PIPELINE_GOALS) pipeline-help

# ---------------------------------------------------------------- data
# Without the dataset, `make report` fetches it first (only for the default
# CIFAR_DIR; a CIFAR_DIR given by hand must already hold the batches).
ifeq ($(abspath $(CIFAR_DIR)),$(abspath $(RN_CACHE)/cifar-10-batches-bin))
$(CIFAR_BATCHES) &: | $(BINDIR)/cifar-prep
	$(MAKE) data
else
$(CIFAR_BATCHES):
	@echo "make: $@ is missing: CIFAR_DIR=$(CIFAR_DIR) must hold the official batches (or leave CIFAR_DIR unset: make data fetches them)" >&2; exit 1
endif

$(R)/data/train.ds: $(CIFAR_BATCHES) $(BINDIR)/cifar-prep $(S)/data-train
	@mkdir -p $(@D)
	$(BINDIR)/cifar-prep $(DATA_TRAIN) -o $@ $(CIFAR_DIR)
$(R)/data/test.ds: $(CIFAR_BATCHES) $(BINDIR)/cifar-prep $(S)/data-test
	@mkdir -p $(@D)
	$(BINDIR)/cifar-prep $(DATA_TEST) -o $@ $(CIFAR_DIR)

# ---------------------------------------------------------------- trainings
$(R)/init/%.safetensors: $(BINDIR)/rn-init $(S)/%.init
	@mkdir -p $(@D)
	$(BINDIR)/$(call init_settings,$(call run_net,$*),$*) --quiet -o $@

# One training writes the final weights, the checkpoint, the metrics and the
# run's info file together (a grouped target: one recipe run makes them all).
define training_rule
$(R)/runs/$(1).safetensors $(R)/runs/$(1).ckpt.safetensors $(R)/runs/$(1).metrics $(R)/runs/$(1).info &: \
		$(R)/init/$(1).safetensors $(R)/data/train.ds $(R)/data/$(HELDOUT).ds $(BINDIR)/rn-train $(S)/$(1).train
	@mkdir -p $(R)/runs
	@echo "train $(1): log in $(R)/runs/$(1).log"
	@resume="--init $(R)/init/$(1).safetensors"; ckpt=$(R)/runs/$(1).ckpt.safetensors; \
	if [ -f $$$$ckpt ] && [ -f $(R)/runs/$(1).metrics ] && [ ! -f $(R)/runs/$(1).safetensors ] && \
	   [ -z "$$$$(find $(R)/init/$(1).safetensors $(R)/data/train.ds $(R)/data/$(HELDOUT).ds $(BINDIR)/rn-train \
	              $(S)/$(1).train -newer $$$$ckpt)" ]; then \
		echo "train $(1): resuming from $$$$ckpt"; resume="--resume $$$$ckpt"; \
	else rm -f $$$$ckpt $(R)/runs/$(1).metrics; fi; \
	$(RUN) bash pipelines/run-info.sh $(R)/runs/$(1).info $(R)/runs/$(1).log "$(call net_label,$(call run_net,$(1))) seed $(call run_seed,$(1))" $(GIT_COMMIT) -- \
	$(PIPE_BIN)/rn-train --train $(R)/data/train.ds --test $(R)/data/$(HELDOUT).ds $$$$resume \
		-o $(R)/runs/$(1).safetensors --checkpoint $$$$ckpt --metrics $(R)/runs/$(1).metrics \
		--label "$(call net_label,$(call run_net,$(1))) seed $(call run_seed,$(1))" \
		$(call train_settings,$(call run_net,$(1)),$(1))
endef
$(foreach r,$(RUNS),$(eval $(call training_rule,$(r))))

$(R)/eval/%.eval: $(R)/runs/%.safetensors $(R)/data/test.ds $(BINDIR)/rn-eval $(S)/eval
	@mkdir -p $(@D)
	$(BINDIR)/rn-eval --quiet --weights $< --data $(R)/data/test.ds $(EVAL_SETTINGS) -o $@

# ---------------------------------------------------------------- figures and tables
METRICS := $(RUNS:%=$(R)/runs/%.metrics)
INFOS := $(RUNS:%=$(R)/runs/%.info)
WEIGHTS := $(RUNS:%=$(R)/runs/%.safetensors)
CKPTS := $(RUNS:%=$(R)/runs/%.ckpt.safetensors)
EVALS := $(RUNS:%=$(R)/eval/%.eval)
PLOT := $(BINDIR)/rn-plot
FIG := $(P)/figures
TAB := $(P)/tables
ARCH_NET := $(or $(lastword $(filter resnet-%,$(NETS))),$(firstword $(NETS)))

FIGURES := $(foreach f,loss accuracy error lr responses blocks architecture samples \
             $(NETS:%=confusion-%),$(FIG)/$(f).png $(FIG)/$(f).svg)
FIGURES := $(filter-out $(FIG)/samples.svg,$(FIGURES))
TABLE_NAMES := results params network training comparison runs
TABLES := $(foreach t,$(TABLE_NAMES),$(TAB)/$(t).md $(TAB)/$(t).tsv)

# Static pattern rules: each figure and table is made by its own command.
METRIC_FIGURES := $(foreach f,loss accuracy error lr,$(FIG)/$(f).png $(FIG)/$(f).svg)
$(METRIC_FIGURES): $(FIG)/%: $(METRICS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) $(basename $*) --quiet $(METRICS) -o $@
$(FIG)/responses.png $(FIG)/responses.svg: $(FIG)/%: $(EVALS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) responses --quiet $(EVALS) -o $@
# one confusion matrix per net, summed over its seeds
define confusion_rule
$(FIG)/confusion-$(1).png $(FIG)/confusion-$(1).svg: $(foreach s,$(call net_seeds,$(1)),$(R)/eval/$(1)-s$(s).eval) $(PLOT)
	@mkdir -p $$(@D)
	$(PLOT) confusion --quiet $(foreach s,$(call net_seeds,$(1)),$(R)/eval/$(1)-s$(s).eval) -o $$@
endef
$(foreach n,$(NETS),$(eval $(call confusion_rule,$(n))))
# the diagrams: drawn from the network description of ARCH_NET
DIAGRAM_SETTINGS := --arch $(call net_arch,$(ARCH_NET)) --depth $(call net_depth,$(ARCH_NET)) --shortcut $(call net_shortcut,$(ARCH_NET))
ifneq ($(filter $(PIPELINE_GOALS) $(R)/% $(P)/%,$(MAKECMDGOALS)),)
  $(call write_if_changed,$(S)/diagrams,$(DIAGRAM_SETTINGS))
endif
$(FIG)/blocks.png $(FIG)/blocks.svg: $(PLOT) $(S)/diagrams
	@mkdir -p $(@D)
	$(PLOT) blocks --quiet --depth $(call net_depth,$(ARCH_NET)) -o $@
$(FIG)/architecture.png $(FIG)/architecture.svg: $(PLOT) $(S)/diagrams
	@mkdir -p $(@D)
	$(PLOT) architecture --quiet $(DIAGRAM_SETTINGS) -o $@
$(FIG)/samples.png: $(R)/data/test.ds $(BINDIR)/cifar-prep
	@mkdir -p $(@D)
	$(BINDIR)/cifar-prep --quiet --grid $@ $(R)/data/test.ds

$(foreach t,results comparison,$(TAB)/$(t).md $(TAB)/$(t).tsv): $(TAB)/%: $(METRICS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table $(basename $*) --quiet $(METRICS) -o $@
$(foreach t,params network,$(TAB)/$(t).md $(TAB)/$(t).tsv): $(TAB)/%: $(WEIGHTS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table $(basename $*) --quiet $(WEIGHTS) -o $@
$(TAB)/training.md $(TAB)/training.tsv: $(METRICS) $(CKPTS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table training --quiet $(METRICS) $(CKPTS) -o $@
$(TAB)/runs.md $(TAB)/runs.tsv: $(METRICS) $(INFOS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table runs --quiet $(METRICS) $(INFOS) -o $@

# ---------------------------------------------------------------- the report
# report.info: what the report states about the whole run (profile, protocol,
# commit, hardware, dataset checksums), written by the same recipe as the report.
$(P)/report.md: $(REPORT_TEMPLATE) $(FIGURES) $(TABLES) $(METRICS) $(INFOS) $(CKPTS) $(EVALS) $(PLOT) \
		pipelines/report-info.sh
	@mkdir -p $(@D)
	bash pipelines/report-info.sh "$(PROFILE)" "$(PROFILE_TITLE)" "$(PROTOCOL)" "$(NETS)" "$(SEEDS)" "$(DEVICE)" \
		"$(GIT_COMMIT)" $(R)/data/train.ds $(R)/data/test.ds $(CIFAR_DIR) > $(P)/report.info
	$(PLOT) report --quiet --template $(REPORT_TEMPLATE) $(METRICS) $(INFOS) $(CKPTS) $(EVALS) $(P)/report.info \
		$(REPORT_INPUTS) -o $@
	@if command -v pandoc >/dev/null; then pandoc --standalone --metadata title="rn-cifar report ($(PROFILE))" \
		-o $(P)/report.html $@ && echo "report: $(P)/report.html"; fi
	@echo "report: $@"

report: $(P)/report.md
results: trainings evaluations
trainings: $(WEIGHTS)
evaluations: $(EVALS)
figures: $(FIGURES)
tables: $(TABLES)

pipeline-help:
	@echo "profile $(PROFILE) ($(PROFILE_TITLE)): nets $(NETS), seeds $(SEEDS), device $(DEVICE)"
	@echo "  data:  train '$(DATA_TRAIN)', test '$(DATA_TEST)' from $(CIFAR_DIR)"
	@echo "  train: $(TRAIN_FLAGS)"
	@echo "  into $(R)/ and $(P)/"

# A profile's own figures, tables and inputs of its report (pipelines/rules/<profile>.mk,
# read last, when everything above is defined): it adds them as prerequisites of
# $(P)/report.md and the files rn-plot report reads to REPORT_INPUTS.
-include $(wildcard pipelines/rules/$(PROFILE).mk)
