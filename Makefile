# Sealpost build. `make run` and `make test` are the two commands a user needs.
# Release objects go to build/, the ASan+UBSan build used by tests to build/asan/.

PKGS      := libevent libevent_openssl libevent_pthreads sqlite3 libargon2 openssl gmime-3.0 libcares
CC        ?= cc
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
BASEFLAGS := -std=gnu17 -g -D_GNU_SOURCE -Isrc $(WARN) $(shell pkg-config --cflags $(PKGS))
LIBS      := $(shell pkg-config --libs $(PKGS)) -lpthread
SANFLAGS  := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS    ?= -O2
PYTHON    := /usr/bin/python3

MODULES   := lib net store directory mime mta smtp pop3 imap cli
SRCS      := $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c))
LIB_SRCS  := $(filter-out src/cli/main.c,$(SRCS))
OBJS      := $(SRCS:src/%.c=build/obj/%.o)
ASAN_OBJS := $(SRCS:src/%.c=build/asan/obj/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:src/%.c=build/asan/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_OBJS := $(LIB_SRCS:src/%.c=build/fuzz/obj/%.o)
FUZZFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 60
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)
HEADERS   := $(wildcard src/*/*.h)

.PHONY: all run test unit integration bench deps clean asan tsan fuzz
all: build/sealpost

deps:
	@sh scripts/deps

build/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

build/sealpost: $(OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

build/asan/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC [asan] $<"; $(CC) $(BASEFLAGS) $(SANFLAGS) -c $< -o $@

build/asan/sealpost: $(ASAN_OBJS)
	$(CC) $(SANFLAGS) $^ -o $@ $(LIBS)

build/asan/tests/%: tests/unit/%.c $(ASAN_LIB_OBJS) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) $< $(ASAN_LIB_OBJS) -o $@ $(LIBS) -lcmocka

build/fuzz/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC [fuzz] $<"; clang $(filter-out -Wshadow,$(BASEFLAGS)) $(FUZZFLAGS) -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(filter-out -Wshadow,$(BASEFLAGS)) -O1 -g -fsanitize=fuzzer,address,undefined $< $(FUZZ_OBJS) -o $@ $(LIBS)

asan: build/asan/sealpost

# ThreadSanitizer build, run by hand: SEALPOST_BIN=build/tsan/sealpost
# /usr/bin/python3 -m pytest tests/integration, then grep the servers' logs
# (/tmp/sealpost-*/serve.log) for "ThreadSanitizer".
TSAN_OBJS := $(SRCS:src/%.c=build/tsan/obj/%.o)
build/tsan/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC [tsan] $<"; $(CC) $(BASEFLAGS) -O1 -fsanitize=thread -c $< -o $@

build/tsan/sealpost: $(TSAN_OBJS)
	$(CC) -O1 -fsanitize=thread $^ -o $@ $(LIBS)

tsan: build/tsan/sealpost

run: deps build/sealpost
	@sh scripts/demo

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: build/asan/sealpost
	SEALPOST_BIN=$(CURDIR)/build/asan/sealpost $(PYTHON) -m pytest -q tests/integration

# The fuzz harnesses are built and run briefly so they never rot; `make fuzz` runs longer.
test: deps
	@$(MAKE) --no-print-directory -j2 unit
	@$(MAKE) --no-print-directory -j2 $(FUZZ_BINS)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5
	@$(MAKE) --no-print-directory integration

bench: deps build/sealpost
	$(PYTHON) bench/smtp_ingest
	$(PYTHON) bench/imap_fetch
	$(PYTHON) bench/smtp_relay

# Each libFuzzer harness runs FUZZ_SECONDS; crashes land in build/fuzz/.
fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do echo "== $$f"; mkdir -p $$f.corpus; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$$f- \
		$$f.corpus 2>&1 | grep -E '^(Done|==[0-9]+==|SUMMARY)' || true; \
		test -z "$$(ls $$f-crash-* $$f-leak-* $$f-timeout-* 2>/dev/null)"; done

clean:
	rm -rf build
