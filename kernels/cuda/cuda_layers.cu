/* The small layers: option-A shortcut, residual add, global average pool,
 * fully connected, softmax cross-entropy, the fused SGD update, moments.
 * Each is one kernel (fc backward too: dx, dw and db in one launch). Sums are
 * sequential per thread or fixed-order trees: bitwise reproducible. */
#include "cuda_internal.cuh"

#define GRID_STRIDE(i, total) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (total); i += (size_t)gridDim.x * blockDim.x)

/* ---- option-A shortcut: y[:, pad + ci, i, j] = x[:, ci, 2i, 2j], other channels 0 */

__global__ void shortcut_pad_fwd_kernel(RnDims in, int out_c, int pad, int oh, int ow, size_t total, const float *x,
                                        float *y)
{
    GRID_STRIDE(e, total) {
        int j = (int)(e % ow), i = (int)(e / ow % oh), co = (int)(e / ((size_t)ow * oh) % out_c);
        size_t n = e / ((size_t)ow * oh * out_c);
        int ci = co - pad;
        y[e] = ci >= 0 && ci < in.c ? x[((n * in.c + ci) * in.h + 2 * i) * in.w + 2 * j] : 0.0f;
    }
}

/* one thread per input-channel element of dy's middle channels: each dx element has one writer */
__global__ void shortcut_pad_bwd_kernel(RnDims in, int out_c, int pad, int oh, int ow, size_t total, const float *dy,
                                        float *dx)
{
    GRID_STRIDE(e, total) {
        int j = (int)(e % ow), i = (int)(e / ow % oh), ci = (int)(e / ((size_t)ow * oh) % in.c);
        size_t n = e / ((size_t)ow * oh * in.c);
        dx[((n * in.c + ci) * in.h + 2 * i) * in.w + 2 * j] += dy[((n * out_c + ci + pad) * oh + i) * ow + j];
    }
}

static void cuda_shortcut_pad_fwd(RnBackend *be, RnDims in, int out_c, const float *x, float *y)
{
    int oh = (in.h + 1) / 2, ow = (in.w + 1) / 2;   /* x[:, :, ::2, ::2] */
    size_t total = (size_t)in.n * out_c * oh * ow;
    shortcut_pad_fwd_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(
        in, out_c, (out_c - in.c) / 2, oh, ow, total, x, y);
    LAUNCH_CHECK("shortcut_pad_fwd_kernel");
}

static void cuda_shortcut_pad_bwd(RnBackend *be, RnDims in, int out_c, const float *dy, float *dx)
{
    int oh = (in.h + 1) / 2, ow = (in.w + 1) / 2;
    size_t total = (size_t)in.n * in.c * oh * ow;
    shortcut_pad_bwd_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(
        in, out_c, (out_c - in.c) / 2, oh, ow, total, dy, dx);
    LAUNCH_CHECK("shortcut_pad_bwd_kernel");
}

/* ---- dst += src */

__global__ void add_kernel(float *dst, const float *src, size_t n)
{
    GRID_STRIDE(i, n) dst[i] += src[i];
}

static void cuda_add(RnBackend *be, float *dst, const float *src, size_t n)
{
    if (!n)
        return;
    add_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(dst, src, n);
    LAUNCH_CHECK("add_kernel");
}

/* ---- global average pool */

__global__ void avgpool_fwd_kernel(size_t nc, int hw, const float *x, float *y)
{
    GRID_STRIDE(k, nc) {
        const float *p = x + k * hw;
        float sum = 0.0f;
        for (int s = 0; s < hw; s++)
            sum += p[s];
        y[k] = sum / (float)hw;
    }
}

__global__ void avgpool_bwd_kernel(size_t total, int hw, const float *dy, float *dx)
{
    GRID_STRIDE(i, total) dx[i] = dy[i / hw] / (float)hw;
}

static void cuda_avgpool_fwd(RnBackend *be, RnDims in, const float *x, float *y)
{
    size_t nc = (size_t)in.n * in.c;
    avgpool_fwd_kernel<<<cuda_blocks(nc), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(nc, in.h * in.w, x, y);
    LAUNCH_CHECK("avgpool_fwd_kernel");
}

static void cuda_avgpool_bwd(RnBackend *be, RnDims in, const float *dy, float *dx)
{
    size_t total = (size_t)in.n * in.c * in.h * in.w;
    avgpool_bwd_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(total, in.h * in.w, dy, dx);
    LAUNCH_CHECK("avgpool_bwd_kernel");
}

/* ---- fully connected: y[n][o] = x[n] . w[o] + b[o] (64 -> 10: one thread per output is plenty) */

__global__ void fc_fwd_kernel(int n, int in, int out, const float *x, const float *w, const float *b, float *y)
{
    GRID_STRIDE(k, (size_t)n * out) {
        int s = (int)(k / out), o = (int)(k % out);
        float sum = 0.0f;
        for (int i = 0; i < in; i++)
            sum += x[(size_t)s * in + i] * w[(size_t)o * in + i];
        y[k] = sum + b[o];
    }
}

/* one launch, three ranges of threads: dx [n][in], dw [out][in], db [out] */
__global__ void fc_bwd_kernel(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *db)
{
    const size_t ndx = dx ? (size_t)n * in : 0, ndw = (size_t)out * in;
    GRID_STRIDE(k, ndx + ndw + out) {
        float sum = 0.0f;
        if (k < ndx) {
            int s = (int)(k / in), i = (int)(k % in);
            for (int o = 0; o < out; o++)
                sum += dy[(size_t)s * out + o] * w[(size_t)o * in + i];
            dx[k] = sum;
        } else if (k < ndx + ndw) {
            size_t e = k - ndx;
            int o = (int)(e / in), i = (int)(e % in);
            for (int s = 0; s < n; s++)
                sum += dy[(size_t)s * out + o] * x[(size_t)s * in + i];
            dw[e] = sum;
        } else {
            int o = (int)(k - ndx - ndw);
            for (int s = 0; s < n; s++)
                sum += dy[(size_t)s * out + o];
            db[o] = sum;
        }
    }
}

static void cuda_fc_fwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *b, float *y)
{
    size_t total = (size_t)n * out;
    fc_fwd_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(n, in, out, x, w, b, y);
    LAUNCH_CHECK("fc_fwd_kernel");
}

static void cuda_fc_bwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db)
{
    size_t total = (dx ? (size_t)n * in : 0) + (size_t)out * in + out;
    fc_bwd_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(n, in, out, x, w, dy, dx, dw, db);
    LAUNCH_CHECK("fc_bwd_kernel");
}

/* ---- softmax cross-entropy: one block, samples strided over its threads,
 * per-sample loss = logsumexp(l) - l[label]; stats as RnBackend.xent says. */

__global__ void xent_kernel(int n, int classes, const float *logits, const int32_t *labels, float *dlogits,
                            float *stats, int step)
{
    /* in double, like the CPU reference (kernels/cpu/ref_xent.c): 128 x 10 values cost nothing */
    double loss = 0.0, wrong = 0.0;
    for (int s = threadIdx.x; s < n; s += blockDim.x) {
        const float *z = logits + (size_t)s * classes;
        const int t = labels[s];
        int argmax = 0;   /* the first maximum */
        for (int k = 1; k < classes; k++)
            if (z[k] > z[argmax])
                argmax = k;
        const double m = z[argmax];
        double sum_exp = 0.0;
        for (int k = 0; k < classes; k++)
            sum_exp += exp((double)z[k] - m);
        const double lse = m + log(sum_exp);
        /* a label outside the classes cannot come from a checked dataset; it
         * poisons the loss (and so stops training) rather than reading out of bounds */
        const bool valid = t >= 0 && t < classes;
        loss += valid ? lse - z[t] : (double)NAN;
        wrong += argmax != t;
        if (dlogits)
            for (int k = 0; k < classes; k++)
                dlogits[(size_t)s * classes + k] = (float)((exp((double)z[k] - lse) - (k == t ? 1.0 : 0.0)) / n);
    }
    cuda_block_sum2(loss, wrong);
    if (threadIdx.x == 0) {
        stats[0] += (float)loss;
        stats[1] += (float)wrong;
        if (!isfinite(loss) && stats[2] < 0.0f)
            stats[2] = (float)step;
    }
}

static void cuda_xent(RnBackend *be, int n, int classes, const float *logits, const int32_t *labels, float *dlogits,
                      float *stats, int step)
{
    if (n <= 0)
        return;
    xent_kernel<<<1, CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(n, classes, logits, labels, dlogits, stats, step);
    LAUNCH_CHECK("xent_kernel");
}

/* ---- SGD, PyTorch's rule, over all parameters in one launch. Each operation
 * is rounded on its own (no FMA contraction), as the C reference computes it,
 * so equal gradients give bitwise equal weights on both backends. */

__global__ void sgd_kernel(size_t n, float *w, const float *grad, float *buf, float lr, float momentum, float wd)
{
    GRID_STRIDE(i, n) {
        float g = __fadd_rn(grad[i], __fmul_rn(wd, w[i]));
        float b = __fadd_rn(__fmul_rn(momentum, buf[i]), g);
        buf[i] = b;
        w[i] = __fsub_rn(w[i], __fmul_rn(lr, b));
    }
}

static void cuda_sgd(RnBackend *be, size_t n, float *w, const float *grad, float *buf, float lr, float momentum,
                     float wd)
{
    if (!n)
        return;
    sgd_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(n, w, grad, buf, lr, momentum, wd);
    LAUNCH_CHECK("sgd_kernel");
}

/* ---- moments: fixed grid of partial sums in double, then one block adds them */

enum { MOMENT_BLOCKS = CUDA_THREADS };

__global__ void moments_partial(const float *x, size_t n, double *partial)
{
    double sum = 0.0, sumsq = 0.0;
    GRID_STRIDE(i, n) {
        double v = x[i];
        sum += v;
        sumsq += v * v;
    }
    cuda_block_sum2(sum, sumsq);
    if (threadIdx.x == 0) {
        partial[2 * blockIdx.x] = sum;
        partial[2 * blockIdx.x + 1] = sumsq;
    }
}

__global__ void moments_final(const double *partial, double *result)
{
    double sum = partial[2 * threadIdx.x], sumsq = partial[2 * threadIdx.x + 1];
    cuda_block_sum2(sum, sumsq);
    if (threadIdx.x == 0) {
        result[0] = sum;
        result[1] = sumsq;
    }
}

static void cuda_moments(RnBackend *be, const float *x, size_t n, double *sum, double *sumsq)
{
    CudaCtx *ctx = cuda_ctx(be);
    if (!ctx->moments)
        CUDA_CHECK(cudaMalloc((void **)&ctx->moments, (2 * MOMENT_BLOCKS + 2) * sizeof(double)));
    double *result = ctx->moments + 2 * MOMENT_BLOCKS, host[2];
    moments_partial<<<MOMENT_BLOCKS, CUDA_THREADS, 0, ctx->stream>>>(x, n, ctx->moments);
    LAUNCH_CHECK("moments_partial");
    moments_final<<<1, MOMENT_BLOCKS, 0, ctx->stream>>>(ctx->moments, result);
    LAUNCH_CHECK("moments_final");
    CUDA_CHECK(cudaMemcpyAsync(host, result, sizeof host, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    *sum = host[0];
    *sumsq = host[1];
}

void cuda_install_layer_ops(RnBackend *be)
{
    be->shortcut_pad_fwd = cuda_shortcut_pad_fwd;
    be->shortcut_pad_bwd = cuda_shortcut_pad_bwd;
    be->add = cuda_add;
    be->avgpool_fwd = cuda_avgpool_fwd;
    be->avgpool_bwd = cuda_avgpool_bwd;
    be->fc_fwd = cuda_fc_fwd;
    be->fc_bwd = cuda_fc_bwd;
    be->xent = cuda_xent;
    be->sgd = cuda_sgd;
    be->moments = cuda_moments;
}
