/* The dataset file (docs/FORMATS.md): a fixed header, then labels, then uint8
 * pixels, image by image, each image channel-planar (C x H x W, as in the
 * CIFAR binary batches). The same bytes whatever the source. This module is
 * the only reader and writer of it. */
#ifndef RN_DATASET_H
#define RN_DATASET_H

#include <stdint.h>

#define RN_DATASET_MAGIC "RNCIFAR\x1a"   /* 8 bytes */
#define RN_DATASET_VERSION 1
#define RN_DATASET_NAME_LEN 32          /* bytes per class name, NUL-padded */
#define RN_DATASET_MAX_CLASSES 100

typedef struct {
    uint32_t count, channels, height, width, classes;
    char class_names[RN_DATASET_MAX_CLASSES][RN_DATASET_NAME_LEN];
    uint8_t *labels;              /* count */
    uint8_t *pixels;              /* count * channels * height * width */
} RnDataset;

void rn_dataset_read(const char *path, RnDataset *ds);          /* dies on any error */
void rn_dataset_write(const char *path, const RnDataset *ds);   /* atomic */
void rn_dataset_free(RnDataset *ds);
static inline uint64_t rn_dataset_image_bytes(const RnDataset *ds)
{
    return (uint64_t)ds->channels * ds->height * ds->width;
}

#endif
