/* Checked I/O. Every failure dies with one line naming the file.
 * "-" means stdin / stdout.
 *
 * The output rules (rn_out_open), the same for every tool:
 * - a regular file, or a name that does not exist yet, is written to
 *   "<dir>/.<name>.tmp.XXXXXX" and renamed into place on commit, so a failed
 *   or killed run never leaves a half-written file under the final name;
 * - a symbolic link is followed: its target is replaced that way (the temp
 *   file beside the target) and the link is kept;
 * - a device, FIFO or socket is written through (opened for writing, never
 *   replaced: /dev/null stays a device); a directory is refused;
 * - the temp files are removed when the tool dies with an error and on
 *   SIGINT, SIGTERM and SIGHUP (the handler unlinks a fixed list, then the
 *   signal takes its default action); temp files of ours older than a day,
 *   left by a power cut or kill -9, are removed when a tool next writes in
 *   their directory.
 * Tools call rn_refuse_same_files before any work, so that no output is the
 * same file (device and inode) as one of the command's inputs. */
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
/* Fails now, naming the file, when PATH could not be written (without
 * opening a FIFO or device, which would block or consume it). */
void rn_out_probe(const char *path);

/* A path argument of a command: its option ("--weights", "-o", "input") and value. */
typedef struct {
    const char *opt;
    const char *path;
} RnPathArg;
/* Dies with one line naming both when an output is the same file as an
 * input (same device and inode; for an output that does not exist yet, the
 * same directory entry) or as another output. "-" and NULL paths are
 * skipped, and so are devices and FIFOs, which writing does not replace. */
void rn_refuse_same_files(const RnPathArg *inputs, size_t ninputs, const RnPathArg *outputs, size_t noutputs);
/* The file a write to PATH lands on: symbolic links followed. Caller frees. */
char *rn_resolve_links(const char *path);

/* A run lock: "<target of PATH>.lock", held with flock() and holding the
 * holder's pid. A second holder is refused at once with one line naming the
 * pid and the lock file; the lock of a dead holder (kill -9, power cut) is
 * released by the kernel and taken over. Released (and its file removed) by
 * rn_lock_release, by rn_die and on SIGINT/SIGTERM/SIGHUP. NULL for "-" and
 * for non-regular files (nothing to protect). */
typedef struct RnLock RnLock;
RnLock *rn_lock_take(const char *path, const char *what);
void rn_lock_release(RnLock *lock);

/* The cleanup list behind the rules above (io_cleanup.c): names unlinked by
 * rn_die and by the signal handler. rn_cleanup_add installs the handler for
 * SIGINT, SIGTERM and SIGHUP where their action is the default one (an
 * ignored signal stays ignored; a tool's own handler, such as rn-train's, is
 * kept). The string must stay valid until rn_cleanup_remove. */
void rn_cleanup_add(const char *path);
/* rn_cleanup_hold() before creating a file and rn_cleanup_release() once it is
 * listed: a signal in between is delivered at the release (not nested). */
void rn_cleanup_hold(void);
void rn_cleanup_release(void);
void rn_cleanup_remove(const char *path);
void rn_cleanup_run(void);
/* Removes our temp files (".NAME.tmp.XXXXXX", regular, owned by us) older
 * than a day from DIR ("" = the current directory), once per directory per
 * process. */
void rn_sweep_stale_temps(const char *dir);

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
