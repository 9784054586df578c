/* fork.c - the fork gate: makes fork() safe in a multithreaded process.
 *
 * =============================== PROTOCOL ===============================
 * Problem. The core's micro locks (chunk and bin bits) and the preload's own
 * shared state (region commit, large-block registry) may be held or half
 * updated by another thread at the instant of fork(); in the child that
 * thread no longer exists and its locks would stay taken forever.
 *
 * Sections. Every slow path that touches shared state (any umm_* call on a
 * region, committing a region, large-block map/unmap/registry, purging) runs
 * inside a *section*: ummp_enter() ... ummp_leave(). The thread-cache fast
 * paths touch only thread-local data and are not sections: a fork copies the
 * forking thread's cache as it is, and other threads' caches are simply
 * orphaned in the child (their blocks stay allocated there: a bounded leak).
 *
 * State. Each thread owns a slot (ummp_slot_t, a cache line of a static
 * array) claimed at thread set-up and released at thread exit. slot.active
 * is written only by its owner:
 *     0    idle (no section)
 *     1    entering (announced, not yet allowed in)
 *     n>=2 inside a section, n-1 nested sections (signal handlers nest)
 * ummp_g.fork_flag is 1 while a fork is being prepared; it is also the lock
 * that serialises concurrent forkers.
 *
 * Entry (not nested):  active = 1 with a full fence (xchg); read fork_flag;
 *     clear -> active = 2, go;  set -> active = 0, wait until it clears, retry.
 * Leave: active = the value it had before entry (release store).
 * Forker (prepare handler): take fork_flag with a CAS (waits for another
 *     forker), full fence; then for every slot but its own, wait until
 *     active == 0 (a slot at 1 belongs to a thread that will read the flag,
 *     see it set and drop back to 0); same for the shared counter.
 *   Dekker argument: entry is (store active; fence; load flag), prepare is
 *   (store flag; fence; load active). With sequentially consistent fences at
 *   least one side sees the other's store: either the entering thread sees
 *   the flag and backs out, or the forker sees active != 0 and waits. So
 *   after prepare's scan no other thread is in a section, and none can enter
 *   one until the parent/child handler clears the flag: fork() copies quiet
 *   shared state.
 *
 * Signals. A handler can interrupt its own thread anywhere in this protocol:
 *   - active >= 2 (interrupted inside a section): the handler nests without
 *     waiting (active+1). It must not wait: a forker may already be waiting
 *     for this very section to end. The forker cannot have passed its scan
 *     (it saw active >= 2), so the nested work is covered.
 *   - active 0 or 1 (idle, or interrupted while entering): the handler runs
 *     the full entry itself, which may wait for the flag: no forker waits for
 *     this thread then (0), or the forker will see the handler's own 1 and
 *     wait, while the handler, seeing the flag, drops to 0 and waits (the
 *     interrupted outer entry reads the flag itself when it resumes). On
 *     leave the handler restores the 0 or 1 it found.
 * Threads without a slot (more than UMMP_NSLOTS live threads, or frees that
 * arrive after a thread's exit flush) use one shared atomic counter with the
 * same Dekker pattern (shared_active++ ; fence ; load flag); a handler that
 * interrupts such a thread between its increment and its flag test may run
 * unguarded: an accepted, documented gap for that rare case.
 *
 * The forking thread. Other libraries' prepare handlers run after ours and
 * may malloc: ummp_tls.forking lets the forking thread through the gate (all
 * other threads are idle, so its sections are safe). If fork() is called from
 * a signal handler that interrupted this thread inside a section, another
 * thread may be waiting for a lock that the interrupted section holds: the
 * forker then waits a bounded time for the others and forks anyway. Two
 * forks at once: a thread that forks from inside its own section (or from a
 * handler that interrupted its entry, active 1) and finds the flag taken
 * marks its slot (forkwait) while it waits. A flag holder that meets a
 * marked slot cannot wait for it (that section ends only after the marked
 * thread's fork): if the holder is not itself mid-section it hands the flag
 * over (clears it, waits until the marked thread has taken it, starts
 * again), so the marked thread forks (its own interrupted section continues
 * in its child, the safe case) and then leaves its section; if the holder is
 * marked too (two threads both forking from inside sections), it forks
 * anyway, with the accepted risk above. Unmarked forkers always yield to
 * marked ones and marked ones never yield, so there is no livelock.
 *
 * Parent handler: clear the flag. Child handler: only the forking thread
 * exists: every other slot is released (its thread is gone), the shared
 * counter is reset to this thread's own contribution, the flag is cleared,
 * and the region commit lock is released if a thread the child does not
 * have held it (ummp_commit_lock_fork_child, arena.c).
 * ========================================================================
 */
#include "internal.h"

static ummp_slot_t slots[UMMP_NSLOTS];

unsigned ummp_enter_slow(ummp_tls_t *t, ummp_slot_t *s, unsigned a) {
  for (;;) {
    __atomic_exchange_n(&s->active, 1u, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&ummp_g.fork_flag, __ATOMIC_SEQ_CST) || t->forking) break;
    __atomic_store_n(&s->active, 0u, __ATOMIC_RELEASE);
    while (__atomic_load_n(&ummp_g.fork_flag, __ATOMIC_ACQUIRE)) ummp_os_yield();
  }
  __atomic_store_n(&s->active, 2u, __ATOMIC_RELAXED);
  ummp_barrier();
  return a;
}

unsigned ummp_enter_shared(ummp_tls_t *t) {
  for (;;) {
    __atomic_fetch_add(&ummp_g.shared_active, 1, __ATOMIC_SEQ_CST);
    if (t->shared_depth || t->forking || !__atomic_load_n(&ummp_g.fork_flag, __ATOMIC_SEQ_CST)) break;
    __atomic_fetch_sub(&ummp_g.shared_active, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ummp_g.fork_flag, __ATOMIC_ACQUIRE)) ummp_os_yield();
  }
  t->shared_depth++;
  return UMMP_ENTERED_SHARED;
}

void ummp_leave_shared(ummp_tls_t *t) {
  t->shared_depth--;
  __atomic_fetch_sub(&ummp_g.shared_active, 1, __ATOMIC_RELEASE);
}

void ummp_slot_claim(ummp_tls_t *t) {
  uint32_t h = __atomic_fetch_add(&ummp_g.slot_hint, 1, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < UMMP_NSLOTS; i++) {
    ummp_slot_t *s = &slots[(h + i) % UMMP_NSLOTS];
    unsigned z = 0;
    if (__atomic_load_n(&s->owned, __ATOMIC_RELAXED) == 0 &&
        __atomic_compare_exchange_n(&s->owned, &z, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      __atomic_store_n(&s->active, 0u, __ATOMIC_RELAXED);
      __atomic_store_n(&s->forkwait, 0u, __ATOMIC_RELAXED);
      t->slot = s;
      return;
    }
  }
  t->slot = NULL;                                    /* falls back to the shared counter */
}

void ummp_slot_release(ummp_tls_t *t) {
  ummp_slot_t *s = t->slot;
  if (!s) return;
  t->slot = NULL;
  ummp_barrier();
  __atomic_store_n(&s->active, 0u, __ATOMIC_RELAXED);
  __atomic_store_n(&s->owned, 0u, __ATOMIC_RELEASE);
}

void ummp_atfork_prepare(void) {
  ummp_tls_t *t = &ummp_tls;
  /* Bounded only when this thread itself is inside a section (fork from a
   * signal handler): see the protocol above. */
  int own_busy = (t->slot && __atomic_load_n(&t->slot->active, __ATOMIC_RELAXED) >= 2) ||
                 t->shared_depth > 0;
  /* inside a section, or interrupted while entering one (active 1): a flag
   * holder would wait for this slot while we wait for the flag */
  int mark = t->slot && __atomic_load_n(&t->slot->active, __ATOMIC_RELAXED) != 0;
  for (;;) {
    if (mark) __atomic_store_n(&t->slot->forkwait, 1u, __ATOMIC_SEQ_CST);
    int z = 0;
    while (!__atomic_compare_exchange_n(&ummp_g.fork_flag, &z, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      z = 0;
      ummp_os_yield();
    }
    if (mark) __atomic_store_n(&t->slot->forkwait, 0u, __ATOMIC_SEQ_CST);
    t->forking = 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    long budget = own_busy ? 200000 : -1;
    ummp_slot_t *yield_to = NULL;
    for (uint32_t i = 0; i < UMMP_NSLOTS && !yield_to; i++) {
      ummp_slot_t *s = &slots[i];
      if (s == t->slot) continue;
      while (__atomic_load_n(&s->active, __ATOMIC_SEQ_CST) != 0 && budget != 0) {
        /* its owner waits for the flag in its own prepare, from a handler
         * that interrupted its section: that section cannot end before our
         * fork. Unmarked, we hand it the flag (its fork is then the safe
         * own-section case) and start again; marked too, both of us are
         * mid-section: fork anyway, as for our own section */
        if (__atomic_load_n(&s->forkwait, __ATOMIC_SEQ_CST)) {
          if (!mark) yield_to = s;
          break;
        }
        if (budget > 0) budget--;
        ummp_os_yield();
      }
    }
    if (yield_to) {
      t->forking = 0;
      __atomic_store_n(&ummp_g.fork_flag, 0, __ATOMIC_SEQ_CST);
      while (__atomic_load_n(&yield_to->forkwait, __ATOMIC_SEQ_CST)) ummp_os_yield();
      continue;
    }
    long mine = (long)t->shared_depth;
    while (__atomic_load_n(&ummp_g.shared_active, __ATOMIC_SEQ_CST) > mine && budget != 0) {
      if (budget > 0) budget--;
      ummp_os_yield();
    }
    return;
  }
}

void ummp_atfork_parent(void) {
  ummp_tls_t *t = &ummp_tls;
  t->forking = 0;
  __atomic_store_n(&ummp_g.fork_flag, 0, __ATOMIC_SEQ_CST);
}

void ummp_atfork_child(void) {
  ummp_tls_t *t = &ummp_tls;
  for (uint32_t i = 0; i < UMMP_NSLOTS; i++) {
    if (&slots[i] == t->slot) continue;
    slots[i].active = 0;
    slots[i].owned = 0;
    slots[i].forkwait = 0;                           /* its thread is gone: a fork must not wait for it */
  }
  ummp_g.shared_active = (long)t->shared_depth;
  __atomic_store_n(&ummp_g.lim_total, ummp_pool_share(t), __ATOMIC_RELAXED);   /* the other threads' caches are gone (a bounded leak) */
  ummp_commit_lock_fork_child();
  ummp_large_fork_child();
  t->forking = 0;
  __atomic_store_n(&ummp_g.fork_flag, 0, __ATOMIC_SEQ_CST);
}
