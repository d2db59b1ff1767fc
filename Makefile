# elog — hand-written makefile.
#
#   make                      libcore and every binary, into $(BUILD)/bin
#   make check                unit tests and bats tests (tests/run)
#   make SANITIZE=1 check     the same under ASan+UBSan (objects in build/san)
#   make WERROR=1             warnings are errors (CI)
#   make fuzz                 libFuzzer targets (clang), into build/fuzz
#   make fuzz-run FUZZ_SECONDS=600
#   make bench                storage, end-to-end and cluster benchmarks (docs/benchmarks.md)
#   make sim SEEDS=100000     the Raft simulator, long (make check runs 1000 seeds)
#   make sim-mutations        check the simulator catches deliberate Raft bugs
#   make torture DURATION=10m history run under kill -9 / SIGSTOP faults, checked
#   make install PREFIX=/usr/local DESTDIR=
#
# CFLAGS is yours; the warning flags, -std and include paths are forced on top.

.DELETE_ON_ERROR:
.SUFFIXES:

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions

CC ?= cc
CLANG ?= clang
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
INSTALL ?= install

WARNFLAGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wpointer-arith -Wundef -Wno-format-nonliteral
# CI builds with -Werror; so does anyone who asks with WERROR=1.
ifeq ($(CI),true)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARNFLAGS += -Werror
endif

BUILD = build
ifeq ($(SANITIZE),1)
BUILD = build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# Dependencies: pkg-config name and the Debian package that provides it.
DEPS = zlib:zlib1g-dev liblz4:liblz4-dev libsodium:libsodium-dev
DEP_NAMES = $(foreach d,$(DEPS),$(firstword $(subst :, ,$(d))))
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
$(foreach d,$(DEPS),$(if $(shell $(PKG_CONFIG) --exists $(firstword $(subst :, ,$(d))) && echo ok),,\
  $(error missing dependency $(firstword $(subst :, ,$(d))): install the Debian package $(lastword $(subst :, ,$(d))) (apt-get install $(lastword $(subst :, ,$(d)))))))
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEP_NAMES))
DEP_LIBS := $(shell $(PKG_CONFIG) --libs $(DEP_NAMES))
endif

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Ilibcore $(WARNFLAGS) $(SANFLAGS) $(DEP_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS = $(DEP_LIBS) -lpthread

LIB_SRC = $(wildcard libcore/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB = $(BUILD)/libelog.a

CMD_SRC = $(wildcard cmd/*.c)
PROGS = $(CMD_SRC:cmd/%.c=$(BUILD)/bin/%)

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HARNESS = $(BUILD)/tests/unit/t.o

BENCH_SRC = $(wildcard bench/*.c)
BENCH_BIN = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -Ilibcore -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined $(DEP_CFLAGS)

all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(PROGS): $(BUILD)/bin/%: $(BUILD)/cmd/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(UNIT_BIN): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_HARNESS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(UNIT_HARNESS) $(LIB) $(LIBS)

$(BENCH_BIN): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(DEP_LIBS) -lpthread

units: $(UNIT_BIN)

# check builds the benchmarks too (without running them), so they cannot rot.
check: all units $(BENCH_BIN)
	BUILD=$(BUILD) tests/run

fuzz: $(FUZZ_BIN)

fuzz-run: fuzz
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: all $(BENCH_BIN) bench-peers
	BUILD=$(BUILD) bench/run

# The NATS JetStream peer of bench/cluster (bench/peers/js_bench.c, libnats):
# built by make bench only where libnats is installed, never by check; without
# it the NATS rows say "not available".
JS_BENCH = $(BUILD)/bench/peers/js_bench
bench-peers:
	@if $(PKG_CONFIG) --exists libnats 2>/dev/null; then \
		$(MAKE) --no-print-directory $(JS_BENCH); \
	else \
		echo "bench: libnats not installed (apt-get install libnats-dev): no NATS rows"; \
	fi

$(JS_BENCH): bench/peers/js_bench.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wall -o $@ $< $$($(PKG_CONFIG) --cflags --libs libnats)

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(INSTALL) -m 755 $(PROGS) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7
	$(INSTALL) -m 644 $(wildcard completions/bash/*) $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 644 $(wildcard completions/zsh/*) $(DESTDIR)$(ZSHCOMPDIR)

# The quick start's "run it": a broker on loopback in a temporary
# directory, records piped through elog-produce and back out of elog-consume.
demo: all
	scripts/demo.sh $(BUILD)/bin

clean:
	rm -rf build

.PHONY: all check units fuzz fuzz-run bench bench-peers install demo clean
.SECONDARY:


# ---- test tools ------------------------------------------------------------
# Helper programs the bats tests run (tests/tools/*.c, e.g. mklog, which writes
# partition logs through libcore), built into $(BUILD)/tools; `check` builds them.
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

$(TOOL_BIN): $(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

tools: $(TOOL_BIN)
check: tools
.PHONY: tools

# ---- torture: the long history run (docs/testing.md, "Proving it") --------
# elog-history's producers and consumers against a broker (or, with
# TORTURE_BROKERS=3, a cluster) that the nemesis (tests/tools/nemesis) kills
# and pauses every few seconds, for DURATION; then the faults heal, a final
# read, and the check. `make check` runs short versions
# (tests/090-history.bats, tests/091-history-cluster.bats). TORTURE_*
# variables: see the script.
DURATION ?= 10m

torture: all tools
	tests/tools/nemesis torture $(BUILD) $(DURATION)

.PHONY: torture

ALL_OBJ = $(LIB_OBJ) $(UNIT_HARNESS) $(CMD_SRC:%.c=$(BUILD)/%.o) $(UNIT_SRC:%.c=$(BUILD)/%.o) \
	$(BENCH_SRC:%.c=$(BUILD)/%.o) $(TOOL_SRC:%.c=$(BUILD)/%.o)
-include $(ALL_OBJ:.o=.d)

# ---- the Raft simulator ----------------------------------------------------
# tests/sim/*.c drive libcore's Raft core (docs/raft.md). `check` runs a short
# sweep through tests/run; `make sim SEEDS=100000` a long one, of raft_sim and
# of raft_sim_small: the same over a core built with an 8-entry term cache,
# so that the cache overflows often. `make sim-mutations` breaks the core on
# purpose (tests/sim/mutations/*.diff; needs patch(1)) and checks raft_sim
# notices every mutation.
SIM_SRC = $(wildcard tests/sim/*.c)
SIM_OBJ = $(SIM_SRC:%.c=$(BUILD)/%.o)
SIM_BIN = $(BUILD)/tests/raft_sim
SIM_SMALL_BIN = $(BUILD)/tests/raft_sim_small
SIM_SMALL_SRC = $(SIM_SRC) libcore/raft.c $(wildcard libcore/raft_*.c) libcore/err.c
SEEDS ?= 100000
MUTATION_SEEDS ?= 5000

$(SIM_BIN): $(SIM_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SIM_OBJ) $(LIB) $(LIBS)

$(SIM_SMALL_BIN): $(SIM_SMALL_SRC) $(wildcard libcore/raft*.h) tests/sim/sim.h
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) -DELOG_RAFT_TERMS_MAX=8 $(ALL_LDFLAGS) \
		-o $@ $(SIM_SMALL_SRC)

units: $(SIM_BIN) $(SIM_SMALL_BIN)

sim: $(SIM_BIN) $(SIM_SMALL_BIN)
	$(SIM_BIN) --seeds $(SEEDS) --nodes 3
	$(SIM_BIN) --seeds $(SEEDS) --nodes 5
	$(SIM_SMALL_BIN) --seeds $(SEEDS) --nodes 3
	$(SIM_SMALL_BIN) --seeds $(SEEDS) --nodes 5

sim-mutations:
	SEEDS=$(MUTATION_SEEDS) tests/sim/mutate.sh

.PHONY: sim sim-mutations
-include $(SIM_OBJ:.o=.d)
