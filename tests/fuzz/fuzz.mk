# Fuzzing every file reader with libFuzzer (clang; Debian: apt-get install clang).
#
#   make fuzz       FUZZ_SECONDS per reader (default 60), then a table of
#                   executions and crashes; the corpora grow in $(FUZZ_BUILD)/corpus
#   make fuzz-ci    the same for FUZZ_CI_SECONDS per reader (default 4): what CI runs
#
# The library is rebuilt with clang, AddressSanitizer, UBSan and -DRN_FUZZ (rn_die
# longjmps back into the harness, lib/err.h) into its own directory; the tools are
# never built that way. Harnesses: tests/fuzz/fuzz_*.c; seeds: tests/fuzz/seeds.sh.
FUZZ_CC         ?= clang
FUZZ_BUILD      := $(BUILDDIR)/fuzz
FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 4
FUZZ_READERS    := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS       := $(FUZZ_READERS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_SRCS   := $(wildcard lib/*.c) $(wildcard kernels/*.c) $(wildcard kernels/cpu/*.c) $(wildcard lib/engine/*.c)
FUZZ_LIB_OBJS   := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS     := $(CSTD) $(WARN) -Wno-pass-failed -O1 -g $(ARCHFLAGS) -fopenmp $(FUZZ_SAN) -DRN_FUZZ \
                   -DRN_VERSION='"$(VERSION)"' -Ilib -Ikernels -Ilib/engine $(PNG_CFLAGS) $(CJSON_CFLAGS) -MMD -MP

.PHONY: fuzz fuzz-ci fuzz-build
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS) tools
	@bash tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) $(BINDIR) $(FUZZ_BUILD) $(FUZZ_READERS)
fuzz-ci: $(FUZZ_BINS) tools
	@bash tests/fuzz/run-fuzz.sh $(FUZZ_CI_SECONDS) $(BINDIR) $(FUZZ_BUILD) $(FUZZ_READERS)

# Said once, clearly, when there is no clang (a stamp file, as rn-plot's cairo check).
$(FUZZ_BUILD)/.cc-ok:
	@$(FUZZ_CC) --version >/dev/null 2>&1 || \
	    { echo "make: fuzzing needs clang with libFuzzer ($(FUZZ_CC)): install it with 'apt-get install clang'" >&2; exit 1; }
	@mkdir -p $(@D) && touch $@
$(FUZZ_LIB_OBJS): | $(FUZZ_BUILD)/.cc-ok

$(FUZZ_BUILD)/obj/%.o: %.c tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
# The compute kernels read no file and no harness runs them (they are linked in
# for the engine's sake): built quickly, without instrumentation.
$(FUZZ_BUILD)/obj/kernels/%.o: kernels/%.c tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CSTD) $(WARN) -O0 $(ARCHFLAGS) -fopenmp -Ilib -Ikernels -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/librn-fuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^
# An archive: a harness links only the modules it reaches.
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/librn-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/librn-fuzz.a $(LDLIBS) -o $@
