/* Reference numbers, typed in once, with where they come from. Everything
 * else in the report is computed from our own runs. */
#include "reference.h"

#include <math.h>
#include <stddef.h>

const char *const REF_PAPER_SOURCE =
    "He, Zhang, Ren, Sun, \"Deep Residual Learning for Image Recognition\", CVPR 2016, Table 6 "
    "(CIFAR-10 test error, best of 5 runs for ResNet-110; 45k/5k split, 64k iterations)";
const char *const REF_STUDY_SOURCE =
    "the reference study (shared/reference-study.md), Tables 4-1 and 4-2 "
    "(PyTorch, 200 epochs, milestones 100/150, one run each)";

static const RefResult REFS[] = {
    /* arch          depth  paper err   study best  study final  study loss */
    {RN_ARCH_PLAIN,  20,    NAN,        91.27,      91.16,       0.0250},
    {RN_ARCH_PLAIN,  56,    NAN,        87.69,      87.23,       0.1607},
    {RN_ARCH_RESNET, 20,    8.75,       91.44,      91.26,       0.0180},
    {RN_ARCH_RESNET, 32,    7.51,       NAN,        NAN,         NAN},
    {RN_ARCH_RESNET, 44,    7.17,       NAN,        NAN,         NAN},
    {RN_ARCH_RESNET, 56,    6.97,       93.58,      93.43,       0.0030},
    {RN_ARCH_RESNET, 110,   6.43,       NAN,        NAN,         NAN},
    {RN_ARCH_RESNET, 1202,  7.93,       NAN,        NAN,         NAN},
};

const RefResult *ref_lookup(RnArch arch, int depth)
{
    for (size_t i = 0; i < sizeof REFS / sizeof REFS[0]; i++)
        if (REFS[i].arch == arch && REFS[i].depth == depth)
            return &REFS[i];
    return NULL;
}

/* He et al. 2016, Table 6, the rest of its CIFAR-10 rows: the parameter counts
 * as printed (millions; ResNets only, the plain nets are not in the table) and
 * the spread of ResNet-110, whose 6.43 above is the best of 5 runs. */
static const struct { int depth; double millions; } PAPER_PARAMS[] = {
    {20, 0.27}, {32, 0.46}, {44, 0.66}, {56, 0.85}, {110, 1.7}, {1202, 19.4},
};
const double REF_PAPER_R110_MEAN_ERROR = 6.61;
const double REF_PAPER_R110_STD_ERROR = 0.16;
const int REF_PAPER_R110_RUNS = 5;

double ref_paper_params_millions(RnArch arch, int depth)
{
    if (arch != RN_ARCH_RESNET)
        return NAN;
    for (size_t i = 0; i < sizeof PAPER_PARAMS / sizeof PAPER_PARAMS[0]; i++)
        if (PAPER_PARAMS[i].depth == depth)
            return PAPER_PARAMS[i].millions;
    return NAN;
}
