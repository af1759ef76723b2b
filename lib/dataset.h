/* The dataset file (docs/FORMATS.md): a fixed header, then labels, then uint8
 * pixels, image by image, each image channel-planar (C x H x W, as in the
 * CIFAR binary batches). The same bytes whatever the source. This module is
 * the only reader and writer of it.
 *
 * Layout (all integers little-endian u32):
 *   0   magic "RNCIFAR\x1a"        8 bytes
 *   8   version (1)
 *   12  count        number of images, >= 1
 *   16  channels     1..RN_DATASET_MAX_CHANNELS
 *   20  height       1..RN_DATASET_MAX_SIDE
 *   24  width        1..RN_DATASET_MAX_SIDE
 *   28  classes      1..RN_DATASET_MAX_CLASSES
 *   32  class names  classes x 32 bytes, each NUL-terminated and NUL-padded
 *   32 + 32*classes                 labels, count bytes, each < classes
 *   32 + 32*classes + count         pixels, count x channels x height x width
 * The file ends exactly there. */
#ifndef RN_DATASET_H
#define RN_DATASET_H

#include "io.h"

#include <stddef.h>
#include <stdint.h>

#define RN_DATASET_MAGIC "RNCIFAR\x1a"   /* 8 bytes */
#define RN_DATASET_VERSION 1
#define RN_DATASET_NAME_LEN 32          /* bytes per class name, NUL-padded */
#define RN_DATASET_MAX_CLASSES 100
#define RN_DATASET_FIXED_HEADER 32      /* bytes before the class names */
#define RN_DATASET_MAX_CHANNELS 16
#define RN_DATASET_MAX_SIDE 4096

typedef struct {
    uint32_t count, channels, height, width, classes;
    char class_names[RN_DATASET_MAX_CLASSES][RN_DATASET_NAME_LEN];
    uint8_t *labels;              /* count */
    uint8_t *pixels;              /* count * channels * height * width */
} RnDataset;

/* Batches of `batch` items over `count`, in order, the last one partial and
 * kept (50,000 images in batches of 128: 390 of 128 and one of 80).
 * rn_batch_count: how many; rn_batch_len: the size of the one from `start`. */
static inline int64_t rn_batch_count(int64_t count, int batch)
{
    return (count + batch - 1) / batch;
}
static inline int rn_batch_len(int64_t count, int batch, int64_t start)
{
    return count - start < batch ? (int)(count - start) : batch;
}

void rn_dataset_read(const char *path, RnDataset *ds);          /* dies on any error */
void rn_dataset_write(const char *path, const RnDataset *ds);   /* atomic */
/* The same into an output opened earlier (the caller commits it). */
void rn_dataset_write_to(RnOut *out, const RnDataset *ds);
void rn_dataset_free(RnDataset *ds);
static inline uint64_t rn_dataset_image_bytes(const RnDataset *ds)
{
    return (uint64_t)ds->channels * ds->height * ds->width;
}

/* ---- additions (compatible): helpers for writers and for tests ---- */

/* Header bytes (fixed part + class names) of a file with `classes` classes. */
static inline uint64_t rn_dataset_header_bytes(uint32_t classes)
{
    return RN_DATASET_FIXED_HEADER + (uint64_t)RN_DATASET_NAME_LEN * classes;
}
/* Like rn_dataset_read, but returns -1 with a one-line message naming the file
 * in err (ds left empty) instead of dying; 0 on success. */
int rn_dataset_load(const char *path, RnDataset *ds, char *err, size_t errlen);
/* Checks the fixed 32-byte header part; fills count..classes of ds. Returns 0,
 * or -1 with the reason (without the file name) in err. */
int rn_dataset_parse_header(const uint8_t hdr[RN_DATASET_FIXED_HEADER], RnDataset *ds, char *err, size_t errlen);
/* Checks an in-memory dataset is writable as is (shape, names, labels < classes);
 * 0 or -1 with the reason in err. */
int rn_dataset_check(const RnDataset *ds, char *err, size_t errlen);
/* Sets the shape and allocates zeroed labels and pixels for count images;
 * class names are cleared. Dies on a shape outside the limits above. */
void rn_dataset_alloc(RnDataset *ds, uint32_t count, uint32_t channels, uint32_t height, uint32_t width,
                      uint32_t classes);

#endif
