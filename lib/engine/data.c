/* The data a CIFAR net runs on (data.h). */
#include "data.h"

#include <string.h>

#include "err.h"
#include "net.h"
#include "normalize.h"

RnBatchSpec rn_batch_spec(int augment, uint64_t seed, const float *pixel_mean)
{
    RnBatchSpec spec = {.augment = augment, .pad = AUGMENT_PAD, .seed = seed, .epoch = 0};
    memcpy(spec.mean, rn_cifar_mean, sizeof spec.mean);
    memcpy(spec.std, rn_cifar_std, sizeof spec.std);
    spec.pixel_mean = pixel_mean;   /* NULL: per channel */
    return spec;
}

void rn_check_images(const char *path, const RnDataset *ds)
{
    if (ds->channels != RN_IN_CHANNELS || ds->height != RN_IN_SIDE || ds->width != RN_IN_SIDE)
        rn_die("%s: images are %ux%ux%u, the CIFAR networks need %dx%dx%d", path, ds->channels, ds->height,
               ds->width, RN_IN_CHANNELS, RN_IN_SIDE, RN_IN_SIDE);
}
