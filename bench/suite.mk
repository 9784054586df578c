# bench/suite.mk - the allocator benchmark suite (included by the Makefile).
#   make bench          full suite: every workload x glibc, jemalloc, tcmalloc, mimalloc, umm,
#                       interleaved, 7 runs each -> bench/results/<date>.md + .svg (< 30 min on 2 cores)
#   make bench-quick    a subset at a smaller scale, 3 runs -> bench/results/<date>-quick.md (< 3 min)
#   make bench-scaling  larson and xmalloc at 1..16 threads -> bench/results/<date>-scaling-*.md
#   make bench-workloads  just build the workload programs ($(B)/bench/)
# Extra runner options: make bench BENCH_ARGS="--only larson,redis --runs 7" (see bench/run --help).
# bench/setup (run as root) installs the peers and real programs when missing; the
# targets call it and go on without what it could not install.

BENCH_WL     := larson xmalloc cache_scratch cache_thrash mstress rptest alloc_test glibc_simple \
                glibc_thread realloc fragment large churn fastpath
BENCH_BINS   := $(BENCH_WL:%=$(B)/bench/%) $(B)/bench/measure
BENCH_CFLAGS := -std=gnu11 -O2 -g -pthread $(WARN) \
                -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
BENCH_ARGS   ?=

$(B)/bench/%: bench/workloads/%.c bench/workloads/common.h | $(B)/bench
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lm -ldl

# the runner's measuring wrapper: static, so its own footprint (inherited by what it execs) is tiny
$(B)/bench/measure: bench/workloads/measure.c | $(B)/bench
	$(CC) -std=gnu11 -O2 $(WARN) -static $< -o $@ 2>/dev/null || $(CC) -std=gnu11 -O2 $(WARN) $< -o $@

$(B)/bench:
	mkdir -p $@

.PHONY: bench bench-quick bench-scaling bench-workloads bench-setup
bench-workloads: $(BENCH_BINS)

bench-setup:
	-@bench/setup

bench: bench-setup all $(BENCH_BINS)
	bench/run $(BENCH_ARGS)

bench-quick: bench-setup all $(BENCH_BINS)
	bench/run --quick $(BENCH_ARGS)

bench-scaling: bench-setup all $(BENCH_BINS)
	bench/scaling $(BENCH_ARGS)

TESTS     += bench/smoke.sh
TEST_DEPS += $(BENCH_BINS)
