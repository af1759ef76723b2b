/* The checkpoint's recipe (docs/FORMATS.md): the "key=value" lines stored in
 * a checkpoint's training state that say what produced it, compared on
 * resume, and, for a checkpoint saved mid-epoch, the partial sums of the
 * epoch in progress after a separator line. This module is the only writer
 * and reader of that text; lib/weights.c stores it. */
#ifndef RN_ENGINE_CHECKPOINT_H
#define RN_ENGINE_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "net.h"
#include "train.h"

/* The sums of the epoch in progress: what a resumed epoch starts from, so its
 * metrics record is the uninterrupted run's. */
typedef struct {
    double loss_sum, errors, seconds, train_seconds;
    int64_t images;
} RnEpochSums;

/* Everything that changes the numbers, one "key=value" line each (not the
 * epochs, --max-steps, the device or the threads); TEST may be NULL. Dies if
 * it does not fit in N bytes. */
void rn_recipe_make(const RnTrainOptions *o, const RnNet *net, const RnDataset *train, const RnDataset *test,
                    char *buf, size_t n);

/* Compares MINE with the recipe SAVED in the checkpoint CKPT_PATH (its
 * progress part ignored); dies naming the first differing field unless
 * FORCE, which warns instead. */
void rn_recipe_compare(const char *ckpt_path, const char *saved, const char *mine, int force);

/* The text a checkpoint stores: RECIPE, plus SUMS when saved mid-epoch.
 * Dies if it does not fit in N bytes. */
void rn_recipe_with_progress(char *out, size_t n, const char *recipe, bool mid_epoch, const RnEpochSums *sums);

/* The sums SAVED by a checkpoint at STEP (all zero at an epoch's end); dies
 * with one line naming CKPT when they are missing or malformed. */
void rn_recipe_progress(const char *ckpt, const char *saved, int64_t step, int64_t steps_per_epoch,
                        RnEpochSums *sums);

/* The default checkpoint name for a final weights path: "x.safetensors" ->
 * "x.ckpt.safetensors", otherwise "<path>.ckpt.safetensors". Caller frees. */
char *rn_train_default_checkpoint(const char *out_path);

#endif
