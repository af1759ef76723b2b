/* The compute backend interface. The engine (lib/engine: the executor, the
 * training loop, the evaluation pass) is written once against this table of
 * operations; each backend implements them on its own device:
 *   kernels/cpu   the plain reference of every layer (the test oracle) and the fast paths
 *   kernels/cuda  CUDA kernels and cuDNN
 * A backend uses only the base of lib/ (err, rng, dataset, normalize), never
 * the engine (docs/DESIGN.md, "Layers of the code").
 *
 * The contract
 * - Required: every entry of RnBackend except the three marked optional; the
 *   engine calls them unconditionally. Memory (alloc, release, upload,
 *   download, zero), data (set_dataset, set_order, load_batch), conv_fwd,
 *   conv_bwd_data, conv_bwd_filter, bn_fwd_train, bn_fwd_eval, bn_bwd,
 *   shortcut_pad_fwd/bwd, add, avgpool_fwd/bwd, fc_fwd/bwd, xent, sgd,
 *   moments, sync, destroy.
 * - Optional fast paths (NULL when absent; the engine then calls the required
 *   operations, which give the same result): conv_bn_eval_fwd (the same bits
 *   as its two ops), conv_bn_train_fwd (the batch statistics may differ in
 *   rounding, never in formula), unit_bwd (a unit's backward in one sweep).
 * - RnUnitGrad.next and RnUnitGrad.sums_done exist for unit_bwd alone (the
 *   fast CPU path uses them): a backend without unit_bwd never sees them
 *   used and may ignore them, and rn_backend_unit_bwd_ops ignores next.
 *
 * Conventions
 * - Buffers come from alloc() and live on the backend's device. Activations are
 *   N x C x H x W floats in NCHW order; parameters are in PyTorch's layout
 *   (conv [out][in][k][k], fc [out][in]); a backend may repack internally.
 * - Operations run in order on one stream; download() waits for what came before.
 * - Unless stated, outputs are overwritten, never accumulated.
 * - Results must not depend on the number of threads (fixed reduction order). */
#ifndef RN_BACKEND_H
#define RN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "normalize.h"

typedef struct { int n, c, h, w; } RnDims;

typedef struct {
    int n;                 /* batch */
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel, stride, pad;
} RnConvDims;

/* How a training or test batch is assembled from the stored dataset. */
typedef struct {
    int augment;           /* 1: pad `pad` black pixels, random crop, random horizontal flip */
    int pad;               /* 4 */
    uint64_t seed;         /* rn_aug_for(seed, epoch, sample, pad) in lib/rng.h */
    uint32_t epoch;
    float mean[3], std[3]; /* per-channel normalisation of x/255 */
    /* NULL: the per-channel normalisation above. Else the paper's per-pixel mean
     * subtraction (lib/normalize.h): C x H x W means of x/255, each value becomes
     * x/255 - pixel_mean[c][y][x] of its source pixel and the pad is 0 (after the
     * subtraction; mean and std are unused). The CPU backend only: the CUDA data
     * path does not read it, so the engine refuses it there (rn_normalize_check). */
    const float *pixel_mean;
} RnBatchSpec;

enum { RN_SLOT_TRAIN = 0, RN_SLOT_TEST = 1, RN_SLOTS = 2 };

/* The devices --device takes, for help texts; rn_device_check refuses others. */
#define RN_DEVICE_NAMES "auto|cpu|cuda"

typedef struct {
    const char *device;    /* one of RN_DEVICE_NAMES */
    int threads;           /* CPU threads; 0 = all cores */
    int deterministic;     /* CUDA: deterministic algorithms only */
    int reference;         /* CPU: use the plain reference kernels, not the fast paths */
} RnBackendOptions;

/* What the backward of one unit (convolution -> batch norm (+ residual) (+ ReLU))
 * reads and writes: unit_bwd below, or its three ops (rn_backend_unit_bwd). */
typedef struct RnUnitGrad {
    RnConvDims conv;            /* the convolution, n = the batch */
    const float *in, *w;        /* its input and filters */
    const float *pre, *out;     /* its output (the batch norm's x) and the unit's output (its y) */
    const float *gamma, *beta, *save_mean, *save_invstd;
    int relu;
    float *dw, *dgamma, *dbeta;
    float *dresidual;           /* the residual's gradient; NULL exactly when the forward had none */
    float *dx;                  /* the gradient of `in`, or NULL; may be the dy given */
    const float *dx_plus;       /* added to dx (a shortcut's gradient), or NULL */
    float *scratch;             /* room for one tensor shaped like pre (the gradient between the ops) */
    /* The unit whose batch norm takes dx as its dy (the one before this unit
     * in the forward, when nothing is added to dx in between), or NULL. A
     * backend's unit_bwd may gather that batch norm's sums over the batch as
     * it writes dx: next's dgamma, dbeta and dresidual, as its own backward
     * would make them (the sums' order may differ: rounding). */
    const struct RnUnitGrad *next;
    int sums_done;              /* dgamma, dbeta, dresidual already hold them (the unit_bwd before said so) */
} RnUnitGrad;

typedef struct RnBackend RnBackend;
struct RnBackend {
    const char *name;      /* "cpu", "cpu-ref", "cuda" */
    char description[128]; /* e.g. "cpu (2 threads, AVX-512)" or "cuda (NVIDIA H100, cuDNN 9.19)" */
    int eval_chunk;        /* images an inference model takes through the whole net at a time,
                            * so a layer's activations stay in cache (0: the whole batch at once) */
    void *ctx;             /* backend private state */

    void (*destroy)(RnBackend *be);

    /* memory: zero-initialised device buffers */
    void *(*alloc)(RnBackend *be, size_t bytes);
    void (*release)(RnBackend *be, void *p);
    void (*upload)(RnBackend *be, void *dst, const void *src, size_t bytes);
    void (*download)(RnBackend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(RnBackend *be, void *p, size_t bytes);

    /* data: the uint8 dataset is stored once per slot; the order of an epoch is
     * given once (host array, copied); a batch is then assembled on the device:
     * x[i] = normalise(augment(image[order[start + i]])), labels[i] likewise. */
    void (*set_dataset)(RnBackend *be, int slot, const RnDataset *ds);
    void (*set_order)(RnBackend *be, int slot, const uint32_t *order, size_t count);
    void (*load_batch)(RnBackend *be, int slot, size_t start, int n, const RnBatchSpec *spec,
                       float *x, int32_t *labels);

    /* convolution, no bias */
    void (*conv_fwd)(RnBackend *be, const RnConvDims *d, const float *x, const float *w, float *y);
    void (*conv_bwd_data)(RnBackend *be, const RnConvDims *d, const float *dy, const float *w, float *dx);
    void (*conv_bwd_filter)(RnBackend *be, const RnConvDims *d, const float *x, const float *dy, float *dw);

    /* batch norm fused with the residual addition and ReLU:
     *   y = act(gamma * (x - mean) * invstd + beta + residual)
     * residual may be NULL; act is ReLU when relu != 0, else identity.
     * Training: batch mean and biased variance normalise; save_mean/save_invstd
     * (c floats) keep them for backward; running_mean/var are updated with
     * momentum and the unbiased variance, as PyTorch. */
    void (*bn_fwd_train)(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                         const float *residual, int relu, float momentum, float eps,
                         float *running_mean, float *running_var,
                         float *save_mean, float *save_invstd, float *y);
    /* Eval mode: running statistics normalise. y may be x (in place: the
     * inference executor relies on it), never residual. */
    void (*bn_fwd_eval)(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                        const float *residual, int relu, const float *running_mean,
                        const float *running_var, float eps, float *y);
    /* Optional (NULL in a backend without it): conv_fwd then bn_fwd_eval in one
     * op, y = act(bn_eval(conv(x, w)) + residual), with the same result bits
     * as the two ops. The executor uses it in eval mode (rn-eval, the test pass). */
    void (*conv_bn_eval_fwd)(RnBackend *be, const RnConvDims *d, const float *x, const float *w,
                             const float *gamma, const float *beta, const float *residual, int relu,
                             const float *running_mean, const float *running_var, float eps, float *y);
    /* Optional (NULL in a backend without it): conv_fwd into pre, then
     * bn_fwd_train from pre into y, in one op, so a backend can gather the
     * batch statistics as it writes pre. The executor uses it in training. The
     * statistics may differ from the two ops' in rounding (the order of the
     * sums), never in formula. */
    void (*conv_bn_train_fwd)(RnBackend *be, const RnConvDims *d, const float *x, const float *w,
                              const float *gamma, const float *beta, const float *residual, int relu,
                              float momentum, float eps, float *running_mean, float *running_var,
                              float *save_mean, float *save_invstd, float *pre, float *y);
    /* Backward of bn_fwd_train. y is its output (gives the ReLU mask); gamma
     * and beta are the forward's. Writes dx, dgamma, dbeta and, when the
     * forward had a residual, the gradient reaching it (dy masked by the ReLU)
     * into dresidual, which is NULL exactly when the forward had none (then a
     * backend may recompute the mask from x, gamma, beta and the saved
     * statistics instead of reading y: the same bits). */
    void (*bn_bwd)(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                   const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                   int relu, float *dx, float *dgamma, float *dbeta, float *dresidual);

    /* Optional (NULL in a backend without it): the backward of a unit from dy,
     * the gradient of its output, in one op with the bits of its three ops
     * (bn_bwd into u->scratch, conv_bwd_filter, conv_bwd_data when u->dx, then
     * add of u->dx_plus), so a backend can keep the gradient between them out
     * of memory. With u->sums_done it takes its batch norm's sums from dgamma,
     * dbeta and dresidual (or recomputes them: the same values). Returns 1
     * when it gathered u->next's sums (see RnUnitGrad), else 0. */
    int (*unit_bwd)(RnBackend *be, const RnUnitGrad *u, const float *dy);

    /* option-A shortcut: y = zero-pad channels (out_c - in.c)/2 on each side of x[:, :, ::2, ::2] */
    void (*shortcut_pad_fwd)(RnBackend *be, RnDims in, int out_c, const float *x, float *y);
    /* dx += the gradient of the above (accumulates) */
    void (*shortcut_pad_bwd)(RnBackend *be, RnDims in, int out_c, const float *dy, float *dx);
    void (*add)(RnBackend *be, float *dst, const float *src, size_t n);   /* dst += src */

    /* global average pool: [n,c,h,w] -> [n,c] */
    void (*avgpool_fwd)(RnBackend *be, RnDims in, const float *x, float *y);
    void (*avgpool_bwd)(RnBackend *be, RnDims in, const float *dy, float *dx);

    /* fully connected: y[n][out] = x[n][in] . w[out][in] + b[out] */
    void (*fc_fwd)(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *b, float *y);
    void (*fc_bwd)(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *dy,
                   float *dx, float *dw, float *db);

    /* Softmax cross-entropy, mean over the batch. dlogits (may be NULL) gets the
     * gradient of the mean loss. stats (3 floats on the device) accumulates:
     * stats[0] += sum of per-sample losses, stats[1] += misclassified count,
     * and stats[2] = step if the loss is not finite and stats[2] < 0 (set it to
     * -1 to arm). Nothing is read back to the host. */
    void (*xent)(RnBackend *be, int n, int classes, const float *logits, const int32_t *labels,
                 float *dlogits, float *stats, int step);

    /* PyTorch SGD over n parameters (dampening 0, no Nesterov):
     *   g = grad + wd * w; buf = momentum * buf + g; w -= lr * buf */
    void (*sgd)(RnBackend *be, size_t n, float *w, const float *grad, float *buf,
                float lr, float momentum, float wd);

    /* sum and sum of squares of n values, in double, to the host (rn-eval's layer statistics) */
    void (*moments)(RnBackend *be, const float *x, size_t n, double *sum, double *sumsq);

    void (*sync)(RnBackend *be);   /* wait for all work (timing) */
};

/* Picks and creates a backend: "cpu" (fast paths; opts->reference for the plain
 * reference), "cuda" (dies if no usable GPU), "auto" (the GPU if usable, else
 * the CPU, saying which unless quiet). Dies with one line on failure. */
RnBackend *rn_backend_create(const RnBackendOptions *opts);
void rn_backend_destroy(RnBackend *be);
/* A usage error (exit 2) unless DEVICE is one of RN_DEVICE_NAMES. */
void rn_device_check(const char *device);
/* Dies with one line when BE cannot normalise by MODE (pixel on CUDA: its data
 * path has no per-pixel mean yet). */
void rn_normalize_check(const RnBackend *be, RnNormalize mode);
/* The backward of a unit by its three ops: be->unit_bwd when the backend has
 * it (returns what it returns), else bn_bwd (into u->scratch),
 * conv_bwd_filter and conv_bwd_data (returns 0). */
int rn_backend_unit_bwd(RnBackend *be, const RnUnitGrad *u, const float *dy);
/* The three ops, always (the fallback of unit_bwd implementations); they
 * ignore u->next and recompute the sums u->sums_done says are there */
void rn_backend_unit_bwd_ops(RnBackend *be, const RnUnitGrad *u, const float *dy);
/* The second half of those ops, once u->scratch holds the batch norm's dx:
 * the filter gradient, the data gradient when u->dx, plus u->dx_plus */
void rn_backend_unit_bwd_convs(RnBackend *be, const RnUnitGrad *u);

/* Constructors of each backend (kernels/cpu, kernels/cuda). */
RnBackend *rn_cpu_backend_create(const RnBackendOptions *opts);
/* Returns NULL with a reason in why[] when no usable GPU / built without CUDA. */
RnBackend *rn_cuda_backend_create(const RnBackendOptions *opts, char *why, size_t why_len);
int rn_cuda_available(char *why, size_t why_len);   /* 1 when a usable GPU is there */

#endif
