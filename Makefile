# chatstream — streaming LLM chat over FastCGI.
#
#   make            build build/chatstream
#   make run        install missing Debian packages, build, serve www/ and the
#                   API behind lighttpd on http://127.0.0.1:$(PORT)/
#   make test       install missing packages, build, run the whole suite
#   make test SANITIZE=1   the same with ASan+UBSan (build/asan/)
#   make deps       only install missing Debian packages (needs root)
#   make fuzz       fuzz the parsers for FUZZ_SECONDS each (clang, libFuzzer)

PORT     ?= 8080
SANITIZE ?=
WERROR   ?= $(if $(CI),1,)

ifeq ($(SANITIZE),1)
BUILD   ?= build/asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS =
endif

# Build: libfcgi, libcurl, json-c.  make run adds lighttpd.  make test adds
# cmocka, python3 (replay provider, e2e), the web servers the deployment
# tests run, chromium (the browser tests of www/) and nodejs (unit tests of
# www/js).
RUN_PKGS = libfcgi-dev libcurl4-openssl-dev libjson-c-dev pkg-config gcc make \
           lighttpd python3 curl
PKGS     = $(RUN_PKGS) libcmocka-dev apache2 libapache2-mod-fcgid nginx spawn-fcgi \
           nodejs chromium
CC      ?= cc
PKGCONF  = pkg-config
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wwrite-strings -Wcast-qual -Wformat=2 \
           -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(if $(WERROR),-Werror,) \
           $(SANFLAGS) -Isrc $(CFLAGS) \
           $(shell $(PKGCONF) --cflags libcurl json-c 2>/dev/null)
LDLIBS   = -lfcgi $(shell $(PKGCONF) --libs libcurl json-c 2>/dev/null) -lpthread
TEST_LDLIBS = $(shell $(PKGCONF) --libs cmocka 2>/dev/null)

SRCS     = $(sort $(wildcard src/*.c src/providers/*.c src/encoders/*.c))
OBJS     = $(SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS = $(filter-out $(BUILD)/obj/src/main.o,$(OBJS))
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps deps-run browser-deps run test unit e2e check-config clean format fuzz

all: $(BUILD)/chatstream

$(BUILD)/chatstream: $(OBJS)
	$(CC) $(SANFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/obj/%.o: %.c $(wildcard src/*.h src/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) $(LDLIBS) $(TEST_LDLIBS)

# Install whatever Debian packages are missing (no-op when all are there).
# The tests start their own servers on loopback ports: while installing, a
# temporary policy-rc.d keeps Debian from starting apache2 and nginx as
# system services (both would want port 80).
deps deps-run:
	@missing=""; for p in $(if $(filter deps-run,$@),$(RUN_PKGS),$(PKGS)); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root, or: sudo apt-get install$$missing" >&2; exit 1; fi; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

unit: $(UNIT_BINS)

test: deps
	$(MAKE) --no-print-directory all unit browser-deps
	BUILD=$(BUILD) tests/run

# The browser tests drive Debian's chromium through playwright-core (npm,
# pinned in tests/browser/package-lock.json; it downloads no browser).
# Debian ships npm apart from nodejs; NodeSource's nodejs includes it.
browser-deps: tests/browser/node_modules/.package-lock.json
tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

check-config: all
	$(BUILD)/chatstream --check-config conf/chatstream.conf

run: deps-run
	$(MAKE) --no-print-directory all
	PORT=$(PORT) BUILD=$(BUILD) tests/lib/serve

# Coverage-guided fuzzing of the parsers (libFuzzer, needs clang):
#   make fuzz FUZZ_SECONDS=300
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
fuzz:
	@command -v clang >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq clang; }
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o build/fuzz/sse_parse tests/fuzz/fuzz_sse_parse.c src/sse_parse.c src/buf.c src/cs.c
	clang $(FUZZ_FLAGS) -o build/fuzz/request tests/fuzz/fuzz_request.c src/request.c src/config.c src/buf.c src/cs.c -ljson-c
	cp -r tests/fuzz/corpus build/fuzz/
	build/fuzz/sse_parse -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/sse
	build/fuzz/request -max_len=8192 -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/request

clean:
	rm -rf build

format:
	clang-format -i src/*.c src/*.h src/*/*.c tests/unit/*.c
