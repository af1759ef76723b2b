/* Round trips and bad input for the file formats written by lib/: weights and
 * checkpoints (safetensors), metrics, eval files. Readers die on bad input, so
 * each bad case runs the reader in a child process and checks its exit status
 * 1 and its one-line message (naming the file, saying what is wrong). */
#include "err.h"
#include "evalfile.h"
#include "io.h"
#include "metrics.h"
#include "net.h"
#include "safetensors.h"
#include "test.h"
#include "weights.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static const char *tmp(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------------ child runner */

typedef void (*Reader)(const char *path);

/* Runs reader(path) in a child; returns its exit status and its stderr in msg. */
static int run_child(Reader reader, const char *path, char *msg, size_t n)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        reader(path);
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(fds[0], msg + got, n - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The reader must fail with exit 1 and one line naming the file and containing want. */
static void expect_fail(const char *what, Reader reader, const char *path, const char *want)
{
    char msg[4096];
    int rc = run_child(reader, path, msg, sizeof msg);
    const char *shown = rn_is_stdio(path) ? "stdin" : path;
    int ok = rc == 1 && count_lines(msg) == 1 && strstr(msg, shown) && strstr(msg, want);
    CHECK(ok, "%s: rejected with one line naming the file and saying '%s'", what, want);
    if (!ok)
        printf("#   exit %d, stderr: %s", rc, msg);
}

static void read_weights(const char *path)
{
    RnWeights w;
    RnTrainState s;
    rn_weights_read(path, &w, &s);
}
static void read_st(const char *path)
{
    RnSafetensors st;
    rn_st_read(&st, path);
}
static void read_metrics(const char *path)
{
    RnMetrics m;
    rn_metrics_read(path, &m);
}
static void read_eval(const char *path)
{
    RnEval e;
    rn_eval_read(path, &e);
}
static void append_metrics(const char *path)
{
    RnMetricRecord r = {.epoch = 9};
    rn_metrics_append(path, &r);
}

/* ------------------------------------------------------------ file helpers */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*len + 1);
    if (fread(b, 1, *len, f) != *len)
        abort();
    fclose(f);
    return b;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        abort();
}

/* A safetensors file from a literal JSON header (padded) and n data bytes. */
static void raw_st(const char *path, const char *json, size_t ndata)
{
    size_t jlen = strlen(json);
    uint8_t *b = calloc(8 + jlen + ndata, 1);
    rn_put_u64(b, jlen);
    memcpy(b + 8, json, jlen);
    spit(path, b, 8 + jlen + ndata);
    free(b);
}

/* ------------------------------------------------------------ weights */

static int same_weights(const RnWeights *a, const RnWeights *b)
{
    return a->net.nvalues == b->net.nvalues && a->net.ncounts == b->net.ncounts &&
           memcmp(a->values, b->values, a->net.nvalues * sizeof(float)) == 0 &&
           memcmp(a->counts, b->counts, (size_t)a->net.ncounts * sizeof(int64_t)) == 0 && a->seed == b->seed &&
           a->epoch == b->epoch && a->net.cfg.arch == b->net.cfg.arch && a->net.cfg.depth == b->net.cfg.depth &&
           a->net.cfg.shortcut == b->net.cfg.shortcut && a->net.cfg.classes == b->net.cfg.classes;
}

static void test_net(void)
{
    static const struct { int depth; size_t params; } counts[] = {
        {20, 269722}, {32, 464154}, {44, 658586}, {56, 853018}, {110, 1727962}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        for (int arch = 0; arch < 2; arch++) {
            RnNet net;
            RnNetConfig cfg = {arch, counts[i].depth, RN_SHORTCUT_A, 10};
            rn_net_build(&net, &cfg);
            CHECK(net.nparams == counts[i].params, "%s-%d has %zu parameters (paper: %zu)", rn_arch_name(arch),
                  counts[i].depth, net.nparams, counts[i].params);
            rn_net_free(&net);
        }
    /* Option B adds a 1x1 conv + BN in stages 2 and 3: 512+64 + 2048+128 = 2752. */
    RnNet net;
    RnNetConfig cfg = {RN_ARCH_RESNET, 20, RN_SHORTCUT_B, 10};
    rn_net_build(&net, &cfg);
    CHECK(net.nparams == 269722 + 2752, "ResNet-20B has %zu parameters", net.nparams);
    CHECK(rn_net_find(&net, "layer2.0.shortcut.0.weight") == 54 &&
              rn_net_find(&net, "layer3.0.shortcut.1.num_batches_tracked") >= 0 &&
              rn_net_find(&net, "layer1.0.shortcut.0.weight") < 0,
          "option B projection tensors exist in stages 2 and 3 only, after bn2");
    CHECK(rn_net_macs(&net) == 40551040 + 2 * 131072, "ResNet-20B MACs %llu", (unsigned long long)rn_net_macs(&net));
    rn_net_free(&net);

    cfg = (RnNetConfig){RN_ARCH_RESNET, 56, RN_SHORTCUT_A, 10};
    rn_net_build(&net, &cfg);
    CHECK(rn_net_macs(&net) == 125485696, "ResNet-56 MACs %llu (~125.49 M)", (unsigned long long)rn_net_macs(&net));
    CHECK(strcmp(net.tensors[0].name, "conv1.weight") == 0 && strcmp(net.tensors[5].name, "bn1.num_batches_tracked") == 0 &&
              strcmp(net.tensors[6].name, "layer1.0.conv1.weight") == 0 &&
              strcmp(net.tensors[12].name, "layer1.0.conv2.weight") == 0 &&
              strcmp(net.tensors[net.ntensors - 2].name, "linear.weight") == 0 &&
              strcmp(net.tensors[net.ntensors - 1].name, "linear.bias") == 0,
          "tensors in PyTorch state_dict order");
    CHECK(net.blocks[9].shortcut == RN_SC_PAD && net.blocks[9].conv1.stride == 2 && net.blocks[9].conv1.out_hw == 16 &&
              net.blocks[10].shortcut == RN_SC_IDENTITY && net.blocks[18].conv2.out_hw == 8,
          "strides and shortcut kinds of ResNet-56");
    char label[32];
    rn_net_label(&cfg, label, sizeof label);
    CHECK(strcmp(label, "ResNet-56") == 0, "label %s", label);
    rn_net_free(&net);

    RnNetConfig bad = {RN_ARCH_RESNET, 21, RN_SHORTCUT_A, 10};
    const char *msg = rn_net_config_check(&bad);
    CHECK(msg && strstr(msg, "6n+2") && strstr(msg, "8, 14, 20"), "depth 21 rejected naming the valid forms");
    bad.depth = 2;
    CHECK(rn_net_config_check(&bad) != NULL, "depth 2 (n = 0) rejected");
}

static void test_init(void)
{
    RnNetConfig cfg = {RN_ARCH_RESNET, 20, RN_SHORTCUT_A, 10};
    RnWeights a, b, c;
    rn_weights_init(&a, &cfg, 7);
    rn_weights_init(&b, &cfg, 7);
    rn_weights_init(&c, &cfg, 8);
    CHECK(memcmp(a.values, b.values, a.net.nvalues * 4) == 0, "same seed, same values");
    CHECK(memcmp(a.values, c.values, a.net.nvalues * 4) != 0, "different seed, different values");
    /* Statistics of the init (loose: these are samples). */
    const RnTensorSpec *conv = &a.net.tensors[rn_net_find(&a.net, "layer3.1.conv2.weight")];
    double s = 0, s2 = 0;
    for (size_t i = 0; i < conv->numel; i++) {
        s += a.values[conv->offset + i];
        s2 += (double)a.values[conv->offset + i] * a.values[conv->offset + i];
    }
    double mean = s / conv->numel, std = sqrt(s2 / conv->numel - mean * mean), want = sqrt(2.0 / (9 * 64));
    CHECK(fabs(mean) < 0.003 && fabs(std / want - 1) < 0.02, "conv init std %.5f, Kaiming fan_out %.5f", std, want);
    const RnTensorSpec *fc = &a.net.tensors[a.net.fc_weight];
    float lo = 1, hi = -1;
    for (size_t i = 0; i < fc->numel; i++) {
        lo = fminf(lo, a.values[fc->offset + i]);
        hi = fmaxf(hi, a.values[fc->offset + i]);
    }
    CHECK(lo >= -0.125f && hi < 0.125f && lo < -0.1f && hi > 0.1f, "linear weight in +-1/8: [%g, %g]", lo, hi);
    const RnTensorSpec *g = &a.net.tensors[a.net.stem.bn];
    CHECK(a.values[g->offset] == 1 && a.values[g[1].offset] == 0 && a.values[g[2].offset] == 0 &&
              a.values[g[3].offset] == 1 && a.counts[g[4].offset] == 0,
          "BN gamma 1, beta 0, mean 0, var 1, count 0");
    rn_weights_free(&a);
    rn_weights_free(&b);
    rn_weights_free(&c);
}

static void test_weights_roundtrip(void)
{
    RnNetConfig cfg = {RN_ARCH_RESNET, 20, RN_SHORTCUT_B, 10};
    RnWeights w, r;
    rn_weights_init(&w, &cfg, 12345678901234ull);
    w.epoch = 17;
    w.counts[3] = 391;
    rn_weights_write(tmp("w.safetensors"), &w, NULL);
    RnTrainState st;
    rn_weights_read(tmp("w.safetensors"), &r, &st);
    CHECK(same_weights(&w, &r), "weights round trip: values, counts, seed, epoch, architecture");
    CHECK(!st.present && st.momentum && st.momentum[0] == 0 && st.epoch == 17,
          "a plain weights file gives state.present false and zeroed momentum");
    rn_weights_free(&r);
    rn_train_state_free(&st);
    rn_weights_read(tmp("w.safetensors"), &r, NULL);
    CHECK(same_weights(&w, &r), "reading without a state works");
    rn_weights_free(&r);

    /* A checkpoint: weights + momentum + training position. */
    RnTrainState s = {.present = true, .epoch = 17, .step = 6647, .train_seed = 99};
    snprintf(s.recipe, sizeof s.recipe, "lr=0.1 momentum=0.9 wd=1e-4 batch=128 epochs=200 milestones=100,150");
    s.momentum = calloc(w.net.nvalues, sizeof(float));
    for (size_t i = 0; i < w.net.nvalues; i++)
        s.momentum[i] = (float)i * 1e-6f;
    rn_weights_write(tmp("c.ckpt.safetensors"), &w, &s);
    RnTrainState s2;
    rn_weights_read(tmp("c.ckpt.safetensors"), &r, &s2);
    int mom_ok = 1;
    for (int t = 0; t < w.net.ntensors; t++) {
        const RnTensorSpec *spec = &w.net.tensors[t];
        if (spec->trainable && memcmp(s.momentum + spec->offset, s2.momentum + spec->offset, spec->numel * 4) != 0)
            mom_ok = 0;
    }
    CHECK(same_weights(&w, &r), "checkpoint round trip: weights");
    CHECK(s2.present && s2.epoch == 17 && s2.step == 6647 && s2.train_seed == 99 && strcmp(s2.recipe, s.recipe) == 0,
          "checkpoint round trip: epoch, step, train_seed, recipe");
    CHECK(mom_ok, "checkpoint round trip: every trainable tensor's momentum");
    rn_weights_free(&r);
    rn_train_state_free(&s2);

    /* A checkpoint read as weights (state NULL) still works. */
    rn_weights_read(tmp("c.ckpt.safetensors"), &r, NULL);
    CHECK(same_weights(&w, &r), "a checkpoint reads as plain weights when no state is asked for");
    rn_weights_free(&r);

    /* Same bytes for the same seed, through the writer. */
    RnWeights w2;
    rn_weights_init(&w2, &cfg, 12345678901234ull);
    w2.epoch = 17;
    w2.counts[3] = 391;
    rn_weights_write(tmp("w2.safetensors"), &w2, NULL);
    size_t l1, l2;
    uint8_t *b1 = slurp(tmp("w.safetensors"), &l1), *b2 = slurp(tmp("w2.safetensors"), &l2);
    CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0, "same seed, same file bytes");
    CHECK(rn_get_u64(b1) % 8 == 0 && b1[8] == '{', "header starts with '{' and is padded to 8 bytes");
    free(b1);
    free(b2);
    rn_weights_free(&w2);
    free(s.momentum);
    rn_weights_free(&w);
}

/* The tensors of w as the writer would store them (for building bad files). */
static int tensors_of(const RnWeights *w, RnStOutTensor *out)
{
    for (int t = 0; t < w->net.ntensors; t++) {
        const RnTensorSpec *spec = &w->net.tensors[t];
        out[t] = (RnStOutTensor){.name = spec->name, .ndim = spec->ndim};
        for (int d = 0; d < spec->ndim; d++)
            out[t].shape[d] = spec->shape[d];
        out[t].dtype = spec->role == RN_T_BN_COUNT ? RN_ST_I64 : RN_ST_F32;
        out[t].data = spec->role == RN_T_BN_COUNT ? (const void *)(w->counts + spec->offset)
                                                  : (const void *)(w->values + spec->offset);
    }
    return w->net.ntensors;
}

static RnStMeta good_meta[] = {
    {"format", "rn-cifar-weights"}, {"format_version", "1"}, {"kind", "weights"}, {"arch", "resnet"},
    {"depth", "20"}, {"shortcut", "A"}, {"classes", "10"}, {"seed", "1"}, {"epoch", "0"},
};
#define NMETA 9

/* Writes w's tensors with metadata key=value changed (value NULL: key removed). */
static void write_with_meta(const char *path, const RnWeights *w, const char *key, const char *value)
{
    RnStOutTensor *t = calloc((size_t)w->net.ntensors, sizeof *t);
    int n = tensors_of(w, t);
    RnStMeta meta[NMETA];
    int k = 0;
    for (int i = 0; i < NMETA; i++) {
        if (strcmp(good_meta[i].key, key) == 0) {
            if (value)
                meta[k++] = (RnStMeta){good_meta[i].key, (char *)value};
        } else {
            meta[k++] = good_meta[i];
        }
    }
    rn_st_write(path, t, n, meta, k);
    free(t);
}

static void test_weights_bad(void)
{
    RnNetConfig cfg = {RN_ARCH_RESNET, 20, RN_SHORTCUT_A, 10};
    RnWeights w;
    rn_weights_init(&w, &cfg, 1);
    const char *good = tmp("good.safetensors"), *bad = tmp("bad.safetensors");
    rn_weights_write(good, &w, NULL);
    size_t len;
    uint8_t *b = slurp(good, &len);
    uint64_t hlen = rn_get_u64(b);

    /* Sanity: the helper really writes a valid file (else every case below is moot). */
    write_with_meta(bad, &w, "none", NULL);
    char msg[4096];
    CHECK(run_child(read_weights, bad, msg, sizeof msg) == 0, "the test's own writer makes a readable file");

    spit(bad, b, len - 1);
    expect_fail("truncated by one byte", read_weights, bad, "truncated");
    spit(bad, b, 5);
    expect_fail("truncated to 5 bytes", read_weights, bad, "truncated");
    spit(bad, b, 8 + hlen / 2);
    expect_fail("truncated inside the header", read_weights, bad, "truncated");
    spit(bad, b, 0);
    expect_fail("empty file", read_weights, bad, "truncated");

    uint8_t *c = malloc(len);
    memcpy(c, b, len);
    rn_put_u64(c, len);
    spit(bad, c, len);
    expect_fail("header length larger than the file", read_weights, bad, "header length");
    rn_put_u64(c, 1ull << 40);
    spit(bad, c, len);
    expect_fail("absurd header length", read_weights, bad, "not sane");

    /* One byte flipped in the header, at a few telling places. */
    memcpy(c, b, len);
    c[8] ^= 0x01;                                           /* '{' -> 'z' */
    spit(bad, c, len);
    expect_fail("first header byte flipped", read_weights, bad, "'{'");
    memcpy(c, b, len);
    char *colon = memchr(c + 8, ':', hlen);
    *colon ^= 0x40;
    spit(bad, c, len);
    expect_fail("a ':' of the header flipped", read_weights, bad, "not valid JSON");
    memcpy(c, b, len);
    char *f32 = strstr((char *)c + 8, "\"F32\"");
    f32[3] ^= 0x01;                                         /* "F32" -> "F33" */
    spit(bad, c, len);
    expect_fail("dtype string flipped", read_weights, bad, "dtype F33");
    memcpy(c, b, len);
    char *shape = strstr((char *)c + 8, "\"shape\":[16,3,3,3]");
    shape[9] = '7';                                         /* [16,...] -> [76,...]: bytes disagree */
    spit(bad, c, len);
    expect_fail("a shape digit flipped", read_weights, bad, "data_offsets span");
    memcpy(c, b, len);
    char *offs = strstr((char *)c + 8, "\"data_offsets\":[0,1728]");
    offs[19] = '2';                                         /* [0,1728] -> [0,2728] */
    spit(bad, c, len);
    expect_fail("an offset digit flipped", read_weights, bad, "data_offsets");
    free(c);

    /* A whole header that is not JSON. */
    raw_st(bad, "{not json}      ", 0);
    expect_fail("invalid JSON", read_weights, bad, "not valid JSON");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4);
    expect_fail("garbage after the JSON object", read_st, bad, "after its JSON");

    /* Offsets: overlap, gap, not starting at 0, data left over, duplicates. */
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    expect_fail("overlapping offsets", read_st, bad, "overlap");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20);
    expect_fail("a gap between tensors", read_st, bad, "gap");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    expect_fail("data not starting at offset 0", read_st, bad, "gap");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12);
    expect_fail("bytes after the last tensor", read_st, bad, "after the last tensor");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    expect_fail("a tensor name twice", read_st, bad, "twice");
    raw_st(bad, "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    expect_fail("unsupported dtype", read_st, bad, "F16");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
    expect_fail("negative shape", read_st, bad, "non-negative");
    raw_st(bad, "{\"__metadata__\":{\"format\":1}}", 0);
    expect_fail("non-string metadata", read_st, bad, "not a string");
    raw_st(bad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    CHECK(run_child(read_st, bad, msg, sizeof msg) == 0, "a minimal valid safetensors file is accepted");
    expect_fail("a valid safetensors file that is not ours", read_weights, bad, "not an rn-cifar weights file");

    /* Tensors that do not match the declared architecture. */
    RnStOutTensor *t = calloc((size_t)w.net.ntensors + 1, sizeof *t);
    int n = tensors_of(&w, t);
    int i = rn_net_find(&w.net, "layer1.0.conv1.weight");
    t[i].shape[1] = 3;                                      /* [16,3,3,3]: conv1's shape */
    rn_st_write(bad, t, n, good_meta, NMETA);
    expect_fail("shape not matching the architecture", read_weights, bad,
                "tensor layer1.0.conv1.weight has shape [16,3,3,3], expected [16,16,3,3] for resnet-20 (shortcut A)");
    tensors_of(&w, t);
    int64_t zeros[16] = {0};
    i = rn_net_find(&w.net, "bn1.num_batches_tracked");
    t[i].dtype = RN_ST_F32;
    t[i].data = zeros;
    rn_st_write(bad, t, n, good_meta, NMETA);
    expect_fail("wrong dtype (F32 counter)", read_weights, bad, "bn1.num_batches_tracked has dtype F32, expected I64");
    tensors_of(&w, t);
    t[0].dtype = RN_ST_I64;
    t[0].shape[0] = 8;                                      /* same byte count as [16,3,3,3] F32 */
    t[0].shape[1] = 3;
    rn_st_write(bad, t, n, good_meta, NMETA);
    expect_fail("wrong dtype (I64 conv weight)", read_weights, bad, "conv1.weight has dtype I64");
    tensors_of(&w, t);
    rn_st_write(bad, t + 1, n - 1, good_meta, NMETA);
    expect_fail("missing tensor", read_weights, bad, "tensor conv1.weight is missing");
    t[n] = t[n - 1];
    t[n].name = "linear.extra";
    rn_st_write(bad, t, n + 1, good_meta, NMETA);
    expect_fail("extra tensor", read_weights, bad, "unexpected tensor linear.extra");
    t[n].name = "optimizer.momentum.linear.bias";
    rn_st_write(bad, t, n + 1, good_meta, NMETA);
    expect_fail("momentum in a weights file", read_weights, bad, "not \"checkpoint\"");
    float *values = malloc(w.net.nvalues * sizeof(float));
    memcpy(values, w.values, w.net.nvalues * sizeof(float));
    values[w.net.tensors[w.net.fc_bias].offset + 3] = NAN;
    t[w.net.fc_bias].data = values + w.net.tensors[w.net.fc_bias].offset;
    rn_st_write(bad, t, n, good_meta, NMETA);
    expect_fail("NaN in a tensor", read_weights, bad, "linear.bias element 3 is not finite");
    free(values);

    /* Bad metadata, each key in turn. */
    static const struct { const char *key, *value, *want; } metas[] = {
        {"format", NULL, "not an rn-cifar weights file"},
        {"format", "gguf", "not an rn-cifar weights file"},
        {"format_version", "2", "format_version 2 is not supported"},
        {"format_version", NULL, "no \"format_version\""},
        {"kind", "optimizer", "\"kind\" is \"optimizer\""},
        {"arch", "vgg", "\"arch\" is \"vgg\""},
        {"arch", NULL, "no \"arch\""},
        {"depth", "21", "depth must be 6n+2"},
        {"depth", "2", "depth must be 6n+2"},
        {"depth", "twenty", "\"depth\" is \"twenty\""},
        {"depth", "-20", "\"depth\" is \"-20\""},
        {"depth", "56", "layer1.3.conv1.weight is missing (needed by resnet-56"}, /* valid, not what is stored */
        {"shortcut", "C", "\"shortcut\" is \"C\""},
        {"shortcut", "B", "layer2.0.shortcut.0.weight is missing"},
        {"classes", "0", "classes must be"},
        {"classes", "100", "expected [100,64]"},
        {"seed", "", "\"seed\" is \"\""},
        {"epoch", "-1", "\"epoch\" is \"-1\""},
        {"epoch", NULL, "no \"epoch\""},
        {"epoch", "1000001", "\"epoch\" is \"1000001\", expected an integer 0..1000000"},
    };
    for (size_t k = 0; k < sizeof metas / sizeof metas[0]; k++) {
        write_with_meta(bad, &w, metas[k].key, metas[k].value);
        char what[128];
        snprintf(what, sizeof what, "metadata %s = %s", metas[k].key, metas[k].value ? metas[k].value : "(missing)");
        expect_fail(what, read_weights, bad, metas[k].want);
    }

    /* A checkpoint missing a momentum buffer, or its position. */
    RnTrainState s = {.present = true, .epoch = 1, .step = 391};
    s.momentum = calloc(w.net.nvalues, sizeof(float));
    rn_weights_write(tmp("ck.safetensors"), &w, &s);
    RnSafetensors st;
    rn_st_read(&st, tmp("ck.safetensors"));
    RnStOutTensor *ct = calloc((size_t)st.ntensors, sizeof *ct);
    int m = 0;
    for (int k = 0; k < st.ntensors; k++) {
        if (strcmp(st.tensors[k].name, "optimizer.momentum.layer2.1.bn1.bias") == 0)
            continue;                                       /* drop one buffer */
        ct[m] = (RnStOutTensor){.name = st.tensors[k].name, .dtype = st.tensors[k].dtype, .ndim = st.tensors[k].ndim,
                                .data = st.tensors[k].data};
        memcpy(ct[m].shape, st.tensors[k].shape, sizeof ct[m].shape);
        m++;
    }
    rn_st_write(bad, ct, m, st.meta, st.nmeta);
    expect_fail("checkpoint missing a momentum buffer", read_weights, bad,
                "lacks tensor optimizer.momentum.layer2.1.bn1.bias");
    ct[m] = ct[0];
    ct[m].name = "optimizer.momentum.bn1.running_mean";
    ct[m].shape[0] = 16;
    ct[m].ndim = 1;
    rn_st_write(bad, ct, m + 1, st.meta, st.nmeta);
    expect_fail("momentum for a non-trainable tensor", read_weights, bad, "no trainable tensor bn1.running_mean");
    RnStMeta *meta = calloc((size_t)st.nmeta, sizeof *meta);
    int km = 0;
    for (int k = 0; k < st.nmeta; k++)
        if (strcmp(st.meta[k].key, "step") != 0)
            meta[km++] = st.meta[k];
    rn_st_write(bad, ct, m, meta, km);
    expect_fail("checkpoint without step", read_weights, bad, "no \"step\"");
    for (int k = 0; k < st.nmeta; k++)                      /* epoch 1 in 0 steps: every epoch takes a step */
        meta[k] = strcmp(st.meta[k].key, "step") == 0 ? (RnStMeta){"step", "0"} : st.meta[k];
    ct[m] = (RnStOutTensor){.name = "optimizer.momentum.layer2.1.bn1.bias", .dtype = RN_ST_F32, .ndim = 1,
                            .shape = {32}, .data = s.momentum};
    rn_st_write(bad, ct, m + 1, meta, st.nmeta);
    expect_fail("checkpoint with fewer steps than epochs", read_weights, bad, "1 epochs done in 0 steps");
    free(meta);
    free(ct);
    rn_st_free(&st);
    free(s.momentum);

    /* stdin: a file piped in is read, errors say "stdin". */
    expect_fail("truncated on stdin", read_weights, "-", "stdin");
    free(t);
    free(b);
    rn_weights_free(&w);
}

/* ------------------------------------------------------------ metrics */

static RnMetricRecord record(uint32_t epoch)
{
    return (RnMetricRecord){epoch, 391ull * epoch, 0.1, 2.0 / epoch, 0.5 / epoch, NAN, 0.25, 12.5, 4000 + epoch};
}

static int same_record(const RnMetricRecord *a, const RnMetricRecord *b)
{
    return a->epoch == b->epoch && a->iteration == b->iteration && a->lr == b->lr && a->train_loss == b->train_loss &&
           a->train_err == b->train_err && isnan(a->test_loss) == isnan(b->test_loss) && a->test_err == b->test_err &&
           a->seconds == b->seconds && a->images_per_sec == b->images_per_sec;
}

static void test_metrics(void)
{
    const char *path = tmp("m.metrics");
    rn_metrics_create(path, "ResNet-20 seed 1");
    RnMetrics m;
    rn_metrics_read(path, &m);
    CHECK(m.count == 0 && strcmp(m.label, "ResNet-20 seed 1") == 0, "new metrics file: label, no records");
    rn_metrics_free(&m);
    for (uint32_t e = 1; e <= 5; e++) {
        RnMetricRecord r = record(e);
        rn_metrics_append(path, &r);
    }
    rn_metrics_read(path, &m);
    int ok = m.count == 5;
    for (size_t i = 0; ok && i < 5; i++) {
        RnMetricRecord r = record((uint32_t)i + 1);
        ok = same_record(&m.records[i], &r);
    }
    CHECK(ok, "5 appended records read back exactly (NaN test loss kept)");
    rn_metrics_free(&m);

    size_t len;
    uint8_t *b = slurp(path, &len);
    CHECK(len == 88 + 5 * 80, "file size: 88-byte header + 80 bytes per record");
    const char *bad = tmp("bad.metrics");

    /* A torn last record: partial bytes, or a full record with a bad CRC. */
    spit(bad, b, len - 30);
    char msg[4096];
    int rc = run_child(read_metrics, bad, msg, sizeof msg);
    CHECK(rc == 0 && strstr(msg, "warning") && strstr(msg, "torn") && strstr(msg, bad) && count_lines(msg) == 1,
          "partial last record: dropped with a one-line warning");
    RnMetrics t;
    rn_metrics_read(bad, &t);
    CHECK(t.count == 4 && t.records[3].epoch == 4, "partial last record: the 4 intact records remain");
    rn_metrics_free(&t);
    uint8_t *c = malloc(len);
    memcpy(c, b, len);
    c[len - 40] ^= 0x10;
    spit(bad, c, len);
    rc = run_child(read_metrics, bad, msg, sizeof msg);
    CHECK(rc == 0 && strstr(msg, "torn"), "last record with a bad checksum: dropped with a warning");
    rn_metrics_read(bad, &t);
    CHECK(t.count == 4, "last record with a bad checksum: 4 records remain");
    rn_metrics_free(&t);
    expect_fail("append to a missing file", append_metrics, tmp("nonexistent.metrics"), "cannot append");
    spit(bad, b, len - 30);
    expect_fail("append after a partial record", append_metrics, bad, "torn");

    /* Truncate: drops the torn tail and the epochs beyond the checkpoint. */
    rn_metrics_truncate(bad, 2);
    rn_metrics_read(bad, &t);
    CHECK(t.count == 2 && t.records[1].epoch == 2 && strcmp(t.label, "ResNet-20 seed 1") == 0,
          "truncate to epoch 2 keeps the header and records 1-2");
    rn_metrics_free(&t);
    expect_fail("append an invalid record", append_metrics, bad, "refusing to append an invalid record (epoch 9): iteration 0");
    RnMetricRecord r3 = record(3);
    rn_metrics_append(bad, &r3);
    rn_metrics_read(bad, &t);
    CHECK(t.count == 3 && same_record(&t.records[2], &r3), "append after truncate");
    rn_metrics_free(&t);

    /* Corruption before the last record is an error, not a warning. */
    memcpy(c, b, len);
    c[88 + 80 + 20] ^= 0x01;
    spit(bad, c, len);
    expect_fail("corrupt middle record", read_metrics, bad, "record 2 of 5 is corrupt");
    memcpy(c, b, len);
    c[88 + 3 * 80 + 3] ^= 0x01;                             /* record 4 bad, record 5 partial */
    spit(bad, c, len - 10);
    expect_fail("bad full record followed by a partial one", read_metrics, bad, "record 4 of 4 is corrupt");
    memcpy(c, b, len);
    c[0] = 'X';
    spit(bad, c, len);
    expect_fail("wrong magic", read_metrics, bad, "not a metrics file");
    memcpy(c, b, len);
    rn_put_u32(c + 8, 2);
    spit(bad, c, len);
    expect_fail("wrong version", read_metrics, bad, "version 2");
    memcpy(c, b, len);
    c[20] ^= 1;
    spit(bad, c, len);
    expect_fail("header label corrupted", read_metrics, bad, "header is corrupt");
    spit(bad, b, 40);
    expect_fail("truncated header", read_metrics, bad, "truncated");
    expect_fail("missing file", read_metrics, tmp("no-such.metrics"), "cannot open");

    FILE *f = fopen(tmp("m.tsv"), "w+");
    rn_metrics_read(path, &m);
    rn_metrics_print_tsv(&m, f);
    rewind(f);
    char line[512];
    fgets(line, sizeof line, f) ? (void)0 : abort();
    CHECK(strncmp(line, "epoch\titeration\tlr\ttrain_loss\ttrain_err\ttest_loss\ttest_err\tseconds\timages_per_sec\n",
                  sizeof line) == 0,
          "TSV header line");
    fgets(line, sizeof line, f) ? (void)0 : abort();
    CHECK(strcmp(line, "1\t391\t0.1\t2\t0.5\tnan\t0.25\t12.5\t4001\n") == 0, "TSV first record: %.60s", line);
    fclose(f);
    rn_metrics_free(&m);
    free(b);
    free(c);
}

/* ------------------------------------------------------------ eval */

static void test_eval(void)
{
    RnEval e = {.cfg = {RN_ARCH_PLAIN, 56, RN_SHORTCUT_A, 10}, .count = 100, .classes = 10, .loss = 0.75,
                .nlayers = 55};
    snprintf(e.label, sizeof e.label, "Plain-56 seed 2");
    static const char *names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck"};
    for (int c = 0; c < 10; c++)
        snprintf(e.class_names[c], sizeof e.class_names[c], "%s", names[c]);
    e.confusion = calloc(100, sizeof *e.confusion);
    uint32_t correct = 0;
    for (int i = 0; i < 100; i++) {
        int t = i % 10, p = (i % 3 == 0) ? (t + 1) % 10 : t;
        e.confusion[t * 10 + p]++;
        correct += t == p;
    }
    e.error = 1.0 - correct / 100.0;
    e.layer_std = malloc(55 * sizeof(double));
    for (int l = 0; l < 55; l++)
        e.layer_std[l] = 1.0 / (l + 1);
    const char *path = tmp("x.eval");
    rn_eval_write(path, &e);
    RnEval r;
    rn_eval_read(path, &r);
    CHECK(strcmp(r.label, e.label) == 0 && r.cfg.arch == RN_ARCH_PLAIN && r.cfg.depth == 56 && r.cfg.classes == 10 &&
              r.count == 100 && r.classes == 10 && r.loss == 0.75 && r.error == e.error && r.nlayers == 55,
          "eval round trip: fixed fields");
    CHECK(memcmp(r.confusion, e.confusion, 400) == 0 && memcmp(r.layer_std, e.layer_std, 55 * 8) == 0 &&
              strcmp(r.class_names[9], "truck") == 0,
          "eval round trip: confusion, layer std, class names");
    FILE *f = fopen(tmp("x.tsv"), "w+");
    rn_eval_print_tsv(&r, f);
    rewind(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    CHECK(strstr(text, "# summary\n") && strstr(text, "\n# per-class\n") && strstr(text, "\n# confusion\n") &&
              strstr(text, "\n# layer-std\n") && strstr(text, "Plain-56 seed 2\tPlain-56\tplain\t56\tA\t10\t100\t0.75\t0.34"),
          "eval TSV has the four sections and the summary line");
    CHECK(strstr(text, "\n0\tairplane\t10\t6\t0.600000\n") != NULL, "eval TSV per-class line");
    rn_eval_free(&r);

    size_t len;
    uint8_t *b = slurp(path, &len), *c = malloc(len);
    CHECK(len == 120 + 10 * 32 + 400 + 55 * 8 + 4, "eval file size %zu", len);
    const char *bad = tmp("bad.eval");
    spit(bad, b, len - 1);
    expect_fail("truncated eval", read_eval, bad, "truncated");
    memcpy(c, b, len);
    c[len - 20] ^= 4;
    spit(bad, c, len);
    expect_fail("flipped bit in eval", read_eval, bad, "checksum");
    memcpy(c, b, len);
    c[0] = 'X';
    spit(bad, c, len);
    expect_fail("eval wrong magic", read_eval, bad, "not an eval file");
    memcpy(c, b, len);
    rn_put_u32(c + 12, 11);
    spit(bad, c, len);
    expect_fail("eval class count not matching the size", read_eval, bad, "expected");
    memcpy(c, b, len);
    rn_put_u32(c + 8, 7);
    spit(bad, c, len);
    expect_fail("eval wrong version", read_eval, bad, "version 7");
    /* Internally inconsistent but with a valid checksum: a writer bug. */
    e.count = 99;
    rn_eval_write(bad, &e);
    expect_fail("eval count not matching the confusion matrix", read_eval, bad, "confusion matrix counts 100");
    e.count = 100;
    e.error = 0.5;
    rn_eval_write(bad, &e);
    expect_fail("eval error not matching the confusion matrix", read_eval, bad, "does not match");
    e.error = 1.0 - correct / 100.0;
    e.nlayers = 19;                                         /* a depth-56 net has 55 */
    rn_eval_write(bad, &e);
    expect_fail("eval with a layer count not the net's", read_eval, bad, "19 layer responses, but a depth-56 net has 55");
    e.nlayers = 55;
    uint32_t *keep = e.confusion;
    e.confusion = calloc(100, sizeof *e.confusion);
    e.count = 0;
    e.error = 0;
    rn_eval_write(bad, &e);
    expect_fail("eval of 0 images", read_eval, bad, "counts 0 images");
    free(e.confusion);
    e.confusion = keep;
    e.count = 100;
    e.error = 1.0 - correct / 100.0;
    e.cfg.depth = 57;
    rn_eval_write(bad, &e);
    expect_fail("eval with an invalid network", read_eval, bad, "6n+2");
    free(b);
    free(c);
    free(e.confusion);
    free(e.layer_std);
}

/* "test_formats --read-weights FILE": the reader as a command, for
 * tests/weights.bats (no tool of this module reads weights). Prints one line
 * describing the file, or dies as any tool would. */
static int read_weights_command(const char *path)
{
    RnWeights w;
    RnTrainState s;
    rn_weights_read(path, &w, &s);
    char label[32];
    rn_net_label(&w.net.cfg, label, sizeof label);
    printf("%s %zu parameters, seed %llu, epoch %d, %s\n", label, w.net.nparams, (unsigned long long)w.seed, w.epoch,
           s.present ? "checkpoint" : "weights");
    rn_weights_free(&w);
    rn_train_state_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    rn_set_prog("test_formats");
    if (argc == 3 && strcmp(argv[1], "--read-weights") == 0)
        return read_weights_command(argv[2]);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/test_formats.XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* stdin for the "-" case: a truncated file. */
    FILE *in = freopen("/dev/null", "r", stdin);
    (void)in;
    test_net();
    test_init();
    test_weights_roundtrip();
    test_weights_bad();
    test_metrics();
    test_eval();
    int rc = test_done();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return rc;
}
