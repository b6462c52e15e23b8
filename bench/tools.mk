# bench/tools.mk — the load tools of make bench (included by the Makefile).
#
#   make bench-tools   build build/bench/upstream and build/bench/loadgen
#
# Plain libc + epoll: no library beyond libc, one thread each.

BENCH_BIN     = build/bench
BENCH_CFLAGS  = -std=gnu11 -D_GNU_SOURCE $(WARN) $(if $(WERROR),-Werror,) \
                -O2 -g
BENCH_COMMON  = bench/src/bench_util.c
BENCH_DEPS    = $(BENCH_COMMON) $(wildcard bench/src/*.h) bench/tools.mk

.PHONY: bench-tools

bench-tools: $(BENCH_BIN)/upstream $(BENCH_BIN)/loadgen

$(BENCH_BIN)/upstream: bench/src/upstream.c $(BENCH_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/src/upstream.c $(BENCH_COMMON)

$(BENCH_BIN)/loadgen: bench/src/loadgen.c $(BENCH_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/src/loadgen.c $(BENCH_COMMON)
