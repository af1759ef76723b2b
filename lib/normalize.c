/* Normalisation modes and the per-pixel mean image (lib/normalize.h). */
#include "normalize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

const float rn_cifar_mean[3] = {0.4914f, 0.4822f, 0.4465f};
const float rn_cifar_std[3] = {0.2470f, 0.2435f, 0.2616f};

bool rn_normalize_parse(const char *s, RnNormalize *mode)
{
    if (strcmp(s, "channel") == 0)
        *mode = RN_NORM_CHANNEL;
    else if (strcmp(s, "pixel") == 0)
        *mode = RN_NORM_PIXEL;
    else
        return false;
    return true;
}

const char *rn_normalize_name(RnNormalize mode)
{
    return mode == RN_NORM_PIXEL ? "pixel" : "channel";
}

float *rn_pixel_mean(const RnDataset *ds)
{
    const size_t image = (size_t)rn_dataset_image_bytes(ds);
    if (ds->count == 0)
        rn_die("internal error: the mean image of an empty dataset");
    /* 50,000 x 255 fits a uint64 with room to spare */
    uint64_t *sum = rn_xcalloc(image, sizeof *sum);
    for (uint32_t i = 0; i < ds->count; i++) {
        const uint8_t *p = ds->pixels + (size_t)i * image;
        for (size_t k = 0; k < image; k++)
            sum[k] += p[k];
    }
    float *mean = rn_xmalloc(image * sizeof *mean);
    for (size_t k = 0; k < image; k++)
        mean[k] = (float)((double)sum[k] / (255.0 * (double)ds->count));
    free(sum);
    return mean;
}
