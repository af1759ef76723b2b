/* Reference SGD step, PyTorch's torch.optim.SGD with dampening 0, no Nesterov:
 *   g   = grad + wd * w          (weight decay is an L2 term folded into g)
 *   buf = momentum * buf + g     (PyTorch starts buf at g; buf = 0 here gives
 *                                 exactly that: momentum * 0 + g == g)
 *   w   = w - lr * buf
 * Each parameter is independent, so any split over threads gives the same bits.
 * GCC in ISO C mode (-std=c11, as the Makefile builds) does not contract a*b+c
 * into a fused multiply-add, so each line rounds as written (clang would fuse
 * within an expression unless given -ffp-contract=off). */
#include "cpu_backend.h"

#include <stdlib.h>

#include "err.h"

void cpu_ref_sgd(RnBackend *be, size_t n, float *w, const float *grad, float *buf,
                 float lr, float momentum, float wd)
{
#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float g = grad[i] + wd * w[i];
        buf[i] = momentum * buf[i] + g;
        w[i] = w[i] - lr * buf[i];
    }
}

/* sum x and sum x^2 in double (rn-eval's per-layer response statistics).
 * The values are cut into fixed chunks of MOMENT_CHUNK; each chunk is summed
 * on its own (in parallel), then the chunk sums are added in chunk order, so
 * the result depends on n only, never on the thread count. */
enum { MOMENT_CHUNK = 4096 };

void cpu_ref_moments(RnBackend *be, const float *x, size_t n, double *sum, double *sumsq)
{
    const size_t chunks = (n + MOMENT_CHUNK - 1) / MOMENT_CHUNK;
    double *part = rn_xcalloc(chunks ? 2 * chunks : 1, sizeof *part);

#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        const size_t end = (c + 1) * MOMENT_CHUNK < n ? (c + 1) * MOMENT_CHUNK : n;
        double s = 0.0, s2 = 0.0;
        for (size_t i = c * MOMENT_CHUNK; i < end; i++) {
            s += x[i];
            s2 += (double)x[i] * x[i];
        }
        part[2 * c] = s;
        part[2 * c + 1] = s2;
    }
    double s = 0.0, s2 = 0.0;
    for (size_t c = 0; c < chunks; c++) {
        s += part[2 * c];
        s2 += part[2 * c + 1];
    }
    free(part);
    *sum = s;
    *sumsq = s2;
}
