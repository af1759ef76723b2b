/* The evaluation pass (evaluate.h). */
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "dataset.h"
#include "err.h"
#include "io.h"
#include "weights.h"

void rn_evaluate_pass(RnModel *m, uint32_t count, int batch, const RnBatchSpec *spec, const uint8_t *labels,
                      int classes, uint32_t *confusion, bool responses, RnEvalSums *sums)
{
    RnBackend *be = rn_model_backend(m);
    float *logits = confusion ? rn_xmalloc(sizeof(float) * (size_t)batch * (size_t)classes) : NULL;
    sums->loss_sum = sums->errors = 0;
    for (int64_t start = 0; start < count; start += batch) {
        int n = rn_batch_len(count, batch, start);
        be->load_batch(be, RN_SLOT_TEST, (size_t)start, n, spec, rn_model_input(m), rn_model_labels(m));
        rn_model_reset_stats(m);
        if (responses)
            rn_model_collect_responses(m, n);   /* also the eval forward */
        else
            rn_model_forward(m, n, false);
        rn_model_loss(m, n, 0, false);
        double l, e;
        int bad;
        rn_model_read_stats(m, &l, &e, &bad);
        sums->loss_sum += l;
        sums->errors += e;
        if (!confusion)
            continue;
        rn_model_get_logits(m, n, logits);
        for (int i = 0; i < n; i++) {
            const float *z = logits + (size_t)i * (size_t)classes;
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (z[c] > z[best])
                    best = c;
            uint32_t truth = labels[start + i];
            confusion[truth * (uint32_t)classes + (uint32_t)best]++;
        }
    }
    free(logits);
}

void rn_evaluate(const RnEvaluateOptions *o, RnEval *e)
{
    RnWeights w;
    rn_weights_read(o->weights_path, &w, NULL);
    RnDataset ds;
    rn_dataset_read(o->data_path, &ds);
    const char *wshown = rn_is_stdio(o->weights_path) ? "stdin" : o->weights_path;
    rn_check_images(o->data_path, &ds);
    if ((int)ds.classes != w.net.cfg.classes)
        rn_die("%s has %u classes but the weights %s have %d", o->data_path, ds.classes, wshown, w.net.cfg.classes);

    RnBackend *be = rn_backend_create(&o->backend);
    rn_normalize_check(be, o->normalize);
    float *pixel_mean = NULL;
    if (o->mean_from) {
        RnDataset train;
        rn_dataset_read(o->mean_from, &train);
        if (train.count == 0 || train.channels != ds.channels || train.height != ds.height || train.width != ds.width)
            rn_die("%s: %u images of %ux%ux%u cannot give the mean image of %s's %ux%ux%u images", o->mean_from,
                   train.count, train.channels, train.height, train.width, o->data_path, ds.channels, ds.height,
                   ds.width);
        pixel_mean = rn_pixel_mean(&train);
        rn_dataset_free(&train);
    }
    int max_batch = o->batch < (int)ds.count ? o->batch : (int)ds.count;
    RnModel *m = rn_model_create_inference(be, &w.net, max_batch);
    rn_model_set_weights(m, &w);
    be->set_dataset(be, RN_SLOT_TEST, &ds);
    uint32_t *order = rn_xmalloc(sizeof(uint32_t) * ds.count);
    for (uint32_t i = 0; i < ds.count; i++)
        order[i] = i;
    be->set_order(be, RN_SLOT_TEST, order, ds.count);
    RnBatchSpec spec = rn_batch_spec(0, 0, pixel_mean);

    memset(e, 0, sizeof *e);
    rn_net_label(&w.net.cfg, e->label, sizeof e->label);
    e->cfg = w.net.cfg;
    e->count = ds.count;
    e->classes = ds.classes;
    for (uint32_t c = 0; c < ds.classes; c++)
        snprintf(e->class_names[c], sizeof e->class_names[c], "%s", ds.class_names[c]);
    e->confusion = rn_xcalloc((size_t)ds.classes * ds.classes, sizeof(uint32_t));
    RnEvalSums sums;
    rn_evaluate_pass(m, ds.count, max_batch, &spec, ds.labels, (int)ds.classes, e->confusion, o->responses, &sums);
    uint32_t wrong = 0;   /* off the confusion's diagonal: the downloaded logits' count */
    for (uint32_t t = 0; t < ds.classes; t++)
        for (uint32_t p = 0; p < ds.classes; p++)
            wrong += p != t ? e->confusion[t * ds.classes + p] : 0;
    e->loss = sums.loss_sum / ds.count;
    e->error = (double)wrong / ds.count;
    if (!isfinite(e->loss))
        rn_die("the loss of %s on %s is not finite (diverged weights?)", wshown, o->data_path);
    if (o->responses) {
        e->nlayers = (uint32_t)rn_model_response_layers(m);
        e->layer_std = rn_xmalloc(sizeof(double) * e->nlayers);
        rn_model_response_std(m, e->layer_std);
    }

    free(order);
    free(pixel_mean);
    rn_model_free(m);
    rn_backend_destroy(be);
    rn_dataset_free(&ds);
    rn_weights_free(&w);
}
