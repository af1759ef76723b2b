/* Convolutions through cuDNN's convolution API (cudnnConvolutionForward,
 * BackwardData, BackwardFilter; deprecated in cuDNN 9 but present and
 * supported). One plan per shape holds the descriptors and the algorithm of
 * each direction, chosen on first use and then reused:
 *   default        cudnnFind*AlgorithmEx times the candidates on the real
 *                  buffers and the fastest one wins;
 *   deterministic  cudnnGet*Algorithm_v7's heuristic order, first algorithm
 *                  that cuDNN marks deterministic. Heuristics rather than
 *                  timing, so the choice - and with it every bit of the
 *                  result - is the same from one run to the next.
 * Arithmetic is fp32 FMA (CUDNN_FMA_MATH): on Ampere and later cuDNN's default
 * would allow TF32 tensor cores, whose 10-bit mantissa would make the GPU
 * disagree with the CPU reference. RN_CUDA_TF32=1 allows them (faster). */
#include "cuda_internal.cuh"

#include <stdlib.h>
#include <string.h>

enum { DIR_FWD = 0, DIR_BWD_DATA = 1, DIR_BWD_FILTER = 2, DIRS = 3 };
/* The largest workspace an algorithm may use; plenty for CIFAR shapes. */
static const size_t WORKSPACE_CAP = (size_t)256 << 20;

struct CudaConvPlan {
    RnConvDims dims;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv[DIRS];   /* one per direction: each gets its algorithm's math type */
    int chosen[DIRS];
    int algo[DIRS];
    size_t workspace[DIRS];
};

static void plan_free(CudaConvPlan *p)
{
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
    CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
    for (int d = 0; d < DIRS; d++)
        CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(p->conv[d]));
    free(p);
}

void cuda_conv_destroy(CudaCtx *ctx)
{
    for (int i = 0; i < ctx->nplans; i++)
        plan_free(ctx->plans[i]);
    free(ctx->plans);
    ctx->plans = NULL;
    ctx->nplans = ctx->plans_capacity = 0;
}

static int same_dims(const RnConvDims *a, const RnConvDims *b)
{
    return a->n == b->n && a->in_c == b->in_c && a->in_h == b->in_h && a->in_w == b->in_w &&
           a->out_c == b->out_c && a->out_h == b->out_h && a->out_w == b->out_w &&
           a->kernel == b->kernel && a->stride == b->stride && a->pad == b->pad;
}

static CudaConvPlan *plan_for(CudaCtx *ctx, const RnConvDims *d)
{
    for (int i = 0; i < ctx->nplans; i++)
        if (same_dims(&ctx->plans[i]->dims, d))
            return ctx->plans[i];

    CudaConvPlan *p = (CudaConvPlan *)rn_xcalloc(1, sizeof *p);
    p->dims = *d;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n, d->in_c, d->in_h, d->in_w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n, d->out_c, d->out_h, d->out_w));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->out_c, d->in_c, d->kernel,
                                           d->kernel));
    for (int dir = 0; dir < DIRS; dir++) {
        CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv[dir]));
        CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv[dir], d->pad, d->pad, d->stride, d->stride, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv[dir], ctx->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    }
    int n, c, h, w;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv[DIR_FWD], p->x, p->w, &n, &c, &h, &w));
    if (n != d->n || c != d->out_c || h != d->out_h || w != d->out_w)
        rn_die("cuda backend: convolution %dx%d stride %d pad %d of [%d,%d,%d,%d] gives [%d,%d,%d,%d], "
               "the caller expects [%d,%d,%d,%d]", d->kernel, d->kernel, d->stride, d->pad, d->n, d->in_c,
               d->in_h, d->in_w, n, c, h, w, d->n, d->out_c, d->out_h, d->out_w);

    if (ctx->nplans == ctx->plans_capacity) {
        ctx->plans_capacity = ctx->plans_capacity ? 2 * ctx->plans_capacity : 16;
        ctx->plans = (CudaConvPlan **)rn_xrealloc(ctx->plans, ctx->plans_capacity * sizeof *ctx->plans);
    }
    ctx->plans[ctx->nplans++] = p;
    return p;
}

static void ensure_workspace(CudaCtx *ctx, size_t bytes)
{
    if (bytes <= ctx->workspace_bytes)
        return;
    if (ctx->workspace)
        CUDA_CHECK(cudaFree(ctx->workspace));
    CUDA_CHECK(cudaMalloc(&ctx->workspace, bytes));
    ctx->workspace_bytes = bytes;
}

/* Whether a candidate from Find/Get may be used: it ran, fits the workspace,
 * is deterministic when asked, and does not use tensor cores unless TF32 is on. */
static int usable(const CudaCtx *ctx, cudnnStatus_t status, size_t memory, cudnnDeterminism_t det,
                  cudnnMathType_t math)
{
    if (status != CUDNN_STATUS_SUCCESS || memory > WORKSPACE_CAP)
        return 0;
    if (ctx->deterministic && det != CUDNN_DETERMINISTIC)
        return 0;
    if (!ctx->tf32 && (math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        return 0;
    return 1;
}

static void no_algorithm(const RnConvDims *d, const char *dir)
{
    rn_die("cuda backend: cuDNN offers no usable %s algorithm for a %dx%d stride-%d convolution of "
           "[%d,%d,%d,%d] -> %d channels", dir, d->kernel, d->kernel, d->stride, d->n, d->in_c, d->in_h,
           d->in_w, d->out_c);
}

/* Picks the algorithm of one direction from perf results (sorted best first by
 * cuDNN) and records it with its math type. PerfT is one of the three
 * cudnnConvolution*AlgoPerf_t structs, which share these fields. */
template <typename PerfT>
static void choose(CudaCtx *ctx, CudaConvPlan *p, int dir, const PerfT *perf, int count, const char *name)
{
    for (int i = 0; i < count; i++) {
        if (!usable(ctx, perf[i].status, perf[i].memory, perf[i].determinism, perf[i].mathType))
            continue;
        p->algo[dir] = (int)perf[i].algo;
        p->workspace[dir] = perf[i].memory;
        p->chosen[dir] = 1;
        /* with TF32 allowed, run with the math type the algorithm was measured with */
        if (ctx->tf32)
            CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv[dir], perf[i].mathType));
        ensure_workspace(ctx, perf[i].memory);
        return;
    }
    no_algorithm(&p->dims, name);
}

enum { MAX_CANDIDATES = 16 };

static void choose_fwd(CudaCtx *ctx, CudaConvPlan *p, const float *x, const float *w, float *y)
{
    cudnnConvolutionFwdAlgoPerf_t perf[MAX_CANDIDATES];
    int count = 0;
    if (ctx->deterministic) {
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx->cudnn, p->x, p->w, p->conv[DIR_FWD], p->y,
                                                           MAX_CANDIDATES, &count, perf));
    } else {
        ensure_workspace(ctx, WORKSPACE_CAP);
        CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(ctx->cudnn, p->x, x, p->w, w, p->conv[DIR_FWD], p->y, y,
                                                           MAX_CANDIDATES, &count, perf, ctx->workspace,
                                                           ctx->workspace_bytes));
    }
    choose(ctx, p, DIR_FWD, perf, count, "forward");
}

static void choose_bwd_data(CudaCtx *ctx, CudaConvPlan *p, const float *dy, const float *w, float *dx)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_CANDIDATES];
    int count = 0;
    if (ctx->deterministic) {
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx->cudnn, p->w, p->y, p->conv[DIR_BWD_DATA], p->x,
                                                                MAX_CANDIDATES, &count, perf));
    } else {
        ensure_workspace(ctx, WORKSPACE_CAP);
        CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(ctx->cudnn, p->w, w, p->y, dy, p->conv[DIR_BWD_DATA],
                                                                p->x, dx, MAX_CANDIDATES, &count, perf,
                                                                ctx->workspace, ctx->workspace_bytes));
    }
    choose(ctx, p, DIR_BWD_DATA, perf, count, "backward-data");
}

static void choose_bwd_filter(CudaCtx *ctx, CudaConvPlan *p, const float *x, const float *dy, float *dw)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_CANDIDATES];
    int count = 0;
    if (ctx->deterministic) {
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx->cudnn, p->x, p->y, p->conv[DIR_BWD_FILTER],
                                                                  p->w, MAX_CANDIDATES, &count, perf));
    } else {
        ensure_workspace(ctx, WORKSPACE_CAP);
        CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(ctx->cudnn, p->x, x, p->y, dy,
                                                                  p->conv[DIR_BWD_FILTER], p->w, dw, MAX_CANDIDATES,
                                                                  &count, perf, ctx->workspace,
                                                                  ctx->workspace_bytes));
    }
    choose(ctx, p, DIR_BWD_FILTER, perf, count, "backward-filter");
}

/* Every direction overwrites its output: alpha 1, beta 0. */
static const float ONE = 1.0f, ZERO = 0.0f;

static void cuda_conv_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w, float *y)
{
    CudaCtx *ctx = cuda_ctx(be);
    CudaConvPlan *p = plan_for(ctx, d);
    if (!p->chosen[DIR_FWD])
        choose_fwd(ctx, p, x, w, y);
    CUDNN_CHECK(cudnnConvolutionForward(ctx->cudnn, &ONE, p->x, x, p->w, w, p->conv[DIR_FWD],
                                        (cudnnConvolutionFwdAlgo_t)p->algo[DIR_FWD], ctx->workspace,
                                        p->workspace[DIR_FWD], &ZERO, p->y, y));
}

static void cuda_conv_bwd_data(RnBackend *be, const RnConvDims *d, const float *dy, const float *w, float *dx)
{
    CudaCtx *ctx = cuda_ctx(be);
    CudaConvPlan *p = plan_for(ctx, d);
    if (!p->chosen[DIR_BWD_DATA])
        choose_bwd_data(ctx, p, dy, w, dx);
    CUDNN_CHECK(cudnnConvolutionBackwardData(ctx->cudnn, &ONE, p->w, w, p->y, dy, p->conv[DIR_BWD_DATA],
                                             (cudnnConvolutionBwdDataAlgo_t)p->algo[DIR_BWD_DATA], ctx->workspace,
                                             p->workspace[DIR_BWD_DATA], &ZERO, p->x, dx));
}

static void cuda_conv_bwd_filter(RnBackend *be, const RnConvDims *d, const float *x, const float *dy, float *dw)
{
    CudaCtx *ctx = cuda_ctx(be);
    CudaConvPlan *p = plan_for(ctx, d);
    if (!p->chosen[DIR_BWD_FILTER])
        choose_bwd_filter(ctx, p, x, dy, dw);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx->cudnn, &ONE, p->x, x, p->y, dy, p->conv[DIR_BWD_FILTER],
                                               (cudnnConvolutionBwdFilterAlgo_t)p->algo[DIR_BWD_FILTER],
                                               ctx->workspace, p->workspace[DIR_BWD_FILTER], &ZERO, p->w, dw));
}

void cuda_install_conv_ops(RnBackend *be)
{
    be->conv_fwd = cuda_conv_fwd;
    be->conv_bwd_data = cuda_conv_bwd_data;
    be->conv_bwd_filter = cuda_conv_bwd_filter;
}
