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

.PHONY: bench bench-quick bench-big bench-admission

bench: deps-bench all bench-tools
	bench/run $(BENCH_ARGS)

bench-quick: deps-bench all bench-tools
	bench/run --quick $(BENCH_ARGS)

bench-big: deps-bench all bench-tools
	bench/run --scenario big --no-strace --no-valgrind --out build/bench/big $(BENCH_ARGS)

bench-admission: deps-bench all bench-tools
	bench/run --admission-only $(BENCH_ARGS)
