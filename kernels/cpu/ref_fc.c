/* Reference fully connected layer, weights [out][in] as PyTorch's nn.Linear:
 *   y[n][o]  = b[o] + sum_i x[n][i] * w[o][i]
 *   dx[n][i] = sum_o dy[n][o] * w[o][i]
 *   dw[o][i] = sum_n dy[n][o] * x[n][i]
 *   db[o]    = sum_n dy[n][o]
 * Threads: each output element is one job's own sum, taken in index order
 * (in double: the sums are short here, the cost is nothing). */
#include "cpu_backend.h"

void cpu_ref_fc_fwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *b, float *y)
{
    const long jobs = (long)n * out;
#pragma omp parallel for num_threads(cpu_threads(be)) schedule(static)
    for (long job = 0; job < jobs; job++) {
        const int s = (int)(job / out), o = (int)(job % out);
        const float *xs = x + (size_t)s * in, *wo = w + (size_t)o * in;
        double sum = b[o];
        for (int i = 0; i < in; i++)
            sum += (double)xs[i] * wo[i];
        y[job] = (float)sum;
    }
}

void cpu_ref_fc_bwd(RnBackend *be, int n, int in, int out, const float *x, const float *w, const float *dy,
                    float *dx, float *dw, float *db)
{
    const int threads = cpu_threads(be);
    if (dx) {   /* NULL when the layer's input needs no gradient */
        const long jobs = (long)n * in;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long job = 0; job < jobs; job++) {
            const int s = (int)(job / in), i = (int)(job % in);
            double sum = 0.0;
            for (int o = 0; o < out; o++)
                sum += (double)dy[(size_t)s * out + o] * w[(size_t)o * in + i];
            dx[job] = (float)sum;
        }
    }
    const long jobs = (long)out * in;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long job = 0; job < jobs; job++) {
        const int o = (int)(job / in), i = (int)(job % in);
        double sum = 0.0;
        for (int s = 0; s < n; s++)
            sum += (double)dy[(size_t)s * out + o] * x[(size_t)s * in + i];
        dw[job] = (float)sum;
    }
    for (int o = 0; o < out; o++) {
        double sum = 0.0;
        for (int s = 0; s < n; s++)
            sum += dy[(size_t)s * out + o];
        db[o] = (float)sum;
    }
}
