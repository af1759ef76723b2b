/* The executor (lib/engine/model.c) end to end: the gradient of the loss of a WHOLE
 * small net (plain-8, ResNet-8 option A, ResNet-8 option B) on a random batch,
 * computed by rn_model_backward through the CPU reference backend, against
 * central finite differences of the same forward pass, for a sample of the
 * weights of EVERY trainable tensor. Also: the packed parameter layout round
 * trip, SGD through the executor against the PyTorch rule computed here,
 * num_batches_tracked counting, eval forward = inference model forward,
 * the layer-response statistic against a direct computation, and thread-count
 * independence of a training step.
 *
 * Tolerance of the gradient check. The forward runs in float32; the loss for
 * the finite differences is computed here in double from the float logits.
 * Rounding noise in the logits is ~1e-7 relative, so with a step h the
 * difference quotient carries noise ~1e-7 * |logit| / h; the truncation error
 * is O(h^2) and the ReLUs add kinks. h = 2e-3 (relative to the weight scale,
 * at least 2e-3) balances both; we require |fd - grad| <= 2e-3 + 5e-2 * |grad|
 * per weight (ReLU kinks crossed by a perturbation explain the rare larger
 * relative errors on tiny gradients, hence the absolute term), and a cosine
 * similarity > 0.999 between the sampled fd and analytic gradient vectors. */
#include "backend.h"
#include "model.h"
#include "net.h"
#include "rng.h"
#include "test.h"
#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 6
#define IMG (3 * 32 * 32)

static double host_loss(const float *logits, const int32_t *labels, int n, int classes)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + i * classes;
        double mx = z[0];
        for (int c = 1; c < classes; c++)
            mx = z[c] > mx ? z[c] : mx;
        double s = 0;
        for (int c = 0; c < classes; c++)
            s += exp(z[c] - mx);
        total += mx + log(s) - z[labels[i]];
    }
    return total / n;
}

/* train-mode forward, loss in double on the host */
static double loss_at(RnModel *m, RnWeights *w, const int32_t *labels, float *logits)
{
    rn_model_set_weights(m, w);
    rn_model_forward(m, BATCH, true);
    rn_model_get_logits(m, BATCH, logits);
    return host_loss(logits, labels, BATCH, w->net.cfg.classes);
}

static void random_weights(RnWeights *w, const RnNetConfig *cfg, uint64_t seed)
{
    rn_weights_init(w, cfg, seed);
    /* BN gamma/beta away from 1/0 and some running stats, so nothing is trivially symmetric */
    for (int t = 0; t < w->net.ntensors; t++) {
        const RnTensorSpec *s = &w->net.tensors[t];
        if (s->role == RN_T_BN_COUNT)
            continue;
        float *v = w->values + s->offset;
        for (size_t i = 0; i < s->numel; i++) {
            double u = rn_u01d((uint32_t)(i * 2654435761u) ^ (uint32_t)t, (uint32_t)(seed + i));
            if (s->role == RN_T_BN_WEIGHT)
                v[i] = (float)(0.8 + 0.4 * u);
            else if (s->role == RN_T_BN_BIAS)
                v[i] = (float)(0.2 * u - 0.1);
            else if (s->role == RN_T_BN_MEAN)
                v[i] = (float)(0.1 * u - 0.05);
            else if (s->role == RN_T_BN_VAR)
                v[i] = (float)(0.5 + u);
        }
    }
}

static void random_batch(float *x, int32_t *labels, int classes)
{
    for (int i = 0; i < BATCH * IMG; i++)
        x[i] = (float)rn_normal(7, RN_RNG_TEST, 1, (uint32_t)i);
    for (int i = 0; i < BATCH; i++)
        labels[i] = (int32_t)((i * 7 + 3) % classes);
}

static RnBackend *reference_backend(int threads)
{
    RnBackendOptions o = {.device = "cpu", .threads = threads, .reference = 1};
    return rn_cpu_backend_create(&o);
}

static void gradient_check(RnArch arch, RnShortcutOption sc, int reference)
{
    RnNetConfig cfg = {.arch = arch, .depth = 8, .shortcut = sc, .classes = 10};
    char name[64];
    rn_net_label(&cfg, name, sizeof name);
    RnWeights w;
    random_weights(&w, &cfg, 11);
    RnBackendOptions bo = {.device = "cpu", .reference = reference};
    RnBackend *be = rn_cpu_backend_create(&bo);
    RnModel *m = rn_model_create(be, &w.net, BATCH);
    float *x = malloc(sizeof(float) * BATCH * IMG), logits[BATCH * 10];
    int32_t labels[BATCH];
    random_batch(x, labels, cfg.classes);
    rn_model_upload_batch(m, BATCH, x, labels);

    rn_model_set_weights(m, &w);
    rn_model_forward(m, BATCH, true);
    rn_model_reset_stats(m);
    rn_model_loss(m, BATCH, 1, true);
    rn_model_backward(m, BATCH);
    float *grad = calloc(w.net.nvalues, sizeof(float));
    rn_model_get_grads(m, grad);
    double loss_sum, errors;
    int bad;
    rn_model_read_stats(m, &loss_sum, &errors, &bad);
    rn_model_get_logits(m, BATCH, logits);
    double l0 = host_loss(logits, labels, BATCH, cfg.classes);
    CHECK(test_close(loss_sum / BATCH, l0, 1e-5, 1e-5), "%s: backend xent %.7f = host loss %.7f", name,
          loss_sum / BATCH, l0);

    double dot = 0, nfd = 0, nan_ = 0, worst = 0;
    int checked = 0, failed = 0, tensors = 0;
    for (int t = 0; t < w.net.ntensors; t++) {
        const RnTensorSpec *s = &w.net.tensors[t];
        if (!s->trainable)
            continue;
        tensors++;
        const int samples = 3;
        for (int k = 0; k < samples; k++) {
            size_t i = (size_t)((k * 7919u + (unsigned)t * 104729u) % s->numel);
            float *v = &w.values[s->offset + i];
            float orig = *v;
            float h = fabsf(orig) * 1e-2f > 2e-3f ? fabsf(orig) * 1e-2f : 2e-3f;
            *v = orig + h;
            double lp = loss_at(m, &w, labels, logits);
            *v = orig - h;
            double lm = loss_at(m, &w, labels, logits);
            *v = orig;
            double fd = (lp - lm) / (2.0 * (double)h), an = grad[s->offset + i];
            double err = fabs(fd - an);
            if (!(err <= 2e-3 + 5e-2 * fabs(an))) {
                failed++;
                printf("# %s %s[%zu]: fd %.6g analytic %.6g\n", name, s->name, i, fd, an);
            }
            worst = err > worst ? err : worst;
            dot += fd * an;
            nfd += fd * fd;
            nan_ += an * an;
            checked++;
        }
    }
    double cosine = dot / sqrt(nfd * nan_);
    CHECK(failed == 0, "%s (%s): %d weights of all %d trainable tensors match central differences (worst abs err %.2g)",
          name, be->name, checked, tensors, worst);
    CHECK(cosine > 0.999, "%s: cosine(fd, analytic) = %.6f over the sampled weights", name, cosine);

    free(grad);
    free(x);
    rn_model_free(m);
    rn_backend_destroy(be);
    rn_weights_free(&w);
}

/* set/get weights and momentum round trip; SGD through the packed buffers
 * against the PyTorch rule computed here; num_batches_tracked counting. */
static void layout_and_sgd(void)
{
    RnNetConfig cfg = {.arch = RN_ARCH_RESNET, .depth = 8, .shortcut = RN_SHORTCUT_B, .classes = 10};
    RnWeights w, back;
    random_weights(&w, &cfg, 5);
    rn_weights_alloc(&back, &cfg);
    RnBackend *be = reference_backend(0);
    RnModel *m = rn_model_create(be, &w.net, BATCH);
    rn_model_set_weights(m, &w);
    rn_model_get_weights(m, &back);
    CHECK(memcmp(w.values, back.values, sizeof(float) * w.net.nvalues) == 0, "weights round trip through the model");

    size_t nv = w.net.nvalues;
    float *mom = calloc(nv, sizeof(float)), *mom_back = calloc(nv, sizeof(float)), *grad = calloc(nv, sizeof(float));
    bool trainable_only = true;
    for (int t = 0; t < w.net.ntensors; t++)
        for (size_t i = 0; i < w.net.tensors[t].numel && w.net.tensors[t].role != RN_T_BN_COUNT; i++)
            mom[w.net.tensors[t].offset + i] = w.net.tensors[t].trainable ? 0.01f * (float)(i % 13) : 0;
    rn_model_set_momentum(m, mom);
    rn_model_get_momentum(m, mom_back);
    CHECK(memcmp(mom, mom_back, sizeof(float) * nv) == 0, "momentum round trip (trainable tensors, zeros elsewhere)");

    float *x = malloc(sizeof(float) * BATCH * IMG);
    int32_t labels[BATCH];
    random_batch(x, labels, 10);
    rn_model_upload_batch(m, BATCH, x, labels);
    rn_model_forward(m, BATCH, true);
    rn_model_loss(m, BATCH, 1, true);
    rn_model_backward(m, BATCH);
    rn_model_get_grads(m, grad);
    const float lr = 0.1f, mu = 0.9f, wd = 1e-4f;
    rn_model_sgd(m, lr, mu, wd);
    rn_model_get_weights(m, &back);
    rn_model_get_momentum(m, mom_back);
    int bad_w = 0, bad_m = 0;
    for (int t = 0; t < w.net.ntensors; t++) {
        const RnTensorSpec *s = &w.net.tensors[t];
        if (s->role == RN_T_BN_COUNT)
            continue;   /* its offset indexes counts, not values */
        for (size_t i = 0; i < s->numel; i++) {
            size_t j = s->offset + i;
            if (!s->trainable) {
                trainable_only &= grad[j] == 0;
                continue;
            }
            float g = grad[j] + wd * w.values[j];
            float buf = mu * mom[j] + g;
            float nw = w.values[j] - lr * buf;
            bad_m += !test_close(mom_back[j], buf, 1e-7, 1e-6);
            bad_w += !test_close(back.values[j], nw, 1e-7, 1e-6);
        }
    }
    CHECK(trainable_only, "gradients of non-trainable tensors are written as 0");
    CHECK(bad_m == 0 && bad_w == 0, "SGD step = PyTorch rule on every parameter (%d momentum, %d weight mismatches)",
          bad_m, bad_w);
    int counted = 1;
    for (int c = 0; c < w.net.ncounts; c++)
        counted &= back.counts[c] == w.counts[c] + 1;
    CHECK(counted, "num_batches_tracked counts each training forward (%d BN layers)", w.net.ncounts);
    rn_model_forward(m, BATCH, false);
    rn_model_get_weights(m, &back);
    CHECK(back.counts[0] == w.counts[0] + 1, "an eval forward does not count");

    free(x);
    free(mom);
    free(mom_back);
    free(grad);
    rn_model_free(m);
    rn_backend_destroy(be);
    rn_weights_free(&w);
    rn_weights_free(&back);
}

/* ---- A direct eval-mode forward in double, for Fig. 7's statistic: every
 * 3x3 layer's response is its BN output before the shortcut's add and the
 * ReLU (lib/engine/model.h), here computed with plain loops from the weights. */
typedef struct {
    int c, hw;
    double *v;   /* [BATCH][c][hw][hw] */
} Act;

static const float *tensor(const RnWeights *w, int t) { return w->values + w->net.tensors[t].offset; }

/* conv (3x3, pad 1, the unit's stride) then eval-mode BN: the unit's response */
static Act conv_bn(const RnWeights *w, const RnConvBn *u, Act in)
{
    Act out = {u->out_c, u->out_hw, calloc((size_t)BATCH * u->out_c * u->out_hw * u->out_hw, sizeof(double))};
    const float *W = tensor(w, u->weight), *g = tensor(w, u->bn), *b = tensor(w, u->bn + 1);
    const float *rm = tensor(w, u->bn + 2), *rv = tensor(w, u->bn + 3);
    const int K = u->kernel, S = u->stride, P = u->pad, H = in.hw, O = out.hw;
    for (int n = 0; n < BATCH; n++)
        for (int o = 0; o < out.c; o++)
            for (int y = 0; y < O; y++)
                for (int x = 0; x < O; x++) {
                    double acc = 0;
                    for (int c = 0; c < in.c; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = y * S - P + ky, ix = x * S - P + kx;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < H)
                                    acc += (double)W[((o * in.c + c) * K + ky) * K + kx] *
                                           in.v[(((size_t)n * in.c + c) * H + iy) * H + ix];
                            }
                    out.v[(((size_t)n * out.c + o) * O + y) * O + x] =
                        g[o] * (acc - rm[o]) / sqrt((double)rv[o] + 1e-5) + b[o];
                }
    return out;
}

static void relu(Act a)
{
    for (size_t i = 0; i < (size_t)BATCH * a.c * a.hw * a.hw; i++)
        a.v[i] = a.v[i] > 0 ? a.v[i] : 0;
}

static double act_std(Act a)
{
    double s = 0, ss = 0, count = (double)BATCH * a.c * a.hw * a.hw;
    for (size_t i = 0; i < (size_t)count; i++) {
        s += a.v[i];
        ss += a.v[i] * a.v[i];
    }
    return sqrt(ss / count - (s / count) * (s / count));
}

/* The responses of every 3x3 layer of a plain or option-A net, in order
 * (stem, then each block's conv1 and conv2); returns how many. */
static int direct_responses(const RnWeights *w, const float *x, double *std)
{
    const RnNet *net = &w->net;
    Act a = {3, 32, malloc(sizeof(double) * BATCH * IMG)};
    for (int i = 0; i < BATCH * IMG; i++)
        a.v[i] = x[i];
    int k = 0;
    Act h = conv_bn(w, &net->stem, a);
    std[k++] = act_std(h);
    relu(h);
    free(a.v);
    for (int bi = 0; bi < net->nblocks; bi++) {
        const RnBlock *bl = &net->blocks[bi];
        Act t = conv_bn(w, &bl->conv1, h);
        std[k++] = act_std(t);
        relu(t);
        Act u = conv_bn(w, &bl->conv2, t);
        std[k++] = act_std(u);   /* before the add: the residual function's response */
        free(t.v);
        if (bl->shortcut == RN_SC_IDENTITY || bl->shortcut == RN_SC_PAD) {
            /* option A: every other pixel, channels zero-padded by (out - in) / 2 on each side */
            const int p = (u.c - h.c) / 2, st = h.hw / u.hw;
            for (int n = 0; n < BATCH; n++)
                for (int c = 0; c < h.c; c++)
                    for (int y = 0; y < u.hw; y++)
                        for (int xx = 0; xx < u.hw; xx++)
                            u.v[(((size_t)n * u.c + c + p) * u.hw + y) * u.hw + xx] +=
                                h.v[(((size_t)n * h.c + c) * h.hw + y * st) * h.hw + xx * st];
        }
        relu(u);
        free(h.v);
        h = u;
    }
    free(h.v);
    return k;
}

/* eval forward of a training model = inference model; every layer's response
 * std (Fig. 7) against the direct computation: the stem, units with an identity
 * shortcut (the response before the add), stride-2 units with option A's padded
 * shortcut, and plain units; on the reference and on the fast CPU backend. */
static void inference_and_responses(RnArch arch, int reference)
{
    RnNetConfig cfg = {.arch = arch, .depth = 8, .shortcut = RN_SHORTCUT_A, .classes = 10};
    RnWeights w;
    random_weights(&w, &cfg, 9);
    RnBackend *be = reference ? reference_backend(0)
                              : rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2});
    RnModel *train = rn_model_create(be, &w.net, BATCH), *infer = rn_model_create_inference(be, &w.net, BATCH);
    rn_model_set_weights(train, &w);
    rn_model_set_weights(infer, &w);
    float *x = malloc(sizeof(float) * BATCH * IMG), a[BATCH * 10], b[BATCH * 10];
    int32_t labels[BATCH];
    random_batch(x, labels, 10);
    rn_model_upload_batch(train, BATCH, x, labels);
    rn_model_upload_batch(infer, BATCH, x, labels);
    rn_model_forward(train, BATCH, false);
    rn_model_get_logits(train, BATCH, a);
    rn_model_collect_responses(infer, BATCH);
    rn_model_get_logits(infer, BATCH, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "%s (%s): inference model logits = training model eval logits (bitwise)",
          rn_arch_name(arch), be->name);

    int layers = rn_model_response_layers(infer);
    double std[7], direct[7];
    CHECK(layers == 7, "depth 8: 7 3x3 layers (got %d)", layers);
    if (layers == 7) {
        rn_model_response_std(infer, std);
        int n = direct_responses(&w, x, direct);
        /* fp32 convolutions (any summation order) against double: ~1e-6 relative
         * per layer, growing with depth; 1e-4 leaves a wide margin and still sees
         * a response taken after the add or the ReLU (tens of percent) */
        static const char *const res_kind[7] = {"stem", "stage-1 conv1", "stage-1 conv2 (before the identity add)",
                                                "stage-2 conv1 (stride 2)", "stage-2 conv2 (before the padded add)",
                                                "stage-3 conv1 (stride 2)", "stage-3 conv2 (before the padded add)"};
        static const char *const plain_kind[7] = {"stem", "stage-1 conv1", "stage-1 conv2",
                                                  "stage-2 conv1 (stride 2)", "stage-2 conv2",
                                                  "stage-3 conv1 (stride 2)", "stage-3 conv2"};
        const char *const *kind = arch == RN_ARCH_PLAIN ? plain_kind : res_kind;
        for (int l = 0; l < n; l++)
            CHECK(test_close(std[l], direct[l], 1e-6, 1e-4), "%s (%s): layer %d, %s: response std %.6f = direct %.6f",
                  rn_arch_name(arch), be->name, l + 1, kind[l], std[l], direct[l]);
    }
    free(x);
    rn_model_free(train);
    rn_model_free(infer);
    rn_backend_destroy(be);
    rn_weights_free(&w);
}

/* Two SGD steps with 1 and with 2 threads (the fast CPU backend): bitwise equal. */
/* An inference model on the fast CPU backend takes a batch larger than its
 * eval_chunk in chunks (lib/engine/model.c); the logits are those of the training
 * model's eval forward, which runs the whole batch at once. */
static void chunked_inference(void)
{
    RnNetConfig cfg = {.arch = RN_ARCH_RESNET, .depth = 8, .shortcut = RN_SHORTCUT_A, .classes = 10};
    RnWeights w;
    random_weights(&w, &cfg, 21);
    RnBackend *be = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2});
    const int n = be->eval_chunk + 6;   /* a whole chunk and a part of one */
    RnModel *train = rn_model_create(be, &w.net, n), *infer = rn_model_create_inference(be, &w.net, n);
    rn_model_set_weights(train, &w);
    rn_model_set_weights(infer, &w);
    float *x = malloc(sizeof(float) * (size_t)n * IMG), *a = malloc(sizeof(float) * (size_t)n * 10);
    float *b = malloc(sizeof(float) * (size_t)n * 10);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    for (size_t i = 0; i < (size_t)n * IMG; i++)
        x[i] = (float)rn_normal(8, RN_RNG_TEST, 1, (uint32_t)i);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)(i % 10);
    rn_model_upload_batch(train, n, x, labels);
    rn_model_upload_batch(infer, n, x, labels);
    rn_model_forward(train, n, false);
    rn_model_get_logits(train, n, a);
    rn_model_forward(infer, n, false);
    rn_model_get_logits(infer, n, b);
    CHECK(be->eval_chunk > 0 && memcmp(a, b, sizeof(float) * (size_t)n * 10) == 0,
          "fast CPU: inference model in chunks of %d = training model eval forward of %d images (bitwise)",
          be->eval_chunk, n);
    rn_model_free(train);
    rn_model_free(infer);
    be->destroy(be);
    free(x); free(a); free(b); free(labels);
    rn_weights_free(&w);
}

static void thread_independence(void)
{
    RnNetConfig cfg = {.arch = RN_ARCH_RESNET, .depth = 8, .shortcut = RN_SHORTCUT_B, .classes = 10};
    RnWeights w, r[2];
    random_weights(&w, &cfg, 3);
    float *x = malloc(sizeof(float) * BATCH * IMG);
    int32_t labels[BATCH];
    random_batch(x, labels, 10);
    for (int k = 0; k < 2; k++) {
        RnBackendOptions o = {.device = "cpu", .threads = k + 1};
        RnBackend *be = rn_cpu_backend_create(&o);
        RnModel *m = rn_model_create(be, &w.net, BATCH);
        rn_model_set_weights(m, &w);
        rn_model_upload_batch(m, BATCH, x, labels);
        for (int step = 1; step <= 2; step++)
            rn_model_train_step(m, BATCH, step, 0.1f, 0.9f, 1e-4f);
        rn_weights_alloc(&r[k], &cfg);
        rn_model_get_weights(m, &r[k]);
        rn_model_free(m);
        rn_backend_destroy(be);
    }
    CHECK(memcmp(r[0].values, r[1].values, sizeof(float) * w.net.nvalues) == 0,
          "two training steps: 1 thread and 2 threads give bitwise the same weights");
    free(x);
    rn_weights_free(&w);
    rn_weights_free(&r[0]);
    rn_weights_free(&r[1]);
}

int main(void)
{
    gradient_check(RN_ARCH_PLAIN, RN_SHORTCUT_A, 0);
    gradient_check(RN_ARCH_RESNET, RN_SHORTCUT_A, 0);
    gradient_check(RN_ARCH_RESNET, RN_SHORTCUT_B, 0);
    layout_and_sgd();
    for (int reference = 1; reference >= 0; reference--) {
        inference_and_responses(RN_ARCH_RESNET, reference);
        inference_and_responses(RN_ARCH_PLAIN, reference);
    }
    thread_independence();
    chunked_inference();
    return test_done();
}
