/* Evaluation, written once: rn-train's test pass after every epoch and
 * rn-eval are the same pass over a dataset in eval mode (BN running
 * statistics, no augmentation, the dataset's order). */
#ifndef RN_ENGINE_EVALUATE_H
#define RN_ENGINE_EVALUATE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "evalfile.h"
#include "model.h"
#include "normalize.h"

typedef struct {
    double loss_sum;   /* the per-image cross-entropies: each batch's sum, added in double */
    double errors;     /* misclassified images, as the backend's xent counts them */
} RnEvalSums;

/* One pass of M over the first COUNT images of the backend's RN_SLOT_TEST, in
 * batches of BATCH (the last one partial) assembled by SPEC. With CONFUSION
 * (CLASSES x CLASSES, zeroed by the caller) it also downloads the logits and
 * counts confusion[truth][prediction], the prediction the first largest logit
 * and the truth from LABELS (else both may be NULL). With RESPONSES it also collects the paper's
 * Fig. 7 layer responses (rn_model_response_std reads them). */
void rn_evaluate_pass(RnModel *m, uint32_t count, int batch, const RnBatchSpec *spec, const uint8_t *labels,
                      int classes, uint32_t *confusion, bool responses, RnEvalSums *sums);

typedef struct {
    const char *weights_path;   /* weights or a checkpoint ("-" stdin) */
    const char *data_path;
    RnNormalize normalize;      /* as the weights were trained */
    const char *mean_from;      /* pixel: the training set whose mean image is subtracted, else NULL */
    int batch;                  /* images per forward pass */
    int responses;              /* also the Fig. 7 layer responses */
    RnBackendOptions backend;
} RnEvaluateOptions;

/* rn-eval's evaluation: reads the weights and the dataset, checks they fit,
 * runs the pass and fills E (loss, error, confusion, responses; free it with
 * rn_eval_free). Dies with one line on any error, a non-finite loss included. */
void rn_evaluate(const RnEvaluateOptions *o, RnEval *e);

#endif
