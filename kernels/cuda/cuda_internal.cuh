/* Shared by the files of the CUDA backend (kernels/cuda/): the backend's
 * private state, the checking macros every CUDA and cuDNN call goes through,
 * and the operations each file contributes to the RnBackend table.
 *
 * The project headers are C; C11's _Noreturn is not a C++ keyword, so it is
 * spelled as the GNU attribute while they are included. */
#ifndef RN_CUDA_INTERNAL_CUH
#define RN_CUDA_INTERNAL_CUH

#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

#define _Noreturn __attribute__((noreturn))
extern "C" {
#include "backend.h"
#include "err.h"
#include "rng.h"
}
#undef _Noreturn

/* ---- checking: "rn-train: kernels/cuda/x.cu:123: cudnnFoo failed: CUDNN_STATUS_BAD_PARAM" */

/* Length of the function name at the start of a call's text ("cudaMalloc(&p, n)" -> 10). */
static inline int rn_cuda_call_name_len(const char *call)
{
    int n = 0;
    while (call[n] && call[n] != '(')
        n++;
    return n;
}

static inline void rn_cuda_check_runtime(cudaError_t e, const char *call, const char *file, int line)
{
    if (e != cudaSuccess)
        rn_die("%s:%d: %.*s failed: %s (%s)", file, line, rn_cuda_call_name_len(call), call,
               cudaGetErrorName(e), cudaGetErrorString(e));
}

static inline void rn_cudnn_check(cudnnStatus_t s, const char *call, const char *file, int line)
{
    if (s != CUDNN_STATUS_SUCCESS)
        rn_die("%s:%d: %.*s failed: %s", file, line, rn_cuda_call_name_len(call), call,
               cudnnGetErrorString(s));
}

#define CUDA_CHECK(call) rn_cuda_check_runtime((call), #call, __FILE__, __LINE__)
#define CUDNN_CHECK(call) rn_cudnn_check((call), #call, __FILE__, __LINE__)
/* After every kernel launch: a bad configuration is reported where it happened
 * (errors inside a kernel surface at the next synchronising call). */
#define LAUNCH_CHECK(kernel_name) \
    rn_cuda_check_runtime(cudaGetLastError(), kernel_name " launch", __FILE__, __LINE__)

/* ---- private state */

typedef struct CudaConvPlan CudaConvPlan;   /* cuda_conv.cu */

typedef struct {
    uint8_t *pixels;          /* count * image_bytes, as in the dataset file */
    uint8_t *labels;          /* count */
    uint32_t count, channels, height, width;
    uint32_t *order;          /* the epoch's order (dataset indices), NULL: identity */
    size_t order_count, order_capacity;
} CudaSlot;

typedef struct {
    int device;
    cudaStream_t stream;      /* every operation runs on this one stream, in order */
    cudnnHandle_t cudnn;
    int deterministic;        /* deterministic cuDNN algorithms, chosen by heuristics not timing */
    int tf32;                 /* RN_CUDA_TF32=1: let cuDNN use TF32 tensor cores (off: fp32 as the CPU) */

    void *workspace;          /* cuDNN workspace, grown to the largest chosen algorithm */
    size_t workspace_bytes;
    CudaConvPlan **plans;     /* one per convolution shape, created on first use */
    int nplans, plans_capacity;

    CudaSlot slot[RN_SLOTS];

    double *reduce;           /* per-(channel, chunk) partial sums of the reductions */
    size_t reduce_count;
    float *coef;              /* per-channel coefficients between the passes of bn_bwd */
    size_t coef_count;
    double *moments;          /* moments(): block partials then the result */
} CudaCtx;

static inline CudaCtx *cuda_ctx(RnBackend *be) { return (CudaCtx *)be->ctx; }

/* Device scratch that only grows (growing frees the old buffer, which synchronises). */
double *cuda_reduce_scratch(CudaCtx *ctx, size_t count);
float *cuda_coef_scratch(CudaCtx *ctx, size_t count);

/* Threads per block and the grid for an elementwise kernel over n items. */
enum { CUDA_THREADS = 256 };
static inline unsigned cuda_blocks(size_t n)
{
    size_t b = (n + CUDA_THREADS - 1) / CUDA_THREADS;
    if (b < 1)
        b = 1;
    return b > 65535u * 16u ? 65535u * 16u : (unsigned)b;   /* kernels loop with a grid stride */
}

/* Tree sum of a and b over the block (blockDim.x == CUDA_THREADS, a power of
 * two): a fixed order, so a fixed result - no atomics anywhere. Every thread
 * gets the totals. */
static __device__ __forceinline__ void cuda_block_sum2(double &a, double &b)
{
    __shared__ double sa[CUDA_THREADS], sb[CUDA_THREADS];
    sa[threadIdx.x] = a;
    sb[threadIdx.x] = b;
    __syncthreads();
    for (int s = CUDA_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) {
            sa[threadIdx.x] += sa[threadIdx.x + s];
            sb[threadIdx.x] += sb[threadIdx.x + s];
        }
        __syncthreads();
    }
    a = sa[0];
    b = sb[0];
    __syncthreads();   /* the shared arrays may be reused by a second call */
}

/* Each file fills its part of the table. */
void cuda_install_data_ops(RnBackend *be);
void cuda_install_conv_ops(RnBackend *be);
void cuda_install_bn_ops(RnBackend *be);
void cuda_install_layer_ops(RnBackend *be);
void cuda_data_destroy(CudaCtx *ctx);
void cuda_conv_destroy(CudaCtx *ctx);

#endif
