/* The network description (lib/net.h): the CIFAR ResNet / plain net of depth
 * 6n+2 as a list of named tensors in PyTorch state_dict order, plus the blocks
 * the executor walks. Nothing here computes; it only says what exists where. */
#include "net.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int stage_channels[3] = {16, 32, 64};

const char *rn_arch_name(RnArch arch) { return arch == RN_ARCH_RESNET ? "resnet" : "plain"; }

bool rn_arch_parse(const char *s, RnArch *arch)
{
    if (strcmp(s, "resnet") == 0)
        *arch = RN_ARCH_RESNET;
    else if (strcmp(s, "plain") == 0)
        *arch = RN_ARCH_PLAIN;
    else
        return false;
    return true;
}

const char *rn_net_config_check(const RnNetConfig *cfg)
{
    if (cfg->arch != RN_ARCH_PLAIN && cfg->arch != RN_ARCH_RESNET)
        return "arch must be plain or resnet";
    if (cfg->depth < 8 || (cfg->depth - 2) % 6 != 0 || cfg->depth > RN_MAX_DEPTH)
        return "depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ... up to 1202)";
    if (cfg->shortcut != RN_SHORTCUT_A && cfg->shortcut != RN_SHORTCUT_B)
        return "shortcut must be A (zero-padding) or B (1x1 projection)";
    if (cfg->classes < 2 || cfg->classes > RN_MAX_CLASSES)
        return "classes must be between 2 and 100";
    return NULL;
}

void rn_net_label(const RnNetConfig *cfg, char *buf, size_t n)
{
    bool resnet = cfg->arch == RN_ARCH_RESNET;
    snprintf(buf, n, "%s-%d%s", resnet ? "ResNet" : "Plain", cfg->depth,
             resnet && cfg->shortcut == RN_SHORTCUT_B ? "B" : "");
}

/* ------------------------------------------------------------ building */

typedef struct {
    RnNet *net;
    int cap;
} Builder;

static int add_tensor(Builder *b, const char *name, RnTensorRole role, int ndim, const int64_t *shape)
{
    RnNet *net = b->net;
    if (net->ntensors == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        net->tensors = rn_xrealloc(net->tensors, sizeof *net->tensors * (size_t)b->cap);
    }
    RnTensorSpec *t = &net->tensors[net->ntensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    if (role == RN_T_BN_COUNT) {
        t->offset = (size_t)net->ncounts++;      /* an index into RnWeights.counts */
    } else {
        t->offset = net->nvalues;
        net->nvalues += t->numel;
    }
    t->trainable = role == RN_T_CONV_WEIGHT || role == RN_T_BN_WEIGHT || role == RN_T_BN_BIAS ||
                   role == RN_T_FC_WEIGHT || role == RN_T_FC_BIAS;
    if (t->trainable)
        net->nparams += t->numel;
    return net->ntensors++;
}

/* "<prefix>.weight" etc. for a BN of c channels, in state_dict order. */
static int add_bn(Builder *b, const char *prefix, int c)
{
    static const struct { const char *suffix; RnTensorRole role; } parts[] = {
        {"weight", RN_T_BN_WEIGHT}, {"bias", RN_T_BN_BIAS}, {"running_mean", RN_T_BN_MEAN},
        {"running_var", RN_T_BN_VAR}, {"num_batches_tracked", RN_T_BN_COUNT},
    };
    int first = -1;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char name[RN_NAME_MAX];
        snprintf(name, sizeof name, "%s.%s", prefix, parts[i].suffix);
        int64_t shape[1] = {c};
        int idx = add_tensor(b, name, parts[i].role, parts[i].role == RN_T_BN_COUNT ? 0 : 1, shape);
        if (first < 0)
            first = idx;
    }
    return first;
}

static RnConvBn add_conv_bn(Builder *b, const char *conv_name, const char *bn_name, int in_c, int out_c,
                            int kernel, int stride, int in_hw)
{
    RnConvBn cb;
    char name[RN_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", conv_name);
    int64_t shape[4] = {out_c, in_c, kernel, kernel};
    cb.weight = add_tensor(b, name, RN_T_CONV_WEIGHT, 4, shape);
    cb.bn = add_bn(b, bn_name, out_c);
    cb.in_c = in_c;
    cb.out_c = out_c;
    cb.kernel = kernel;
    cb.stride = stride;
    cb.pad = kernel / 2;
    cb.in_hw = in_hw;
    cb.out_hw = (in_hw + 2 * cb.pad - kernel) / stride + 1;
    return cb;
}

void rn_net_build(RnNet *net, const RnNetConfig *cfg)
{
    const char *bad = rn_net_config_check(cfg);
    if (bad)
        rn_usage_error("%s", bad);
    memset(net, 0, sizeof *net);
    net->cfg = *cfg;
    if (cfg->arch == RN_ARCH_PLAIN)
        net->cfg.shortcut = RN_SHORTCUT_A;       /* recorded as 'A'; unused */
    net->n = (cfg->depth - 2) / 6;
    Builder b = {net, 0};

    net->stem = add_conv_bn(&b, "conv1", "bn1", RN_IN_CHANNELS, 16, 3, 1, RN_IN_SIDE);
    net->nblocks = 3 * net->n;
    net->blocks = rn_xcalloc((size_t)net->nblocks, sizeof *net->blocks);
    int in_c = 16, hw = RN_IN_SIDE, k = 0;
    for (int s = 1; s <= 3; s++) {
        int planes = stage_channels[s - 1];
        for (int i = 0; i < net->n; i++, k++) {
            RnBlock *blk = &net->blocks[k];
            int stride = (s > 1 && i == 0) ? 2 : 1;
            char p[32], conv[44], bn[44];   /* sized so gcc can prove no truncation */
            snprintf(p, sizeof p, "layer%d.%d", s, i);
            blk->stage = s;
            blk->index = i;
            snprintf(conv, sizeof conv, "%s.conv1", p);
            snprintf(bn, sizeof bn, "%s.bn1", p);
            blk->conv1 = add_conv_bn(&b, conv, bn, in_c, planes, 3, stride, hw);
            snprintf(conv, sizeof conv, "%s.conv2", p);
            snprintf(bn, sizeof bn, "%s.bn2", p);
            blk->conv2 = add_conv_bn(&b, conv, bn, planes, planes, 3, 1, blk->conv1.out_hw);
            /* The shortcut, registered after bn2 as in the PyTorch module. */
            if (net->cfg.arch == RN_ARCH_PLAIN)
                blk->shortcut = RN_SC_NONE;
            else if (stride == 1 && in_c == planes)
                blk->shortcut = RN_SC_IDENTITY;
            else if (net->cfg.shortcut == RN_SHORTCUT_A)
                blk->shortcut = RN_SC_PAD;
            else {
                blk->shortcut = RN_SC_PROJ;
                snprintf(conv, sizeof conv, "%s.shortcut.0", p);
                snprintf(bn, sizeof bn, "%s.shortcut.1", p);
                blk->proj = add_conv_bn(&b, conv, bn, in_c, planes, 1, stride, hw);
                blk->proj.pad = 0;
            }
            in_c = planes;
            hw = blk->conv1.out_hw;
        }
    }
    net->fc_in = in_c;
    int64_t wshape[2] = {cfg->classes, in_c}, bshape[1] = {cfg->classes};
    net->fc_weight = add_tensor(&b, "linear.weight", RN_T_FC_WEIGHT, 2, wshape);
    net->fc_bias = add_tensor(&b, "linear.bias", RN_T_FC_BIAS, 1, bshape);
}

void rn_net_free(RnNet *net)
{
    free(net->tensors);
    free(net->blocks);
    memset(net, 0, sizeof *net);
}

int rn_net_find(const RnNet *net, const char *name)
{
    for (int i = 0; i < net->ntensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------ MACs and summary */

static uint64_t conv_macs(const RnConvBn *c)
{
    return (uint64_t)c->out_hw * (uint64_t)c->out_hw * (uint64_t)c->out_c * (uint64_t)c->in_c *
           (uint64_t)c->kernel * (uint64_t)c->kernel;
}

uint64_t rn_net_macs(const RnNet *net)
{
    uint64_t macs = conv_macs(&net->stem);
    for (int k = 0; k < net->nblocks; k++) {
        const RnBlock *blk = &net->blocks[k];
        macs += conv_macs(&blk->conv1) + conv_macs(&blk->conv2);
        if (blk->shortcut == RN_SC_PROJ)
            macs += conv_macs(&blk->proj);
    }
    return macs + (uint64_t)net->cfg.classes * (uint64_t)net->fc_in;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static void shape_string(const RnTensorSpec *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static void row(FILE *out, const char *name, const char *shape, uint64_t params, const char *output, uint64_t macs)
{
    char p[32], m[32];
    fprintf(out, "%-24s %-14s %11s  %-10s %13s\n", name, shape, params ? grouped(params, p, sizeof p) : "-",
            output, macs ? grouped(macs, m, sizeof m) : "-");
}

/* One row for a convolution and one for its BN (gamma + beta are trainable;
 * the running statistics are buffers and not counted, as in the paper). */
static void conv_bn_rows(FILE *out, const RnNet *net, const RnConvBn *c)
{
    const RnTensorSpec *w = &net->tensors[c->weight], *g = &net->tensors[c->bn];
    char name[RN_NAME_MAX], shape[48], output[32];
    snprintf(output, sizeof output, "%dx%dx%d", c->out_c, c->out_hw, c->out_hw);
    snprintf(name, sizeof name, "%.*s", (int)(strlen(w->name) - strlen(".weight")), w->name);
    shape_string(w, shape, sizeof shape);
    row(out, name, shape, w->numel, output, conv_macs(c));
    snprintf(name, sizeof name, "%.*s", (int)(strlen(g->name) - strlen(".weight")), g->name);
    shape_string(g, shape, sizeof shape);
    row(out, name, shape, 2 * g->numel, output, 0);
}

void rn_net_print_summary(const RnNet *net, FILE *out)
{
    char label[32], buf[32];
    rn_net_label(&net->cfg, label, sizeof label);
    fprintf(out, "%s (%s, depth %d = 6*%d+2%s, %d classes)\n", label, rn_arch_name(net->cfg.arch), net->cfg.depth,
            net->n, net->cfg.arch == RN_ARCH_RESNET ? (net->cfg.shortcut == 'A' ? ", shortcut A" : ", shortcut B") : "",
            net->cfg.classes);
    fprintf(out, "%-24s %-14s %11s  %-10s %13s\n", "layer", "shape", "parameters", "output", "MACs");
    row(out, "input", "-", 0, "3x32x32", 0);
    conv_bn_rows(out, net, &net->stem);
    for (int k = 0; k < net->nblocks; k++) {
        const RnBlock *blk = &net->blocks[k];
        conv_bn_rows(out, net, &blk->conv1);
        conv_bn_rows(out, net, &blk->conv2);
        char name[RN_NAME_MAX], output[32];
        snprintf(name, sizeof name, "layer%d.%d.shortcut", blk->stage, blk->index);
        snprintf(output, sizeof output, "%dx%dx%d", blk->conv2.out_c, blk->conv2.out_hw, blk->conv2.out_hw);
        if (blk->shortcut == RN_SC_IDENTITY)
            row(out, name, "identity", 0, output, 0);
        else if (blk->shortcut == RN_SC_PAD)
            row(out, name, "A:pad", 0, output, 0);
        else if (blk->shortcut == RN_SC_PROJ)
            conv_bn_rows(out, net, &blk->proj);
    }
    snprintf(buf, sizeof buf, "%dx1x1", net->fc_in);
    row(out, "avgpool", "-", 0, buf, 0);
    const RnTensorSpec *fw = &net->tensors[net->fc_weight], *fb = &net->tensors[net->fc_bias];
    char shape[48];
    shape_string(fw, shape, sizeof shape);
    snprintf(buf, sizeof buf, "%d", net->cfg.classes);
    row(out, "linear", shape, fw->numel + fb->numel, buf, (uint64_t)net->cfg.classes * (uint64_t)net->fc_in);

    size_t buffers = net->nvalues - net->nparams;
    char p[32], m[32], bufs[32];
    uint64_t macs = rn_net_macs(net);
    fprintf(out, "total: %s trainable parameters (%s BN running-stat values and %d counters besides)\n",
            grouped(net->nparams, p, sizeof p), grouped(buffers, bufs, sizeof bufs), net->ncounts);
    fprintf(out, "total: %s MACs per image (%.2f M, convolutions and linear)\n", grouped(macs, m, sizeof m),
            (double)macs / 1e6);
}
