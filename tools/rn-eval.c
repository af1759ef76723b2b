/* rn-eval: evaluates weights on a dataset (loss, error, per-class accuracy,
 * confusion matrix, optionally the paper's Fig. 7 layer responses) into an
 * eval file; and prints any metrics or eval file as TSV (--tsv). */
#include "backend.h"
#include "dataset.h"
#include "err.h"
#include "evalfile.h"
#include "io.h"
#include "metrics.h"
#include "model.h"
#include "normalize.h"
#include "opts.h"
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the same normalisation as training (lib/train.c, docs/DESIGN.md) */
static const float CIFAR_MEAN[3] = {0.4914f, 0.4822f, 0.4465f};
static const float CIFAR_STD[3] = {0.2470f, 0.2435f, 0.2616f};

/* --tsv: the kind of file is told by its magic. */
static void print_tsv(const char *path)
{
    if (rn_is_stdio(path))
        rn_usage_error("--tsv needs a file name, not stdin");
    char magic[8] = {0};
    FILE *f = rn_open_read(path);
    size_t got = fread(magic, 1, sizeof magic, f);
    rn_close_read(f, path);
    if (got == sizeof magic && memcmp(magic, RN_METRICS_MAGIC, 8) == 0) {
        RnMetrics m;
        rn_metrics_read(path, &m);
        rn_metrics_print_tsv(&m, stdout);
        rn_metrics_free(&m);
    } else if (got == sizeof magic && memcmp(magic, RN_EVAL_MAGIC, 8) == 0) {
        RnEval e;
        rn_eval_read(path, &e);
        rn_eval_print_tsv(&e, stdout);
        rn_eval_free(&e);
    } else {
        rn_die("%s: neither a metrics file (RNMETRIC) nor an eval file (RNEVAL)", path);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        rn_die("cannot write stdout");
}

static void print_summary(FILE *out, const RnEval *e, const char *weights, const char *data)
{
    fprintf(out, "%s (%s) on %s: %u images, loss %.4f, error %.2f%% (accuracy %.2f%%)\n", e->label, weights, data,
            e->count, e->loss, 100 * e->error, 100 * (1 - e->error));
    fprintf(out, "per-class accuracy:");
    for (uint32_t c = 0; c < e->classes; c++) {
        uint32_t total = 0;
        for (uint32_t p = 0; p < e->classes; p++)
            total += e->confusion[c * e->classes + p];
        fprintf(out, " %s %.1f%%", e->class_names[c], total ? 100.0 * e->confusion[c * e->classes + c] / total : 0.0);
    }
    fprintf(out, "\n");
    if (e->nlayers) {
        fprintf(out, "layer response std (Fig. 7):");
        for (uint32_t l = 0; l < e->nlayers; l++)
            fprintf(out, " %.3f", e->layer_std[l]);
        fprintf(out, "\n");
    }
}

int main(int argc, char **argv)
{
    const char *weights_path = NULL, *data_path = NULL, *out_path = NULL, *tsv = NULL, *device = "auto";
    const char *normalize = "channel", *mean_from = NULL;
    int responses = 0, batch = 1000;
    RnBackendOptions bopts = {.device = "auto"};
    const RnOpt opts[] = {
        {"weights", 0, RN_OPT_STR, &weights_path, "W.safetensors", "weights or checkpoint to evaluate ('-' = stdin)"},
        {"data", 0, RN_OPT_STR, &data_path, "TEST.ds", "dataset to evaluate on (required with --weights)"},
        {"output", 'o', RN_OPT_STR, &out_path, "OUT.eval", "write the eval file here (else: summary on stdout)"},
        {"responses", 0, RN_OPT_FLAG, &responses, NULL, "also the std of every 3x3 layer's response (Fig. 7)"},
        {"normalize", 0, RN_OPT_STR, &normalize, "channel|pixel", "as the weights were trained (default: channel)"},
        {"mean-from", 0, RN_OPT_STR, &mean_from, "TRAIN.ds", "pixel: the training set whose mean image is subtracted"},
        {"batch", 0, RN_OPT_INT, &batch, "N", "images per forward pass (default: 1000)"},
        {"device", 0, RN_OPT_STR, &device, "auto|cpu|cuda", "compute backend (default: auto)"},
        {"threads", 0, RN_OPT_INT, &bopts.threads, "N", "CPU threads (default: 0, all cores)"},
        {"reference", 0, RN_OPT_FLAG, &bopts.reference, NULL, "CPU: the plain reference kernels"},
        {"tsv", 0, RN_OPT_STR, &tsv, "FILE", "print a metrics or eval file as TSV on stdout, and exit"},
        {0},
    };
    const RnOptInfo info = {
        "--weights W.safetensors --data TEST.ds [-o OUT.eval] [--responses] | --tsv FILE",
        "Evaluate weights on a dataset: loss, error, per-class accuracy, confusion matrix, layer responses.",
        "Evaluation is in eval mode (BN running statistics), without augmentation; the loss is the mean\n"
        "cross-entropy; a prediction is the first largest logit. --responses (He et al. 2016, Fig. 7): for\n"
        "each 3x3 conv layer in order (conv1, then layer{s}.{i}.conv1, conv2), its BN output before the\n"
        "residual addition and the ReLU; the value is the population standard deviation over ALL elements\n"
        "of that output (every image of the set, channel and position): sqrt(E[y^2] - E[y]^2), summed in\n"
        "double. The summary goes to stderr with -o, else to stdout.\n"
        "Normalise as in training: --normalize pixel --mean-from TRAIN.ds for a run trained with rn-train\n"
        "--normalize pixel on TRAIN.ds (the mean image is recomputed from it; CPU only).\n"
        "--tsv FILE prints any metrics file (rn-train --metrics) or eval file as TSV, told apart by magic;\n"
        "a torn last metrics record (crash while writing) is dropped with a warning."};
    int first = rn_parse_options(argc, argv, opts, &info);
    if (first < argc)
        rn_usage_error("unexpected argument '%s'", argv[first]);
    if (tsv) {
        if (weights_path || data_path || out_path)
            rn_usage_error("--tsv takes no other input or output");
        print_tsv(tsv);
        return 0;
    }
    if (!weights_path || !data_path)
        rn_usage_error("give --weights W.safetensors and --data TEST.ds (or --tsv FILE)");
    if (batch < 1)
        rn_usage_error("--batch must be at least 1");
    if (bopts.threads < 0 || bopts.threads > 1024)
        rn_usage_error("--threads must be 0..1024 (0 = all cores)");
    if (strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "cuda"))
        rn_usage_error("--device must be auto, cpu or cuda, not '%s'", device);
    bopts.device = device;
    RnNormalize mode;
    if (!rn_normalize_parse(normalize, &mode))
        rn_usage_error("--normalize must be 'channel' or 'pixel', not '%s'", normalize);
    if ((mode == RN_NORM_PIXEL) != (mean_from != NULL))
        rn_usage_error("--normalize pixel and --mean-from TRAIN.ds go together");

    const RnPathArg inputs[] = {{"--weights", weights_path}, {"--data", data_path}};
    const RnPathArg outputs[] = {{"-o", out_path}};
    rn_refuse_same_files(inputs, 2, outputs, 1);
    rn_out_probe(out_path);   /* fail before the work if not writable */

    RnWeights w;
    rn_weights_read(weights_path, &w, NULL);
    RnDataset ds;
    rn_dataset_read(data_path, &ds);
    const char *wshown = rn_is_stdio(weights_path) ? "stdin" : weights_path;
    if (ds.channels != 3 || ds.height != 32 || ds.width != 32)
        rn_die("%s: images are %ux%ux%u, the CIFAR networks need 3x32x32", data_path, ds.channels, ds.height,
               ds.width);
    if ((int)ds.classes != w.net.cfg.classes)
        rn_die("%s has %u classes but the weights %s have %d", data_path, ds.classes, wshown, w.net.cfg.classes);

    RnBackend *be = rn_backend_create(&bopts);
    rn_normalize_check(be, mode);
    float *pixel_mean = NULL;
    if (mean_from) {
        RnDataset train;
        rn_dataset_read(mean_from, &train);
        if (train.count == 0 || train.channels != ds.channels || train.height != ds.height || train.width != ds.width)
            rn_die("%s: %u images of %ux%ux%u cannot give the mean image of %s's %ux%ux%u images", mean_from,
                   train.count, train.channels, train.height, train.width, data_path, ds.channels, ds.height, ds.width);
        pixel_mean = rn_pixel_mean(&train);
        rn_dataset_free(&train);
    }
    int max_batch = batch < (int)ds.count ? batch : (int)ds.count;
    RnModel *m = rn_model_create_inference(be, &w.net, max_batch);
    rn_model_set_weights(m, &w);
    be->set_dataset(be, RN_SLOT_TEST, &ds);
    uint32_t *order = rn_xmalloc(sizeof(uint32_t) * ds.count);
    for (uint32_t i = 0; i < ds.count; i++)
        order[i] = i;
    be->set_order(be, RN_SLOT_TEST, order, ds.count);
    RnBatchSpec spec = {.augment = 0, .pad = 4};
    memcpy(spec.mean, CIFAR_MEAN, sizeof spec.mean);
    memcpy(spec.std, CIFAR_STD, sizeof spec.std);
    spec.pixel_mean = pixel_mean;

    RnEval e;
    memset(&e, 0, sizeof e);
    rn_net_label(&w.net.cfg, e.label, sizeof e.label);
    e.cfg = w.net.cfg;
    e.count = ds.count;
    e.classes = ds.classes;
    for (uint32_t c = 0; c < ds.classes; c++)
        snprintf(e.class_names[c], sizeof e.class_names[c], "%s", ds.class_names[c]);
    e.confusion = rn_xcalloc((size_t)ds.classes * ds.classes, sizeof(uint32_t));
    int classes = (int)ds.classes;
    float *logits = rn_xmalloc(sizeof(float) * (size_t)max_batch * (size_t)classes);
    double loss_sum = 0;
    uint32_t wrong = 0;
    for (uint32_t start = 0; start < ds.count; start += (uint32_t)max_batch) {
        int n = (int)(ds.count - start < (uint32_t)max_batch ? ds.count - start : (uint32_t)max_batch);
        be->load_batch(be, RN_SLOT_TEST, start, n, &spec, rn_model_input(m), rn_model_labels(m));
        if (responses)
            rn_model_collect_responses(m, n);   /* also the eval forward */
        else
            rn_model_forward(m, n, false);
        rn_model_reset_stats(m);
        rn_model_loss(m, n, 0, false);
        double l, errs;
        int bad;
        rn_model_read_stats(m, &l, &errs, &bad);
        loss_sum += l;
        rn_model_get_logits(m, n, logits);
        for (int i = 0; i < n; i++) {
            const float *z = logits + (size_t)i * (size_t)classes;
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (z[c] > z[best])
                    best = c;
            uint32_t truth = ds.labels[start + (uint32_t)i];
            e.confusion[truth * ds.classes + (uint32_t)best]++;
            wrong += (uint32_t)best != truth;
        }
    }
    e.loss = loss_sum / ds.count;
    e.error = (double)wrong / ds.count;
    if (!isfinite(e.loss))
        rn_die("the loss of %s on %s is not finite (diverged weights?)", wshown, data_path);
    if (responses) {
        e.nlayers = (uint32_t)rn_model_response_layers(m);
        e.layer_std = rn_xmalloc(sizeof(double) * e.nlayers);
        rn_model_response_std(m, e.layer_std);
    }
    if (out_path) {
        rn_eval_write(out_path, &e);
        if (!rn_quiet)
            print_summary(stderr, &e, wshown, data_path);
    } else {
        print_summary(stdout, &e, wshown, data_path);
    }

    free(logits);
    free(order);
    free(pixel_mean);
    rn_eval_free(&e);
    rn_model_free(m);
    rn_backend_destroy(be);
    rn_dataset_free(&ds);
    rn_weights_free(&w);
    return 0;
}
