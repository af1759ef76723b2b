/* The training loop (train.h). Reading order: rn_train_run at the bottom
 * sets everything up and calls train_loop; the helpers above it do one thing
 * each. The recipe a checkpoint stores is checkpoint.c's, the progress lines
 * progress.c's, the signals signals.c's, the test pass evaluate.c's. */
#include "train.h"

#include "checkpoint.h"
#include "data.h"
#include "dataset.h"
#include "err.h"
#include "evaluate.h"
#include "io.h"
#include "metrics.h"
#include "model.h"
#include "net.h"
#include "progress.h"
#include "rng.h"
#include "signals.h"
#include "weights.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* ---------------------------------------------------------------- data */

static void check_dataset(const char *path, const RnDataset *ds, int classes, const char *weights_path)
{
    rn_check_images(path, ds);
    if ((int)ds->classes != classes)
        rn_die("%s has %u classes but the weights %s have %d (make weights with rn-init --classes %u)", path,
               ds->classes, rn_is_stdio(weights_path) ? "from stdin" : weights_path, classes, ds->classes);
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
    RnEpochSums sums;            /* the epoch in progress */
    bool wrote_checkpoint;
    RnProgress progress;
} Run;

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
    rn_recipe_with_progress(r->state.recipe, sizeof r->state.recipe, r->recipe, r->step % r->steps_per_epoch != 0,
                            &r->sums);
    rn_weights_write(o->checkpoint_path, &r->weights, &r->state);
    r->wrote_checkpoint = true;
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
    RnBatchSpec spec = rn_batch_spec(0, r->o->seed, r->pixel_mean);
    RnEvalSums sums;
    rn_evaluate_pass(r->model, r->test.count, r->o->batch, &spec, NULL, 0, NULL, false, &sums);
    *loss = sums.loss_sum / r->test.count;
    *err = sums.errors / r->test.count;
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
    rec.train_loss = r->sums.images ? r->sums.loss_sum / r->sums.images : NAN;
    rec.train_err = r->sums.images ? r->sums.errors / r->sums.images : NAN;
    if (r->has_test)
        test_pass(r, &rec.test_loss, &rec.test_err);
    rec.seconds = r->sums.seconds + (rn_now_seconds() - epoch_start);
    rec.images_per_sec = r->sums.train_seconds > 0 ? r->sums.images / r->sums.train_seconds : 0;
    if (o->metrics_path)
        rn_metrics_append(o->metrics_path, &rec);
    write_checkpoint(r);
    rn_progress_epoch(&r->progress, &rec, r->has_test);
}

static void train_loop(Run *r)
{
    const RnTrainOptions *o = r->o;
    uint32_t n_train = r->train.count;
    uint32_t *order = rn_xmalloc(sizeof(uint32_t) * n_train);
    RnBatchSpec spec = rn_batch_spec(o->augment, o->seed, r->pixel_mean);
    rn_progress_start(&r->progress, o->epochs, r->steps_per_epoch, r->step, r->total_steps);

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
        double epoch_start = rn_now_seconds(), lr = 0;
        for (int64_t i = first; i < r->steps_per_epoch && r->step < r->total_steps; i++) {
            size_t start = (size_t)i * (size_t)o->batch;
            int n = rn_batch_len(n_train, o->batch, (int64_t)start);
            double t0 = rn_now_seconds();
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
            r->sums.loss_sum += loss;
            r->sums.errors += errors;
            r->sums.images += n;
            r->sums.train_seconds += rn_now_seconds() - t0;
            rn_progress_bar(&r->progress, epoch + 1, i + 1, r->step, loss / n, lr, r->sums.images,
                            r->sums.train_seconds);
            if (rn_interrupted && r->step % r->steps_per_epoch != 0) {
                r->sums.seconds += rn_now_seconds() - epoch_start;
                write_checkpoint(r);
                rn_progress_clear(&r->progress);
                rn_die("interrupted at epoch %d step %" PRId64 "; resume with: %s --resume %s ...", epoch + 1,
                       r->step, rn_prog(), o->checkpoint_path);
            }
        }
        finish_epoch(r, epoch, lr, epoch_start);
        r->sums.loss_sum = r->sums.errors = r->sums.seconds = r->sums.train_seconds = 0;
        r->sums.images = 0;
        if (r->step % r->steps_per_epoch != 0)
            break;   /* stopped at --max-steps inside the epoch */
        if (rn_interrupted)
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
    rn_recipe_make(o, net, &r->train, r->has_test ? &r->test : NULL, r->recipe, sizeof r->recipe);
    r->steps_per_epoch = rn_batch_count(r->train.count, o->batch);
    if (o->resume_path) {
        rn_recipe_compare(o->resume_path, r->state.recipe, r->recipe, o->force);
        r->step = r->state.step;
        if (r->step < 0 || r->state.epoch != (int)(r->step / r->steps_per_epoch))
            rn_die("%s: checkpoint says epoch %d at step %" PRId64 ", inconsistent with %" PRId64
                   " steps per epoch (corrupt checkpoint, or another batch size?)",
                   o->resume_path, r->state.epoch, r->step, r->steps_per_epoch);
        rn_recipe_progress(o->resume_path, r->state.recipe, r->step, r->steps_per_epoch, &r->sums);
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
    rn_info("training %s on %u images (%" PRId64 " steps per epoch) on %s, %s at step %" PRId64 " of %" PRId64,
            net_label, r->train.count, r->steps_per_epoch, r->be->description, o->resume_path ? "resuming" : "starting",
            r->step, r->total_steps);

    rn_stop_on_signals();
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
