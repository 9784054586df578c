# umm - build, test, bench.  `make` builds the libraries; `make test` runs every test.
# Feature areas add their own rules in a fragment (*.mk) included below; each
# fragment appends to TESTS: paths of test programs or scripts (run with no
# arguments from the repository root) that `make test` runs.
CC      ?= gcc
CLANG   ?= clang
WARN    := -Wall -Wextra -Wconversion -Wshadow
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := -std=gnu11 -fPIC -fvisibility=hidden $(WARN) -Iinclude -Isrc $(CFLAGS)
B       := build

CORE_SRC := $(sort $(wildcard src/*.c))
CORE_HDR := include/umm.h $(wildcard src/*.h)
CORE_OBJ := $(CORE_SRC:src/%.c=$(B)/obj/%.o)

TESTS :=

.PHONY: all test clean warnings
all: $(B)/libumm.a $(B)/libumm.so

$(B)/obj/%.o: src/%.c $(CORE_HDR) | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libumm.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libumm.so: $(CORE_OBJ)
	$(CC) -shared -o $@ $^

$(B)/obj:
	mkdir -p $@

# Warning gate: the core compiled with gcc and clang, warnings as errors.
warnings:
	@for c in $(CC) $(CLANG); do for f in $(CORE_SRC); do \
	  $$c -std=gnu11 $(WARN) -Werror -Iinclude -Isrc -O2 -c $$f -o /dev/null || exit 1; \
	  $$c -std=gnu11 $(WARN) -Werror -Iinclude -Isrc -O0 -DUMM_DEBUG=2 -c $$f -o /dev/null || exit 1; \
	done; echo "warnings: $$c clean"; done

-include tests/tests.mk
-include bench/bench.mk
-include bench/suite.mk
-include tools/tools.mk
-include preload/preload.mk
-include tests/fuzz/fuzz.mk
-include tests/valgrind.mk

# Runs every registered test; prints "N passed, N failed" and fails if any failed.
test: all warnings $(TEST_DEPS)
	@B=$(B) tests/run-tests.sh $(TESTS)

clean:
	rm -rf $(B)
