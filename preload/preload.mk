# preload/preload.mk - build/libumm_preload.so (the malloc replacement), its
# tests and `make demo`. Included by the top-level Makefile.
#
# The core sources are compiled again into the .so with the preload's flags:
# -fno-builtin-* keeps the compiler from turning malloc+memset into a calloc
# call (which would recurse), initial-exec TLS keeps __tls_get_addr (which
# may call malloc) out, hidden visibility exports only the malloc family and
# the debug API (marked UMMP_EXPORT) and the core's pointer queries
# (UMM_API_PTR: umm_usable_size, umm_tags); UMM_CORE_HIDDEN keeps the
# functions that take a umm_t inside (include/umm.h says why).

PRELOAD_SRC    := $(sort $(wildcard preload/*.c))
PRELOAD_HDR    := $(wildcard preload/*.h)
PRELOAD_CFLAGS := -std=gnu11 -fPIC -O2 -g -fvisibility=hidden -fno-semantic-interposition \
                  -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
                  -ftls-model=initial-exec -fno-stack-protector -DUMM_CORE_HIDDEN $(WARN) -Iinclude -Isrc -Ipreload
PRELOAD_OBJ    := $(PRELOAD_SRC:preload/%.c=$(B)/preload/%.o) $(CORE_SRC:src/%.c=$(B)/preload/core-%.o)
PRELOAD_SO     := $(B)/libumm_preload.so

ifneq ($(CORE_SRC),)
all: $(PRELOAD_SO)
endif

$(B)/preload/%.o: preload/%.c $(PRELOAD_HDR) $(CORE_HDR) | $(B)/preload
	$(CC) $(PRELOAD_CFLAGS) -c $< -o $@
$(B)/preload/core-%.o: src/%.c $(CORE_HDR) | $(B)/preload
	$(CC) $(PRELOAD_CFLAGS) -c $< -o $@
$(PRELOAD_SO): $(PRELOAD_OBJ)
	$(CC) -shared -Wl,-z,defs -Wl,-soname,libumm_preload.so -o $@ $^ -lpthread
$(B)/preload $(B)/tests/preload:
	mkdir -p $@

# ---- tests -------------------------------------------------------------------
PRELOAD_TEST_CFLAGS := -std=gnu11 -O1 -g -pthread -Wall -Wextra -Wno-deprecated-declarations \
                       -Wno-alloc-size-larger-than -Wno-use-after-free \
                       -fno-builtin -Iinclude
PRELOAD_TEST_BINS := $(patsubst tests/preload/%.c,$(B)/tests/preload/%,$(wildcard tests/preload/*.c)) \
                     $(patsubst tests/preload/%.cc,$(B)/tests/preload/%,$(wildcard tests/preload/*.cc))

$(B)/tests/preload/%: tests/preload/%.c | $(B)/tests/preload
	$(CC) $(PRELOAD_TEST_CFLAGS) $< -o $@ -lpthread
$(B)/tests/preload/%: tests/preload/%.cc | $(B)/tests/preload
	$${CXX:-g++} -std=c++17 -O1 -g -pthread -Wall -Wextra $< -o $@

TESTS     += $(sort $(wildcard tests/preload/*.sh))
TEST_DEPS += $(PRELOAD_SO) $(PRELOAD_TEST_BINS)

# The warning gate covers the preload too (gcc and clang, warnings as errors).
.PHONY: preload-warnings
warnings: preload-warnings
preload-warnings:
	@for c in $(CC) $(CLANG); do for f in $(PRELOAD_SRC); do \
	  $$c $(filter-out -g,$(PRELOAD_CFLAGS)) -Werror -c $$f -o /dev/null || exit 1; \
	done; echo "preload warnings: $$c clean"; done

.PHONY: demo preload-tests
preload-tests: $(PRELOAD_SO) $(PRELOAD_TEST_BINS)
	@B=$(B) tests/run-tests.sh $(sort $(wildcard tests/preload/*.sh))

# `make demo`: python3 with every allocation going through umm, and the summary.
demo: all
	@py=$$(command -v /usr/bin/python3 || command -v python3); \
	echo "== LD_PRELOAD=$(PRELOAD_SO) UMM_STATS=1 PYTHONMALLOC=malloc $$py preload/demo.py"; \
	LD_PRELOAD=$(abspath $(PRELOAD_SO)) UMM_STATS=1 PYTHONMALLOC=malloc $$py preload/demo.py
