/* The CPU fast paths: drop-in replacements for the hot entries of the CPU
 * backend's table (same signatures as kernels/backend.h), checked against the
 * plain reference (kernels/cpu/ref_*.c) by tests/unit/test_fast.c.
 *
 *   fast_gemm.c   single-threaded AVX-512 register-blocked matrix products
 *   fast_conv.c   convolutions as im2col + GEMM, one image per task
 *   fast_direct.c stride-1 convolutions without im2col (padded-pitch planes)
 *   fast_stride2.c 3x3 stride-2 convolutions from parity-split planes, all three passes
 *   fast_wino.c   3x3 stride-1 convolutions by Winograd F(4x4,3x3) and F(2x2,3x3)
 *   fast_wino_transform.c  its tile transforms (the two share fast_wino.h)
 *   fast_bn.c     batch norm (+ residual add + ReLU) in per-channel sweeps
 *   fast_unit.c   a unit's backward (batch norm, both convolution gradients) in one sweep
 *   fast.c        rn_fast_install and the grow-once workspace
 *
 * Threading: OpenMP with static splits whose results do not depend on the
 * number of threads: work is split by image or by channel, and reductions over
 * images are summed per fixed chunk of images, then over chunks in order. */
#ifndef RN_FAST_H
#define RN_FAST_H

#include <math.h>
#include <stddef.h>

#include "backend.h"

/* Overrides the table entries of a CPU backend that have a fast path, and
 * sets its eval_chunk. Called by rn_cpu_backend_create when !opts->reference. */
void rn_fast_install(RnBackend *be);
/* Inference models take this many images through the net at a time: a 16x32x32
 * activation of 64 images is 4 MiB, so a layer's input, output and residual
 * stay in the last-level cache, and rn-eval needs little memory. (Measured on
 * ResNet-20 eval: 16 images 18% slower than 64, 128 and whole batches of 1000
 * 3% slower, within the noise.) */
#ifndef RN_FAST_EVAL_CHUNK
#define RN_FAST_EVAL_CHUNK 64
#endif

/* Scratch memory shared by the fast ops: at least `floats` floats, 64-byte
 * aligned, grown (never shrunk) on demand. Call outside parallel regions; the
 * contents are not kept between calls. After the first training step it no
 * longer allocates. */
float *rn_fast_workspace(size_t floats);
void rn_fast_workspace_free(void);
/* n rounded up to a multiple of 16 floats: the parts carved from a workspace
 * then each start 64-byte aligned */
static inline size_t rn_fast_round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

/* The backend's thread count (be may be NULL in tests: OpenMP's default). */
int rn_fast_threads(const RnBackend *be);

/* C[M][N] (+)= A[M][K] * B[K][N]. A's element (i,k) is A[i*a_rs + k*a_cs] (so a
 * transposed A costs nothing); B and C are row-major with leading dimensions
 * ldb, ldc. accumulate: 0 overwrites C, 1 adds to it. */
void rn_fast_gemm_nn(int M, int N, int K, const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate);
/* C[M][N] (+)= A[M][K] * B[N][K]^T, both row-major with the K index contiguous
 * (a product of rows with rows: the filter gradient dY * col^T). */
void rn_fast_gemm_nt(int M, int N, int K, const float *A, ptrdiff_t lda,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate);
/* T[j][i] = S[i][j] for i < rows, j < cols: S row-major with leading dimension
 * lds, T with ldt (turns an NT product's B operand into an NN product's). */
void rn_fast_transpose(int rows, int cols, const float *S, ptrdiff_t lds, float *T, ptrdiff_t ldt);

/* 3x3 stride-1 pad-1 convolutions by Winograd's minimal filtering (fast_wino.c).
 * rn_fast_wino_ok says whether d is one it takes (even plane sizes whose
 * half-width is a multiple or a divisor of 16, >= 8 channels, and AVX-512);
 * ws must hold rn_fast_wino_ws_floats(d, threads) floats, for any of the
 * three passes. rn_fast_wino_tile: the output tile all three passes run d
 * with, the largest it allows: 4 (F(4x4,3x3)) where 4x4 tiles fill whole
 * vectors (16x16, 32x32 planes), else 2 (F(2x2,3x3)); 0 when not Winograd. */
int rn_fast_wino_ok(const RnConvDims *d);
int rn_fast_wino_tile(const RnConvDims *d);
/* Batch norm in eval mode (+ residual) (+ ReLU) applied as a convolution's
 * outputs are written (rn-eval, the test pass): y = act((conv - mean[k]) *
 * scale[k] + beta[k] + residual) with scale = gamma / sqrt(var + eps), the
 * formula and operation order of fast_bn.c, so the bits are those of
 * conv_fwd followed by bn_fwd_eval. residual is NULL or shaped like y. */
typedef struct {
    const float *mean, *scale, *beta, *residual;
    int relu;
} RnFastBnEval;
/* The eval-mode scale of channel c, gamma / sqrt(var + eps), in the one
 * float formula both fast_bn.c and the fused op use (their bits must agree). */
static inline float rn_fast_bn_eval_scale(float gamma, float running_var, float eps)
{
    return gamma * (1.0f / sqrtf(running_var + eps));
}
/* The training batch norm's statistics, gathered as a convolution's outputs
 * are written (rn_fast_conv_bn_train_fwd). The outputs are cut into pieces
 * (image i, channel k, block b of the image's tiles); piece p =
 * (i * K + k) * blocks + b keeps 4 floats at sums + 4 * p: its count n, its
 * first value y0, the sum s of y - y0 and the sum of squared deviations from
 * its mean y0 + s / n (one pass over the piece, from cache: fast_wino.c).
 * rn_fast_bn_fwd_train_sums combines the pieces in a fixed order (Chan et
 * al.'s pairwise update, in double), so the variance escapes the cancellation
 * of E[x^2] - E[x]^2 when the mean is large against the spread, and no bit
 * depends on the threads. */
enum { RN_FAST_PIECE_FLOATS = 4 };
/* The pieces per image: blocks in the comment above (of the forward's tiles) */
int rn_fast_wino_sum_blocks(const RnConvDims *d);
size_t rn_fast_wino_ws_floats(const RnConvDims *d, int threads);
/* bn: NULL for the plain convolution; sums: NULL, or (bn NULL) where to
 * gather the statistics of y, rn_fast_wino_sum_blocks(d) pieces per image and
 * channel */
void rn_fast_conv_wino_fwd(int threads, const RnConvDims *d, const float *x, const float *w,
                           const RnFastBnEval *bn, float *sums, float *y, float *ws);
void rn_fast_conv_wino_bwd_data(int threads, const RnConvDims *d, const float *dy, const float *w, float *dx,
                                float *ws);
void rn_fast_conv_wino_bwd_filter(int threads, const RnConvDims *d, const float *x, const float *dy, float *dw,
                                  float *ws);
/* Both gradients of a Winograd layer in one sweep, for a dy that is made
 * image by image (the batch norm's backward, rn_fast_unit_bwd): dy_of(ctx, i,
 * dst) writes image i's dy (out_c planes) to dst, called once per image from
 * the threads, each image's before its dx is written (so dx may be where
 * dy_of reads from). dw as rn_fast_conv_wino_bwd_filter, dx (NULL: none) as
 * rn_fast_conv_wino_bwd_data plus dx_plus (NULL: nothing), the same bits; dy
 * never goes through memory shared by the threads. gather (NULL: none, else
 * with dx) gathers the batch-norm backward sums of the unit whose dy dx is,
 * from the cache, as each block of dx is written (RnFastBnGather below). ws
 * holds rn_fast_wino_bwd_ws_floats(d, threads). */
typedef void (*RnFastImageFn)(void *ctx, int image, float *dst);
size_t rn_fast_wino_bwd_ws_floats(const RnConvDims *d, int threads);
typedef struct RnFastBnGather RnFastBnGather;
void rn_fast_conv_wino_bwd(int threads, const RnConvDims *d, const float *x, const float *w, RnFastImageFn dy_of,
                           void *ctx, float *dw, float *dx, const float *dx_plus, const RnFastBnGather *gather,
                           float *ws);

/* Stride-1 convolution straight from padded input planes (fast_direct.c).
 * rn_fast_direct_ok says whether d is such a convolution; ws must hold
 * rn_fast_direct_ws_floats(d, threads) floats. Images split over the threads. */
int rn_fast_direct_ok(const RnConvDims *d);
size_t rn_fast_direct_ws_floats(const RnConvDims *d, int threads);
void rn_fast_conv_direct(int threads, const RnConvDims *d, const float *x, const float *w, float *y, float *ws);
/* The filter gradient of such a convolution, the same way; ws holds
 * rn_fast_direct_bwd_filter_ws_floats(d, threads) floats. */
size_t rn_fast_direct_bwd_filter_ws_floats(const RnConvDims *d, int threads);
void rn_fast_conv_bwd_filter_direct(int threads, const RnConvDims *d, const float *x, const float *dy,
                                    float *dw, float *ws);
/* The kernel under the forward, for other plane layouts (fast_stride2.c):
 *   yp[o*N + q] = sum_{c<cin, t<taps} w[(o*cin + c)*taps + t] * xp[c*plane + off[t] + q]
 * for o < cout, q < N: one FMA chain per output, over c then t. */
void rn_fast_direct_plane(int cout, int cin, int taps, const int *off, const float *w, const float *xp,
                          ptrdiff_t plane, int N, float *yp);

/* 3x3 stride-2 pad-1 convolutions of even-sized planes from planes split by
 * row and column parity (fast_stride2.c), all three passes. ws holds
 * rn_fast_s2_ws_floats(d, threads) floats, for any of them. */
int rn_fast_s2_ok(const RnConvDims *d);
size_t rn_fast_s2_ws_floats(const RnConvDims *d, int threads);
void rn_fast_conv_s2_fwd(int threads, const RnConvDims *d, const float *x, const float *w, float *y, float *ws);
void rn_fast_conv_s2_bwd_data(int threads, const RnConvDims *d, const float *dy, const float *w, float *dx,
                              float *ws);
void rn_fast_conv_s2_bwd_filter(int threads, const RnConvDims *d, const float *x, const float *dy, float *dw,
                                float *ws);

void rn_fast_conv_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w, float *y);
void rn_fast_conv_bwd_data(RnBackend *be, const RnConvDims *d, const float *dy, const float *w, float *dx);
void rn_fast_conv_bwd_filter(RnBackend *be, const RnConvDims *d, const float *x, const float *dy, float *dw);
void rn_fast_conv_bn_eval_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w,
                              const float *gamma, const float *beta, const float *residual, int relu,
                              const float *running_mean, const float *running_var, float eps, float *y);
/* conv_fwd into pre, then bn_fwd_train from pre into y, in one op: on Winograd
 * planes the batch statistics are gathered as pre is written (RN_FAST_PIECE_FLOATS),
 * so the batch norm reads pre once instead of three times. The statistics
 * then differ from bn_fwd_train's in rounding only. */
void rn_fast_conv_bn_train_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w,
                               const float *gamma, const float *beta, const float *residual, int relu,
                               float momentum, float eps, float *running_mean, float *running_var,
                               float *save_mean, float *save_invstd, float *pre, float *y);
/* A unit's backward in one op (fast_unit.c) */
int rn_fast_unit_bwd(RnBackend *be, const RnUnitGrad *u, const float *dy);

void rn_fast_bn_fwd_train(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                          const float *residual, int relu, float momentum, float eps,
                          float *running_mean, float *running_var,
                          float *save_mean, float *save_invstd, float *y);
/* rn_fast_bn_fwd_train with the statistics from sums (blocks pieces per image
 * and channel, see RN_FAST_PIECE_FLOATS) instead of two passes over x */
void rn_fast_bn_fwd_train_sums(RnBackend *be, RnDims d, const float *sums, int blocks, const float *x,
                               const float *gamma, const float *beta, const float *residual, int relu,
                               float momentum, float eps, float *running_mean, float *running_var,
                               float *save_mean, float *save_invstd, float *y);
void rn_fast_bn_fwd_eval(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                         const float *residual, int relu, const float *running_mean,
                         const float *running_var, float eps, float *y);
void rn_fast_bn_bwd(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                    const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                    int relu, float *dx, float *dgamma, float *dbeta, float *dresidual);
/* rn_fast_bn_bwd in two halves, for rn_fast_unit_bwd: the sums over the batch
 * (dgamma, dbeta, dresidual, and each channel's coefficients of dx), then dx
 * one image at a time (all channels of image `image`, to dx; the same bits). */
typedef struct {
    float mean, scale, beta;   /* the forward's (scale = gamma * invstd), for the ReLU mask */
    float mg, mx;              /* dx = scale * (g - mg - (x - mean) * mx) */
} RnFastBnGrad;
void rn_fast_bn_bwd_sums(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                         const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                         int relu, float *dgamma, float *dbeta, float *dresidual, RnFastBnGrad *coef);
void rn_fast_bn_bwd_image(RnDims d, const RnFastBnGrad *coef, int relu, const float *x, const float *dy,
                          const float *dresidual, int image, float *dx);
/* Pass 1 over a run of n values of one channel (k: its mean, scale, beta):
 * g = dy masked by the ReLU (from y when r is given, else from x: the same
 * bits, fast_bn.c); adds sum g to acc[0] and sum g * (x - mean) to acc[1];
 * writes g to r when not NULL (r may be dy). */
void rn_fast_bn_grad_run(const RnFastBnGrad *k, int relu, const float *x, const float *y, const float *dy,
                         float *r, int n, float acc[2]);
/* coef's mean, scale and beta only (what pass 1 reads) */
void rn_fast_bn_bwd_mask(RnDims d, const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, RnFastBnGrad *coef);
/* coef from dgamma and dbeta that already hold pass 1's sums */
void rn_fast_bn_bwd_coef(RnDims d, const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, const float *dgamma, const float *dbeta, RnFastBnGrad *coef);

/* Pass 1 of a unit's batch-norm backward, gathered by the Winograd sweep of
 * the unit after it in the forward as it writes this unit's dy (its dx,
 * rn_fast_unit_bwd): the pieces are cut as the forward statistics' are (image
 * i, channel k, block b of the sweep's tiles: rn_fast_wino_bwd_sum_blocks)
 * and keep RN_FAST_GRAD_PIECE_FLOATS floats each, sum g and sum g * (x -
 * mean), at pieces + 2 * ((i * K + k) * blocks + b). */
enum { RN_FAST_GRAD_PIECE_FLOATS = 2 };
struct RnFastBnGather {
    const RnFastBnGrad *coef;   /* per channel: mean, scale, beta (rn_fast_bn_bwd_mask) */
    int relu;
    const float *x, *y;         /* the batch norm's input and output (read as rn_fast_bn_grad_run reads them) */
    float *dresidual;           /* g, written, or NULL */
    float *pieces;
};
int rn_fast_wino_bwd_sum_blocks(const RnConvDims *d);
/* dgamma and dbeta of the batch norm of dims d from its gathered pieces */
void rn_fast_bn_bwd_gathered(RnDims d, const float *pieces, int blocks, const float *save_invstd, float *dgamma,
                             float *dbeta);

#endif
