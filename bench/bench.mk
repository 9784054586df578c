# bench/bench.mk - benchmarks (included by the Makefile).
#   make core-scale            full run: 1k..1M live chunks, time + instructions
#   make core-scale CORE_SCALE_ARGS="--sizes 1k,1M --ops 500k"
$(B)/core_scale: bench/core_scale.c include/umm.h $(B)/libumm.a
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libumm.a

CORE_SCALE_ARGS ?=
.PHONY: core-scale
core-scale: $(B)/core_scale
	$(B)/core_scale $(CORE_SCALE_ARGS)

TEST_DEPS += $(B)/core_scale
TESTS += bench/core_scale.sh

# A probe (bench/probes/slots.c, not part of the suite): ns per free + malloc
# with a live set that misses L1; bench/README.md, "Where umm is behind".
$(B)/bench/probe_slots: bench/probes/slots.c | $(B)/bench
	$(CC) $(ALL_CFLAGS) $< -o $@
TEST_DEPS += $(B)/bench/probe_slots
