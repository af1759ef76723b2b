/* The CPU reference layers (kernels/cpu/ref_*.c, batch.c), checked three ways:
 *
 * 1. Finite differences: every backward against its own forward. The scalar is
 *    L = sum_k r[k] * y[k] with fixed random r (so dL/dy = r is the dy fed to
 *    backward), summed in double. Each input value p is moved to p+h and p-h
 *    and the numeric derivative (L(p+h) - L(p-h)) / ((p+h) - (p-h)) (the
 *    denominator uses the float values actually stored) must match the
 *    analytic one within |num - ana| <= atol + rtol*|num|.
 *    Steps and tolerances (why):
 *    - linear ops (conv, shortcut, pool, fc): a central difference of a linear
 *      function has no truncation error, so the step is large (h = 0.5) and
 *      only float rounding of y remains: ~1e-7 * sqrt(#outputs) / (2h), far
 *      under atol = 1e-4, rtol = 1e-4 (worst seen ~1% of that);
 *    - BN (h = 1e-2) and cross-entropy (h = 1e-2): truncation h^2/6 * f''' is
 *      ~1e-5 for O(1) inputs and rounding ~1e-7 * sqrt(#outputs) / 2h ~ 2e-5,
 *      so atol = 5e-4, rtol = 2e-3 (the worst error seen is ~5% of that; each
 *      check prints its worst error as a fraction of the tolerance);
 *    - ReLU: a difference across the kink measures neither side, so a value
 *      whose +-h moves flip the ReLU pattern of y is skipped (counted; at most
 *      a quarter may be skipped, else the check fails).
 * 2. Exact values worked by hand: cross-entropy of known logits, the SGD rule,
 *    BN running statistics (unbiased variance), eval-mode BN, the option-A
 *    shortcut, and a hand-made dataset through load_batch.
 * 3. Thread-count independence: the same ops with 1, 2 and 3 threads give the
 *    same bits (reference and fast backends).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "rng.h"
#include "test.h"

static RnBackend *be;   /* the reference backend, 2 threads */

/* ---------------------------------------------------------------- helpers */

static float *fvec(size_t n) { return rn_xcalloc(n ? n : 1, sizeof(float)); }

/* Uniform values in [lo, hi) from the test stream `stream` (reproducible). */
static void fill(float *p, size_t n, float lo, float hi, uint32_t stream)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t r[4];
        rn_random4(12345, RN_RNG_TEST, stream, (uint32_t)i, r);
        p[i] = lo + (hi - lo) * rn_u01f(r[0]);
    }
}

static double dot(const float *r, const float *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)r[i] * y[i];
    return s;
}

/* Which outputs the ReLU passed, as a hash: a change means a kink was crossed. */
static uint64_t relu_signature(const float *y, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint64_t)(y[i] > 0.0f)) * 1099511628211ull;
    return h;
}

typedef double (*LossFn)(void *ctx, uint64_t *sig);

static void grad_check(const char *what, LossFn loss, void *ctx, float *param, size_t n,
                       const float *analytic, float h, double atol, double rtol)
{
    uint64_t sig0, sig_up, sig_dn;
    loss(ctx, &sig0);
    size_t bad = 0, skipped = 0;
    double worst = 0.0;   /* largest |num - ana| / (atol + rtol*|num|) */
    for (size_t k = 0; k < n; k++) {
        const float orig = param[k];
        param[k] = orig + h;
        const float up = param[k];
        const double l_up = loss(ctx, &sig_up);
        param[k] = orig - h;
        const float dn = param[k];
        const double l_dn = loss(ctx, &sig_dn);
        param[k] = orig;
        if (sig_up != sig0 || sig_dn != sig0) {
            skipped++;
            continue;
        }
        const double num = (l_up - l_dn) / ((double)up - (double)dn);
        const double ratio = fabs(num - analytic[k]) / (atol + rtol * fabs(num));
        if (!(ratio <= 1.0))
            bad++;
        if (ratio > worst || isnan(ratio))
            worst = ratio;
    }
    loss(ctx, &sig0);   /* leave the forward state as it was at the base point */
    CHECK(bad == 0 && skipped * 4 <= n,
          "%s: %zu gradients match central differences (h=%g, atol=%g, rtol=%g; worst %.2f of "
          "tolerance; %zu skipped at a ReLU kink)",
          what, n - skipped, h, atol, rtol, worst, skipped);
}

static const double LIN_ATOL = 1e-4, LIN_RTOL = 1e-4;   /* linear ops, h = 0.5 */
static const double NL_ATOL = 5e-4, NL_RTOL = 2e-3;     /* BN and xent, h = 1e-2 */

/* ---------------------------------------------------------------- convolution */

typedef struct {
    RnConvDims d;
    float *x, *w, *y, *r;
} ConvCase;

static size_t conv_in(const RnConvDims *d) { return (size_t)d->n * d->in_c * d->in_h * d->in_w; }
static size_t conv_out(const RnConvDims *d) { return (size_t)d->n * d->out_c * d->out_h * d->out_w; }
static size_t conv_w(const RnConvDims *d) { return (size_t)d->out_c * d->in_c * d->kernel * d->kernel; }

static double conv_loss(void *ctx, uint64_t *sig)
{
    ConvCase *c = ctx;
    be->conv_fwd(be, &c->d, c->x, c->w, c->y);
    *sig = 0;
    return dot(c->r, c->y, conv_out(&c->d));
}

/* Checks the forward against the definition summed in double, then both
 * backward operations by finite differences. */
static void test_conv(int kernel, int stride, int pad)
{
    ConvCase c = {.d = {.n = 2, .in_c = 3, .in_h = 5, .in_w = 6, .out_c = 4,
                        .kernel = kernel, .stride = stride, .pad = pad}};
    RnConvDims *d = &c.d;
    d->out_h = (d->in_h + 2 * pad - kernel) / stride + 1;
    d->out_w = (d->in_w + 2 * pad - kernel) / stride + 1;
    c.x = fvec(conv_in(d));
    c.w = fvec(conv_w(d));
    c.y = fvec(conv_out(d));
    c.r = fvec(conv_out(d));
    fill(c.x, conv_in(d), -1, 1, 1);
    fill(c.w, conv_w(d), -1, 1, 2);
    fill(c.r, conv_out(d), -1, 1, 3);
    char what[64];
    snprintf(what, sizeof what, "conv %dx%d stride %d pad %d", kernel, kernel, stride, pad);

    be->conv_fwd(be, d, c.x, c.w, c.y);
    double worst = 0.0;
    for (int n = 0; n < d->n; n++)
        for (int o = 0; o < d->out_c; o++)
            for (int oh = 0; oh < d->out_h; oh++)
                for (int ow = 0; ow < d->out_w; ow++) {
                    double s = 0.0;
                    for (int i = 0; i < d->in_c; i++)
                        for (int kh = 0; kh < kernel; kh++)
                            for (int kw = 0; kw < kernel; kw++) {
                                const int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w)
                                    continue;
                                s += (double)c.w[((o * d->in_c + i) * kernel + kh) * kernel + kw] *
                                     c.x[((n * d->in_c + i) * d->in_h + ih) * d->in_w + iw];
                            }
                    const double e = fabs(s - c.y[((n * d->out_c + o) * d->out_h + oh) * d->out_w + ow]);
                    worst = e > worst ? e : worst;
                }
    CHECK(worst < 1e-5, "%s forward (out %dx%d) equals the definition (max |err| %.2g)", what,
          d->out_h, d->out_w, worst);

    float *dx = fvec(conv_in(d)), *dw = fvec(conv_w(d));
    for (size_t i = 0; i < conv_in(d); i++)
        dx[i] = NAN;   /* outputs are overwritten, never accumulated */
    for (size_t i = 0; i < conv_w(d); i++)
        dw[i] = NAN;
    be->conv_bwd_data(be, d, c.r, c.w, dx);
    be->conv_bwd_filter(be, d, c.x, c.r, dw);
    char name[96];
    snprintf(name, sizeof name, "%s bwd data", what);
    grad_check(name, conv_loss, &c, c.x, conv_in(d), dx, 0.5f, LIN_ATOL, LIN_RTOL);
    snprintf(name, sizeof name, "%s bwd filter", what);
    grad_check(name, conv_loss, &c, c.w, conv_w(d), dw, 0.5f, LIN_ATOL, LIN_RTOL);
    free(c.x), free(c.w), free(c.y), free(c.r), free(dx), free(dw);
}

/* ---------------------------------------------------------------- batch norm */

typedef struct {
    RnDims d;
    int relu;
    float *x, *gamma, *beta, *res, *y, *r;
    float *run_mean, *run_var, *save_mean, *save_invstd;
} BnCase;

static size_t dims_count(RnDims d) { return (size_t)d.n * d.c * d.h * d.w; }

static double bn_loss(void *ctx, uint64_t *sig)
{
    BnCase *b = ctx;
    be->bn_fwd_train(be, b->d, b->x, b->gamma, b->beta, b->res, b->relu, 0.1f, 1e-5f, b->run_mean,
                     b->run_var, b->save_mean, b->save_invstd, b->y);
    *sig = b->relu ? relu_signature(b->y, dims_count(b->d)) : 0;
    return dot(b->r, b->y, dims_count(b->d));
}

static void test_bn_grad(int with_residual, int relu)
{
    BnCase b = {.d = {.n = 3, .c = 2, .h = 3, .w = 3}, .relu = relu};
    const size_t count = dims_count(b.d), C = (size_t)b.d.c;
    b.x = fvec(count), b.y = fvec(count), b.r = fvec(count);
    b.res = with_residual ? fvec(count) : NULL;
    b.gamma = fvec(C), b.beta = fvec(C), b.run_mean = fvec(C), b.run_var = fvec(C);
    b.save_mean = fvec(C), b.save_invstd = fvec(C);
    fill(b.x, count, -1.2f, 1.8f, 10);
    fill(b.gamma, C, 0.5f, 1.5f, 11);
    fill(b.beta, C, -0.5f, 0.5f, 12);
    fill(b.r, count, -1, 1, 13);
    if (b.res)
        fill(b.res, count, -1, 1, 14);

    uint64_t sig;
    bn_loss(&b, &sig);   /* y and the saved statistics at the base point */
    float *dx = fvec(count), *dgamma = fvec(C), *dbeta = fvec(C), *dres = b.res ? fvec(count) : NULL;
    for (size_t i = 0; i < count; i++)
        dx[i] = NAN;
    be->bn_bwd(be, b.d, b.x, b.y, b.r, b.gamma, b.beta, b.save_mean, b.save_invstd, relu, dx, dgamma, dbeta,
               dres);

    char what[96];
    const char *form = with_residual ? (relu ? "relu(bn(x) + res)" : "bn(x) + res")
                                     : (relu ? "relu(bn(x))" : "bn(x)");
    snprintf(what, sizeof what, "bn train %s: dx", form);
    grad_check(what, bn_loss, &b, b.x, count, dx, 1e-2f, NL_ATOL, NL_RTOL);
    snprintf(what, sizeof what, "bn train %s: dgamma", form);
    grad_check(what, bn_loss, &b, b.gamma, C, dgamma, 1e-2f, NL_ATOL, NL_RTOL);
    snprintf(what, sizeof what, "bn train %s: dbeta", form);
    grad_check(what, bn_loss, &b, b.beta, C, dbeta, 1e-2f, NL_ATOL, NL_RTOL);
    if (b.res) {
        snprintf(what, sizeof what, "bn train %s: dresidual", form);
        grad_check(what, bn_loss, &b, b.res, count, dres, 1e-2f, NL_ATOL, NL_RTOL);
    }
    free(b.x), free(b.y), free(b.r), free(b.res), free(b.gamma), free(b.beta);
    free(b.run_mean), free(b.run_var), free(b.save_mean), free(b.save_invstd);
    free(dx), free(dgamma), free(dbeta), free(dres);
}

/* Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3);
 * channel 1 is constant 5 (var 0: the output is beta, invstd = 1/sqrt(eps)). */
static void test_bn_exact(void)
{
    const RnDims d = {.n = 2, .c = 2, .h = 1, .w = 2};
    const float x[8] = {1, 2, 5, 5, 3, 4, 5, 5};   /* [n][c][w] */
    const float gamma[2] = {2.0f, 1.0f}, beta[2] = {0.5f, -0.25f};
    float run_mean[2] = {0.0f, 1.0f}, run_var[2] = {1.0f, 2.0f}, mean[2], invstd[2], y[8];

    be->bn_fwd_train(be, d, x, gamma, beta, NULL, 0, 0.1f, 1e-5f, run_mean, run_var, mean, invstd, y);
    CHECK(test_close(mean[0], 2.5, 1e-7, 0) && test_close(invstd[0], 0.894423613312618, 0, 1e-6),
          "bn train: batch mean 2.5 and invstd 1/sqrt(1.25 + 1e-5) (biased variance) saved");
    CHECK(test_close(run_mean[0], 0.25, 0, 1e-6) && test_close(run_var[0], 1.0666666666666667, 0, 1e-6),
          "bn train: running mean 0.9*0 + 0.1*2.5, running var 0.9*1 + 0.1*5/3 (unbiased)");
    CHECK(test_close(run_mean[1], 0.9 + 0.5, 0, 1e-6) && test_close(run_var[1], 1.8, 0, 1e-6),
          "bn train: constant channel: running mean 0.9*1 + 0.1*5, running var 0.9*2 + 0");
    const double expect0[4] = {-2.1832708399378538, -0.394423613312618, 1.394423613312618,
                               3.1832708399378538};
    const int idx0[4] = {0, 1, 4, 5};
    int ok = 1;
    for (int k = 0; k < 4; k++)
        ok &= test_close(y[idx0[k]], expect0[k], 1e-6, 1e-6);
    CHECK(ok, "bn train: y = 2*(x - 2.5)*invstd + 0.5 for x = 1..4");
    CHECK(y[2] == -0.25f && y[3] == -0.25f && y[6] == -0.25f && y[7] == -0.25f,
          "bn train: a constant channel gives exactly beta");

    const float res[8] = {0, 3, 0, 0, 0, -4, 0, 0};
    be->bn_fwd_train(be, d, x, gamma, beta, res, 1, 0.1f, 1e-5f, run_mean, run_var, mean, invstd, y);
    CHECK(y[0] == 0.0f && test_close(y[1], -0.394423613312618 + 3, 1e-6, 1e-6) &&
              test_close(y[4], 1.394423613312618, 1e-6, 1e-6) && y[5] == 0.0f && y[2] == 0.0f,
          "bn train: relu(bn(x) + residual) adds before the ReLU and clamps negatives to 0");

    /* Eval: x = 1 and 3 with running mean 2, var 4, gamma 3, beta 1. */
    const RnDims e = {.n = 1, .c = 1, .h = 1, .w = 2};
    const float ex[2] = {1, 3}, eg[1] = {3}, eb[1] = {1}, erm[1] = {2}, erv[1] = {4}, eres[2] = {0.25f, -3};
    float ey[2];
    be->bn_fwd_eval(be, e, ex, eg, eb, NULL, 0, erm, erv, 1e-5f, ey);
    CHECK(test_close(ey[0], -0.4999981250035157, 1e-7, 1e-6) &&
              test_close(ey[1], 2.4999981250035157, 1e-7, 1e-6),
          "bn eval: 3*(x - 2)/sqrt(4 + 1e-5) + 1 uses the running statistics");
    be->bn_fwd_eval(be, e, ex, eg, eb, eres, 0, erm, erv, 1e-5f, ey);
    CHECK(test_close(ey[0], -0.2499981250035157, 1e-7, 1e-6) &&
              test_close(ey[1], -0.5000018749964843, 1e-7, 1e-6),
          "bn eval: with residual (0.25, -3)");
    be->bn_fwd_eval(be, e, ex, eg, eb, eres, 1, erm, erv, 1e-5f, ey);
    CHECK(ey[0] == 0.0f && ey[1] == 0.0f, "bn eval: with residual and ReLU both clamp to 0");

    /* Eval with two channels: each uses its own running statistics. Channel 0:
     * mean 2, var 4, gamma 3, beta 1; channel 1: mean -1, var 0.25, gamma 1, beta 0. */
    const RnDims e2 = {.n = 1, .c = 2, .h = 1, .w = 2};
    const float x2[4] = {1, 3, 0, -2}, g2[2] = {3, 1}, b2[2] = {1, 0}, rm2[2] = {2, -1}, rv2[2] = {4, 0.25f};
    float y2[4];
    be->bn_fwd_eval(be, e2, x2, g2, b2, NULL, 0, rm2, rv2, 1e-5f, y2);
    CHECK(test_close(y2[0], -0.4999981250035157, 1e-7, 1e-6) && test_close(y2[1], 2.4999981250035157, 1e-7, 1e-6) &&
              test_close(y2[2], 1.0 / sqrt(0.25 + 1e-5), 1e-7, 1e-6) &&
              test_close(y2[3], -1.0 / sqrt(0.25 + 1e-5), 1e-7, 1e-6),
          "bn eval, two channels: each normalised by its own running mean and variance");
}

/* ---------------------------------------------------------------- shortcut, pool, fc */

typedef struct {
    RnDims in;
    int out_c;
    float *x, *y, *r;
} ShortcutCase;

static size_t shortcut_out(const ShortcutCase *s)
{
    return (size_t)s->in.n * s->out_c * ((s->in.h + 1) / 2) * ((s->in.w + 1) / 2);
}

static double shortcut_loss(void *ctx, uint64_t *sig)
{
    ShortcutCase *s = ctx;
    be->shortcut_pad_fwd(be, s->in, s->out_c, s->x, s->y);
    *sig = 0;
    return dot(s->r, s->y, shortcut_out(s));
}

static void test_shortcut(void)
{
    ShortcutCase s = {.in = {.n = 2, .c = 2, .h = 5, .w = 4}, .out_c = 4};
    const size_t nin = dims_count(s.in), nout = shortcut_out(&s);   /* out 3 x 2 */
    s.x = fvec(nin), s.y = fvec(nout), s.r = fvec(nout);
    fill(s.x, nin, -1, 1, 20);
    fill(s.r, nout, -1, 1, 21);

    be->shortcut_pad_fwd(be, s.in, s.out_c, s.x, s.y);
    int ok = 1;
    for (int n = 0; n < 2; n++)
        for (int oc = 0; oc < 4; oc++)
            for (int h = 0; h < 3; h++)
                for (int w = 0; w < 2; w++) {
                    const float got = s.y[((n * 4 + oc) * 3 + h) * 2 + w];
                    const int j = oc - 1;   /* pad (4 - 2)/2 = 1 channel on each side */
                    const float want = (j < 0 || j >= 2) ? 0.0f : s.x[((n * 2 + j) * 5 + 2 * h) * 4 + 2 * w];
                    ok &= got == want;
                }
    CHECK(ok, "shortcut A: 2 -> 4 channels, 5x4 -> 3x2: x[:, :, ::2, ::2] in channels 1..2, zeros in 0 and 3");

    /* The backward accumulates: start from 1 and subtract it again. */
    float *dx = fvec(nin);
    for (size_t i = 0; i < nin; i++)
        dx[i] = 1.0f;
    be->shortcut_pad_bwd(be, s.in, s.out_c, s.r, dx);
    for (size_t i = 0; i < nin; i++)
        dx[i] -= 1.0f;
    grad_check("shortcut A bwd (accumulating into dx)", shortcut_loss, &s, s.x, nin, dx, 0.5f, LIN_ATOL,
               LIN_RTOL);
    free(s.x), free(s.y), free(s.r), free(dx);

    float a[5] = {1, 2, 3, 4, 5};
    const float b[5] = {0.5f, -2, 0, 1e-3f, 10};
    be->add(be, a, b, 5);
    CHECK(a[0] == 1.5f && a[1] == 0.0f && a[2] == 3.0f && a[3] == 4.001f && a[4] == 15.0f,
          "add: dst += src");
}

typedef struct {
    RnDims in;
    float *x, *y, *r;
} PoolCase;

static double pool_loss(void *ctx, uint64_t *sig)
{
    PoolCase *p = ctx;
    be->avgpool_fwd(be, p->in, p->x, p->y);
    *sig = 0;
    return dot(p->r, p->y, (size_t)p->in.n * p->in.c);
}

static void test_pool(void)
{
    PoolCase p = {.in = {.n = 2, .c = 3, .h = 4, .w = 4}};
    const size_t nin = dims_count(p.in), nout = (size_t)p.in.n * p.in.c;
    p.x = fvec(nin), p.y = fvec(nout), p.r = fvec(nout);
    for (size_t i = 0; i < nin; i++)
        p.x[i] = (float)(i % 16);   /* every plane 0..15: mean 7.5 */
    be->avgpool_fwd(be, p.in, p.x, p.y);
    int ok = 1;
    for (size_t i = 0; i < nout; i++)
        ok &= p.y[i] == 7.5f;
    CHECK(ok, "avgpool: the mean of 0..15 is 7.5 in every plane");
    fill(p.x, nin, -1, 1, 30);
    fill(p.r, nout, -1, 1, 31);
    float *dx = fvec(nin);
    be->avgpool_bwd(be, p.in, p.r, dx);
    grad_check("avgpool bwd", pool_loss, &p, p.x, nin, dx, 0.5f, LIN_ATOL, LIN_RTOL);
    free(p.x), free(p.y), free(p.r), free(dx);
}

typedef struct {
    int n, in, out;
    float *x, *w, *b, *y, *r;
} FcCase;

static double fc_loss(void *ctx, uint64_t *sig)
{
    FcCase *f = ctx;
    be->fc_fwd(be, f->n, f->in, f->out, f->x, f->w, f->b, f->y);
    *sig = 0;
    return dot(f->r, f->y, (size_t)f->n * f->out);
}

static void test_fc(void)
{
    FcCase f = {.n = 3, .in = 5, .out = 4};
    f.x = fvec(15), f.w = fvec(20), f.b = fvec(4), f.y = fvec(12), f.r = fvec(12);
    fill(f.x, 15, -1, 1, 40);
    fill(f.w, 20, -1, 1, 41);
    fill(f.b, 4, -1, 1, 42);
    fill(f.r, 12, -1, 1, 43);
    be->fc_fwd(be, f.n, f.in, f.out, f.x, f.w, f.b, f.y);
    double want = f.b[2];
    for (int i = 0; i < 5; i++)
        want += (double)f.x[5 + i] * f.w[2 * 5 + i];
    CHECK(test_close(f.y[1 * 4 + 2], want, 1e-6, 1e-6), "fc: y[1][2] = b[2] + x[1] . w[2]");
    float *dx = fvec(15), *dw = fvec(20), *db = fvec(4);
    be->fc_bwd(be, f.n, f.in, f.out, f.x, f.w, f.r, dx, dw, db);
    grad_check("fc bwd dx", fc_loss, &f, f.x, 15, dx, 0.5f, LIN_ATOL, LIN_RTOL);
    grad_check("fc bwd dw", fc_loss, &f, f.w, 20, dw, 0.5f, LIN_ATOL, LIN_RTOL);
    grad_check("fc bwd db", fc_loss, &f, f.b, 4, db, 0.5f, LIN_ATOL, LIN_RTOL);
    free(f.x), free(f.w), free(f.b), free(f.y), free(f.r), free(dx), free(dw), free(db);
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct {
    int n, classes;
    float *logits;
    int32_t *labels;
} XentCase;

static double xent_loss(void *ctx, uint64_t *sig)
{
    XentCase *c = ctx;
    float stats[3] = {0, 0, -1};
    be->xent(be, c->n, c->classes, c->logits, c->labels, NULL, stats, 0);
    *sig = 0;
    return (double)stats[0] / c->n;   /* the mean loss, whose gradient dlogits is */
}

static void test_xent(void)
{
    /* Known logits. Sample 0: log(e + e^2 + e^3) - 3 = 0.40760596; sample 1: a
     * naive exp(1000) overflows, the stable form gives exactly 1000 and the
     * argmax (0) is wrong; sample 2: ties, loss log 3, the first maximum (0) is
     * the label, so it counts as correct. */
    const float logits[9] = {1, 2, 3, 1000, 0, -1000, 0, 0, 0};
    const int32_t labels[3] = {2, 1, 0};
    float stats[3] = {0, 0, -1}, dl[9];
    be->xent(be, 3, 3, logits, labels, dl, stats, 5);
    CHECK(test_close(stats[0], 0.40760596444438013 + 1000 + 1.0986122886681098, 0, 1e-7),
          "xent: sum of losses 0.4076 + 1000 + log 3 (stable for logits of 1000)");
    CHECK(stats[1] == 1.0f && stats[2] == -1.0f, "xent: one misclassified (ties go to the first class), no alarm");
    CHECK(test_close(dl[0], 0.09003057317038046 / 3, 1e-7, 1e-6) &&
              test_close(dl[1], 0.24472847105479767 / 3, 1e-7, 1e-6) &&
              test_close(dl[2], (0.6652409557748219 - 1) / 3, 1e-7, 1e-6),
          "xent: dlogits = (softmax - onehot) / N");
    CHECK(test_close(dl[3], 1.0 / 3, 1e-7, 1e-6) && test_close(dl[4], -1.0 / 3, 1e-7, 1e-6) && dl[5] == 0.0f,
          "xent: dlogits of the saturated sample");
    be->xent(be, 3, 3, logits, labels, NULL, stats, 6);
    CHECK(test_close(stats[0], 2 * (0.40760596444438013 + 1000 + 1.0986122886681098), 0, 1e-7) &&
              stats[1] == 2.0f,
          "xent: stats accumulate over calls; dlogits may be NULL");

    const float bad[6] = {0, NAN, 1, INFINITY, 0, 0};
    const int32_t bad_labels[2] = {0, 1};
    float alarm[3] = {0, 0, -1};
    be->xent(be, 1, 3, bad, bad_labels, NULL, alarm, 17);
    CHECK(alarm[2] == 17.0f, "xent: a NaN logit sets stats[2] to the step");
    be->xent(be, 1, 3, bad + 3, bad_labels + 1, NULL, alarm, 20);
    CHECK(alarm[2] == 17.0f, "xent: the first bad step is kept");
    float alarm2[3] = {0, 0, -1};
    be->xent(be, 1, 3, bad + 3, bad_labels + 1, NULL, alarm2, 3);
    CHECK(alarm2[2] == 3.0f, "xent: an infinite logit sets the alarm too");

    XentCase c = {.n = 4, .classes = 5};
    c.logits = fvec(20);
    c.labels = rn_xcalloc(4, sizeof *c.labels);
    fill(c.logits, 20, -3, 3, 50);
    for (int s = 0; s < 4; s++)
        c.labels[s] = (s * 3) % 5;
    float st[3] = {0, 0, -1}, *grad = fvec(20);
    be->xent(be, c.n, c.classes, c.logits, c.labels, grad, st, 0);
    grad_check("xent dlogits", xent_loss, &c, c.logits, 20, grad, 1e-2f, NL_ATOL, NL_RTOL);
    free(c.logits), free(c.labels), free(grad);
}

/* ---------------------------------------------------------------- SGD */

static void test_sgd(void)
{
    /* lr 0.1, momentum 0.9, wd 0.01. Element 0: w = 1, grad 0.5 twice:
     *   step 1: g = 0.5 + 0.01*1 = 0.51, buf = 0.51, w = 1 - 0.051 = 0.949
     *   step 2: g = 0.5 + 0.00949 = 0.50949, buf = 0.459 + 0.50949 = 0.96849,
     *           w = 0.949 - 0.096849 = 0.852151
     * Element 1: w = -2, grad 0 (decay alone):
     *   step 1: g = -0.02, buf = -0.02, w = -1.998
     *   step 2: g = -0.01998, buf = -0.018 - 0.01998 = -0.03798, w = -1.994202 */
    float w[2] = {1.0f, -2.0f}, buf[2] = {0, 0};
    const float grad[2] = {0.5f, 0.0f};
    be->sgd(be, 2, w, grad, buf, 0.1f, 0.9f, 0.01f);
    CHECK(test_close(w[0], 0.949, 0, 1e-6) && test_close(buf[0], 0.51, 0, 1e-6) &&
              test_close(w[1], -1.998, 0, 1e-6) && test_close(buf[1], -0.02, 0, 1e-6),
          "sgd step 1: buf = g = grad + wd*w, w -= lr*buf");
    be->sgd(be, 2, w, grad, buf, 0.1f, 0.9f, 0.01f);
    CHECK(test_close(w[0], 0.852151, 0, 1e-6) && test_close(buf[0], 0.96849, 0, 1e-6) &&
              test_close(w[1], -1.994202, 0, 1e-6) && test_close(buf[1], -0.03798, 0, 1e-6),
          "sgd step 2: buf = 0.9*buf + g");
}

/* ---------------------------------------------------------------- load_batch */

/* The expected image, built the long way: materialise the padded image, cut
 * the crop out of it, mirror it, then normalise. */
static void expected_image(const RnDataset *ds, uint32_t j, RnAug a, int pad, const RnBatchSpec *spec,
                           float *out)
{
    const int C = (int)ds->channels, H = (int)ds->height, W = (int)ds->width;
    const int PH = H + 2 * pad, PW = W + 2 * pad;
    uint8_t *padded = rn_xcalloc((size_t)C * PH * PW, 1);   /* black */
    uint8_t *crop = rn_xmalloc((size_t)C * H * W);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                padded[(c * PH + y + pad) * PW + x + pad] = ds->pixels[((j * C + c) * H + y) * W + x];
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                crop[(c * H + y) * W + x] = padded[(c * PH + y + a.dy) * PW + x + a.dx];
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t v = crop[(c * H + y) * W + (a.flip ? W - 1 - x : x)];
                out[(c * H + y) * W + x] = ((float)v / 255.0f - spec->mean[c]) / spec->std[c];
            }
    free(padded);
    free(crop);
}

static void test_load_batch(void)
{
    enum { C = 3, H = 32, W = 32, PAD = 4 };
    const size_t image = (size_t)C * H * W;
    RnDataset ds = {.count = 2, .channels = C, .height = H, .width = W, .classes = 10};
    ds.labels = (uint8_t[2]){3, 7};
    ds.pixels = rn_xmalloc(2 * image);
    for (size_t i = 0; i < 2 * image; i++)
        ds.pixels[i] = (uint8_t)(1 + (i * 37) % 255);   /* never 0: padding stands out */
    RnBatchSpec spec = {.augment = 1, .pad = PAD, .seed = 42,
                        .mean = {0.4914f, 0.4822f, 0.4465f}, .std = {0.2470f, 0.2435f, 0.2616f}};

    /* An epoch where image 1 is flipped and image 0 is not, both off-centre. */
    RnAug a0 = {0}, a1 = {0};
    for (spec.epoch = 0; spec.epoch < 100000; spec.epoch++) {
        a0 = rn_aug_for(spec.seed, spec.epoch, 0, PAD);
        a1 = rn_aug_for(spec.seed, spec.epoch, 1, PAD);
        if (!a0.flip && a1.flip && a0.dx != PAD && a0.dy != PAD && a1.dx != PAD && a1.dy != PAD)
            break;
    }
    be->set_dataset(be, RN_SLOT_TRAIN, &ds);
    const uint32_t order[2] = {1, 0};
    be->set_order(be, RN_SLOT_TRAIN, order, 2);
    float *x = fvec(2 * image), *want = fvec(2 * image);
    int32_t labels[2] = {-1, -1};
    be->load_batch(be, RN_SLOT_TRAIN, 0, 2, &spec, x, labels);
    expected_image(&ds, 1, a1, PAD, &spec, want);
    expected_image(&ds, 0, a0, PAD, &spec, want + image);
    CHECK(memcmp(x, want, 2 * image * sizeof(float)) == 0 && labels[0] == 7 && labels[1] == 3,
          "load_batch: order (1, 0), epoch %u: crop (%d,%d) flipped and (%d,%d) not, as pad+crop+flip "
          "built by hand; labels follow the order",
          spec.epoch, a1.dx, a1.dy, a0.dx, a0.dy);

    /* The black border: the crop of image 1 shows |dx-4| columns and |dy-4|
     * rows of padding, which normalise to -mean/std. */
    const float black = (0.0f - spec.mean[0]) / spec.std[0];
    int border = 0;
    for (size_t k = 0; k < (size_t)H * W; k++)
        border += x[k] == black;
    const int bx = abs(a1.dx - PAD), by = abs(a1.dy - PAD);
    CHECK(border == bx * H + by * W - bx * by, "load_batch: %d black pixels (value -mean/std) in channel 0",
          border);

    /* Without augmentation: image order[1] = 0, just normalised. */
    spec.augment = 0;
    be->load_batch(be, RN_SLOT_TRAIN, 1, 1, &spec, x, labels);
    int ok = labels[0] == 3;
    for (int c = 0; c < C; c++)
        for (size_t k = 0; k < (size_t)H * W; k++)
            ok &= x[c * H * W + k] ==
                  ((float)ds.pixels[c * H * W + k] / 255.0f - spec.mean[c]) / spec.std[c];
    CHECK(ok, "load_batch: no augmentation = (v/255 - mean)/std of image order[start]");

    /* A pad wider than the image: crops that hold no pixel of it, or a
     * corner, on both sides, flipped or not */
    spec.augment = 1;
    spec.pad = 40;
    const float black2 = (0.0f - spec.mean[2]) / spec.std[2];   /* channel 2's */
    int same = 1, blank = 0;
    for (spec.epoch = 0; spec.epoch < 40; spec.epoch++) {
        be->load_batch(be, RN_SLOT_TRAIN, 0, 2, &spec, x, labels);
        expected_image(&ds, 1, rn_aug_for(spec.seed, spec.epoch, 1, spec.pad), spec.pad, &spec, want);
        expected_image(&ds, 0, rn_aug_for(spec.seed, spec.epoch, 0, spec.pad), spec.pad, &spec, want + image);
        same &= memcmp(x, want, 2 * image * sizeof(float)) == 0;
        blank += x[0] == black && x[image - 1] == black2;
    }
    CHECK(same && blank > 0, "load_batch: pad 40 on 32x32 images, 40 epochs: %s pad+crop+flip built by hand "
          "(%d crops with black corners)", same ? "as" : "NOT as", blank);

    free(ds.pixels);
    free(x);
    free(want);
}

/* ---------------------------------------------------------------- threads */

/* Runs a set of ops on backend b and returns every output concatenated. */
typedef struct {
    float *buf;
    size_t used, cap;
} Outputs;

static float *take(Outputs *o, size_t n)
{
    if (o->used + n > o->cap)
        rn_die("test_layers: thread test buffer overrun");
    float *p = o->buf + o->used;
    o->used += n;
    return p;
}

static float *run_ops(RnBackend *b, size_t *len)
{
    const RnConvDims d = {.n = 4, .in_c = 8, .in_h = 8, .in_w = 8, .out_c = 8, .out_h = 8, .out_w = 8,
                          .kernel = 3, .stride = 1, .pad = 1};
    const RnConvDims d2 = {.n = 4, .in_c = 8, .in_h = 8, .in_w = 8, .out_c = 16, .out_h = 4, .out_w = 4,
                           .kernel = 3, .stride = 2, .pad = 1};
    const size_t act = conv_in(&d), wsz = conv_w(&d), wsz2 = conv_w(&d2), act2 = conv_out(&d2);
    const RnDims bd = {.n = 4, .c = 8, .h = 8, .w = 8};
    Outputs o = {.cap = 16 * act};
    o.buf = fvec(o.cap);
    float *x = fvec(act), *w = fvec(wsz), *w2 = fvec(wsz2), *r = fvec(act), *res = fvec(act), *r2 = fvec(act2);
    fill(x, act, -1, 1, 60);
    fill(w, wsz, -1, 1, 61);
    fill(w2, wsz2, -1, 1, 62);
    fill(r, act, -1, 1, 63);
    fill(res, act, -1, 1, 64);
    fill(r2, act2, -1, 1, 65);
    float g[8], beta[8], sm[8], si[8];
    fill(g, 8, 0.5f, 1.5f, 66);
    fill(beta, 8, -0.5f, 0.5f, 67);
    float *rm = take(&o, 8), *rv = take(&o, 8);

    b->conv_fwd(b, &d, x, w, take(&o, act));
    b->conv_bwd_data(b, &d, r, w, take(&o, act));
    b->conv_bwd_filter(b, &d, x, r, take(&o, wsz));
    b->conv_fwd(b, &d2, x, w2, take(&o, act2));
    b->conv_bwd_data(b, &d2, r2, w2, take(&o, act));
    b->conv_bwd_filter(b, &d2, x, r2, take(&o, wsz2));
    float *y = take(&o, act);
    b->bn_fwd_train(b, bd, x, g, beta, res, 1, 0.1f, 1e-5f, rm, rv, sm, si, y);
    b->bn_bwd(b, bd, x, y, r, g, beta, sm, si, 1, take(&o, act), take(&o, 8), take(&o, 8), take(&o, act));
    b->bn_fwd_eval(b, bd, x, g, beta, res, 1, rm, rv, 1e-5f, take(&o, act));
    /* fc: 4 samples of 512 features -> 10 classes */
    float *fw = fvec(10 * 512), fb[10];
    fill(fw, 10 * 512, -1, 1, 68);
    fill(fb, 10, -1, 1, 69);
    b->fc_fwd(b, 4, 512, 10, x, fw, fb, take(&o, 40));
    b->fc_bwd(b, 4, 512, 10, x, fw, r, take(&o, 4 * 512), take(&o, 10 * 512), take(&o, 10));
    free(fw);
    double sum, sumsq;
    b->moments(b, x, act, &sum, &sumsq);
    float *m = take(&o, 2);
    m[0] = (float)sum, m[1] = (float)sumsq;
    b->avgpool_fwd(b, bd, x, take(&o, 32));
    b->sgd(b, act, x, r, res, 0.1f, 0.9f, 1e-4f);
    memcpy(take(&o, act), x, act * sizeof(float));
    memcpy(take(&o, act), res, act * sizeof(float));
    *len = o.used;
    free(x), free(w), free(w2), free(r), free(res), free(r2);
    return o.buf;
}

static void test_threads(int reference)
{
    size_t len1, len;
    RnBackend *b1 = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 1, .reference = reference});
    float *one = run_ops(b1, &len1);
    rn_backend_destroy(b1);
    for (int t = 2; t <= 3; t++) {
        RnBackend *bt = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = t, .reference = reference});
        float *many = run_ops(bt, &len);
        CHECK(len == len1 && memcmp(one, many, len * sizeof(float)) == 0,
              "%s: conv (s1, s2) fwd/bwd, bn train/eval/bwd, fc, moments, avgpool, sgd: 1 and %d threads "
              "give the same bits",
              reference ? "cpu-ref" : "cpu", t);
        free(many);
        rn_backend_destroy(bt);
    }
    free(one);
}

/* ---------------------------------------------------------------- registry */

static void test_registry(void)
{
    char why[256] = "";
    const int have_gpu = rn_cuda_available(why, sizeof why);
    CHECK(have_gpu || why[0] != '\0', "rn_cuda_available: %s", have_gpu ? "a GPU is usable" : why);
    RnBackend *b = rn_backend_create(&(RnBackendOptions){.device = "cpu", .reference = 1});
    CHECK(strcmp(b->name, "cpu-ref") == 0, "device cpu + reference -> %s (%s)", b->name, b->description);
    rn_backend_destroy(b);
    b = rn_backend_create(&(RnBackendOptions){.device = "cpu"});
    CHECK(strcmp(b->name, "cpu") == 0, "device cpu -> %s", b->description);
    rn_backend_destroy(b);
    if (!have_gpu) {
        b = rn_backend_create(&(RnBackendOptions){.device = "auto", .threads = 1});
        CHECK(strcmp(b->name, "cpu") == 0 && strstr(b->description, "1 thread") != NULL,
              "device auto without a GPU -> %s", b->description);
        rn_backend_destroy(b);
    }
    b = rn_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2, .reference = 1});
    float *p = b->alloc(b, 1000);
    int zero = ((uintptr_t)p % 64) == 0;
    for (int i = 0; i < 250; i++)
        zero &= p[i] == 0.0f;
    const float src[3] = {1, 2, 3};
    float back[3];
    b->upload(b, p, src, sizeof src);
    b->download(b, back, p, sizeof back);
    CHECK(zero && back[2] == 3.0f, "alloc gives zeroed, 64-byte aligned memory; upload/download copy");
    b->release(b, p);
    rn_backend_destroy(b);
}

int main(void)
{
    rn_set_prog("test_layers");
    rn_quiet = 1;
    be = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2, .reference = 1});

    test_conv(3, 1, 1);
    test_conv(3, 2, 1);
    test_conv(1, 2, 0);
    for (int res = 0; res <= 1; res++)
        for (int relu = 0; relu <= 1; relu++)
            test_bn_grad(res, relu);
    test_bn_exact();
    test_shortcut();
    test_pool();
    test_fc();
    test_xent();
    test_sgd();
    test_load_batch();
    test_threads(1);
    test_threads(0);
    test_registry();

    rn_backend_destroy(be);
    return test_done();
}
