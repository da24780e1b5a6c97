# ledgerfs — build, test, install.
#
#   make            build build/ledgerfs and build/libledgerfs.a
#   make test       unit tests (cmocka) and integration tests; ends "N passed, N failed"
#   make asan       the same with AddressSanitizer + UBSan, in build-asan/
#   make bench      benchmarks (bench/), not part of the tests
#   make install    PREFIX=/usr/local DESTDIR=

PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
BUILD ?= build

PKGS := libcrypto fuse3 lmdb libzstd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)

# CFLAGS is the user's (optimisation, sanitizers); what the code needs is in
# BASE_CFLAGS so that `make CFLAGS=...` cannot drop it.
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -MMD -MP -pthread
ALL_CFLAGS = $(BASE_CFLAGS) $(CFLAGS)
ALL_CPPFLAGS = -Iinclude -Isrc $(PKG_CFLAGS) $(CPPFLAGS)
ALL_LDLIBS = $(PKG_LIBS) -pthread $(LDLIBS)

LIB_SRC := $(wildcard src/util/*.c src/ledger/*.c src/store/*.c src/fs/*.c src/fuse/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/*/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(patsubst %.c,$(BUILD)/%,$(TEST_SRC))
TOOL_BIN := $(patsubst %.c,$(BUILD)/%,$(TOOL_SRC))
BENCH_BIN := $(patsubst %.c,$(BUILD)/%,$(BENCH_SRC))

LIB := $(BUILD)/libledgerfs.a
BIN := $(BUILD)/ledgerfs

.PHONY: all test asan bench install clean
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(ALL_LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(CMOCKA_LIBS) $(ALL_LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(ALL_LDLIBS)

test: $(BIN) $(TEST_BIN) $(TOOL_BIN)
	BUILD=$(BUILD) sh tests/run.sh

asan:
	$(MAKE) BUILD=build-asan \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" test

bench: $(BIN) $(BENCH_BIN)
	BUILD=$(BUILD) sh bench/run.sh

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/ledgerfs

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(TOOL_BIN:=.d) $(BENCH_BIN:=.d)
-include mk/fuzz.mk
