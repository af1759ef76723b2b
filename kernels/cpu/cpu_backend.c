/* The CPU backend: host memory, OpenMP threads, and the table of operations.
 *
 * The table is built in two steps so faster kernels can be added without
 * touching the reference: REFERENCE below lists the plain kernel of every
 * operation (ref_*.c, batch.c: readable, the oracle of the tests); when the
 * caller does not ask for the reference (opts->reference == 0), select_fast()
 * may overwrite any entry with a fast path (fast_*.c) that computes the same
 * thing. Backend name: "cpu-ref" for the reference, "cpu" otherwise. */
#include "cpu_backend.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"
#include "fast.h"

/* ---------------------------------------------------------------- memory */

/* Buffers are 64-byte aligned (one cache line, one AVX-512 vector) so fast
 * paths may use aligned loads, and zeroed as the interface promises.
 *
 * Big ones (activations, gradients, the fast paths' workspace) are asked to
 * sit on 2 MiB pages (transparent huge pages, where the kernel has them):
 * the layers stream whole tensors, and with 4 KiB pages a core's stream
 * starts over at every page (the prefetchers stop at page ends, each page
 * needs its own TLB entry). On the AMD EPYC (Zen 5) the fast paths were
 * tuned on, one core reads a large array at 19 GB/s on 4 KiB pages and at
 * 31 GB/s on 2 MiB pages. The advice must come before the pages are first
 * touched. */
enum { CPU_ALIGN = 64, HUGE_PAGE = 2 << 20 };

void *cpu_host_alloc(size_t bytes)
{
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : CPU_ALIGN;
    size_t rounded = (bytes + align - 1) / align * align;
    if (rounded < bytes)
        rn_die("out of memory: cannot allocate %zu bytes", bytes);
    if (rounded == 0)
        rounded = CPU_ALIGN;
    void *p = aligned_alloc(align, rounded);
    if (!p)
        rn_die("out of memory allocating %zu bytes for the CPU backend", bytes);
    /* advice only: without huge pages (EINVAL) the memory is as good, just slower */
    if (align == HUGE_PAGE)
        (void)madvise(p, rounded, MADV_HUGEPAGE);
    memset(p, 0, rounded);
    return p;
}

static void *cpu_alloc(RnBackend *be, size_t bytes)
{
    (void)be;
    return cpu_host_alloc(bytes);
}

static void cpu_release(RnBackend *be, void *p)
{
    (void)be;
    free(p);
}

/* Device memory is host memory: transfers are copies. */
static void cpu_copy(RnBackend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes)
        memmove(dst, src, bytes);
}

static void cpu_zero(RnBackend *be, void *p, size_t bytes)
{
    (void)be;
    if (bytes)
        memset(p, 0, bytes);
}

static void cpu_sync(RnBackend *be)
{
    (void)be;   /* every operation has finished when it returns */
}

static void cpu_destroy(RnBackend *be)
{
    CpuContext *ctx = be->ctx;
    for (int s = 0; s < RN_SLOTS; s++)
        free(ctx->slots[s].order);
    free(ctx);
    free(be);
}

/* ---------------------------------------------------------------- the table */

static const RnBackend REFERENCE = {
    .name = "cpu-ref",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .set_dataset = cpu_set_dataset,
    .set_order = cpu_set_order,
    .load_batch = cpu_load_batch,
    .conv_fwd = cpu_ref_conv_fwd,
    .conv_bwd_data = cpu_ref_conv_bwd_data,
    .conv_bwd_filter = cpu_ref_conv_bwd_filter,
    .bn_fwd_train = cpu_ref_bn_fwd_train,
    .bn_fwd_eval = cpu_ref_bn_fwd_eval,
    .bn_bwd = cpu_ref_bn_bwd,
    .shortcut_pad_fwd = cpu_ref_shortcut_pad_fwd,
    .shortcut_pad_bwd = cpu_ref_shortcut_pad_bwd,
    .add = cpu_ref_add,
    .avgpool_fwd = cpu_ref_avgpool_fwd,
    .avgpool_bwd = cpu_ref_avgpool_bwd,
    .fc_fwd = cpu_ref_fc_fwd,
    .fc_bwd = cpu_ref_fc_bwd,
    .xent = cpu_ref_xent,
    .sgd = cpu_ref_sgd,
    .moments = cpu_ref_moments,
    .sync = cpu_sync,
};

/* Where the fast paths plug in: overwrite entries of *be with fast_*.c
 * functions (same signatures, listed in fast.h's rn_fast_install) and rename it. */
static void select_fast(RnBackend *be)
{
    be->name = "cpu";
    rn_fast_install(be);
}

RnBackend *rn_cpu_backend_create(const RnBackendOptions *opts)
{
    if (opts->threads < 0)
        rn_die("thread count %d is negative (use 0 for all cores)", opts->threads);
    CpuContext *ctx = rn_xcalloc(1, sizeof *ctx);
    ctx->threads = opts->threads > 0 ? opts->threads : omp_get_num_procs();
    if (ctx->threads < 1)
        ctx->threads = 1;
    /* The reference names its thread count on every loop (num_threads); this
     * also sets OpenMP's default, for code that asks omp_get_max_threads(). */
    omp_set_num_threads(ctx->threads);

    RnBackend *be = rn_xmalloc(sizeof *be);
    *be = REFERENCE;
    be->ctx = ctx;
    if (!opts->reference)
        select_fast(be);
    snprintf(be->description, sizeof be->description, "%s (%d thread%s)", be->name, ctx->threads,
             ctx->threads == 1 ? "" : "s");
    return be;
}
