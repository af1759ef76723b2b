# The he2016 profile's own rules (pipelines/he2016.mk holds its settings), read
# at the end of pipelines/pipeline.mk: the validation split, the paper's Table 6,
# Fig. 6 and Fig. 7, and what its report reads.

# ---------------------------------------------------------------- VAL=1: the 45k/5k split's 5k
ifeq ($(HELDOUT),val)
DATA_VAL_SETTINGS := $(DATA_VAL) source=$(abspath $(CIFAR_DIR))
ifeq ($(PIPELINE_MODE),locked)
  $(call write_if_changed,$(S)/data-val,$(DATA_VAL_SETTINGS))
endif
$(R)/data/val.ds: $(CIFAR_BATCHES) $(BINDIR)/cifar-prep $(S)/data-val
	@mkdir -p $(@D)
	$(BINDIR)/cifar-prep $(DATA_VAL) -o $@ $(CIFAR_DIR)
endif

# NORM=pixel: rn-eval subtracts the training set's mean image, so it reads that set
ifneq ($(strip $(EVAL_FLAGS)),)
$(EVALS): $(R)/data/train.ds
endif

# ---------------------------------------------------------------- what the figures and tables read
# he2016.info: what rn-plot cannot read from the runs' own files: which set the
# per-epoch curves were measured on, and the normalisation (also in each
# checkpoint's recipe). A global info file (no label), KEY<TAB>VALUE.
HE_INFO := $(R)/he2016.info
HE_INFO_SETTINGS := heldout=$(HELDOUT) normalize=$(NORM)
ifeq ($(PIPELINE_MODE),locked)
  $(call write_if_changed,$(S)/he2016-info,$(HE_INFO_SETTINGS))
endif
$(HE_INFO): $(S)/he2016-info
	@mkdir -p $(@D)
	printf 'heldout\t%s\nnormalize\t%s\n' '$(HELDOUT)' '$(NORM)' > $@

# Fig. 7's nets: those of HE_FIG7_NETS that this run trained, every seed
HE_FIG7_EVALS := $(foreach n,$(filter $(HE_FIG7_NETS),$(NETS)),$(foreach s,$(call net_seeds,$(n)),$(R)/eval/$(n)-s$(s).eval))
# Fig. 6's right panel: nets from XL_NET's depth up, beside the deepest below it
HE_DEEP_DEPTH := $(call net_depth,$(XL_NET))

HE_FIGURES := $(foreach f,fig6 fig7,$(FIG)/$(f).png $(FIG)/$(f).svg)
HE_TABLES := $(TAB)/table6.md $(TAB)/table6.tsv

$(FIG)/fig6.png $(FIG)/fig6.svg: $(FIG)/%: $(INFOS) $(HE_INFO) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) fig6 --quiet --deep $(HE_DEEP_DEPTH) $(METRICS) $(HE_INFO) -o $@
$(FIG)/fig7.png $(FIG)/fig7.svg: $(FIG)/%: $(HE_FIG7_EVALS) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) fig7 --quiet $(HE_FIG7_EVALS) -o $@
$(HE_TABLES): $(TAB)/%: $(INFOS) $(EVALS) $(WEIGHTS) $(HE_INFO) $(PLOT)
	@mkdir -p $(@D)
	$(PLOT) table table6 --quiet $(METRICS) $(EVALS) $(CKPTS) $(HE_INFO) -o $@

$(P)/report.md: $(HE_FIGURES) $(HE_TABLES) $(HE_INFO)
REPORT_INPUTS += $(HE_INFO)
figures: $(HE_FIGURES)
tables: $(HE_TABLES)
