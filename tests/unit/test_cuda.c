/* The CUDA backend against the CPU reference backend (kernels/cpu, reference
 * mode), through the executor (lib/engine/model.h), on the same weights (rn_weights_init)
 * and the same batch. Without a GPU (or in a build made without the CUDA
 * backend on purpose: CUDA=0, SAN=1) it prints "skipped: no CUDA device" and
 * reports a skip; on a machine with a GPU where the backend cannot run (a
 * build that did not find nvcc/cuDNN, a driver too old) it fails.
 *
 * What is checked, and with which tolerance (and why):
 *  - load_batch: bitwise equal images and labels, with and without
 *    augmentation. Both backends draw crop/flip from rn_aug_for() and round
 *    (v/255 - mean)/std one operation at a time, so nothing may differ.
 *  - logits of a training forward: norm-wise relative error
 *    ||gpu - cpu|| / ||cpu|| <= 1e-3. Each convolution is an fp32 dot product
 *    of 27..576 terms; cuDNN sums in another order and may use Winograd or FFT,
 *    whose fp32 error is about 10x a direct sum's (~1e-5 relative per layer).
 *    Batch norm renormalises after every layer, so the error grows roughly
 *    linearly with depth: ~20 layers x 1e-5 = 2e-4. 1e-3 leaves 5x margin.
 *  - loss (sum over the batch, from the device stats): relative 1e-4. The loss
 *    is a smooth function of the logits and near log(10) at initialisation.
 *  - every gradient, per tensor, norm-wise relative 2e-2. Batch-norm backward
 *    subtracts the channel means of g and g*xhat from g, and at initialisation
 *    that cancels most of g, so rounding differences of ~1e-7 in the forward
 *    come out as ~1e-3 relative in the gradients of the layers below.
 *    Calibration: the CPU's own fast path (kernels/cpu/fast_*, an independent
 *    fp32 implementation checked against exact oracles) differs from the
 *    reference by up to 8.1e-3 on these nets and batches (worst tensor of
 *    Plain-20); the GPU gets 2.5x that. Per tensor, so that a wrong small
 *    tensor (a BN beta) cannot hide behind a big one.
 *  - the weight update after 3 SGD steps (w_3 - w_0) at lr 0.01, per tensor,
 *    norm-wise relative 3e-2 (fast path vs reference: 6.0e-3 on ResNet-20), and
 *    after those steps the BN running statistics within 1e-4 + 1e-3 |cpu|,
 *    num_batches_tracked equal, eval-mode logits within 1e-3 and the Fig. 7
 *    response std of every layer (moments()) within 1e-3 relative.
 *    Residual nets only: the plain net amplifies any rounding difference about
 *    20x per step at this point (measured between the two CPU backends: 3e-3
 *    in the gradient, 1e-1 in the stem's update after 3 steps), which is the
 *    degradation problem, not a bug; its single-step gradients are compared.
 *    lr 0.01 rather than 0.1 for the same reason (at 0.1 even ResNet-20's
 *    3-step updates differ by 6e-2 between the two CPU backends).
 *  - a NaN weight: both backends record the first non-finite step.
 *  - deterministic mode: two fresh backends, the same 3 steps, bitwise equal
 *    logits, gradients and weights (cuDNN restricted to deterministic
 *    algorithms chosen by heuristics; our kernels have no atomics). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "model.h"
#include "net.h"
#include "rng.h"
#include "test.h"
#include "weights.h"

enum { STEPS = 3 };
static const float LR = 0.01f, MOMENTUM = 0.9f, WD = 1e-4f;
static const float MEAN[3] = {0.4914f, 0.4822f, 0.4465f}, STD[3] = {0.2470f, 0.2435f, 0.2616f};

/* ---------------------------------------------------------------- helpers */

static double norm_rel_err(const float *a, const float *b, size_t n)
{
    double diff = 0.0, ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        diff += d * d;
        ref += (double)b[i] * b[i];
    }
    if (diff != diff)
        return INFINITY;   /* a NaN is never close */
    return ref > 0 ? sqrt(diff / ref) : sqrt(diff);
}

/* A deterministic synthetic batch: O(1) inputs like normalised images, labels 0..9. */
static void make_batch(int n, float *x, int32_t *labels, uint32_t salt)
{
    for (size_t i = 0; i < (size_t)n * 3 * 32 * 32; i++)
        x[i] = (float)rn_normal(42, RN_RNG_TEST, salt, (uint32_t)i);
    for (int i = 0; i < n; i++) {
        uint32_t r[4];
        rn_random4(42, RN_RNG_TEST, salt + 1000, (uint32_t)i, r);
        labels[i] = (int32_t)(r[0] % 10);
    }
}

static RnBackend *cpu_reference(void)
{
    RnBackendOptions o = {.device = "cpu", .threads = 0, .deterministic = 0, .reference = 1};
    return rn_cpu_backend_create(&o);
}

static RnBackend *gpu(int deterministic)
{
    RnBackendOptions o = {.device = "cuda", .threads = 0, .deterministic = deterministic, .reference = 0};
    char why[256];
    RnBackend *be = rn_cuda_backend_create(&o, why, sizeof why);
    if (!be)
        rn_die("test_cuda: the CUDA backend is available but cannot be created: %s", why);
    return be;
}

/* ---------------------------------------------------------------- load_batch */

static void check_load_batch(RnBackend *cpu, RnBackend *cuda)
{
    RnDataset ds = {.count = 300, .channels = 3, .height = 32, .width = 32, .classes = 10};
    size_t image = 3 * 32 * 32;
    ds.labels = malloc(ds.count);
    ds.pixels = malloc(ds.count * image);
    for (uint32_t i = 0; i < ds.count; i++) {
        uint32_t r[4];
        rn_random4(7, RN_RNG_TEST, 1, i, r);
        ds.labels[i] = (uint8_t)(r[0] % 10);
        for (size_t p = 0; p < image; p++)
            ds.pixels[i * image + p] = (uint8_t)((p * 131 + i * 17 + (p >> 5) * r[1]) & 255);
    }
    uint32_t *order = malloc(sizeof *order * ds.count);
    rn_permutation(7, RN_RNG_SHUFFLE, 3, ds.count, order);

    const int n = 100;
    const size_t start = 137;
    float *xc = malloc(sizeof(float) * n * image), *xg = malloc(sizeof(float) * n * image);
    int32_t lc[100], lg[100];
    float *dx = cuda->alloc(cuda, sizeof(float) * n * image);
    int32_t *dl = cuda->alloc(cuda, sizeof(int32_t) * n);

    for (int augment = 1; augment >= 0; augment--) {
        RnBatchSpec spec = {.augment = augment, .pad = 4, .seed = 12345, .epoch = 3};
        memcpy(spec.mean, MEAN, sizeof MEAN);
        memcpy(spec.std, STD, sizeof STD);
        int slot = augment ? RN_SLOT_TRAIN : RN_SLOT_TEST;
        cpu->set_dataset(cpu, slot, &ds);
        cuda->set_dataset(cuda, slot, &ds);
        if (augment) {   /* the test slot keeps the identity order */
            cpu->set_order(cpu, slot, order, ds.count);
            cuda->set_order(cuda, slot, order, ds.count);
        }
        cpu->load_batch(cpu, slot, start, n, &spec, xc, lc);
        cuda->load_batch(cuda, slot, start, n, &spec, dx, dl);
        cuda->download(cuda, xg, dx, sizeof(float) * n * image);
        cuda->download(cuda, lg, dl, sizeof(int32_t) * n);
        size_t differ = 0;
        for (size_t i = 0; i < n * image; i++)
            differ += memcmp(&xc[i], &xg[i], sizeof(float)) != 0;
        CHECK(differ == 0, "load_batch (augment %d): images bitwise equal to the CPU's (%zu of %zu differ)",
              augment, differ, n * image);
        CHECK(memcmp(lc, lg, sizeof lc) == 0, "load_batch (augment %d): labels equal", augment);
    }
    cuda->release(cuda, dx);
    cuda->release(cuda, dl);
    free(xc);
    free(xg);
    free(order);
    free(ds.labels);
    free(ds.pixels);
}

/* ---------------------------------------------------------------- one net */

/* Everything one backend produces for the agreement checks. */
typedef struct {
    float *logits, *grads, *eval_logits;
    double loss_sum;
    RnWeights after;          /* weights (and running stats, counts) after STEPS steps */
    double *response_std;
    int nresponses, bad_step;
} Run;

static void run_net(RnBackend *be, const RnWeights *w0, int n, const float *x, const int32_t *labels, Run *r)
{
    const RnNet *net = &w0->net;
    const int classes = net->cfg.classes;
    RnModel *m = rn_model_create(be, net, n);
    rn_model_set_weights(m, w0);
    rn_model_upload_batch(m, n, x, labels);

    r->logits = malloc(sizeof(float) * n * classes);
    r->eval_logits = malloc(sizeof(float) * n * classes);
    r->grads = malloc(sizeof(float) * net->nvalues);
    rn_model_reset_stats(m);
    rn_model_forward(m, n, true);
    rn_model_get_logits(m, n, r->logits);
    rn_model_loss(m, n, 0, true);
    double errors;
    rn_model_read_stats(m, &r->loss_sum, &errors, &r->bad_step);
    rn_model_backward(m, n);
    rn_model_get_grads(m, r->grads);
    rn_model_sgd(m, LR, MOMENTUM, WD);
    for (int step = 1; step < STEPS; step++)
        rn_model_train_step(m, n, step, LR, MOMENTUM, WD);

    rn_weights_alloc(&r->after, &net->cfg);
    rn_model_get_weights(m, &r->after);

    r->nresponses = rn_model_response_layers(m);
    r->response_std = calloc((size_t)r->nresponses + 1, sizeof(double));
    rn_model_collect_responses(m, n);   /* an eval forward that also gathers Fig. 7's statistic */
    rn_model_get_logits(m, n, r->eval_logits);
    rn_model_response_std(m, r->response_std);
    rn_model_free(m);
}

static void free_run(Run *r)
{
    free(r->logits);
    free(r->grads);
    free(r->eval_logits);
    free(r->response_std);
    rn_weights_free(&r->after);
}

/* Worst per-tensor error of a quantity over the tensors of one role class. */
static void compare_runs(const char *label, const RnWeights *w0, int n, const Run *c, const Run *g, int multi_step)
{
    const RnNet *net = &w0->net;
    const size_t nl = (size_t)n * net->cfg.classes;
    double e = norm_rel_err(g->logits, c->logits, nl);
    CHECK(e <= 1e-3, "%s: training-forward logits, ||gpu-cpu||/||cpu|| = %.2e <= 1e-3", label, e);
    CHECK(test_close(g->loss_sum, c->loss_sum, 0, 1e-4), "%s: loss sum gpu %.8g cpu %.8g (rel 1e-4)", label,
          g->loss_sum, c->loss_sum);
    CHECK(g->bad_step == -1 && c->bad_step == -1, "%s: no non-finite step recorded (gpu %d, cpu %d)", label,
          g->bad_step, c->bad_step);

    double worst_grad = 0, worst_update = 0;
    const char *worst_grad_name = "", *worst_update_name = "";
    int running_bad = 0;
    double worst_running = 0;
    float *upd_c = malloc(sizeof(float) * net->nvalues), *upd_g = malloc(sizeof(float) * net->nvalues);
    for (int t = 0; t < net->ntensors; t++) {
        const RnTensorSpec *s = &net->tensors[t];
        if (s->role == RN_T_BN_COUNT)
            continue;
        const size_t o = s->offset, k = s->numel;
        if (s->trainable) {
            double eg = norm_rel_err(g->grads + o, c->grads + o, k);
            if (!(eg <= worst_grad)) {
                worst_grad = eg;
                worst_grad_name = s->name;
            }
            for (size_t i = 0; i < k; i++) {
                upd_c[o + i] = c->after.values[o + i] - w0->values[o + i];
                upd_g[o + i] = g->after.values[o + i] - w0->values[o + i];
            }
            double eu = norm_rel_err(upd_g + o, upd_c + o, k);
            if (!(eu <= worst_update)) {
                worst_update = eu;
                worst_update_name = s->name;
            }
        } else {   /* running mean / var */
            for (size_t i = 0; i < k; i++) {
                double a = g->after.values[o + i], b = c->after.values[o + i];
                double err = fabs(a - b) / (1e-4 + 1e-3 * fabs(b));
                if (!(err <= 1))
                    running_bad++;
                if (!(err <= worst_running))
                    worst_running = err;
            }
        }
    }
    CHECK(worst_grad <= 2e-2, "%s: every gradient within 2e-2 norm-wise (worst %.2e, %s)", label, worst_grad,
          worst_grad_name);
    if (!multi_step) {
        printf("# %s: 3-step update differs by %.2e (%s): not checked for a plain net (see the top)\n", label,
               worst_update, worst_update_name);
        free(upd_c);
        free(upd_g);
        return;
    }
    CHECK(worst_update <= 3e-2, "%s: weight update after %d SGD steps within 3e-2 norm-wise (worst %.2e, %s)", label,
          STEPS, worst_update, worst_update_name);
    CHECK(running_bad == 0, "%s: BN running statistics within 1e-4 + 1e-3|cpu| (%d outside, worst %.2f of tol)",
          label, running_bad, worst_running);
    CHECK(memcmp(g->after.counts, c->after.counts, sizeof(int64_t) * net->ncounts) == 0,
          "%s: num_batches_tracked equal", label);

    e = norm_rel_err(g->eval_logits, c->eval_logits, nl);
    CHECK(e <= 1e-3, "%s: eval-mode logits after training, rel %.2e <= 1e-3", label, e);
    int resp_bad = 0;
    for (int i = 0; i < c->nresponses; i++)
        resp_bad += !test_close(g->response_std[i], c->response_std[i], 0, 1e-3);
    CHECK(g->nresponses == c->nresponses && resp_bad == 0, "%s: %d layer response stds within 1e-3 (%d outside)",
          label, c->nresponses, resp_bad);
    free(upd_c);
    free(upd_g);
}

static void check_net(RnBackend *cpu, RnBackend *cuda, RnArch arch, int depth, RnShortcutOption sc, int n)
{
    RnNetConfig cfg = {.arch = arch, .depth = depth, .shortcut = sc, .classes = 10};
    char name[64], label[256];
    rn_net_label(&cfg, name, sizeof name);
    snprintf(label, sizeof label, "%s batch %d (%s)", name, n, cuda->description);
    RnWeights w0;
    rn_weights_init(&w0, &cfg, 2016);
    float *x = malloc(sizeof(float) * n * 3 * 32 * 32);
    int32_t *labels = malloc(sizeof(int32_t) * n);
    make_batch(n, x, labels, (uint32_t)depth);

    Run c, g;
    run_net(cpu, &w0, n, x, labels, &c);
    run_net(cuda, &w0, n, x, labels, &g);
    compare_runs(label, &w0, n, &c, &g, arch == RN_ARCH_RESNET);
    free_run(&c);
    free_run(&g);
    free(x);
    free(labels);
    rn_weights_free(&w0);
}

/* ---------------------------------------------------------------- NaN detection */

static void check_nan_step(RnBackend *cuda)
{
    RnNetConfig cfg = {.arch = RN_ARCH_RESNET, .depth = 8, .shortcut = RN_SHORTCUT_A, .classes = 10};
    RnWeights w;
    rn_weights_init(&w, &cfg, 1);
    w.values[w.net.tensors[w.net.fc_bias].offset] = NAN;
    const int n = 8;
    float x[8 * 3 * 32 * 32];
    int32_t labels[8];
    make_batch(n, x, labels, 99);
    RnModel *m = rn_model_create(cuda, &w.net, n);
    rn_model_set_weights(m, &w);
    rn_model_upload_batch(m, n, x, labels);
    rn_model_reset_stats(m);
    rn_model_forward(m, n, true);
    rn_model_loss(m, n, 7, true);
    rn_model_forward(m, n, true);
    rn_model_loss(m, n, 8, true);
    double loss, errors;
    int bad;
    rn_model_read_stats(m, &loss, &errors, &bad);
    CHECK(bad == 7, "a NaN weight: the first non-finite step (7) is recorded on the GPU (got %d)", bad);
    rn_model_free(m);
    rn_weights_free(&w);
}

/* ---------------------------------------------------------------- determinism */

static void deterministic_run(const RnWeights *w0, int n, const float *x, const int32_t *labels, Run *r)
{
    RnBackend *be = gpu(1);
    run_net(be, w0, n, x, labels, r);
    rn_backend_destroy(be);
}

static void check_deterministic(void)
{
    RnNetConfig cfg = {.arch = RN_ARCH_RESNET, .depth = 20, .shortcut = RN_SHORTCUT_A, .classes = 10};
    const int n = 128;
    RnWeights w0;
    rn_weights_init(&w0, &cfg, 7);
    float *x = malloc(sizeof(float) * n * 3 * 32 * 32);
    int32_t *labels = malloc(sizeof(int32_t) * n);
    make_batch(n, x, labels, 5);
    Run a, b;
    deterministic_run(&w0, n, x, labels, &a);
    deterministic_run(&w0, n, x, labels, &b);
    const RnNet *net = &w0.net;
    CHECK(memcmp(a.logits, b.logits, sizeof(float) * n * net->cfg.classes) == 0,
          "deterministic mode: logits bitwise equal across two fresh backends");
    CHECK(memcmp(a.grads, b.grads, sizeof(float) * net->nvalues) == 0, "deterministic mode: gradients bitwise equal");
    CHECK(memcmp(a.after.values, b.after.values, sizeof(float) * net->nvalues) == 0,
          "deterministic mode: weights and running statistics after %d steps bitwise equal", STEPS);
    CHECK(a.loss_sum == b.loss_sum, "deterministic mode: loss bitwise equal");
    free_run(&a);
    free_run(&b);
    free(x);
    free(labels);
    rn_weights_free(&w0);
}

/* An NVIDIA GPU the kernel driver knows, whatever this build holds: the
 * driver lists each GPU under /proc/driver/nvidia/gpus and makes /dev/nvidia0.
 * RN_TEST_GPU_MARK=PATH replaces both (so a test can check the failure path). */
static int gpu_present(char *what, size_t n)
{
    const char *marks[] = {"/proc/driver/nvidia/gpus", "/dev/nvidia0"};
    const char *mark = getenv("RN_TEST_GPU_MARK");
    if (mark)
        marks[0] = marks[1] = mark;
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        if (access(marks[i], F_OK) == 0) {
            snprintf(what, n, "%s exists", marks[i]);
            return 1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    rn_set_prog(argv[0]);
    char why[256] = "", what[128] = "";
    if (!rn_cuda_available(why, sizeof why)) {
        /* A GPU machine where the CUDA tests cannot run is a failure, not a skip:
         * otherwise a build that silently lost its CUDA backend (nvcc or cuDNN not
         * found) passes the GPU tests. Only a build made without CUDA on purpose
         * (CUDA=0, SAN=1: the Makefile defines RN_CUDA_OFF_ON_PURPOSE) skips. */
#ifdef RN_CUDA_OFF_ON_PURPOSE
        const int on_purpose = 1;
#else
        const int on_purpose = 0;
#endif
        if (!on_purpose && gpu_present(what, sizeof what)) {
            printf("not ok 1 - a GPU is present (%s) but the CUDA backend cannot run: %s "
                   "(build with nvcc and cuDNN: CUDA_HOME=, CUDNN_HOME=; or CUDA=0 to test the CPU only)\n",
                   what, why);
            printf("1..1\n");
            return 1;
        }
        printf("# skipped: no CUDA device (%s)\n", why);
        printf("ok 1 # skip no CUDA device\n");
        printf("1..1\n");
        return 0;
    }
    RnBackend *cpu = cpu_reference();
    RnBackend *cuda = gpu(0);
    printf("# %s against %s\n", cuda->description, cpu->description);

    check_load_batch(cpu, cuda);
    /* ResNet-20 (option A: identity and pad shortcuts), Plain-20 (no
     * shortcut), ResNet-8B (projection shortcut); batch 32 keeps the CPU
     * reference quick, 80 is the epoch's last partial batch. */
    check_net(cpu, cuda, RN_ARCH_RESNET, 20, RN_SHORTCUT_A, 32);
    check_net(cpu, cuda, RN_ARCH_PLAIN, 20, RN_SHORTCUT_A, 32);
    check_net(cpu, cuda, RN_ARCH_RESNET, 8, RN_SHORTCUT_B, 80);
    check_nan_step(cuda);
    rn_backend_destroy(cuda);

    /* deterministic mode, checked against the CPU too, then bitwise across runs */
    RnBackend *det = gpu(1);
    check_net(cpu, det, RN_ARCH_RESNET, 20, RN_SHORTCUT_A, 32);
    rn_backend_destroy(det);
    check_deterministic();

    rn_backend_destroy(cpu);
    return test_done();
}
