/* Reference option-A shortcut (He et al. 2016, section 4.2) and the residual add.
 *
 * When a stage halves the resolution and doubles the channels, option A keeps
 * the shortcut parameter-free: take every second row and column,
 *   s = x[:, :, ::2, ::2]                      (H' = ceil(H/2), W' = ceil(W/2))
 * and zero-pad the channels by p = (out_c - c) / 2 on each side, so input
 * channel j lands in output channel p + j (the identity sits in the middle
 * channels, as in the common PyTorch reproduction: F.pad(..., (0,0,0,0,p,p))):
 *   y[n][p + j][h'][w'] = x[n][j][2h'][2w'],   every other output is 0.
 * Its gradient routes dy back to the sampled positions and drops the padding:
 *   dx[n][j][2h'][2w'] += dy[n][p + j][h'][w']   (the other dx are untouched).
 *
 * Threads: every output element has one writer; no sums. */
#include "cpu_backend.h"

#include "err.h"

static int pad_channels(RnDims in, int out_c)
{
    if (out_c < in.c || (out_c - in.c) % 2 != 0)
        rn_die("internal error: option-A shortcut from %d to %d channels (needs an even increase)",
               in.c, out_c);
    return (out_c - in.c) / 2;
}

void cpu_ref_shortcut_pad_fwd(RnBackend *be, RnDims in, int out_c, const float *x, float *y)
{
    const int p = pad_channels(in, out_c);
    const int oh = (in.h + 1) / 2, ow = (in.w + 1) / 2;
    const long planes = (long)in.n * out_c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < planes; job++) {   /* one output plane y[n][oc] */
        const int n = (int)(job / out_c), oc = (int)(job % out_c), j = oc - p;
        float *yp = y + (size_t)job * oh * ow;
        if (j < 0 || j >= in.c) {
            for (int k = 0; k < oh * ow; k++)
                yp[k] = 0.0f;
            continue;
        }
        const float *xp = x + ((size_t)n * in.c + j) * in.h * in.w;
        for (int h = 0; h < oh; h++)
            for (int w = 0; w < ow; w++)
                yp[h * ow + w] = xp[(size_t)(2 * h) * in.w + 2 * w];
    }
}

void cpu_ref_shortcut_pad_bwd(RnBackend *be, RnDims in, int out_c, const float *dy, float *dx)
{
    const int p = pad_channels(in, out_c);
    const int oh = (in.h + 1) / 2, ow = (in.w + 1) / 2;
    const long planes = (long)in.n * in.c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < planes; job++) {   /* one input plane dx[n][j] */
        const int n = (int)(job / in.c), j = (int)(job % in.c);
        const float *dyp = dy + ((size_t)n * out_c + p + j) * oh * ow;
        float *dxp = dx + (size_t)job * in.h * in.w;
        for (int h = 0; h < oh; h++)
            for (int w = 0; w < ow; w++)
                dxp[(size_t)(2 * h) * in.w + 2 * w] += dyp[h * ow + w];
    }
}

/* dst += src, element by element (the identity shortcut's gradient, and the
 * place where two gradient paths meet). */
void cpu_ref_add(RnBackend *be, float *dst, const float *src, size_t n)
{
#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}
