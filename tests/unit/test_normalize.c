/* The paper's per-pixel mean normalisation (lib/normalize.h, the pixel path of
 * kernels/cpu/batch.c), checked against a direct computation written another
 * way: the mean image summed in double, and every batch image built as the
 * paper describes it (subtract the mean image, pad 4 zeros on every side, crop
 * 32x32 at the augmentation's offset, flip), for the reference and the fast
 * CPU backend, with and without augmentation. */
#include "backend.h"
#include "normalize.h"
#include "rng.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { C = 3, H = 32, W = 32, PAD = 4, N = 37, IMAGE = C * H * W };

static void make_dataset(RnDataset *ds)
{
    rn_dataset_alloc(ds, N, C, H, W, 10);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t r[4];
        rn_random4(5, RN_RNG_TEST, 2, i, r);
        ds->labels[i] = (uint8_t)(r[0] % 10);
        for (size_t k = 0; k < IMAGE; k++) {
            rn_random4(5, RN_RNG_TEST, 3 + i, (uint32_t)k, r);
            ds->pixels[(size_t)i * IMAGE + k] = (uint8_t)(r[1] & 255);
        }
    }
}

/* The expected image of sample j: the padded, mean-subtracted image in double, then crop and flip. */
static void expected_image(const RnDataset *ds, uint32_t j, const double *mean, int augment, uint64_t seed,
                           uint32_t epoch, double *out)
{
    enum { PH = H + 2 * PAD, PW = W + 2 * PAD };
    static double padded[C][PH][PW];
    memset(padded, 0, sizeof padded);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t k = ((size_t)c * H + y) * W + x;
                padded[c][y + PAD][x + PAD] = ds->pixels[(size_t)j * IMAGE + k] / 255.0 - mean[k];
            }
    RnAug a = {PAD, PAD, 0};
    if (augment)
        a = rn_aug_for(seed, epoch, j, PAD);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int from = a.flip ? W - 1 - x : x;
                out[((size_t)c * H + y) * W + x] = padded[c][y + a.dy][from + a.dx];
            }
}

int main(void)
{
    RnNormalize mode;
    CHECK(rn_normalize_parse("pixel", &mode) && mode == RN_NORM_PIXEL, "parse: pixel");
    CHECK(rn_normalize_parse("channel", &mode) && mode == RN_NORM_CHANNEL, "parse: channel");
    CHECK(!rn_normalize_parse("image", &mode), "parse: anything else is refused");
    CHECK(strcmp(rn_normalize_name(RN_NORM_PIXEL), "pixel") == 0, "name of pixel");

    RnDataset ds;
    make_dataset(&ds);
    float *pm = rn_pixel_mean(&ds);
    double *mean = calloc(IMAGE, sizeof *mean);
    for (uint32_t i = 0; i < N; i++)
        for (size_t k = 0; k < IMAGE; k++)
            mean[k] += ds.pixels[(size_t)i * IMAGE + k] / 255.0 / N;
    double worst = 0;
    for (size_t k = 0; k < IMAGE; k++)
        worst = fmax(worst, fabs(pm[k] - mean[k]));
    CHECK(worst < 1e-7, "mean image: within 1e-7 of the double sum (worst %.3g)", worst);

    uint32_t order[N];
    rn_permutation(9, RN_RNG_SHUFFLE, 1, N, order);
    float *x = malloc(sizeof *x * N * IMAGE);
    double *want = malloc(sizeof *want * IMAGE);
    int32_t labels[N];
    for (int reference = 0; reference <= 1; reference++) {
        RnBackend *be = rn_cpu_backend_create(&(RnBackendOptions){.device = "cpu", .threads = 2, .reference = reference});
        rn_normalize_check(be, RN_NORM_PIXEL);   /* the CPU takes it: returns */
        be->set_dataset(be, RN_SLOT_TRAIN, &ds);
        be->set_order(be, RN_SLOT_TRAIN, order, N);
        for (int augment = 0; augment <= 1; augment++) {
            RnBatchSpec spec = {.augment = augment, .pad = PAD, .seed = 77, .epoch = 3, .pixel_mean = pm};
            for (int c = 0; c < C; c++)   /* must be ignored in pixel mode */
                spec.mean[c] = 0.5f, spec.std[c] = 0.25f;
            const size_t start = 5;
            const int n = N - 5;
            be->load_batch(be, RN_SLOT_TRAIN, start, n, &spec, x, labels);
            double err = 0;
            int wrong_labels = 0, zeros = 0;
            for (int i = 0; i < n; i++) {
                uint32_t j = order[start + (size_t)i];
                expected_image(&ds, j, mean, augment, 77, 3, want);
                for (size_t k = 0; k < IMAGE; k++) {
                    err = fmax(err, fabs(x[(size_t)i * IMAGE + k] - want[k]));
                    zeros += want[k] == 0.0 && x[(size_t)i * IMAGE + k] == 0.0f;
                }
                wrong_labels += labels[i] != ds.labels[j];
            }
            CHECK(err < 1e-6, "%s, augment %d: batch within 1e-6 of the direct computation (worst %.3g)",
                  reference ? "reference" : "fast", augment, err);
            CHECK(wrong_labels == 0, "%s, augment %d: labels follow the order", reference ? "reference" : "fast",
                  augment);
            if (augment)   /* the crops do reach into the zero padding */
                CHECK(zeros > 0, "%s: padded positions are 0 after the subtraction (%d seen)",
                      reference ? "reference" : "fast", zeros);
        }
        rn_backend_destroy(be);
    }
    free(x);
    free(want);
    free(mean);
    free(pm);
    rn_dataset_free(&ds);
    return test_done();
}
