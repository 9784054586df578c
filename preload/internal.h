/* internal.h - names shared between the preload's files (prefix ummp_).
 * Layering: preload -> core (include/umm.h) only; the core never calls back
 * except through umm_on_contention / umm_on_fatal. */
#ifndef UMMP_INTERNAL_H
#define UMMP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "types.h"
#include "os.h"

#define UMMP_EXPORT   __attribute__((visibility("default")))
#define ummp_likely(x)   __builtin_expect(!!(x), 1)
#define ummp_unlikely(x) __builtin_expect(!!(x), 0)
#define UMMP_NOINLINE __attribute__((noinline))
#define UMMP_COLD     __attribute__((noinline, cold))
#define ummp_barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)

extern ummp_global_t ummp_g;
extern ummp_region_t ummp_regions[UMMP_MAX_REGIONS];
extern __thread ummp_tls_t ummp_tls __attribute__((tls_model("initial-exec")));

/* ---- bin gates (signal safety) ---------------------------------------------
 * t->gate[g] (uint32) says whether bin g may be used now and, while it may,
 * how many more blocks a free may push into it (its room r):
 *   open, room r:  UMMP_GATE_OPEN + r   (OPEN = 2^32 - E, E = 2^28)
 *   held:          the holder's room (small)
 *   off:           UMMP_GATE_OFF (a live thread's unused bin, cache off; a
 *                  thread not set up has all gates 0, which takes fail on too)
 * A fast path takes the gate with ONE non-atomic add of an immediate whose
 * carry says whether the take worked: malloc adds E (carry iff open: the
 * gate becomes r, held), free adds E - 1 (carry iff open with r >= 1: the
 * gate becomes r - 1). A signal cannot split one instruction, so a handler
 * that interrupts a fast path finds that bin held and takes its slow path;
 * other bins stay usable to it (the interrupted path touches only its bin).
 * A fast path gives the gate back with one more add (OPEN plus what it did
 * to the room). A take that fails undoes its add with one subtract before
 * anything else. Every change of a gate is an add, so the value is always the
 * start value plus the sum of the changes, whatever the interleaving; a
 * handler that runs inside a failed take's window (take to undo: a free
 * finding the bin full leaves it reading as open with a huge room) may push
 * more than the room allows; the sum then leaves the room negative (a debt)
 * once the undo is done, and the next slow path flushes it off: nothing is
 * ever clamped or stored over, so no count is lost. The slow paths hold a
 * bin with ummp_gate_hold (one CAS; 0 when the bin is held or off), keep its
 * signed room in a local and reopen it with ummp_gate_open (a store: while a
 * gate is held, a handler's take fails and undoes itself before the holder
 * runs again); a slow path that cannot hold a bin uses the core instead.
 * Thread set-up opens or closes the gates with an add: a take that the set-up
 * (in a signal handler) interrupted still has its undo to run. Limit: 8
 * nested handlers, each in a failed take's window on a held gate, would add
 * up to an open-looking value.
 * No gate change is an atomic (locked) instruction on the fast paths. */
#define UMMP_GATE_E    (1u << 28)
#define UMMP_GATE_OPEN (0u - UMMP_GATE_E)
#define UMMP_GATE_HIGH 0x80000000u                /* at or above: open (room = gate - OPEN, negative: a debt) */
#define UMMP_GATE_OFF  0x40000000u                /* off (a live thread's unused bin, or cache off); below: held */

/* Add k (a constant) to a gate: 1 when the add carried (the take worked),
 * else 0 with the add undone. The add must be one instruction (a signal
 * cannot split it); the undo and the give need not be: a handler that runs
 * between their load and store finds the bin held, so whatever it does to
 * the gate it undoes. */
static inline __attribute__((always_inline)) int ummp_gate_try(uint32_t *gate, uint32_t k) {
#if defined(__x86_64__)
  __asm__ goto("addl %1, %0\n\tjnc %l[no]" : : "m"(*gate), "i"((int)k) : "cc", "memory" : no);
  return 1;
no:
  *gate -= k;
  return 0;
#else
  uint32_t v = __atomic_fetch_add(gate, k, __ATOMIC_RELAXED);
  ummp_barrier();
  if (v >= 0u - k) return 1;                       /* v + k carried */
  __atomic_fetch_sub(gate, k, __ATOMIC_RELAXED);
  return 0;
#endif
}
/* Take bin gate for a pop: 1 (held; room unchanged) or 0 (untouched). */
#define ummp_gate_take(gate)      ummp_gate_try((gate), UMMP_GATE_E)
/* Take bin gate for a push: 1 (held, one unit of room used) or 0 (held,
 * off, or no room; untouched). */
#define ummp_gate_take_room(gate) ummp_gate_try((gate), UMMP_GATE_E - 1)
/* Give a taken gate back, its room changed by d (+1 after a pop, 0 after a
 * push: the take already counted it, or an empty bin). */
static inline __attribute__((always_inline)) void ummp_gate_give(uint32_t *gate, uint32_t d) {
  ummp_barrier();
  *gate += UMMP_GATE_OPEN + d;
}

/* Slow paths: hold bin gate: 1 and *room its room (negative: a debt, see
 * above), or 0 when it is held (by the fast or slow path this signal handler
 * interrupted) or off. One CAS: a handler cannot split it. */
static inline int ummp_gate_hold(uint32_t *gate, int32_t *room) {
  uint32_t v = __atomic_load_n(gate, __ATOMIC_RELAXED);
  for (;;) {
    if (v < UMMP_GATE_HIGH) return 0;
    if (__atomic_compare_exchange_n(gate, &v, 0u, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
      ummp_barrier();
      *room = (int32_t)(v - UMMP_GATE_OPEN);
      return 1;
    }
  }
}
/* Reopen a gate held with ummp_gate_hold, with room r (a debt leaves it
 * below OPEN: the fast paths' takes fail and the slow paths pay it off). */
static inline void ummp_gate_open(uint32_t *gate, int32_t r) {
  ummp_barrier();
  __atomic_store_n(gate, UMMP_GATE_OPEN + (uint32_t)r, __ATOMIC_RELAXED);
}
/* Close a held gate for good (thread exit). */
static inline void ummp_gate_close(uint32_t *gate) {
  ummp_barrier();
  __atomic_store_n(gate, UMMP_GATE_OFF, __ATOMIC_RELAXED);
}
/* Thread set-up: move a gate from 0 (not set up) to `to` with one add. */
static inline void ummp_gate_init(uint32_t *gate, uint32_t to) {
  __atomic_fetch_add(gate, to, __ATOMIC_RELAXED);
}
/* 1 when a gate of live thread t is held: outside a slow path, that means
 * a fast path is in progress on this thread (a signal handler interrupted
 * it). Bit 30 is set in every open gate (room < 2^28), in OFF and in the
 * transients of failed takes on them, and clear in every held one, so one
 * AND over the gates answers: 33 and-from-memory instructions (unrolled),
 * paid by slow paths only. */
typedef uint64_t __attribute__((may_alias)) ummp_u64a_t;
static inline int ummp_gates_held(const ummp_tls_t *t) {
  _Static_assert(sizeof t->gate % 8 == 0, "gates are read as 64-bit words");
  const ummp_u64a_t *w = (const ummp_u64a_t *)(const void *)t->gate;
  uint64_t all = ~(uint64_t)0;
#pragma GCC unroll 40
  for (unsigned i = 0; i < sizeof t->gate / 8; i++) all &= w[i];
  return ((all & (all >> 32)) & UMMP_GATE_OFF) == 0;
}

/* The free fast path's header test value for block p whose granule number
 * (from base16) is x: ((x ^ h) << 25) ^ h, h = p's header word. Its CHECK
 * bits are 0 for a good in-use header (umm_header.h: a free chunk's has a
 * bit flipped); size and DEFERRED read through. The header may change under a neighbour's CAS, but only in
 * the LOCK and PREV_FREE bits, which the caller masks off, so h may be read
 * twice (on x86-64, by two folded loads: 3 instructions instead of 4). */
static inline __attribute__((always_inline)) uint64_t ummp_hdr_test(uint64_t x, const void *p) {
#if defined(__x86_64__)
  const uint64_t *hp = (const uint64_t *)p - 1;
  __asm__("xorq %1, %0\n\tshlq %2, %0\n\txorq %1, %0" : "+r"(x) : "m"(*hp), "i"(HDR_CHECK_SHIFT) : "cc");
  return x;
#else
  uint64_t h = __atomic_load_n((const uint64_t *)p - 1, __ATOMIC_RELAXED);
  return ((x ^ h) << HDR_CHECK_SHIFT) ^ h;
#endif
}

/* ---- cache lists: safe-linking -----------------------------------------------
 * A bin (small or medium) is a singly linked list through word 0 of each
 * cached block; word 1 holds the cookie, a per-process random key (like
 * glibc's tcache key), which marks the block cached (double free, walks);
 * malloc clears it. The link is stored encoded, next ^ key (glibc's
 * safe-linking mangles with the slot address; a random key is at least as
 * unpredictable): a stray write into a freed block, or a forged pointer,
 * decodes to an unpredictable value. The pop decodes with the key from the
 * thread state, never with the cookie word, which the same stray write may
 * have changed. A list ends with UMMP_END, a misaligned value, so the pop's
 * single test "low 4 bits zero" sends both an empty bin and a corrupted link
 * (15 of 16 random values) to the slow path, which tells the two apart and
 * aborts on the latter. A bin of a thread not set up yet is NULL (its gate
 * is off). */
#define UMMP_END ((void *)(uintptr_t)1)
/* Make p (a validated block, bin held) the head of list *head. */
static inline void ummp_list_push(void **head, void *p, uint64_t key) {
  ((void **)p)[0] = (void *)((uintptr_t)*head ^ key);
  ((uint64_t *)p)[1] = key;
  *head = p;
}
static inline void *ummp_link_next(void **b, uint64_t key) {
  return (void *)((uintptr_t)b[0] ^ key);
}
/* b (a bin head) is not an end: a block, or a corrupted link that the
 * slow paths' pop (cache.c) will report. */
static inline int ummp_list_live(const void *b) { return b != NULL && b != UMMP_END; }
/* Abort: a cache link decoded to `bad` (a freed block was written to). */
__attribute__((noreturn)) void ummp_list_corrupt(const void *bad);

/* Pop a block of bin c from the thread cache (the shared core of the malloc
 * fast path and the tag lane): NULL when the bin is empty (or its head is
 * corrupt: the slow path reports it) or held (a signal interrupted an
 * allocator call using it on this thread) or off. */
static inline __attribute__((always_inline)) void *ummp_bin_pop(ummp_tls_t *t, size_t c) {
  if (ummp_likely(ummp_gate_take(&t->gate[c]))) {
    void **b = t->bin[c];
    if (ummp_likely(((uintptr_t)b & 15) == 0)) {
      t->bin[c] = ummp_link_next(b, t->secret);
      t->pops[c]++;
      b[1] = NULL;                                 /* no longer cached */
      ummp_gate_give(&t->gate[c], 1);
      return b;
    }
    ummp_gate_give(&t->gate[c], 0);
  }
  return NULL;
}

/* malloc's fast path for a request of n <= UMMP_SMALL_MAX bytes: the block,
 * or NULL (the slow path decides). On x86-64 it is ummp_bin_pop written out
 * in one asm block, 14 instructions: the compiler's own version spends two
 * more (it keeps bin[c]'s address in a register and copies the result into
 * %rax). Same protocol, same order of stores as ummp_bin_pop. A miss (take
 * failed, or the bin is empty) undoes the take inside the block (its add,
 * or the give-back of an empty bin, is the same subtract, on the gate the
 * take used: t->cls may change under a signal handler that sets the thread
 * up or pushes a tag), then jumps out; the hit path jumps over that undo
 * (same instruction count, and no code outside the function's section). */
static inline __attribute__((always_inline)) void *ummp_malloc_fast(size_t n) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(UMMP_NO_ASM_FASTPATH)
  void *b;
  uintptr_t off, c, tmp;
  __asm__ goto(
      "movq ummp_tls@gottpoff(%%rip), %[off]\n\t"
      "movzbl %%fs:%c[cls](%[off],%[n]), %k[c]\n\t"
      "addl %[E], %%fs:%c[gate](%[off],%[c],4)\n\t"   /* take: carry iff open */
      "jnc 1f\n\t"
      "movq %%fs:%c[bin](%[off],%[c],8), %[b]\n\t"
      "testb $15, %b[b]\n\t"                          /* empty (UMMP_END) or corrupt */
      "jz 2f\n"
      "1:\tsubl %[E], %%fs:%c[gate](%[off],%[c],4)\n\t"
      "jmp %l[miss]\n"
      "2:\t"
      "movq (%[b]), %[tmp]\n\t"
      "xorq %%fs:%c[secret](%[off]), %[tmp]\n\t"      /* decode the link */
      "movq %[tmp], %%fs:%c[bin](%[off],%[c],8)\n\t"
      "addq $1, %%fs:%c[pops](%[off],%[c],8)\n\t"
      "movq $0, 8(%[b])\n\t"                          /* no longer cached */
      "subl %[Em1], %%fs:%c[gate](%[off],%[c],4)" /* give back, room + 1 */
      : [b] "=&a"(b), [off] "=&r"(off), [c] "=&r"(c), [tmp] "=&r"(tmp)
      : [n] "r"(n), [E] "i"((int)UMMP_GATE_E), [Em1] "i"((int)(UMMP_GATE_E - 1)),
        [cls] "i"(offsetof(ummp_tls_t, cls)), [gate] "i"(offsetof(ummp_tls_t, gate)),
        [bin] "i"(offsetof(ummp_tls_t, bin)), [pops] "i"(offsetof(ummp_tls_t, pops)),
        [secret] "i"(offsetof(ummp_tls_t, secret))
      : "cc", "memory"
      : miss);
  if (b == NULL) __builtin_unreachable();          /* an open gate means a set-up thread: bins are never NULL */
  return b;
miss:
  return NULL;
#else
  ummp_tls_t *t = &ummp_tls;
  return ummp_bin_pop(t, t->cls[n]);
#endif
}
/* Granules of the chunk that serves a request of n bytes (its small bin when
 * n <= UMMP_SMALL_MAX: what t->cls[n] holds, tag.c). */
static inline unsigned ummp_gran_of_size(size_t n) {
  unsigned c = (unsigned)((n + 23) >> 4);
  return c < UMMP_MIN_GRAN ? UMMP_MIN_GRAN : c;
}
/* Medium class of a chunk of g granules (UMMP_MAX_GRAN < g <= UMMP_MED_TOP_GRAN):
 * the smallest class whose chunk (nominal size less UMMP_MED_COLOR) holds g
 * granules. */
static inline unsigned ummp_med_class_calc(unsigned g) {
  g += UMMP_MED_COLOR;
  unsigned k = 31u - (unsigned)__builtin_clz(g - 1u);     /* 2^k < g <= 2^(k+1) */
  unsigned sh = k - UMMP_MED_SUB_LOG2, step = 1u << sh;
  return ((k - 6u) << UMMP_MED_SUB_LOG2) + ((g - (1u << k) + step - 1u) >> sh) - 1u;
}
/* Chunk size of medium class m, in granules. */
static inline unsigned ummp_med_chunk_calc(unsigned m) {
  unsigned k = 6u + (m >> UMMP_MED_SUB_LOG2);
  return (1u << k) + ((m & ((1u << UMMP_MED_SUB_LOG2) - 1u)) + 1u) * (1u << (k - UMMP_MED_SUB_LOG2)) -
         UMMP_MED_COLOR;
}
/* The same two from tables that limits_init (init.c) fills from the above:
 * a free and a malloc of a medium block each look its class up, and the
 * arithmetic cost 15-20 instructions a time (bench rptest: 60 % of its calls
 * are medium). ummp_med_class: UMMP_MAX_GRAN < g <= UMMP_MED_TOP_GRAN. */
static inline unsigned ummp_med_class(unsigned g) { return ummp_g.mcls[g]; }
static inline unsigned ummp_med_chunk(unsigned m) { return ummp_g.mchunk[m]; }
/* Cache hits of this thread so far. */
static inline uint64_t ummp_hits(const ummp_tls_t *t) {
  uint64_t h = t->mhits;
  for (unsigned g = 0; g < UMMP_NBINS; g++) h += t->pops[g];
  return h;
}
/* An allocator call is in progress on this thread, so the caller is a
 * signal handler that interrupted it: a slow path (busy; it may hold a core
 * lock) or a fast path (it holds its bin's gate). The re-entrant call is
 * served by the core's _nowait calls: it never waits and never makes a
 * system call, and touches no thread cache. Called at the entry of a slow
 * path, before ummp_hold (which makes it true for the path's callees). */
static inline int ummp_reentrant(const ummp_tls_t *t) {
  return t->busy != 0 || (t->state == UMMP_T_LIVE && ummp_gates_held(t));
}
static inline void ummp_hold(ummp_tls_t *t) {
  t->busy++;
  ummp_barrier();
}
static inline void ummp_unhold(ummp_tls_t *t) {
  ummp_barrier();
  t->busy--;
}

/* ---- env.c ---------------------------------------------------------------- */
/* Fill ummp_g.cfg from environ (or /proc/self/environ when environ is not set yet). */
void   ummp_env_read(ummp_config_t *cfg);
/* "8G", "512M", "64k", "1234": bytes; (size_t)-1 on a syntax error. */
size_t ummp_parse_size(const char *s);
/* "USR2", "SIGUSR2", "12": the signal number (Linux numbering); 0 if unknown. */
int    ummp_signal_number(const char *v);

/* ---- fmt (stats.c): tiny formatting into a buffer; return the new length --- */
size_t ummp_fmt_str(char *buf, size_t cap, size_t n, const char *s);
size_t ummp_fmt_u64(char *buf, size_t cap, size_t n, uint64_t v);
size_t ummp_fmt_hex(char *buf, size_t cap, size_t n, uint64_t v);
size_t ummp_fmt_bytes(char *buf, size_t cap, size_t n, uint64_t v);   /* "12.3 MiB" */

/* ---- init.c ---------------------------------------------------------------- */
/* Initialise the process state if needed; 0 when ready, -1 when the arena is
 * unavailable (state FAILED) or this thread is inside init already. */
int    ummp_ensure_init(void);
/* Set up the calling thread (slot, home region, cache limits). */
void   ummp_thread_setup(ummp_tls_t *t);
/* Thread-exit flush (pthread key destructor). */
void   ummp_thread_exit(void *arg);
/* umm_on_fatal handler: prints and aborts. */
__attribute__((noreturn)) void ummp_fatal(const char *msg, const void *ptr);

/* ---- fork.c: the fork gate (protocol at the top of fork.c) ------------------ */
unsigned ummp_enter_slow(ummp_tls_t *t, ummp_slot_t *s, unsigned a);
unsigned ummp_enter_shared(ummp_tls_t *t);
void   ummp_leave_shared(ummp_tls_t *t);
void   ummp_slot_claim(ummp_tls_t *t);
void   ummp_slot_release(ummp_tls_t *t);
void   ummp_atfork_prepare(void);
void   ummp_atfork_parent(void);
void   ummp_atfork_child(void);

/* Enter a section in which the thread may use the core or other shared
 * state; returns what ummp_leave needs. Cheap: one exchange when not nested.
 * A thread without a slot counts itself in the shared counter and gets
 * UMMP_ENTERED_SHARED, so that ummp_leave undoes that even when the thread
 * claimed a slot inside the section (a signal handler that set the thread up
 * meanwhile): leaving by the slot instead left the shared counter raised for
 * good, and every later fork waited for it. */
#define UMMP_ENTERED_SHARED 0xffffffffu
static inline unsigned ummp_enter(ummp_tls_t *t) {
  ummp_slot_t *s = t->slot;
  if (ummp_likely(s != NULL)) {
    unsigned a = __atomic_load_n(&s->active, __ATOMIC_RELAXED);
    if (a >= 2) {                                    /* nested in a confirmed section */
      __atomic_store_n(&s->active, a + 1, __ATOMIC_RELAXED);
      ummp_barrier();
      return a;
    }
    return ummp_enter_slow(t, s, a);
  }
  return ummp_enter_shared(t);
}
static inline void ummp_leave(ummp_tls_t *t, unsigned prev) {
  ummp_slot_t *s = t->slot;
  if (ummp_unlikely(prev == UMMP_ENTERED_SHARED)) ummp_leave_shared(t);
  else if (ummp_likely(s != NULL)) __atomic_store_n(&s->active, prev, __ATOMIC_RELEASE);
}

/* ---- arena.c ---------------------------------------------------------------- */
/* Reserve the arena (fallbacks under ulimit -v). 0 / -1. */
int    ummp_arena_init(void);
/* Region i, committing regions up to i when needed; NULL if i is out of range
 * or the commit failed. */
ummp_region_t *ummp_region_get(uint32_t i);
/* Index of the region holding p; p must be inside the committed arena. */
static inline uint32_t ummp_region_index(const void *p) {
  return (uint32_t)(((uintptr_t)p - (uintptr_t)ummp_g.base) >> ummp_g.region_shift);
}
/* 1 when p is 16-aligned and inside the committed part of the arena with
 * room for a header before it (the free fast path's test). */
static inline int ummp_in_arena(const void *p) {
  uintptr_t x = (uintptr_t)p - ummp_g.base16;
  x = (x >> 4) | (x << 60);                          /* misaligned -> huge */
  return x < __atomic_load_n(&ummp_g.lim_rot, __ATOMIC_RELAXED);
}
/* Core allocation with rotation: waits, moves home on contention or ENOMEM,
 * commits regions on demand. NULL + ENOMEM when nothing fits anywhere. */
void  *ummp_core_malloc(ummp_tls_t *t, size_t size);
size_t ummp_core_batch(ummp_tls_t *t, size_t size, void **out, size_t n);
void  *ummp_core_memalign(ummp_tls_t *t, size_t align, size_t size);
/* Never waits (signal re-entry): tries each committed region once. */
void  *ummp_core_malloc_nowait(ummp_tls_t *t, size_t size);
/* Account `bytes` freed into region r (purged later, see arena.c). */
void   ummp_note_freed(ummp_tls_t *t, ummp_region_t *r, size_t bytes);
/* Called by every slow path: now and then, purges a region whose freed
 * memory has waited long enough, and unmaps the large blocks signal
 * handlers freed. Must be called outside any section. Inline: counting the
 * call is all most calls do (the call itself cost about 20 instructions per
 * slow path); ummp_tick_slow reads the clock every
 * UMMP_TICK calls of a thread (vDSO, no system call) and keeps errno. */
#define UMMP_TICK 64u
void   ummp_tick_slow(ummp_tls_t *t);
/* Count a slow-path call: 1 when ummp_tick_slow has work (a clock reading
 * is due, or large blocks wait to be unmapped). */
static inline int ummp_tick_due(ummp_tls_t *t) {
  uint64_t n = ++t->slow_ops;
  return n % UMMP_TICK == 0 || __atomic_load_n(&ummp_g.large_deferred, __ATOMIC_RELAXED) != NULL;
}
static inline void ummp_tick(ummp_tls_t *t) {
  if (ummp_unlikely(ummp_tick_due(t))) ummp_tick_slow(t);
}
/* fork child handler part: release commit_lock if a thread the child does not have held it. */
void   ummp_commit_lock_fork_child(void);
/* Purge every committed region now (malloc_trim); returns bytes purged. */
size_t ummp_purge_all(void);
/* The contention callback installed in every region. */
void   ummp_backoff(umm_t *u, void *arg);

/* ---- large.c ---------------------------------------------------------------- */
/* A block of its own mapping carrying `tag` (ummp_large_tag). */
void  *ummp_large_alloc(size_t size, size_t align, uint32_t tag);
/* 1 when p is a live large block (registry lookup; never dereferences p first). */
int    ummp_large_owns(const void *p);
/* p must satisfy ummp_large_owns. */
size_t ummp_large_usable(const void *p);
/* p must satisfy ummp_large_owns: the tag it was allocated with. */
uint32_t ummp_large_tag(const void *p);
void     ummp_large_set_tag(void *p, uint32_t tag);   /* the block is the caller's (realloc) */
void     ummp_large_fork_child(void);                  /* fork.c's child handler */
/* Free p; returns 0, or -1 when p is not a live large block (nothing changed). */
int    ummp_large_free(void *p);
/* The same from a signal handler: no munmap; the next ummp_tick unmaps it. */
int    ummp_large_free_deferred(void *p);
/* Unmap the blocks ummp_large_free_deferred left (outside any section). */
void   ummp_large_drain(void);
/* 1 when p is among the last large blocks freed (for the double-free message). */
int    ummp_large_recently_freed(const void *p);
/* Resize (mremap); NULL + ENOMEM with p intact on failure. */
void  *ummp_large_realloc(void *p, size_t size);
/* Call fn for every live large block (ptr, usable size); stops when fn returns non-zero. */
int    ummp_large_foreach(int (*fn)(void *ptr, size_t size, void *arg), void *arg);
int    ummp_large_init(void);

/* The allocator's own usable size of p, an arena block or a live large block
 * (under UMM_DEBUG=1 the program sees less: guard.c). */
static inline size_t ummp_block_usable(const void *p) {
  if (ummp_in_arena(p)) return chunk_usable(hdr_size(hdr_peek(chunk_of(p))));
  return ummp_large_usable(p);
}

/* ---- cache.c ------------------------------------------------------------------ */
/* ra: the return address of the exported entry point (the call site, for UMM_TAG=site). */
void  *ummp_malloc_slow(size_t n, const void *ra);
/* The same, tail-called by malloc: ra is this function's own return address. */
void  *ummp_malloc_slow_tail(size_t n);
void   ummp_free_slow(void *p);
/* free() of an arena block whose header test passed with g granules above
 * the small bins: pushed into its medium class when it is exactly a class's
 * chunk and the class has room, else ummp_free_slow. */
void   ummp_free_med(void *p, size_t g);
/* Give every block thread t caches back to the core; close: leave its bins'
 * gates off (thread exit), else open and empty, at their starting limits
 * (malloc_trim). */
void   ummp_flush_all(ummp_tls_t *t, int close);
/* t's share of the cache-growth pool (ummp_g.lim_total): its growth above
 * UMMP_THREAD_BASE. */
size_t ummp_pool_share(const ummp_tls_t *t);
/* Lower t->lim_bytes by x and give back the pool share it no longer covers. */
void   ummp_growth_drop(ummp_tls_t *t, size_t x);
/* Give every block parked in the depot back to the core (malloc_trim). */
void   ummp_depot_drain(ummp_tls_t *t);
/* A decay step (at most one per purge delay, process-wide): magazines that
 * sat unused since the last step go back to the core. now: the ms clock. */
void   ummp_depot_decay(ummp_tls_t *t, uint64_t now);
/* 1 when p (an arena block) sits in some thread cache (its cookie is present). */
static inline int ummp_is_cached(const void *p) {
  return ((const uint64_t *)p)[1] == ummp_g.secret;
}
/* The fast paths' view of the arena: the thread's copies of base16/lim_rot. */
static inline int ummp_in_arena_tls(const ummp_tls_t *t, const void *p) {
  uintptr_t x = (uintptr_t)p - t->base16;
  x = (x >> 4) | (x << 60);
  return x < t->lim_rot;
}
/* Free an arena block that passed validation, from the slow path. */
void   ummp_free_arena(ummp_tls_t *t, void *p);
/* Abort with the right message for a bad pointer given to `op` ("free()",
 * "realloc()"). */
__attribute__((noreturn)) void ummp_bad_pointer(const char *op, const void *p);
/* Validate an arena pointer without changing anything: 0 ok, else aborts. */
void   ummp_check_arena_ptr(const char *op, const void *p);

/* ---- tag.c: block tags (design at the top of tag.c) ----------------------------- */
/* Reserve the site table when UMM_TAG=site. 0 / -1 (then every site gets the overflow tag). */
int    ummp_tag_init(void);
/* Thread set-up: thread serial and tag; fills t->cls, or zeroes it to send
 * malloc to the tag lane. */
void   ummp_tag_thread_setup(ummp_tls_t *t);
/* The site-table slot of return address ra, inserting it (lock-free); the
 * overflow tag when the table is full. Fills t->site_cache[h]. */
UMMP_NOINLINE uint32_t ummp_site_lookup(ummp_tls_t *t, uintptr_t ra, unsigned h);
static inline uint32_t ummp_site_tag(ummp_tls_t *t, uintptr_t ra) {
  unsigned h = (unsigned)((ra * 0x9e3779b97f4a7c15ull) >> 56);
  uint32_t s = t->site_cache[h];
  if (ummp_likely(s != 0) && __atomic_load_n(&ummp_g.site_tab[s - 1], __ATOMIC_RELAXED) == ra)
    return UMMP_TAGK_SITE | (s - 1);
  return ummp_site_lookup(t, ra, h);
}
/* The tag of an allocation made now by this thread from call site ra: the
 * innermost program tag, else what UMM_TAG asks for. */
static inline uint32_t ummp_tag_for(ummp_tls_t *t, const void *ra) {
  uint32_t d = t->tag_depth;
  if (ummp_unlikely(d != 0)) return t->tag_stack[(d < UMMP_TAG_STACK ? d : UMMP_TAG_STACK) - 1];
  int m = ummp_g.cfg.tag_mode;
  if (m == UMMP_TAG_THREAD) return t->thread_tag;
  if (m == UMMP_TAG_SITE) return ummp_site_tag(t, (uintptr_t)ra);
  return 0;
}
/* Set the tags of p, a live block this thread owns (just popped from its
 * cache), when they differ: a CAS on the header while its lock bit is clear
 * (see tag.c: never a plain store of a header word). */
void   ummp_block_retag_cas(void *p, uint32_t tag);
static inline void ummp_block_retag(void *p, uint32_t tag) {
  uint64_t h = __atomic_load_n((uint64_t *)p - 1, __ATOMIC_RELAXED);
  if (ummp_unlikely(hdr_tags(h) != tag)) ummp_block_retag_cas(p, tag);
}

/* ---- guard.c: UMM_DEBUG=1 (canaries, fills, quarantine; design in guard.c) -------- */
void  *ummp_guard_alloc(size_t n, size_t align, const void *ra);
void   ummp_guard_free(void *p);
void  *ummp_guard_realloc(void *p, size_t n, const void *ra);
size_t ummp_guard_usable(const void *p);
/* 1 when block p (usable u) is in a quarantine (UMM_DEBUG=1: freed, not yet reusable). */
int    ummp_guard_quarantined(const void *p, size_t u);
void   ummp_guard_thread_exit(void);
/* Check every block (quiet heap); prints one line per damaged block. */
int    ummp_guard_check_all(void);
/* The allocator below the guard: malloc's slow path (cache.c), free's slow
 * path (cache.c), aligned allocation (malloc.c). */
void  *ummp_malloc_raw(size_t n, const void *ra);
void   ummp_free_raw(void *p);
void  *ummp_aligned_raw(size_t align, size_t n, const void *ra);

/* ---- debug.c: heap walk, check, dumps -------------------------------------------- */
/* The display name of a tag (site: module!function+0xoff) into b. */
const char *ummp_tag_describe(char *b, size_t cap, uint32_t tag);
/* Constructor part: install the UMM_DUMP_SIGNAL handler. */
void   ummp_debug_ctor(void);
/* Destructor part: UMM_CHECK and UMM_DUMP at exit. */
void   ummp_debug_exit(void);
/* The leak report (conservative mark from the roots; design in debug.c) to fd. */
void   ummp_leak_report(int fd, int json);
/* Serve a pending signal dump request (thread held, outside any section). */
void   ummp_debug_serve(ummp_tls_t *t);
static inline void ummp_debug_poll(ummp_tls_t *t) {
  if (ummp_unlikely(__atomic_load_n(&ummp_g.dump_req, __ATOMIC_RELAXED))) ummp_debug_serve(t);
}

/* ---- stats.c ------------------------------------------------------------------ */
void   ummp_stats_add(size_t bytes);
void   ummp_stats_sub(size_t bytes);
void   ummp_stats_print(int fd);

#endif /* UMMP_INTERNAL_H */
