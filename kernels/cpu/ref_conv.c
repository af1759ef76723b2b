/* Reference 2-D convolution (no bias), NCHW activations, weights [out][in][k][k].
 * Any kernel size, stride and zero padding: the network uses 3x3 stride 1 and 2
 * with pad 1, and 1x1 stride 2 with pad 0 (option-B shortcut).
 *
 * Notation: input x[n][i][ih][iw], weights w[o][i][kh][kw], output y[n][o][oh][ow],
 * stride S, padding P. Output (oh, ow) sees input row ih = oh*S - P + kh and
 * column iw = ow*S - P + kw; positions outside the input are the zero padding
 * and contribute nothing.
 *
 *   forward      y[n][o][oh][ow]  = sum_{i,kh,kw} w[o][i][kh][kw] * x[n][i][ih][iw]
 *   bwd data     dx[n][i][ih][iw] = sum over every (o, kh, kw, oh, ow) that reads
 *                                   (ih, iw) of w[o][i][kh][kw] * dy[n][o][oh][ow]
 *   bwd filter   dw[o][i][kh][kw] = sum_{n,oh,ow} x[n][i][ih][iw] * dy[n][o][oh][ow]
 *
 * Threads: each parallel job owns a disjoint block of outputs (a plane of y or
 * dx, or one filter of dw) and sums its terms in a fixed order, so the result
 * is the same bits for any thread count. */
#include "cpu_backend.h"

/* The outputs o in [*lo, *hi) whose tap k lands inside the input, i.e.
 * 0 <= o*stride - pad + k < in. Computing the range once keeps the padding
 * test out of the innermost loops. */
static void tap_range(int k, int pad, int stride, int in, int out, int *lo, int *hi)
{
    int first = pad - k;   /* need o*stride >= pad - k */
    int l = first <= 0 ? 0 : (first + stride - 1) / stride;
    int last = in + pad - k;   /* need o*stride < in + pad - k */
    int h = last <= 0 ? 0 : (last + stride - 1) / stride;
    if (h > out)
        h = out;
    if (h < l)
        h = l;
    *lo = l;
    *hi = h;
}

void cpu_ref_conv_fwd(RnBackend *be, const RnConvDims *d, const float *x, const float *w, float *y)
{
    const int K = d->kernel, S = d->stride, P = d->pad;
    const size_t in_plane = (size_t)d->in_h * d->in_w, out_plane = (size_t)d->out_h * d->out_w;
    const long jobs = (long)d->n * d->out_c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < jobs; job++) {   /* one output plane y[n][o] */
        const int n = (int)(job / d->out_c), o = (int)(job % d->out_c);
        float *yp = y + (size_t)job * out_plane;
        for (size_t k = 0; k < out_plane; k++)
            yp[k] = 0.0f;
        for (int i = 0; i < d->in_c; i++) {
            const float *xp = x + ((size_t)n * d->in_c + i) * in_plane;
            const float *wp = w + ((size_t)o * d->in_c + i) * K * K;
            for (int kh = 0; kh < K; kh++) {
                int oh_lo, oh_hi;
                tap_range(kh, P, S, d->in_h, d->out_h, &oh_lo, &oh_hi);
                for (int kw = 0; kw < K; kw++) {
                    int ow_lo, ow_hi;
                    tap_range(kw, P, S, d->in_w, d->out_w, &ow_lo, &ow_hi);
                    const float wv = wp[kh * K + kw];
                    for (int oh = oh_lo; oh < oh_hi; oh++) {
                        const float *xrow = xp + (size_t)(oh * S - P + kh) * d->in_w;
                        float *yrow = yp + (size_t)oh * d->out_w;
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            yrow[ow] += wv * xrow[ow * S - P + kw];
                    }
                }
            }
        }
    }
}

void cpu_ref_conv_bwd_data(RnBackend *be, const RnConvDims *d, const float *dy, const float *w, float *dx)
{
    const int K = d->kernel, S = d->stride, P = d->pad;
    const size_t in_plane = (size_t)d->in_h * d->in_w, out_plane = (size_t)d->out_h * d->out_w;
    const long jobs = (long)d->n * d->in_c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < jobs; job++) {   /* one input-gradient plane dx[n][i] */
        const int n = (int)(job / d->in_c), i = (int)(job % d->in_c);
        float *dxp = dx + (size_t)job * in_plane;
        for (size_t k = 0; k < in_plane; k++)
            dxp[k] = 0.0f;
        /* Scatter every output gradient back along the taps that produced it:
         * the transpose of the forward loop, restricted to input channel i. */
        for (int o = 0; o < d->out_c; o++) {
            const float *dyp = dy + ((size_t)n * d->out_c + o) * out_plane;
            const float *wp = w + ((size_t)o * d->in_c + i) * K * K;
            for (int kh = 0; kh < K; kh++) {
                int oh_lo, oh_hi;
                tap_range(kh, P, S, d->in_h, d->out_h, &oh_lo, &oh_hi);
                for (int kw = 0; kw < K; kw++) {
                    int ow_lo, ow_hi;
                    tap_range(kw, P, S, d->in_w, d->out_w, &ow_lo, &ow_hi);
                    const float wv = wp[kh * K + kw];
                    for (int oh = oh_lo; oh < oh_hi; oh++) {
                        float *dxrow = dxp + (size_t)(oh * S - P + kh) * d->in_w;
                        const float *dyrow = dyp + (size_t)oh * d->out_w;
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            dxrow[ow * S - P + kw] += wv * dyrow[ow];
                    }
                }
            }
        }
    }
}

void cpu_ref_conv_bwd_filter(RnBackend *be, const RnConvDims *d, const float *x, const float *dy, float *dw)
{
    const int K = d->kernel, S = d->stride, P = d->pad;
    const size_t in_plane = (size_t)d->in_h * d->in_w, out_plane = (size_t)d->out_h * d->out_w;
    const long jobs = (long)d->out_c * d->in_c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < jobs; job++) {   /* one filter slice dw[o][i] */
        const int o = (int)(job / d->in_c), i = (int)(job % d->in_c);
        float *dwp = dw + (size_t)job * K * K;
        for (int kh = 0; kh < K; kh++) {
            int oh_lo, oh_hi;
            tap_range(kh, P, S, d->in_h, d->out_h, &oh_lo, &oh_hi);
            for (int kw = 0; kw < K; kw++) {
                int ow_lo, ow_hi;
                tap_range(kw, P, S, d->in_w, d->out_w, &ow_lo, &ow_hi);
                /* A sum over the whole batch (up to 128 x 32 x 32 terms): each
                 * output row is summed in float, the rows in double, so the
                 * oracle does not lose digits to a long float accumulation. */
                double sum = 0.0;
                for (int n = 0; n < d->n; n++) {
                    const float *xp = x + ((size_t)n * d->in_c + i) * in_plane;
                    const float *dyp = dy + ((size_t)n * d->out_c + o) * out_plane;
                    for (int oh = oh_lo; oh < oh_hi; oh++) {
                        const float *xrow = xp + (size_t)(oh * S - P + kh) * d->in_w;
                        const float *dyrow = dyp + (size_t)oh * d->out_w;
                        float row = 0.0f;
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            row += xrow[ow * S - P + kw] * dyrow[ow];
                        sum += row;
                    }
                }
                dwp[kh * K + kw] = (float)sum;
            }
        }
    }
}
