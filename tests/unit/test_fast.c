/* The CPU fast paths (kernels/cpu/fast_*.c) against plain double-precision
 * oracles written here, at every shape the nets use (batch 128) and odd ones
 * (batch 1, 80), plus bitwise equality across thread counts.
 *
 * Tolerances. The fast ops sum in fp32 in a blocked order. For a sum of terms
 * t_1..t_K computed as chains of at most L sequential fp32 additions (or FMAs),
 * the rounding error is at most about L*u*S with u = 2^-24 and S = sum |t_k|
 * (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1). The oracle
 * computes the exact value and S in double, and each op states its L:
 *   forward          L = Cin*k*k      (one FMA chain over the im2col row, or
 *                                     over c then the taps in fast_direct.c and
 *                                     fast_stride2.c)
 *   backward data    L = Cout*k*k + k*k  (stride 1: a forward convolution of dy,
 *                                     stride 2: FMAs over Cout then col2im adds;
 *                                     3x3 stride 2 in fast_stride2.c: one chain
 *                                     over Cout and the parity class's <= 4 taps,
 *                                     4*Cout, shorter than this L)
 *   backward filter  L = 8*pixels/16 + 4 + 8 + chunks  (16-lane chains over up to
 *                                     8 images side by side, lane sum, the images
 *                                     of a chunk, chunks in order; stride 1 runs
 *                                     over padded planes: pixels = (h+2p)*(w+2p))
 *                    3x3 stride 2 (fast_stride2.c): L = oh*ow + 8 + chunks (one
 *                                     FMA chain over an image's pixels, added to
 *                                     its chunk's partial, chunks in order)
 * The check is |fast - exact| <= (L + 2) * u * S: rigorous, so a failure is a
 * bug, not noise.
 *
 * Winograd (fast_wino.c: 3x3 stride-1 layers with >= 8 channels; F(4x4,3x3)
 * in all three passes on 16x16 and 32x32 planes, F(2x2,3x3) on other planes)
 * computes other intermediate sums, so its bound has its own L and S. Written
 * out in products w*x, output (a,b) of an m x m tile is the sum over
 * (r,s,p,q) of w[r][s] x[p][q] times sum_{i,j} A^T[a][i] G[i][r] B^T[i][p]
 * A^T[b][j] G[j][s] B^T[j][q] over the (m+2) x (m+2) patch; every rounding
 * error is a relative error on a partial sum of such terms, so the error is at
 * most L*u times
 *   S_w = sum_c sum_{r,s,p,q} |w[c][r][s]| |x[c][p][q]| f_a(r,p) f_b(s,q),
 *   f_a(r,p) = sum_i |A^T[a][i] G[i][r] B^T[i][p]|,
 * computed here from the textbook matrices (wino_coef below, written out
 * independently of fast_wino.c). L counts the roundings a term passes: the
 * input transform (2 per 1-D pass for F(2x2), likewise 2 for F(4x4) as
 * written in bt6), the filter transform (computed in double, rounded once;
 * counted as 4), Cin in the GEMM's FMA chain and the output transform (2 per
 * 1-D pass for F(2x2), 3 for F(4x4)): L_w = Cin + 10 for F(2x2), Cin + 12 for
 * F(4x4). The data gradient is the same with dy, Cout and the turned filters.
 * The filter gradient (same tiles) multiplies transformed dy tiles (A dY A^T,
 * 2 roundings for F(2x2), 4 for F(4x4)) with transformed patches (2, 4), sums
 * them in 16-lane chains of at most 256/16 columns, 4 lane-sum steps, at most
 * 16 * ceil(tiles/256) products per chunk (fast_wino.c sums chunks of 16
 * images); from 32 input channels on, in one FMA chain over the tile columns
 * (tiles rounded up to 16) of a chunk's images instead; then the ceil(n/16)
 * chunks in order, then untransforms (in double,
 * counted as 5); the same expansion gives weight (r,s) the terms
 * |dy[a][b]| |x[p][q]| f_a(r,p) f_b(s,q) of every tile of every image; the
 * check bounds their sum per tile by max|dy tile| * sum_{p,q} fs[r][p] fs[s][q] |x[p][q]|
 * with fs[r][p] = sum_a f_a(r,p) (cheap, and close for positive data).
 *
 * Against the reference op (kernels/cpu/ref_conv.c, whose chains
 * are Cin*k*k, Cout*k*k, and one output row in float then double) the bound is
 * the sum of both: |fast - ref| <= (L + L_ref + 4) * u * S. Batch norm: statistics are summed in float per plane and in
 * double over planes; outputs are checked with atol = rtol = 1e-4 on O(1) data
 * (the error of mean and invstd, ~ (hw/16 + 16) u relative, times |xhat| <= ~5,
 * stays below 1e-5; 1e-4 leaves room for the compiler's SIMD order); the same
 * tolerance against the reference op (kernels/cpu/ref_bn.c). */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_backend.h"
#include "cpu/fast.h"
#include "test.h"

static const double U = 1.0 / 16777216.0;   /* 2^-24, fp32 unit roundoff */
static RnBackend *ref;                        /* the plain reference backend */

/* counts |a - b| > bound; keeps the worst ratio */
static void vs(double a, double b, double bound, int *bad, double *worst)
{
    double r = fabs(a - b) / (bound + 1e-30);
    if (!(r <= 1))
        (*bad)++;
    if (r > *worst || r != r)
        *worst = r;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float urand(void)   /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}
static float *rand_buf(size_t n, float scale, float offset)
{
    float *p = malloc(n * sizeof(float) + 64);
    for (size_t i = 0; i < n; i++)
        p[i] = urand() * scale + offset;
    return p;
}

static RnConvDims conv_rect(int n, int in_c, int h, int w, int out_c, int k, int stride)
{
    int pad = k / 2, out_h = (h + 2 * pad - k) / stride + 1, out_w = (w + 2 * pad - k) / stride + 1;
    return (RnConvDims){n, in_c, h, w, out_c, out_h, out_w, k, stride, pad};
}
static RnConvDims conv_dims(int n, int in_c, int hw, int out_c, int k, int stride)
{
    return conv_rect(n, in_c, hw, hw, out_c, k, stride);
}
static size_t in_size(const RnConvDims *d) { return (size_t)d->n * d->in_c * d->in_h * d->in_w; }
static size_t out_size(const RnConvDims *d) { return (size_t)d->n * d->out_c * d->out_h * d->out_w; }
static size_t w_size(const RnConvDims *d) { return (size_t)d->out_c * d->in_c * d->kernel * d->kernel; }

/* x value at (n, c, ih, iw), 0 in the padding */
static double xat(const RnConvDims *d, const float *x, int n, int c, int ih, int iw)
{
    if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w)
        return 0;
    return x[(((size_t)n * d->in_c + c) * d->in_h + ih) * d->in_w + iw];
}

/* f[a][r][p] = sum_i |A^T[a][i] G[i][r] B^T[i][p]| of Winograd F(m x m, 3x3)
 * (Lavin & Gray 2016; points 0, 1, -1 for m = 2, and 2, -2 for m = 4) */
static void wino_coef(int m, double f[4][3][6])
{
    static const double AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    static const double AT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0},
                                     {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
    static const double G4[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    static const double BT4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    const int n = m + 2;
    for (int a = 0; a < m; a++)
        for (int r = 0; r < 3; r++)
            for (int p = 0; p < n; p++) {
                double s = 0;
                for (int i = 0; i < n; i++)
                    s += m == 4 ? fabs(AT4[a][i] * G4[i][r] * BT4[i][p]) : fabs(AT2[a][i] * G2[i][r] * BT2[i][p]);
                f[a][r][p] = s;
            }
}

/* kw[((a*m + b)*(m+2) + p)*(m+2) + q] = sum_{r,s} |w3[r][s]| f_a(r,p) f_b(s,q):
 * what |x[p][q]| of a patch contributes to S_w of output (a,b), for one 3x3
 * filter w3 (turned around when turned) */
static void wino_weights(int m, double f[4][3][6], const float *w3, int turned, double *kw)
{
    const int n = m + 2;
    for (int a = 0; a < m; a++)
        for (int b = 0; b < m; b++)
            for (int p = 0; p < n; p++)
                for (int q = 0; q < n; q++) {
                    double s = 0;
                    for (int r = 0; r < 3; r++)
                        for (int c = 0; c < 3; c++)
                            s += fabs(w3[turned ? 8 - (3 * r + c) : 3 * r + c]) * f[a][r][p] * f[b][c][q];
                    kw[((a * m + b) * n + p) * n + q] = s;
                }
}

/* positive = 0: x, dy uniform in [-1, 1), w in [-0.2, 0.2). Sums of such terms
 * cancel, so |result| is about sqrt(terms) times smaller than the S of the
 * bounds, and over a batch-wide filter gradient that hides relative errors
 * of 1e-3. positive = 1: x, dy in [0, 1), w in [0, 0.2): no cancellation but
 * the transforms' own, so the bounds sit close to the results and a wrong
 * transform coefficient shows. */
/* wino_weights of every filter of w ([out_c][in_c][3][3]) for F(m x m, 3x3),
 * plain or turned around; m*m*(m+2)^2 doubles per filter (free it) */
static double *filter_coefs(int m, const float *w, int out_c, int in_c, int turned)
{
    double f[4][3][6];
    const int mm = m * m * (m + 2) * (m + 2);
    wino_coef(m, f);
    double *co = malloc((size_t)out_c * in_c * mm * sizeof(double));
    for (size_t e = 0; e < (size_t)out_c * in_c; e++)
        wino_weights(m, f, w + e * 9, turned, co + e * mm);
    return co;
}

/* H x W planes (the nets' are square; the fast paths take others too) */
static void check_conv_data(int n, int in_c, int H, int W, int out_c, int k, int stride, int positive)
{
    RnConvDims d = conv_rect(n, in_c, H, W, out_c, k, stride);
    const int k2 = k * k, ohw = d.out_h * d.out_w;
    const float half = positive ? 0.5f : 1, mid = positive ? 0.5f : 0;
    const char *tag = positive ? " (positive data)" : "";
    float *x = rand_buf(in_size(&d), half, mid), *w = rand_buf(w_size(&d), 0.2f * half, 0.2f * mid);
    float *dy = rand_buf(out_size(&d), half, mid);
    float *y = rand_buf(out_size(&d), 1, 0), *dx = rand_buf(in_size(&d), 1, 0);
    float *dw = rand_buf(w_size(&d), 1, 0);
    rn_fast_conv_fwd(NULL, &d, x, w, y);
    rn_fast_conv_bwd_data(NULL, &d, dy, w, dx);
    rn_fast_conv_bwd_filter(NULL, &d, x, dy, dw);
    float *yr = malloc(out_size(&d) * sizeof(float)), *dxr = malloc(in_size(&d) * sizeof(float));
    float *dwr = malloc(w_size(&d) * sizeof(float));
    ref->conv_fwd(ref, &d, x, w, yr);
    ref->conv_bwd_data(ref, &d, dy, w, dxr);
    ref->conv_bwd_filter(ref, &d, x, dy, dwr);
    int bad_ref = 0;
    double worst_ref = 0;
    const int wino = rn_fast_wino_ok(&d);   /* Winograd bounds (above) instead of the direct ones */
    const int m = rn_fast_wino_tile(&d), mp = m + 2, mm = m * m * mp * mp;   /* the tiles of all three passes */
    double f[4][3][6];   /* the filter gradient's coefficients */
    if (wino)
        wino_coef(m, f);
    double *tco = wino ? filter_coefs(m, w, out_c, in_c, 1) : NULL;   /* the data gradient's, turned filters */
    const double Lw_out = m == 4 ? out_c + 12 : out_c + 10;

    /* images checked: first, middle, last (each image is computed independently) */
    int imgs[3] = {0, n / 2, n - 1};
    double worst_bd = 0, worst_bf = 0;   /* max error / tolerance */
    int bad_bd = 0, bad_bf = 0;
    double L = in_c * k2;
    /* the forward */
    {
        const int mf = wino ? m : 0, fp = mf + 2, fmm = mf * mf * fp * fp;
        double *wco = wino ? filter_coefs(mf, w, out_c, in_c, 0) : NULL;
        const double Lw_in = mf == 4 ? in_c + 12 : in_c + 10;
        double worst_fwd = 0;
        int bad_fwd = 0;
        for (int t = 0; t < 3; t++) {
            int i = imgs[t];
            for (int o = 0; o < out_c; o++)
                for (int oh = 0; oh < d.out_h; oh++)
                    for (int ow = 0; ow < d.out_w; ow++) {
                        double s = 0, sa = 0, sw = 0;
                        for (int c = 0; c < in_c; c++) {
                            for (int kh = 0; kh < k; kh++)
                                for (int kx = 0; kx < k; kx++) {
                                    double t2 = w[((size_t)o * in_c + c) * k2 + kh * k + kx] *
                                                xat(&d, x, i, c, oh * stride - d.pad + kh, ow * stride - d.pad + kx);
                                    s += t2;
                                    sa += fabs(t2);
                                }
                            if (wino) {   /* S_w over the patch of the tile holding (oh, ow) */
                                const double *kc = wco + ((size_t)o * in_c + c) * fmm +
                                                   (size_t)((oh % mf) * mf + ow % mf) * fp * fp;
                                for (int p = 0; p < fp; p++)
                                    for (int q = 0; q < fp; q++)
                                        sw += kc[p * fp + q] *
                                              fabs(xat(&d, x, i, c, oh / mf * mf - 1 + p, ow / mf * mf - 1 + q));
                            }
                        }
                        size_t at = (((size_t)i * out_c + o) * d.out_h + oh) * d.out_w + ow;
                        double got = y[at];
                        double bound = wino ? (Lw_in + 2) * U * sw : (L + 2) * U * sa;
                        vs(got, yr[at], bound + (L + 2) * U * sa, &bad_ref, &worst_ref);
                        double r = fabs(got - s) / (bound + 1e-30);
                        if (!(r <= 1))
                            bad_fwd++;
                        if (r > worst_fwd)
                            worst_fwd = r;
                    }
        }
        CHECK(!bad_fwd, "conv%s fwd n=%d %d->%d %dx%d k%d s%d: worst error %.3f of bound", tag, n, in_c, out_c, H,
              W, k, stride, worst_fwd);
        free(wco);
    }

    /* backward data: dx[c][ih][iw] = sum over (o, kh, kw) with ih = oh*s - p + kh, iw likewise */
    L = out_c * k2 + k2;
    size_t img_in = (size_t)in_c * H * W;
    double *ex = malloc(img_in * sizeof(double)), *exa = malloc(img_in * sizeof(double));
    double *exw = calloc(img_in, sizeof(double));
    for (int t = 0; t < 3; t++) {
        int i = imgs[t];
        memset(ex, 0, img_in * sizeof(double));
        memset(exa, 0, img_in * sizeof(double));
        /* Winograd: a forward pass of dy (padded by 1) with the turned filters */
        for (size_t e = 0; wino && e < img_in; e++) {
            int c = (int)(e / ((size_t)H * W)), ih = (int)(e / W % H), iw = (int)(e % W);
            double sw = 0;
            for (int o = 0; o < out_c; o++) {
                const double *kc = tco + ((size_t)o * in_c + c) * mm + (size_t)((ih % m) * m + iw % m) * mp * mp;
                for (int p = 0; p < mp; p++)
                    for (int q = 0; q < mp; q++) {
                        int oh = ih / m * m - 1 + p, ow = iw / m * m - 1 + q;
                        if (oh >= 0 && oh < d.out_h && ow >= 0 && ow < d.out_w)
                            sw += kc[p * mp + q] * fabs(dy[(((size_t)i * out_c + o) * d.out_h + oh) * d.out_w + ow]);
                    }
            }
            exw[e] = (Lw_out + 2) * U * sw;
        }
        for (int o = 0; o < out_c; o++)
            for (int oh = 0; oh < d.out_h; oh++)
                for (int ow = 0; ow < d.out_w; ow++) {
                    double g = dy[(((size_t)i * out_c + o) * d.out_h + oh) * d.out_w + ow];
                    for (int c = 0; c < in_c; c++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int ih = oh * stride - d.pad + kh, iw = ow * stride - d.pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                double t2 = g * w[((size_t)o * in_c + c) * k2 + kh * k + kw];
                                ex[((size_t)c * H + ih) * W + iw] += t2;
                                exa[((size_t)c * H + ih) * W + iw] += fabs(t2);
                            }
                }
        for (size_t e = 0; e < img_in; e++) {
            double bound = wino ? exw[e] : (L + 2) * U * exa[e];
            vs(dx[i * img_in + e], dxr[i * img_in + e], bound + (out_c * k2 + 2) * U * exa[e], &bad_ref, &worst_ref);
            double r = fabs(dx[i * img_in + e] - ex[e]) / (bound + 1e-30);
            if (!(r <= 1))
                bad_bd++;
            if (r > worst_bd)
                worst_bd = r;
        }
    }
    free(ex);
    free(exa);
    free(exw);
    free(tco);
    CHECK(!bad_bd, "conv%s bwd data n=%d %d->%d %dx%d k%d s%d: worst error %.3f of bound", tag, n, in_c, out_c, H,
          W, k, stride, worst_bd);

    /* backward filter over the whole batch, at a sample of weights (every 7th, to keep the test fast) */
    int chunks = (n + 7) / 8;
    /* stride 1 (fast_direct.c): the chains run over up to 8 padded planes, junk columns included */
    int plane = (H + 2 * d.pad) * (W + 2 * d.pad);
    L = (8 * (stride == 1 && plane > ohw ? plane : ohw) + 15) / 16 + 4 + 8 + chunks;
    if (rn_fast_s2_ok(&d))
        L = ohw + 8 + chunks;
    /* Winograd: sum_{a,b} |dy[a][b]| f_a(r,p) f_b(s,q) <= max|dy| fs[r][p] fs[s][q], fs[r][p] = sum_a f_a(r,p) */
    const int tiles = wino ? (d.out_h / m) * (d.out_w / m) : 0;
    /* the products: 16-lane chains of at most 256/16 columns, a lane sum, then each block's product added to
     * its chunk's partial; or, from 32 channels in (fast_wino.c's filter_via_vt), one FMA chain per output
     * over all tile columns of a chunk's (at most 16) images, padding included */
    const int tiles_padded = (tiles + 15) / 16 * 16;
    const double L_products = in_c >= 32 && in_c % 16 == 0 ? (n < 16 ? n : 16) * tiles_padded
                                                            : 16 + 4 + 16 * ((tiles + 255) / 256);
    const double L_w = (m == 4 ? 4 + 4 : 2 + 2) + L_products + (n + 15) / 16 + 5;
    double fs[3][6] = {{0}};
    for (int r = 0; wino && r < 3; r++)
        for (int p = 0; p < mp; p++)
            for (int a = 0; a < m; a++)
                fs[r][p] += f[a][r][p];
    for (size_t e = 0; e < w_size(&d); e += 7) {
        int o = (int)(e / ((size_t)in_c * k2)), c = (int)(e / k2 % in_c), kh = (int)(e % k2) / k,
            kw = (int)(e % k);
        double s = 0, sa = 0, sw = 0;
        for (int i = 0; wino && i < n; i++)
            for (int ty = 0; ty < d.out_h / m; ty++)
                for (int tx = 0; tx < d.out_w / m; tx++) {
                    double gmax = 0, patch = 0;
                    for (int a = 0; a < m; a++)
                        for (int b = 0; b < m; b++)
                            gmax = fmax(gmax, fabs(dy[(((size_t)i * out_c + o) * d.out_h + m * ty + a) * d.out_w +
                                                      m * tx + b]));
                    for (int p = 0; p < mp; p++)
                        for (int q = 0; q < mp; q++)
                            patch += fs[kh][p] * fs[kw][q] * fabs(xat(&d, x, i, c, m * ty - 1 + p, m * tx - 1 + q));
                    sw += gmax * patch;
                }
        for (int i = 0; i < n; i++)
            for (int oh = 0; oh < d.out_h; oh++)
                for (int ow = 0; ow < d.out_w; ow++) {
                    double t2 = dy[(((size_t)i * out_c + o) * d.out_h + oh) * d.out_w + ow] *
                                xat(&d, x, i, c, oh * stride - d.pad + kh, ow * stride - d.pad + kw);
                    s += t2;
                    sa += fabs(t2);
                }
        double bound = wino ? (L_w + 2) * U * sw : (L + 2) * U * sa;
        vs(dw[e], dwr[e], bound + (d.out_w + 1 + 2) * U * sa, &bad_ref, &worst_ref);
        double r = fabs(dw[e] - s) / (bound + 1e-30);
        if (!(r <= 1))
            bad_bf++;
        if (r > worst_bf)
            worst_bf = r;
    }
    CHECK(!bad_bf, "conv%s bwd filter n=%d %d->%d %dx%d k%d s%d: worst error %.3f of bound", tag, n, in_c, out_c,
          H, W, k, stride, worst_bf);

    CHECK(!bad_ref, "conv%s n=%d %d->%d %dx%d k%d s%d: fwd, bwd data, bwd filter agree with ref_conv.c, "
          "worst %.3f of bound", tag, n, in_c, out_c, H, W, k, stride, worst_ref);
    free(yr); free(dxr); free(dwr);

    /* same bits with 1, 2 and 3 threads */
    float *y2 = malloc(out_size(&d) * sizeof(float)), *dx2 = malloc(in_size(&d) * sizeof(float));
    float *dw2 = malloc(w_size(&d) * sizeof(float));
    int same = 1, saved = omp_get_max_threads();
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        rn_fast_conv_fwd(NULL, &d, x, w, y2);
        rn_fast_conv_bwd_data(NULL, &d, dy, w, dx2);
        rn_fast_conv_bwd_filter(NULL, &d, x, dy, dw2);
        same &= !memcmp(y, y2, out_size(&d) * sizeof(float)) && !memcmp(dx, dx2, in_size(&d) * sizeof(float)) &&
                !memcmp(dw, dw2, w_size(&d) * sizeof(float));
    }
    omp_set_num_threads(saved);
    CHECK(same, "conv%s n=%d %d->%d %dx%d k%d s%d: bitwise equal with 1, 2, 3 threads", tag, n, in_c, out_c, H, W,
          k, stride);
    free(y2); free(dx2); free(dw2);
    free(x); free(w); free(dy); free(y); free(dx); free(dw);
}

static void check_conv(int n, int in_c, int hw, int out_c, int k, int stride)
{
    check_conv_data(n, in_c, hw, hw, out_c, k, stride, 0);
}

/* ------------------------------------------------------------------ batch norm */

typedef struct { double mean, var; } Stats;
static Stats chan_stats(RnDims d, const float *x, int c)
{
    int hw = d.h * d.w;
    double s = 0, q = 0, cnt = (double)d.n * hw;
    for (int i = 0; i < d.n; i++)
        for (int j = 0; j < hw; j++)
            s += x[((size_t)i * d.c + c) * hw + j];
    double m = s / cnt;
    for (int i = 0; i < d.n; i++)
        for (int j = 0; j < hw; j++) {
            double v = x[((size_t)i * d.c + c) * hw + j] - m;
            q += v * v;
        }
    return (Stats){m, q / cnt};
}

static int close_all(const float *got, const double *want, size_t n, double tol, double *worst)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (tol * (1 + fabs(want[i])));
        if (!(e <= 1))
            ok = 0;
        if (e > *worst || e != e)
            *worst = e;
    }
    return ok;
}

static void check_bn(int n, int c, int hw, int with_res, int relu)
{
    RnDims d = {n, c, hw, hw};
    size_t sz = (size_t)n * c * hw * hw, plane = (size_t)hw * hw;
    const float eps = 1e-5f, mom = 0.1f;
    float *x = rand_buf(sz, 2, 0.5f), *res = with_res ? rand_buf(sz, 1, 0) : NULL, *dy = rand_buf(sz, 1, 0);
    float *gamma = rand_buf(c, 0.5f, 1), *beta = rand_buf(c, 0.5f, 0);
    float *rm = rand_buf(c, 0.1f, 0), *rv = rand_buf(c, 0.1f, 1);
    float *rm0 = malloc(c * sizeof(float)), *rv0 = malloc(c * sizeof(float));
    memcpy(rm0, rm, c * sizeof(float));
    memcpy(rv0, rv, c * sizeof(float));
    float *sm = malloc(c * sizeof(float)), *si = malloc(c * sizeof(float)), *y = malloc(sz * sizeof(float));
    float *dx = malloc(sz * sizeof(float)), *dres = malloc(sz * sizeof(float));
    float *dg = malloc(c * sizeof(float)), *db = malloc(c * sizeof(float));
    rn_fast_bn_fwd_train(NULL, d, x, gamma, beta, res, relu, mom, eps, rm, rv, sm, si, y);
    rn_fast_bn_bwd(NULL, d, x, y, dy, gamma, beta, sm, si, relu, dx, dg, db, with_res ? dres : NULL);

    double *wy = malloc(sz * sizeof(double)), *wdx = malloc(sz * sizeof(double));
    double *wdres = malloc(sz * sizeof(double)), *wc[6];
    for (int k = 0; k < 6; k++)
        wc[k] = malloc(c * sizeof(double));   /* mean invstd rm rv dgamma dbeta */
    double cnt = (double)n * plane;
    for (int ch = 0; ch < c; ch++) {
        Stats st = chan_stats(d, x, ch);
        double is = 1 / sqrt(st.var + eps);
        wc[0][ch] = st.mean;
        wc[1][ch] = is;
        wc[2][ch] = (1 - mom) * rm0[ch] + mom * st.mean;
        wc[3][ch] = (1 - mom) * rv0[ch] + mom * st.var * cnt / (cnt - 1);
        double sg = 0, sgx = 0;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < plane; j++) {
                size_t o = ((size_t)i * c + ch) * plane + j;
                double v = (x[o] - st.mean) * is * gamma[ch] + beta[ch] + (res ? res[o] : 0);
                if (relu && v < 0)
                    v = 0;
                wy[o] = v;
                /* the mask comes from the fast output (a value within rounding of 0 may go either way) */
                double g = relu && !(y[o] > 0) ? 0 : dy[o];
                wdres[o] = g;
                sg += g;
                sgx += g * (x[o] - st.mean) * is;
            }
        wc[4][ch] = sgx;
        wc[5][ch] = sg;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < plane; j++) {
                size_t o = ((size_t)i * c + ch) * plane + j;
                double g = wdres[o], xh = (x[o] - st.mean) * is;
                wdx[o] = gamma[ch] * is * (g - sg / cnt - xh * sgx / cnt);
            }
    }
    double wst = 0;
    int ok = close_all(y, wy, sz, 1e-4, &wst) && close_all(sm, wc[0], c, 1e-4, &wst) &&
             close_all(si, wc[1], c, 1e-4, &wst) && close_all(rm, wc[2], c, 1e-4, &wst) &&
             close_all(rv, wc[3], c, 1e-4, &wst);
    CHECK(ok, "bn fwd train n=%d c=%d %dx%d res=%d relu=%d: worst %.3f of tolerance", n, c, hw, hw, with_res,
          relu, wst);
    wst = 0;
    /* dgamma, dbeta are sums of n*hw O(1) terms: relative to sqrt of the count */
    ok = close_all(dx, wdx, sz, 1e-4, &wst) &&
         (!with_res || close_all(dres, wdres, sz, 1e-6, &wst));
    double wst2 = 0;
    int ok2 = 1;
    for (int ch = 0; ch < c; ch++) {
        double e1 = fabs(dg[ch] - wc[4][ch]) / (1e-4 * sqrt(cnt)), e2 = fabs(db[ch] - wc[5][ch]) / (1e-4 * sqrt(cnt));
        if (!(e1 <= 1 && e2 <= 1))
            ok2 = 0;
        wst2 = fmax(wst2, fmax(e1, e2));
    }
    CHECK(ok && ok2, "bn bwd n=%d c=%d %dx%d res=%d relu=%d: worst %.3f / %.3f of tolerance", n, c, hw, hw,
          with_res, relu, wst, wst2);

    /* against the reference op, same inputs */
    {
        float *rmr = malloc(c * sizeof(float)), *rvr = malloc(c * sizeof(float)), *smr = malloc(c * sizeof(float));
        float *sir = malloc(c * sizeof(float)), *yr = malloc(sz * sizeof(float)), *dxr = malloc(sz * sizeof(float));
        float *dgr = malloc(c * sizeof(float)), *dbr = malloc(c * sizeof(float));
        memcpy(rmr, rm0, c * sizeof(float));
        memcpy(rvr, rv0, c * sizeof(float));
        ref->bn_fwd_train(ref, d, x, gamma, beta, res, relu, mom, eps, rmr, rvr, smr, sir, yr);
        /* the same y for the ReLU mask, so a value within rounding of 0 cannot flip a gradient */
        ref->bn_bwd(ref, d, x, y, dy, gamma, beta, sm, si, relu, dxr, dgr, dbr, with_res ? dres : NULL);
        int bad = 0;
        double w1 = 0;
        for (size_t i = 0; i < sz; i++) {
            vs(y[i], yr[i], 1e-4 * (1 + fabs(yr[i])), &bad, &w1);
            vs(dx[i], dxr[i], 1e-4 * (1 + fabs(dxr[i])), &bad, &w1);
        }
        for (int ch = 0; ch < c; ch++) {
            vs(sm[ch], smr[ch], 1e-4 * (1 + fabs(smr[ch])), &bad, &w1);
            vs(si[ch], sir[ch], 1e-4 * (1 + fabs(sir[ch])), &bad, &w1);
            vs(rm[ch], rmr[ch], 1e-4 * (1 + fabs(rmr[ch])), &bad, &w1);
            vs(rv[ch], rvr[ch], 1e-4 * (1 + fabs(rvr[ch])), &bad, &w1);
            vs(dg[ch], dgr[ch], 1e-4 * sqrt(cnt), &bad, &w1);
            vs(db[ch], dbr[ch], 1e-4 * sqrt(cnt), &bad, &w1);
        }
        CHECK(!bad, "bn n=%d c=%d %dx%d res=%d relu=%d: fwd train and bwd agree with ref_bn.c, worst %.3f of "
              "tolerance", n, c, hw, hw, with_res, relu, w1);
        float *ye = malloc(sz * sizeof(float)), *yer = malloc(sz * sizeof(float));
        rn_fast_bn_fwd_eval(NULL, d, x, gamma, beta, res, relu, rm0, rv0, eps, ye);
        ref->bn_fwd_eval(ref, d, x, gamma, beta, res, relu, rm0, rv0, eps, yer);
        bad = 0;
        w1 = 0;
        for (size_t i = 0; i < sz; i++)
            vs(ye[i], yer[i], 1e-5 * (1 + fabs(yer[i])), &bad, &w1);
        CHECK(!bad, "bn eval n=%d c=%d %dx%d res=%d relu=%d: agrees with ref_bn.c, worst %.3f of tolerance", n, c,
              hw, hw, with_res, relu, w1);
        free(rmr); free(rvr); free(smr); free(sir); free(yr); free(dxr); free(dgr); free(dbr); free(ye); free(yer);
    }

    /* eval: running statistics normalise */
    float *ye = malloc(sz * sizeof(float));
    rn_fast_bn_fwd_eval(NULL, d, x, gamma, beta, res, relu, rm0, rv0, eps, ye);
    for (int ch = 0; ch < c; ch++) {
        double is = 1 / sqrt(rv0[ch] + (double)eps);
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < plane; j++) {
                size_t o = ((size_t)i * c + ch) * plane + j;
                double v = (x[o] - rm0[ch]) * is * gamma[ch] + beta[ch] + (res ? res[o] : 0);
                wy[o] = relu && v < 0 ? 0 : v;
            }
    }
    wst = 0;
    CHECK(close_all(ye, wy, sz, 1e-5, &wst), "bn fwd eval n=%d c=%d %dx%d res=%d relu=%d: worst %.3f of tolerance",
          n, c, hw, hw, with_res, relu, wst);

    /* bitwise the same with 1, 2, 3 threads */
    float *y2 = malloc(sz * sizeof(float)), *dx2 = malloc(sz * sizeof(float)), *dg2 = malloc(c * sizeof(float));
    float *db2 = malloc(c * sizeof(float)), *sm2 = malloc(c * sizeof(float)), *si2 = malloc(c * sizeof(float));
    int same = 1, saved = omp_get_max_threads();
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        memcpy(rm, rm0, c * sizeof(float));
        memcpy(rv, rv0, c * sizeof(float));
        rn_fast_bn_fwd_train(NULL, d, x, gamma, beta, res, relu, mom, eps, rm, rv, sm2, si2, y2);
        rn_fast_bn_bwd(NULL, d, x, y2, dy, gamma, beta, sm2, si2, relu, dx2, dg2, db2, with_res ? dres : NULL);
        same &= !memcmp(y, y2, sz * 4) && !memcmp(dx, dx2, sz * 4) && !memcmp(dg, dg2, c * 4) &&
                !memcmp(db, db2, c * 4) && !memcmp(sm, sm2, c * 4) && !memcmp(si, si2, c * 4);
    }
    omp_set_num_threads(saved);
    CHECK(same, "bn n=%d c=%d %dx%d: bitwise equal with 1, 2, 3 threads", n, c, hw, hw);

    free(y2); free(dx2); free(dg2); free(db2); free(sm2); free(si2); free(ye);
    for (int k = 0; k < 6; k++)
        free(wc[k]);
    free(wy); free(wdx); free(wdres);
    free(x); free(res); free(dy); free(gamma); free(beta); free(rm); free(rv); free(rm0); free(rv0);
    free(sm); free(si); free(y); free(dx); free(dres); free(dg); free(db);
}

/* rn_fast_bn_bwd takes the ReLU mask from y where it writes dresidual and
 * recomputes it from x, gamma and beta where it does not: both must give the
 * same bits, also where the ReLU's input is exactly 0. x in {-1, 0, 1} with
 * equal counts (mean exactly 0): beta = 0 puts every x = 0 on the ReLU's
 * edge (channels 0 and 2 would, but 2 has beta 0.25), and beta = -gamma *
 * invstd every x = 1 (channels 1 and 3): a quarter of the inputs. */
static void check_bn_mask_paths(void)
{
    RnDims d = {6, 4, 4, 4};
    size_t sz = (size_t)d.n * d.c * d.h * d.w;
    float *x = malloc(sz * sizeof(float)), *dy = rand_buf(sz, 1, 0), *y = malloc(sz * sizeof(float));
    float *dx1 = malloc(sz * sizeof(float)), *dx2 = malloc(sz * sizeof(float)), *dres = malloc(sz * sizeof(float));
    float gamma[4] = {1, 0.7f, 1.3f, 2}, beta[4] = {0, 0, 0.25f, 0}, rm[4] = {0}, rv[4] = {1, 1, 1, 1};
    float sm[4], si[4], dg1[4], db1[4], dg2[4], db2[4];
    for (size_t i = 0; i < sz; i++)
        x[i] = (float)((int)(i % 3) - 1);   /* -1, 0, 1 cyclically: a channel's 6 planes of 16 balance */
    rn_fast_bn_fwd_train(NULL, d, x, gamma, beta, NULL, 1, 0.1f, 1e-5f, rm, rv, sm, si, y);
    beta[1] = -(gamma[1] * si[1]);
    beta[3] = -(gamma[3] * si[3]);
    rn_fast_bn_fwd_train(NULL, d, x, gamma, beta, NULL, 1, 0.1f, 1e-5f, rm, rv, sm, si, y);
    size_t edge = 0;
    for (size_t i = 0; i < sz; i++) {
        int c = (int)(i / 16 % 4);
        edge += fmaf(x[i] - sm[c], gamma[c] * si[c], beta[c]) == 0;
    }
    rn_fast_bn_bwd(NULL, d, x, y, dy, gamma, beta, sm, si, 1, dx1, dg1, db1, NULL);
    rn_fast_bn_bwd(NULL, d, x, y, dy, gamma, beta, sm, si, 1, dx2, dg2, db2, dres);
    CHECK(sm[0] == 0 && edge == sz / 4 && !memcmp(dx1, dx2, sz * sizeof(float)) && !memcmp(dg1, dg2, sizeof dg1) &&
              !memcmp(db1, db2, sizeof db1),
          "bn bwd: the ReLU mask from x (no residual) and from y give the same bits (%zu of %zu inputs exactly 0)",
          edge, sz);
    free(x); free(dy); free(y); free(dx1); free(dx2); free(dres);
}

/* ------------------------------------------------------- a unit's backward */

/* rn_fast_unit_bwd (batch norm's backward made image by image inside the
 * Winograd sweep of both convolution gradients, fast_unit.c) must give the bits
 * of its three ops: dw, dx, dgamma, dbeta and dresidual; also with dx where dy
 * is and a shortcut's gradient added to dx (a block's first unit), with relu
 * off, and without a data gradient. */
static void check_unit_bwd(int n, int c, int hw, int with_res, int relu, int dx_is_dy, int want_dx, int plus)
{
    RnConvDims cd = conv_dims(n, c, hw, c, 3, 1);
    RnDims od = {n, c, hw, hw};
    size_t sz = out_size(&cd);
    float *in = rand_buf(sz, 1, 0.5f), *w = rand_buf(w_size(&cd), 0.2f, 0), *pre = rand_buf(sz, 2, 0.3f);
    float *res = with_res ? rand_buf(sz, 1, 0) : NULL, *dy = rand_buf(sz, 1, 0);
    float *dx_plus = plus ? rand_buf(sz, 1, 0) : NULL;
    float *gamma = rand_buf((size_t)c, 0.5f, 1), *beta = rand_buf((size_t)c, 0.5f, 0);
    float *rm = rand_buf((size_t)c, 0.1f, 0), *rv = rand_buf((size_t)c, 0.1f, 1);
    float *sm = malloc(c * sizeof(float)), *si = malloc(c * sizeof(float)), *out = malloc(sz * sizeof(float));
    rn_fast_bn_fwd_train(NULL, od, pre, gamma, beta, res, relu, 0.1f, 1e-5f, rm, rv, sm, si, out);
    float *grads[2][5];   /* [ops, fused][dw, dx, dgamma, dbeta, dres] */
    size_t sizes[5] = {w_size(&cd), sz, (size_t)c, (size_t)c, sz};
    for (int f = 0; f < 2; f++) {
        for (int k = 0; k < 5; k++)
            grads[f][k] = rand_buf(sizes[k], 1, 0);   /* garbage: every output is written */
        float *dy_in = dy;
        if (dx_is_dy) {   /* the op reads dy from where it writes dx */
            memcpy(grads[f][1], dy, sz * sizeof(float));
            dy_in = grads[f][1];
        }
        float *scratch = malloc(sz * sizeof(float));
        RnUnitGrad u = {.conv = cd, .in = in, .w = w, .pre = pre, .out = out, .gamma = gamma, .beta = beta,
                        .save_mean = sm, .save_invstd = si, .relu = relu, .dw = grads[f][0],
                        .dgamma = grads[f][2], .dbeta = grads[f][3], .dresidual = with_res ? grads[f][4] : NULL,
                        .dx = want_dx ? grads[f][1] : NULL, .dx_plus = dx_plus, .scratch = scratch};
        RnBackend *fast = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2});
        if (f == 0)
            rn_backend_unit_bwd_ops(fast, &u, dy_in);
        else
            rn_fast_unit_bwd(fast, &u, dy_in);
        fast->destroy(fast);
        free(scratch);
    }
    size_t differ = 0;
    for (int k = 0; k < 5; k++)
        if ((k != 1 || want_dx) && (k != 4 || with_res))
            for (size_t i = 0; i < sizes[k]; i++)
                differ += memcmp(&grads[0][k][i], &grads[1][k][i], sizeof(float)) != 0;
    CHECK(differ == 0, "unit backward n=%d %dx%dx%d res=%d relu=%d dx%s%s: one sweep gives the bits of the three "
          "ops (%zu differ)", n, c, hw, hw, with_res, relu, !want_dx ? " none" : dx_is_dy ? " = dy" : "",
          plus ? " + shortcut" : "", differ);
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 5; k++)
            free(grads[f][k]);
    free(in); free(w); free(pre); free(res); free(dy); free(dx_plus); free(gamma); free(beta); free(rm); free(rv);
    free(sm); free(si); free(out);
}

/* ------------------------------------------- a unit's sums gathered by the one after it */

/* A unit q and the unit p after it in the forward (p's dx is q's dy): with
 * p.next = &q, p's sweep gathers pass 1 of q's batch norm as it writes dx
 * (fast_unit.c), and q's backward starts at pass 2. Where the sweep has one
 * block of tiles per image (every plane of the nets) each piece is a whole
 * plane, summed by the same run as pass 1's plane, in the same order: all
 * outputs of both units must keep the bits of the two units run alone. On a
 * 64x64 plane (4 blocks per image) q's dgamma and dbeta are summed in another
 * order: within the bound of two float sums of the plane's terms in 16-lane
 * chains (L = hw/16 + 4 each, the double additions over images adding
 * nothing at this size), |gathered - alone| <= 2 (hw/16 + 6) u S, S the sum
 * of |terms|; dresidual (g itself) must keep its bits. q's residual gradient
 * may be where p's shortcut gradient is read (the nets' identity blocks).
 * q is p's shape, or (q_in_c, q_stride) a unit that is not Winograd's: the
 * input layer (3 channels in, and no dx: q_dx 0) or a stride-2 layer, whose
 * three ops then start at pass 2. */
static void check_unit_chain_of(int n, int c, int hw, int with_res, int dx_is_dy, int plus, int q_in_c, int q_stride,
                                int q_dx)
{
    RnConvDims cd = conv_dims(n, c, hw, c, 3, 1), qd = conv_dims(n, q_in_c, hw * q_stride, c, 3, q_stride);
    const RnConvDims *dims[2] = {&qd, &cd};
    RnDims od = {n, c, hw, hw};
    size_t sz = out_size(&cd);
    float *unit_in[2], *unit_w[2], *pre[2], *out[2], *gamma[2], *beta[2], *sm[2], *si[2];
    for (int u = 0; u < 2; u++) {   /* 0: q, 1: p */
        unit_in[u] = rand_buf(in_size(dims[u]), 1, 0.5f);
        unit_w[u] = rand_buf(w_size(dims[u]), 0.2f, 0);
        pre[u] = rand_buf(sz, 2, 0.3f);
        gamma[u] = rand_buf((size_t)c, 0.5f, 1);
        beta[u] = rand_buf((size_t)c, 0.5f, 0);
        float *rm = rand_buf((size_t)c, 0.1f, 0), *rv = rand_buf((size_t)c, 0.1f, 1);
        float *res = u == 0 && with_res ? rand_buf(sz, 1, 0) : NULL;
        sm[u] = malloc(c * sizeof(float));
        si[u] = malloc(c * sizeof(float));
        out[u] = malloc(sz * sizeof(float));
        rn_fast_bn_fwd_train(NULL, od, pre[u], gamma[u], beta[u], res, 1, 0.1f, 1e-5f, rm, rv, sm[u], si[u], out[u]);
        free(rm); free(rv); free(res);
    }
    float *dy = rand_buf(sz, 1, 0), *dx_plus = plus ? rand_buf(sz, 1, 0) : NULL;
    enum { DW, DX, DGAMMA, DBETA, DRES, OUTPUTS };
    float *grads[2][2][OUTPUTS];   /* [alone, gathered][q, p][...] */
    size_t sizes[2][OUTPUTS];
    for (int u = 0; u < 2; u++) {
        const size_t s[OUTPUTS] = {w_size(dims[u]), in_size(dims[u]), (size_t)c, (size_t)c, sz};
        memcpy(sizes[u], s, sizeof s);
    }
    int gathered = 0;
    for (int f = 0; f < 2; f++) {
        for (int u = 0; u < 2; u++)
            for (int k = 0; k < OUTPUTS; k++)
                grads[f][u][k] = rand_buf(sizes[u][k], 1, 0);   /* garbage: every output is written */
        float *p_dy = dy, *p_plus = dx_plus, *q_res = with_res ? grads[f][0][DRES] : NULL;
        if (dx_is_dy) {   /* p reads dy from where it writes dx, q's dy */
            memcpy(grads[f][1][DX], dy, sz * sizeof(float));
            p_dy = grads[f][1][DX];
        }
        if (plus && with_res) {   /* p's shortcut gradient is read where q's residual gradient goes */
            memcpy(q_res, dx_plus, sz * sizeof(float));
            p_plus = q_res;
        }
        float *scratch = malloc(sz * sizeof(float));
        RnUnitGrad q = {.conv = qd, .in = unit_in[0], .w = unit_w[0], .pre = pre[0], .out = out[0],
                        .gamma = gamma[0], .beta = beta[0], .save_mean = sm[0], .save_invstd = si[0], .relu = 1,
                        .dw = grads[f][0][DW], .dgamma = grads[f][0][DGAMMA], .dbeta = grads[f][0][DBETA],
                        .dresidual = q_res, .dx = q_dx ? grads[f][0][DX] : NULL, .scratch = scratch};
        RnUnitGrad p = {.conv = cd, .in = out[0], .w = unit_w[1], .pre = pre[1], .out = out[1], .gamma = gamma[1],
                        .beta = beta[1], .save_mean = sm[1], .save_invstd = si[1], .relu = 1, .dw = grads[f][1][DW],
                        .dgamma = grads[f][1][DGAMMA], .dbeta = grads[f][1][DBETA], .dx = grads[f][1][DX],
                        .dx_plus = p_plus, .scratch = scratch, .next = f ? &q : NULL};
        RnBackend *fast = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2});
        q.sums_done = rn_fast_unit_bwd(fast, &p, p_dy);
        if (f)
            gathered = q.sums_done;
        rn_fast_unit_bwd(fast, &q, grads[f][1][DX]);
        fast->destroy(fast);
        free(scratch);
    }
    RnConvDims pd = cd;
    const int one_block = rn_fast_wino_bwd_sum_blocks(&pd) == 1;
    size_t differ = 0;
    for (int u = 0; u < 2; u++)
        for (int k = 0; k < OUTPUTS; k++) {
            if ((k == DRES && (u == 1 || !with_res)) || (!one_block && u == 0 && (k == DGAMMA || k == DBETA)))
                continue;
            if (!one_block && u == 0 && k != DRES)   /* q's dw and dx follow from dgamma, dbeta: checked below */
                continue;
            if (u == 0 && k == DX && !q_dx)
                continue;
            for (size_t i = 0; i < sizes[u][k]; i++)
                differ += memcmp(&grads[0][u][k][i], &grads[1][u][k][i], sizeof(float)) != 0;
        }
    double worst = 0;
    if (!one_block) {
        const float *q_dy = grads[0][1][DX];   /* p's dx, the same bits in both runs (checked above) */
        const double bound_l = 2.0 * (hw * hw / 16 + 6) * 0x1p-24;
        for (int ch = 0; ch < c; ch++) {
            double s_g = 0, s_gx = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < hw * hw; j++) {
                    size_t at = ((size_t)i * c + ch) * hw * hw + j;
                    s_g += fabs(q_dy[at]);
                    s_gx += fabs(q_dy[at] * ((double)pre[0][at] - sm[0][ch])) * si[0][ch];
                }
            double e_b = fabs((double)grads[0][0][DBETA][ch] - grads[1][0][DBETA][ch]) / (bound_l * s_g + 1e-30);
            double e_g = fabs((double)grads[0][0][DGAMMA][ch] - grads[1][0][DGAMMA][ch]) /
                         (bound_l * s_gx + 0x1p-24 * fabs(grads[0][0][DGAMMA][ch]) + 1e-30);
            worst = fmax(worst, fmax(e_b, e_g));
        }
    }
    char how[96];
    if (one_block)
        snprintf(how, sizeof how, "the same bits");
    else
        snprintf(how, sizeof how, "4 blocks an image: dgamma, dbeta at %.3g of the bound", worst);
    CHECK(gathered && differ == 0 && worst <= 1, "unit chain n=%d %dx%dx%d res=%d dx%s%s, q %d->%d s%d%s: p gathers "
          "q's batch-norm sums (%s; %zu outputs differ)", n, c, hw, hw, with_res, dx_is_dy ? " = dy" : "",
          plus ? " + shortcut" : "", q_in_c, c, q_stride, q_dx ? "" : " without dx", how, differ);
    for (int f = 0; f < 2; f++)
        for (int u = 0; u < 2; u++)
            for (int k = 0; k < OUTPUTS; k++)
                free(grads[f][u][k]);
    for (int u = 0; u < 2; u++) {
        free(unit_in[u]); free(unit_w[u]); free(pre[u]); free(out[u]); free(gamma[u]); free(beta[u]);
        free(sm[u]); free(si[u]);
    }
    free(dy); free(dx_plus);
}

static void check_unit_chain(int n, int c, int hw, int with_res, int dx_is_dy, int plus)
{
    check_unit_chain_of(n, c, hw, with_res, dx_is_dy, plus, c, 1, 1);
}

/* ------------------------------------------------------- conv + eval batch norm */

/* The fused eval op (rn_fast_conv_bn_eval_fwd) gives the bits of conv_fwd
 * then bn_fwd_eval: same formula, same order, whether the batch norm rides on
 * the Winograd output transform or runs as a second pass. */
static void check_conv_bn_eval(int n, int in_c, int hw, int out_c, int k, int stride, int with_res, int relu)
{
    RnConvDims d = conv_dims(n, in_c, hw, out_c, k, stride);
    RnDims od = {n, out_c, d.out_h, d.out_w};
    float *x = rand_buf(in_size(&d), 1, 0), *w = rand_buf(w_size(&d), 0.2f, 0);
    float *res = with_res ? rand_buf(out_size(&d), 1, 0) : NULL;
    float *gamma = rand_buf((size_t)out_c, 0.5f, 1), *beta = rand_buf((size_t)out_c, 0.5f, 0);
    float *mean = rand_buf((size_t)out_c, 0.5f, 0), *var = rand_buf((size_t)out_c, 0.4f, 1);
    float *pre = malloc(out_size(&d) * sizeof(float)), *want = malloc(out_size(&d) * sizeof(float));
    float *got = rand_buf(out_size(&d), 1, 0);
    rn_fast_conv_fwd(NULL, &d, x, w, pre);
    rn_fast_bn_fwd_eval(NULL, od, pre, gamma, beta, res, relu, mean, var, 1e-5f, want);
    rn_fast_conv_bn_eval_fwd(NULL, &d, x, w, gamma, beta, res, relu, mean, var, 1e-5f, got);
    size_t differ = 0;
    for (size_t i = 0; i < out_size(&d); i++)
        differ += memcmp(&got[i], &want[i], sizeof(float)) != 0;
    CHECK(differ == 0, "conv + bn eval n=%d %d->%d %dx%d k%d s%d res=%d relu=%d (%s): bitwise equal to the two "
          "ops (%zu of %zu differ)", n, in_c, out_c, hw, hw, k, stride, with_res, relu,
          rn_fast_wino_ok(&d) ? "Winograd epilogue" : "two passes", differ, out_size(&d));
    free(x); free(w); free(res); free(gamma); free(beta); free(mean); free(var); free(pre); free(want); free(got);
}

/* ------------------------------------------------------ conv + train batch norm */

/* The fused training op (rn_fast_conv_bn_train_fwd): pre bit for bit against
 * conv_fwd (whose rounding check_conv bounds: gathering the statistics must
 * not change it); the statistics and y against the batch norm of that same
 * pre worked out in double, so the check is of the statistics, not of the
 * convolution's rounding. offset > 0 feeds inputs
 * of offset + noise of 1e-3 of it through filters that are nearly all centre
 * tap (so the zero padding hardly shows at the borders): each channel's
 * outputs then have a mean over 1e3 times their spread, where E[y^2] -
 * E[y]^2 in float loses every digit of the variance (thousands of times the
 * tolerance below) and the pieces' shifted sums must not. */
static void check_conv_bn_train(int n, int in_c, int h, int w, int out_c, int stride, int with_res, int relu,
                                float offset)
{
    RnConvDims d = conv_rect(n, in_c, h, w, out_c, 3, stride);
    const size_t sz = out_size(&d), c = (size_t)out_c, plane = (size_t)d.out_h * d.out_w;
    float *x = offset > 0 ? rand_buf(in_size(&d), offset * 1e-3f, offset) : rand_buf(in_size(&d), 1, 0);
    float *wt = rand_buf(w_size(&d), offset > 0 ? 1e-3f : 0.2f, 0);
    for (size_t i = 4; offset > 0 && i < w_size(&d); i += 9)
        wt[i] += 1;
    float *res = with_res ? rand_buf(sz, 1, 0) : NULL;
    float *gamma = rand_buf(c, 0.5f, 1), *beta = rand_buf(c, 0.5f, 0);
    float *rm = rand_buf(c, 0.5f, 0), *rv = rand_buf(c, 0.4f, 1), *rm0 = malloc(c * sizeof(float));
    float *rv0 = malloc(c * sizeof(float)), *sm = malloc(c * sizeof(float)), *si = malloc(c * sizeof(float));
    float *pre = malloc(sz * sizeof(float)), *y = malloc(sz * sizeof(float));
    float *conv_only = malloc(sz * sizeof(float));
    memcpy(rm0, rm, c * sizeof(float));
    memcpy(rv0, rv, c * sizeof(float));
    rn_fast_conv_bn_train_fwd(NULL, &d, x, wt, gamma, beta, res, relu, 0.1f, 1e-5f, rm, rv, sm, si, pre, y);
    rn_fast_conv_fwd(NULL, &d, x, wt, conv_only);
    size_t differ = 0;
    for (size_t i = 0; i < sz; i++)
        differ += memcmp(&pre[i], &conv_only[i], sizeof(float)) != 0;
    CHECK(differ == 0, "conv + bn train n=%d %d->%d %dx%d s%d offset %g: pre is conv_fwd's, bit for bit (%zu of %zu "
          "differ)", n, in_c, out_c, h, w, stride, offset, differ, sz);
    int bad = 0;
    double worst = 0;
    const double cnt = (double)n * plane;
    for (size_t k = 0; k < c; k++) {
        double mean = 0, sq = 0;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < plane; j++)
                mean += pre[((size_t)i * c + k) * plane + j];
        mean /= cnt;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < plane; j++)
                sq += (pre[((size_t)i * c + k) * plane + j] - mean) * (pre[((size_t)i * c + k) * plane + j] - mean);
        const double var = sq / cnt, is = 1 / sqrt(var + 1e-5);
        vs(sm[k], mean, 1e-6 * (fabs(mean) + sqrt(var)), &bad, &worst);
        vs(si[k], is, 1e-5 * is, &bad, &worst);
        vs(rm[k], 0.9 * rm0[k] + 0.1 * mean, 1e-6 * (fabs(rm[k]) + sqrt(var)), &bad, &worst);
        vs(rv[k], 0.9 * rv0[k] + 0.1 * sq / (cnt - 1), 1e-5 * fabs(rv[k]), &bad, &worst);
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < plane; j++) {
                const size_t o = ((size_t)i * c + k) * plane + j;
                double v = (pre[o] - mean) * is * gamma[k] + beta[k] + (res ? res[o] : 0);
                v = relu && v < 0 ? 0 : v;
                /* float computes pre - mean with a float mean: each rounds to half
                 * an ulp of its magnitude, and the scale multiplies that */
                const double cancel = fabs(gamma[k] * is) * FLT_EPSILON * (fabs(pre[o]) + fabs(mean));
                vs(y[o], v, 1e-4 * (1 + fabs(v)) + cancel, &bad, &worst);
            }
    }
    CHECK(!bad, "conv + bn train n=%d %d->%d %dx%d s%d res=%d relu=%d offset %g (%s): statistics and y agree with "
          "pre's in double, worst %.3f of tolerance", n, in_c, out_c, h, w, stride, with_res, relu, offset,
          rn_fast_wino_ok(&d) ? "statistics from the Winograd pass" : "two ops", worst);
    free(x); free(wt); free(res); free(gamma); free(beta); free(rm); free(rv); free(rm0); free(rv0);
    free(sm); free(si); free(pre); free(y); free(conv_only);
}

/* rn_fast_transpose: every element in its place, bit for bit, in whole 16 x
 * 16 blocks, at edges of both kinds, and with leading dimensions wider than
 * the matrix (whose padding must stay untouched) */
static void check_transpose(void)
{
    const int shapes[][2] = {{16, 16}, {64, 256}, {37, 50}, {5, 3}, {48, 20}, {1, 33}};
    int bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int rows = shapes[k][0], cols = shapes[k][1], lds = cols + 3, ldt = rows + 5;
        float *S = rand_buf((size_t)rows * lds, 1, 0), *T = rand_buf((size_t)cols * ldt, 0, 0);
        for (int i = 0; i < cols * ldt; i++)
            T[i] = -1;
        rn_fast_transpose(rows, cols, S, lds, T, ldt);
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < ldt; i++)
                bad += i < rows ? memcmp(&T[j * ldt + i], &S[i * lds + j], sizeof(float)) != 0 : T[j * ldt + i] != -1;
        free(S);
        free(T);
    }
    CHECK(bad == 0, "rn_fast_transpose: 6 shapes, every element in place and the padding untouched (%d wrong)", bad);
}

#if defined(__AVX512F__)
#include "cpu/fast_tile.h"

/* sum_lanes16 (fast_tile.h) must give each vector's lane sum in the order it
 * documents (lanes j + j+8, then + 4, + 2, + 1), bit for bit, and put it in
 * the right lane; data of mixed signs and magnitudes so another order shows. */
static void check_sum_lanes16(void)
{
    float in[16][16], out[16];
    __m512 a[16];
    for (int v = 0; v < 16; v++) {
        for (int l = 0; l < 16; l++)
            in[v][l] = urand() * (float)(1 << (l % 12)) + (l == v ? 3e7f : 0);
        a[v] = _mm512_loadu_ps(in[v]);
    }
    _mm512_storeu_ps(out, sum_lanes16(a));
    int bad = 0;
    for (int v = 0; v < 16; v++) {
        float t[16];
        memcpy(t, in[v], sizeof t);
        for (int half = 8; half >= 1; half /= 2)
            for (int j = 0; j < half; j++)
                t[j] = t[j] + t[j + half];
        bad += memcmp(&t[0], &out[v], sizeof(float)) != 0;
    }
    CHECK(bad == 0, "sum_lanes16: 16 lane sums in the documented order, bit for bit (%d wrong)", bad);
}
#else
static void check_sum_lanes16(void) {}
#endif

int main(void)
{
    ref = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2, .reference = 1});
    /* a NaN reaching the ReLU stays NaN (divergence must show in the loss), as in the reference */
    {
        RnDims d1 = {1, 1, 1, 16};
        float xs[16], ys[16], g = 1, b = 0, m = 0, v = 1;
        for (int i = 0; i < 16; i++)
            xs[i] = i == 3 ? NAN : (float)i - 8;
        rn_fast_bn_fwd_eval(NULL, d1, xs, &g, &b, NULL, 1, &m, &v, 1e-5f, ys);
        CHECK(isnan(ys[3]) && ys[0] == 0 && ys[15] > 6, "bn eval + ReLU keeps a NaN, zeroes negatives");
    }
    check_sum_lanes16();
    check_transpose();
    /* every convolution of the nets at batch 128: stem, the three stages, the
     * two stride-2 transitions, and option B's 1x1 stride-2 projections */
    check_conv(128, 3, 32, 16, 3, 1);
    check_conv(128, 16, 32, 16, 3, 1);
    check_conv(128, 16, 32, 32, 3, 2);
    check_conv(128, 32, 16, 32, 3, 1);
    check_conv(128, 32, 16, 64, 3, 2);
    check_conv(128, 64, 8, 64, 3, 1);
    check_conv(128, 16, 32, 32, 1, 2);
    check_conv(128, 32, 16, 64, 1, 2);
    /* odd batches (the last batch of an epoch is 80) and shapes off the vector width */
    check_conv(1, 16, 32, 16, 3, 1);
    check_conv(80, 32, 16, 64, 3, 2);
    check_conv(80, 64, 8, 64, 3, 1);
    check_conv(3, 5, 7, 6, 3, 1);
    check_conv(2, 7, 9, 3, 3, 2);
    /* the split-plane stride-2 path (fast_stride2.c) off the nets' shapes: 5x5
     * outputs (vectors across row ends, a tail), 32x32 (two vectors a row) with
     * 12 filters and two chunks, one 1x1 output, and filter counts that take
     * the filter gradient's other blocks (40: 3 vectors; 80: 4 + 1) with
     * Cin*9 rows off the block height */
    check_conv(3, 5, 10, 7, 3, 2);
    check_conv(9, 16, 64, 12, 3, 2);
    check_conv(2, 8, 2, 8, 3, 2);
    check_conv(2, 5, 6, 40, 3, 2);
    check_conv(2, 3, 8, 80, 3, 2);
    /* the direct stride-1 path (fast_direct.c) at other kernel sizes and
     * channel counts off its 8-channel block: 1x1 (no padding), 5x5 (pad 2) */
    check_conv(2, 5, 7, 11, 1, 1);
    check_conv(2, 3, 11, 13, 5, 1);
    check_conv(4, 9, 20, 17, 3, 1);
    /* the Winograd path (fast_wino.c) off the nets' planes (16x16 and 32x32:
     * F(4x4,3x3) with tile rows of a quarter and a half vector; 8x8: F(2x2,3x3)
     * with a quarter): F(4x4,3x3) with tile rows that fill a vector (64x64);
     * F(2x2,3x3) with rows of three vectors (96x96), with fewer tiles than a
     * vector (4x4) and one tile (2x2); channel counts off 16 */
    check_conv(2, 8, 64, 12, 3, 1);
    check_conv(2, 8, 96, 8, 3, 1);
    /* the Winograd layers of the nets again with positive data (see check_conv_data) */
    check_conv_data(32, 16, 32, 32, 16, 3, 1, 1);
    check_conv_data(32, 32, 16, 16, 32, 3, 1, 1);
    check_conv_data(32, 64, 8, 8, 64, 3, 1, 1);
    check_conv(5, 12, 4, 8, 3, 1);
    check_conv(9, 16, 2, 24, 3, 1);
    /* planes that are not square, which the nets never have but the fast
     * paths take: F(2x2,3x3) straight from 8-, 16- and 32-wide planes (16x8,
     * 8x16, 4x32, 6x32), F(4x4,3x3) straight from 16- and 32-wide ones (32x16,
     * 8x32), both through the split copy (8x4 with fewer tiles than a vector,
     * 4x64), then stride 2 and the direct path */
    check_conv_data(3, 16, 16, 8, 16, 3, 1, 0);
    check_conv_data(3, 16, 8, 16, 12, 3, 1, 0);
    check_conv_data(3, 12, 4, 32, 16, 3, 1, 0);
    check_conv_data(3, 16, 6, 32, 16, 3, 1, 0);
    check_conv_data(3, 16, 32, 16, 16, 3, 1, 0);
    check_conv_data(3, 12, 8, 32, 16, 3, 1, 0);
    check_conv_data(3, 16, 8, 4, 8, 3, 1, 0);
    check_conv_data(3, 8, 4, 64, 16, 3, 1, 0);
    check_conv_data(3, 16, 16, 32, 32, 3, 2, 0);
    check_conv_data(2, 3, 9, 14, 5, 5, 1, 0);

    int shapes[3][2] = {{16, 32}, {32, 16}, {64, 8}};
    for (int s = 0; s < 3; s++) {
        check_bn(128, shapes[s][0], shapes[s][1], 0, 1);
        check_bn(128, shapes[s][0], shapes[s][1], 1, 1);
    }
    check_bn(128, 64, 8, 0, 0);
    check_bn(1, 16, 32, 1, 1);
    check_bn(80, 32, 16, 1, 1);
    check_bn(3, 5, 7, 0, 1);
    check_bn_mask_paths();

    /* a unit's backward in one sweep, at each Winograd plane of the nets and
     * odd batches (a last filter group or chunk cut short) */
    check_unit_bwd(128, 16, 32, 1, 1, 0, 1, 0);
    check_unit_bwd(128, 16, 32, 0, 1, 1, 1, 1);
    check_unit_bwd(128, 32, 16, 1, 1, 0, 1, 0);
    check_unit_bwd(80, 32, 16, 0, 1, 1, 1, 1);
    check_unit_bwd(128, 64, 8, 0, 1, 1, 1, 1);
    check_unit_bwd(37, 64, 8, 1, 1, 0, 1, 0);
    check_unit_bwd(5, 16, 32, 1, 0, 0, 1, 1);
    check_unit_bwd(3, 8, 4, 0, 1, 0, 0, 0);

    /* a unit's batch-norm sums gathered by the unit after it, at each Winograd
     * plane of the nets (q with a residual, p adding a shortcut gradient where
     * q's residual gradient goes: an identity block's conv1 and the block
     * before's conv2; and a plain net's pair), and on a plane of 4 blocks */
    check_unit_chain(20, 16, 32, 1, 1, 1);
    check_unit_chain(19, 16, 32, 0, 0, 0);
    check_unit_chain(37, 32, 16, 1, 1, 1);
    check_unit_chain(24, 64, 8, 0, 1, 0);
    check_unit_chain(17, 64, 8, 1, 0, 1);
    check_unit_chain(3, 8, 64, 1, 1, 1);
    /* ... and of the units that are not Winograd's: the input layer (gathered
     * by the first block's conv1, which adds the identity shortcut's
     * gradient) and the stride-2 conv1 of a stage's first block */
    check_unit_chain_of(9, 16, 32, 0, 1, 1, 3, 1, 0);
    check_unit_chain_of(11, 32, 16, 0, 1, 0, 16, 2, 1);
    check_unit_chain_of(6, 64, 8, 0, 0, 0, 32, 2, 1);

    /* the fused eval op: the Winograd epilogue at each plane size, and the
     * two-pass fallback (stem, stride 2) */
    for (int r = 0; r < 2; r++)
        for (int relu = 0; relu < 2; relu++)
            check_conv_bn_eval(5, 16, 32, 16, 3, 1, r, relu);
    check_conv_bn_eval(7, 32, 16, 32, 3, 1, 1, 1);
    check_conv_bn_eval(9, 64, 8, 64, 3, 1, 1, 1);
    check_conv_bn_eval(3, 12, 4, 8, 3, 1, 0, 1);
    check_conv_bn_eval(4, 3, 32, 16, 3, 1, 0, 1);
    check_conv_bn_eval(4, 16, 32, 32, 3, 2, 0, 1);

    /* the fused training op: each Winograd plane of the nets (pieces of 4 tile
     * rows of a 32x32 image; whole 16x16 images; groups of 8x8 images), odd
     * batches, a large mean against the spread, pieces that cut tile rows
     * (4x96: 48 tiles a row, pieces of 64), and the two-op fallback */
    check_conv_bn_train(16, 16, 32, 32, 16, 1, 1, 1, 0);
    check_conv_bn_train(16, 16, 32, 32, 16, 1, 0, 1, 0);
    check_conv_bn_train(7, 32, 16, 16, 32, 1, 1, 0, 0);
    check_conv_bn_train(9, 64, 8, 8, 64, 1, 1, 1, 0);
    check_conv_bn_train(5, 16, 32, 32, 16, 1, 0, 1, 8);
    check_conv_bn_train(9, 64, 8, 8, 64, 1, 0, 1, 8);
    check_conv_bn_train(3, 8, 4, 96, 8, 1, 0, 1, 0);
    check_conv_bn_train(3, 8, 4, 96, 8, 1, 0, 1, 8);
    check_conv_bn_train(4, 3, 32, 32, 16, 1, 0, 1, 0);
    check_conv_bn_train(4, 16, 32, 32, 32, 2, 1, 1, 0);
    rn_fast_workspace_free();
    ref->destroy(ref);
    return test_done();
}
