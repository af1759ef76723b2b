/* Batch norm fused with the residual addition and ReLU, forward (train and
 * eval) and backward. See RnBackend.bn_* in kernels/backend.h for the maths.
 *
 * A channel's statistics are a reduction over N*H*W values (131,072 in the
 * first stage at batch 128). To keep every SM busy the values of a channel are
 * cut into chunks, one block each: pass 1 writes per-(channel, chunk) partial
 * sums, pass 2 adds the chunks of a channel in order, pass 3 is elementwise.
 * The chunking depends on the shape only (never on the card or on timing) and
 * there are no atomics, so the result is bitwise reproducible in every mode.
 * Sums are in double: E[x^2] - E[x]^2 then loses nothing that float would
 * keep, and the cost is invisible next to the memory traffic. */
#include "cuda_internal.cuh"

/* Values per chunk; at most MAX_CHUNKS chunks per channel. */
enum { CHUNK_TARGET = 2048, MAX_CHUNKS = 128 };

static int chunks_for(size_t m)
{
    size_t p = (m + CHUNK_TARGET - 1) / CHUNK_TARGET;
    return p < 1 ? 1 : p > MAX_CHUNKS ? MAX_CHUNKS : (int)p;
}

/* Element m (0 <= m < N*HW) of channel c in NCHW. */
__device__ static inline size_t nchw_index(size_t m, int c, int channels, int hw)
{
    size_t n = m / hw, s = m - n * hw;
    return (n * channels + c) * hw + s;
}

/* ---- forward, training */

/* grid (chunks, C): sum and sum of squares of a chunk of channel c */
__global__ void bn_stats_partial(const float *x, int channels, int hw, size_t m, size_t chunk, int chunks,
                                 double *partial)
{
    const int c = blockIdx.y, b = blockIdx.x;
    size_t begin = (size_t)b * chunk, end = begin + chunk < m ? begin + chunk : m;
    double sum = 0.0, sumsq = 0.0;
    for (size_t i = begin + threadIdx.x; i < end; i += CUDA_THREADS) {
        double v = x[nchw_index(i, c, channels, hw)];
        sum += v;
        sumsq += v * v;
    }
    cuda_block_sum2(sum, sumsq);
    if (threadIdx.x == 0) {
        partial[2 * ((size_t)c * chunks + b)] = sum;
        partial[2 * ((size_t)c * chunks + b) + 1] = sumsq;
    }
}

/* one thread per channel: batch mean / invstd for backward, running statistics as PyTorch
 * (momentum-weighted, the running variance from the unbiased batch variance) */
__global__ void bn_stats_finalize(const double *partial, int chunks, int channels, size_t m, float momentum,
                                  float eps, float *running_mean, float *running_var, float *save_mean,
                                  float *save_invstd)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels)
        return;
    double sum = 0.0, sumsq = 0.0;
    for (int b = 0; b < chunks; b++) {
        sum += partial[2 * ((size_t)c * chunks + b)];
        sumsq += partial[2 * ((size_t)c * chunks + b) + 1];
    }
    double mean = sum / (double)m;
    double var = sumsq / (double)m - mean * mean;   /* biased: normalises the batch */
    if (var < 0.0)
        var = 0.0;
    save_mean[c] = (float)mean;
    save_invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    double unbiased = m > 1 ? var * (double)m / (double)(m - 1) : var;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
}

/* y = act(gamma * (x - mean) * invstd + beta + residual); mean/invstd per channel */
__global__ void bn_apply(const float *x, const float *mean, const float *invstd, const float *gamma,
                         const float *beta, const float *residual, int relu, int channels, int hw, size_t total,
                         float *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i / hw % channels);
        float v = gamma[c] * ((x[i] - mean[c]) * invstd[c]) + beta[c];
        if (residual)
            v += residual[i];
        y[i] = relu && v <= 0.0f ? 0.0f : v;   /* NaN passes (as PyTorch, as the CPU) to the loss check */
    }
}

static void cuda_bn_fwd_train(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                              const float *residual, int relu, float momentum, float eps, float *running_mean,
                              float *running_var, float *save_mean, float *save_invstd, float *y)
{
    CudaCtx *ctx = cuda_ctx(be);
    const int hw = d.h * d.w;
    const size_t m = (size_t)d.n * hw, total = m * d.c;
    const int chunks = chunks_for(m);
    const size_t chunk = (m + chunks - 1) / chunks;
    double *partial = cuda_reduce_scratch(ctx, 2 * (size_t)d.c * chunks);

    bn_stats_partial<<<dim3(chunks, d.c), CUDA_THREADS, 0, ctx->stream>>>(x, d.c, hw, m, chunk, chunks, partial);
    LAUNCH_CHECK("bn_stats_partial");
    bn_stats_finalize<<<(d.c + 63) / 64, 64, 0, ctx->stream>>>(partial, chunks, d.c, m, momentum, eps, running_mean,
                                                              running_var, save_mean, save_invstd);
    LAUNCH_CHECK("bn_stats_finalize");
    bn_apply<<<cuda_blocks(total), CUDA_THREADS, 0, ctx->stream>>>(x, save_mean, save_invstd, gamma, beta, residual,
                                                                   relu, d.c, hw, total, y);
    LAUNCH_CHECK("bn_apply");
}

/* ---- forward, eval: running statistics */

__global__ void bn_eval_apply(const float *x, const float *running_mean, const float *running_var,
                              const float *gamma, const float *beta, const float *residual, int relu, float eps,
                              int channels, int hw, size_t total, float *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i / hw % channels);
        float invstd = 1.0f / sqrtf(running_var[c] + eps);
        float v = gamma[c] * ((x[i] - running_mean[c]) * invstd) + beta[c];
        if (residual)
            v += residual[i];
        y[i] = relu && v <= 0.0f ? 0.0f : v;   /* NaN passes (as PyTorch, as the CPU) to the loss check */
    }
}

static void cuda_bn_fwd_eval(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                             const float *residual, int relu, const float *running_mean, const float *running_var,
                             float eps, float *y)
{
    const size_t total = (size_t)d.n * d.c * d.h * d.w;
    bn_eval_apply<<<cuda_blocks(total), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(
        x, running_mean, running_var, gamma, beta, residual, relu, eps, d.c, d.h * d.w, total, y);
    LAUNCH_CHECK("bn_eval_apply");
}

/* ---- backward
 * g = dy masked by the ReLU (y > 0), xhat = (x - mean) * invstd, M = N*H*W:
 *   dbeta = sum g, dgamma = sum g*xhat,
 *   dx = gamma * invstd * (g - dbeta/M - xhat * dgamma/M), dresidual = g */

__device__ static inline float masked_grad(const float *y, const float *dy, size_t i, int relu)
{
    return relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
}

__global__ void bn_bwd_partial(const float *x, const float *y, const float *dy, const float *mean,
                               const float *invstd, int relu, int channels, int hw, size_t m, size_t chunk,
                               int chunks, double *partial)
{
    const int c = blockIdx.y, b = blockIdx.x;
    size_t begin = (size_t)b * chunk, end = begin + chunk < m ? begin + chunk : m;
    const float mu = mean[c], is = invstd[c];
    double sg = 0.0, sgx = 0.0;
    for (size_t i = begin + threadIdx.x; i < end; i += CUDA_THREADS) {
        size_t k = nchw_index(i, c, channels, hw);
        float g = masked_grad(y, dy, k, relu);
        float xhat = (x[k] - mu) * is;
        sg += g;
        sgx += (double)g * xhat;
    }
    cuda_block_sum2(sg, sgx);
    if (threadIdx.x == 0) {
        partial[2 * ((size_t)c * chunks + b)] = sg;
        partial[2 * ((size_t)c * chunks + b) + 1] = sgx;
    }
}

/* one thread per channel: dgamma, dbeta, and their means for the dx pass */
__global__ void bn_bwd_finalize(const double *partial, int chunks, int channels, size_t m, float *dgamma,
                                float *dbeta, float *coef)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels)
        return;
    double sg = 0.0, sgx = 0.0;
    for (int b = 0; b < chunks; b++) {
        sg += partial[2 * ((size_t)c * chunks + b)];
        sgx += partial[2 * ((size_t)c * chunks + b) + 1];
    }
    dbeta[c] = (float)sg;
    dgamma[c] = (float)sgx;
    coef[2 * c] = (float)(sg / (double)m);
    coef[2 * c + 1] = (float)(sgx / (double)m);
}

__global__ void bn_bwd_apply(const float *x, const float *y, const float *dy, const float *gamma, const float *mean,
                             const float *invstd, const float *coef, int relu, int channels, int hw, size_t total,
                             float *dx, float *dresidual)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i / hw % channels);
        float g = masked_grad(y, dy, i, relu);
        float xhat = (x[i] - mean[c]) * invstd[c];
        if (dresidual)
            dresidual[i] = g;   /* written after every read of element i: dresidual may alias dy */
        dx[i] = gamma[c] * invstd[c] * (g - coef[2 * c] - xhat * coef[2 * c + 1]);
    }
}

static void cuda_bn_bwd(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy, const float *gamma,
                        const float *beta, const float *save_mean, const float *save_invstd, int relu, float *dx,
                        float *dgamma, float *dbeta, float *dresidual)
{
    (void)beta;   /* the mask comes from y */
    CudaCtx *ctx = cuda_ctx(be);
    const int hw = d.h * d.w;
    const size_t m = (size_t)d.n * hw, total = m * d.c;
    const int chunks = chunks_for(m);
    const size_t chunk = (m + chunks - 1) / chunks;
    double *partial = cuda_reduce_scratch(ctx, 2 * (size_t)d.c * chunks);
    float *coef = cuda_coef_scratch(ctx, 2 * (size_t)d.c);

    bn_bwd_partial<<<dim3(chunks, d.c), CUDA_THREADS, 0, ctx->stream>>>(x, y, dy, save_mean, save_invstd, relu, d.c,
                                                                         hw, m, chunk, chunks, partial);
    LAUNCH_CHECK("bn_bwd_partial");
    bn_bwd_finalize<<<(d.c + 63) / 64, 64, 0, ctx->stream>>>(partial, chunks, d.c, m, dgamma, dbeta, coef);
    LAUNCH_CHECK("bn_bwd_finalize");
    bn_bwd_apply<<<cuda_blocks(total), CUDA_THREADS, 0, ctx->stream>>>(x, y, dy, gamma, save_mean, save_invstd, coef,
                                                                       relu, d.c, hw, total, dx, dresidual);
    LAUNCH_CHECK("bn_bwd_apply");
}

void cuda_install_bn_ops(RnBackend *be)
{
    be->bn_fwd_train = cuda_bn_fwd_train;
    be->bn_fwd_eval = cuda_bn_fwd_eval;
    be->bn_bwd = cuda_bn_bwd;
}
