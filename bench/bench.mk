# bench/bench.mk — `make bench` and `make bench-quick` (included by the
# top Makefile).  Both need the load tools (bench/tools.mk: bench-tools ->
# build/bench/upstream, build/bench/loadgen), chatstream itself, and the
# bench packages (gnuplot, strace, valgrind).  bench/run does the rest;
# BENCH_ARGS passes more options (e.g. BENCH_ARGS="--paths direct,cs-lighttpd").
#
#   make bench         all six paths at 1 / 500 / 2,000 streams, then 10,000
#                      streams x 5 deltas/s (one chatstream process behind
#                      nginx, beside direct and nginx proxy_pass), strace and
#                      callgrind, then what admission adds to the first delta
#                      at 500 requests/s (off / SQLite / Redis, twice each;
#                      BENCH_ARGS=--no-admission skips it); writes
#                      bench/results.md and bench/latency.svg (~6 minutes on
#                      2 cores)
#   make bench-quick   1 and 50 streams, four paths, no valgrind, admission at
#                      50 streams; writes
#                      build/bench/results.md and latency.svg (< 1 minute)
#   make bench-admission  only the admission measurement; writes
#                      build/bench/admission/
#   make bench-big     only the 10,000-stream scenario (no strace, no
#                      valgrind); writes build/bench/big/.  Where the
#                      descriptor limit is too low for 10,000 streams in one
#                      process: BENCH_ARGS="--big-streams fit" (or a number)

#   make bench-state   one admission + settle in the memory, SQLite and
#                      Redis stores with 0, 500 and 2,000 reservations
#                      live (bench/src/state_bench.c; one thread, no
#                      contention: the store's own work per chat)

.PHONY: bench bench-quick bench-big bench-admission bench-state

bench: deps-bench all bench-tools
	bench/run $(BENCH_ARGS)

bench-quick: deps-bench all bench-tools
	bench/run --quick $(BENCH_ARGS)

bench-big: deps-bench all bench-tools
	bench/run --scenario big --no-strace --no-valgrind --out build/bench/big $(BENCH_ARGS)

bench-admission: deps-bench all bench-tools
	bench/run --admission-only $(BENCH_ARGS)

# The store alone: a fresh SQLite file per count, and a redis-server of
# its own on a unix socket when Debian's is installed.
STATE_BENCH_DIR = $(BENCH_BIN)/state
$(BENCH_BIN)/state_bench: bench/src/state_bench.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/src/state_bench.c $(LIB_OBJS) $(LDLIBS)

bench-state: all $(BENCH_BIN)/state_bench
	@rm -rf $(STATE_BENCH_DIR) && mkdir -p $(STATE_BENCH_DIR)
	$(BENCH_BIN)/state_bench memory 0 500 2000
	@for n in 0 500 2000; do $(BENCH_BIN)/state_bench sqlite:$(CURDIR)/$(STATE_BENCH_DIR)/s$$n.db $$n || exit 1; done
	@if command -v redis-server >/dev/null; then \
	  redis-server --port 0 --unixsocket $(CURDIR)/$(STATE_BENCH_DIR)/redis.sock --save '' --appendonly no --daemonize yes --pidfile $(CURDIR)/$(STATE_BENCH_DIR)/redis.pid >/dev/null && \
	  for i in 1 2 3 4 5 6 7 8 9 10; do [ -S $(STATE_BENCH_DIR)/redis.sock ] && break; sleep 0.2; done; \
	  rc=0; for n in 0 500 2000; do $(BENCH_BIN)/state_bench "redis+unix://$(CURDIR)/$(STATE_BENCH_DIR)/redis.sock?db=$$((n % 7 + 1))" $$n || rc=1; done; \
	  kill $$(cat $(STATE_BENCH_DIR)/redis.pid); exit $$rc; \
	else echo "bench-state: redis-server not installed, Redis skipped"; fi
