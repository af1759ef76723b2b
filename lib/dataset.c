/* Reader and writer of the dataset file (layout in dataset.h and
 * docs/FORMATS.md). The reader trusts nothing: every header field is checked
 * against the limits, the file size must match the header exactly, and every
 * label must name a class. */
#include "dataset.h"
#include "err.h"
#include "io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Guards the u64 arithmetic and keeps a corrupt count from asking for
 * terabytes: 1 TiB of pixels is far beyond any dataset this project uses. */
#define MAX_PIXEL_BYTES ((uint64_t)1 << 40)

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_shape(uint32_t channels, uint32_t height, uint32_t width, uint32_t classes, char *err,
                       size_t errlen)
{
    if (channels < 1 || channels > RN_DATASET_MAX_CHANNELS)
        return fail(err, errlen, "channels %u out of range 1..%u", channels, RN_DATASET_MAX_CHANNELS);
    if (height < 1 || height > RN_DATASET_MAX_SIDE || width < 1 || width > RN_DATASET_MAX_SIDE)
        return fail(err, errlen, "image size %ux%u out of range 1..%u", height, width, RN_DATASET_MAX_SIDE);
    if (classes < 1 || classes > RN_DATASET_MAX_CLASSES)
        return fail(err, errlen, "classes %u out of range 1..%u", classes, RN_DATASET_MAX_CLASSES);
    return 0;
}

int rn_dataset_parse_header(const uint8_t hdr[RN_DATASET_FIXED_HEADER], RnDataset *ds, char *err, size_t errlen)
{
    if (memcmp(hdr, RN_DATASET_MAGIC, 8) != 0)
        return fail(err, errlen, "not a dataset file (bad magic; make one with cifar-prep)");
    uint32_t version = rn_get_u32(hdr + 8);
    if (version != RN_DATASET_VERSION)
        return fail(err, errlen, "dataset format version %u not supported (this build reads version %d)", version,
                    RN_DATASET_VERSION);
    ds->count = rn_get_u32(hdr + 12);
    ds->channels = rn_get_u32(hdr + 16);
    ds->height = rn_get_u32(hdr + 20);
    ds->width = rn_get_u32(hdr + 24);
    ds->classes = rn_get_u32(hdr + 28);
    if (ds->count < 1)
        return fail(err, errlen, "header says 0 images");
    if (check_shape(ds->channels, ds->height, ds->width, ds->classes, err, errlen) != 0)
        return -1;
    if ((uint64_t)ds->count * rn_dataset_image_bytes(ds) > MAX_PIXEL_BYTES)
        return fail(err, errlen, "header says %u images of %ux%ux%u: implausibly large", ds->count, ds->channels,
                    ds->height, ds->width);
    return 0;
}

/* A name is valid when it is NUL-terminated inside its 32 bytes and the rest
 * is NUL padding: then equal datasets have equal bytes. */
static int check_names(const RnDataset *ds, char *err, size_t errlen)
{
    for (uint32_t c = 0; c < ds->classes; c++) {
        const char *name = ds->class_names[c];
        size_t len = strnlen(name, RN_DATASET_NAME_LEN);
        if (len == RN_DATASET_NAME_LEN)
            return fail(err, errlen, "class name %u is not NUL-terminated within %d bytes", c, RN_DATASET_NAME_LEN);
        for (size_t i = len; i < RN_DATASET_NAME_LEN; i++)
            if (name[i] != 0)
                return fail(err, errlen, "class name %u has bytes after its terminating NUL", c);
    }
    return 0;
}

static int check_labels(const RnDataset *ds, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < ds->count; i++)
        if (ds->labels[i] >= ds->classes)
            return fail(err, errlen, "image %u has label %u but there are only %u classes", i, ds->labels[i],
                        ds->classes);
    return 0;
}

int rn_dataset_check(const RnDataset *ds, char *err, size_t errlen)
{
    if (ds->count < 1)
        return fail(err, errlen, "no images");
    if (check_shape(ds->channels, ds->height, ds->width, ds->classes, err, errlen) != 0)
        return -1;
    if (!ds->labels || !ds->pixels)
        return fail(err, errlen, "labels or pixels missing");
    if (check_names(ds, err, errlen) != 0)
        return -1;
    return check_labels(ds, err, errlen);
}

void rn_dataset_alloc(RnDataset *ds, uint32_t count, uint32_t channels, uint32_t height, uint32_t width,
                      uint32_t classes)
{
    char why[160];
    if (check_shape(channels, height, width, classes, why, sizeof why) != 0)
        rn_die("dataset shape: %s", why);
    memset(ds, 0, sizeof *ds);
    ds->count = count;
    ds->channels = channels;
    ds->height = height;
    ds->width = width;
    ds->classes = classes;
    ds->labels = rn_xcalloc(count, 1);
    ds->pixels = rn_xcalloc(count, (size_t)rn_dataset_image_bytes(ds));
}

void rn_dataset_free(RnDataset *ds)
{
    free(ds->labels);
    free(ds->pixels);
    ds->labels = ds->pixels = NULL;
    ds->count = 0;
}

/* Reads n bytes; on a short read says which part was cut off. */
static int read_part(FILE *f, void *buf, size_t n, const char *shown, const char *what, char *err, size_t errlen)
{
    size_t got = fread(buf, 1, n, f);
    if (got == n)
        return 0;
    if (ferror(f))
        return fail(err, errlen, "%s: error reading %s: %s", shown, what, strerror(errno));
    return fail(err, errlen, "%s: truncated: %s: %zu bytes needed, only %zu left", shown, what, n, got);
}

/* The pixels. A regular file's size matched the header, so they are there:
 * one allocation. A pipe's are not known to be there: the buffer grows as
 * they arrive (in steps of at most PIPE_STEP bytes beyond what came), so a
 * header that promises more than the pipe delivers costs no more memory than
 * the bytes that came. */
#define PIPE_STEP ((size_t)64 << 20)
static int read_pixels(FILE *f, RnDataset *ds, bool regular, const char *shown, char *err, size_t errlen)
{
    size_t total = (size_t)(ds->count * rn_dataset_image_bytes(ds)), have = 0;
    size_t cap = regular || total < PIPE_STEP ? total : PIPE_STEP;
    ds->pixels = malloc(cap);
    if (!ds->pixels)
        return fail(err, errlen, "%s: out of memory for %u images", shown, ds->count);
    for (;;) {
        have += fread(ds->pixels + have, 1, cap - have, f);
        if (have < cap) {
            if (ferror(f))
                return fail(err, errlen, "%s: error reading the pixels: %s", shown, strerror(errno));
            return fail(err, errlen, "%s: truncated: the pixels: %zu bytes needed, only %zu left", shown, total, have);
        }
        if (have == total)
            return 0;
        cap = total - have < PIPE_STEP ? total : have + PIPE_STEP;
        uint8_t *p = realloc(ds->pixels, cap);
        if (!p)
            return fail(err, errlen, "%s: out of memory for %u images", shown, ds->count);
        ds->pixels = p;
    }
}

int rn_dataset_load(const char *path, RnDataset *ds, char *err, size_t errlen)
{
    const char *shown = rn_is_stdio(path) ? "stdin" : path;
    memset(ds, 0, sizeof *ds);
    FILE *f = rn_is_stdio(path) ? stdin : fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));

    char why[200];
    uint8_t hdr[RN_DATASET_FIXED_HEADER];
    if (read_part(f, hdr, sizeof hdr, shown, "the header", err, errlen) != 0)
        goto bad;
    if (rn_dataset_parse_header(hdr, ds, why, sizeof why) != 0) {
        fail(err, errlen, "%s: %s", shown, why);
        goto bad;
    }
    uint64_t image_bytes = rn_dataset_image_bytes(ds);
    uint64_t expected = rn_dataset_header_bytes(ds->classes) + ds->count * (1 + image_bytes);

    /* A regular file's size is known up front: compare it with the header
     * before allocating, so a cut-off file gets a clear message. */
    struct stat st;
    bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    if (regular && (uint64_t)st.st_size != expected) {
        fail(err, errlen, "%s: %s: header says %u images of %ux%ux%u = %llu bytes, the file has %llu", shown,
             (uint64_t)st.st_size < expected ? "truncated" : "size mismatch", ds->count, ds->channels, ds->height,
             ds->width, (unsigned long long)expected, (unsigned long long)st.st_size);
        goto bad;
    }

    if (read_part(f, ds->class_names, (size_t)RN_DATASET_NAME_LEN * ds->classes, shown, "the class names", err,
                  errlen) != 0)
        goto bad;
    if (check_names(ds, why, sizeof why) != 0) {
        fail(err, errlen, "%s: %s", shown, why);
        goto bad;
    }
    ds->labels = malloc(ds->count);
    if (!ds->labels) {
        fail(err, errlen, "%s: out of memory for %u images", shown, ds->count);
        goto bad;
    }
    if (read_part(f, ds->labels, ds->count, shown, "the labels", err, errlen) != 0)
        goto bad;
    if (check_labels(ds, why, sizeof why) != 0) {
        fail(err, errlen, "%s: %s", shown, why);
        goto bad;
    }
    if (read_pixels(f, ds, regular, shown, err, errlen) != 0)
        goto bad;
    if (fgetc(f) != EOF) {   /* only reachable for pipes: files were checked by size */
        fail(err, errlen, "%s: size mismatch: data after the last image's pixels", shown);
        goto bad;
    }
    if (f != stdin)
        fclose(f);
    return 0;

bad:
    if (f != stdin)
        fclose(f);
    rn_dataset_free(ds);
    return -1;
}

void rn_dataset_read(const char *path, RnDataset *ds)
{
    char err[512];
    if (rn_dataset_load(path, ds, err, sizeof err) != 0)
        rn_die("%s", err);
}

void rn_dataset_write(const char *path, const RnDataset *ds)
{
    RnOut *out = rn_out_open(path);
    rn_dataset_write_to(out, ds);
    rn_out_commit(out);
}

void rn_dataset_write_to(RnOut *out, const RnDataset *ds)
{
    const char *path = rn_out_path(out);
    char why[200];
    if (rn_dataset_check(ds, why, sizeof why) != 0)
        rn_die("refusing to write %s: %s", rn_is_stdio(path) ? "stdout" : path, why);
    uint8_t hdr[RN_DATASET_FIXED_HEADER];
    memcpy(hdr, RN_DATASET_MAGIC, 8);
    rn_put_u32(hdr + 8, RN_DATASET_VERSION);
    rn_put_u32(hdr + 12, ds->count);
    rn_put_u32(hdr + 16, ds->channels);
    rn_put_u32(hdr + 20, ds->height);
    rn_put_u32(hdr + 24, ds->width);
    rn_put_u32(hdr + 28, ds->classes);

    rn_out_write(out, hdr, sizeof hdr);
    rn_out_write(out, ds->class_names, (size_t)RN_DATASET_NAME_LEN * ds->classes);
    rn_out_write(out, ds->labels, ds->count);
    rn_out_write(out, ds->pixels, (size_t)(ds->count * rn_dataset_image_bytes(ds)));
}
