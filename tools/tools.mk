# tools/tools.mk - sample application (included by the Makefile).
#   $(B)/umm_sample -t THREADS -s SECONDS [-m REGION_MiB] [-r SEED] [-q]
$(B)/umm_sample: tools/umm_sample.c include/umm.h $(B)/libumm.a
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libumm.a -pthread

.PHONY: sample
sample: $(B)/umm_sample
	$(B)/umm_sample -t 4 -s 5

TEST_DEPS += $(B)/umm_sample
TESTS += tools/sample_test.sh
