/* The training loop of rn-train, written once for every backend (docs/DESIGN.md):
 * epochs of shuffled batches (the last partial batch kept), the lr
 * schedule, a test pass per epoch in eval mode, one metrics record per epoch,
 * an atomic checkpoint every epoch and on SIGINT/SIGTERM, resume at the exact
 * step, and a stop with one line when the loss or the weights stop being
 * finite.
 *
 * Determinism: the order of epoch e is rn_permutation(seed, RN_RNG_SHUFFLE, e,
 * N) (identity without shuffle) and every crop/flip is rn_aug_for(seed, e,
 * sample); both are pure functions, so a run resumed from any checkpoint -
 * even one saved mid-epoch on SIGINT - continues with exactly the batches the
 * uninterrupted run would have used. The train loss of an epoch is summed on
 * the host in double from each step's (float) batch sum, and a mid-epoch
 * checkpoint stores the partial sums, so the metrics match too (the timing
 * columns excepted). */
#ifndef RN_TRAIN_H
#define RN_TRAIN_H

#include <stdint.h>

#include "backend.h"
#include "normalize.h"
#include "schedule.h"

typedef struct {
    const char *train_path;       /* training dataset */
    const char *test_path;        /* test/val dataset or NULL */
    const char *init_path;        /* initial weights ("-" stdin); with resume: only checked against it */
    const char *resume_path;      /* checkpoint to continue from, or NULL */
    const char *out_path;         /* final weights ("-" stdout) */
    const char *checkpoint_path;  /* never "-" */
    const char *metrics_path;     /* or NULL */
    const char *label;            /* metrics label, NULL: "<net> seed <seed>" */
    int epochs;
    int batch;
    double momentum, weight_decay;
    RnSchedule schedule;
    uint64_t seed;                /* data order and augmentation */
    int augment, shuffle;
    RnNormalize normalize;        /* channel (default) or the paper's per-pixel mean (lib/normalize.h) */
    int64_t max_steps;            /* stop after this many optimizer steps in total */
    int force;                    /* resume even if the recipe differs */
    RnBackendOptions backend;
} RnTrainOptions;

/* The defaults: the paper profile's recipe (docs/DESIGN.md). Paths are NULL. */
void rn_train_defaults(RnTrainOptions *o);

/* Runs the training; dies with one line on any error (exit 1), including an
 * interruption (after saving a checkpoint) and a non-finite loss. */
void rn_train_run(const RnTrainOptions *o);

#endif
