/* Shared part of the libFuzzer harnesses (one per reader, tests/fuzz/fuzz_*.c;
 * built and run by tests/fuzz/fuzz.mk, `make fuzz` / `make fuzz-ci`).
 *
 * Each input is written to a scratch file and given to the reader by name, as
 * the tools do, so the whole reading path (open, fstat, header-first reads)
 * is exercised. The library is built with -DRN_FUZZ: rn_die longjmps back
 * here instead of exiting (lib/err.h), and the streams it left open are
 * closed (rn_fuzz_close_reads).
 *
 * Leaks: a reader that dies does not free its buffers (the tools exit right
 * after). Here the harness frees them: sanitizer malloc/free hooks record
 * every block allocated while the reader runs and not yet freed, and after a
 * die they are freed (streams closed first). An accepted input's result is
 * freed by the harness, so whatever LeakSanitizer still finds after an
 * accepted input is a real leak, reported as a crash.
 */
#ifndef RN_FUZZ_H
#define RN_FUZZ_H

#include "err.h"
#include "io.h"

#include <sanitizer/allocator_interface.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef void (*FuzzReader)(const char *path);

static char fuzz_path[512];

static void fuzz_cleanup(void) { unlink(fuzz_path); }

static void fuzz_write(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        /* in memory where there is a tmpfs: a disk file costs 30 times the executions */
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_path, sizeof fuzz_path, "%s/rn-fuzz-input.%ld", dir && *dir ? dir : "/tmp", (long)getpid());
        atexit(fuzz_cleanup);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(fuzz_path);
        abort();
    }
}

/* Blocks allocated during the reader's run, not yet freed: an open-addressing
 * set of pointers (the hooks run inside malloc, so no allocation here). */
#define FUZZ_BITS 21
#define FUZZ_SLOTS (1 << FUZZ_BITS)
#define FUZZ_GONE ((void *)1)
static void *fuzz_live[FUZZ_SLOTS];
static int fuzz_touched[FUZZ_SLOTS], fuzz_ntouched, fuzz_tracking;

static size_t fuzz_slot(const volatile void *p) { return ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> (64 - FUZZ_BITS); }

static void fuzz_malloc_hook(const volatile void *p, size_t size)
{
    (void)size;
    if (!fuzz_tracking || !p)
        return;
    if (fuzz_ntouched == FUZZ_SLOTS / 2) {   /* keep the table sparse: a million blocks is a harness limit */
        fprintf(stderr, "fuzz harness: more than %d live blocks in one input\n", FUZZ_SLOTS / 2);
        abort();
    }
    size_t i = fuzz_slot(p);
    while (fuzz_live[i] && fuzz_live[i] != FUZZ_GONE)
        i = (i + 1) & (FUZZ_SLOTS - 1);
    if (!fuzz_live[i])
        fuzz_touched[fuzz_ntouched++] = (int)i;
    fuzz_live[i] = (void *)p;
}

static void fuzz_free_hook(const volatile void *p)
{
    if (!p || !fuzz_ntouched)
        return;
    for (size_t i = fuzz_slot(p); fuzz_live[i]; i = (i + 1) & (FUZZ_SLOTS - 1))
        if (fuzz_live[i] == p) {
            fuzz_live[i] = FUZZ_GONE;
            return;
        }
}

/* Runs reader once; returns 1 if it died (rn_die), 0 if it accepted the input. */
static int fuzz_run(FuzzReader reader)
{
    static int hooked;
    if (!hooked) {
        __sanitizer_install_malloc_and_free_hooks(fuzz_malloc_hook, fuzz_free_hook);
        hooked = 1;
    }
    jmp_buf jb;
    volatile int died = 0;
    fuzz_tracking = 1;
    rn_fuzz_catch = &jb;
    if (setjmp(jb) == 0)
        reader(fuzz_path);
    else
        died = 1;
    rn_fuzz_catch = NULL;
    fuzz_tracking = 0;
    if (died) {
        rn_fuzz_close_reads();
        for (int k = 0; k < fuzz_ntouched; k++) {
            void *p = fuzz_live[fuzz_touched[k]];
            if (p && p != FUZZ_GONE)
                free(p);
        }
    }
    for (int k = 0; k < fuzz_ntouched; k++)
        fuzz_live[fuzz_touched[k]] = NULL;
    fuzz_ntouched = 0;
    return died;
}

static int fuzz_input(const uint8_t *data, size_t size, FuzzReader reader)
{
    fuzz_write(data, size);
    fuzz_run(reader);
    return 0;
}

#define FUZZ_READER(reader)                                                                                           \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                                     \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_input(data, size, reader); }

/* FUZZ_SINK: a stream for readers that print what they read (TSV), opened
 * once before any run, so the harness never sees it as a block a dying run left. */
#define FUZZ_SINK                                                   \
    static FILE *sink;                                              \
    int LLVMFuzzerInitialize(int *argc, char ***argv);              \
    int LLVMFuzzerInitialize(int *argc, char ***argv)               \
    {                                                               \
        (void)argc;                                                 \
        (void)argv;                                                 \
        if (!(sink = fopen("/dev/null", "w")))                      \
            abort();                                                \
        return 0;                                                   \
    }

#endif
