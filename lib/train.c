/* The training loop (lib/train.h). Reading order: rn_train_run at the bottom
 * sets everything up and calls train_loop; the helpers above it do one thing
 * each (recipe string, data checks, checkpoint, epoch test pass, progress). */
#include "train.h"

#include "dataset.h"
#include "err.h"
#include "io.h"
#include "metrics.h"
#include "model.h"
#include "net.h"
#include "rng.h"
#include "weights.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* CIFAR-10 training-set channel statistics of x/255 (docs/DESIGN.md). */
static const float CIFAR_MEAN[3] = {0.4914f, 0.4822f, 0.4465f};
static const float CIFAR_STD[3] = {0.2470f, 0.2435f, 0.2616f};
#define AUGMENT_PAD 4

/* The recipe is "key=value" lines; a checkpoint saved mid-epoch appends the
 * partial epoch's sums after this separator line. Only the part before it is
 * compared on resume. */
#define PROGRESS_SEPARATOR "--- epoch in progress\n"

void rn_train_defaults(RnTrainOptions *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 200;
    o->batch = 128;
    o->momentum = 0.9;
    o->weight_decay = 1e-4;
    o->schedule.lr = 0.1;
    o->schedule.gamma = 0.1;
    o->schedule.nmilestones = 2;
    o->schedule.milestones[0] = 100;
    o->schedule.milestones[1] = 150;
    o->schedule.unit = RN_UNIT_EPOCH;
    o->schedule.warmup_lr = 0.01;
    o->schedule.warmup_iters = 0;
    o->seed = 1;
    o->augment = 1;
    o->shuffle = 1;
    o->max_steps = INT64_MAX;
    o->backend.device = "auto";
}

char *rn_train_default_checkpoint(const char *out_path)
{
    static const char ext[] = ".safetensors";
    size_t n = strlen(out_path), e = sizeof ext - 1;
    char *s = rn_xmalloc(n + 32);
    if (n > e && strcmp(out_path + n - e, ext) == 0)
        snprintf(s, n + 32, "%.*s.ckpt%s", (int)(n - e), out_path, ext);
    else
        snprintf(s, n + 32, "%s.ckpt%s", out_path, ext);
    return s;
}

/* ---------------------------------------------------------------- interruption */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* From here on a signal is a request: the step in progress ends, a
 * checkpoint is saved, and the run stops with exit status 1. Before, while
 * loading and allocating, the default action applies (lib/io.h: the lock and
 * any temp file are removed). A SIGHUP ignored by nohup stays ignored. */
static void install_signal_handlers(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaction(SIGHUP, &sa, NULL);
}

/* ---------------------------------------------------------------- data */

static void check_dataset(const char *path, const RnDataset *ds, int classes, const char *weights_path)
{
    if (ds->channels != 3 || ds->height != 32 || ds->width != 32)
        rn_die("%s: images are %ux%ux%u, the CIFAR networks need 3x32x32", path, ds->channels, ds->height,
               ds->width);
    if ((int)ds->classes != classes)
        rn_die("%s has %u classes but the weights %s have %d (make weights with rn-init --classes %u)", path,
               ds->classes, rn_is_stdio(weights_path) ? "from stdin" : weights_path, classes, ds->classes);
}

/* A fingerprint of a dataset for the recipe: count and CRC-32 of its labels and pixels. */
static void dataset_fingerprint(const RnDataset *ds, char *buf, size_t n)
{
    uint32_t crc_labels = rn_crc32(ds->labels, ds->count);
    uint32_t crc_pixels = rn_crc32(ds->pixels, (size_t)(ds->count * rn_dataset_image_bytes(ds)));
    snprintf(buf, n, "%u images, crc %08x/%08x", ds->count, crc_labels, crc_pixels);
}

/* ---------------------------------------------------------------- recipe */

/* The shortest of %.15g / %.17g that reads back as the same double: "0.1", not
 * "0.10000000000000001", yet exact. */
static const char *exact(double v, char buf[32])
{
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 32, "%.17g", v);
    return buf;
}

/* Everything that changes the numbers, one "key=value" line each, canonical
 * (numbers written exactly, see exact()). Not in it: epochs and --max-steps (they say
 * where to stop, not what each step does: a run can be extended), and the
 * device/threads (an implementation choice, bitwise equal on the CPU). */
static void make_recipe(const RnTrainOptions *o, const RnNet *net, const RnDataset *train, const RnDataset *test,
                        char *buf, size_t n)
{
    char label[64], milestones[256], train_fp[96], test_fp[96] = "none", e[5][32];
    rn_net_label(&net->cfg, label, sizeof label);
    rn_schedule_format_milestones(&o->schedule, milestones, sizeof milestones);
    dataset_fingerprint(train, train_fp, sizeof train_fp);
    if (test)
        dataset_fingerprint(test, test_fp, sizeof test_fp);
    int len = snprintf(buf, n,
                       "recipe=rn-train 1\n"
                       "net=%s (%s, depth %d, shortcut %c, %d classes)\n"
                       "batch=%d\nlr=%s\nmomentum=%s\nweight_decay=%s\n"
                       "milestones=%s\nmilestone_unit=%s\ngamma=%s\n"
                       "warmup_lr=%s\nwarmup_iters=%" PRId64 "\n"
                       "seed=%" PRIu64 "\naugment=%d\nshuffle=%d\n"
                       "train=%s\ntest=%s\n",
                       label, rn_arch_name(net->cfg.arch), net->cfg.depth, net->cfg.shortcut, net->cfg.classes,
                       o->batch, exact(o->schedule.lr, e[0]), exact(o->momentum, e[1]), exact(o->weight_decay, e[2]),
                       milestones, rn_milestone_unit_name(o->schedule.unit), exact(o->schedule.gamma, e[3]),
                       exact(o->schedule.warmup_iters ? o->schedule.warmup_lr : 0.0, e[4]), o->schedule.warmup_iters, o->seed,
                       o->augment, o->shuffle, train_fp, test_fp);
    /* only when not the default, so the recipes of channel-normalised runs stay as they were */
    if (len >= 0 && (size_t)len < n && o->normalize != RN_NORM_CHANNEL)
        len += snprintf(buf + len, n - (size_t)len, "normalize=%s\n", rn_normalize_name(o->normalize));
    if (len < 0 || (size_t)len >= n)
        rn_die("internal error: recipe longer than %zu bytes", n);
}

/* The line of `text` starting with "key=", copied without the newline. */
static bool recipe_line(const char *text, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1, *end = strchr(v, '\n');
            size_t len = end ? (size_t)(end - v) : strlen(v);
            snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), v);
            return true;
        }
    }
    return false;
}

/* Compares the recipe of this run with the checkpoint's; dies naming the
 * first differing field unless forced. */
static void compare_recipe(const char *ckpt_path, const char *saved_full, const char *mine, int force)
{
    const char *sep = strstr(saved_full, PROGRESS_SEPARATOR);
    size_t saved_len = sep ? (size_t)(sep - saved_full) : strlen(saved_full);
    if (saved_len == strlen(mine) && strncmp(saved_full, mine, saved_len) == 0)
        return;
    char *saved = rn_xmalloc(saved_len + 1);
    memcpy(saved, saved_full, saved_len);
    saved[saved_len] = 0;
    char field[64] = "recipe", a[512] = "?", b[512] = "?";
    for (const char *p = mine; *p; p = strchr(p, '\n') + 1) {
        const char *eq = strchr(p, '=');
        snprintf(field, sizeof field, "%.*s", (int)(eq - p), p);
        recipe_line(mine, field, b, sizeof b);
        if (!recipe_line(saved, field, a, sizeof a))
            snprintf(a, sizeof a, "(absent)");
        if (strcmp(a, b) != 0)
            break;
    }
    free(saved);
    if (!force)
        rn_die("%s was made with %s=%s but this run has %s=%s: refusing to resume with a different recipe "
               "(give the original options, or --force)",
               ckpt_path, field, a, field, b);
    rn_warn("resuming %s with a different recipe (--force): %s was %s, now %s", ckpt_path, field, a, b);
}

/* ---------------------------------------------------------------- the run */

typedef struct {
    const RnTrainOptions *o;
    RnBackend *be;
    RnModel *model;
    RnWeights weights;           /* host copy for checkpoints */
    RnTrainState state;
    RnDataset train, test;
    bool has_test;
    float *pixel_mean;           /* --normalize pixel: the training set's mean image, else NULL */
    char recipe[RN_RECIPE_MAX];
    char label[RN_METRICS_LABEL_LEN];
    int64_t steps_per_epoch;
    int64_t step;                /* optimizer steps done */
    int64_t total_steps;         /* where this run stops */
    /* the epoch in progress */
    double epoch_loss_sum, epoch_errors, epoch_seconds, epoch_train_seconds;
    int64_t epoch_images;
    bool wrote_checkpoint;
    /* progress */
    bool tty;
    double run_start, last_draw;
    int64_t run_first_step;
} Run;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void write_checkpoint(Run *r)
{
    const RnTrainOptions *o = r->o;
    rn_model_get_weights(r->model, &r->weights);
    rn_model_get_momentum(r->model, r->state.momentum);
    r->state.present = true;
    r->state.step = r->step;
    r->state.epoch = (int)(r->step / r->steps_per_epoch);
    r->state.train_seed = o->seed;
    r->weights.epoch = r->state.epoch;
    /* %a: the partial sums round-trip exactly, so the resumed epoch's metrics match */
    int len = snprintf(r->state.recipe, sizeof r->state.recipe, "%s", r->recipe);
    if (r->step % r->steps_per_epoch != 0)
        len += snprintf(r->state.recipe + len, sizeof r->state.recipe - (size_t)len,
                        PROGRESS_SEPARATOR "loss_sum=%a\nerrors=%a\nseconds=%a\ntrain_seconds=%a\nimages=%" PRId64
                                           "\n",
                        r->epoch_loss_sum, r->epoch_errors, r->epoch_seconds, r->epoch_train_seconds,
                        r->epoch_images);
    if (len < 0 || (size_t)len >= sizeof r->state.recipe)
        rn_die("internal error: checkpoint recipe longer than %zu bytes", sizeof r->state.recipe);
    rn_weights_write(o->checkpoint_path, &r->weights, &r->state);
    r->wrote_checkpoint = true;
}

static double parse_hex_double(const char *ckpt, const char *text, const char *key)
{
    char v[64];
    char *end;
    if (!recipe_line(text, key, v, sizeof v))
        rn_die("%s: checkpoint saved mid-epoch lacks \"%s\" in its recipe (corrupt checkpoint?)", ckpt, key);
    double d = strtod(v, &end);
    if (*end || !isfinite(d) || d < 0)
        rn_die("%s: checkpoint recipe has %s=%s, expected a non-negative number", ckpt, key, v);
    return d;
}

/* Restores the partial sums of the epoch a mid-epoch checkpoint stopped in. */
static void restore_progress(Run *r, const char *ckpt)
{
    const char *sep = strstr(r->state.recipe, PROGRESS_SEPARATOR);
    if (r->step % r->steps_per_epoch == 0)
        return;
    if (!sep)
        rn_die("%s: checkpoint stopped mid-epoch (step %" PRId64 ") but has no epoch progress (corrupt checkpoint?)",
               ckpt, r->step);
    const char *p = sep + strlen(PROGRESS_SEPARATOR);
    r->epoch_loss_sum = parse_hex_double(ckpt, p, "loss_sum");
    r->epoch_errors = parse_hex_double(ckpt, p, "errors");
    r->epoch_seconds = parse_hex_double(ckpt, p, "seconds");
    r->epoch_train_seconds = parse_hex_double(ckpt, p, "train_seconds");
    /* a count: a whole number that fits (converting a larger double is undefined) */
    double images = parse_hex_double(ckpt, p, "images");
    if (images != floor(images) || images >= 0x1p62 || r->epoch_errors > images)
        rn_die("%s: checkpoint progress has images=%g and errors=%g, expected a whole number of images >= the errors "
               "(corrupt checkpoint?)", ckpt, images, r->epoch_errors);
    r->epoch_images = (int64_t)images;
}

static void die_not_finite(Run *r, const char *what, int epoch, int64_t step)
{
    if (r->wrote_checkpoint || r->o->resume_path)
        rn_die("%s is not finite at epoch %d step %" PRId64 ": training diverged (try a lower --lr); "
               "the last good checkpoint %s is kept",
               what, epoch, step, r->o->checkpoint_path);
    rn_die("%s is not finite at epoch %d step %" PRId64 ": training diverged (try a lower --lr); "
           "no checkpoint had been written yet",
           what, epoch, step);
}

/* Test pass in eval mode (running statistics), no augmentation. */
static void test_pass(Run *r, double *loss, double *err)
{
    const RnTrainOptions *o = r->o;
    RnBatchSpec spec = {.augment = 0, .pad = AUGMENT_PAD, .seed = o->seed, .epoch = 0};
    memcpy(spec.mean, CIFAR_MEAN, sizeof spec.mean);
    memcpy(spec.std, CIFAR_STD, sizeof spec.std);
    spec.pixel_mean = r->pixel_mean;   /* NULL: per channel */
    double loss_sum = 0, errors = 0;
    for (size_t start = 0; start < r->test.count; start += (size_t)o->batch) {
        int n = (int)(r->test.count - start < (size_t)o->batch ? r->test.count - start : (size_t)o->batch);
        r->be->load_batch(r->be, RN_SLOT_TEST, start, n, &spec, rn_model_input(r->model), rn_model_labels(r->model));
        rn_model_reset_stats(r->model);
        rn_model_forward(r->model, n, false);
        rn_model_loss(r->model, n, 0, false);
        double l, e;
        int bad;
        rn_model_read_stats(r->model, &l, &e, &bad);
        loss_sum += l;
        errors += e;
    }
    *loss = loss_sum / r->test.count;
    *err = errors / r->test.count;
}

static void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* The terminal bar, redrawn at most 5 times a second. */
static void draw_bar(Run *r, int epoch, int64_t in_epoch, double loss, double lr, bool force)
{
    double t = now_seconds();
    if (rn_quiet || !r->tty || (!force && t - r->last_draw < 0.2))
        return;
    r->last_draw = t;
    double elapsed = t - r->run_start;
    int64_t done = r->step - r->run_first_step, left = r->total_steps - r->step;
    double per_step = done > 0 ? elapsed / done : 0;
    double ips = r->epoch_train_seconds > 0 ? r->epoch_images / r->epoch_train_seconds : 0;
    char eta[32];
    format_duration(per_step * left, eta, sizeof eta);
    char bar[21];
    int filled = (int)(20 * in_epoch / r->steps_per_epoch);
    for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = 0;
    fprintf(stderr, "\r%s: epoch %d/%d [%s] %" PRId64 "/%" PRId64 " loss %.4f lr %.4g %.0f img/s ETA %s \033[K",
            rn_prog(), epoch, r->o->epochs, bar, in_epoch, r->steps_per_epoch, loss, lr, ips, eta);
    fflush(stderr);
}

static void report_epoch(Run *r, const RnMetricRecord *rec)
{
    if (rn_quiet)
        return;
    if (r->tty)
        fprintf(stderr, "\r\033[K");
    char test[96] = "";
    if (r->has_test)
        snprintf(test, sizeof test, "  test loss %.4f err %.2f%%", rec->test_loss, 100 * rec->test_err);
    fprintf(stderr, "%s: epoch %u/%d step %" PRIu64 " lr %.4g  train loss %.4f err %.2f%%%s  %.1f s %.0f img/s\n",
            rn_prog(), rec->epoch, r->o->epochs, rec->iteration, rec->lr, rec->train_loss, 100 * rec->train_err, test,
            rec->seconds, rec->images_per_sec);
}

/* Ends an epoch (complete, or partial when stopping at --max-steps): test
 * pass, metrics record, checkpoint. The record goes first: if the process dies
 * between the two, the resume truncates the metrics to the checkpoint. */
static void finish_epoch(Run *r, int epoch, double lr, double epoch_start)
{
    const RnTrainOptions *o = r->o;
    if (!rn_model_weights_finite(r->model))
        die_not_finite(r, "a weight", epoch + 1, r->step);
    RnMetricRecord rec = {.epoch = (uint32_t)(epoch + 1), .iteration = (uint64_t)r->step, .lr = lr,
                          .test_loss = NAN, .test_err = NAN};
    rec.train_loss = r->epoch_images ? r->epoch_loss_sum / r->epoch_images : NAN;
    rec.train_err = r->epoch_images ? r->epoch_errors / r->epoch_images : NAN;
    if (r->has_test)
        test_pass(r, &rec.test_loss, &rec.test_err);
    rec.seconds = r->epoch_seconds + (now_seconds() - epoch_start);
    rec.images_per_sec = r->epoch_train_seconds > 0 ? r->epoch_images / r->epoch_train_seconds : 0;
    if (o->metrics_path)
        rn_metrics_append(o->metrics_path, &rec);
    write_checkpoint(r);
    report_epoch(r, &rec);
}

static void train_loop(Run *r)
{
    const RnTrainOptions *o = r->o;
    uint32_t n_train = r->train.count;
    uint32_t *order = rn_xmalloc(sizeof(uint32_t) * n_train);
    RnBatchSpec spec = {.augment = o->augment, .pad = AUGMENT_PAD, .seed = o->seed};
    memcpy(spec.mean, CIFAR_MEAN, sizeof spec.mean);
    memcpy(spec.std, CIFAR_STD, sizeof spec.std);
    spec.pixel_mean = r->pixel_mean;   /* NULL: per channel */
    r->run_start = r->last_draw = now_seconds();
    r->run_first_step = r->step;

    while (r->step < r->total_steps) {
        int epoch = (int)(r->step / r->steps_per_epoch);
        int64_t first = r->step % r->steps_per_epoch;
        if (o->shuffle)
            rn_permutation(o->seed, RN_RNG_SHUFFLE, (uint32_t)epoch, n_train, order);
        else
            for (uint32_t i = 0; i < n_train; i++)
                order[i] = i;
        r->be->set_order(r->be, RN_SLOT_TRAIN, order, n_train);
        spec.epoch = (uint32_t)epoch;
        double epoch_start = now_seconds(), lr = 0;
        for (int64_t i = first; i < r->steps_per_epoch && r->step < r->total_steps; i++) {
            size_t start = (size_t)i * (size_t)o->batch;
            int n = (int)(n_train - start < (size_t)o->batch ? n_train - start : (size_t)o->batch);
            double t0 = now_seconds();
            r->be->load_batch(r->be, RN_SLOT_TRAIN, start, n, &spec, rn_model_input(r->model),
                              rn_model_labels(r->model));
            lr = rn_schedule_lr(&o->schedule, r->step, r->steps_per_epoch);
            rn_model_reset_stats(r->model);
            /* xent records the 1-based number of the step whose loss is not finite */
            rn_model_train_step(r->model, n, (int)(r->step + 1), (float)lr, (float)o->momentum,
                                (float)o->weight_decay);
            double loss, errors;
            int bad;
            rn_model_read_stats(r->model, &loss, &errors, &bad);   /* waits for the step */
            if (bad >= 0 || !isfinite(loss))
                die_not_finite(r, "the loss", epoch + 1, r->step + 1);
            r->step++;
            r->epoch_loss_sum += loss;
            r->epoch_errors += errors;
            r->epoch_images += n;
            r->epoch_train_seconds += now_seconds() - t0;
            draw_bar(r, epoch + 1, i + 1, loss / n, lr, false);
            if (interrupted && r->step % r->steps_per_epoch != 0) {
                r->epoch_seconds += now_seconds() - epoch_start;
                write_checkpoint(r);
                if (r->tty && !rn_quiet)
                    fprintf(stderr, "\r\033[K");
                rn_die("interrupted at epoch %d step %" PRId64 "; resume with: %s --resume %s ...", epoch + 1,
                       r->step, rn_prog(), o->checkpoint_path);
            }
        }
        finish_epoch(r, epoch, lr, epoch_start);
        r->epoch_loss_sum = r->epoch_errors = r->epoch_seconds = r->epoch_train_seconds = 0;
        r->epoch_images = 0;
        if (r->step % r->steps_per_epoch != 0)
            break;   /* stopped at --max-steps inside the epoch */
        if (interrupted)
            rn_die("interrupted at epoch %d step %" PRId64 "; resume with: %s --resume %s ...", epoch + 1, r->step,
                   rn_prog(), o->checkpoint_path);
    }
    free(order);
}

/* Before any work: no output may be an input (the checkpoint excepted,
 * which a resume reads and rewrites), the run is ours alone, and every
 * output can be written. */
static void guard_outputs(const RnTrainOptions *o, RnLock *locks[2])
{
    const RnPathArg inputs[] = {{"--train", o->train_path}, {"--test", o->test_path}, {"--init", o->init_path}};
    const RnPathArg outputs[] = {{"-o", o->out_path}, {"--checkpoint", o->checkpoint_path},
                                 {"--metrics", o->metrics_path}};
    rn_refuse_same_files(inputs, 3, outputs, 3);
    const RnPathArg resume[] = {{"--resume", o->resume_path}};
    const RnPathArg not_ckpt[] = {{"-o", o->out_path}, {"--metrics", o->metrics_path}};
    rn_refuse_same_files(resume, 1, not_ckpt, 2);
    rn_out_probe(o->out_path);
    rn_out_probe(o->checkpoint_path);
    rn_out_probe(o->metrics_path);
    locks[0] = rn_lock_take(o->checkpoint_path, "the checkpoint");
    locks[1] = rn_lock_take(o->metrics_path, "the metrics");
}

/* The memory a process may have: physical memory, or less under a cgroup
 * limit or RLIMIT_AS. */
static uint64_t memory_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    uint64_t limit = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (f) {
        unsigned long long v;
        if (fscanf(f, "%llu", &v) == 1 && v < limit)
            limit = v;
        fclose(f);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit)
        limit = rl.rlim_cur;
    return limit;
}

/* One clear error instead of the OOM killer: the activations of a batch
 * grow with it (about 1.9 MB per image for ResNet-20: --batch 2000 needs 3.7 GiB). */
static void check_memory(const Run *r, const RnBackend *be)
{
    if (strncmp(be->name, "cpu", 3) != 0)
        return;   /* a GPU backend allocates on the device and says so when it cannot */
    uint64_t need = rn_model_train_bytes(&r->weights.net, r->o->batch);
    uint64_t data = (uint64_t)(r->train.count + r->test.count) * rn_dataset_image_bytes(&r->train);
    uint64_t limit = memory_limit();
    if (need + data > limit)
        rn_die("--batch %d needs about %.1f GiB for the activations (plus %.1f GiB of data), more than the "
               "%.1f GiB of memory here (give a smaller --batch)",
               r->o->batch, need / 1073741824.0, data / 1073741824.0, limit / 1073741824.0);
}

static void load_data(Run *r, const RnTrainOptions *o, const char *weights_path)
{
    rn_dataset_read(o->train_path, &r->train);
    check_dataset(o->train_path, &r->train, r->weights.net.cfg.classes, weights_path);
    if (r->train.count == 0)
        rn_die("%s: the training set is empty", o->train_path);
    if (o->test_path) {
        rn_dataset_read(o->test_path, &r->test);
        check_dataset(o->test_path, &r->test, r->weights.net.cfg.classes, weights_path);
        r->has_test = r->test.count > 0;
    }
}

void rn_train_run(const RnTrainOptions *given)
{
    Run run, *r = &run;
    memset(r, 0, sizeof *r);
    RnTrainOptions opts = *given;   /* the batch may be clamped below */
    const RnTrainOptions *o = &opts;
    r->o = o;
    if (o->batch < 1)
        rn_usage_error("--batch must be at least 1");
    if (o->epochs < 1)
        rn_usage_error("--epochs must be at least 1");
    RnLock *locks[2];
    guard_outputs(o, locks);

    /* weights: a fresh start, or a checkpoint */
    const char *source = o->resume_path ? o->resume_path : o->init_path;
    rn_weights_read(source, &r->weights, &r->state);
    if (o->resume_path) {
        if (!r->state.present)
            rn_die("%s is a weights file, not a checkpoint (start from it with --init)", o->resume_path);
        if (o->init_path) {
            RnWeights init;
            rn_weights_read(o->init_path, &init, NULL);
            char a[64], b[64];
            rn_net_label(&r->weights.net.cfg, a, sizeof a);
            rn_net_label(&init.net.cfg, b, sizeof b);
            if (strcmp(a, b) != 0 || init.net.cfg.classes != r->weights.net.cfg.classes)
                rn_die("%s is a checkpoint of %s (%d classes) but --init %s is %s (%d classes): not the same "
                       "architecture",
                       o->resume_path, a, r->weights.net.cfg.classes, o->init_path, b, init.net.cfg.classes);
            rn_weights_free(&init);
        }
    } else if (r->state.present) {
        /* --init with a checkpoint: its weights are a starting point, its training state is not */
        r->state.present = false;
        r->state.step = 0;
        memset(r->state.momentum, 0, sizeof(float) * r->weights.net.nvalues);
    }
    const RnNet *net = &r->weights.net;
    load_data(r, o, source);
    if ((uint32_t)o->batch > r->train.count) {
        /* one step of the whole set either way, so the same numbers; and no
         * buffers for images that are not there */
        rn_info("--batch %d is larger than the %u training images: using batches of %u", o->batch, r->train.count,
                r->train.count);
        opts.batch = (int)r->train.count;
    }
    make_recipe(o, net, &r->train, r->has_test ? &r->test : NULL, r->recipe, sizeof r->recipe);
    r->steps_per_epoch = ((int64_t)r->train.count + o->batch - 1) / o->batch;
    if (o->resume_path) {
        compare_recipe(o->resume_path, r->state.recipe, r->recipe, o->force);
        r->step = r->state.step;
        if (r->step < 0 || r->state.epoch != (int)(r->step / r->steps_per_epoch))
            rn_die("%s: checkpoint says epoch %d at step %" PRId64 ", inconsistent with %" PRId64
                   " steps per epoch (corrupt checkpoint, or another batch size?)",
                   o->resume_path, r->state.epoch, r->step, r->steps_per_epoch);
        restore_progress(r, o->resume_path);
    }
    int64_t by_epochs = (int64_t)o->epochs * r->steps_per_epoch;
    r->total_steps = o->max_steps < by_epochs ? o->max_steps : by_epochs;
    if (r->step > r->total_steps) {
        /* writing the checkpoint's weights as the final ones of a shorter run would be a lie */
        char limit[64];
        if (o->max_steps < by_epochs)
            snprintf(limit, sizeof limit, "--max-steps %" PRId64, o->max_steps);
        else
            snprintf(limit, sizeof limit, "--epochs %d", o->epochs);
        rn_die("%s: the checkpoint is at epoch %d (step %" PRId64 "), past the end of this run (%s, step %" PRId64
               "): nothing to train (give the run's own --epochs/--max-steps to finish it)",
               o->resume_path, r->state.epoch, r->step, limit, r->total_steps);
    }

    char net_label[64];
    rn_net_label(&net->cfg, net_label, sizeof net_label);
    if (o->label)
        snprintf(r->label, sizeof r->label, "%s", o->label);
    else
        snprintf(r->label, sizeof r->label, "%.36s seed %" PRIu64, net_label, o->seed);

    r->be = rn_backend_create(&o->backend);
    rn_normalize_check(r->be, o->normalize);
    if (o->normalize == RN_NORM_PIXEL)
        r->pixel_mean = rn_pixel_mean(&r->train);   /* of the training set, recomputed the same on resume */
    check_memory(r, r->be);
    r->model = rn_model_create(r->be, net, o->batch);
    rn_model_set_weights(r->model, &r->weights);
    rn_model_set_momentum(r->model, r->state.momentum);
    r->be->set_dataset(r->be, RN_SLOT_TRAIN, &r->train);
    if (r->has_test)
        r->be->set_dataset(r->be, RN_SLOT_TEST, &r->test);

    if (o->metrics_path) {
        if (o->resume_path && rn_file_exists(o->metrics_path))
            rn_metrics_truncate(o->metrics_path, (uint32_t)(r->step / r->steps_per_epoch));
        else
            rn_metrics_create(o->metrics_path, r->label);
    }
    r->tty = isatty(STDERR_FILENO);
    rn_info("training %s on %u images (%" PRId64 " steps per epoch) on %s, %s at step %" PRId64 " of %" PRId64,
            net_label, r->train.count, r->steps_per_epoch, r->be->description, o->resume_path ? "resuming" : "starting",
            r->step, r->total_steps);

    install_signal_handlers();
    if (r->step < r->total_steps)
        train_loop(r);

    rn_model_get_weights(r->model, &r->weights);
    r->weights.epoch = (int)(r->step / r->steps_per_epoch);
    rn_weights_write(o->out_path, &r->weights, NULL);

    rn_model_free(r->model);
    rn_backend_destroy(r->be);
    free(r->pixel_mean);
    rn_dataset_free(&r->train);
    if (o->test_path)
        rn_dataset_free(&r->test);
    rn_train_state_free(&r->state);
    rn_weights_free(&r->weights);
    rn_lock_release(locks[1]);
    rn_lock_release(locks[0]);
}
