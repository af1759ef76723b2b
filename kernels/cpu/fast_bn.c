/* Batch norm fused with the residual addition and ReLU (fast.h); the reference
 * is kernels/cpu/ref_bn.c. Channels are independent, so the threads split the
 * channels for the sums, and each channel's sums run in one fixed order: a
 * float SIMD sum over one image's plane, added in double over the images.
 * Element-wise passes split any way. The result does not depend on the
 * number of threads.
 *
 * Forward (training), per channel: pass 1 the mean, pass 2 the biased
 * variance around it (two passes: no cancellation as in E[x^2] - E[x]^2; the
 * channel's N*H*W values are at most 512 KiB, so pass 2 reads them from cache),
 * pass 3 y = act((x - mean) * gamma * invstd + beta + residual). After a
 * Winograd convolution (rn_fast_conv_bn_train_fwd) the convolution gathers
 * the statistics in pieces as it writes x, and rn_fast_bn_fwd_train_sums
 * runs pass 3 alone: steps alternated in one process ran 1-2% faster so
 * (ResNet-20 and -56, 2 threads; passes 1 and 2 were about 3% of a step).
 * Backward, per channel: g = dy masked by the ReLU (y > 0); pass 1 the sums of
 * g and g * (x - mean), pass 2 dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat))
 * (which streams each pass reads: at rn_fast_bn_bwd). Pass 1 may instead be
 * gathered by the sweep that writes dy (rn_fast_bn_grad_run, fast_unit.c). */
#include "fast.h"

#include "cpu_backend.h"

#include <math.h>

/* sum of p[0..n) as float SIMD lanes (the compiler picks the order, fixed per build) */
static inline float plane_sum(const float *p, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++)
        s += p[i];
    return s;
}

static inline float plane_sqdev(const float *p, int n, float mean)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++)
        s += (p[i] - mean) * (p[i] - mean);
    return s;
}

/* y = act((x - mean) * scale + beta + residual) over one plane. The multiply-
 * add is one explicit fmaf: whether a compiler fuses a written-out a * b + c
 * depends on its flags (gcc does, clang keeps the vector intrinsics apart),
 * and the fused eval op in fast_wino.c must give these bits exactly. */
static inline void plane_out(const float *x, const float *res, int relu, float mean, float scale,
                             float beta, float *y, int n)
{
    if (res) {
        if (relu) {
#pragma omp simd
            for (int i = 0; i < n; i++) {
                float v = fmaf(x[i] - mean, scale, beta) + res[i];
                y[i] = v <= 0 ? 0 : v;   /* NaN passes, as in the reference */
            }
        } else {
#pragma omp simd
            for (int i = 0; i < n; i++)
                y[i] = fmaf(x[i] - mean, scale, beta) + res[i];
        }
    } else if (relu) {
#pragma omp simd
        for (int i = 0; i < n; i++) {
            float v = fmaf(x[i] - mean, scale, beta);
            y[i] = v <= 0 ? 0 : v;   /* NaN passes, as in the reference */
        }
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++)
            y[i] = fmaf(x[i] - mean, scale, beta);
    }
}

/* The sweeps walk BLOCK channels together, image by image: in NCHW the planes
 * of neighbouring channels are neighbours in memory, so a block reads runs of
 * BLOCK planes where one channel alone would read one plane (4 KiB at 32x32)
 * and jump. The hardware prefetchers stop at each 4 KiB run's end: one core
 * read 16x32x32 planes channel by channel at 11 GB/s, four at a time at 20
 * GB/s. Each channel's sums are still made plane by plane in image order, so
 * the blocking changes no bits. (Prefetching the next image's block by
 * software, as the Winograd transforms prefetch their next plane, made no
 * measurable difference here: steps alternated in one process ran in 0.99 to
 * 1.01 of the time.) A block's sums are one thread's whichever thread that
 * is, so blocks go to threads as they come free (fast_wino.c). */
enum { BLOCK = 4 };

/* The saved and running statistics of channels [c0, c0 + nc) (nc <= BLOCK),
 * from each one's batch mean and sum of squared deviations sq. Pass 3 then
 * scales by gamma * save_invstd, this float product. */
static void block_stats(RnDims d, int c0, int nc, const float mean[], const double sq[], float momentum,
                        float eps, float *running_mean, float *running_var, float *save_mean,
                        float *save_invstd)
{
    const double count = (double)d.n * d.h * d.w;
    for (int b = 0; b < nc; b++) {
        const int c = c0 + b;
        const double var = sq[b] / count;
        const float invstd = (float)(1.0 / sqrt(var + eps));
        const double unbiased = count > 1 ? sq[b] / (count - 1) : var;
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[b];
        running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * unbiased);
        save_mean[c] = mean[b];
        save_invstd[c] = invstd;
    }
}

/* Pass 3 of plane pl (image pl / d.c, channel pl % d.c), from its channel's saved statistics */
static inline void normalise_plane(RnDims d, size_t pl, const float *x, const float *gamma, const float *beta,
                                   const float *residual, int relu, const float *save_mean,
                                   const float *save_invstd, float *y)
{
    const int c = (int)(pl % (size_t)d.c);
    const size_t hw = (size_t)d.h * d.w, off = pl * hw;
    plane_out(x + off, residual ? residual + off : NULL, relu, save_mean[c], gamma[c] * save_invstd[c], beta[c],
              y + off, (int)hw);
}

void rn_fast_bn_fwd_train(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                          const float *residual, int relu, float momentum, float eps,
                          float *running_mean, float *running_var,
                          float *save_mean, float *save_invstd, float *y)
{
    const int hw = d.h * d.w, blocks = (d.c + BLOCK - 1) / BLOCK;
    const double count = (double)d.n * hw;
#pragma omp parallel for num_threads(rn_fast_threads(be)) schedule(dynamic)
    for (int bl = 0; bl < blocks; bl++) {
        const int c0 = bl * BLOCK, nc = d.c - c0 < BLOCK ? d.c - c0 : BLOCK;
        double sum[BLOCK] = {0}, sq[BLOCK] = {0};
        float mean[BLOCK];
        for (int i = 0; i < d.n; i++)
            for (int b = 0; b < nc; b++)
                sum[b] += plane_sum(x + ((size_t)i * d.c + c0 + b) * hw, hw);
        for (int b = 0; b < nc; b++)
            mean[b] = (float)(sum[b] / count);
        for (int i = 0; i < d.n; i++)
            for (int b = 0; b < nc; b++)
                sq[b] += plane_sqdev(x + ((size_t)i * d.c + c0 + b) * hw, hw, mean[b]);
        block_stats(d, c0, nc, mean, sq, momentum, eps, running_mean, running_var, save_mean, save_invstd);
        for (int i = 0; i < d.n; i++)   /* pass 3 while the block's planes are in cache */
            for (int c = c0; c < c0 + nc; c++)
                normalise_plane(d, (size_t)i * d.c + c, x, gamma, beta, residual, relu, save_mean, save_invstd, y);
    }
}

/* The pieces (fast.h) of channel c combine in double, image by image and
 * block by block, by Chan, Golub and LeVeque's update: with n, mean and M2
 * (the sum of squared deviations) so far and a piece (nb, y0, s, M2b) of
 * mean y0 + s / nb,
 *   delta = y0 + s / nb - mean,  n' = n + nb,  mean' = mean + delta * nb / n',
 *   M2' = M2 + M2b + delta^2 * n * nb / n'.
 * Each step only adds non-negative terms to M2, so nothing cancels. */
static void combine_pieces(RnDims d, const float *sums, int blocks, int c, float *mean, double *sq)
{
    double n = 0, mu = 0, m2 = 0;
    for (int i = 0; i < d.n; i++) {
        const float *p = sums + ((size_t)i * d.c + c) * blocks * RN_FAST_PIECE_FLOATS;
        for (int k = 0; k < blocks; k++, p += RN_FAST_PIECE_FLOATS) {
            const double nb = p[0], delta = (p[1] + p[2] / nb) - mu, n2 = n + nb;
            mu += delta * nb / n2;
            m2 += p[3] + delta * delta * n * nb / n2;
            n = n2;
        }
    }
    *mean = (float)mu;
    *sq = m2;
}

/* The statistics by blocks of channels, then pass 3 by planes, each thread
 * one contiguous half of them (x is no longer in cache, as it is after
 * rn_fast_bn_fwd_train's passes 1 and 2). A block's planes are runs of BLOCK
 * planes a whole image apart: 1 KiB runs at 8x8. Streaming each thread's
 * half instead made training steps 0.8-1.3% faster (ResNet-20 on 1 and 2
 * threads, ResNet-56; steps alternated in one process), with the same bits. */
void rn_fast_bn_fwd_train_sums(RnBackend *be, RnDims d, const float *sums, int blocks, const float *x,
                               const float *gamma, const float *beta, const float *residual, int relu,
                               float momentum, float eps, float *running_mean, float *running_var,
                               float *save_mean, float *save_invstd, float *y)
{
    const int cblocks = (d.c + BLOCK - 1) / BLOCK;
#pragma omp parallel num_threads(rn_fast_threads(be))
    {
#pragma omp for schedule(dynamic)
        for (int bl = 0; bl < cblocks; bl++) {
            const int c0 = bl * BLOCK, nc = d.c - c0 < BLOCK ? d.c - c0 : BLOCK;
            double sq[BLOCK];
            float mean[BLOCK];
            for (int b = 0; b < nc; b++)
                combine_pieces(d, sums, blocks, c0 + b, &mean[b], &sq[b]);
            block_stats(d, c0, nc, mean, sq, momentum, eps, running_mean, running_var, save_mean,
                        save_invstd);
        }
#pragma omp for schedule(static)
        for (long pl = 0; pl < (long)d.n * d.c; pl++)
            normalise_plane(d, (size_t)pl, x, gamma, beta, residual, relu, save_mean, save_invstd, y);
    }
}

void rn_fast_bn_fwd_eval(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                         const float *residual, int relu, const float *running_mean,
                         const float *running_var, float eps, float *y)
{
    const int hw = d.h * d.w;
    /* every (image, channel) plane is independent: split them all */
#pragma omp parallel for num_threads(rn_fast_threads(be)) schedule(static)
    for (long pl = 0; pl < (long)d.n * d.c; pl++) {
        int c = (int)(pl % d.c);
        size_t off = (size_t)pl * hw;
        plane_out(x + off, residual ? residual + off : NULL, relu, running_mean[c],
                  rn_fast_bn_eval_scale(gamma[c], running_var[c], eps),
                  beta[c], y + off, hw);
    }
}

/* Backward. Where pass 1 writes the residual's gradient (g itself), pass 2
 * reads g back from there: two streams (x, g) instead of three (x, y, dy).
 * Without a residual, the ReLU mask comes from x instead of y: y > 0 exactly
 * when plane_out's fmaf(x - mean, scale, beta) > 0 (scale = gamma * invstd,
 * the forward's float product), so the bits are the same and y is never
 * read: two streams (x, dy) in each pass instead of three. */
static inline float relu_grad_from_x(float x, float g, float mean, float scale, float beta)
{
    return fmaf(x - mean, scale, beta) > 0 ? g : 0;
}

/* Pass 1 over a run of n values of channel k (fast.h) */
void rn_fast_bn_grad_run(const RnFastBnGrad *k, int relu, const float *xp, const float *yp, const float *gp,
                         float *rp, int n, float acc[2])
{
    const float mean = k->mean;
    float sg = 0, sgx = 0;
    if (relu && rp) {
#pragma omp simd reduction(+ : sg, sgx)
        for (int j = 0; j < n; j++) {
            float g = yp[j] > 0 ? gp[j] : 0;
            sg += g;
            sgx += g * (xp[j] - mean);
            rp[j] = g;   /* after the read of gp[j]: dresidual may be dy */
        }
    } else if (relu) {
#pragma omp simd reduction(+ : sg, sgx)
        for (int j = 0; j < n; j++) {
            float g = relu_grad_from_x(xp[j], gp[j], mean, k->scale, k->beta);
            sg += g;
            sgx += g * (xp[j] - mean);
        }
    } else {
#pragma omp simd reduction(+ : sg, sgx)
        for (int j = 0; j < n; j++) {
            sg += gp[j];
            sgx += gp[j] * (xp[j] - mean);
            if (rp)
                rp[j] = gp[j];
        }
    }
    acc[0] += sg;
    acc[1] += sgx;
}

/* What pass 1 reads of channel c: mean, scale and beta (for the ReLU mask) */
static RnFastBnGrad mask_coef(int c, const float *gamma, const float *beta, const float *save_mean,
                              const float *save_invstd)
{
    return (RnFastBnGrad){save_mean[c], gamma[c] * save_invstd[c], beta[c], 0, 0};
}

/* Channel c's coefficients of dx. dx = gamma*invstd * (g - sum_g/count -
 * (x-mean)*invstd^2 * sum_gx/count), and dbeta = sum_g, dgamma = sum_gx *
 * invstd are the sums as the parameter gradients keep them; the coefficients
 * come from those floats, the same whether pass 1 ran here or the sweep that
 * wrote dy gathered them (rn_fast_bn_bwd_gathered). */
static RnFastBnGrad grad_coef(int c, double count, const float *gamma, const float *beta, const float *save_mean,
                              const float *save_invstd, const float *dgamma, const float *dbeta)
{
    RnFastBnGrad k = mask_coef(c, gamma, beta, save_mean, save_invstd);
    k.mg = (float)(dbeta[c] / count);
    k.mx = (float)((double)dgamma[c] * save_invstd[c] / count);
    return k;
}

/* Pass 1 for channels [c0, c0 + nc) (nc <= BLOCK): dgamma, dbeta, dresidual,
 * and pass 2's coefficients into k[0 .. nc) */
static void block_sums(RnDims d, int c0, int nc, const float *x, const float *y, const float *dy,
                       const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                       int relu, float *dgamma, float *dbeta, float *dresidual, RnFastBnGrad *k)
{
    const int hw = d.h * d.w;
    double sum_g[BLOCK] = {0}, sum_gx[BLOCK] = {0};
    for (int b = 0; b < nc; b++)
        k[b] = mask_coef(c0 + b, gamma, beta, save_mean, save_invstd);
    for (int i = 0; i < d.n; i++)
        for (int b = 0; b < nc; b++) {
            size_t off = ((size_t)i * d.c + c0 + b) * hw;
            float acc[2] = {0, 0};
            rn_fast_bn_grad_run(&k[b], relu, x + off, y + off, dy + off, dresidual ? dresidual + off : NULL, hw,
                                acc);
            sum_g[b] += acc[0];
            sum_gx[b] += acc[1];
        }
    for (int b = 0; b < nc; b++) {
        const int c = c0 + b;
        dbeta[c] = (float)sum_g[b];
        dgamma[c] = (float)(sum_gx[b] * save_invstd[c]);
        k[b] = grad_coef(c, (double)d.n * hw, gamma, beta, save_mean, save_invstd, dgamma, dbeta);
    }
}

/* Pass 2 over one plane: dx from x and dy, or from x and g = dresidual (pass
 * 1 wrote it) when gp is that */
static inline void plane_grad(const RnFastBnGrad *k, int mask_from_x, const float *xp, const float *gp, float *dp,
                              int hw)
{
    if (mask_from_x) {
#pragma omp simd
        for (int j = 0; j < hw; j++)
            dp[j] = k->scale * (relu_grad_from_x(xp[j], gp[j], k->mean, k->scale, k->beta) - k->mg -
                            (xp[j] - k->mean) * k->mx);
    } else {
#pragma omp simd
        for (int j = 0; j < hw; j++)
            dp[j] = k->scale * (gp[j] - k->mg - (xp[j] - k->mean) * k->mx);
    }
}

void rn_fast_bn_bwd_sums(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                         const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                         int relu, float *dgamma, float *dbeta, float *dresidual, RnFastBnGrad *coef)
{
    const int blocks = (d.c + BLOCK - 1) / BLOCK;
#pragma omp parallel for num_threads(rn_fast_threads(be)) schedule(dynamic)
    for (int bl = 0; bl < blocks; bl++) {
        const int c0 = bl * BLOCK, nc = d.c - c0 < BLOCK ? d.c - c0 : BLOCK;
        block_sums(d, c0, nc, x, y, dy, gamma, beta, save_mean, save_invstd, relu, dgamma, dbeta, dresidual,
                   coef + c0);
    }
}

void rn_fast_bn_bwd_mask(RnDims d, const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, RnFastBnGrad *coef)
{
    for (int c = 0; c < d.c; c++)
        coef[c] = mask_coef(c, gamma, beta, save_mean, save_invstd);
}

void rn_fast_bn_bwd_coef(RnDims d, const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, const float *dgamma, const float *dbeta, RnFastBnGrad *coef)
{
    for (int c = 0; c < d.c; c++)
        coef[c] = grad_coef(c, (double)d.n * d.h * d.w, gamma, beta, save_mean, save_invstd, dgamma, dbeta);
}

/* The pieces of each channel add in double, image by image and block by
 * block: a fixed order, so no bit depends on the threads (a few thousand
 * floats: one thread) */
void rn_fast_bn_bwd_gathered(RnDims d, const float *pieces, int blocks, const float *save_invstd, float *dgamma,
                             float *dbeta)
{
    for (int c = 0; c < d.c; c++) {
        double sum_g = 0, sum_gx = 0;
        for (int i = 0; i < d.n; i++) {
            const float *p = pieces + ((size_t)i * d.c + c) * blocks * RN_FAST_GRAD_PIECE_FLOATS;
            for (int b = 0; b < blocks; b++, p += RN_FAST_GRAD_PIECE_FLOATS) {
                sum_g += p[0];
                sum_gx += p[1];
            }
        }
        dbeta[c] = (float)sum_g;
        dgamma[c] = (float)(sum_gx * save_invstd[c]);
    }
}

void rn_fast_bn_bwd_image(RnDims d, const RnFastBnGrad *coef, int relu, const float *x, const float *dy,
                          const float *dresidual, int image, float *dx)
{
    const int hw = d.h * d.w;
    for (int c = 0; c < d.c; c++) {
        size_t off = ((size_t)image * d.c + c) * hw;
        plane_grad(&coef[c], relu && !dresidual, x + off, (dresidual ? dresidual : dy) + off, dx + (size_t)c * hw,
                   hw);
    }
}

void rn_fast_bn_bwd(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                    const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                    int relu, float *dx, float *dgamma, float *dbeta, float *dresidual)
{
    const int hw = d.h * d.w, blocks = (d.c + BLOCK - 1) / BLOCK;
#pragma omp parallel for num_threads(rn_fast_threads(be)) schedule(dynamic)
    for (int bl = 0; bl < blocks; bl++) {
        const int c0 = bl * BLOCK, nc = d.c - c0 < BLOCK ? d.c - c0 : BLOCK;
        RnFastBnGrad k[BLOCK];
        block_sums(d, c0, nc, x, y, dy, gamma, beta, save_mean, save_invstd, relu, dgamma, dbeta, dresidual, k);
        for (int i = 0; i < d.n; i++)
            for (int b = 0; b < nc; b++) {
                size_t off = ((size_t)i * d.c + c0 + b) * hw;
                plane_grad(&k[b], relu && !dresidual, x + off, (dresidual ? dresidual : dy) + off, dx + off, hw);
            }
    }
}
