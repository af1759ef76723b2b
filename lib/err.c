#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* AddressSanitizer builds (gcc defines the first, clang answers the second) */
#if defined(__SANITIZE_ADDRESS__)
#define RN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RN_ASAN 1
#endif
#endif

#ifdef RN_FUZZ
jmp_buf *rn_fuzz_catch;
#endif

static const char *prog_name = "rn";
static void (*die_hook)(void);
int rn_quiet;

void rn_set_prog(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    prog_name = slash ? slash + 1 : (argv0 ? argv0 : "rn");
}

const char *rn_prog(void) { return prog_name; }

void rn_set_die_hook(void (*hook)(void)) { die_hook = hook; }

static void vmessage(const char *fmt, va_list ap, const char *suffix)
{
#ifdef RN_FUZZ
    if (rn_fuzz_catch) {   /* format (so format bugs still show), print nothing */
        char buf[1024];
        vsnprintf(buf, sizeof buf, fmt, ap);
        (void)suffix;
        return;
    }
#endif
    fprintf(stderr, "%s: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", suffix ? suffix : "");
}

/* The end of an error exit, after its message: the die hook (pending atomic
 * outputs are removed), then exit. The callers' buffers are not freed: the
 * process is ending, and rn_die is called from deep inside readers and tools.
 * In an AddressSanitizer build the process ends with _exit after flushing
 * stdio, which skips LeakSanitizer's check at exit on this path only: that
 * check would report those buffers or not depending on whether a pointer,
 * dead once a _Noreturn call is made, still sat in a register or stack slot
 * (seen: format-test refusals failing at random on an Intel Xeon, one line
 * of error plus a leak report). Normal exits keep the leak check. */
static _Noreturn void end_with(int code)
{
#ifdef RN_FUZZ
    if (rn_fuzz_catch)
        longjmp(*rn_fuzz_catch, code);
#endif
    if (die_hook)
        die_hook();
#ifdef RN_ASAN
    fflush(NULL);
    _exit(code);
#else
    exit(code);
#endif
}

void rn_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap, NULL);
    va_end(ap);
    end_with(RN_EXIT_FAILURE);
}

void rn_usage_error(const char *fmt, ...)
{
    char suffix[128];
    snprintf(suffix, sizeof suffix, " (try '%s --help')", prog_name);
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap, suffix);
    va_end(ap);
    end_with(RN_EXIT_USAGE);
}

void rn_warn(const char *fmt, ...)
{
#ifdef RN_FUZZ
    if (rn_fuzz_catch)
        return;
#endif
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void rn_info(const char *fmt, ...)
{
    if (rn_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *rn_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        rn_die("out of memory allocating %zu bytes", bytes);
    return p;
}

void *rn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        rn_die("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *rn_xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        rn_die("out of memory allocating %zu bytes", bytes);
    return q;
}

char *rn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = rn_xmalloc(n);
    memcpy(d, s, n);
    return d;
}
