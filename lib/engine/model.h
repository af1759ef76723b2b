/* The executor: runs an RnNet forward and backward on any RnBackend. It owns
 * the device buffers (activations, gradients, parameters, momentum) and walks
 * the stem, the blocks and the head calling backend operations. Written once
 * for every backend.
 *
 * Parameters live on the device in two packed buffers: the trainable tensors
 * back to back (so one sgd() call updates them all) and the BN running
 * statistics; rn_model_set_weights / get_weights convert from / to RnWeights. */
#ifndef RN_MODEL_H
#define RN_MODEL_H

#include <stdbool.h>

#include "backend.h"
#include "net.h"
#include "weights.h"

#define RN_BN_EPS 1e-5f
#define RN_BN_MOMENTUM 0.1f

typedef struct RnModel RnModel;

RnModel *rn_model_create(RnBackend *be, const RnNet *net, int max_batch);
/* A model for evaluation only (forward in eval mode, loss without gradient,
 * responses): keeps no per-layer activations, gradients or momentum, and
 * takes a batch through the net be->eval_chunk images at a time, so a large
 * evaluation batch needs little memory. Training calls on it die. */
RnModel *rn_model_create_inference(RnBackend *be, const RnNet *net, int max_batch);
void rn_model_free(RnModel *m);
/* The bytes of backend memory rn_model_create(be, net, max_batch) allocates,
 * counted by the same code without allocating: checked before a training
 * allocates what it cannot have. */
size_t rn_model_train_bytes(const RnNet *net, int max_batch);

void rn_model_set_weights(RnModel *m, const RnWeights *w);   /* values and counts */
void rn_model_get_weights(RnModel *m, RnWeights *w);         /* w allocated for the same net */
/* momentum buffers in RnWeights.values layout (non-trainable entries ignored / written 0) */
void rn_model_set_momentum(RnModel *m, const float *momentum);
void rn_model_get_momentum(RnModel *m, float *momentum);

/* The input batch buffers: x [max_batch,3,32,32] and labels [max_batch] on the device. */
float *rn_model_input(RnModel *m);
int32_t *rn_model_labels(RnModel *m);
/* Host batch -> input buffers (tests, golden comparisons). */
void rn_model_upload_batch(RnModel *m, int n, const float *x, const int32_t *labels);

/* Forward pass on the n samples in the input buffers; train selects batch
 * statistics (and updates running statistics) vs running statistics. */
void rn_model_forward(RnModel *m, int n, bool train);
/* Cross-entropy on the logits of the last forward; accumulates into the
 * device stats (see RnBackend.xent); with_grad also prepares the backward. */
void rn_model_loss(RnModel *m, int n, int step, bool with_grad);
/* Backward of the last training forward: every trainable gradient. */
void rn_model_backward(RnModel *m, int n);
void rn_model_sgd(RnModel *m, float lr, float momentum, float weight_decay);
/* forward(train) + loss + backward + sgd */
void rn_model_train_step(RnModel *m, int n, int step, float lr, float momentum, float weight_decay);

void rn_model_get_logits(RnModel *m, int n, float *host);    /* [n][classes] */
/* gradients in RnWeights.values layout (non-trainable entries written 0) */
void rn_model_get_grads(RnModel *m, float *host);
/* stats accumulated since the last reset: loss sum, error count, first non-finite step (-1 none) */
void rn_model_read_stats(RnModel *m, double *loss_sum, double *errors, int *bad_step);
void rn_model_reset_stats(RnModel *m);
/* false when some trainable weight is NaN or Inf */
bool rn_model_weights_finite(RnModel *m);

/* Paper Fig. 7: std of every 3x3 layer's response (BN output, before the
 * addition and ReLU) in eval mode, accumulated over batches: call
 * rn_model_collect_responses(m, n) per batch after loading it, then
 * rn_model_response_std(m, out) gives one value per 3x3 conv layer, in order. */
int rn_model_response_layers(const RnModel *m);
void rn_model_collect_responses(RnModel *m, int n);   /* also an eval forward: loss/logits follow */
void rn_model_response_std(RnModel *m, double *out);

RnBackend *rn_model_backend(RnModel *m);

#endif
