/* Assembling a batch on the CPU: the uint8 dataset -> normalised float images.
 *
 * Sample i of a batch is dataset image j = order[start + i] (order = identity
 * until set_order gives one). With augmentation (He et al. 2016, section 4.2,
 * as torchvision's RandomCrop(32, padding=4) then RandomHorizontalFlip):
 *   1. pad the H x W image with `pad` black pixels on every side (value 0,
 *      before normalisation, as torchvision pads the uint8 image);
 *   2. crop H x W at offset (dy, dx) in the padded image;
 *   3. flip left-right if `flip`;
 * where (dx, dy, flip) = rn_aug_for(seed, epoch, j, pad): a pure function of
 * the dataset position, so any backend and any thread count agree. As one
 * formula, output pixel (y, x) reads padded pixel (y + dy, x' + dx) with
 * x' = flip ? W-1-x : x, i.e. source pixel (y + dy - pad, x' + dx - pad), or
 * black when that lies outside the image.
 * Then every value v becomes (v/255 - mean[c]) / std[c], as ToTensor + Normalize.
 * Without augmentation: just the normalisation.
 * Threads: one image per job; no sums. */
#include "cpu_backend.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"

static CpuSlot *slot_of(RnBackend *be, int slot)
{
    if (slot < 0 || slot >= RN_SLOTS)
        rn_die("internal error: dataset slot %d (valid: 0..%d)", slot, RN_SLOTS - 1);
    return &((CpuContext *)be->ctx)->slots[slot];
}

/* The CPU's "device" memory is the host's, so the dataset is not copied: the
 * caller keeps ds->labels and ds->pixels alive while batches are loaded. */
void cpu_set_dataset(RnBackend *be, int slot, const RnDataset *ds)
{
    CpuSlot *s = slot_of(be, slot);
    if (ds->channels > 3)
        rn_die("dataset has %u channels; batches normalise at most 3", ds->channels);
    s->ds = *ds;
    s->have_ds = 1;
}

void cpu_set_order(RnBackend *be, int slot, const uint32_t *order, size_t count)
{
    CpuSlot *s = slot_of(be, slot);
    free(s->order);
    s->order = rn_xmalloc(sizeof *s->order * (count ? count : 1));
    memcpy(s->order, order, sizeof *s->order * count);
    s->order_count = count;
}

void cpu_load_batch(RnBackend *be, int slot, size_t start, int n, const RnBatchSpec *spec,
                    float *x, int32_t *labels)
{
    const CpuSlot *s = slot_of(be, slot);
    if (!s->have_ds)
        rn_die("internal error: load_batch on slot %d before set_dataset", slot);
    const RnDataset *ds = &s->ds;
    const size_t limit = s->order ? s->order_count : ds->count;
    if (n < 0 || start > limit || (size_t)n > limit - start)
        rn_die("internal error: batch %zu..%zu outside the %zu samples of slot %d",
               start, start + (size_t)n, limit, slot);

    const int C = (int)ds->channels, H = (int)ds->height, W = (int)ds->width;
    const size_t image = (size_t)C * H * W;
    int bad = -1;   /* an order entry past the dataset; reported after the loop */

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (int i = 0; i < n; i++) {
        const size_t pos = start + (size_t)i;
        const uint32_t j = s->order ? s->order[pos] : (uint32_t)pos;
        if (j >= ds->count) {
#pragma omp atomic write
            bad = i;
            continue;
        }
        RnAug aug = {spec->pad, spec->pad, 0};   /* the centred crop = no augmentation */
        if (spec->augment)
            aug = rn_aug_for(spec->seed, spec->epoch, j, spec->pad);
        const uint8_t *src = ds->pixels + (size_t)j * image;
        float *dst = x + (size_t)i * image;
        for (int c = 0; c < C; c++) {
            const float mean = spec->mean[c], std = spec->std[c];
            for (int y = 0; y < H; y++) {
                const int sy = y + aug.dy - spec->pad;
                for (int xo = 0; xo < W; xo++) {
                    const int sx = (aug.flip ? W - 1 - xo : xo) + aug.dx - spec->pad;
                    const int inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
                    const uint8_t v = inside ? src[((size_t)c * H + sy) * W + sx] : 0;
                    dst[((size_t)c * H + y) * W + xo] = ((float)v / 255.0f - mean) / std;
                }
            }
        }
        labels[i] = ds->labels[j];
    }
    if (bad >= 0)
        rn_die("internal error: epoch order names sample %u but slot %d holds %u images",
               s->order[start + (size_t)bad], slot, ds->count);
}
