/* The learning-rate schedule of rn-train: step decay with milestones (in
 * epochs or in iterations) and an optional constant warm-up.
 *
 *   lr(step) = warmup_lr                           if step < warmup_iters
 *            = lr * gamma^(milestones passed)      otherwise
 * A milestone M in epochs is passed from the first step of epoch M (0-based
 * epoch index >= M, i.e. after M full epochs); in iterations, from step M
 * (0-based, i.e. after M optimizer steps). The paper's CIFAR recipe: lr 0.1,
 * x0.1 at 32k and 48k iterations; ResNet-110 warms up at 0.01 for ~400
 * iterations. The default profile: x0.1 at epochs 100 and 150. */
#ifndef RN_SCHEDULE_H
#define RN_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RN_MAX_MILESTONES 16

typedef enum { RN_UNIT_EPOCH = 0, RN_UNIT_ITER = 1 } RnMilestoneUnit;

typedef struct {
    double lr;                    /* base learning rate */
    double gamma;                 /* factor at each milestone */
    int nmilestones;
    int64_t milestones[RN_MAX_MILESTONES];   /* increasing */
    RnMilestoneUnit unit;
    double warmup_lr;             /* used while step < warmup_iters */
    int64_t warmup_iters;         /* 0: no warm-up */
} RnSchedule;

/* Parses "100,150" (or "" for none) into s->milestones; returns NULL when
 * valid, else a message (not increasing, not a non-negative integer, too many). */
const char *rn_schedule_parse_milestones(RnSchedule *s, const char *text);
/* "epoch" / "iter" */
bool rn_milestone_unit_parse(const char *text, RnMilestoneUnit *unit);
const char *rn_milestone_unit_name(RnMilestoneUnit unit);
/* "100,150" into buf */
void rn_schedule_format_milestones(const RnSchedule *s, char *buf, size_t n);

/* The learning rate of optimizer step `step` (0-based) when an epoch has
 * steps_per_epoch steps. */
double rn_schedule_lr(const RnSchedule *s, int64_t step, int64_t steps_per_epoch);

#endif
