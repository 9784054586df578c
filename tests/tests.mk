# tests/tests.mk - the core's tests (included by the Makefile).
# Each test program is compiled together with the core sources ($(CORE_SRC)),
# so every variant gets its own flags:
#   single-threaded tests : UMM_DEBUG=2 (the core checks itself after each call), -O1
#   threaded / signal     : UMM_DEBUG=1 (asserts only), -O2
#   sanitizers            : ASan+UBSan (test_api, test_random), TSan (test_stress, test_merge)
# Binaries go under $(B)/tests/; all are appended to TESTS and TEST_DEPS.

TEST_DIR    := $(B)/tests
TEST_BASE   := -std=gnu11 -Iinclude -Isrc -Wall -Wextra -Wconversion -Wshadow -g
TEST_ST     := $(TEST_BASE) -DUMM_DEBUG=2 -O1
TEST_MT     := $(TEST_BASE) -DUMM_DEBUG=1 -O2
TEST_ASAN   := $(TEST_BASE) -DUMM_DEBUG=2 -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TEST_TSAN   := $(TEST_BASE) -DUMM_DEBUG=1 -O1 -fsanitize=thread
TEST_LIBS   := -pthread
TSAN_CC     ?= $(CC)

CORE_TESTS := $(TEST_DIR)/test_api $(TEST_DIR)/test_random $(TEST_DIR)/test_stress $(TEST_DIR)/test_signal $(TEST_DIR)/test_merge \
              $(TEST_DIR)/test_check
SAN_TESTS  := $(TEST_DIR)/test_api_asan $(TEST_DIR)/test_random_asan $(TEST_DIR)/test_stress_tsan $(TEST_DIR)/test_merge_tsan

TESTS     += $(CORE_TESTS) $(SAN_TESTS)
TEST_DEPS += $(CORE_TESTS) $(SAN_TESTS)

TEST_COMMON := tests/check.h $(CORE_SRC) $(CORE_HDR)

.PHONY: core-tests
core-tests: $(CORE_TESTS) $(SAN_TESTS)

$(TEST_DIR):
	mkdir -p $@

$(TEST_DIR)/test_api: tests/core/test_api.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_ST) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

# White-box: plants broken invariants for umm_check to find (umm_internal.h).
$(TEST_DIR)/test_check: tests/core/test_check.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_ST) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_random: tests/core/test_random.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_ST) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_stress: tests/core/test_stress.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_MT) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_merge: tests/core/test_merge.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_MT) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

# The signal test nests nowait calls inside the main thread's calls, so the
# region is never quiet: UMM_DEBUG=2's checker after each call does not apply.
$(TEST_DIR)/test_signal: tests/core/test_signal.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_MT) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_api_asan: tests/core/test_api.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_ASAN) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_random_asan: tests/core/test_random.c $(TEST_COMMON) | $(TEST_DIR)
	$(CC) $(TEST_ASAN) -DRANDOM_DEFAULT_OPS=200000 -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_stress_tsan: tests/core/test_stress.c $(TEST_COMMON) | $(TEST_DIR)
	$(TSAN_CC) $(TEST_TSAN) -DSTRESS_DEFAULT_OPS=100000 -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(TEST_DIR)/test_merge_tsan: tests/core/test_merge.c $(TEST_COMMON) | $(TEST_DIR)
	$(TSAN_CC) $(TEST_TSAN) -DMERGE_DEFAULT_ROUNDS=400 -o $@ $< $(CORE_SRC) $(TEST_LIBS)
