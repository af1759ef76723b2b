#include "schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rn_schedule_parse_milestones(RnSchedule *s, const char *text)
{
    static char msg[160];
    s->nmilestones = 0;
    const char *p = text;
    while (*p) {
        if (s->nmilestones == RN_MAX_MILESTONES) {
            snprintf(msg, sizeof msg, "more than %d milestones in '%s'", RN_MAX_MILESTONES, text);
            return msg;
        }
        char *end = NULL;
        errno = 0;
        long long v = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
        if (v < 0 || errno || (end && *end != ',' && *end != 0)) {
            snprintf(msg, sizeof msg, "'%s' is not a comma-separated list of non-negative integers", text);
            return msg;
        }
        if (s->nmilestones && v <= s->milestones[s->nmilestones - 1]) {
            snprintf(msg, sizeof msg, "milestones '%s' must be strictly increasing", text);
            return msg;
        }
        s->milestones[s->nmilestones++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == 0) {
            snprintf(msg, sizeof msg, "'%s' ends with a comma", text);
            return msg;
        }
    }
    return NULL;
}

bool rn_milestone_unit_parse(const char *text, RnMilestoneUnit *unit)
{
    if (strcmp(text, "epoch") == 0)
        *unit = RN_UNIT_EPOCH;
    else if (strcmp(text, "iter") == 0)
        *unit = RN_UNIT_ITER;
    else
        return false;
    return true;
}

const char *rn_milestone_unit_name(RnMilestoneUnit unit) { return unit == RN_UNIT_ITER ? "iter" : "epoch"; }

void rn_schedule_format_milestones(const RnSchedule *s, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < s->nmilestones && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? "," : "", (long long)s->milestones[i]);
}

double rn_schedule_lr(const RnSchedule *s, int64_t step, int64_t steps_per_epoch)
{
    if (step < s->warmup_iters)
        return s->warmup_lr;
    int64_t position = s->unit == RN_UNIT_ITER ? step : step / steps_per_epoch;
    double lr = s->lr;
    for (int i = 0; i < s->nmilestones; i++)
        if (position >= s->milestones[i])
            lr *= s->gamma;
    return lr;
}
