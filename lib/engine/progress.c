/* A training's progress (progress.h). */
#include "progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

double rn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void rn_progress_start(RnProgress *p, int epochs, int64_t steps_per_epoch, int64_t step, int64_t total_steps)
{
    p->tty = isatty(STDERR_FILENO);
    p->epochs = epochs;
    p->steps_per_epoch = steps_per_epoch;
    p->total_steps = total_steps;
    p->first_step = step;
    p->start = p->last_draw = rn_now_seconds();
}

static void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void rn_progress_bar(RnProgress *p, int epoch, int64_t in_epoch, int64_t step, double loss, double lr, int64_t images,
                     double train_seconds)
{
    double t = rn_now_seconds();
    if (rn_quiet || !p->tty || t - p->last_draw < 0.2)
        return;
    p->last_draw = t;
    double elapsed = t - p->start;
    int64_t done = step - p->first_step, left = p->total_steps - step;
    double per_step = done > 0 ? elapsed / done : 0;
    double ips = train_seconds > 0 ? images / train_seconds : 0;
    char eta[32];
    format_duration(per_step * left, eta, sizeof eta);
    char bar[21];
    int filled = (int)(20 * in_epoch / p->steps_per_epoch);
    for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = 0;
    fprintf(stderr, "\r%s: epoch %d/%d [%s] %" PRId64 "/%" PRId64 " loss %.4f lr %.4g %.0f img/s ETA %s \033[K",
            rn_prog(), epoch, p->epochs, bar, in_epoch, p->steps_per_epoch, loss, lr, ips, eta);
    fflush(stderr);
}

void rn_progress_clear(const RnProgress *p)
{
    if (p->tty && !rn_quiet)
        fprintf(stderr, "\r\033[K");
}

void rn_progress_epoch(const RnProgress *p, const RnMetricRecord *rec, bool has_test)
{
    if (rn_quiet)
        return;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    char test[96] = "";
    if (has_test)
        snprintf(test, sizeof test, "  test loss %.4f err %.2f%%", rec->test_loss, 100 * rec->test_err);
    fprintf(stderr, "%s: epoch %u/%d step %" PRIu64 " lr %.4g  train loss %.4f err %.2f%%%s  %.1f s %.0f img/s\n",
            rn_prog(), rec->epoch, p->epochs, rec->iteration, rec->lr, rec->train_loss, 100 * rec->train_err, test,
            rec->seconds, rec->images_per_sec);
}
