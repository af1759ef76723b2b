/* rn-init: writes the initial weights of a CIFAR ResNet or plain net
 * (safetensors, docs/FORMATS.md) and prints its per-layer summary. */
#include "err.h"
#include "io.h"
#include "net.h"
#include "opts.h"
#include "weights.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *arch_s = NULL, *shortcut_s = "A", *output = NULL;
    int depth = INT_MIN, classes = 10, summary = 0;   /* INT_MIN: not given */
    uint64_t seed = 1;
    const RnOpt opts[] = {
        {"arch", 'a', RN_OPT_STR, &arch_s, "ARCH", "plain or resnet (required)"},
        {"depth", 'd', RN_OPT_INT, &depth, "N", "6n+2 with n >= 1: 8, 14, 20, 32, 44, 56, 110, ... (required)"},
        {"shortcut", 0, RN_OPT_STR, &shortcut_s, "A|B",
         "resnet shortcut where the shape changes: A zero-pad, B 1x1 projection (default: A)"},
        {"classes", 0, RN_OPT_INT, &classes, "N", "number of classes (default: 10)"},
        {"seed", 's', RN_OPT_U64, &seed, "S", "random seed; same seed, same bytes (default: 1)"},
        {"output", 'o', RN_OPT_STR, &output, "FILE",
         "weights file, '-' for stdout (default: stdout when it is not a terminal)"},
        {"summary", 0, RN_OPT_FLAG, &summary, NULL,
         "print the per-layer table on stdout; without -o write no weights"},
        {0},
    };
    const RnOptInfo info = {
        "--arch plain|resnet --depth 6n+2 [options]",
        "Write the initial weights of a CIFAR ResNet / plain net (He et al. 2016) as safetensors.",
        "Init: conv Kaiming normal (fan_out, std sqrt(2/(9*out))); BN gamma 1, beta 0, running mean 0,\n"
        "var 1; linear weight and bias uniform in +-1/sqrt(64). The per-layer table (parameters,\n"
        "output size, MACs, totals) goes to stderr, or to stdout with --summary (then the weights\n"
        "are written only when -o FILE is given, never to stdout). --quiet hides the table.\n"
        "Examples:\n"
        "  rn-init --arch resnet --depth 56 --seed 1 -o resnet56.safetensors\n"
        "  rn-init --arch plain --depth 20 --summary\n"
        "  rn-init --arch resnet --depth 20 -o - | rn-train --init - ...",
    };
    int first = rn_parse_options(argc, argv, opts, &info);
    if (first < argc)
        rn_usage_error("unexpected argument '%s' (rn-init reads no input file)", argv[first]);

    RnNetConfig cfg = {.classes = classes, .shortcut = RN_SHORTCUT_A};
    if (!arch_s)
        rn_usage_error("--arch is required: plain or resnet");
    if (!rn_arch_parse(arch_s, &cfg.arch))
        rn_usage_error("--arch must be plain or resnet, not '%s'", arch_s);
    if (depth == INT_MIN)
        rn_usage_error("--depth is required: 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...)");
    cfg.depth = depth;
    if (strcmp(shortcut_s, "A") == 0 || strcmp(shortcut_s, "a") == 0)
        cfg.shortcut = RN_SHORTCUT_A;
    else if (strcmp(shortcut_s, "B") == 0 || strcmp(shortcut_s, "b") == 0)
        cfg.shortcut = RN_SHORTCUT_B;
    else
        rn_usage_error("--shortcut must be A (zero-padding) or B (1x1 projection), not '%s'", shortcut_s);
    if (cfg.arch == RN_ARCH_PLAIN && cfg.shortcut == RN_SHORTCUT_B)
        rn_usage_error("--shortcut B applies to --arch resnet only (plain nets have no shortcuts)");
    const char *bad = rn_net_config_check(&cfg);
    if (bad)
        rn_usage_error("%s", bad);

    /* Where the weights go: never a terminal, never mixed with the table. */
    if (summary && output && rn_is_stdio(output))
        rn_usage_error("--summary prints the table on stdout, so the weights need -o FILE, not '-o -'");
    if (!summary && !output) {
        if (isatty(STDOUT_FILENO))
            rn_usage_error("refusing to write binary weights to a terminal: give -o FILE (or -o - in a pipe)");
        output = "-";
    }

    RnWeights w;
    rn_weights_init(&w, &cfg, seed);
    if (summary)
        rn_net_print_summary(&w.net, stdout);
    else if (!rn_quiet)
        rn_net_print_summary(&w.net, stderr);
    if (output)
        rn_weights_write(output, &w, NULL);
    if (summary && fflush(stdout) != 0)
        rn_die("cannot write the summary to stdout");
    rn_weights_free(&w);
    return 0;
}
