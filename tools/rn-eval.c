/* rn-eval: evaluates weights on a dataset (loss, error, per-class accuracy,
 * confusion matrix, optionally the paper's Fig. 7 layer responses) into an
 * eval file; and prints any metrics or eval file as TSV (--tsv). */
#include "backend.h"
#include "err.h"
#include "evalfile.h"
#include "evaluate.h"
#include "io.h"
#include "metrics.h"
#include "normalize.h"
#include "opts.h"

#include <stdio.h>
#include <string.h>

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
    const char *out_path = NULL, *tsv = NULL, *normalize = "channel";
    RnEvaluateOptions o = {.batch = 1000, .backend = {.device = "auto"}};
    const RnOpt opts[] = {
        {"weights", 0, RN_OPT_STR, &o.weights_path, "W.safetensors", "weights or checkpoint to evaluate ('-' = stdin)"},
        {"data", 0, RN_OPT_STR, &o.data_path, "TEST.ds", "dataset to evaluate on (required with --weights)"},
        {"output", 'o', RN_OPT_STR, &out_path, "OUT.eval", "write the eval file here (else: summary on stdout)"},
        {"responses", 0, RN_OPT_FLAG, &o.responses, NULL, "also the std of every 3x3 layer's response (Fig. 7)"},
        {"normalize", 0, RN_OPT_STR, &normalize, "channel|pixel", "as the weights were trained (default: channel)"},
        {"mean-from", 0, RN_OPT_STR, &o.mean_from, "TRAIN.ds", "pixel: the training set whose mean image is subtracted"},
        {"batch", 0, RN_OPT_INT, &o.batch, "N", "images per forward pass (default: 1000)"},
        {"device", 0, RN_OPT_STR, &o.backend.device, RN_DEVICE_NAMES, "compute backend (default: auto)"},
        {"threads", 0, RN_OPT_INT, &o.backend.threads, "N", "CPU threads (default: 0, all cores)"},
        {"reference", 0, RN_OPT_FLAG, &o.backend.reference, NULL, "CPU: the plain reference kernels"},
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
        if (o.weights_path || o.data_path || out_path)
            rn_usage_error("--tsv takes no other input or output");
        print_tsv(tsv);
        return 0;
    }
    if (!o.weights_path || !o.data_path)
        rn_usage_error("give --weights W.safetensors and --data TEST.ds (or --tsv FILE)");
    if (o.batch < 1)
        rn_usage_error("--batch must be at least 1");
    if (o.backend.threads < 0 || o.backend.threads > 1024)
        rn_usage_error("--threads must be 0..1024 (0 = all cores)");
    rn_device_check(o.backend.device);
    if (!rn_normalize_parse(normalize, &o.normalize))
        rn_usage_error("--normalize must be 'channel' or 'pixel', not '%s'", normalize);
    if ((o.normalize == RN_NORM_PIXEL) != (o.mean_from != NULL))
        rn_usage_error("--normalize pixel and --mean-from TRAIN.ds go together");

    const RnPathArg inputs[] = {{"--weights", o.weights_path}, {"--data", o.data_path}};
    const RnPathArg outputs[] = {{"-o", out_path}};
    rn_refuse_same_files(inputs, 2, outputs, 1);
    rn_out_probe(out_path);   /* fail before the work if not writable */

    RnEval e;
    rn_evaluate(&o, &e);
    const char *wshown = rn_is_stdio(o.weights_path) ? "stdin" : o.weights_path;
    if (out_path) {
        rn_eval_write(out_path, &e);
        if (!rn_quiet)
            print_summary(stderr, &e, wshown, o.data_path);
    } else {
        print_summary(stdout, &e, wshown, o.data_path);
    }
    rn_eval_free(&e);
    return 0;
}
