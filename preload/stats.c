/* stats.c - byte accounting (only when UMM_STATS is set), the exit summary,
 * and the small formatter used instead of stdio (which may allocate). */
#include "internal.h"

size_t ummp_fmt_str(char *buf, size_t cap, size_t n, const char *s) {
  while (*s && n + 1 < cap) buf[n++] = *s++;
  return n;
}

size_t ummp_fmt_u64(char *buf, size_t cap, size_t n, uint64_t v) {
  char tmp[24];
  int k = 0;
  do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (k && n + 1 < cap) buf[n++] = tmp[--k];
  return n;
}

size_t ummp_fmt_hex(char *buf, size_t cap, size_t n, uint64_t v) {
  char tmp[20];
  int k = 0;
  do { tmp[k++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  n = ummp_fmt_str(buf, cap, n, "0x");
  while (k && n + 1 < cap) buf[n++] = tmp[--k];
  return n;
}

size_t ummp_fmt_bytes(char *buf, size_t cap, size_t n, uint64_t v) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  uint64_t whole = v, tenths = 0;
  while (whole >= 1024 && u < 4) {
    tenths = (whole % 1024) * 10 / 1024;
    whole /= 1024;
    u++;
  }
  n = ummp_fmt_u64(buf, cap, n, whole);
  if (u) { n = ummp_fmt_str(buf, cap, n, "."); n = ummp_fmt_u64(buf, cap, n, tenths); }
  n = ummp_fmt_str(buf, cap, n, " ");
  return ummp_fmt_str(buf, cap, n, unit[u]);
}

void ummp_stats_add(size_t bytes) {
  if (!ummp_g.cfg.stats) return;
  size_t c = __atomic_add_fetch(&ummp_g.cur_bytes, bytes, __ATOMIC_RELAXED);
  size_t p = __atomic_load_n(&ummp_g.peak_bytes, __ATOMIC_RELAXED);
  while (c > p && !__atomic_compare_exchange_n(&ummp_g.peak_bytes, &p, c, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

void ummp_stats_sub(size_t bytes) {
  if (!ummp_g.cfg.stats) return;
  __atomic_fetch_sub(&ummp_g.cur_bytes, bytes, __ATOMIC_RELAXED);
}

#define LINE(...) do { n = 0; __VA_ARGS__; n = ummp_fmt_str(b, sizeof b, n, "\n"); ummp_os_write(fd, b, n); } while (0)
#define S(s) (n = ummp_fmt_str(b, sizeof b, n, (s)))
#define U(v) (n = ummp_fmt_u64(b, sizeof b, n, (uint64_t)(v)))
#define BY(v) (n = ummp_fmt_bytes(b, sizeof b, n, (uint64_t)(v)))

void ummp_stats_print(int fd) {
  char b[256];
  size_t n;
  ummp_tls_t *t = &ummp_tls;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  umm_stats_t tot = {0};
  for (uint32_t i = 0; i < nc; i++) {
    umm_stats_t s;
    umm_get_stats(ummp_regions[i].u, &s);
    tot.chunks += s.chunks;
    tot.free_chunks += s.free_chunks;
    tot.bytes_in_use += s.bytes_in_use;
    tot.bytes_free += s.bytes_free;
    tot.deferred += s.deferred;
    tot.contention += s.contention;
  }
  uint64_t hits = __atomic_load_n(&ummp_g.hits, __ATOMIC_RELAXED) + ummp_hits(t);
  uint64_t misses = __atomic_load_n(&ummp_g.misses, __ATOMIC_RELAXED) + t->misses;
  uint64_t all = hits + misses;
  uint64_t permille = all ? hits * 1000 / all : 0;
  LINE(S("umm: stats pid "); U(ummp_os_getpid()));
  if (ummp_g.cfg.stats)
    LINE(S("umm:   peak "); BY(ummp_g.peak_bytes); S(", current "); BY(ummp_g.cur_bytes);
         S(" (held from the core incl. thread caches, plus large mappings)"));
  else                                               /* the counters run only with UMM_STATS (malloc_stats) */
    LINE(S("umm:   current "); BY(tot.bytes_in_use + __atomic_load_n(&ummp_g.large_bytes, __ATOMIC_RELAXED));
         S(" (chunks in use incl. thread caches, plus large mappings; the peak is counted with UMM_STATS=1)"));
  LINE(S("umm:   regions "); U(nc); S(" committed of "); U(ummp_g.nregions); S(" ("); BY(ummp_g.region_size);
       S(" each, arena "); BY(ummp_g.arena_size); S(")"));
  LINE(S("umm:   chunks "); U(tot.chunks); S(" (free "); U(tot.free_chunks); S(", deferred "); U(tot.deferred);
       S("), in use "); BY(tot.bytes_in_use); S(", free "); BY(tot.bytes_free));
  LINE(S("umm:   large blocks live "); U(ummp_g.large_live); S(" ("); BY(ummp_g.large_bytes); S("), mapped in total ");
       U(ummp_g.large_total));
  LINE(S("umm:   cache hit rate "); U(permille / 10); S("."); U(permille % 10); S("% (hits "); U(hits);
       S(", misses "); U(misses); S(", threads "); U(ummp_g.threads); S("), cache pool ");
       BY(__atomic_load_n(&ummp_g.lim_total, __ATOMIC_RELAXED)); S(" of "); BY(UMMP_CACHE_CAP));
  LINE(S("umm:   depot magazines parked "); U(__atomic_load_n(&ummp_g.depot_puts, __ATOMIC_RELAXED) + t->depot_puts);
       S(", refills served by one "); U(__atomic_load_n(&ummp_g.depot_gets, __ATOMIC_RELAXED) + t->depot_gets);
       S(", given back idle "); U(ummp_g.depot_decayed); S(", holding ");
       BY(__atomic_load_n(&ummp_g.depot_bytes, __ATOMIC_RELAXED)); S(" of "); BY(UMMP_DEPOT_CAP));
  LINE(S("umm:   contention events "); U(tot.contention); S(", home region moves "); U(ummp_g.home_moves));
  LINE(S("umm:   returned to the OS "); BY(ummp_g.purged_bytes); S(" in "); U(ummp_g.purges); S(" purges, rss ");
       BY(ummp_os_rss()));
}
