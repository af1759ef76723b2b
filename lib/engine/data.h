/* The data a CIFAR net runs on, as the engine hands it to a backend: which
 * datasets it accepts, and how a batch is assembled from one (the pad of the
 * crop, the normalisation). Written once for training and evaluation. */
#ifndef RN_ENGINE_DATA_H
#define RN_ENGINE_DATA_H

#include <stdint.h>

#include "backend.h"
#include "dataset.h"

/* Black pixels padded on each side before the random 32x32 crop (He et al.
 * 2016, section 4.2); without augmentation the crop is the centred one. */
#define AUGMENT_PAD 4

/* The batch spec of a training (augment = 1, seed: rn_aug_for's) or an
 * evaluation (augment = 0) pass: normalised by the CIFAR channel statistics
 * (lib/normalize.h), or by pixel_mean when not NULL. The epoch is set per
 * epoch by the caller. */
RnBatchSpec rn_batch_spec(int augment, uint64_t seed, const float *pixel_mean);

/* Dies with one line unless the images of DS (read from PATH) are the
 * 3x32x32 the CIFAR networks take. */
void rn_check_images(const char *path, const RnDataset *ds);

#endif
