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
 *   UMM_DUMP        1 | stderr | PATH: dump the heap at exit (debug.c); 0 off.
 *                   In PATH (and UMM_LEAKS's) %p is the process id; a relative
 *                   PATH is taken from the directory the program started in.
 *   UMM_DUMP_FORMAT text (default) | json
 *   UMM_DUMP_SIGNAL USR1, USR2, WINCH, URG, PWR (with or without SIG, any case)
 *                   or a real-time signal's number: dump when it arrives. Not
 *                   a signal that stops programs (INT, TERM, HUP, ...): its
 *                   handler would keep the program alive.
 *   UMM_CHECK       1: run the core checker over every region at exit
 *   UMM_LEAKS       1 | stderr | PATH: leak report at exit (debug.c; format UMM_DUMP_FORMAT); 0 off
 *   UMM_FAULT       make OS calls fail, for tests (os.c; include/umm_fault.h):
 *                   "mmap:after=N,every=K,count=C;munmap" ... (active from
 *                   start-up: the arena's own reservation is subject to it)
 * A value umm does not understand is ignored with a one-line message on
 * stderr ("umm: UMM_TAG=sites: not understood, ignored (none | thread | site)").
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
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }
static int str_is_nocase(const char *a, const char *b) {
  while (*a && lower(*a) == lower(*b)) { a++; b++; }
  return lower(*a) == lower(*b);
}

/* "umm: NAME=VALUE: not understood, ignored (HINT)" on stderr (at start-up,
 * before any dup of it; write(2), no stdio). */
static void complain(const char *e, const char *hint) {
  char b[256];
  size_t n = ummp_fmt_str(b, sizeof b - 1, 0, "umm: ");
  size_t k = 0;
  while (e[k] && k < 120) k++;
  for (size_t i = 0; i < k && n < sizeof b - 1; i++) b[n++] = e[i];
  n = ummp_fmt_str(b, sizeof b - 1, n, ": not understood, ignored (");
  n = ummp_fmt_str(b, sizeof b - 1, n, hint);
  n = ummp_fmt_str(b, sizeof b - 1, n, ")\n");
  ummp_os_write(2, b, n);
}

/* The signals a dump may be asked with: none whose default action users
 * rely on to stop or control a program (a handler that only sets a flag
 * would keep it running), nor the ones the C library uses (32, 33). */
int ummp_signal_number(const char *v) {
  static const struct { const char *name; int num; } sigs[] = {
    {"USR1", 10}, {"USR2", 12}, {"URG", 23}, {"WINCH", 28}, {"PWR", 30},
  };
  if (lower(v[0]) == 's' && lower(v[1]) == 'i' && lower(v[2]) == 'g') v += 3;
  if (v[0] >= '0' && v[0] <= '9') {
    size_t n = ummp_parse_size(v);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      if (n == (size_t)sigs[i].num) return (int)n;
    return n >= 34 && n < 65 ? (int)n : 0;           /* SIGRTMIN..SIGRTMAX as glibc numbers them */
  }
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (str_is_nocase(v, sigs[i].name)) return sigs[i].num;
  return 0;
}

/* UMM_DUMP / UMM_LEAKS: 0 off; 1, 2 or stderr to stderr; else a path. */
static int out_spec(const char *v, char *path, size_t cap) {
  size_t k = 0;
  int on = v[0] != 0 && !str_is(v, "0");
  if (on && !str_is(v, "1") && !str_is(v, "2") && !str_is(v, "stderr"))
    for (; v[k] && k < cap - 1; k++) path[k] = v[k];
  path[k] = 0;
  return on;
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
    if (str_is_nocase(v, "none") || str_is(v, "0")) cfg->tag_mode = UMMP_TAG_NONE;
    else if (str_is_nocase(v, "site")) cfg->tag_mode = UMMP_TAG_SITE;
    else if (str_is_nocase(v, "thread")) cfg->tag_mode = UMMP_TAG_THREAD;
    else { complain(e, "none | thread | site"); return; }
    cfg->tag_set = 1;
  } else if (name_is(e, "UMM_DEBUG", &v)) {
    cfg->guard = v[0] != 0 && !str_is(v, "0");
  } else if (name_is(e, "UMM_DUMP", &v)) {
    cfg->dump = out_spec(v, cfg->dump_path, sizeof cfg->dump_path);
  } else if (name_is(e, "UMM_DUMP_FORMAT", &v)) {
    if (str_is_nocase(v, "json")) cfg->dump_json = 1;
    else if (str_is_nocase(v, "text")) cfg->dump_json = 0;
    else complain(e, "text | json");
  } else if (name_is(e, "UMM_DUMP_SIGNAL", &v)) {
    cfg->dump_signal = ummp_signal_number(v);
    if (!cfg->dump_signal && v[0] && !str_is(v, "0"))   /* 0 or empty: none */
      complain(e, "USR1, USR2, WINCH, URG, PWR or a real-time signal's number 34-64");
  } else if (name_is(e, "UMM_LEAKS", &v)) {
    cfg->leaks = out_spec(v, cfg->leaks_path, sizeof cfg->leaks_path);
  } else if (name_is(e, "UMM_FAULT", &v)) {
    ummp_fault_set(v);                               /* a bad spec is ignored */
  } else if (name_is(e, "UMM_CHECK", &v)) {
    cfg->check = v[0] != 0 && v[0] != '0';
  }
}

/* A relative report path is taken from the directory the program started
 * in, not the one it is in at exit (a program that chdir()s wrote its dump
 * elsewhere). Left as it is when the result would not fit. */
static void path_absolute(char *path, size_t cap) {
  if (!path[0] || path[0] == '/') return;
  char cwd[256];
  size_t c = ummp_os_getcwd(cwd, sizeof cwd), p = 0;
  while (path[p]) p++;
  if (!c || cwd[0] != '/' || c + 1 + p >= cap) return;   /* "(unreachable)/...": outside our root */
  for (size_t i = p + 1; i-- > 0;) path[c + 1 + i] = path[i];   /* the NUL too */
  for (size_t i = 0; i < c; i++) path[i] = cwd[i];
  path[c] = '/';
}

static void env_read_proc(ummp_config_t *cfg);

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
  } else {
    env_read_proc(cfg);
  }
  path_absolute(cfg->dump_path, sizeof cfg->dump_path);
  path_absolute(cfg->leaks_path, sizeof cfg->leaks_path);
}

/* Before libc has set environ: stream /proc/self/environ. */
static void env_read_proc(ummp_config_t *cfg) {
  /* entries are NUL-terminated; only UMM_* ones that fit the line buffer matter */
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
