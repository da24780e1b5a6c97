# mk/fuzz.mk — libFuzzer targets of the decoders (tests/fuzz/), included at
# the end of the Makefile.
#
#   make fuzz T=NAME [SECONDS=60]  build the library and tests/fuzz/fuzz_NAME.c with
#                                  clang into build-fuzz/, fuzz NAME for SECONDS on a
#                                  copy of tests/fuzz/corpus/NAME (build-fuzz/corpus/NAME,
#                                  kept between runs); crashes in build-fuzz/crashes/NAME/.
#                                  FUZZ_ARGS="..." adds libFuzzer options (-fork=N
#                                  -ignore_crashes=1 to go on past known crashes)
#   make fuzz-smoke                every target: its committed corpus and saved crashes
#                                  (tests/fuzz/crashes/NAME-*), then SMOKE_SECONDS of
#                                  fuzzing; fails on any crash, leak or broken invariant
#   make fuzz-seeds                rewrite tests/fuzz/corpus/ from the library
#                                  (tests/fuzz/make_seeds.c, built in $(BUILD))
#
# The library is built a second time, instrumented, by a recursive make with
# BUILD=build-fuzz CC=clang, so its objects never mix with the gcc ones.

FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
# UBSan checks stay recoverable so that a long run can suppress a known
# finding (UBSAN_OPTIONS=suppressions=FILE); fuzz.h makes every report fatal
# (halt_on_error) otherwise.
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZ_LIB_CFLAGS := -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BIN := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%)
FUZZ_LIB := $(FUZZ_BUILD)/libledgerfs.a
SECONDS ?= 60
SMOKE_SECONDS ?= 7

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-seeds fuzz-lib-force

# From any other build, the instrumented library is the recursive make's
# business (it is a no-op when nothing changed); inside that make, the
# Makefile's own $(LIB) rule builds it.
ifneq ($(BUILD),$(FUZZ_BUILD))
$(FUZZ_LIB): fuzz-lib-force
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_LIB_CFLAGS)" LDFLAGS= $(FUZZ_LIB)
fuzz-lib-force:
endif

$(FUZZ_BIN): $(FUZZ_BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(BASE_CFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(ALL_LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz:
	@case " $(FUZZ_NAMES) " in *" $(T) "*) ;; \
	*) echo "usage: make fuzz T=NAME [SECONDS=N]; NAME is one of: $(FUZZ_NAMES)" >&2; exit 2;; esac
	@$(MAKE) --no-print-directory $(FUZZ_BUILD)/tests/fuzz/fuzz_$(T)
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_ARGS="$(FUZZ_ARGS)" sh tests/fuzz/run.sh $(T) $(SECONDS)

fuzz-smoke: $(FUZZ_BIN)
	FUZZ_BUILD=$(FUZZ_BUILD) sh tests/fuzz/run.sh --smoke $(SMOKE_SECONDS) $(FUZZ_NAMES)

fuzz-seeds: $(BUILD)/tests/fuzz/make_seeds
	$(BUILD)/tests/fuzz/make_seeds tests/fuzz/corpus

-include $(FUZZ_BIN:=.d)
