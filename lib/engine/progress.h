/* A training's progress on stderr: on a terminal a bar redrawn at most 5
 * times a second and one line per epoch; otherwise (a pipe, a log) the epoch
 * lines alone. Silent under --quiet. */
#ifndef RN_ENGINE_PROGRESS_H
#define RN_ENGINE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

typedef struct {
    bool tty;                  /* stderr is a terminal */
    int epochs;                /* of the run, for "epoch e/E" */
    int64_t steps_per_epoch;
    int64_t total_steps;       /* where the run stops */
    int64_t first_step;        /* where this process started (the ETA's rate) */
    double start, last_draw;
} RnProgress;

double rn_now_seconds(void);   /* monotonic */

void rn_progress_start(RnProgress *p, int epochs, int64_t steps_per_epoch, int64_t step, int64_t total_steps);
/* The bar after STEP, the IN_EPOCH-th step of EPOCH (1-based); images/s from
 * the epoch's IMAGES and TRAIN_SECONDS. */
void rn_progress_bar(RnProgress *p, int epoch, int64_t in_epoch, int64_t step, double loss, double lr, int64_t images,
                     double train_seconds);
/* The line of a finished epoch (the test columns when HAS_TEST). */
void rn_progress_epoch(const RnProgress *p, const RnMetricRecord *rec, bool has_test);
/* Clears the bar before another message. */
void rn_progress_clear(const RnProgress *p);

#endif
