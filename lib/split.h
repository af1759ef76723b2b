/* Choosing images from a dataset: the paper's seeded, class-balanced
 * train/validation split and the quick subsets (--per-class, --limit).
 * Every selection keeps the original order of the images it keeps. */
#ifndef RN_SPLIT_H
#define RN_SPLIT_H

#include "dataset.h"

#include <stdint.h>

/* The split rule. val_size must be a multiple of the number of classes;
 * k = val_size / classes. For each class c, let I_c be the indices of the
 * images labelled c, in dataset order, and P = rn_permutation(seed,
 * RN_RNG_SPLIT, c, |I_c|). The images I_c[P[0]], ..., I_c[P[k-1]] go to the
 * validation set; all others to the training set. is_val[i] gets 1 for a
 * validation image, 0 otherwise. Dies (naming `what`, e.g. the input file)
 * when a class has fewer than k images. */
void rn_split_mark_val(const RnDataset *ds, uint32_t val_size, uint64_t seed, uint8_t *is_val, const char *what);

/* Keeps image i when keep[i] is non-zero, in order; ds shrinks in place. */
void rn_select_keep(RnDataset *ds, const uint8_t *keep);

/* Keeps the first n images of each class. Dies (naming `what`) when a class
 * has fewer than n. */
void rn_select_per_class(RnDataset *ds, uint32_t n, const char *what);

/* Keeps the first n images (all of them when there are fewer). */
void rn_select_limit(RnDataset *ds, uint32_t n);

#endif
