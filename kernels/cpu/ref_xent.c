/* Reference softmax cross-entropy, averaged over the batch.
 *
 * For sample s with logits z[0..K-1] and label t:
 *   m         = max_j z[j]                         (subtracted so exp never overflows)
 *   lse       = m + log(sum_j exp(z[j] - m))       (= log sum_j exp z[j], stably)
 *   loss_s    = lse - z[t]                         (= -log softmax(z)[t])
 *   loss      = (1/N) sum_s loss_s
 *   dloss/dz[j] = (softmax(z)[j] - [j == t]) / N,  softmax(z)[j] = exp(z[j] - lse)
 * The statistics the training loop reads once per epoch (no host round trip):
 *   stats[0] += sum_s loss_s,  stats[1] += number of samples whose argmax
 *   (first maximum) is not the label,  stats[2] = step when the loss is not
 *   finite and stats[2] < 0 (the first bad step is kept).
 * The batch is small (128 x 10), so one thread does it in sample order, in double. */
#include "cpu_backend.h"

#include <math.h>

#include "err.h"

void cpu_ref_xent(RnBackend *be, int n, int classes, const float *logits, const int32_t *labels,
                  float *dlogits, float *stats, int step)
{
    (void)be;
    double loss_sum = 0.0;
    int wrong = 0;
    for (int s = 0; s < n; s++) {
        const float *z = logits + (size_t)s * classes;
        const int t = labels[s];
        if (t < 0 || t >= classes)
            rn_die("label %d of batch sample %d is outside 0..%d (dataset and network disagree)",
                   t, s, classes - 1);
        int argmax = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[argmax])
                argmax = j;
        const double m = z[argmax];
        double sum_exp = 0.0;
        for (int j = 0; j < classes; j++)
            sum_exp += exp((double)z[j] - m);
        const double lse = m + log(sum_exp);
        loss_sum += lse - z[t];
        wrong += argmax != t;
        if (dlogits)
            for (int j = 0; j < classes; j++) {
                const double p = exp((double)z[j] - lse);
                dlogits[(size_t)s * classes + j] = (float)((p - (j == t ? 1.0 : 0.0)) / n);
            }
    }
    stats[0] += (float)loss_sum;
    stats[1] += (float)wrong;
    if (!isfinite(loss_sum) && stats[2] < 0.0f)
        stats[2] = (float)step;
}
