/* Weights and checkpoints (lib/weights.h, docs/FORMATS.md): initialisation,
 * and the mapping between an RnWeights and a safetensors file with PyTorch
 * state_dict names. lib/safetensors.c checks the container; this file checks
 * that the contents are exactly the network the metadata declares. */
#include "weights.h"
#include "err.h"
#include "io.h"
#include "rng.h"
#include "safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_NAME "rn-cifar-weights"
#define MOMENTUM_PREFIX "optimizer.momentum."
#define SHOWN(path) (rn_is_stdio(path) ? "stdin" : (path))

void rn_weights_alloc(RnWeights *w, const RnNetConfig *cfg)
{
    memset(w, 0, sizeof *w);
    rn_net_build(&w->net, cfg);
    w->values = rn_xcalloc(w->net.nvalues, sizeof *w->values);
    w->counts = rn_xcalloc((size_t)w->net.ncounts, sizeof *w->counts);
}

void rn_weights_free(RnWeights *w)
{
    rn_net_free(&w->net);
    free(w->values);
    free(w->counts);
    memset(w, 0, sizeof *w);
}

void rn_train_state_free(RnTrainState *state)
{
    free(state->momentum);
    state->momentum = NULL;
    state->present = false;
}

/* Every random number is a pure function of (seed, tensor index, element
 * index), so the same seed gives the same bytes whatever the order of work. */
void rn_weights_init(RnWeights *w, const RnNetConfig *cfg, uint64_t seed)
{
    rn_weights_alloc(w, cfg);
    w->seed = seed;
    w->epoch = 0;
    const RnNet *net = &w->net;
    for (int t = 0; t < net->ntensors; t++) {
        const RnTensorSpec *spec = &net->tensors[t];
        float *v = w->values + spec->offset;
        switch (spec->role) {
        case RN_T_CONV_WEIGHT: {
            /* Kaiming normal, mode fan_out, ReLU gain: std = sqrt(2 / (k*k*out)). */
            double fan_out = (double)spec->shape[0] * (double)spec->shape[2] * (double)spec->shape[3];
            double std = sqrt(2.0 / fan_out);
            for (size_t i = 0; i < spec->numel; i++)
                v[i] = (float)(std * rn_normal(seed, RN_RNG_INIT, (uint32_t)t, (uint32_t)i));
            break;
        }
        case RN_T_FC_WEIGHT:
        case RN_T_FC_BIAS: {
            /* PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both;
             * four uniforms per generator call (element i uses word i % 4 of counter i / 4). */
            double bound = 1.0 / sqrt((double)net->fc_in);
            for (size_t i = 0; i < spec->numel; i++) {
                uint32_t r[4];
                rn_random4(seed, RN_RNG_INIT, (uint32_t)t, (uint32_t)(i / 4), r);
                v[i] = (float)(bound * (2.0 * (double)rn_u01f(r[i % 4]) - 1.0));
            }
            break;
        }
        case RN_T_BN_WEIGHT:
        case RN_T_BN_VAR:
            for (size_t i = 0; i < spec->numel; i++)
                v[i] = 1.0f;
            break;
        case RN_T_BN_BIAS:
        case RN_T_BN_MEAN:
            break;                                   /* zero from calloc */
        case RN_T_BN_COUNT:
            w->counts[spec->offset] = 0;
            break;
        }
    }
}

/* ------------------------------------------------------------ writing */

static void shape_of(const RnTensorSpec *spec, RnStOutTensor *o)
{
    o->ndim = spec->ndim;
    for (int d = 0; d < spec->ndim; d++)
        o->shape[d] = spec->shape[d];
}

void rn_weights_write(const char *path, const RnWeights *w, const RnTrainState *state)
{
    const RnNet *net = &w->net;
    bool ckpt = state && state->present;
    int ntrain = 0;
    for (int t = 0; t < net->ntensors; t++)
        ntrain += net->tensors[t].trainable;
    int n = net->ntensors + (ckpt ? ntrain : 0);
    RnStOutTensor *out = rn_xcalloc((size_t)n, sizeof *out);
    char (*names)[RN_NAME_MAX + sizeof MOMENTUM_PREFIX] = rn_xcalloc((size_t)(ntrain ? ntrain : 1), sizeof *names);
    int k = 0, m = 0;
    for (int t = 0; t < net->ntensors; t++, k++) {
        const RnTensorSpec *spec = &net->tensors[t];
        out[k].name = spec->name;
        shape_of(spec, &out[k]);
        if (spec->role == RN_T_BN_COUNT) {
            out[k].dtype = RN_ST_I64;
            out[k].data = w->counts + spec->offset;
        } else {
            out[k].dtype = RN_ST_F32;
            out[k].data = w->values + spec->offset;
        }
    }
    for (int t = 0; ckpt && t < net->ntensors; t++) {
        const RnTensorSpec *spec = &net->tensors[t];
        if (!spec->trainable)
            continue;
        snprintf(names[m], sizeof names[m], MOMENTUM_PREFIX "%s", spec->name);
        out[k].name = names[m++];
        out[k].dtype = RN_ST_F32;
        shape_of(spec, &out[k]);
        out[k].data = state->momentum + spec->offset;
        k++;
    }

    /* Metadata: every value a string, as safetensors requires. */
    char depth[16], shortcut[2] = {(char)net->cfg.shortcut, 0}, classes[16], seed[24], epoch[16], step[24],
        train_seed[24];
    snprintf(depth, sizeof depth, "%d", net->cfg.depth);
    snprintf(classes, sizeof classes, "%d", net->cfg.classes);
    snprintf(seed, sizeof seed, "%" PRIu64, w->seed);
    snprintf(epoch, sizeof epoch, "%d", ckpt ? state->epoch : w->epoch);
    RnStMeta meta[12] = {
        {"format", FORMAT_NAME},
        {"format_version", "1"},
        {"kind", ckpt ? "checkpoint" : "weights"},
        {"arch", (char *)rn_arch_name(net->cfg.arch)},
        {"depth", depth},
        {"shortcut", shortcut},
        {"classes", classes},
        {"seed", seed},
        {"epoch", epoch},
    };
    int nmeta = 9;
    if (ckpt) {
        snprintf(step, sizeof step, "%" PRId64, state->step);
        snprintf(train_seed, sizeof train_seed, "%" PRIu64, state->train_seed);
        meta[nmeta++] = (RnStMeta){"step", step};
        meta[nmeta++] = (RnStMeta){"train_seed", train_seed};
        meta[nmeta++] = (RnStMeta){"recipe", (char *)state->recipe};
    }
    rn_st_write(path, out, n, meta, nmeta);
    free(out);
    free(names);
}

/* ------------------------------------------------------------ reading */

static const char *need_meta(const RnSafetensors *st, const char *key)
{
    const char *v = rn_st_meta(st, key);
    if (!v)
        rn_die("%s: metadata has no \"%s\" (is this an rn-cifar weights file?)", SHOWN(st->path), key);
    return v;
}

/* A metadata value that must be a decimal integer in [lo, hi]. */
static uint64_t meta_uint(const RnSafetensors *st, const char *key, uint64_t hi)
{
    const char *s = need_meta(st, key);
    char *end;
    errno = 0;
    unsigned long long v = (s[0] >= '0' && s[0] <= '9') ? strtoull(s, &end, 10) : (end = (char *)s, 0);
    if (errno || end == s || *end || v > hi)
        rn_die("%s: metadata \"%s\" is \"%s\", expected an integer 0..%llu", SHOWN(st->path), key, s,
               (unsigned long long)hi);
    return (uint64_t)v;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static void net_description(const RnNetConfig *cfg, char *buf, size_t n)
{
    if (cfg->arch == RN_ARCH_RESNET)
        snprintf(buf, n, "resnet-%d (shortcut %c)", cfg->depth, (char)cfg->shortcut);
    else
        snprintf(buf, n, "plain-%d", cfg->depth);
}

/* Checks one stored tensor's dtype and shape against the spec it must match
 * (header only: no data needed). */
static void check_tensor(const char *path, const RnStTensor *t, const RnTensorSpec *spec, const RnNetConfig *cfg)
{
    char desc[64], got[96], want[96];
    net_description(cfg, desc, sizeof desc);
    RnStDtype dtype = spec->role == RN_T_BN_COUNT ? RN_ST_I64 : RN_ST_F32;
    if (t->dtype != dtype)
        rn_die("%s: tensor %s has dtype %s, expected %s", path, t->name, rn_st_dtype_name(t->dtype),
               rn_st_dtype_name(dtype));
    bool same = t->ndim == spec->ndim;
    for (int d = 0; same && d < spec->ndim; d++)
        same = t->shape[d] == spec->shape[d];
    if (!same) {
        shape_text(t->ndim, t->shape, got, sizeof got);
        shape_text(spec->ndim, spec->shape, want, sizeof want);
        rn_die("%s: tensor %s has shape %s, expected %s for %s", path, t->name, got, want, desc);
    }
}

/* Copies a checked tensor's data: int64 counters into *counts, floats
 * (weights or momentum) into *floats; values must be sane. */
static void copy_tensor(const char *path, const RnStTensor *t, float *floats, int64_t *counts)
{
    for (size_t i = 0; i < t->numel; i++) {
        if (counts) {
            int64_t c = (int64_t)rn_get_u64(t->data + 8 * i);
            if (c < 0)
                rn_die("%s: tensor %s is negative (%lld)", path, t->name, (long long)c);
            counts[i] = c;
            continue;
        }
        uint32_t bits = rn_get_u32(t->data + 4 * i);
        memcpy(&floats[i], &bits, 4);
        /* A NaN or Inf would silently poison every later result: refuse it here. */
        if (!isfinite(floats[i]))
            rn_die("%s: tensor %s element %zu is not finite (%g; did training diverge?)", path, t->name, i,
                   (double)floats[i]);
    }
}

/* Which tensor of the net a stored tensor is: its index, *momentum set for an
 * "optimizer.momentum.*" one; -1 for none. */
static int match_tensor(const RnNet *net, const char *name, bool *momentum)
{
    size_t plen = strlen(MOMENTUM_PREFIX);
    *momentum = strncmp(name, MOMENTUM_PREFIX, plen) == 0;
    return rn_net_find(net, *momentum ? name + plen : name);
}

/* What the metadata declares, checked before any tensor data is read. */
typedef struct {
    RnNetConfig cfg;
    bool ckpt;
    uint64_t seed;
    int epoch;
    int64_t step;
    uint64_t train_seed;
    const char *recipe;           /* points into the metadata */
} Declared;

/* Called by rn_st_read_checked between the header and the data: the
 * metadata must describe a valid net, and the data section must not be
 * larger than that net's tensors (so a header cannot make us read and hold
 * more than the declared net needs). */
static void check_declared(const RnSafetensors *st, void *ctx)
{
    Declared *d = ctx;
    const char *shown = SHOWN(st->path);
    const char *format = rn_st_meta(st, "format");
    if (!format || strcmp(format, FORMAT_NAME) != 0)
        rn_die("%s: not an rn-cifar weights file (metadata \"format\" is %s%s%s, expected \"" FORMAT_NAME "\")", shown,
               format ? "\"" : "", format ? format : "missing", format ? "\"" : "");
    const char *version = need_meta(st, "format_version");
    if (strcmp(version, "1") != 0)
        rn_die("%s: format_version %s is not supported (this build reads version %d)", shown, version,
               RN_WEIGHTS_FORMAT_VERSION);
    const char *kind = rn_st_meta(st, "kind");
    if (kind && strcmp(kind, "weights") != 0 && strcmp(kind, "checkpoint") != 0)
        rn_die("%s: metadata \"kind\" is \"%s\", expected \"weights\" or \"checkpoint\"", shown, kind);
    d->ckpt = kind && strcmp(kind, "checkpoint") == 0;

    RnNetConfig *cfg = &d->cfg;
    const char *arch = need_meta(st, "arch");
    if (!rn_arch_parse(arch, &cfg->arch))
        rn_die("%s: metadata \"arch\" is \"%s\", expected \"plain\" or \"resnet\"", shown, arch);
    cfg->depth = (int)meta_uint(st, "depth", RN_MAX_DEPTH + 1);
    const char *sc = need_meta(st, "shortcut");
    if (strcmp(sc, "A") != 0 && strcmp(sc, "B") != 0)
        rn_die("%s: metadata \"shortcut\" is \"%s\", expected \"A\" or \"B\"", shown, sc);
    cfg->shortcut = (RnShortcutOption)sc[0];
    cfg->classes = (int)meta_uint(st, "classes", RN_MAX_CLASSES + 1);
    const char *bad = rn_net_config_check(cfg);
    if (bad)
        rn_die("%s: metadata describes an invalid network: %s", shown, bad);
    d->seed = meta_uint(st, "seed", UINT64_MAX);
    d->epoch = (int)meta_uint(st, "epoch", RN_WEIGHTS_MAX_EPOCH);
    if (d->ckpt) {
        d->step = (int64_t)meta_uint(st, "step", INT64_MAX);
        d->train_seed = meta_uint(st, "train_seed", UINT64_MAX);
        d->recipe = need_meta(st, "recipe");
        if (strlen(d->recipe) >= RN_RECIPE_MAX)
            rn_die("%s: metadata \"recipe\" is longer than %d bytes", shown, RN_RECIPE_MAX - 1);
        /* every epoch takes at least one step */
        if (d->step < d->epoch)
            rn_die("%s: metadata says %d epochs done in %lld steps (every epoch takes at least one step)", shown,
                   d->epoch, (long long)d->step);
    }

    /* Every stored tensor must be expected, with its dtype and shape; every
     * expected tensor stored once. Then the data section is exactly the
     * net's size, known before a byte of it is read. */
    RnNet net;
    rn_net_build(&net, cfg);
    bool *seen = rn_xcalloc((size_t)net.ntensors, sizeof *seen), *seen_m = rn_xcalloc((size_t)net.ntensors, 1);
    char desc[64];
    net_description(cfg, desc, sizeof desc);
    for (int i = 0; i < st->ntensors; i++) {
        const RnStTensor *t = &st->tensors[i];
        bool mom;
        int idx = match_tensor(&net, t->name, &mom);
        if (idx >= 0 && !mom) {
            if (seen[idx])
                rn_die("%s: tensor %s appears twice", shown, t->name);
            check_tensor(shown, t, &net.tensors[idx], cfg);
            seen[idx] = true;
            continue;
        }
        if (mom) {
            if (!d->ckpt)
                rn_die("%s: tensor %s in a file whose metadata \"kind\" is not \"checkpoint\"", shown, t->name);
            if (idx < 0 || !net.tensors[idx].trainable)
                rn_die("%s: unexpected tensor %s: %s has no trainable tensor %s", shown, t->name, desc,
                       t->name + strlen(MOMENTUM_PREFIX));
            if (seen_m[idx])
                rn_die("%s: tensor %s appears twice", shown, t->name);
            check_tensor(shown, t, &net.tensors[idx], cfg);
            seen_m[idx] = true;
            continue;
        }
        rn_die("%s: unexpected tensor %s (not part of %s)", shown, t->name, desc);
    }
    for (int i = 0; i < net.ntensors; i++) {
        if (!seen[i])
            rn_die("%s: tensor %s is missing (needed by %s)", shown, net.tensors[i].name, desc);
        if (d->ckpt && net.tensors[i].trainable && !seen_m[i])
            rn_die("%s: checkpoint lacks tensor " MOMENTUM_PREFIX "%s", shown, net.tensors[i].name);
    }
    free(seen);
    free(seen_m);
    rn_net_free(&net);
}

void rn_weights_read(const char *path, RnWeights *w, RnTrainState *state)
{
    RnSafetensors st;
    Declared d = {0};
    rn_st_read_checked(&st, path, check_declared, &d);
    const char *shown = SHOWN(path);
    bool ckpt = d.ckpt;
    RnNetConfig cfg = d.cfg;

    rn_weights_alloc(w, &cfg);
    w->seed = d.seed;
    w->epoch = d.epoch;
    if (state) {
        memset(state, 0, sizeof *state);
        state->momentum = rn_xcalloc(w->net.nvalues, sizeof *state->momentum);
        state->epoch = w->epoch;
    }
    if (ckpt && state) {
        state->present = true;
        state->step = d.step;
        state->train_seed = d.train_seed;
        snprintf(state->recipe, sizeof state->recipe, "%s", d.recipe);
    }

    /* every tensor was matched against the net by check_declared: copy them */
    const RnNet *net = &w->net;
    float *momentum = state ? state->momentum : rn_xcalloc(net->nvalues, sizeof *momentum);
    for (int i = 0; i < st.ntensors; i++) {
        const RnStTensor *t = &st.tensors[i];
        bool mom;
        const RnTensorSpec *spec = &net->tensors[match_tensor(net, t->name, &mom)];
        if (mom)
            copy_tensor(shown, t, momentum + spec->offset, NULL);
        else if (spec->role == RN_T_BN_COUNT)
            copy_tensor(shown, t, NULL, w->counts + spec->offset);
        else
            copy_tensor(shown, t, w->values + spec->offset, NULL);
    }
    if (!state)
        free(momentum);
    rn_st_free(&st);
}
