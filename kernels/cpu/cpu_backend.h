/* The CPU backend's private interface: its context, and every operation of the
 * reference (ref_*.c, batch.c) under a name of its own, so cpu_backend.c can
 * fill the RnBackend table with them and a fast path (fast_*.c) can replace
 * any one entry.
 *
 * Each ref_* function has exactly the signature of its RnBackend entry
 * (kernels/backend.h says what it computes); the file that defines it says how,
 * with the math written out. */
#ifndef RN_CPU_BACKEND_H
#define RN_CPU_BACKEND_H

#include "backend.h"

/* The data a batch is assembled from (one per slot, RN_SLOT_TRAIN/TEST). */
typedef struct {
    RnDataset ds;           /* header copied; labels/pixels point at the caller's
                               arrays (not copied: the caller keeps the dataset
                               alive while the backend uses it) */
    int have_ds;
    uint32_t *order;        /* copy of the epoch's order; NULL = identity */
    size_t order_count;
} CpuSlot;

typedef struct {
    int threads;            /* OpenMP threads every parallel loop uses (>= 1) */
    CpuSlot slots[RN_SLOTS];
} CpuContext;

/* Zeroed host memory, 64-byte aligned; 2 MiB pages asked for when big (cpu_backend.c). free() releases it. */
void *cpu_host_alloc(size_t bytes);

/* The thread count for `#pragma omp parallel for num_threads(...)`. */
static inline int cpu_threads(const RnBackend *be)
{
    return ((const CpuContext *)be->ctx)->threads;
}

/* ref_conv.c */
void cpu_ref_conv_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w, float *y);
void cpu_ref_conv_bwd_data(RnBackend *be, const RnConvDims *d, const float *dy, const float *w, float *dx);
void cpu_ref_conv_bwd_filter(RnBackend *be, const RnConvDims *d, const float *x, const float *dy, float *dw);

/* ref_bn.c */
void cpu_ref_bn_fwd_train(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                          const float *residual, int relu, float momentum, float eps,
                          float *running_mean, float *running_var,
                          float *save_mean, float *save_invstd, float *y);
void cpu_ref_bn_fwd_eval(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                         const float *residual, int relu, const float *running_mean,
                         const float *running_var, float eps, float *y);
void cpu_ref_bn_bwd(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                    const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                    int relu, float *dx, float *dgamma, float *dbeta, float *dresidual);

/* ref_shortcut.c (option-A shortcut and the plain residual add) */
void cpu_ref_shortcut_pad_fwd(RnBackend *be, RnDims in, int out_c, const float *x, float *y);
void cpu_ref_shortcut_pad_bwd(RnBackend *be, RnDims in, int out_c, const float *dy, float *dx);
void cpu_ref_add(RnBackend *be, float *dst, const float *src, size_t n);

/* ref_pool.c */
void cpu_ref_avgpool_fwd(RnBackend *be, RnDims in, const float *x, float *y);
void cpu_ref_avgpool_bwd(RnBackend *be, RnDims in, const float *dy, float *dx);

/* ref_fc.c */
void cpu_ref_fc_fwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *b, float *y);
void cpu_ref_fc_bwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *dy,
                    float *dx, float *dw, float *db);

/* ref_xent.c */
void cpu_ref_xent(RnBackend *be, int n, int classes, const float *logits, const int32_t *labels,
                  float *dlogits, float *stats, int step);

/* ref_sgd.c (the optimizer step and the moments used by rn-eval) */
void cpu_ref_sgd(RnBackend *be, size_t n, float *w, const float *grad, float *buf,
                 float lr, float momentum, float wd);
void cpu_ref_moments(RnBackend *be, const float *x, size_t n, double *sum, double *sumsq);

/* batch.c */
void cpu_set_dataset(RnBackend *be, int slot, const RnDataset *ds);
void cpu_set_order(RnBackend *be, int slot, const uint32_t *order, size_t count);
void cpu_load_batch(RnBackend *be, int slot, size_t start, int n, const RnBatchSpec *spec,
                    float *x, int32_t *labels);

#endif
