/* The engine's shared pieces (lib/engine/data.h, evaluate.h, lib/dataset.h's
 * batch arithmetic): the batch spec every pass uses carries the reference
 * study's CIFAR-10 statistics (its transforms.Normalize((0.4914, 0.4822,
 * 0.4465), (0.2470, 0.2435, 0.2616)), written here from the study, not from
 * the code) and the paper's pad of 4; the batches cover a set with the last
 * one partial; and the evaluation pass's confusion matrix, counted on the
 * host from the logits, agrees with the backend's own error count. */
#include "backend.h"
#include "data.h"
#include "dataset.h"
#include "evaluate.h"
#include "model.h"
#include "net.h"
#include "rng.h"
#include "test.h"
#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 37, BATCH = 10, CLASSES = 10 };

int main(void)
{
    /* the batch arithmetic: the paper profile's 50,000 images in batches of 128 */
    CHECK(rn_batch_count(50000, 128) == 391, "50,000 / 128: 391 batches");
    CHECK(rn_batch_len(50000, 128, 390 * 128) == 80, "the last batch of 50,000 / 128 holds 80");
    CHECK(rn_batch_len(50000, 128, 0) == 128 && rn_batch_count(256, 128) == 2, "full batches");
    CHECK(rn_batch_count(1, 128) == 1 && rn_batch_len(1, 128, 0) == 1, "one image: one batch of 1");

    static const float study_mean[3] = {0.4914f, 0.4822f, 0.4465f}, study_std[3] = {0.2470f, 0.2435f, 0.2616f};
    RnBatchSpec spec = rn_batch_spec(0, 7, NULL);
    CHECK(memcmp(spec.mean, study_mean, sizeof study_mean) == 0, "the channel means are the study's");
    CHECK(memcmp(spec.std, study_std, sizeof study_std) == 0, "the channel stds are the study's");
    CHECK(spec.pad == 4 && !spec.augment && spec.seed == 7 && !spec.pixel_mean, "pad 4, no augmentation");
    float pm[1];
    RnBatchSpec train = rn_batch_spec(1, 3, pm);
    CHECK(train.augment && train.seed == 3 && train.pixel_mean == pm, "training spec: augmentation, pixel mean");

    /* a ResNet-8 on 37 random images, evaluated in batches of 10 */
    RnDataset ds;
    rn_dataset_alloc(&ds, N, RN_IN_CHANNELS, RN_IN_SIDE, RN_IN_SIDE, CLASSES);
    uint32_t per_class[CLASSES] = {0};
    for (uint32_t i = 0; i < N; i++) {
        uint32_t r[4];
        rn_random4(11, RN_RNG_TEST, 1, i, r);
        ds.labels[i] = (uint8_t)(r[0] % CLASSES);
        per_class[ds.labels[i]]++;
        for (size_t k = 0; k < RN_IN_FLOATS; k++) {
            rn_random4(11, RN_RNG_TEST, 2 + i, (uint32_t)k, r);
            ds.pixels[(size_t)i * RN_IN_FLOATS + k] = (uint8_t)(r[1] & 255);
        }
    }
    RnNetConfig cfg = {.arch = RN_ARCH_RESNET, .depth = 8, .shortcut = RN_SHORTCUT_A, .classes = CLASSES};
    RnWeights w;
    rn_weights_init(&w, &cfg, 5);
    for (int reference = 1; reference >= 0; reference--) {
        RnBackendOptions bo = {.device = "cpu", .reference = reference};
        RnBackend *be = rn_backend_create(&bo);
        RnModel *m = rn_model_create_inference(be, &w.net, BATCH);
        rn_model_set_weights(m, &w);
        be->set_dataset(be, RN_SLOT_TEST, &ds);
        uint32_t confusion[CLASSES * CLASSES] = {0};
        RnEvalSums sums, plain;
        rn_evaluate_pass(m, N, BATCH, &spec, ds.labels, CLASSES, confusion, true, &sums);
        uint32_t total = 0, wrong = 0, rows_ok = 1;
        for (int t = 0; t < CLASSES; t++) {
            uint32_t row = 0;
            for (int p = 0; p < CLASSES; p++) {
                row += confusion[t * CLASSES + p];
                wrong += p != t ? confusion[t * CLASSES + p] : 0;
            }
            rows_ok &= row == per_class[t];
            total += row;
        }
        CHECK(total == N && rows_ok, "%s: every image counted once, in its true class's row", be->name);
        CHECK(wrong == sums.errors, "%s: the confusion's errors (%u) are the backend's count (%g)", be->name, wrong,
              sums.errors);
        CHECK(isfinite(sums.loss_sum) && sums.loss_sum > 0, "%s: a finite positive loss sum", be->name);
        double stds[8];
        CHECK(rn_model_response_layers(m) == 7, "%s: ResNet-8 has 7 3x3 layers", be->name);
        rn_model_response_std(m, stds);
        CHECK(isfinite(stds[0]) && stds[0] > 0, "%s: the responses were collected", be->name);
        /* without the confusion matrix or the responses: the same sums */
        rn_evaluate_pass(m, N, BATCH, &spec, NULL, 0, NULL, false, &plain);
        CHECK(plain.loss_sum == sums.loss_sum && plain.errors == sums.errors, "%s: the same pass without extras",
              be->name);
        rn_model_free(m);
        rn_backend_destroy(be);
    }
    rn_weights_free(&w);
    rn_dataset_free(&ds);
    return test_done();
}
