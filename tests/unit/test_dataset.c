/* The dataset file: round trip, rejection of every kind of corrupt header or
 * size; the CIFAR batch writer/reader round trip; the train/val split rule. */
#include "cifar_source.h"
#include "dataset.h"
#include "io.h"
#include "rng.h"
#include "split.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/rn-test-dataset.XXXXXX";

static char *path_of(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* A small dataset with recognisable content: 2 channels, 3x4 images, 5 classes. */
static void make_small(RnDataset *ds, uint32_t count)
{
    rn_dataset_alloc(ds, count, 2, 3, 4, 5);
    for (uint32_t c = 0; c < 5; c++)
        snprintf(ds->class_names[c], RN_DATASET_NAME_LEN, "class-%u", c);
    for (uint32_t i = 0; i < count; i++)
        ds->labels[i] = (uint8_t)((i * 3) % 5);
    for (uint64_t k = 0; k < count * rn_dataset_image_bytes(ds); k++)
        ds->pixels[k] = (uint8_t)(k * 37 + 11);
}

static void write_bytes(const char *path, const uint8_t *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Loads `bytes` written to a file; returns the error message ("" if it loaded). */
static const char *load_error(const uint8_t *bytes, size_t n)
{
    static char err[512];
    const char *p = path_of("corrupt.ds");
    write_bytes(p, bytes, n);
    RnDataset ds;
    err[0] = 0;
    if (rn_dataset_load(p, &ds, err, sizeof err) == 0)
        rn_dataset_free(&ds);
    return err;
}

static void test_round_trip(void)
{
    RnDataset a, b;
    make_small(&a, 7);
    rn_dataset_write(path_of("a.ds"), &a);
    size_t len;
    uint8_t *bytes = rn_read_file(path_of("a.ds"), &len, (size_t)1 << 30, "a test file");
    CHECK(len == 32 + 5 * 32 + 7 + 7 * 24, "file size is header + names + labels + pixels (%zu)", len);
    CHECK(memcmp(bytes, "RNCIFAR\x1a", 8) == 0 && rn_get_u32(bytes + 8) == 1, "magic and version");
    CHECK(rn_get_u32(bytes + 12) == 7 && rn_get_u32(bytes + 16) == 2 && rn_get_u32(bytes + 20) == 3 &&
              rn_get_u32(bytes + 24) == 4 && rn_get_u32(bytes + 28) == 5,
          "count, channels, height, width, classes at offsets 12..28");
    CHECK(strcmp((char *)bytes + 32 + 32, "class-1") == 0, "class names from offset 32, 32 bytes each");
    CHECK(bytes[192] == a.labels[0] && bytes[193] == a.labels[1], "labels follow the names");
    CHECK(memcmp(bytes + 199, a.pixels, 7 * 24) == 0, "pixels follow the labels, unchanged");

    char err[256];
    CHECK(rn_dataset_load(path_of("a.ds"), &b, err, sizeof err) == 0, "reads back");
    CHECK(b.count == 7 && b.channels == 2 && b.height == 3 && b.width == 4 && b.classes == 5, "shape round trip");
    CHECK(memcmp(a.labels, b.labels, 7) == 0 && memcmp(a.pixels, b.pixels, 7 * 24) == 0, "data round trip");
    CHECK(memcmp(a.class_names, b.class_names, sizeof a.class_names[0] * 5) == 0, "names round trip");
    rn_dataset_write(path_of("b.ds"), &b);
    size_t len2;
    uint8_t *bytes2 = rn_read_file(path_of("b.ds"), &len2, (size_t)1 << 30, "a test file");
    CHECK(len == len2 && memcmp(bytes, bytes2, len) == 0, "write(read(file)) is the same bytes");

    /* every corruption is refused, with a message naming the file */
    uint8_t *bad = malloc(len + 1);
    const char *e;
#define CORRUPT(setup, want, ...)                                                                 \
    do {                                                                                          \
        memcpy(bad, bytes, len);                                                                  \
        size_t n = len;                                                                           \
        setup;                                                                                    \
        e = load_error(bad, n);                                                                   \
        CHECK(strstr(e, want) && strstr(e, "corrupt.ds"), __VA_ARGS__);                           \
        if (!strstr(e, want))                                                                     \
            printf("# got: %s\n", e);                                                             \
    } while (0)
    CORRUPT(bad[0] = 'X', "bad magic", "wrong magic");
    CORRUPT(rn_put_u32(bad + 8, 2), "version 2 not supported", "wrong version");
    CORRUPT(rn_put_u32(bad + 8, 0), "version 0 not supported", "version 0");
    CORRUPT(rn_put_u32(bad + 12, 0), "0 images", "count 0");
    CORRUPT(rn_put_u32(bad + 12, 8), "truncated", "count larger than the file");
    CORRUPT(rn_put_u32(bad + 12, 6), "size mismatch", "count smaller than the file");
    CORRUPT(rn_put_u32(bad + 12, 0xFFFFFFFFu), "truncated", "huge count");
    CORRUPT(rn_put_u32(bad + 16, 0), "channels 0 out of range", "0 channels");
    CORRUPT(rn_put_u32(bad + 16, 17), "channels 17 out of range", "17 channels");
    CORRUPT(rn_put_u32(bad + 20, 0), "out of range", "height 0");
    CORRUPT(rn_put_u32(bad + 24, 5000), "out of range", "width 5000");
    CORRUPT(rn_put_u32(bad + 28, 0), "classes 0 out of range", "0 classes");
    CORRUPT(rn_put_u32(bad + 28, 101), "classes 101 out of range", "101 classes");
    CORRUPT(memset(bad + 32, 'a', 32), "not NUL-terminated", "unterminated class name");
    CORRUPT(bad[32 + 30] = 'z', "after its terminating NUL", "garbage after a class name");
    CORRUPT(bad[192 + 3] = 5, "image 3 has label 5 but there are only 5 classes", "label >= classes");
    CORRUPT(n = len - 1, "truncated", "one byte short");
    CORRUPT(n = 10, "truncated", "cut inside the header");
    CORRUPT(n = 0, "truncated", "empty file");
    CORRUPT((bad[len] = 0, n = len + 1), "size mismatch", "one byte too many");

    RnDataset parsed;
    char why[200];
    CHECK(rn_dataset_parse_header(bytes, &parsed, why, sizeof why) == 0 && parsed.count == 7,
          "rn_dataset_parse_header accepts a good header");
    memcpy(bad, bytes, 32);
    rn_put_u32(bad + 20, 4097);
    CHECK(rn_dataset_parse_header(bad, &parsed, why, sizeof why) != 0 && strstr(why, "out of range"),
          "rn_dataset_parse_header rejects height 4097");

    /* the writer refuses what the reader would refuse */
    a.labels[2] = 9;
    CHECK(rn_dataset_check(&a, why, sizeof why) != 0 && strstr(why, "label 9"), "check: label >= classes");
    a.labels[2] = 1;
    memset(a.class_names[4], 'x', RN_DATASET_NAME_LEN);
    CHECK(rn_dataset_check(&a, why, sizeof why) != 0, "check: unterminated name");
    RnDataset none;
    CHECK(rn_dataset_load(path_of("missing.ds"), &none, why, sizeof why) != 0 && strstr(why, "missing.ds"),
          "a missing file is an error naming it");

    free(bad);
    free(bytes);
    free(bytes2);
    rn_dataset_free(&a);
    rn_dataset_free(&b);
}

static void test_cifar_batch_round_trip(void)
{
    RnDataset ds, back;
    rn_cifar_init(&ds);
    CHECK(ds.count == 0 && ds.classes == 10 && strcmp(ds.class_names[9], "truck") == 0, "empty CIFAR-10 dataset");
    rn_dataset_free(&ds);
    rn_dataset_alloc(&ds, 12, 3, 32, 32, 10);
    for (uint32_t i = 0; i < 12; i++)
        ds.labels[i] = (uint8_t)(9 - i % 10);
    for (size_t k = 0; k < 12 * 3072; k++)
        ds.pixels[k] = (uint8_t)(k ^ (k >> 8));
    rn_cifar_write_batch(path_of("b.bin"), &ds, 2, 10);
    rn_cifar_init(&back);
    CHECK(rn_cifar_append_batch(&back, path_of("b.bin")) == 10, "10 records read back");
    CHECK(rn_cifar_append_batch(&back, path_of("b.bin")) == 10 && back.count == 20, "a second batch appends");
    CHECK(memcmp(back.labels, ds.labels + 2, 10) == 0 && memcmp(back.labels + 10, ds.labels + 2, 10) == 0,
          "labels round trip");
    CHECK(memcmp(back.pixels, ds.pixels + 2 * 3072, 10 * 3072) == 0, "pixels round trip (channel-planar)");
    size_t len;
    uint8_t *raw = rn_read_file(path_of("b.bin"), &len, (size_t)1 << 30, "a test file");
    CHECK(len == 10 * 3073 && raw[0] == ds.labels[2] && raw[3073] == ds.labels[3], "official record layout");
    free(raw);
    rn_dataset_free(&ds);
    rn_dataset_free(&back);
}

static void test_split(void)
{
    /* 60 images, 3 classes of 20, interleaved */
    RnDataset ds;
    rn_dataset_alloc(&ds, 60, 1, 1, 1, 3);
    for (uint32_t i = 0; i < 60; i++) {
        ds.labels[i] = (uint8_t)(i % 3);
        ds.pixels[i] = (uint8_t)i;   /* each image's one pixel is its index */
    }
    uint8_t a[60], b[60], c[60];
    rn_split_mark_val(&ds, 15, 7, a, "test");
    rn_split_mark_val(&ds, 15, 7, b, "test");
    rn_split_mark_val(&ds, 15, 8, c, "test");
    int per_class[3] = {0, 0, 0}, total = 0;
    for (int i = 0; i < 60; i++) {
        per_class[i % 3] += a[i];
        total += a[i];
    }
    CHECK(total == 15 && per_class[0] == 5 && per_class[1] == 5 && per_class[2] == 5, "5 per class in val");
    CHECK(memcmp(a, b, 60) == 0, "same seed, same split");
    CHECK(memcmp(a, c, 60) != 0, "another seed, another split");

    /* the rule as documented: class c's members permuted by (seed, SPLIT, c) */
    uint32_t perm[20];
    rn_permutation(7, RN_RNG_SPLIT, 1, 20, perm);
    int ok = 1;
    for (int k = 0; k < 20; k++)
        ok &= a[3 * perm[k] + 1] == (k < 5);
    CHECK(ok, "class 1's val images are its members at the first 5 positions of the permutation");

    rn_select_keep(&ds, a);
    ok = ds.count == 15;
    for (uint32_t i = 1; i < ds.count; i++)
        ok &= ds.pixels[i] > ds.pixels[i - 1] && ds.labels[i] == ds.pixels[i] % 3;
    CHECK(ok, "selection keeps the original order with labels and pixels together");
    rn_select_per_class(&ds, 2, "test");
    CHECK(ds.count == 6, "per-class 2 of 3 classes");
    rn_select_limit(&ds, 4);
    CHECK(ds.count == 4, "limit");
    rn_select_limit(&ds, 100);
    CHECK(ds.count == 4, "a limit above the count keeps all");
    rn_dataset_free(&ds);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_cifar_batch_round_trip();
    test_split();
    const char *names[] = {"a.ds", "b.ds", "corrupt.ds", "b.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
    return test_done();
}
