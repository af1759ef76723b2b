# rn-cifar: build the tools, run the tests, and (through pipelines/*.mk) run the experiments.
#
#   make            build every tool into bin/ and its man page into build/man/
#   make test       all tests (C unit tests + Bats)
#   make install    the tools and man pages into $(DESTDIR)$(PREFIX) (PREFIX=/usr/local)
#   make report     the whole pipeline for PROFILE (default: paper)
#   make help       every target and variable
#
# Build variables (override on the command line):
#   BUILDDIR=build  BINDIR=bin  CC=gcc  SAN=1 (ASan+UBSan)  CUDA=0 (skip the CUDA backend)
#   CUDA_HOME=/usr/local/cuda  CUDNN_HOME=$(CUDA_HOME)  CUDA_ARCH="80 86 89 90"

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILDDIR ?= build
BINDIR   ?= bin
CC       ?= gcc
OPT      ?= -O2
ARCHFLAGS ?= -march=native
CSTD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     := -Wall -Wextra -Werror -Wno-unknown-pragmas
CFLAGS   ?= $(OPT) -g $(ARCHFLAGS)
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -fopenmp $(INCLUDES) -MMD -MP
LDLIBS   := -lm
SAN      ?= 0
ifeq ($(SAN),1)
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  CUDA := 0
  # clang warns when it cannot vectorise an `omp simd` loop, and under ASan's
  # instrumentation it cannot: a lost hint in a checking build, not an error.
  ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
    CFLAGS += -Wno-pass-failed
  endif
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
ALL_CFLAGS += -DRN_VERSION='"$(VERSION)"'

# ---------------------------------------------------------------- dependencies
# Only goals that compile need the libraries; `make help`, `make clean` do not.
NEED_DEPS := $(if $(filter-out help clean distclean data status,$(or $(MAKECMDGOALS),all)),1,)
# First install what is missing (scripts/install-deps.sh holds the one list; it
# says what it installs, or names the command that would when it cannot), once
# per top-level make; RN_DEPS=0 skips it.
ifeq ($(NEED_DEPS)$(RN_DEPS_DONE),1)
  $(shell bash scripts/install-deps.sh $(if $(filter fuzz fuzz-ci fuzz-build,$(MAKECMDGOALS)),--fuzz) >&2)
  ifneq ($(.SHELLSTATUS),0)
    $(error missing dependencies (see above))
  endif
  export RN_DEPS_DONE := 1
endif
define need_pkg # $(1)=pkg-config name, $(2)=Debian package
$(if $(shell pkg-config --exists $(1) && echo y),,$(error missing library $(1): install it with 'apt-get install $(2)'))
endef
ifeq ($(NEED_DEPS),1)
  $(call need_pkg,libpng,libpng-dev)
  $(call need_pkg,libcjson,libcjson-dev)
endif
PNG_CFLAGS   := $(shell pkg-config --cflags libpng 2>/dev/null)
PNG_LIBS     := $(shell pkg-config --libs libpng 2>/dev/null)
CJSON_CFLAGS := $(shell pkg-config --cflags libcjson 2>/dev/null)
CJSON_LIBS   := $(shell pkg-config --libs libcjson 2>/dev/null)
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo 2>/dev/null)
CAIRO_LIBS   := $(shell pkg-config --libs cairo 2>/dev/null)
ALL_CFLAGS += $(PNG_CFLAGS) $(CJSON_CFLAGS)
LDLIBS     += $(PNG_LIBS) $(CJSON_LIBS)

# ---------------------------------------------------------------- CUDA backend
CUDA_HOME  ?= /usr/local/cuda
CUDNN_HOME ?= $(CUDA_HOME)
CUDA_ARCH  ?= 80 86 89 90
NVCC       := $(CUDA_HOME)/bin/nvcc
CUDA_FOUND := $(if $(and $(wildcard $(NVCC)),$(wildcard $(CUDNN_HOME)/include/cudnn.h)),1,0)
CUDA       ?= $(CUDA_FOUND)
ifeq ($(CUDA),1)
  CUDA_SRCS := $(wildcard kernels/cuda/*.cu)
  CUDA_OBJS := $(CUDA_SRCS:%.cu=$(BUILDDIR)/%.o)
  NVCC_GENCODE := $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
                  -gencode arch=compute_$(lastword $(CUDA_ARCH)),code=compute_$(lastword $(CUDA_ARCH))
  NVCCFLAGS  ?= -O3 -g
  ALL_NVCCFLAGS = $(NVCCFLAGS) -std=c++17 $(NVCC_GENCODE) -Ilib -Ikernels -I$(CUDNN_HOME)/include \
                  -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings -DRN_HAVE_CUDA=1 -MMD -MP
  ALL_CFLAGS += -DRN_HAVE_CUDA=1
  LDLIBS     += -L$(CUDA_HOME)/lib64 -L$(CUDNN_HOME)/lib64 -L$(CUDNN_HOME)/lib \
                -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDNN_HOME)/lib64 -Wl,-rpath,$(CUDNN_HOME)/lib \
                -lcudnn -lcudart -lstdc++
else
  CUDA_OBJS :=
  # Off on purpose (CUDA=0, SAN=1) although nvcc and cuDNN are there: test_cuda then
  # skips on a GPU machine instead of failing as a build that lost its backend does.
  ifeq ($(CUDA_FOUND),1)
    ALL_CFLAGS += -DRN_CUDA_OFF_ON_PURPOSE=1
  endif
  # Said once (sub-makes inherit RN_CUDA_NOTE_SAID), and only when the toolchain
  # is missing: CUDA=0 and SAN=1 turn the backend off on purpose.
  ifeq ($(NEED_DEPS)$(CUDA_FOUND)$(RN_CUDA_NOTE_SAID),10)
    $(info make: nvcc or cuDNN not found ($(NVCC), $(CUDNN_HOME)/include/cudnn.h): building without the CUDA backend (set CUDA_HOME / CUDNN_HOME to enable it))
    export RN_CUDA_NOTE_SAID := 1
  endif
endif

# ---------------------------------------------------------------- sources
# The layers (docs/DESIGN.md): the base (lib/*.c) sees only itself; the
# backends (kernels/) the base too; the engine (lib/engine/) both; tools and
# tests everything. Each layer compiles with the include path of what it may
# use, so an include that runs back up does not compile (tests/layers.sh, run
# by `make test`, checks the #include lines themselves).
BASE_SRCS    := $(wildcard lib/*.c)
KERNEL_SRCS  := $(wildcard kernels/*.c) $(wildcard kernels/cpu/*.c)
ENGINE_SRCS  := $(wildcard lib/engine/*.c)
INC_BASE     := -Ilib
INC_KERNELS  := -Ilib -Ikernels
INC_ENGINE   := -Ilib -Ikernels -Ilib/engine
INCLUDES     := $(INC_ENGINE)
$(BASE_SRCS:%.c=$(BUILDDIR)/%.o): INCLUDES := $(INC_BASE)
$(KERNEL_SRCS:%.c=$(BUILDDIR)/%.o): INCLUDES := $(INC_KERNELS)
LIB_SRCS    := $(BASE_SRCS) $(KERNEL_SRCS) $(ENGINE_SRCS)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILDDIR)/%.o) $(CUDA_OBJS)
LIBRN       := $(BUILDDIR)/librn.a
TOOLS       := cifar-prep rn-init rn-train rn-eval rn-plot
TOOL_BINS   := $(TOOLS:%=$(BINDIR)/%)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILDDIR)/tests/%)
BENCH_SRCS  := $(wildcard tests/bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:tests/bench/%.c=$(BUILDDIR)/bench/%)

.PHONY: all tools man install uninstall clean distclean test test-unit test-bats help bench data check-cuda mutants
all: tools man
tools: $(TOOL_BINS)

# Objects depend on the flags they were built with: switching CUDA=0/1, SAN or
# CFLAGS in the same BUILDDIR rebuilds instead of linking stale objects.
FLAGS_STAMP := $(BUILDDIR)/.flags
FLAGS_NOW   := $(CC) $(ALL_CFLAGS) CUDA=$(CUDA) $(LDFLAGS) $(LDLIBS)
ifeq ($(NEED_DEPS),1)
  ifneq ($(FLAGS_NOW),$(file <$(FLAGS_STAMP)))
    $(shell mkdir -p $(BUILDDIR))
    $(file >$(FLAGS_STAMP),$(FLAGS_NOW))
  endif
endif

$(BUILDDIR)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(BUILDDIR)/%.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(NVCC) $(ALL_NVCCFLAGS) -c $< -o $@
$(LIBRN): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# rn-plot alone needs cairo; its drawing code lives in lib/plot/, linked into it only.
PLOT_SRCS := $(wildcard lib/plot/*.c)
PLOT_OBJS := $(PLOT_SRCS:%.c=$(BUILDDIR)/%.o)
$(BUILDDIR)/tools/rn-plot.o $(PLOT_OBJS): ALL_CFLAGS += $(CAIRO_CFLAGS) -Ilib/plot
$(PLOT_OBJS): INCLUDES := $(INC_BASE)   # the figures read files; they never run a model
$(BINDIR)/rn-plot: $(BUILDDIR)/tools/rn-plot.o $(PLOT_OBJS) $(LIBRN)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(BUILDDIR)/tools/rn-plot.o $(PLOT_OBJS) $(LIBRN) $(LDLIBS) $(CAIRO_LIBS) -o $@
# A real stamp file, not a phony target: a phony prerequisite would make every
# `make -q` (and the pipeline's bookkeeping) think rn-plot is out of date.
CAIRO_OK := $(BUILDDIR)/.cairo-ok
$(BUILDDIR)/tools/rn-plot.o $(PLOT_OBJS): | $(CAIRO_OK)
$(CAIRO_OK):
	@pkg-config --exists cairo || { echo "make: rn-plot needs cairo: install it with 'apt-get install libcairo2-dev'" >&2; exit 1; }
	@mkdir -p $(@D) && touch $@

$(BINDIR)/%: $(BUILDDIR)/tools/%.o $(LIBRN)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIBRN) $(LDLIBS) -o $@

$(BUILDDIR)/tests/%: $(BUILDDIR)/tests/unit/%.o $(LIBRN)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIBRN) $(LDLIBS) -o $@
$(BUILDDIR)/bench/%: $(BUILDDIR)/tests/bench/%.o $(LIBRN)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIBRN) $(LDLIBS) -o $@

# Objects reached through pattern-rule chains are kept (no rebuild on every `make test`).
# Named explicitly: a bare `.SECONDARY:` would also apply to the pipeline's files and
# break its bookkeeping.
.SECONDARY: $(TOOLS:%=$(BUILDDIR)/tools/%.o) $(UNIT_SRCS:%.c=$(BUILDDIR)/%.o) $(BENCH_SRCS:%.c=$(BUILDDIR)/%.o)

# ---------------------------------------------------------------- tests
# The unit tests print "ok"/"not ok" lines; Bats files cover each tool and the pipeline.
BATS_FILES ?= $(sort $(wildcard tests/*.bats))
export RN_BIN = $(abspath $(BINDIR))
export RN_BUILD = $(abspath $(BUILDDIR))
# Each part's seconds go to $(BUILDDIR)/.times-*; `make test` ends with their table.
test: test-unit test-bats
	@bash tests/timings.sh $(BUILDDIR)/.times-unit $(BUILDDIR)/.times-bats
test-unit: $(UNIT_BINS)
	@RN_TEST_TIMES=$(BUILDDIR)/.times-unit bash tests/run-unit.sh $(UNIT_BINS)
test-bats: tools $(UNIT_BINS)
	@RN_TEST_TIMES=$(BUILDDIR)/.times-bats bash tests/run-bats.sh $(BATS_FILES)

bench: tools $(BENCH_BINS)
	@bash tests/bench/run-bench.sh

# The mutation check: builds a copy of the tree, plants each bug of
# tests/mutants/mutants.txt in turn and runs the tests that must catch it.
# MUTANTS="id ..." runs those only.
mutants:
	@python3 tests/mutants/run.py $(MUTANTS)

# ---------------------------------------------------------------- man pages, install
# Each page is made from the tool's own --help (scripts/man-page.sh), so the two
# never disagree. make install [PREFIX=/usr/local] [DESTDIR=]: the tools and pages.
PREFIX ?= /usr/local
MAN_PAGES := $(TOOLS:%=$(BUILDDIR)/man/%.1)
man: $(MAN_PAGES)
$(BUILDDIR)/man/%.1: $(BINDIR)/% scripts/man-page.sh VERSION
	@mkdir -p $(@D)
	bash scripts/man-page.sh $< $(VERSION) > $@.tmp && mv $@.tmp $@
install: tools man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/
uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(PREFIX)/bin/%) $(TOOLS:%=$(DESTDIR)$(PREFIX)/share/man/man1/%.1)

# ---------------------------------------------------------------- data
RN_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rn-cifar
export RN_CACHE
data:
	@bash scripts/fetch-cifar10.sh

# ---------------------------------------------------------------- housekeeping
help:
	@echo "rn-cifar $(VERSION): targets"
	@echo "  make [all]            build the tools into $(BINDIR)/ (CUDA backend: $(if $(filter 1,$(CUDA)),yes,no))"
	@echo "  make test             C unit tests and Bats tests (what CI runs)"
	@echo "  make test-unit        C unit tests only"
	@echo "  make test-bats        Bats tests only (BATS_FILES=tests/x.bats for one file)"
	@echo "  make data             download/verify CIFAR-10 into \$$RN_CACHE ($(RN_CACHE))"
	@echo "  make report           run PROFILE's experiments and write report/PROFILE/ (PROFILE=paper|smoke|ci|he2016);"
	@echo "                        first prints the plan and its estimate, and stops an unnamed PROFILE over 2 h on a CPU"
	@echo "  make status           the progress of PROFILE's trainings as a table (any terminal, any time)"
	@echo "  make reference        keep PROFILE's finished run as its committed reference (report/PROFILE/reference/)"
	@echo "  make bench            speed table: our tools against PyTorch when python3-torch is installed"
	@echo "  make install          the tools and their man pages into \$$DESTDIR\$$PREFIX ($(PREFIX))"
	@echo "  make mutants          plant each bug of tests/mutants/mutants.txt in a copy; the tests must catch it"
	@echo "  make fuzz             fuzz every file reader with libFuzzer (clang), FUZZ_SECONDS each (default 60)"
	@echo "  make fuzz-ci          the same, FUZZ_CI_SECONDS each (default 4): what CI runs"
	@echo "  make clean            remove $(BUILDDIR)/ and $(BINDIR)/"
	@echo "variables: BUILDDIR BINDIR CC SAN=1 CUDA=0|1 CUDA_HOME CUDNN_HOME CUDA_ARCH PROFILE SEEDS RUN DEVICE PREFIX DESTDIR"
	@echo "  RN_DEPS=0 (do not install missing packages) RN_PLAN=0 (no plan) RN_PROGRESS=0|1 RN_PROGRESS_INTERVAL=5"
clean:
	rm -rf $(BUILDDIR) $(BINDIR)
distclean: clean
	rm -rf results/*/ report/*/

include tests/fuzz/fuzz.mk
-include $(wildcard pipelines/pipeline.mk)
-include $(shell find $(BUILDDIR) -name '*.d' 2>/dev/null)
