/* The data pipeline on the GPU. Each slot (train, test) holds the uint8
 * dataset, uploaded once, and the epoch's order, copied once per epoch; a
 * batch is then assembled by one kernel: pad-crop-flip from rn_aug_for() (the
 * same counter-based generator as the CPU, compiled for the device) and the
 * normalisation, rounded exactly as the CPU reference (kernels/cpu/batch.c)
 * so both backends see bitwise the same batches. */
#include "cuda_internal.cuh"

#include <stdlib.h>

void cuda_data_destroy(CudaCtx *ctx)
{
    for (int s = 0; s < RN_SLOTS; s++) {
        CUDA_CHECK(cudaFree(ctx->slot[s].pixels));
        CUDA_CHECK(cudaFree(ctx->slot[s].labels));
        CUDA_CHECK(cudaFree(ctx->slot[s].order));
        ctx->slot[s] = CudaSlot{};
    }
}

static CudaSlot *slot_of(RnBackend *be, int slot, const char *what)
{
    if (slot < 0 || slot >= RN_SLOTS)
        rn_die("cuda backend: %s: no dataset slot %d", what, slot);
    return &cuda_ctx(be)->slot[slot];
}

static void cuda_set_dataset(RnBackend *be, int slot, const RnDataset *ds)
{
    CudaSlot *s = slot_of(be, slot, "set_dataset");
    CudaCtx *ctx = cuda_ctx(be);
    CUDA_CHECK(cudaStreamSynchronize(ctx->stream));   /* no batch of the old data still in flight */
    CUDA_CHECK(cudaFree(s->pixels));
    CUDA_CHECK(cudaFree(s->labels));
    s->pixels = NULL;
    s->labels = NULL;
    s->count = 0;
    s->order_count = 0;
    if (!ds || ds->count == 0)
        return;
    size_t image = (size_t)rn_dataset_image_bytes(ds);
    size_t bytes = (size_t)ds->count * image;
    CUDA_CHECK(cudaMalloc((void **)&s->pixels, bytes));
    CUDA_CHECK(cudaMalloc((void **)&s->labels, ds->count));
    CUDA_CHECK(cudaMemcpyAsync(s->pixels, ds->pixels, bytes, cudaMemcpyHostToDevice, ctx->stream));
    CUDA_CHECK(cudaMemcpyAsync(s->labels, ds->labels, ds->count, cudaMemcpyHostToDevice, ctx->stream));
    s->count = ds->count;
    s->channels = ds->channels;
    s->height = ds->height;
    s->width = ds->width;
}

static void cuda_set_order(RnBackend *be, int slot, const uint32_t *order, size_t count)
{
    CudaSlot *s = slot_of(be, slot, "set_order");
    CudaCtx *ctx = cuda_ctx(be);
    if (!order) {   /* back to the identity order */
        s->order_count = 0;
        return;
    }
    for (size_t i = 0; i < count; i++)
        if (order[i] >= s->count)
            rn_die("cuda backend: set_order: index %u at position %zu is outside the dataset (%u images)",
                   order[i], i, s->count);
    if (count > s->order_capacity) {
        if (s->order)
            CUDA_CHECK(cudaFree(s->order));
        CUDA_CHECK(cudaMalloc((void **)&s->order, count * sizeof(uint32_t)));
        s->order_capacity = count;
    }
    /* Ordered after every batch already issued from the previous order. */
    if (count)
        CUDA_CHECK(cudaMemcpyAsync(s->order, order, count * sizeof(uint32_t), cudaMemcpyHostToDevice,
                                   ctx->stream));
    s->order_count = count;
}

struct BatchArgs {
    const uint8_t *pixels, *labels;
    const uint32_t *order;    /* NULL: identity */
    size_t start;
    int channels, height, width;
    int augment, pad;
    uint64_t seed;
    uint32_t epoch;
    float mean[3], std[3];
};

/* One block per sample: thread 0 draws the augmentation, every thread then
 * writes pixels. Out-of-image pixels of the padded image are black (0), so
 * they normalise to -mean/std like torchvision's pad-then-normalise. */
__global__ void load_batch_kernel(BatchArgs a, float *x, int32_t *labels)
{
    __shared__ RnAug aug;
    __shared__ uint32_t index;
    const int i = blockIdx.x;
    if (threadIdx.x == 0) {
        index = a.order ? a.order[a.start + i] : (uint32_t)(a.start + i);
        if (a.augment) {
            aug = rn_aug_for(a.seed, a.epoch, index, a.pad);
        } else {
            aug.dx = a.pad;
            aug.dy = a.pad;
            aug.flip = 0;
        }
        labels[i] = a.labels[index];
    }
    __syncthreads();
    const int hw = a.height * a.width, image = a.channels * hw;
    const uint8_t *src = a.pixels + (size_t)index * image;
    float *dst = x + (size_t)i * image;
    for (int e = threadIdx.x; e < image; e += blockDim.x) {
        int c = e / hw, yy = e % hw / a.width, xx = e % a.width;
        int sy = yy + aug.dy - a.pad;
        int sx = (aug.flip ? a.width - 1 - xx : xx) + aug.dx - a.pad;
        float p = 0.0f;
        if (sy >= 0 && sy < a.height && sx >= 0 && sx < a.width)
            p = (float)src[(c * a.height + sy) * a.width + sx];
        /* (p / 255 - mean) / std, each operation rounded on its own (no FMA
         * contraction, IEEE division) exactly as the C reference computes it */
        dst[e] = __fdiv_rn(__fsub_rn(__fdiv_rn(p, 255.0f), a.mean[c]), a.std[c]);
    }
}

static void cuda_load_batch(RnBackend *be, int slot, size_t start, int n, const RnBatchSpec *spec,
                            float *x, int32_t *labels)
{
    CudaSlot *s = slot_of(be, slot, "load_batch");
    if (n <= 0)
        return;
    size_t available = s->order_count ? s->order_count : s->count;
    if (!s->pixels || start + (size_t)n > available)
        rn_die("cuda backend: load_batch: samples %zu..%zu requested, slot %d holds %zu", start,
               start + n - 1, slot, available);
    if (s->channels > 3)
        rn_die("cuda backend: load_batch: %u channels, the normalisation has at most 3", s->channels);
    BatchArgs a;
    a.pixels = s->pixels;
    a.labels = s->labels;
    a.order = s->order_count ? s->order : NULL;
    a.start = start;
    a.channels = (int)s->channels;
    a.height = (int)s->height;
    a.width = (int)s->width;
    a.augment = spec->augment;
    a.pad = spec->pad;
    a.seed = spec->seed;
    a.epoch = spec->epoch;
    for (int c = 0; c < 3; c++) {
        a.mean[c] = spec->mean[c];
        a.std[c] = spec->std[c];
    }
    load_batch_kernel<<<n, CUDA_THREADS, 0, cuda_ctx(be)->stream>>>(a, x, labels);
    LAUNCH_CHECK("load_batch_kernel");
}

void cuda_install_data_ops(RnBackend *be)
{
    be->set_dataset = cuda_set_dataset;
    be->set_order = cuda_set_order;
    be->load_batch = cuda_load_batch;
}
