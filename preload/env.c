/* env.c - the UMM_* environment, read once at start-up without getenv or
 * stdio: from `environ` when libc has set it, else from /proc/self/environ
 * (the allocator can be called by ld.so before libc's initialiser runs).
 *
 *   UMM_ARENA_SIZE  bytes of address space to reserve ("64G" default; K/M/G/T)
 *   UMM_STATS       1: print a summary on stderr at exit (through a duplicate
 *                   of fd 2 taken at start-up, numbered >= 1000, close-on-exec,
 *                   since programs such as coreutils close stderr before exit)
 *   UMM_LARGE       requests above this many bytes get their own mapping
 *   UMM_PURGE_DELAY ms before freed memory is returned to the OS (default 1000;
 *                   0: at the next check; -1 or "never": never)
 *   UMM_CACHE       0: no thread caches (every call goes to the core)
 *   UMM_TAG         none | thread (default) | site: what a block's tag records (tag.c)
 *   UMM_DEBUG       1: canaries after every block, fill of new and freed memory, a
 *                   quarantine of freed blocks, all checked (guard.c); 0 (default) off
 *   UMM_DUMP        stderr | PATH: dump the heap at exit (debug.c)
 *   UMM_DUMP_FORMAT text (default) | json
 *   UMM_DUMP_SIGNAL a signal name (USR2, SIGUSR2) or number: dump when it arrives
 *   UMM_CHECK       1: run the core checker over every region at exit
 *   UMM_LEAKS       1 | stderr | PATH: leak report at exit (debug.c; format UMM_DUMP_FORMAT)
 *   UMM_FAULT       make OS calls fail, for tests (os.c; include/umm_fault.h):
 *                   "mmap:after=N,every=K,count=C;munmap" ... (active from
 *                   start-up: the arena's own reservation is subject to it)
 */
#include "internal.h"

extern char **environ;

size_t ummp_parse_size(const char *s) {
  size_t v = 0;
  int digits = 0;
  while (*s >= '0' && *s <= '9') {
    size_t d = (size_t)(*s++ - '0');
    if (v > (SIZE_MAX - d) / 10) return (size_t)-1;
    v = v * 10 + d;
    digits++;
  }
  if (!digits) return (size_t)-1;
  unsigned shift = 0;
  switch (*s) {
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    case 't': case 'T': shift = 40; s++; break;
    default: break;
  }
  if (shift && (*s == 'i' || *s == 'I')) s++;
  if (shift && (*s == 'b' || *s == 'B')) s++;
  if (*s) return (size_t)-1;
  if (shift && v > (SIZE_MAX >> shift)) return (size_t)-1;
  return v << shift;
}

static int name_is(const char *e, const char *name, const char **val) {
  while (*name && *e == *name) { e++; name++; }
  if (*name || *e != '=') return 0;
  *val = e + 1;
  return 1;
}

static int str_is(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

int ummp_signal_number(const char *v) {
  static const struct { const char *name; int num; } sigs[] = {
    {"HUP", 1}, {"INT", 2}, {"QUIT", 3}, {"USR1", 10}, {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14},
    {"TERM", 15}, {"CHLD", 17}, {"CONT", 18}, {"TSTP", 20}, {"TTIN", 21}, {"TTOU", 22}, {"URG", 23},
    {"XCPU", 24}, {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27}, {"WINCH", 28}, {"IO", 29}, {"PWR", 30},
  };
  if (v[0] == 'S' && v[1] == 'I' && v[2] == 'G') v += 3;
  if (v[0] >= '0' && v[0] <= '9') {
    size_t n = ummp_parse_size(v);
    return n > 0 && n < 65 ? (int)n : 0;
  }
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (str_is(v, sigs[i].name)) return sigs[i].num;
  return 0;
}

static void apply(ummp_config_t *cfg, const char *e) {
  const char *v;
  size_t n;
  if (e[0] != 'U' || e[1] != 'M' || e[2] != 'M' || e[3] != '_') return;
  if (name_is(e, "UMM_ARENA_SIZE", &v)) {
    if ((n = ummp_parse_size(v)) != (size_t)-1 && n) cfg->arena_size = n;
  } else if (name_is(e, "UMM_STATS", &v)) {
    cfg->stats = v[0] != 0 && v[0] != '0';
  } else if (name_is(e, "UMM_LARGE", &v)) {
    if ((n = ummp_parse_size(v)) != (size_t)-1) cfg->large_threshold = n;
  } else if (name_is(e, "UMM_PURGE_DELAY", &v)) {
    if (v[0] == '-' || v[0] == 'n') cfg->purge_delay_ms = -1;
    else if ((n = ummp_parse_size(v)) != (size_t)-1 && n < 1000000000) cfg->purge_delay_ms = (long)n;
  } else if (name_is(e, "UMM_CACHE", &v)) {
    cfg->cache = !(v[0] == '0' && v[1] == 0);
  } else if (name_is(e, "UMM_TAG", &v)) {
    if (str_is(v, "none") || str_is(v, "0")) cfg->tag_mode = UMMP_TAG_NONE;
    else if (str_is(v, "site")) cfg->tag_mode = UMMP_TAG_SITE;
    else cfg->tag_mode = UMMP_TAG_THREAD;
    cfg->tag_set = 1;
  } else if (name_is(e, "UMM_DEBUG", &v)) {
    cfg->guard = v[0] != 0 && !str_is(v, "0");
  } else if (name_is(e, "UMM_DUMP", &v)) {
    cfg->dump = v[0] != 0;
    size_t k = 0;
    if (!str_is(v, "stderr") && !str_is(v, "2"))
      for (; v[k] && k < sizeof cfg->dump_path - 1; k++) cfg->dump_path[k] = v[k];
    cfg->dump_path[k] = 0;
  } else if (name_is(e, "UMM_DUMP_FORMAT", &v)) {
    cfg->dump_json = str_is(v, "json");
  } else if (name_is(e, "UMM_DUMP_SIGNAL", &v)) {
    cfg->dump_signal = ummp_signal_number(v);
  } else if (name_is(e, "UMM_LEAKS", &v)) {
    cfg->leaks = v[0] != 0 && !str_is(v, "0");
    size_t k = 0;
    if (!str_is(v, "1") && !str_is(v, "stderr"))
      for (; v[k] && k < sizeof cfg->leaks_path - 1; k++) cfg->leaks_path[k] = v[k];
    cfg->leaks_path[k] = 0;
  } else if (name_is(e, "UMM_FAULT", &v)) {
    ummp_fault_set(v);                               /* a bad spec is ignored */
  } else if (name_is(e, "UMM_CHECK", &v)) {
    cfg->check = v[0] != 0 && v[0] != '0';
  }
}

void ummp_env_read(ummp_config_t *cfg) {
  cfg->arena_size = (size_t)64 << 30;
  cfg->large_threshold = 0;
  cfg->purge_delay_ms = 1000;
  cfg->stats = 0;
  cfg->cache = 1;
  cfg->tag_mode = UMMP_TAG_THREAD;
  char **env = __atomic_load_n(&environ, __ATOMIC_RELAXED);
  if (env) {
    for (; *env; env++) apply(cfg, *env);
    return;
  }
  /* Stream /proc/self/environ: entries are NUL-terminated; only UMM_* ones
   * that fit the line buffer matter. */
  int fd = ummp_os_open_read("/proc/self/environ");
  if (fd < 0) return;
  char buf[1024], line[256];
  size_t ln = 0;
  int overflow = 0;
  long r;
  while ((r = ummp_os_read(fd, buf, sizeof buf)) > 0) {
    for (long i = 0; i < r; i++) {
      char c = buf[i];
      if (c == 0) {
        if (!overflow) { line[ln] = 0; apply(cfg, line); }
        ln = 0;
        overflow = 0;
      } else if (ln < sizeof line - 1) {
        line[ln++] = c;
      } else {
        overflow = 1;
      }
    }
  }
  ummp_os_close(fd);
}
