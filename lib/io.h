/* Checked I/O. Every failure dies with one line naming the file.
 * Outputs are atomic: written to "<dir>/.<name>.tmp.XXXXXX" and renamed into
 * place on commit, so a failed or killed run never leaves a half-written file
 * under the final name. "-" means stdin / stdout. */
#ifndef RN_IO_H
#define RN_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool rn_is_stdio(const char *path);               /* path is "-" */

FILE *rn_open_read(const char *path);             /* "-" = stdin */
void rn_close_read(FILE *f, const char *path);
#ifdef RN_FUZZ
/* Fuzzing builds only: closes the streams rn_open_read opened that an
 * interrupted reader (see rn_fuzz_catch in err.h) left open. */
void rn_fuzz_close_reads(void);
#endif
/* Reads exactly n bytes or dies: "PATH: truncated (expected N more bytes ...)". */
void rn_read_exact(FILE *f, void *buf, size_t n, const char *path, const char *what);
/* Whole file (or stdin) into memory; *len set. The buffer is NUL-terminated.
 * Never holds more than `limit` bytes: a larger input dies with one line,
 * "PATH: larger than LIMIT bytes, the most WHAT may be", before reading on
 * (a regular file is refused by its size, a pipe or device after limit + 1
 * bytes), so no input, /dev/zero or an endless pipe included, can make a
 * reader allocate without bound. */
uint8_t *rn_read_file(const char *path, size_t *len, size_t limit, const char *what);
bool rn_file_exists(const char *path);

typedef struct RnOut RnOut;
RnOut *rn_out_open(const char *path);             /* "-" = stdout */
FILE *rn_out_file(RnOut *out);
const char *rn_out_path(const RnOut *out);
void rn_out_write(RnOut *out, const void *buf, size_t n);
void rn_out_printf(RnOut *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rn_out_commit(RnOut *out);                   /* flush, fsync, close, rename; dies on error */
void rn_out_abort(RnOut *out);                    /* remove the temp file */

/* Little-endian helpers for the binary formats. */
static inline void rn_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t rn_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void rn_put_u64(uint8_t *p, uint64_t v) { rn_put_u32(p, (uint32_t)v); rn_put_u32(p + 4, (uint32_t)(v >> 32)); }
static inline uint64_t rn_get_u64(const uint8_t *p) { return rn_get_u32(p) | (uint64_t)rn_get_u32(p + 4) << 32; }

/* IEEE-754 binary64, little-endian (the metrics and eval files) */
static inline void rn_put_f64(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    rn_put_u64(p, bits);
}
static inline double rn_get_f64(const uint8_t *p)
{
    uint64_t bits = rn_get_u64(p);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

uint32_t rn_crc32(const void *data, size_t n);    /* IEEE 802.3, as zlib's crc32() */

#endif
