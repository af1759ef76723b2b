/* Reference batch normalisation, fused with the residual addition and ReLU.
 *
 * For channel c, over the M = N*H*W values x of that channel in the batch:
 *   mean   = (1/M) sum x
 *   var    = (1/M) sum (x - mean)^2          biased: used to normalise (as PyTorch)
 *   invstd = 1 / sqrt(var + eps)
 *   xhat   = (x - mean) * invstd
 *   z      = gamma * xhat + beta + residual  (residual optional)
 *   y      = max(z, 0) if relu, else z
 * Running statistics (PyTorch's rule, momentum m = 0.1):
 *   running_mean = (1 - m) * running_mean + m * mean
 *   running_var  = (1 - m) * running_var  + m * var * M / (M - 1)   (unbiased)
 * Eval mode uses running_mean / running_var in place of the batch statistics.
 *
 * Backward, with g = dy masked by the ReLU (g = dy where y > 0, else 0):
 *   dresidual = g
 *   dbeta     = sum g
 *   dgamma    = sum g * xhat
 *   dx        = gamma * invstd / M * (M * g - dbeta - xhat * dgamma)
 * (the last line is the chain rule through mean and var; every x moves both).
 *
 * Threads: one channel per job; a channel's sums are taken in double, in index
 * order, by one thread, so results do not depend on the thread count. Double
 * and two passes (mean first, then squared deviations) avoid the cancellation
 * of E[x^2] - E[x]^2 when the mean is large against the spread. */
#include "cpu_backend.h"

#include <math.h>

/* Element (n, c, k) of an NCHW tensor, with k = h*W + w. */
static inline size_t at(RnDims d, int n, int c, size_t k)
{
    return ((size_t)n * d.c + c) * ((size_t)d.h * d.w) + k;
}

/* y = act(gamma * (x - mean) * invstd + beta + residual) over one channel.
 * (A fast path would fold this into y = x * scale + shift; the reference keeps
 * the textbook form.) The ReLU lets a NaN through, as PyTorch's does, so a
 * diverging run shows up in the loss instead of being zeroed away. */
static void normalise_channel(RnDims d, int c, const float *x, float mean, float invstd, float gamma,
                              float beta, const float *residual, int relu, float *y)
{
    const size_t plane = (size_t)d.h * d.w;
    for (int n = 0; n < d.n; n++) {
        for (size_t k = 0; k < plane; k++) {
            const size_t idx = at(d, n, c, k);
            const float xhat = (x[idx] - mean) * invstd;
            float z = gamma * xhat + beta;
            if (residual)
                z += residual[idx];
            y[idx] = (relu && z <= 0.0f) ? 0.0f : z;
        }
    }
}

void cpu_ref_bn_fwd_train(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                          const float *residual, int relu, float momentum, float eps,
                          float *running_mean, float *running_var,
                          float *save_mean, float *save_invstd, float *y)
{
    const size_t plane = (size_t)d.h * d.w, M = (size_t)d.n * plane;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (int c = 0; c < d.c; c++) {
        double sum = 0.0;
        for (int n = 0; n < d.n; n++)
            for (size_t k = 0; k < plane; k++)
                sum += x[at(d, n, c, k)];
        const double mean = sum / (double)M;
        double sqdev = 0.0;
        for (int n = 0; n < d.n; n++)
            for (size_t k = 0; k < plane; k++) {
                const double dev = x[at(d, n, c, k)] - mean;
                sqdev += dev * dev;
            }
        const double var = sqdev / (double)M;
        /* PyTorch refuses M == 1 (no unbiased variance); the biased one stands in. */
        const double unbiased = M > 1 ? sqdev / (double)(M - 1) : var;
        const float invstd = (float)(1.0 / sqrt(var + (double)eps));

        save_mean[c] = (float)mean;
        save_invstd[c] = invstd;
        /* In double, in the order PyTorch's CPU kernel writes it. */
        running_mean[c] = (float)((double)momentum * mean + (1.0 - (double)momentum) * running_mean[c]);
        running_var[c] = (float)((double)momentum * unbiased + (1.0 - (double)momentum) * running_var[c]);
        normalise_channel(d, c, x, (float)mean, invstd, gamma[c], beta[c], residual, relu, y);
    }
}

void cpu_ref_bn_fwd_eval(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                         const float *residual, int relu, const float *running_mean,
                         const float *running_var, float eps, float *y)
{
#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (int c = 0; c < d.c; c++) {
        const float invstd = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
        normalise_channel(d, c, x, running_mean[c], invstd, gamma[c], beta[c], residual, relu, y);
    }
}

void cpu_ref_bn_bwd(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy,
                    const float *gamma, const float *beta, const float *save_mean, const float *save_invstd,
                    int relu, float *dx, float *dgamma, float *dbeta, float *dresidual)
{
    (void)beta;   /* the mask comes from y */
    const size_t plane = (size_t)d.h * d.w, M = (size_t)d.n * plane;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (int c = 0; c < d.c; c++) {
        const float mean = save_mean[c], invstd = save_invstd[c];
        /* Pass 1: the two channel sums. */
        double sum_g = 0.0, sum_g_xhat = 0.0;
        for (int n = 0; n < d.n; n++)
            for (size_t k = 0; k < plane; k++) {
                const size_t idx = at(d, n, c, k);
                const float g = (relu && !(y[idx] > 0.0f)) ? 0.0f : dy[idx];
                sum_g += g;
                sum_g_xhat += (double)g * ((x[idx] - mean) * invstd);
            }
        dbeta[c] = (float)sum_g;
        dgamma[c] = (float)sum_g_xhat;

        /* Pass 2: dx (and dresidual). Each index is read before it is written,
         * so dx or dresidual may be the same buffer as dy. */
        const double k_scale = (double)gamma[c] * invstd / (double)M;
        for (int n = 0; n < d.n; n++)
            for (size_t k = 0; k < plane; k++) {
                const size_t idx = at(d, n, c, k);
                const float g = (relu && !(y[idx] > 0.0f)) ? 0.0f : dy[idx];
                const float xhat = (x[idx] - mean) * invstd;
                if (dresidual)
                    dresidual[idx] = g;
                dx[idx] = (float)(k_scale * ((double)M * g - sum_g - (double)xhat * sum_g_xhat));
            }
    }
}
