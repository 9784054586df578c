# tests/fuzz/fuzz.mk - libFuzzer fuzzing of the core and of the preload's malloc
# family (include from the Makefile).
#   make fuzz [FUZZ_TIME=600] [FUZZ_FLAGS=...]   fuzz each target (core, then preload)
#                                                for FUZZ_TIME seconds on
#                                                $(B)/fuzz-corpus[-preload] (a copy of the
#                                                committed corpus, kept between runs);
#                                                crashes go to $(B)/fuzz-crashes[-preload]/
#   make fuzz-core / fuzz-preload                one target only
#   make fuzz-build                              build the four binaries only
#   make test                                    runs tests/fuzz/ci.sh: replay of both
#                                                committed corpora, then 10 s of fuzzing
#                                                each (60 s when CI=true; FUZZ_SECONDS=N)
# Binaries:
#   $(B)/fuzz/fuzz_core            core compiled in (UMM_DEBUG=1 asserts),
#                                  clang -fsanitize=fuzzer,address,undefined
#   $(B)/fuzz/fuzz_core_replay     the same with $(CC) -fsanitize=address,undefined and
#                                  no libFuzzer: runs the files / directories given
#   $(B)/fuzz/fuzz_preload         preload/*.c + src/*.c with PRELOAD_CFLAGS and the
#                                  sanitizers, exported malloc family renamed to ummfz_*
#                                  (objcopy --redefine-syms=tests/fuzz/preload.syms) so
#                                  that ASan keeps the real malloc
#   $(B)/fuzz/fuzz_preload_replay  the same with $(CC), no libFuzzer

FUZZ_DIR     := $(B)/fuzz
FUZZ_TIME    ?= 600
FUZZ_FLAGS   ?=
FUZZ_CC      ?= $(CLANG)
FUZZ_BASE    := -std=gnu11 -Iinclude -Isrc -Wall -Wextra -Wconversion -Wshadow -g -O1 -DUMM_DEBUG=1 -fno-omit-frame-pointer
FUZZ_SRC     := tests/fuzz/fuzz_core.c
FUZZ_COMMON  := tests/fuzz/fz_common.h
FUZZ_CORPUS  := tests/fuzz/corpus/core
FUZZ_BINS    := $(FUZZ_DIR)/fuzz_core $(FUZZ_DIR)/fuzz_core_replay \
                $(FUZZ_DIR)/fuzz_preload $(FUZZ_DIR)/fuzz_preload_replay

TESTS     += tests/fuzz/ci.sh
TEST_DEPS += $(FUZZ_BINS)

.PHONY: fuzz fuzz-build fuzz-core fuzz-preload
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR):
	mkdir -p $@

$(FUZZ_DIR)/fuzz_core: $(FUZZ_SRC) $(FUZZ_COMMON) $(CORE_SRC) $(CORE_HDR) | $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -o $@ $(FUZZ_SRC) $(CORE_SRC)

$(FUZZ_DIR)/fuzz_core_replay: $(FUZZ_SRC) $(FUZZ_COMMON) tests/fuzz/replay_main.c $(CORE_SRC) $(CORE_HDR) | $(FUZZ_DIR)
	$(CC) $(FUZZ_BASE) -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -o $@ $(FUZZ_SRC) tests/fuzz/replay_main.c $(CORE_SRC)

# ---- the preload target ----------------------------------------------------------
# Every preload and core source is compiled once per compiler into
# $(FUZZ_DIR)/pre-<cc>/ and its malloc-family symbols renamed in place
# (definitions and the calls between the preload's own files alike). The
# stamp checks with nm that every global symbol defined there is umm's own
# (umm_, ummp_, ummi_) or renamed (ummfz_): a new export missing from
# preload.syms would clash with, or silently replace, the sanitizer's malloc.
FZP_SYMS    := tests/fuzz/preload.syms
FZP_SRC     := tests/fuzz/fuzz_preload.c
FZP_CORPUS  := tests/fuzz/corpus/preload
FZP_CFLAGS   = $(PRELOAD_CFLAGS) -fno-omit-frame-pointer
FZP_TCFLAGS := -std=gnu11 -Iinclude -Wall -Wextra -Wconversion -Wshadow -g -O1 -fno-omit-frame-pointer
FZP_CLANG_OBJ = $(PRELOAD_SRC:preload/%.c=$(FUZZ_DIR)/pre-clang/%.o) $(CORE_SRC:src/%.c=$(FUZZ_DIR)/pre-clang/core-%.o)
FZP_GCC_OBJ   = $(PRELOAD_SRC:preload/%.c=$(FUZZ_DIR)/pre-gcc/%.o) $(CORE_SRC:src/%.c=$(FUZZ_DIR)/pre-gcc/core-%.o)
FZP_IGNORE    := tests/fuzz/coverage-ignore.txt
FZP_SAN_CLANG := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                 -fsanitize-coverage-ignorelist=$(FZP_IGNORE) -fsanitize-ignorelist=$(FZP_IGNORE)
FZP_SAN_GCC   := -fsanitize=address,undefined -fno-sanitize-recover=all
# gcc's null check of &ummp_tls (initial-exec TLS) tests the flags of an
# `add x@gottpoff(%rip)` that the linker relaxes into a flag-less lea in an
# executable: a false "member access within null pointer" (gcc 12, binutils
# 2.40). The clang build keeps the null check.
FZP_SAN_GCC_OBJ := $(FZP_SAN_GCC) -fno-sanitize=null
FZP_NM_OK     := ^((umm|ummp|ummi|ummfz)_|__odr_asan[._])

$(FUZZ_DIR)/pre-clang $(FUZZ_DIR)/pre-gcc:
	mkdir -p $@
$(FUZZ_DIR)/pre-clang/%.o: preload/%.c $(PRELOAD_HDR) $(CORE_HDR) $(FZP_SYMS) $(FZP_IGNORE) | $(FUZZ_DIR)/pre-clang
	$(FUZZ_CC) $(FZP_CFLAGS) $(FZP_SAN_CLANG) -c $< -o $@ && objcopy --redefine-syms=$(FZP_SYMS) $@
$(FUZZ_DIR)/pre-clang/core-%.o: src/%.c $(CORE_HDR) $(FZP_SYMS) $(FZP_IGNORE) | $(FUZZ_DIR)/pre-clang
	$(FUZZ_CC) $(FZP_CFLAGS) $(FZP_SAN_CLANG) -c $< -o $@ && objcopy --redefine-syms=$(FZP_SYMS) $@
$(FUZZ_DIR)/pre-gcc/%.o: preload/%.c $(PRELOAD_HDR) $(CORE_HDR) $(FZP_SYMS) | $(FUZZ_DIR)/pre-gcc
	$(CC) $(FZP_CFLAGS) $(FZP_SAN_GCC_OBJ) -c $< -o $@ && objcopy --redefine-syms=$(FZP_SYMS) $@
$(FUZZ_DIR)/pre-gcc/core-%.o: src/%.c $(CORE_HDR) $(FZP_SYMS) | $(FUZZ_DIR)/pre-gcc
	$(CC) $(FZP_CFLAGS) $(FZP_SAN_GCC_OBJ) -c $< -o $@ && objcopy --redefine-syms=$(FZP_SYMS) $@

# nm gate (one stamp per object set)
$(FUZZ_DIR)/pre-%/symbols.ok: | $(FUZZ_DIR)/pre-%
	@bad=$$(nm -g --defined-only $(filter %.o,$^) | awk 'NF == 3 {print $$3}' | grep -Ev '$(FZP_NM_OK)' | sort -u); \
	if [ -n "$$bad" ]; then echo "fuzz: symbols left unprefixed in $(@D) (add them to $(FZP_SYMS)):" $$bad; exit 1; fi; \
	touch $@
$(FUZZ_DIR)/pre-clang/symbols.ok: $(FZP_CLANG_OBJ)
$(FUZZ_DIR)/pre-gcc/symbols.ok: $(FZP_GCC_OBJ)

$(FUZZ_DIR)/fuzz_preload: $(FZP_SRC) $(FUZZ_COMMON) $(FZP_CLANG_OBJ) $(FUZZ_DIR)/pre-clang/symbols.ok include/umm_debug.h include/umm_fault.h
	$(FUZZ_CC) $(FZP_TCFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -o $@ $(FZP_SRC) $(FZP_CLANG_OBJ) -lpthread -ldl

$(FUZZ_DIR)/fuzz_preload_replay: $(FZP_SRC) $(FUZZ_COMMON) tests/fuzz/replay_main.c $(FZP_GCC_OBJ) $(FUZZ_DIR)/pre-gcc/symbols.ok include/umm_debug.h include/umm_fault.h
	$(CC) $(FZP_TCFLAGS) $(FZP_SAN_GCC) \
	  -o $@ $(FZP_SRC) tests/fuzz/replay_main.c $(FZP_GCC_OBJ) -lpthread -ldl

# ---- make fuzz: both targets, one after the other (the second runs even when the
# first found a crash); fails when either did -----------------------------------------
fuzz: $(FUZZ_DIR)/fuzz_core $(FUZZ_DIR)/fuzz_preload
	@rc=0; $(MAKE) --no-print-directory fuzz-core || rc=1; \
	$(MAKE) --no-print-directory fuzz-preload || rc=1; exit $$rc

fuzz-preload: $(FUZZ_DIR)/fuzz_preload
	@mkdir -p $(B)/fuzz-corpus-preload $(B)/fuzz-crashes-preload
	@cp $(FZP_CORPUS)/* $(B)/fuzz-corpus-preload/
	@echo "fuzz-preload: $(FUZZ_TIME) s on $(B)/fuzz-corpus-preload (seeded from $(FZP_CORPUS)); crashes -> $(B)/fuzz-crashes-preload/"
	@rc=0; $(FUZZ_DIR)/fuzz_preload -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	  -artifact_prefix=$(B)/fuzz-crashes-preload/ $(FUZZ_FLAGS) $(B)/fuzz-corpus-preload || rc=$$?; \
	n=$$(find $(B)/fuzz-crashes-preload -type f | wc -l); \
	if [ "$$n" -gt 0 ]; then echo "fuzz-preload: $$n crash/timeout/leak input(s) in $(B)/fuzz-crashes-preload/:"; \
	  ls -l $(B)/fuzz-crashes-preload/; \
	  echo "fuzz-preload: decode one with FUZZ_PRELOAD_TRACE=1 $(FUZZ_DIR)/fuzz_preload_replay FILE (make $(FUZZ_DIR)/fuzz_preload_replay)"; \
	else echo "fuzz-preload: no crashes"; fi; \
	exit $$rc

fuzz-core: $(FUZZ_DIR)/fuzz_core
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
