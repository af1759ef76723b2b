#include "io.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct RnOut {
    char *path;        /* the name given */
    char *target;      /* the file replaced on commit (symlinks followed); NULL: stdout or written through */
    char *tmp;         /* temp name beside target, NULL for stdout and written-through files */
    FILE *f;
};

bool rn_is_stdio(const char *path) { return path && strcmp(path, "-") == 0; }

#ifdef RN_FUZZ
static FILE *fuzz_reads[8];

static void fuzz_track(FILE *f, FILE *replace)
{
    for (int i = 0; i < 8; i++)
        if (fuzz_reads[i] == replace) {
            fuzz_reads[i] = f;
            return;
        }
}

void rn_fuzz_close_reads(void)
{
    for (int i = 0; i < 8; i++)
        if (fuzz_reads[i]) {
            fclose(fuzz_reads[i]);
            fuzz_reads[i] = NULL;
        }
}
#endif

FILE *rn_open_read(const char *path)
{
    if (rn_is_stdio(path))
        return stdin;
    FILE *f = fopen(path, "rb");
    if (!f)
        rn_die("cannot open %s: %s", path, strerror(errno));
#ifdef RN_FUZZ
    fuzz_track(f, NULL);
#endif
    return f;
}

void rn_close_read(FILE *f, const char *path)
{
    if (f == stdin)
        return;
#ifdef RN_FUZZ
    fuzz_track(NULL, f);
#endif
    if (fclose(f) != 0)
        rn_die("error reading %s: %s", path, strerror(errno));
}

void rn_read_exact(FILE *f, void *buf, size_t n, const char *path, const char *what)
{
    size_t got = fread(buf, 1, n, f);
    if (got != n) {
        if (ferror(f))
            rn_die("error reading %s of %s: %s", what, path, strerror(errno));
        rn_die("%s: truncated: %s needs %zu bytes, only %zu left", rn_is_stdio(path) ? "stdin" : path,
               what, n, got);
    }
}

uint8_t *rn_read_file(const char *path, size_t *len, size_t limit, const char *what)
{
    const char *shown = rn_is_stdio(path) ? "stdin" : path;
    FILE *f = rn_open_read(path);
    /* a regular file's size is known: refuse a too-large one before reading,
     * and allocate once (the size is a hint; the read below stays bounded) */
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > limit)
            rn_die("%s: larger than %zu bytes, the most %s may be (%llu bytes)", shown, limit, what,
                   (unsigned long long)st.st_size);
        cap = (size_t)st.st_size + 2;
    }
    size_t n = 0;
    uint8_t *buf = rn_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > limit + 1)   /* already holds limit + 1 bytes: too large */
                break;
            cap = cap > limit / 2 + 1 ? limit + 2 : cap * 2;
            buf = rn_xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rn_die("error reading %s: %s", shown, strerror(errno));
            break;
        }
    }
    if (n > limit)
        rn_die("%s: larger than %zu bytes, the most %s may be", shown, limit, what);
    rn_close_read(f, path);
    buf[n] = 0;
    *len = n;
    return buf;
}

bool rn_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Opens a device, FIFO or socket for writing as it is: replacing it by a
 * rename would turn /dev/null into a regular file or cut a pipe's reader off. */
static void open_through(RnOut *out, const char *target, const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        rn_die("cannot write %s: it is a directory (give a file name)", out->path);
    int fd = open(target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        rn_die("cannot write %s: %s", out->path, strerror(errno));
    out->f = fdopen(fd, "wb");
    if (!out->f)
        rn_die("cannot write %s: %s", out->path, strerror(errno));
}

/* "dir/" of a path ("" for a bare name), as a length. */
static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path + 1) : 0;
}

RnOut *rn_out_open(const char *path)
{
    RnOut *out = rn_xcalloc(1, sizeof *out);
    out->path = rn_xstrdup(path);
    if (rn_is_stdio(path)) {
        out->f = stdout;
        return out;
    }
    char *target = rn_resolve_links(path);
    struct stat st;
    if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        open_through(out, target, &st);
        free(target);
        return out;
    }
    /* temp file beside the target, so rename() is atomic and replaces the target, not a link to it */
    size_t dirlen = dir_len(target);
    size_t n = strlen(target) + 32;
    char *dir = rn_xmalloc(dirlen + 1);
    snprintf(dir, dirlen + 1, "%s", target);
    rn_sweep_stale_temps(dir);
    free(dir);
    out->target = target;
    out->tmp = rn_xmalloc(n);
    snprintf(out->tmp, n, "%.*s.%s.tmp.XXXXXX", (int)dirlen, target, target + dirlen);
    rn_cleanup_hold();
    int fd = mkstemp(out->tmp);
    if (fd < 0)
        rn_die("cannot write %s: %s (is the directory there and writable?)", path, strerror(errno));
    rn_cleanup_add(out->tmp);
    rn_cleanup_release();
    fchmod(fd, 0644);
    out->f = fdopen(fd, "wb");
    if (!out->f)
        rn_die("cannot write %s: %s", path, strerror(errno));
    return out;
}

void rn_out_probe(const char *path)
{
    if (!path || rn_is_stdio(path))
        return;
    char *target = rn_resolve_links(path);
    struct stat st;
    if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            rn_die("cannot write %s: it is a directory (give a file name)", path);
        if (access(target, W_OK) != 0)
            rn_die("cannot write %s: %s", path, strerror(errno));
        free(target);
        return;
    }
    free(target);
    rn_out_abort(rn_out_open(path));
}

FILE *rn_out_file(RnOut *out) { return out->f; }
const char *rn_out_path(const RnOut *out) { return out->path; }

void rn_out_write(RnOut *out, const void *buf, size_t n)
{
    if (n && fwrite(buf, 1, n, out->f) != n)
        rn_die("cannot write %s: %s", rn_is_stdio(out->path) ? "stdout" : out->path, strerror(errno));
}

void rn_out_printf(RnOut *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(out->f, fmt, ap);
    va_end(ap);
    if (r < 0)
        rn_die("cannot write %s: %s", rn_is_stdio(out->path) ? "stdout" : out->path, strerror(errno));
}

static void free_out(RnOut *out)
{
    free(out->path);
    free(out->target);
    free(out->tmp);
    free(out);
}

void rn_out_commit(RnOut *out)
{
    const char *shown = rn_is_stdio(out->path) ? "stdout" : out->path;
    if (fflush(out->f) != 0)
        rn_die("cannot write %s: %s", shown, strerror(errno));
    if (out->f == stdout) {
        if (ferror(out->f))
            rn_die("cannot write %s", shown);
        free_out(out);
        return;
    }
    /* fsync: EINVAL from a FIFO or device that cannot sync is no error */
    if (fsync(fileno(out->f)) != 0 && errno != EINVAL && errno != ENOTSUP)
        rn_die("cannot write %s: %s", shown, strerror(errno));
    if (fclose(out->f) != 0) {
        out->f = NULL;
        rn_die("cannot write %s: %s", shown, strerror(errno));
    }
    if (out->tmp) {
        if (rename(out->tmp, out->target) != 0)
            rn_die("cannot rename %s to %s: %s", out->tmp, out->target, strerror(errno));
        rn_cleanup_remove(out->tmp);
    }
    free_out(out);
}

void rn_out_abort(RnOut *out)
{
    if (out->f != stdout)
        fclose(out->f);
    if (out->tmp) {
        unlink(out->tmp);
        rn_cleanup_remove(out->tmp);
    }
    free_out(out);
}

uint32_t rn_crc32(const void *data, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
