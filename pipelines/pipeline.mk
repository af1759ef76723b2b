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
#
# Interruptions lose nothing. A run's checkpoint and metrics are its memory: they
# are not make targets, so make never deletes them, and the training's targets are
# the files written only once it finished (final weights, then the info file), kept
# (.PRECIOUS) as is every output a tool writes whole (temp file + rename). A training
# stopped at any moment, by any signal to make or to the tool, resumes from its
# checkpoint when make runs again and nothing it depends on changed since
# (pipelines/resume.sh), and ends with the same weights, metrics and tables as an
# uninterrupted run. Figures, tables and the report depend on the info files, so
# they never draw from a run that has not finished. SIGTERM to make reaches the
# training through pipelines/run-info.sh. SIGINT to make's pid alone (Ctrl-C
# signals the whole group) stops nothing: make waits for what it started, which
# under the lock (below) is the make that runs the rest of the pipeline.
#
# One run per results directory: every pipeline goal takes $(RESULTS_DIR)/.lock
# (pipelines/lock.sh, flock) before make writes anything there. A second `make
# report` on that directory is refused at once with one line naming the holder's
# pid; the lock goes with the last process holding it, so a killed run's lock
# needs no cleaning. tests/crash.bats interrupts the pipeline at many moments.

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

# ---------------------------------------------------------------- one run per results directory
# A pipeline goal is made in two steps: this make takes the results directory's
# lock (pipelines/lock.sh) and runs make again under it with RN_PIPELINE_LOCK set
# to the lock it holds. Only that second make defines the pipeline's rules and
# writes the settings stamps, which make writes while reading this file, before
# any recipe: so two runs on one directory can never both write. The first make
# refuses at once (one line) when the lock is held; lock.sh does again,
# atomically, if two runs start in the same instant.
PIPELINE_GOALS := report results trainings evaluations figures tables reference
PIPELINE_CMDGOALS := $(filter $(PIPELINE_GOALS) $(R)/% $(P)/%,$(MAKECMDGOALS))
PIPELINE_LOCK := $(abspath $(R))/.lock
ifeq ($(PIPELINE_CMDGOALS),)
  PIPELINE_MODE := rules
else ifeq ($(RN_PIPELINE_LOCK),$(PIPELINE_LOCK))
  PIPELINE_MODE := locked
else
  PIPELINE_MODE := lock
endif

.PHONY: $(PIPELINE_GOALS) pipeline-help pipeline-lock

ifeq ($(PIPELINE_MODE),lock)
PIPELINE_HOLDER := $(shell bash pipelines/lock.sh --check $(PIPELINE_LOCK))
$(if $(PIPELINE_HOLDER),$(error $(PIPELINE_HOLDER)))
# make passes its options on to the make it runs, but not -o (--old-file, how a
# rebuilt tool is kept from rerunning what it made) nor -W (--what-if, how
# `make -n -W FILE` shows what a newer FILE would redo): read them from this
# make's own arguments (-o FILE, -oFILE, --old-file[=]FILE, --assume-old[=]FILE,
# and the same forms of -W, --what-if, --new-file, --assume-new).
pipeline_file_opts = $(shell tr '\0' '\n' </proc/$$PPID/cmdline 2>/dev/null | awk 'o { print; o = 0; next } \
	/^($(1))$$/ { o = 1; next } /^--($(2))=/ { sub(/^[^=]*=/, ""); print; next } \
	/^$(3)./ { print substr($$0, 3) }')
PIPELINE_OLD := $(call pipeline_file_opts,-o|--old-file|--assume-old,old-file|assume-old,-o)
PIPELINE_NEW := $(call pipeline_file_opts,-W|--what-if|--new-file|--assume-new,what-if|new-file|assume-new,-W)
$(PIPELINE_CMDGOALS): pipeline-lock ;
pipeline-lock: export RN_PIPELINE_LOCK := $(PIPELINE_LOCK)
pipeline-lock: export RN_PIPELINE_OLD := $(addprefix -o ,$(PIPELINE_OLD))
pipeline-lock: export RN_PIPELINE_NEW := $(addprefix -W ,$(PIPELINE_NEW))
pipeline-lock:
	+@bash pipelines/lock.sh $(PIPELINE_LOCK) $(MAKE) --no-print-directory $$RN_PIPELINE_OLD $$RN_PIPELINE_NEW $(PIPELINE_CMDGOALS)

else
# ---------------------------------------------------------------- settings stamps
# Written while make reads this file (not by a rule), and only when the text
# changed: a rule would have to run every time, and `make -q report` could then
# never say "up to date". Only under the lock, for goals that use the pipeline.
write_if_changed = $(shell mkdir -p $(dir $(1)) && { printf '%s\n' '$(2)' | cmp -s - $(1) || printf '%s\n' '$(2)' > $(1); })
ifeq ($(PIPELINE_MODE),locked)
  $(call write_if_changed,$(S)/data-train,$(DATA_TRAIN_SETTINGS))
  $(call write_if_changed,$(S)/data-test,$(DATA_TEST_SETTINGS))
  $(call write_if_changed,$(S)/eval,$(EVAL_SETTINGS))
  $(foreach r,$(RUNS),$(call write_if_changed,$(S)/$(r).init,$(call init_settings,$(call run_net,$(r)),$(r))))
  $(foreach r,$(RUNS),$(call write_if_changed,$(S)/$(r).train,$(call train_settings,$(call run_net,$(r)),$(r))))
endif

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

# rn-train given as old (make report -o bin/rn-train) does not stop a resume either
PIPELINE_OLD_FILES := $(filter-out -o,$(RN_PIPELINE_OLD))

# One training writes the final weights and then the run's info file: its targets
# (a grouped target: one recipe run makes both), which exist only once the run
# finished. Its checkpoint and metrics, rewritten while it trains, are not targets:
# make deletes the targets of a recipe it interrupts, and these hold the run's
# progress. pipelines/resume.sh removes the targets, then says whether the run
# resumes from its checkpoint; exec makes run-info.sh the recipe's process, so
# make's SIGTERM reaches it (and it passes it to rn-train, which saves and stops).
define training_rule
$(R)/runs/$(1).safetensors $(R)/runs/$(1).info &: \
		$(R)/init/$(1).safetensors $(R)/data/train.ds $(R)/data/$(HELDOUT).ds $(BINDIR)/rn-train $(S)/$(1).train
	@mkdir -p $(R)/runs
	@echo "train $(1): log in $(R)/runs/$(1).log"
	@from=$$$$(bash pipelines/resume.sh $(R)/runs/$(1) $(R)/init/$(1).safetensors \
		$(R)/data/train.ds $(R)/data/$(HELDOUT).ds $(filter-out $(PIPELINE_OLD_FILES),$(BINDIR)/rn-train) $(S)/$(1).train) && \
	exec $(RUN) bash pipelines/run-info.sh $(R)/runs/$(1).info $(R)/runs/$(1).log "$(call net_label,$(call run_net,$(1))) seed $(call run_seed,$(1))" $(GIT_COMMIT) -- \
	$(PIPE_BIN)/rn-train --train $(R)/data/train.ds --test $(R)/data/$(HELDOUT).ds $$$$from \
		-o $(R)/runs/$(1).safetensors --checkpoint $(R)/runs/$(1).ckpt.safetensors --metrics $(R)/runs/$(1).metrics \
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

# Static pattern rules: each figure and table is made by its own command. What
# reads a run's metrics or checkpoint depends on its info file ($(INFOS)), which
# exists only once the run finished, never on the metrics themselves.
METRIC_FIGURES := $(foreach f,loss accuracy error lr,$(FIG)/$(f).png $(FIG)/$(f).svg)
$(METRIC_FIGURES): $(FIG)/%: $(INFOS) $(PLOT)
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
ifeq ($(PIPELINE_MODE),locked)
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

$(foreach t,results comparison,$(TAB)/$(t).md $(TAB)/$(t).tsv): $(TAB)/%: $(INFOS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table $(basename $*) --quiet $(METRICS) -o $@
$(foreach t,params network,$(TAB)/$(t).md $(TAB)/$(t).tsv): $(TAB)/%: $(WEIGHTS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table $(basename $*) --quiet $(WEIGHTS) -o $@
$(TAB)/training.md $(TAB)/training.tsv: $(INFOS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table training --quiet $(METRICS) $(CKPTS) -o $@
$(TAB)/runs.md $(TAB)/runs.tsv: $(INFOS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table runs --quiet $(METRICS) $(INFOS) -o $@

# Outputs that a tool writes whole (temp file, then rename) are complete whenever
# they exist: make keeps them when interrupted instead of deleting what it had
# just finished. Not report.md: its recipe goes on after writing it (report.html),
# and deleting it on an interruption is what makes the next run finish that.
.PRECIOUS: $(R)/data/train.ds $(R)/data/test.ds $(RUNS:%=$(R)/init/%.safetensors) $(WEIGHTS) $(INFOS) \
	$(EVALS) $(FIGURES) $(TABLES)

# ---------------------------------------------------------------- the report
# report.info: what the report states about the whole run (profile, protocol,
# commit, hardware, dataset checksums), written by the same recipe as the report.
$(P)/report.md: $(REPORT_TEMPLATE) $(FIGURES) $(TABLES) $(INFOS) $(EVALS) $(PLOT) \
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
trainings: $(WEIGHTS) $(INFOS)
evaluations: $(EVALS)
figures: $(FIGURES)
tables: $(TABLES)

pipeline-help:
	@echo "profile $(PROFILE) ($(PROFILE_TITLE)): nets $(NETS), seeds $(SEEDS), device $(DEVICE)"
	@echo "  data:  train '$(DATA_TRAIN)', test '$(DATA_TEST)' from $(CIFAR_DIR)"
	@echo "  train: $(TRAIN_FLAGS)"
	@echo "  into $(R)/ and $(P)/"

# ---------------------------------------------------------------- plan, progress, comparison
# `make report` first prints its plan (pipelines/plan.sh: nets, seeds, epochs, the
# device, the wall time estimated from the speed measured on this machine) and
# stops there when PROFILE was not named and a CPU would take over two hours;
# every file of the pipeline waits for it (order-only). Then a watcher shows the
# progress (pipelines/status.sh watch; RN_PROGRESS=0 turns it off, and it is off
# for PROFILE=ci, the tests' profile); at the end the numbers are compared with
# the committed reference run, the study and the paper (pipelines/compare.sh).
# The watcher does not inherit the results directory's lock (fd 9 of
# pipelines/lock.sh): it outlives make by up to one interval, and a run started
# right after this one ended must not find the directory locked by it.
# `make status` prints the progress as a table, from any terminal. None of this
# runs for make -n, -q or -t, or with RN_PLAN=0.
RUN_SPECS = $(foreach r,$(RUNS),'$(r)=$(call train_settings,$(call run_net,$(r)),$(r))')
MAKE_SHORT_FLAGS := $(filter-out -% %=%,$(firstword $(MAKEFLAGS)))
RN_PLAN ?= 1
RN_PROGRESS ?= $(if $(filter ci,$(PROFILE)),0,1)
ifneq ($(and $(filter report,$(MAKECMDGOALS)),$(filter 1,$(RN_PLAN)),$(if $(findstring n,$(MAKE_SHORT_FLAGS))$(findstring q,$(MAKE_SHORT_FLAGS))$(findstring t,$(MAKE_SHORT_FLAGS)),,1)),)
$(CIFAR_BATCHES) $(R)/data/train.ds $(R)/data/test.ds $(RUNS:%=$(R)/init/%.safetensors) $(FIGURES) $(TABLES): | report-plan
report: report-compare
endif
.PHONY: report-plan report-compare status reference
# (exported, not spelled on the command line: a title may hold any quote)
report-plan: export PLAN_PROFILE = $(PROFILE)
report-plan: export PLAN_TITLE = $(PROFILE_TITLE)
report-plan: export PLAN_NETS = $(NETS)
report-plan: export PLAN_SEEDS = $(SEEDS)
report-plan: export PLAN_DEVICE = $(DEVICE)
report-plan: export PLAN_DATA_TRAIN = $(DATA_TRAIN)
report-plan: export PLAN_DATA_TEST = $(DATA_TEST)
report-plan: export PLAN_NAMED = $(if $(filter command environment,$(origin PROFILE)),1,0)
report-plan: $(BINDIR)/rn-train $(BINDIR)/rn-init $(BINDIR)/cifar-prep $(BINDIR)/rn-eval
	@bash pipelines/plan.sh $(R) $(BINDIR) $(RUN_SPECS)
	@$(if $(filter 1,$(RN_PROGRESS)),bash pipelines/status.sh watch '$(PROFILE)' $(R) $(BINDIR) $$PPID $(RUN_SPECS) 9>&- &,:)
report-compare: $(P)/report.md
	@bash pipelines/compare.sh '$(PROFILE)' $(P) $(PLOT) $(METRICS)
status:
	@bash pipelines/status.sh table '$(PROFILE)' $(R) $(BINDIR) $(RUN_SPECS)
# `make reference`: keep this run as the profile's reference, to be committed: the
# small files the report was made from (metrics, info and eval files, report.info;
# not the datasets, checkpoints or weights) into $(P)/reference/.
reference: $(P)/report.md
	@rm -rf $(P)/reference && mkdir -p $(P)/reference
	cp $(METRICS) $(INFOS) $(EVALS) $(P)/report.info $(P)/reference/
	@echo "reference: $(P)/reference/ holds the files of this run; commit $(P)/ to publish it"

# A profile's own figures, tables and inputs of its report (pipelines/rules/<profile>.mk,
# read last, when everything above is defined): it adds them as prerequisites of
# $(P)/report.md and the files rn-plot report reads to REPORT_INPUTS.
-include $(wildcard pipelines/rules/$(PROFILE).mk)

endif # PIPELINE_MODE
