/* The network description: CIFAR ResNet / plain net of depth 6n+2 (He et al.
 * 2016, section 4.2), as a list of named parameter tensors (the PyTorch
 * state_dict names, docs/DESIGN.md) and a list of blocks that the executor walks.
 *
 *   stem:   conv1 3x3 (3->16) + bn1 + ReLU                  32x32
 *   stage s = 1,2,3 (16, 32, 64 channels), n BasicBlocks each; the first block
 *           of stages 2 and 3 has stride 2 (32->16->8)
 *   block:  conv1 3x3 + bn1 + ReLU, conv2 3x3 + bn2, (+ shortcut), ReLU
 *   head:   global average pool, linear 64 -> classes
 * Shortcut A: x[:, :, ::2, ::2] zero-padded by planes/4 channels on each side
 * (identity in the middle channels). Shortcut B: 1x1 conv stride 2 + BN, named
 * layer{s}.0.shortcut.0.weight and layer{s}.0.shortcut.1.*. Plain nets: no
 * shortcut at all. Identity shortcuts (same shape) have no parameters. */
#ifndef RN_NET_H
#define RN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RN_MAX_DEPTH 1202         /* ResNet-1202, the paper's deepest CIFAR net */
#define RN_MAX_CLASSES 100
#define RN_NAME_MAX 64

/* The input every CIFAR net takes: 3 channels of 32x32 pixels (a dataset of
 * another shape is refused before training or evaluating on it). */
#define RN_IN_CHANNELS 3
#define RN_IN_SIDE 32
#define RN_IN_FLOATS (RN_IN_CHANNELS * RN_IN_SIDE * RN_IN_SIDE)   /* one image */

typedef enum { RN_ARCH_PLAIN = 0, RN_ARCH_RESNET = 1 } RnArch;
typedef enum { RN_SHORTCUT_A = 'A', RN_SHORTCUT_B = 'B' } RnShortcutOption;

typedef struct {
    RnArch arch;
    int depth;                    /* 6n+2 */
    RnShortcutOption shortcut;    /* used by resnet only; plain nets record 'A' */
    int classes;                  /* 10 for CIFAR-10 */
} RnNetConfig;

/* Fills cfg from strings; returns NULL when valid, else a message naming the valid forms. */
const char *rn_net_config_check(const RnNetConfig *cfg);
const char *rn_arch_name(RnArch arch);                    /* "plain" / "resnet" */
bool rn_arch_parse(const char *s, RnArch *arch);
/* "ResNet-20", "Plain-56", "ResNet-20B" (shortcut B), for tables and legends */
void rn_net_label(const RnNetConfig *cfg, char *buf, size_t n);

typedef enum {
    RN_T_CONV_WEIGHT,    /* [out, in, k, k] */
    RN_T_BN_WEIGHT,      /* gamma [c] */
    RN_T_BN_BIAS,        /* beta [c] */
    RN_T_BN_MEAN,        /* running_mean [c] (not trained) */
    RN_T_BN_VAR,         /* running_var [c] (not trained) */
    RN_T_BN_COUNT,       /* num_batches_tracked, int64 scalar, shape [] */
    RN_T_FC_WEIGHT,      /* [classes, 64] */
    RN_T_FC_BIAS,        /* [classes] */
} RnTensorRole;

typedef struct {
    char name[RN_NAME_MAX];       /* state_dict name, e.g. "layer2.0.bn1.running_var" */
    RnTensorRole role;
    int ndim;                     /* 0 for num_batches_tracked */
    int64_t shape[4];
    size_t numel;
    size_t offset;                /* float tensors: offset into RnWeights.values;
                                     RN_T_BN_COUNT: index into RnWeights.counts */
    bool trainable;               /* conv, bn weight/bias, fc: updated by SGD */
} RnTensorSpec;

/* A convolution followed by batch norm: indices into RnNet.tensors. */
typedef struct {
    int weight;                   /* conv weight tensor */
    int bn;                       /* bn weight tensor; bias, mean, var, count follow at bn+1..bn+4 */
    int in_c, out_c, kernel, stride, pad;
    int in_hw, out_hw;            /* square spatial size in and out */
} RnConvBn;

typedef enum {
    RN_SC_NONE,                   /* plain net: no addition */
    RN_SC_IDENTITY,               /* same shape: y += x */
    RN_SC_PAD,                    /* option A: subsample + zero-pad channels */
    RN_SC_PROJ,                   /* option B: 1x1 conv stride 2 + BN (proj) */
} RnShortcutKind;

typedef struct {
    int stage, index;             /* layer{stage}.{index}, stage 1..3 */
    RnConvBn conv1, conv2;
    RnShortcutKind shortcut;
    RnConvBn proj;                /* RN_SC_PROJ only */
} RnBlock;

typedef struct {
    RnNetConfig cfg;
    int n;                        /* blocks per stage: (depth - 2) / 6 */
    int ntensors;
    RnTensorSpec *tensors;        /* in state_dict order */
    size_t nvalues;               /* floats in RnWeights.values (all float tensors) */
    int ncounts;                  /* int64 num_batches_tracked entries (one per BN) */
    size_t nparams;               /* trainable parameters (the paper's count) */
    RnConvBn stem;
    int nblocks;
    RnBlock *blocks;
    int fc_weight, fc_bias;       /* tensor indices */
    int fc_in;                    /* 64 */
} RnNet;

/* Builds the description; dies with a usage error if cfg is invalid. */
void rn_net_build(RnNet *net, const RnNetConfig *cfg);
void rn_net_free(RnNet *net);
int rn_net_find(const RnNet *net, const char *name);      /* tensor index or -1 */
/* Forward multiply-accumulates per image (convolutions and the fc layer). */
uint64_t rn_net_macs(const RnNet *net);
/* Per-layer table: name, shape, parameters, output size, MACs, totals. */
void rn_net_print_summary(const RnNet *net, FILE *out);

#endif
