/* Reference global average pooling: [n][c][h][w] -> [n][c].
 *   y[n][c]        = (1 / (H*W)) sum_{h,w} x[n][c][h][w]
 *   dx[n][c][h][w] = dy[n][c] / (H*W)
 * Threads: one (n, c) plane per job, summed in index order (in double). */
#include "cpu_backend.h"

void cpu_ref_avgpool_fwd(RnBackend *be, RnDims in, const float *x, float *y)
{
    const size_t plane = (size_t)in.h * in.w;
    const long planes = (long)in.n * in.c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < planes; job++) {
        const float *xp = x + (size_t)job * plane;
        double sum = 0.0;
        for (size_t k = 0; k < plane; k++)
            sum += xp[k];
        y[job] = (float)(sum / (double)plane);
    }
}

void cpu_ref_avgpool_bwd(RnBackend *be, RnDims in, const float *dy, float *dx)
{
    const size_t plane = (size_t)in.h * in.w;
    const long planes = (long)in.n * in.c;

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < planes; job++) {
        const float g = (float)((double)dy[job] / (double)plane);
        float *dxp = dx + (size_t)job * plane;
        for (size_t k = 0; k < plane; k++)
            dxp[k] = g;
    }
}
