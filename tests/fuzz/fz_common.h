/* fz_common.h - what the fuzz targets share (fuzz_core.c, fuzz_preload.c):
 * failure reporting with the operation number, a trace log, an input reader
 * that reads exhausted input as zeros, and the content pattern. Define
 * FZ_NAME (the target's name for messages) before including it. */
#ifndef FZ_COMMON_H
#define FZ_COMMON_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- failure reporting ------------------------------------------------------------ */
static unsigned long fz_opno;             /* operation being run (1-based) */
static const char *fz_opname = "init";
static int fz_trace;                      /* FUZZ_TRACE set: log every operation */

__attribute__((noreturn, format(printf, 1, 2))) static void fz_fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, FZ_NAME ": FAIL at op %lu (%s): ", fz_opno, fz_opname);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}
#define FZ_CHECK(cond, ...) do { if (__builtin_expect(!(cond), 0)) fz_fail(__VA_ARGS__); } while (0)

__attribute__((format(printf, 1, 2))) static void fz_log(const char *fmt, ...) {
  if (!fz_trace) return;
  va_list ap;
  fprintf(stderr, "op %4lu: ", fz_opno);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- input reader: exhausted input reads as zeros ---------------------------------- */
typedef struct fz_in { const uint8_t *p; size_t n; } fz_in_t;
static uint8_t in_u8(fz_in_t *in) { if (!in->n) return 0; in->n--; return *in->p++; }
static uint16_t in_u16(fz_in_t *in) { uint16_t a = in_u8(in); return (uint16_t)(a | (uint16_t)in_u8(in) << 8); }
static uint32_t in_u32(fz_in_t *in) { uint32_t a = in_u16(in); return a | (uint32_t)in_u16(in) << 16; }

/* ---- content pattern: byte i of a block whose pattern seed is seed ------------------ */
static inline unsigned char pat(uint32_t seed, size_t i) {
  uint32_t x = seed ^ (uint32_t)(i * 0x9e3779b1u);
  x ^= x >> 15; x *= 0x2c1b3c6du; x ^= x >> 12;
  return (unsigned char)x;
}
#endif
