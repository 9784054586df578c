/* walk.c - umm_walk / umm_walk_nowait: hand-over-hand in address order.
 * The walk holds the current chunk's lock while it takes the next one (see
 * the protocol in heap.c for why that single wait cannot deadlock), so a
 * visited chunk's size, state and tags are stable during the visit.
 * Sentinels and separators (1-granule in-use chunks) are not visited.
 *
 * A walk is often how a program looks at a heap it suspects (the preload's
 * dumps and leak reports), so it checks each header it steps to before it
 * waits on it: one past the region's end, with a CHECK that does not match
 * its address and size (a size overwritten by an overflow from the block
 * before, in 127 of 128 cases), or of size 0 short of the end (the walk would
 * then wait on the lock it holds) ends the walk with UMM_WALK_CORRUPT instead
 * of a wait that never ends or a read outside the region. The test is
 * repeated while it waits, since only a header's lock holder changes it.
 * ummi_walk_next is that step; umm_memalign's region search takes it too and
 * stops the program there ("memalign(): corrupted header"), as free does. */
#include "umm_internal.h"

static int header_bad(umm_t *u, umm_block_t *n) {
  if ((char *)n > (char *)u->end) return 1;
  uint64_t h = hdr_peek(n);
  return !hdr_check_ok(n, h) || (hdr_size(h) == 0 && n != u->end);
}

int ummi_walk_next(umm_t *u, umm_block_t *n, uint64_t *hn, int nowait) {
  for (;;) {
    if (ummi_unlikely(header_bad(u, n))) return -1;
    if (chunk_trylock(n, hn)) return 1;
    ummi_contended(u);
    if (nowait) return 0;
    ummi_backoff(u);
  }
}

static int walk(umm_t *u, umm_visit_fn visit, void *arg, int nowait) {
  umm_block_t *c = u->start;
  uint64_t h;
  if (nowait) {
    if (!chunk_trylock(c, &h)) { ummi_contended(u); return UMM_WALK_BUSY; }
  } else {
    h = ummi_lock_wait(u, c);
  }
  for (;;) {
    if (c == u->end) { chunk_unlock(c); return 0; }
    if (hdr_size(h) >= MIN_G) {                     /* not the start sentinel or a separator */
      umm_chunk_t ch = {chunk_payload(c), chunk_usable(hdr_size(h)), hdr_tags(h), hdr_is_used(h),
                        hdr_is_deferred(h) ? UMM_CHUNK_DEFERRED : 0u};
      int r = visit(&ch, arg);
      if (r) { chunk_unlock(c); return r; }
    }
    umm_block_t *n = chunk_at(c, hdr_size(h));
    uint64_t hn;
    int r = ummi_walk_next(u, n, &hn, nowait);
    if (r <= 0) { chunk_unlock(c); return r < 0 ? UMM_WALK_CORRUPT : UMM_WALK_BUSY; }
    chunk_unlock(c);
    c = n;
    h = hn;
  }
}

static int walk_counted(umm_t *u, umm_visit_fn visit, void *arg, int nowait) {
  ummi_walkers_enter(u);
  int r = walk(u, visit, arg, nowait);
  ummi_walkers_leave(u);
  return r;
}

int umm_walk(umm_t *u, umm_visit_fn visit, void *arg) { return walk_counted(u, visit, arg, 0); }
int umm_walk_nowait(umm_t *u, umm_visit_fn visit, void *arg) { return walk_counted(u, visit, arg, 1); }
