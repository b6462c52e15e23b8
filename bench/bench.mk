# bench/bench.mk — `make bench` and `make bench-quick` (included by the
# top Makefile).  Both need the load tools (bench/tools.mk: bench-tools ->
# build/bench/upstream, build/bench/loadgen), chatstream itself, and the
# bench packages (gnuplot, strace, valgrind).  bench/run does the rest;
# BENCH_ARGS passes more options (e.g. BENCH_ARGS="--paths direct,cs-lighttpd").
#
#   make bench         all six paths, 1 / 500 / 2000 streams, strace and
#                      callgrind; writes bench/results.md and bench/latency.svg
#                      (~3 minutes on 2 cores)
#   make bench-quick   1 and 50 streams, four paths, no valgrind; writes
#                      build/bench/results.md and latency.svg (< 1 minute)

.PHONY: bench bench-quick

bench: deps-bench all bench-tools
	bench/run $(BENCH_ARGS)

bench-quick: deps-bench all bench-tools
	bench/run --quick $(BENCH_ARGS)
