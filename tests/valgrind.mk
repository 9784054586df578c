# tests/valgrind.mk - `make test-valgrind`: the core tests under memcheck, and
# the preload run under valgrind (included by the Makefile; not part of `make test`).
#  - test_api and test_random are compiled with the core sources and
#    -DUMM_VALGRIND=1 (src/umm_valgrind.h: blocks announced with
#    VALGRIND_MALLOCLIKE_BLOCK / FREELIKE_BLOCK / RESIZEINPLACE_BLOCK, free
#    space NOACCESS) and must run with 0 memcheck errors and no leak;
#  - vg_uaf (tests/valgrind/vg_uaf.c) must make memcheck report a read after
#    umm_free and a write into free space: proof that memcheck sees core blocks;
#  - tests/valgrind/preload.sh: a program under valgrind with
#    LD_PRELOAD=libumm_preload.so and --soname-synonyms=somalloc=libumm_preload.so
#    gets memcheck's malloc (leak and use-after-free reported), and real
#    programs run that way with 0 errors.
VG_DIR      := $(B)/tests/vg
VG_CFLAGS   := $(TEST_BASE) -DUMM_VALGRIND=1 -DUMM_DEBUG=1 -O1
VALGRIND    ?= valgrind
VG_MEMCHECK := $(VALGRIND) --tool=memcheck -q --error-exitcode=1 --leak-check=full \
               --errors-for-leak-kinds=definite,possible --child-silent-after-fork=yes
VG_RANDOM_OPS ?= 200000
VG_HDR      := src/umm_valgrind.h

.PHONY: test-valgrind vg-core vg-uaf vg-preload

$(VG_DIR):
	mkdir -p $@

$(VG_DIR)/test_api: tests/core/test_api.c $(TEST_COMMON) $(VG_HDR) | $(VG_DIR)
	$(CC) $(VG_CFLAGS) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(VG_DIR)/test_random: tests/core/test_random.c $(TEST_COMMON) $(VG_HDR) | $(VG_DIR)
	$(CC) $(VG_CFLAGS) -DRANDOM_DEFAULT_OPS=$(VG_RANDOM_OPS) -o $@ $< $(CORE_SRC) $(TEST_LIBS)

$(VG_DIR)/vg_uaf: tests/valgrind/vg_uaf.c $(CORE_SRC) $(CORE_HDR) $(VG_HDR) | $(VG_DIR)
	$(CC) $(VG_CFLAGS) -o $@ $< $(CORE_SRC)

$(VG_DIR)/vg_prog: tests/valgrind/vg_prog.c | $(VG_DIR)
	$(CC) -std=gnu11 -O0 -g -o $@ $<

vg-core: $(VG_DIR)/test_api $(VG_DIR)/test_random
	$(VG_MEMCHECK) $(VG_DIR)/test_api > $(VG_DIR)/test_api.log 2>&1 || { tail -n 40 $(VG_DIR)/test_api.log; exit 1; }
	@tail -n 1 $(VG_DIR)/test_api.log
	$(VG_MEMCHECK) $(VG_DIR)/test_random > $(VG_DIR)/test_random.log 2>&1 || { tail -n 40 $(VG_DIR)/test_random.log; exit 1; }
	@tail -n 1 $(VG_DIR)/test_random.log

# Each case must fail under memcheck (exit 1 from --error-exitcode) with the
# expected report, and pass natively.
vg-uaf: $(VG_DIR)/vg_uaf
	$(VG_DIR)/vg_uaf > /dev/null
	$(VG_DIR)/vg_uaf overflow
	@rc=0; $(VG_MEMCHECK) $(VG_DIR)/vg_uaf > $(VG_DIR)/vg_uaf.log 2>&1 || rc=$$?; \
	 if [ $$rc -ne 1 ] || ! grep -q 'Invalid read of size 1' $(VG_DIR)/vg_uaf.log || \
	    ! grep -q 'inside a block of size 104 free.d' $(VG_DIR)/vg_uaf.log; then \
	   cat $(VG_DIR)/vg_uaf.log; echo "vg-uaf: memcheck did not report the read after umm_free (exit $$rc)"; exit 1; fi; \
	 echo "vg-uaf: memcheck reports the read after umm_free"
	@rc=0; $(VG_MEMCHECK) $(VG_DIR)/vg_uaf overflow > $(VG_DIR)/vg_overflow.log 2>&1 || rc=$$?; \
	 if [ $$rc -ne 1 ] || ! grep -q 'Invalid write of size 1' $(VG_DIR)/vg_overflow.log; then \
	   cat $(VG_DIR)/vg_overflow.log; echo "vg-uaf: memcheck did not report the write into free space (exit $$rc)"; exit 1; fi; \
	 echo "vg-uaf: memcheck reports the write into free space"

vg-preload: $(PRELOAD_SO) $(VG_DIR)/vg_prog
	VALGRIND="$(VALGRIND)" tests/valgrind/preload.sh $(PRELOAD_SO) $(VG_DIR)/vg_prog

test-valgrind: vg-uaf vg-core vg-preload
	@echo "test-valgrind: all passed"

# part of `make test` (one entry: the whole of test-valgrind)
TESTS += tests/valgrind/test.sh
