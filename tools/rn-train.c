/* rn-train: trains a CIFAR ResNet / plain net with SGD (lib/engine/train.c does the work). */
#include "backend.h"
#include "checkpoint.h"
#include "err.h"
#include "io.h"
#include "metrics.h"
#include "opts.h"
#include "schedule.h"
#include "train.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    RnTrainOptions o;
    rn_train_defaults(&o);
    const char *milestones = "100,150", *unit = "epoch", *normalize = "channel";
    uint64_t max_steps = UINT64_MAX;   /* not given */
    int no_augment = 0, no_shuffle = 0, warmup_iters = 0;
    const RnOpt opts[] = {
        {"train", 0, RN_OPT_STR, &o.train_path, "FILE.ds", "training dataset (required)"},
        {"test", 0, RN_OPT_STR, &o.test_path, "FILE.ds", "test/validation set, evaluated after every epoch"},
        {"init", 0, RN_OPT_STR, &o.init_path, "W.safetensors", "initial weights from rn-init ('-' = stdin)"},
        {"resume", 0, RN_OPT_STR, &o.resume_path, "CKPT", "continue the run saved in this checkpoint"},
        {"output", 'o', RN_OPT_STR, &o.out_path, "FILE", "final weights ('-' = stdout; required)"},
        {"checkpoint", 0, RN_OPT_STR, &o.checkpoint_path, "CKPT",
         "checkpoint, rewritten every epoch (default: -o with .ckpt inserted)"},
        {"metrics", 0, RN_OPT_STR, &o.metrics_path, "FILE", "per-epoch metrics file (default: none)"},
        {"epochs", 0, RN_OPT_INT, &o.epochs, "N", "epochs (default: 200)"},
        {"batch", 0, RN_OPT_INT, &o.batch, "N", "mini-batch size, clamped to the training set's; last partial batch kept (default: 128)"},
        {"lr", 0, RN_OPT_DOUBLE, &o.schedule.lr, "X", "learning rate (default: 0.1)"},
        {"momentum", 0, RN_OPT_DOUBLE, &o.momentum, "X", "SGD momentum (default: 0.9)"},
        {"weight-decay", 0, RN_OPT_DOUBLE, &o.weight_decay, "X", "L2 weight decay on every parameter (default: 1e-4)"},
        {"milestones", 0, RN_OPT_STR, &milestones, "M,M", "multiply lr by --gamma at these (default: 100,150; '' none)"},
        {"milestone-unit", 0, RN_OPT_STR, &unit, "epoch|iter", "unit of --milestones (default: epoch)"},
        {"gamma", 0, RN_OPT_DOUBLE, &o.schedule.gamma, "X", "lr factor at each milestone (default: 0.1)"},
        {"warmup-lr", 0, RN_OPT_DOUBLE, &o.schedule.warmup_lr, "X", "lr during the warm-up (default: 0.01)"},
        {"warmup-iters", 0, RN_OPT_INT, &warmup_iters, "K", "warm up for the first K steps (default: 0, none)"},
        {"seed", 0, RN_OPT_U64, &o.seed, "S", "seed of the data order and augmentation (default: 1)"},
        {"no-augment", 0, RN_OPT_FLAG, &no_augment, NULL, "no crop/flip augmentation"},
        {"normalize", 0, RN_OPT_STR, &normalize, "channel|pixel",
         "channel mean/std (default) or the paper's per-pixel mean (CPU only)"},
        {"no-shuffle", 0, RN_OPT_FLAG, &no_shuffle, NULL, "keep the dataset order in every epoch"},
        {"max-steps", 0, RN_OPT_U64, &max_steps, "N", "stop after N optimizer steps in total (e.g. 64000)"},
        {"label", 0, RN_OPT_STR, &o.label, "NAME", "label in the metrics file (default: net and seed)"},
        {"device", 0, RN_OPT_STR, &o.backend.device, RN_DEVICE_NAMES, "compute backend (default: auto, the GPU if usable)"},
        {"threads", 0, RN_OPT_INT, &o.backend.threads, "N", "CPU threads (default: 0, all cores)"},
        {"deterministic", 0, RN_OPT_FLAG, &o.backend.deterministic, NULL, "CUDA: deterministic algorithms only"},
        {"reference", 0, RN_OPT_FLAG, &o.backend.reference, NULL, "CPU: the plain reference kernels"},
        {"force", 0, RN_OPT_FLAG, &o.force, NULL, "resume even when the recipe differs from the checkpoint's"},
        {0},
    };
    const RnOptInfo info = {
        "--train TRAIN.ds [--test TEST.ds] (--init W.safetensors | --resume CKPT) -o FINAL.safetensors [options]",
        "Train a CIFAR ResNet or plain net with SGD; write the final weights, a checkpoint and per-epoch metrics.",
        "Defaults are the paper profile's recipe: 200 epochs of batch 128, lr 0.1 x0.1 at epochs 100 and 150,\n"
        "momentum 0.9, weight decay 1e-4, pad-4 crop + flip augmentation. The paper's own protocol:\n"
        "--max-steps 64000 --milestones 32000,48000 --milestone-unit iter --normalize pixel (and --warmup-iters\n"
        "400 for ResNet-110). --normalize pixel subtracts the training set's mean image (x/255 per pixel, no\n"
        "division; the crop's pad is 0 after it); the CUDA backend does not implement it yet and refuses it.\n"
        "The checkpoint is written atomically after every epoch and on SIGINT/SIGTERM/SIGHUP (then exit 1);\n"
        "rerun the same command with --resume CKPT instead of --init to continue: the result is bitwise the\n"
        "same as an uninterrupted run. The recipe (everything that changes the numbers except --epochs and\n"
        "--max-steps) is stored in the checkpoint; resuming with another one is refused unless --force.\n"
        "With --resume, --init may also be given: it must then be of the same architecture.\n"        "Resuming a checkpoint that is already past --epochs / --max-steps is an error (its weights are\n"
        "not the result of the shorter run); one exactly at the end writes the final weights.\n"
        "A --batch larger than the training set is clamped to its size (the same step either way); a batch\n"
        "whose activations would not fit in memory is refused before anything is allocated.\n"
        "Outputs follow the rules of every tool (README): none may be an input (a resume rewrites its\n"
        "own --resume checkpoint); CKPT.lock and METRICS.lock, holding the pid, keep a second rn-train\n"
        "off the same run (refused at once; the lock of a dead run is taken over).\n"
        "Progress goes to stderr: a bar on a terminal, one line per epoch otherwise."};
    int first = rn_parse_options(argc, argv, opts, &info);
    if (first < argc)
        rn_usage_error("unexpected argument '%s'", argv[first]);
    if (!o.train_path)
        rn_usage_error("--train is required");
    if (!o.init_path && !o.resume_path)
        rn_usage_error("give --init WEIGHTS or --resume CHECKPOINT");
    if (!o.out_path)
        rn_usage_error("-o FINAL.safetensors is required");
    if (o.resume_path && rn_is_stdio(o.resume_path))
        rn_usage_error("--resume needs a checkpoint file, not stdin");
    if (o.init_path && o.resume_path && strcmp(o.init_path, "-") == 0)
        rn_usage_error("--init - cannot be combined with --resume");
    char *default_ckpt = NULL;
    if (!o.checkpoint_path) {
        if (strcmp(o.out_path, "-") == 0)
            rn_usage_error("--checkpoint is required when -o is '-'");
        o.checkpoint_path = default_ckpt = rn_train_default_checkpoint(o.out_path);
    }
    if (strcmp(o.checkpoint_path, "-") == 0)
        rn_usage_error("--checkpoint must be a file, not '-'");
    if (o.metrics_path && strcmp(o.metrics_path, "-") == 0)
        rn_usage_error("--metrics must be a file, not '-' (print it with rn-eval --tsv)");
    const char *why = rn_schedule_parse_milestones(&o.schedule, milestones);
    if (why)
        rn_usage_error("--milestones: %s", why);
    if (!rn_milestone_unit_parse(unit, &o.schedule.unit))
        rn_usage_error("--milestone-unit must be 'epoch' or 'iter', not '%s'", unit);
    if (warmup_iters < 0)
        rn_usage_error("--warmup-iters must be >= 0");
    o.schedule.warmup_iters = warmup_iters;
    if (o.batch < 1)
        rn_usage_error("--batch must be at least 1");
    if (o.epochs < 1)
        rn_usage_error("--epochs must be at least 1");
    if (o.backend.threads < 0 || o.backend.threads > 1024)
        rn_usage_error("--threads must be 0..1024 (0 = all cores)");
    rn_device_check(o.backend.device);
    if (o.schedule.lr <= 0 || o.schedule.gamma <= 0 || o.schedule.warmup_lr <= 0 || o.weight_decay < 0)
        rn_usage_error("--lr, --gamma and --warmup-lr must be > 0, --weight-decay >= 0");
    if (o.momentum < 0 || o.momentum >= 1)
        rn_usage_error("--momentum must be in [0, 1), not %g", o.momentum);
    if (o.label && strlen(o.label) >= RN_METRICS_LABEL_LEN)
        rn_usage_error("--label is longer than %d bytes", RN_METRICS_LABEL_LEN - 1);
    if (max_steps == 0)
        rn_usage_error("--max-steps must be at least 1");
    if (max_steps != UINT64_MAX)
        o.max_steps = max_steps > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)max_steps;
    o.augment = !no_augment;
    o.shuffle = !no_shuffle;
    if (!rn_normalize_parse(normalize, &o.normalize))
        rn_usage_error("--normalize must be 'channel' or 'pixel', not '%s'", normalize);

    rn_train_run(&o);
    free(default_ckpt);
    return 0;
}
