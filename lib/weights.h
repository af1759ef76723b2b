/* Weights and checkpoints: safetensors files with PyTorch state_dict names
 * (docs/FORMATS.md). This module is the only reader and writer of them.
 *
 * A weights file holds every tensor of the RnNet (float32, plus int64
 * num_batches_tracked) and __metadata__ with the architecture. A checkpoint is
 * the same file plus one float32 momentum buffer per trainable tensor, named
 * "optimizer.momentum.<tensor name>", and the training position in the
 * metadata. Reading validates everything against the architecture the file
 * declares, and dies with one line naming the file on any inconsistency. */
#ifndef RN_WEIGHTS_H
#define RN_WEIGHTS_H

#include "net.h"

#include <stdbool.h>
#include <stdint.h>

#define RN_WEIGHTS_FORMAT_VERSION 1
#define RN_RECIPE_MAX 2048
#define RN_WEIGHTS_MAX_EPOCH 1000000   /* metadata "epoch" beyond this is damage */

typedef struct {
    RnNet net;
    float *values;                /* net.nvalues floats, at RnTensorSpec.offset */
    int64_t *counts;              /* net.ncounts num_batches_tracked */
    uint64_t seed;                /* rn-init seed (metadata "seed") */
    int epoch;                    /* epochs trained (metadata "epoch"), 0 after rn-init */
} RnWeights;

/* Training state stored in a checkpoint besides the weights. */
typedef struct {
    bool present;                 /* the file was a checkpoint */
    float *momentum;              /* net.nvalues floats, same offsets; only trainable tensors used */
    int epoch;                    /* epochs completed */
    int64_t step;                 /* optimizer steps completed */
    uint64_t train_seed;          /* seed of the data order / augmentation */
    char recipe[RN_RECIPE_MAX];   /* canonical recipe string; resume refuses a different one */
} RnTrainState;

/* Fresh weights as in docs/DESIGN.md: conv Kaiming normal (fan_out, std sqrt(2/(k*k*out))),
 * BN gamma 1 beta 0 mean 0 var 1 count 0, linear weight and bias uniform
 * in +-1/sqrt(fan_in). Same (cfg, seed), same bytes. */
void rn_weights_init(RnWeights *w, const RnNetConfig *cfg, uint64_t seed);
/* Zeroed weights for a net (for readers and copies). */
void rn_weights_alloc(RnWeights *w, const RnNetConfig *cfg);
void rn_weights_free(RnWeights *w);

/* state may be NULL (weights file) or a checkpoint's state (state->present true). */
void rn_weights_write(const char *path, const RnWeights *w, const RnTrainState *state);
/* Reads a weights file or a checkpoint ("-" = stdin). If state is non-NULL it
 * is filled (state->present false for a plain weights file; momentum allocated
 * and zeroed then). */
void rn_weights_read(const char *path, RnWeights *w, RnTrainState *state);
void rn_train_state_free(RnTrainState *state);

#endif
