/* Where a training step's time goes, op by op (bench_step --ops).
 *
 * A backend is a table of function pointers, so op_timer_install swaps each
 * entry the executor calls in a step for a wrapper that syncs the device,
 * times the real entry and adds the time to a row named by the op and its
 * shape ("unit_bwd 16->16 32x32 s1 +res"). Ops that call other entries of
 * the table (a unit_bwd falling back to its three ops) are counted once, as
 * the outer op. The table is process-wide: one timed backend per process,
 * which is what bench_step needs. Included by bench_step.c only. */
#ifndef RN_OP_TIMER_H
#define RN_OP_TIMER_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "err.h"

enum { OP_ROWS = 256, OP_KEY = 64 };

static struct {
    RnBackend real;   /* the entries before wrapping */
    int depth;        /* ops in progress: only the outermost is counted */
    int rows;
    char key[OP_ROWS][OP_KEY];
    double seconds[OP_ROWS];
    long calls[OP_ROWS];
} op_timer;

/* wall-clock seconds (bench_step's clock too) */
static double wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double op_begin(RnBackend *be)
{
    if (op_timer.depth++ == 0)
        op_timer.real.sync(be);   /* a GPU's queue holds earlier ops: not this one's time */
    return wall_seconds();
}

static void op_end(RnBackend *be, double t0, const char *key)
{
    if (--op_timer.depth > 0)
        return;
    op_timer.real.sync(be);
    const double dt = wall_seconds() - t0;
    int r = 0;
    while (r < op_timer.rows && strcmp(op_timer.key[r], key) != 0)
        r++;
    if (r == op_timer.rows) {
        if (r == OP_ROWS)
            rn_die("internal error: more than %d kinds of op to time", OP_ROWS);
        snprintf(op_timer.key[r], OP_KEY, "%s", key);
        op_timer.rows++;
    }
    op_timer.seconds[r] += dt;
    op_timer.calls[r]++;
}

static void conv_key(char *key, const char *op, const RnConvDims *d, int residual)
{
    snprintf(key, OP_KEY, "%s %d->%d %dx%d s%d%s", op, d->in_c, d->out_c, d->in_h, d->in_w, d->stride,
             residual ? " +res" : "");
}

/* The three convolution entries share one signature: one timed call serves them. */
typedef void ConvEntry(RnBackend *be, const RnConvDims *d, const float *a, const float *b, float *out);

static void timed_conv(ConvEntry *entry, const char *op, RnBackend *be, const RnConvDims *d, const float *a,
                       const float *b, float *out)
{
    char key[OP_KEY];
    conv_key(key, op, d, 0);
    double t0 = op_begin(be);
    entry(be, d, a, b, out);
    op_end(be, t0, key);
}

static void t_conv_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w, float *y)
{
    timed_conv(op_timer.real.conv_fwd, "conv_fwd", be, d, x, w, y);
}

static void t_conv_bwd_data(RnBackend *be, const RnConvDims *d, const float *dy, const float *w, float *dx)
{
    timed_conv(op_timer.real.conv_bwd_data, "conv_bwd_data", be, d, dy, w, dx);
}

static void t_conv_bwd_filter(RnBackend *be, const RnConvDims *d, const float *x, const float *dy, float *dw)
{
    timed_conv(op_timer.real.conv_bwd_filter, "conv_bwd_filter", be, d, x, dy, dw);
}

static void t_conv_bn_train_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w,
                                const float *gamma, const float *beta, const float *residual, int relu,
                                float momentum, float eps, float *running_mean, float *running_var,
                                float *save_mean, float *save_invstd, float *pre, float *y)
{
    char key[OP_KEY];
    conv_key(key, "conv_bn_train_fwd", d, residual != NULL);
    double t0 = op_begin(be);
    op_timer.real.conv_bn_train_fwd(be, d, x, w, gamma, beta, residual, relu, momentum, eps, running_mean,
                                    running_var, save_mean, save_invstd, pre, y);
    op_end(be, t0, key);
}

static int t_unit_bwd(RnBackend *be, const RnUnitGrad *u, const float *dy)
{
    char key[OP_KEY];
    conv_key(key, u->dx ? "unit_bwd" : "unit_bwd (no dx)", &u->conv, u->dresidual != NULL);
    double t0 = op_begin(be);
    int gathered = op_timer.real.unit_bwd(be, u, dy);
    op_end(be, t0, key);
    return gathered;
}

static void t_bn_fwd_train(RnBackend *be, RnDims d, const float *x, const float *gamma, const float *beta,
                           const float *residual, int relu, float momentum, float eps, float *running_mean,
                           float *running_var, float *save_mean, float *save_invstd, float *y)
{
    char key[OP_KEY];
    snprintf(key, OP_KEY, "bn_fwd_train %d %dx%d%s", d.c, d.h, d.w, residual ? " +res" : "");
    double t0 = op_begin(be);
    op_timer.real.bn_fwd_train(be, d, x, gamma, beta, residual, relu, momentum, eps, running_mean, running_var,
                               save_mean, save_invstd, y);
    op_end(be, t0, key);
}

static void t_bn_bwd(RnBackend *be, RnDims d, const float *x, const float *y, const float *dy, const float *gamma,
                     const float *beta, const float *save_mean, const float *save_invstd, int relu, float *dx,
                     float *dgamma, float *dbeta, float *dresidual)
{
    char key[OP_KEY];
    snprintf(key, OP_KEY, "bn_bwd %d %dx%d%s", d.c, d.h, d.w, dresidual ? " +res" : "");
    double t0 = op_begin(be);
    op_timer.real.bn_bwd(be, d, x, y, dy, gamma, beta, save_mean, save_invstd, relu, dx, dgamma, dbeta, dresidual);
    op_end(be, t0, key);
}

static void t_shortcut_pad_fwd(RnBackend *be, RnDims in, int out_c, const float *x, float *y)
{
    double t0 = op_begin(be);
    op_timer.real.shortcut_pad_fwd(be, in, out_c, x, y);
    op_end(be, t0, "shortcut_pad_fwd");
}

static void t_shortcut_pad_bwd(RnBackend *be, RnDims in, int out_c, const float *dy, float *dx)
{
    double t0 = op_begin(be);
    op_timer.real.shortcut_pad_bwd(be, in, out_c, dy, dx);
    op_end(be, t0, "shortcut_pad_bwd");
}

static void t_add(RnBackend *be, float *dst, const float *src, size_t n)
{
    double t0 = op_begin(be);
    op_timer.real.add(be, dst, src, n);
    op_end(be, t0, "add");
}

static void t_avgpool_fwd(RnBackend *be, RnDims in, const float *x, float *y)
{
    double t0 = op_begin(be);
    op_timer.real.avgpool_fwd(be, in, x, y);
    op_end(be, t0, "avgpool_fwd");
}

static void t_avgpool_bwd(RnBackend *be, RnDims in, const float *dy, float *dx)
{
    double t0 = op_begin(be);
    op_timer.real.avgpool_bwd(be, in, dy, dx);
    op_end(be, t0, "avgpool_bwd");
}

static void t_fc_fwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *b, float *y)
{
    double t0 = op_begin(be);
    op_timer.real.fc_fwd(be, n, in, out, x, w, b, y);
    op_end(be, t0, "fc_fwd");
}

static void t_fc_bwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *dy,
                     float *dx, float *dw, float *db)
{
    double t0 = op_begin(be);
    op_timer.real.fc_bwd(be, n, in, out, x, w, dy, dx, dw, db);
    op_end(be, t0, "fc_bwd");
}

static void t_xent(RnBackend *be, int n, int classes, const float *logits, const int32_t *labels, float *dlogits,
                   float *stats, int step)
{
    double t0 = op_begin(be);
    op_timer.real.xent(be, n, classes, logits, labels, dlogits, stats, step);
    op_end(be, t0, "xent");
}

static void t_sgd(RnBackend *be, size_t n, float *w, const float *grad, float *buf, float lr, float momentum,
                  float wd)
{
    double t0 = op_begin(be);
    op_timer.real.sgd(be, n, w, grad, buf, lr, momentum, wd);
    op_end(be, t0, "sgd");
}

/* Wraps the entries a training step calls (the optional fused ones only where
 * the backend has them, so the executor takes the same path as unwrapped). */
static void op_timer_install(RnBackend *be)
{
    op_timer.real = *be;
    be->conv_fwd = t_conv_fwd;
    be->conv_bwd_data = t_conv_bwd_data;
    be->conv_bwd_filter = t_conv_bwd_filter;
    if (be->conv_bn_train_fwd)
        be->conv_bn_train_fwd = t_conv_bn_train_fwd;
    if (be->unit_bwd)
        be->unit_bwd = t_unit_bwd;
    be->bn_fwd_train = t_bn_fwd_train;
    be->bn_bwd = t_bn_bwd;
    be->shortcut_pad_fwd = t_shortcut_pad_fwd;
    be->shortcut_pad_bwd = t_shortcut_pad_bwd;
    be->add = t_add;
    be->avgpool_fwd = t_avgpool_fwd;
    be->avgpool_bwd = t_avgpool_bwd;
    be->fc_fwd = t_fc_fwd;
    be->fc_bwd = t_fc_bwd;
    be->xent = t_xent;
    be->sgd = t_sgd;
}

/* Puts the real entries back. */
static void op_timer_remove(RnBackend *be)
{
    *be = op_timer.real;
}

/* The rows in the order the step first ran them: milliseconds per step and
 * share of the step's wall time (the rest: the executor, host work). */
static void op_timer_print(FILE *f, int steps, double step_seconds)
{
    double ops = 0;
    fprintf(f, "%-44s %10s %6s %8s\n", "op, in->out channels, input plane, stride", "ms/step", "share",
            "calls");
    for (int r = 0; r < op_timer.rows; r++) {
        const double per_step = op_timer.seconds[r] / steps;
        ops += op_timer.seconds[r];
        fprintf(f, "%-44s %10.3f %5.1f%% %8ld\n", op_timer.key[r], 1e3 * per_step, 100 * per_step / step_seconds,
                op_timer.calls[r] / steps);
    }
    fprintf(f, "%-44s %10.3f %5.1f%%\n", "all timed ops", 1e3 * ops / steps, 100 * ops / steps / step_seconds);
    fprintf(f, "%-44s %10.3f\n", "training step", 1e3 * step_seconds);
}

#endif
