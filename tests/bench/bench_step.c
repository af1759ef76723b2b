/* bench_step: how fast one net trains and evaluates on a backend, through
 * lib/engine/model.h exactly as rn-train / rn-eval drive it. Prints one line of
 * key=value pairs (tests/bench/run-bench.sh makes the table):
 *
 *   train_img_s   median over --steps training steps (forward, loss, backward,
 *                 SGD) at --batch on random data, after --warmup steps
 *   eval_img_s    median over --steps forward passes at --eval-batch (eval mode)
 *   epoch_img_s   (--epoch-images N > 0) a scaled epoch as rn-train runs it:
 *                 N training images through the data pipeline (shuffle order,
 *                 pad-crop-flip augmentation, normalisation: the backend's
 *                 load_batch) and the training step, then a test pass over N/5
 *                 images (CIFAR-10's 10,000 : 50,000); images/s = N / total time
 *   rss_mib       peak resident memory of this process (getrusage)
 *
 * With --scaling, only thread scaling: --steps pairs of training steps, one
 * on one thread and one on --threads (a second backend and model of the same
 * net and weights), in turn, the order swapped every pair:
 *   scaling       the median over the pairs of (1-thread step time) / (step time)
 *   one_thread_img_s, train_img_s   each side's median
 * Steps a pair apart see the same spell of a shared machine; separate
 * processes, seconds apart, need not.
 *
 * With --ops, --steps more training steps run with every backend op timed
 * (op_timer.h), and a table of milliseconds per step by op and layer shape
 * follows the key=value line: where the step's time goes.
 *
 * The data are a random uint8 dataset in memory, or --dataset FILE (a .ds file;
 * its first N images). Timings are wall clock; run it on a quiet machine and
 * compare ratios within one run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backend.h"
#include "dataset.h"
#include "err.h"
#include "model.h"
#include "net.h"
#include "opts.h"
#include "rng.h"
#include "weights.h"

#include "op_timer.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A random batch on the host, uploaded once: the step itself is timed. */
static void upload_random_batch(RnModel *m, int n, int classes)
{
    float *x = rn_xmalloc((size_t)n * 3 * 32 * 32 * sizeof(float));
    int32_t *labels = rn_xmalloc((size_t)n * sizeof(int32_t));
    for (size_t i = 0; i < (size_t)n * 3 * 32 * 32; i++)
        x[i] = (float)rn_normal(7, 1, 0, (uint32_t)i);
    for (int i = 0; i < n; i++)
        labels[i] = i % classes;
    rn_model_upload_batch(m, n, x, labels);
    free(x);
    free(labels);
}

/* --scaling (see the top): the pairs, then the key=value pairs */
static void time_scaling(RnBackend *be, const RnBackendOptions *bo, const RnNet *net, const RnWeights *w,
                         int batch, int steps, int warmup, int classes)
{
    RnBackendOptions one_opts = *bo;
    one_opts.threads = 1;
    RnBackend *one = rn_backend_create(&one_opts);
    RnBackend *bes[2] = {one, be};
    RnModel *ms[2];
    for (int k = 0; k < 2; k++) {
        ms[k] = rn_model_create(bes[k], net, batch);
        rn_model_set_weights(ms[k], w);
        upload_random_batch(ms[k], batch, classes);
    }
    double *t[2], *ratio = rn_xmalloc((size_t)steps * sizeof(double));
    for (int k = 0; k < 2; k++)
        t[k] = rn_xmalloc((size_t)steps * sizeof(double));
    for (int s = 0; s < warmup + steps; s++)
        for (int j = 0; j < 2; j++) {
            int k = (s + j) % 2;   /* who goes first alternates */
            double t0 = wall_seconds();
            rn_model_train_step(ms[k], batch, s, 1e-4f, 0.9f, 1e-4f);
            bes[k]->sync(bes[k]);
            if (s >= warmup)
                t[k][s - warmup] = wall_seconds() - t0;
        }
    for (int s = 0; s < steps; s++)
        ratio[s] = t[0][s] / t[1][s];
    printf(" scaling=%.3f one_thread_img_s=%.1f train_img_s=%.1f", median(ratio, steps), batch / median(t[0], steps),
           batch / median(t[1], steps));
    for (int k = 0; k < 2; k++) {
        rn_model_free(ms[k]);
        free(t[k]);
    }
    free(ratio);
    rn_backend_destroy(one);
}

int main(int argc, char **argv)
{
    rn_set_prog(argv[0]);
    const char *arch_s = "resnet", *device = "cpu", *dataset = NULL;
    int depth = 20, threads = 0, reference = 0, batch = 128, eval_batch = 1000, steps = 15, warmup = 3;
    int epoch_images = 0, no_train = 0, no_eval = 0, ops = 0, scaling = 0;
    const RnOpt opts[] = {
        {"arch", 0, RN_OPT_STR, &arch_s, "ARCH", "plain or resnet (default: resnet)"},
        {"depth", 0, RN_OPT_INT, &depth, "N", "6n+2 (default: 20)"},
        {"device", 0, RN_OPT_STR, &device, "DEV", "cpu, cuda or auto (default: cpu)"},
        {"threads", 0, RN_OPT_INT, &threads, "T", "CPU threads, 0 = all cores (default: 0)"},
        {"reference", 0, RN_OPT_FLAG, &reference, NULL, "the plain reference CPU kernels"},
        {"batch", 0, RN_OPT_INT, &batch, "N", "training batch (default: 128)"},
        {"eval-batch", 0, RN_OPT_INT, &eval_batch, "N", "evaluation batch (default: 1000)"},
        {"steps", 0, RN_OPT_INT, &steps, "K", "timed steps, the median counts (default: 15)"},
        {"warmup", 0, RN_OPT_INT, &warmup, "K", "untimed steps first (default: 3)"},
        {"no-train", 0, RN_OPT_FLAG, &no_train, NULL, "skip the training-step timing"},
        {"no-eval", 0, RN_OPT_FLAG, &no_eval, NULL, "skip the eval timing"},
        {"epoch-images", 0, RN_OPT_INT, &epoch_images, "N", "also time a scaled epoch of N images (default: 0)"},
        {"dataset", 0, RN_OPT_STR, &dataset, "FILE", "images for the epoch timing (default: random)"},
        {"ops", 0, RN_OPT_FLAG, &ops, NULL, "then time each op of --steps more training steps (a table)"},
        {"scaling", 0, RN_OPT_FLAG, &scaling, NULL,
         "only --steps pairs of steps on 1 thread and on --threads, in turn (CPU)"},
        {0},
    };
    const RnOptInfo info = {"[options]", "Times the training step, evaluation and an epoch of one net.", NULL};
    if (rn_parse_options(argc, argv, opts, &info) != argc)
        rn_usage_error("no positional arguments expected");
    if (steps < 1 || warmup < 0 || batch < 1 || eval_batch < 1 || epoch_images < 0)
        rn_usage_error("--steps, --batch, --eval-batch must be >= 1 and --warmup, --epoch-images >= 0");
    if (ops && no_train)
        rn_usage_error("--ops times training steps: not with --no-train");
    if (scaling && (ops || no_train || epoch_images))
        rn_usage_error("--scaling times only its pairs of steps: not with --ops, --no-train or --epoch-images");

    RnNetConfig cfg = {.depth = depth, .shortcut = RN_SHORTCUT_A, .classes = 10};
    if (!rn_arch_parse(arch_s, &cfg.arch))
        rn_usage_error("--arch '%s': expected plain or resnet", arch_s);
    const char *why = rn_net_config_check(&cfg);
    if (why)
        rn_usage_error("%s", why);
    RnNet net;
    rn_net_build(&net, &cfg);
    RnWeights w;
    rn_weights_init(&w, &cfg, 1);
    RnBackendOptions bo = {.device = device, .threads = threads, .reference = reference};
    RnBackend *be = rn_backend_create(&bo);
    char desc[sizeof be->description];
    snprintf(desc, sizeof desc, "%s", be->description[0] ? be->description : be->name);
    for (char *p = strchr(desc, ' '); p; p = strchr(p, ' '))
        *p = '_';   /* one token in the key=value line */
    printf("backend=%s", desc);

    double *t = rn_xmalloc((size_t)(steps + 1) * sizeof(double));
    double op_step_seconds = 0;   /* the mean step of the --ops table */
    if (scaling) {
        if (strncmp(be->name, "cpu", 3) != 0)
            rn_die("--scaling: the %s backend has no CPU threads to vary; use --device cpu", be->name);
        time_scaling(be, &bo, &net, &w, batch, steps, warmup, cfg.classes);
        no_eval = 1;
    } else if (!no_train || epoch_images) {
        RnModel *m = rn_model_create(be, &net, batch);
        rn_model_set_weights(m, &w);
        if (!no_train) {
            upload_random_batch(m, batch, cfg.classes);
            /* a tiny lr keeps the weights near the start: the timing must not
             * depend on the run diverging */
            for (int s = 0; s < warmup + steps; s++) {
                double t0 = wall_seconds();
                rn_model_train_step(m, batch, s, 1e-4f, 0.9f, 1e-4f);
                be->sync(be);
                if (s >= warmup)
                    t[s - warmup] = wall_seconds() - t0;
            }
            printf(" train_img_s=%.1f", batch / median(t, steps));
            if (ops) {   /* timed apart: the wrappers' syncs and clocks stay out of the figures above */
                op_timer_install(be);
                double t0 = wall_seconds();
                for (int s = 0; s < steps; s++)
                    rn_model_train_step(m, batch, warmup + steps + s, 1e-4f, 0.9f, 1e-4f);
                be->sync(be);
                op_step_seconds = (wall_seconds() - t0) / steps;
                op_timer_remove(be);
            }
        }
        if (epoch_images) {
            RnDataset ds;
            if (dataset) {
                rn_dataset_read(dataset, &ds);
            } else {
                rn_dataset_alloc(&ds, (uint32_t)epoch_images, 3, 32, 32, 10);
                for (size_t i = 0; i < (size_t)epoch_images * 3072; i++)
                    ds.pixels[i] = (uint8_t)(rn_normal(9, 2, 0, (uint32_t)i) * 60 + 128);
                for (int i = 0; i < epoch_images; i++)
                    ds.labels[i] = (uint8_t)(i % 10);
            }
            int n_train = epoch_images < (int)ds.count ? epoch_images : (int)ds.count;
            int n_test = n_train / 5 > 0 ? n_train / 5 : 1;
            uint32_t *order = rn_xmalloc((size_t)ds.count * sizeof(uint32_t));
            RnBatchSpec train = {.augment = 1, .pad = 4, .seed = 1, .epoch = 0,
                                 .mean = {0.4914f, 0.4822f, 0.4465f}, .std = {0.2470f, 0.2435f, 0.2616f}};
            RnBatchSpec test = train;
            test.augment = 0;
            be->set_dataset(be, RN_SLOT_TRAIN, &ds);
            be->set_dataset(be, RN_SLOT_TEST, &ds);
            double t0 = wall_seconds();
            rn_permutation(1, 1, 0, ds.count, order);
            be->set_order(be, RN_SLOT_TRAIN, order, ds.count);
            int step = 0;
            for (int s = 0; s < n_train; s += batch, step++) {
                int n = n_train - s < batch ? n_train - s : batch;
                be->load_batch(be, RN_SLOT_TRAIN, (size_t)s, n, &train, rn_model_input(m), rn_model_labels(m));
                rn_model_train_step(m, n, step, 1e-4f, 0.9f, 1e-4f);
            }
            for (int s = 0; s < n_test; s += batch) {   /* the per-epoch test pass */
                int n = n_test - s < batch ? n_test - s : batch;
                be->load_batch(be, RN_SLOT_TEST, (size_t)s, n, &test, rn_model_input(m), rn_model_labels(m));
                rn_model_forward(m, n, false);
                rn_model_loss(m, n, 0, false);
            }
            double loss, err;
            int bad;
            rn_model_read_stats(m, &loss, &err, &bad);
            be->sync(be);
            printf(" epoch_img_s=%.1f", n_train / (wall_seconds() - t0));
            rn_model_free(m);
            free(order);
            rn_dataset_free(&ds);
        } else {
            rn_model_free(m);
        }
    }
    if (!no_eval) {
        RnModel *m = rn_model_create_inference(be, &net, eval_batch);
        rn_model_set_weights(m, &w);
        upload_random_batch(m, eval_batch, cfg.classes);
        int k = steps < 5 ? steps : 5;   /* an eval batch is big: fewer repeats */
        for (int s = 0; s < 1 + k; s++) {
            double t0 = wall_seconds();
            rn_model_forward(m, eval_batch, false);
            rn_model_loss(m, eval_batch, 0, false);
            be->sync(be);
            if (s >= 1)
                t[s - 1] = wall_seconds() - t0;
        }
        printf(" eval_img_s=%.1f", eval_batch / median(t, k));
        rn_model_free(m);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(" rss_mib=%.0f\n", ru.ru_maxrss / 1024.0);
    if (ops)
        op_timer_print(stdout, steps, op_step_seconds);
    free(t);
    rn_backend_destroy(be);
    rn_weights_free(&w);
    rn_net_free(&net);
    return 0;
}
