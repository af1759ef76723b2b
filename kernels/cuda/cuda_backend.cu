/* The CUDA + cuDNN backend: device selection, the backend table, memory.
 * The operations live next door: cuda_data.cu (dataset on the GPU and batch
 * assembly), cuda_conv.cu (cuDNN convolutions), cuda_bn.cu (batch norm fused
 * with the residual addition and ReLU), cuda_layers.cu (shortcut, pooling, fc,
 * softmax cross-entropy, SGD, moments).
 *
 * Everything runs on one stream in issue order, so the executor's sequence of
 * calls is the sequence of kernels; only download(), moments() and sync()
 * wait for the GPU. */
#include "cuda_internal.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A kernel whose attributes tell whether this binary has code for the GPU. */
__global__ void cuda_probe_kernel(int *p)
{
    if (p)
        *p = 1;
}

static void set_why(char *why, size_t len, const char *fmt, const char *detail)
{
    if (why && len)
        snprintf(why, len, fmt, detail);
}

extern "C" int rn_cuda_available(char *why, size_t why_len)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();   /* clear the sticky error state for later calls */
        set_why(why, why_len, "no usable GPU (%s)", cudaGetErrorString(e));
        return 0;
    }
    if (count == 0) {
        set_why(why, why_len, "%s", "no usable GPU (no CUDA device found)");
        return 0;
    }
    e = cudaSetDevice(0);
    cudaFuncAttributes attr;
    if (e == cudaSuccess)
        e = cudaFuncGetAttributes(&attr, cuda_probe_kernel);
    if (e != cudaSuccess) {
        cudaGetLastError();
        /* cudaErrorNoKernelImageForDevice: built for other architectures (CUDA_ARCH=) */
        set_why(why, why_len, "no usable GPU (%s; rebuild with CUDA_ARCH set to this GPU's compute capability)",
                cudaGetErrorString(e));
        return 0;
    }
    return 1;
}

/* ---- memory */

static void *cuda_alloc(RnBackend *be, size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 1;   /* a valid, distinct pointer even for empty tensors */
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError();
        cudaMemGetInfo(&free_b, &total_b);
        rn_die("%s:%d: cudaMalloc failed: out of GPU memory allocating %zu MiB (%zu of %zu MiB free; "
               "try a smaller batch)", __FILE__, __LINE__, bytes >> 20, free_b >> 20, total_b >> 20);
    }
    CUDA_CHECK(e);
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_ctx(be)->stream));
    return p;
}

static void cuda_release(RnBackend *be, void *p)
{
    (void)be;
    if (p)
        CUDA_CHECK(cudaFree(p));   /* synchronises the device: no kernel still uses p */
}

static void cuda_upload(RnBackend *be, void *dst, const void *src, size_t bytes)
{
    /* From pageable memory the call returns once src has been staged, so the
     * caller may reuse src at once; the copy stays ordered on the stream. */
    if (bytes)
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_ctx(be)->stream));
}

static void cuda_download(RnBackend *be, void *dst, const void *src, size_t bytes)
{
    CudaCtx *ctx = cuda_ctx(be);
    if (bytes)
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
}

static void cuda_zero(RnBackend *be, void *p, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_ctx(be)->stream));
}

static void cuda_sync(RnBackend *be)
{
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(be)->stream));
}

double *cuda_reduce_scratch(CudaCtx *ctx, size_t count)
{
    if (count > ctx->reduce_count) {
        if (ctx->reduce)
            CUDA_CHECK(cudaFree(ctx->reduce));
        CUDA_CHECK(cudaMalloc((void **)&ctx->reduce, count * sizeof(double)));
        ctx->reduce_count = count;
    }
    return ctx->reduce;
}

float *cuda_coef_scratch(CudaCtx *ctx, size_t count)
{
    if (count > ctx->coef_count) {
        if (ctx->coef)
            CUDA_CHECK(cudaFree(ctx->coef));
        CUDA_CHECK(cudaMalloc((void **)&ctx->coef, count * sizeof(float)));
        ctx->coef_count = count;
    }
    return ctx->coef;
}

/* ---- life cycle */

static void cuda_destroy(RnBackend *be)
{
    if (!be)
        return;
    CudaCtx *ctx = cuda_ctx(be);
    if (ctx) {
        CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
        cuda_data_destroy(ctx);
        cuda_conv_destroy(ctx);
        CUDA_CHECK(cudaFree(ctx->workspace));   /* cudaFree(NULL) is a no-op */
        CUDA_CHECK(cudaFree(ctx->reduce));
        CUDA_CHECK(cudaFree(ctx->coef));
        CUDA_CHECK(cudaFree(ctx->moments));
        CUDNN_CHECK(cudnnDestroy(ctx->cudnn));
        CUDA_CHECK(cudaStreamDestroy(ctx->stream));
        free(ctx);
    }
    free(be);
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

extern "C" RnBackend *rn_cuda_backend_create(const RnBackendOptions *opts, char *why, size_t why_len)
{
    if (!rn_cuda_available(why, why_len))
        return NULL;

    CudaCtx *ctx = (CudaCtx *)rn_xcalloc(1, sizeof *ctx);
    ctx->device = 0;
    ctx->deterministic = opts && opts->deterministic;
    ctx->tf32 = env_flag("RN_CUDA_TF32");
    CUDA_CHECK(cudaSetDevice(ctx->device));
    /* Non-blocking: nothing on the legacy default stream can interleave with ours. */
    CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    CUDNN_CHECK(cudnnCreate(&ctx->cudnn));
    CUDNN_CHECK(cudnnSetStream(ctx->cudnn, ctx->stream));

    RnBackend *be = (RnBackend *)rn_xcalloc(1, sizeof *be);
    be->name = "cuda";
    be->ctx = ctx;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx->device));
    size_t v = cudnnGetVersion();   /* cuDNN 9: major*10000 + minor*100 + patch */
    snprintf(be->description, sizeof be->description, "cuda (%.60s, sm_%d%d, cuDNN %zu.%zu%s%s)",
             prop.name, prop.major, prop.minor, v / 10000, v % 10000 / 100,
             ctx->deterministic ? ", deterministic" : "", ctx->tf32 ? ", TF32" : "");

    be->destroy = cuda_destroy;
    be->alloc = cuda_alloc;
    be->release = cuda_release;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->zero = cuda_zero;
    be->sync = cuda_sync;
    cuda_install_data_ops(be);
    cuda_install_conv_ops(be);
    cuda_install_bn_ops(be);
    cuda_install_layer_ops(be);
    return be;
}
