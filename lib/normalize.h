/* How images are normalised before the net sees them: one choice, made on the
 * rn-train and rn-eval command lines (--normalize) and recorded in the
 * checkpoint's recipe.
 *   channel  (the reference study's, the default) (x/255 - mean[c]) / std[c]
 *            with CIFAR-10's fixed channel statistics;
 *   pixel    (He et al. 2016, section 4.2: "the per-pixel mean subtracted")
 *            x/255 - mean image of the training set, no division; the pad of
 *            the crop augmentation is 0 after the subtraction.
 * The mean image is computed here from the training set given, so rn-eval
 * needs that set too (--mean-from). */
#ifndef RN_NORMALIZE_H
#define RN_NORMALIZE_H

#include <stdbool.h>

#include "dataset.h"

typedef enum { RN_NORM_CHANNEL = 0, RN_NORM_PIXEL = 1 } RnNormalize;

/* The channel mode's statistics: CIFAR-10's training-set channel mean and std
 * of x/255 (docs/DESIGN.md), the same for training and evaluation. */
extern const float rn_cifar_mean[3], rn_cifar_std[3];

/* "channel" / "pixel" -> mode; false for anything else. */
bool rn_normalize_parse(const char *s, RnNormalize *mode);
const char *rn_normalize_name(RnNormalize mode);

/* The mean image of x/255 over the dataset: channels x height x width floats,
 * each (float)(sum of the uint8 values / (255 count)), the sum exact in
 * integers, so the result does not depend on the order or the thread count.
 * The caller frees it. The dataset must hold at least one image. */
float *rn_pixel_mean(const RnDataset *ds);

#endif
