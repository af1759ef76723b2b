/* Error reporting shared by every tool: one line "tool: message", exit 1 for
 * failures, 2 for usage errors; checked allocation. */
#ifndef RN_ERR_H
#define RN_ERR_H

#include <stddef.h>

#ifndef RN_VERSION
#define RN_VERSION "0.0.0"
#endif

/* Exit codes, as in docs/DESIGN.md: 1 failure, 2 usage error. */
enum { RN_EXIT_FAILURE = 1, RN_EXIT_USAGE = 2 };

void rn_set_prog(const char *argv0);      /* basename of argv[0] becomes the message prefix */
const char *rn_prog(void);
extern int rn_quiet;                      /* --quiet: rn_info() prints nothing */

/* "prog: message\n" on stderr, remove every pending atomic output, exit 1. */
_Noreturn void rn_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message (try 'prog --help')\n", exit 2. */
_Noreturn void rn_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rn_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rn_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Called by rn_die before exit; io.c registers the atomic-output cleanup here. */
void rn_set_die_hook(void (*hook)(void));

#ifdef RN_FUZZ
/* Fuzzing builds only (tests/fuzz): while rn_fuzz_catch points at a jmp_buf,
 * rn_die and rn_usage_error format their message without printing it and
 * longjmp there (with the exit code) instead of exiting, so one process can
 * try millions of inputs. The tools are never built with RN_FUZZ. */
#include <setjmp.h>
extern jmp_buf *rn_fuzz_catch;
#endif

void *rn_xmalloc(size_t bytes);
void *rn_xcalloc(size_t count, size_t size);
void *rn_xrealloc(void *p, size_t bytes);
char *rn_xstrdup(const char *s);

#endif
