# tests/fuzz/fuzz.mk - libFuzzer fuzzing of the core (include from the Makefile).
#   make fuzz [FUZZ_TIME=600] [FUZZ_FLAGS=...]   fuzz the core for FUZZ_TIME seconds
#                                                on $(B)/fuzz-corpus (a copy of the
#                                                committed corpus, kept between runs);
#                                                crashes go to $(B)/fuzz-crashes/
#   make fuzz-build                              build both binaries only
#   make test                                    runs tests/fuzz/ci.sh: replay of the
#                                                committed corpus, then 10 s of fuzzing
#                                                (60 s when CI=true; FUZZ_SECONDS=N to choose)
# Binaries (core compiled in, UMM_DEBUG=1 asserts):
#   $(B)/fuzz/fuzz_core         clang -fsanitize=fuzzer,address,undefined
#   $(B)/fuzz/fuzz_core_replay  $(CC) -fsanitize=address,undefined, no libFuzzer: runs
#                               the files / directories given as arguments

FUZZ_DIR     := $(B)/fuzz
FUZZ_TIME    ?= 600
FUZZ_FLAGS   ?=
FUZZ_CC      ?= $(CLANG)
FUZZ_BASE    := -std=gnu11 -Iinclude -Isrc -Wall -Wextra -Wconversion -Wshadow -g -O1 -DUMM_DEBUG=1 -fno-omit-frame-pointer
FUZZ_SRC     := tests/fuzz/fuzz_core.c
FUZZ_CORPUS  := tests/fuzz/corpus/core
FUZZ_BINS    := $(FUZZ_DIR)/fuzz_core $(FUZZ_DIR)/fuzz_core_replay

TESTS     += tests/fuzz/ci.sh
TEST_DEPS += $(FUZZ_BINS)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR):
	mkdir -p $@

$(FUZZ_DIR)/fuzz_core: $(FUZZ_SRC) $(CORE_SRC) $(CORE_HDR) | $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -o $@ $(FUZZ_SRC) $(CORE_SRC)

$(FUZZ_DIR)/fuzz_core_replay: $(FUZZ_SRC) tests/fuzz/replay_main.c $(CORE_SRC) $(CORE_HDR) | $(FUZZ_DIR)
	$(CC) $(FUZZ_BASE) -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -o $@ $(FUZZ_SRC) tests/fuzz/replay_main.c $(CORE_SRC)

fuzz: $(FUZZ_DIR)/fuzz_core
	@mkdir -p $(B)/fuzz-corpus $(B)/fuzz-crashes
	@cp $(FUZZ_CORPUS)/* $(B)/fuzz-corpus/
	@echo "fuzz: $(FUZZ_TIME) s on $(B)/fuzz-corpus (seeded from $(FUZZ_CORPUS)); crashes -> $(B)/fuzz-crashes/"
	@rc=0; $(FUZZ_DIR)/fuzz_core -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	  -artifact_prefix=$(B)/fuzz-crashes/ $(FUZZ_FLAGS) $(B)/fuzz-corpus || rc=$$?; \
	n=$$(find $(B)/fuzz-crashes -type f | wc -l); \
	if [ "$$n" -gt 0 ]; then echo "fuzz: $$n crash/timeout/leak input(s) in $(B)/fuzz-crashes/:"; \
	  ls -l $(B)/fuzz-crashes/; \
	  echo "fuzz: decode one with FUZZ_CORE_TRACE=1 $(FUZZ_DIR)/fuzz_core_replay FILE (make $(FUZZ_DIR)/fuzz_core_replay)"; \
	else echo "fuzz: no crashes"; fi; \
	exit $$rc
