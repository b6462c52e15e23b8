# chatstream — streaming LLM chat over FastCGI.
#
#   make            build build/chatstream
#   make run        install missing Debian packages, build, serve www/ and the
#                   API behind lighttpd on http://127.0.0.1:$(PORT)/
#   make test       install missing packages, build, run the whole suite
#   make test SANITIZE=1   the same with ASan+UBSan (build/asan/)
#   make deps       only install missing Debian packages (needs root)
#   make fuzz       fuzz the parsers and adapters for FUZZ_SECONDS each
#                   (clang, libFuzzer); make fuzz-smoke: a few seconds each

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

# Build: libfcgi, libcurl, json-c, SQLite, hiredis.  make run adds lighttpd.
# make test adds cmocka, python3 (replay provider, e2e), the web servers the
# deployment tests run, chromium (the browser tests of www/) and nodejs (unit
# tests of www/js), clang and its libFuzzer runtime (the fuzz smoke test),
# redis-server (the unit tests of the redis state backend) and prometheus
# (test_metrics scrapes /api/metrics with it; promtool checks the format),
# and what make deb and the man-page checks run (debhelper, dpkg-dev,
# fakeroot, lintian; man-db, groff-base, mandoc: test_install, test_deb).
RUN_PKGS = libfcgi-dev libcurl4-openssl-dev libjson-c-dev libsqlite3-dev \
           libhiredis-dev pkg-config gcc make lighttpd python3 curl
PKGS     = $(RUN_PKGS) libcmocka-dev apache2 libapache2-mod-fcgid nginx spawn-fcgi \
           nodejs chromium clang libclang-rt-14-dev clang-format redis-server \
           prometheus $(PORT_PKGS) \
           debhelper fakeroot lintian man-db groff-base mandoc
# make portable: apt-get source unpacks with dpkg-source; the embedded CA
# bundle is Debian's; test_portable resolves through dnsmasq.
PORT_PKGS = dpkg-dev ca-certificates libssl-dev zlib1g-dev file openssl \
            dnsmasq-base
# make bench also plots (gnuplot) and counts syscalls and instructions.
BENCH_PKGS = $(PKGS) gnuplot-nox strace valgrind
CC      ?= cc
PKGCONF  = pkg-config
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wwrite-strings -Wcast-qual -Wformat=2 \
           -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(if $(WERROR),-Werror,) \
           $(SANFLAGS) $(PORT_CFLAGS) $(SRC_INC) $(CFLAGS) \
           -DCS_FCGI_VERSION='"$(FCGI_VERSION)"' \
           $(shell $(PKGCONF) --cflags libcurl json-c 2>/dev/null)
SQLITE_LIBS = $(or $(shell $(PKGCONF) --libs sqlite3 2>/dev/null),-lsqlite3)
HIREDIS_LIBS = $(or $(shell $(PKGCONF) --libs hiredis 2>/dev/null),-lhiredis)
LDLIBS   = -lfcgi $(shell $(PKGCONF) --libs libcurl json-c 2>/dev/null) \
           $(SQLITE_LIBS) $(HIREDIS_LIBS) -lpthread
FCGI_VERSION := $(shell dpkg-query -W -f='$${Version}' libfcgi-dev 2>/dev/null)
TEST_LDLIBS = $(shell $(PKGCONF) --libs cmocka 2>/dev/null)

# One folder per stage of the pipeline (docs/hacking.md); every folder is
# on the include path, so an #include names the file only.
SRC_DIRS = $(sort $(patsubst %/,%,$(dir $(wildcard src/*/*.c src/*/*.h))))
SRCS     = $(sort $(wildcard src/*/*.c))
SRC_INC  = $(addprefix -I,$(SRC_DIRS))
# docs/openapi.json is served from the binary (GET /api/openapi.json).
GEN_OBJS = $(BUILD)/obj/gen/openapi_json.o $(PORT_GEN_OBJS)
OBJS     = $(SRCS:%.c=$(BUILD)/obj/%.o) $(GEN_OBJS)
LIB_OBJS = $(filter-out $(BUILD)/obj/src/ingress/main.o,$(OBJS))
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps deps-run deps-bench browser-deps clients-deps run test unit e2e check-config clean format format-check

all: $(BUILD)/chatstream

$(BUILD)/chatstream: $(OBJS)
	$(CC) $(SANFLAGS) $(PORT_LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/gen/openapi_json.c: docs/openapi.json src/embed.py
	@mkdir -p $(@D)
	python3 src/embed.py docs/openapi.json cs_openapi_json > $@

$(BUILD)/obj/gen/openapi_json.o: $(BUILD)/gen/openapi_json.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(wildcard src/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) $(LDLIBS) $(TEST_LDLIBS)

# Install whatever Debian packages are missing (no-op when all are there).
# The tests start their own servers on loopback ports: while installing, a
# temporary policy-rc.d keeps Debian from starting apache2 and nginx as
# system services (both would want port 80).
deps deps-run deps-bench:
	@missing=""; for p in $(if $(filter deps-run,$@),$(RUN_PKGS),$(if $(filter deps-bench,$@),$(BENCH_PKGS),$(PKGS))); do \
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
	$(MAKE) --no-print-directory all unit browser-deps clients-deps clients-ai-deps
	BUILD=$(BUILD) tests/run

# The browser tests drive Debian's chromium through playwright-core (npm,
# pinned in tests/browser/package-lock.json; it downloads no browser).
# Debian ships npm apart from nodejs; NodeSource's nodejs includes it.
browser-deps: tests/browser/node_modules/.package-lock.json
tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

# The client-compatibility tests run the real openai npm package against
# /api/v1 and @microsoft/fetch-event-source against the SSE streams (both
# pinned in tests/clients/package-lock.json).
clients-deps: tests/clients/node_modules/.package-lock.json
tests/clients/node_modules/.package-lock.json: tests/clients/package.json tests/clients/package-lock.json
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
	cd tests/clients && npm ci --no-audit --no-fund
	@touch $@

# The AI SDK tests run the real `ai` npm package, its oldest 5.x and its
# latest release side by side (npm aliases, pinned in
# tests/clients-ai/package-lock.json), against useChat's POST /api/chat,
# and the AI SDK's OpenAI provider (@ai-sdk/openai) against /api/v1.
.PHONY: clients-ai-deps
clients-ai-deps: tests/clients-ai/node_modules/.package-lock.json
tests/clients-ai/node_modules/.package-lock.json: tests/clients-ai/package.json tests/clients-ai/package-lock.json
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
	cd tests/clients-ai && npm ci --no-audit --no-fund
	@touch $@

check-config: all
	$(BUILD)/chatstream --check-config conf/chatstream.conf

run: deps-run
	$(MAKE) --no-print-directory all
	PORT=$(PORT) BUILD=$(BUILD) tests/lib/serve

# Coverage-guided fuzzing (libFuzzer, Debian's clang): the SSE parser, the
# request parser, the translations before it of useChat's request, of
# Anthropic's Messages and of OpenAI's Responses request
# (tests/fuzz/fuzz_request_ui.c, fuzz_v1_api.c; their shared checks in
# fuzz_translate.h), the OpenAI chat fast path against json-c
# (tests/fuzz/fuzz_openai_fastpath.c) and one target per HTTP provider (tests/fuzz/
# fuzz_adapter.c built with -DFUZZ_PROVIDER='"<name>"').  Seeds: the
# files in tests/fuzz/corpus/<target>/ plus, for the adapters and the SSE
# parser, tests/fixtures/upstream/ with the harness's control bytes in
# front; dictionaries: tests/fuzz/*.dict plus the adapter's string literals.
#   make fuzz FUZZ_SECONDS=300    every target for FUZZ_SECONDS
#   make fuzz-smoke               every target for FUZZ_SMOKE_SECONDS (what
#                                 make test runs, tests/e2e/test_fuzz_smoke.py)
# Crash inputs land in build/fuzz/artifacts/.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_DIR      = build/fuzz
FUZZ_CC       = clang
FUZZ_FLAGS    = -std=gnu11 -D_GNU_SOURCE -g -O1 $(SRC_INC) \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                $(shell $(PKGCONF) --cflags libcurl json-c 2>/dev/null)
# The HTTP providers: the .name of every descriptor in src/providers/ that
# has a .build (provider.h), so a new provider is fuzzed as it is added.
FUZZ_ADAPTERS = $(shell awk '/^const struct cs_provider /{n=""} \
                /^\t\.name = "/{split($$0,q,"\"");n=q[2]} \
                /^\t\.build = / && n!=""{print n;n=""}' src/providers/*.c)
FUZZ_TARGETS  = sse request request-ui anthropic-api responses-api \
                openai-fastpath \
                $(FUZZ_ADAPTERS)
# demo.c's stream calls are stubbed (tests/fuzz/fuzz_stubs.c): the
# registry lists it, no harness runs it.
FUZZ_LIB_SRCS = $(sort $(wildcard src/providers/*.c)) tests/fuzz/fuzz_stubs.c \
                src/upstream/sse_parse.c src/lib/buf.c src/lib/cs.c \
                src/request/request.c src/request/request_messages.c \
                src/request/request_tools.c src/lib/json_strict.c \
                $(wildcard src/config/config*.c) src/lib/utf8.c \
                src/admission/identity.c src/lib/sha256.c \
                src/upstream/route_cfg.c
FUZZ_LIB_OBJS = $(FUZZ_LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_FIXTURES = tests/fixtures/upstream
# Fixtures that seed a target besides <target>-*.sse and <target>-*.ndjson.
FUZZ_SEEDS_openai-chat = $(FUZZ_FIXTURES)/openai-compat-*.sse \
                         $(FUZZ_FIXTURES)/hostile-markdown.sse
FUZZ_SEEDS_sse         = $(FUZZ_FIXTURES)/*.sse

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-corpus
fuzz: fuzz-build
	tests/fuzz/run --dir $(FUZZ_DIR) --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	tests/fuzz/run --dir $(FUZZ_DIR) --seconds $(FUZZ_SMOKE_SECONDS) \
	    --jobs $$(nproc) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%) $(FUZZ_ADAPTERS:%=$(FUZZ_DIR)/%.dict) \
            $(FUZZ_DIR)/request.dict $(FUZZ_DIR)/request-ui.dict $(FUZZ_DIR)/sse.dict \
            $(FUZZ_DIR)/anthropic-api.dict $(FUZZ_DIR)/responses-api.dict \
            $(FUZZ_DIR)/openai-fastpath.dict fuzz-corpus

$(FUZZ_DIR)/obj/%.o: %.c $(wildcard src/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/sse: tests/fuzz/fuzz_sse_parse.c $(filter %/sse_parse.o %/buf.o %/cs.o,$(FUZZ_LIB_OBJS))
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^

$(FUZZ_DIR)/request: tests/fuzz/fuzz_request.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -ljson-c -lcurl

# useChat's request translated (request_ui.c), then parsed natively.
$(FUZZ_DIR)/request-ui: tests/fuzz/fuzz_request_ui.c $(FUZZ_DIR)/obj/src/request/request_ui.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -ljson-c -lcurl

# Anthropic's Messages request translated (anthropic_api.c), then parsed
# natively; the handler's calls into the stream are stubbed in the harness.
# The same harness for OpenAI's Responses request (responses_api.c).
$(FUZZ_DIR)/anthropic-api: tests/fuzz/fuzz_v1_api.c $(FUZZ_DIR)/obj/src/request/anthropic_api.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -ljson-c -lcurl

$(FUZZ_DIR)/responses-api: tests/fuzz/fuzz_v1_api.c $(FUZZ_DIR)/obj/src/request/responses_api.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_RESPONSES -fsanitize=fuzzer -o $@ $^ -ljson-c -lcurl

# The chat fast path against json-c (differential).
$(FUZZ_DIR)/openai-fastpath: tests/fuzz/fuzz_openai_fastpath.c $(filter %/openai_fastpath.o %/buf.o %/cs.o %/utf8.o,$(FUZZ_LIB_OBJS))
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -ljson-c

$(FUZZ_ADAPTERS:%=$(FUZZ_DIR)/%): $(FUZZ_DIR)/%: tests/fuzz/fuzz_adapter.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer \
	    -DFUZZ_PROVIDER='"$*"' -o $@ $^ -ljson-c -lcurl

# An adapter's dictionary: SSE framing (but for ollama), JSON, and every
# string literal of its source, bare and as a JSON string.
$(FUZZ_ADAPTERS:%=$(FUZZ_DIR)/%.dict): $(FUZZ_DIR)/%.dict: tests/fuzz/sse.dict tests/fuzz/json.dict $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	@{ [ $* = ollama ] || cat tests/fuzz/sse.dict; cat tests/fuzz/json.dict; \
	  $(call fuzz_literals,src/providers/$$(echo $* | tr - _).c); } > $@

$(FUZZ_DIR)/request.dict: tests/fuzz/json.dict src/request/request.c src/request/request_messages.c src/request/request_tools.c
	@mkdir -p $(dir $@)
	@{ cat tests/fuzz/json.dict; $(call fuzz_literals,src/request/request.c src/request/request_messages.c src/request/request_tools.c); } > $@

$(FUZZ_DIR)/request-ui.dict: tests/fuzz/json.dict src/request/request_ui.c src/request/request.c src/request/request_messages.c src/request/request_tools.c
	@mkdir -p $(dir $@)
	@{ cat tests/fuzz/json.dict; \
	  $(call fuzz_literals,src/request/request_ui.c src/request/request.c src/request/request_messages.c src/request/request_tools.c); } > $@

$(FUZZ_DIR)/anthropic-api.dict: tests/fuzz/json.dict src/request/anthropic_api.c src/request/request.c src/request/request_messages.c src/request/request_tools.c
	@mkdir -p $(dir $@)
	@{ cat tests/fuzz/json.dict; \
	  $(call fuzz_literals,src/request/anthropic_api.c src/request/request.c src/request/request_messages.c src/request/request_tools.c); } > $@

$(FUZZ_DIR)/responses-api.dict: tests/fuzz/json.dict src/request/responses_api.c src/request/request.c src/request/request_messages.c src/request/request_tools.c
	@mkdir -p $(dir $@)
	@{ cat tests/fuzz/json.dict; \
	  $(call fuzz_literals,src/request/responses_api.c src/request/request.c src/request/request_messages.c src/request/request_tools.c); } > $@

$(FUZZ_DIR)/openai-fastpath.dict: tests/fuzz/json.dict src/providers/openai_fastpath.c
	@mkdir -p $(dir $@)
	@{ cat tests/fuzz/json.dict; \
	  $(call fuzz_literals,src/providers/openai_fastpath.c); } > $@

$(FUZZ_DIR)/sse.dict: tests/fuzz/sse.dict
	@mkdir -p $(dir $@)
	cp $< $@

# $(call fuzz_literals,FILE): FILE's plain string literals as dictionary
# entries, bare and as a JSON string.
fuzz_literals = grep -ho '"[A-Za-z0-9_.:/ -]\{2,\}"' $(1) | sort -u | \
	sed 's/^"\(.*\)"$$/"\1"\n"\\"\1\\""/'

# Seeds: the committed corpora, and the fixtures with the control bytes of
# the harness in front (adapters: fed whole and cut; sse: no limits, cut);
# openai-fastpath: each JSON data line of the OpenAI fixtures on its own.
fuzz-corpus:
	@mkdir -p $(FUZZ_TARGETS:%=$(FUZZ_DIR)/corpus/%)
	@cp -r tests/fuzz/corpus/. $(FUZZ_DIR)/corpus/
	$(foreach t,$(FUZZ_ADAPTERS),$(call fuzz_seed,$(t),'\0\0' '\7\0'))
	$(call fuzz_seed,sse,'\377\377\7')
	@for f in $(wildcard $(FUZZ_FIXTURES)/openai-*.sse); do \
	  sed -n 's/^data: \{0,1\}\({.*[^\r]\)\r\{0,1\}$$/\1/p' $$f | \
	    awk -v p=$(FUZZ_DIR)/corpus/openai-fastpath/$${f##*/}- \
	    '{ printf "%s", $$0 > (p NR); close(p NR) }'; \
	done

# $(call fuzz_seed,TARGET,PREFIXES): one seed per fixture and prefix.
define fuzz_seed
@i=0; for pre in $(2); do i=$$((i + 1)); \
	  for f in $(wildcard $(FUZZ_FIXTURES)/$(1)-*.sse $(FUZZ_FIXTURES)/$(1)-*.ndjson $(FUZZ_SEEDS_$(1))); do \
	    { printf "$$pre"; cat $$f; } > $(FUZZ_DIR)/corpus/$(1)/fixture$$i-$${f##*/}; \
	  done; done

endef

# ---- make install, make uninstall, make deb (issue 18, items 2 and 3) ----
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [sysconfdir=$(PREFIX)/etc]
#   make uninstall (the same variables)
#   make deb        build/deb/chatstream_VERSION_ARCH.deb (conf/debian/)
#
# The binary goes to sbindir: chatstream is a daemon, and its commands
# (usage, --hash-key, --check-config) are the administrator's, so it sits
# with its section 8 page.  For PREFIX=/usr write sysconfdir=/etc (as the
# Debian package does).  The sample config is installed to
# $(sysconfdir)/chatstream/chatstream.conf only when no file is there, and
# uninstall removes it only while it is still the sample.  The unit is
# conf/chatstream.service without its opening comment (how to install it
# by hand) and with its paths (binary, config, key) pointed at these
# directories.
PREFIX         ?= /usr/local
sbindir        ?= $(PREFIX)/sbin
datadir        ?= $(PREFIX)/share
sysconfdir     ?= $(PREFIX)/etc
mandir         ?= $(datadir)/man
docdir         ?= $(datadir)/doc/chatstream
systemdunitdir ?= $(PREFIX)/lib/systemd/system
INSTALL        ?= install
INST_WWW      = $(sort $(shell find www -type f 2>/dev/null))
INST_EXAMPLES = $(wildcard conf/*.conf) conf/htaccess.example
INST_DOCS     = README.md docs/deploy.md docs/protocol.md
INST_MAN      = docs/man/chatstream.8 docs/man/chatstream.conf.5
INST_CONF     = $(DESTDIR)$(sysconfdir)/chatstream/chatstream.conf
INST_UNIT     = $(DESTDIR)$(systemdunitdir)/chatstream.service
# Every file install adds, but the config (kept once edited).
INST_FILES = $(DESTDIR)$(sbindir)/chatstream $(INST_UNIT) \
             $(DESTDIR)$(mandir)/man8/chatstream.8 \
             $(DESTDIR)$(mandir)/man5/chatstream.conf.5 \
             $(INST_WWW:www/%=$(DESTDIR)$(datadir)/chatstream/www/%) \
             $(addprefix $(DESTDIR)$(docdir)/examples/,$(notdir $(INST_EXAMPLES))) \
             $(addprefix $(DESTDIR)$(docdir)/,$(notdir $(INST_DOCS)))
# The unit's own paths (on its non-comment lines) made the installed ones.
UNIT_SED = -e '1i \# chatstream.service: conf/chatstream.service as make install puts it,' \
           -e '1i \# with the paths of $(sbindir) and $(sysconfdir) (the comments there' \
           -e '1i \# explain each choice).  The key: $(sysconfdir)/chatstream/api-key,' \
           -e '1i \# root-only, and chatstream.conf says' \
           -e '1i \#   api_key_file = /run/credentials/chatstream.service/api-key' \
           -e '1i \# See chatstream(8) and docs/deploy.md, "The systemd unit".' \
           -e '/^\[Unit\]/,$$!d' \
           -e '/^\#/!s|/usr/local/lib/chatstream/chatstream|$(sbindir)/chatstream|g' \
           -e '/^\#/!s|/etc/chatstream/|$(sysconfdir)/chatstream/|g' \
           -e 's|^Description=.*|&\nDocumentation=man:chatstream(8) man:chatstream.conf(5)|'

.PHONY: install uninstall deb
install: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(sbindir) $(DESTDIR)$(systemdunitdir) \
	    $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(mandir)/man5 \
	    $(DESTDIR)$(docdir)/examples $(DESTDIR)$(sysconfdir)/chatstream
	$(INSTALL) -m 0755 $(BUILD)/chatstream $(DESTDIR)$(sbindir)/chatstream
	$(INSTALL) -m 0644 docs/man/chatstream.8 $(DESTDIR)$(mandir)/man8/
	$(INSTALL) -m 0644 docs/man/chatstream.conf.5 $(DESTDIR)$(mandir)/man5/
	@for f in $(INST_WWW); do \
	  $(INSTALL) -D -m 0644 $$f $(DESTDIR)$(datadir)/chatstream/$$f || exit 1; \
	done
	$(INSTALL) -m 0644 $(INST_EXAMPLES) $(DESTDIR)$(docdir)/examples/
	$(INSTALL) -m 0644 $(INST_DOCS) $(DESTDIR)$(docdir)/
	sed $(UNIT_SED) conf/chatstream.service > $(INST_UNIT).tmp
	@grep -q '^ExecStart=$(sbindir)/chatstream ' $(INST_UNIT).tmp || \
	  { echo "conf/chatstream.service: no ExecStart to point at $(sbindir)" >&2; \
	    rm -f $(INST_UNIT).tmp; exit 1; }
	chmod 0644 $(INST_UNIT).tmp && mv $(INST_UNIT).tmp $(INST_UNIT)
	@if [ -e $(INST_CONF) ]; then \
	  echo "$(INST_CONF) exists: left as it is (the sample is in $(docdir)/examples)"; \
	else \
	  echo "$(INSTALL) -m 0644 conf/chatstream.conf $(INST_CONF)"; \
	  $(INSTALL) -m 0644 conf/chatstream.conf $(INST_CONF); \
	fi

uninstall:
	rm -f $(INST_FILES)
	@if cmp -s conf/chatstream.conf $(INST_CONF); then \
	  echo "rm -f $(INST_CONF)"; rm -f $(INST_CONF); \
	elif [ -e $(INST_CONF) ]; then \
	  echo "$(INST_CONF) was edited: kept"; \
	fi
	@for d in $$(printf '%s\n' $(dir $(INST_WWW:www/%=$(DESTDIR)$(datadir)/chatstream/www/%)) | sort -ru) \
	    $(DESTDIR)$(datadir)/chatstream $(DESTDIR)$(docdir)/examples \
	    $(DESTDIR)$(docdir) $(DESTDIR)$(sysconfdir)/chatstream; do \
	  [ ! -d $$d ] || rmdir $$d 2>/dev/null || true; \
	done

# The package is built from a copy of the tracked files (and new ones not
# yet committed, not the ignored) in build/deb/chatstream-VERSION/, with
# conf/debian/ as its debian/; dpkg-buildpackage leaves the .deb (and a
# -dbgsym .deb) in build/deb/.  Build-Depends: see conf/debian/control.
# Nothing of this make's variables (BUILD, SANITIZE, ...) reaches it.
DEB_VERSION = $(shell sed -n 's/^\#define CS_VERSION "\(.*\)"/\1/p' src/lib/cs.h)
DEB_TREE    = build/deb/chatstream-$(DEB_VERSION)
deb:
	@[ -n "$(DEB_VERSION)" ] || { echo "no CS_VERSION in src/lib/cs.h" >&2; exit 1; }
	@head -1 conf/debian/changelog | grep -q '($(DEB_VERSION))' || \
	  { echo "conf/debian/changelog: its first entry is not $(DEB_VERSION)" >&2; exit 1; }
	rm -rf $(DEB_TREE) && mkdir -p $(DEB_TREE)
	{ git ls-files -z --cached --others --exclude-standard 2>/dev/null || \
	  find . -path ./build -prune -o -path ./.git -prune -o -type f -print0; } | \
	  grep -zv '^\(\./\)\?\(build\|conf/debian\)/' | \
	  xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	  tar -c --null -T - -f - | tar -x -C $(DEB_TREE) -f -
	cp -R conf/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD \
	  -u SANITIZE -u CFLAGS -u DESTDIR -u PREFIX \
	  DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=$$(nproc)}" \
	  dpkg-buildpackage -us -uc -b
	@ls -l build/deb/*.deb

clean:
	rm -rf build

# .clang-format describes the code as it is: make format changes nothing
# on a clean tree, and CI (.ci/run) fails on code it would change.
FORMAT_SRCS = $(wildcard src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h \
              tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_SRCS)

format-check: deps
	clang-format --dry-run --Werror $(FORMAT_SRCS)

# ---- make portable: one static x86_64 binary for any Linux host --------
# (docs/deploy.md, "Shared hosting"), and the tarball of it with www/,
# conf/ and INSTALL-shared-hosting.txt.  Built from Debian's packages
# only: the static archives Debian ships (glibc, OpenSSL, zlib, libfcgi,
# json-c, SQLite, hiredis) and libcurl compiled here from Debian's own
# source package, because Debian's libcurl.a wants GSSAPI, LDAP, RTMP,
# SSH2, PSL, nghttp2, zstd ... archives it does not ship.  apt-get source
# fetches it once into build/cache/ (checked against the archive's signed
# index); it is built with HTTP(S) only, OpenSSL, the threaded resolver,
# and HTTP/2 when Debian ships libnghttp2.a.  The CA bundle of Debian's
# ca-certificates is built in as the last resort (src/upstream/tls_ca.h).
VERSION     := $(shell sed -n 's/^\#define CS_VERSION "\(.*\)"/\1/p' src/lib/cs.h)
PORT_DIR     = build/portable
DIST_DIR     = build/dist
TARBALL      = $(DIST_DIR)/chatstream-$(VERSION)-linux-x86_64.tar.gz
CURL_DEBVER := $(shell dpkg-query -W -f='$${Version}' libcurl4-openssl-dev 2>/dev/null)
CURL_UPVER   = $(firstword $(subst -, ,$(CURL_DEBVER)))
CURL_CACHE   = build/cache/curl-$(CURL_DEBVER)
CODENAME    := $(shell . /etc/os-release 2>/dev/null && echo $$VERSION_CODENAME)
CA_BUNDLE    = /etc/ssl/certs/ca-certificates.crt
NGHTTP2_A    = $(wildcard /usr/lib/x86_64-linux-gnu/libnghttp2.a)
APT_SRC      = -o Dir::Etc::SourceList=$(abspath $(CURL_CACHE))/sources.list \
               -o Dir::Etc::SourceParts=/dev/null \
               -o Dir::State::Lists=$(abspath $(CURL_CACHE))/lists \
               -o Dir::Cache=$(abspath $(CURL_CACHE))/apt -o Debug::NoLocking=1
CURL_CONFIGURE = --disable-shared --enable-static --with-openssl \
  --enable-threaded-resolver --without-libpsl --without-brotli \
  --without-zstd --without-libidn2 --without-librtmp --without-libssh2 \
  --without-gssapi --without-hyper $(if $(NGHTTP2_A),--with-nghttp2,--without-nghttp2) \
  --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
  --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
  --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
  --disable-ftp --disable-file --disable-ntlm --disable-manual \
  --disable-docs --disable-alt-svc --disable-hsts --without-ca-bundle \
  --without-ca-path

ifeq ($(PORTABLE_BUILD),1)
PORT_CFLAGS   = -I$(PORT_DIR)/curl/include -DCURL_STATICLIB -DCS_EMBED_CA \
  -DCS_CA_VERSION='"$(shell dpkg-query -W -f='$${Version}' ca-certificates)"' \
  -DCS_BUILD_KIND='"portable: static x86_64, glibc $(shell dpkg-query -W -f='$${Version}' libc6-dev), libcurl built from Debian source curl $(CURL_DEBVER)"'
PORT_GEN_OBJS = $(BUILD)/obj/gen/ca_bundle.o
PORT_LDFLAGS  = -static
LDLIBS = $(PORT_DIR)/curl/lib/libcurl.a $(if $(NGHTTP2_A),-lnghttp2,) \
         -lfcgi -ljson-c -lsqlite3 -lhiredis -lssl -lcrypto -lz -lpthread -ldl -lm
endif

$(BUILD)/gen/ca_bundle.c: $(CA_BUNDLE) src/embed.py
	@mkdir -p $(@D)
	python3 src/embed.py $(CA_BUNDLE) cs_ca_bundle > $@

$(BUILD)/obj/gen/ca_bundle.o: $(BUILD)/gen/ca_bundle.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

.PHONY: portable
portable: $(TARBALL)

$(CURL_CACHE)/src/configure:
	@mkdir -p $(CURL_CACHE)/lists/partial $(CURL_CACHE)/apt/archives/partial
	for s in $(CODENAME) $(CODENAME)-updates; do \
	  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $$s main"; done > $(CURL_CACHE)/sources.list
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $(CODENAME)-security main" >> $(CURL_CACHE)/sources.list
	apt-get $(APT_SRC) update -qq
	rm -rf $(CURL_CACHE)/get && mkdir -p $(CURL_CACHE)/get
	cd $(CURL_CACHE)/get && { apt-get $(APT_SRC) source -qq curl=$(CURL_DEBVER) || \
	  apt-get $(APT_SRC) source -qq curl; }
	rm -rf $(CURL_CACHE)/src && mv $(CURL_CACHE)/get/curl-*/ $(CURL_CACHE)/src
	test -x $@

$(PORT_DIR)/curl/lib/libcurl.a: $(CURL_CACHE)/src/configure
	rm -rf $(PORT_DIR)/curl-build $(PORT_DIR)/curl && mkdir -p $(PORT_DIR)
	cp -a $(CURL_CACHE)/src $(PORT_DIR)/curl-build
	cd $(PORT_DIR)/curl-build && ./configure -q $(CURL_CONFIGURE) \
	  --prefix=$(abspath $(PORT_DIR)/curl) >/dev/null
	$(MAKE) -s -C $(PORT_DIR)/curl-build/lib
	$(MAKE) -s -C $(PORT_DIR)/curl-build/lib install >/dev/null
	$(MAKE) -s -C $(PORT_DIR)/curl-build/include install >/dev/null

# The static link warns that glibc's name service wants its shared
# libraries at run time; without them names still resolve through
# /etc/hosts and DNS (/etc/resolv.conf), as the tests check in an empty
# chroot.
$(PORT_DIR)/chatstream: $(PORT_DIR)/curl/lib/libcurl.a FORCE
	$(MAKE) --no-print-directory BUILD=$(PORT_DIR) PORTABLE_BUILD=1 \
	  $(PORT_DIR)/chatstream-static
	strip -o $@ $(PORT_DIR)/chatstream-static

$(PORT_DIR)/chatstream-static: $(OBJS)
	$(CC) $(PORT_LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(TARBALL): $(PORT_DIR)/chatstream docs/INSTALL-shared-hosting.txt
	rm -rf $(DIST_DIR)/stage && mkdir -p $(DIST_DIR)/stage/chatstream-$(VERSION)
	cp $(PORT_DIR)/chatstream docs/INSTALL-shared-hosting.txt README.md \
	  $(DIST_DIR)/stage/chatstream-$(VERSION)/
	cp -r www conf $(DIST_DIR)/stage/chatstream-$(VERSION)/
	tar -C $(DIST_DIR)/stage --sort=name --owner=0 --group=0 --numeric-owner \
	  -czf $@ chatstream-$(VERSION)
	rm -rf $(DIST_DIR)/stage
	@echo "$@: $$(du -h $@ | cut -f1)"

.PHONY: FORCE
FORCE:

# Benchmarks (bench/): the load tools, then make bench / make bench-quick.
-include bench/tools.mk
-include bench/bench.mk
