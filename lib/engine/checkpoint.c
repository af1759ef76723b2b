/* The checkpoint's recipe (checkpoint.h). */
#include "checkpoint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "io.h"
#include "normalize.h"
#include "schedule.h"

/* The recipe is "key=value" lines; a checkpoint saved mid-epoch appends the
 * partial epoch's sums after this separator line. Only the part before it is
 * compared on resume. */
#define PROGRESS_SEPARATOR "--- epoch in progress\n"

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

/* A fingerprint of a dataset for the recipe: count and CRC-32 of its labels and pixels. */
static void dataset_fingerprint(const RnDataset *ds, char *buf, size_t n)
{
    uint32_t crc_labels = rn_crc32(ds->labels, ds->count);
    uint32_t crc_pixels = rn_crc32(ds->pixels, (size_t)(ds->count * rn_dataset_image_bytes(ds)));
    snprintf(buf, n, "%u images, crc %08x/%08x", ds->count, crc_labels, crc_pixels);
}

/* The shortest of %.15g / %.17g that reads back as the same double: "0.1", not
 * "0.10000000000000001", yet exact. */
static const char *exact(double v, char buf[32])
{
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 32, "%.17g", v);
    return buf;
}

/* Canonical: numbers written exactly (exact()). Not in it: epochs and
 * --max-steps (they say where to stop, not what each step does: a run can be
 * extended), and the device/threads (an implementation choice, bitwise equal
 * on the CPU). */
void rn_recipe_make(const RnTrainOptions *o, const RnNet *net, const RnDataset *train, const RnDataset *test,
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
void rn_recipe_compare(const char *ckpt_path, const char *saved_full, const char *mine, int force)
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

void rn_recipe_with_progress(char *out, size_t n, const char *recipe, bool mid_epoch, const RnEpochSums *sums)
{
    /* %a: the partial sums round-trip exactly, so the resumed epoch's metrics match */
    int len = snprintf(out, n, "%s", recipe);
    if (mid_epoch)
        len += snprintf(out + len, n - (size_t)len,
                        PROGRESS_SEPARATOR "loss_sum=%a\nerrors=%a\nseconds=%a\ntrain_seconds=%a\nimages=%" PRId64
                                           "\n",
                        sums->loss_sum, sums->errors, sums->seconds, sums->train_seconds, sums->images);
    if (len < 0 || (size_t)len >= n)
        rn_die("internal error: checkpoint recipe longer than %zu bytes", n);
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

void rn_recipe_progress(const char *ckpt, const char *saved, int64_t step, int64_t steps_per_epoch,
                        RnEpochSums *sums)
{
    memset(sums, 0, sizeof *sums);
    const char *sep = strstr(saved, PROGRESS_SEPARATOR);
    if (step % steps_per_epoch == 0)
        return;
    if (!sep)
        rn_die("%s: checkpoint stopped mid-epoch (step %" PRId64 ") but has no epoch progress (corrupt checkpoint?)",
               ckpt, step);
    const char *p = sep + strlen(PROGRESS_SEPARATOR);
    sums->loss_sum = parse_hex_double(ckpt, p, "loss_sum");
    sums->errors = parse_hex_double(ckpt, p, "errors");
    sums->seconds = parse_hex_double(ckpt, p, "seconds");
    sums->train_seconds = parse_hex_double(ckpt, p, "train_seconds");
    /* a count: a whole number that fits (converting a larger double is undefined) */
    double images = parse_hex_double(ckpt, p, "images");
    if (images != floor(images) || images >= 0x1p62 || sums->errors > images)
        rn_die("%s: checkpoint progress has images=%g and errors=%g, expected a whole number of images >= the errors "
               "(corrupt checkpoint?)", ckpt, images, sums->errors);
    sums->images = (int64_t)images;
}
