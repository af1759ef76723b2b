/* Checkpoints: the weights, the training-state metadata (lib/weights.c) and
 * the recipe a resume parses (lib/engine/checkpoint.c: rn_recipe_compare,
 * rn_recipe_progress). */
#include "checkpoint.h"
#include "fuzz.h"
#include "weights.h"

#include <string.h>

/* A recipe as rn_recipe_make writes it, to compare the checkpoint's with. */
static const char mine[] = "recipe=rn-train 1\nnet=ResNet-8 (resnet, depth 8, shortcut A, 10 classes)\n"
                           "batch=4\nlr=0.1\nmomentum=0.9\nweight_decay=0.0001\nmilestones=\n"
                           "milestone_unit=epoch\ngamma=0.1\nwarmup_lr=0\nwarmup_iters=0\nseed=1\naugment=1\n"
                           "shuffle=1\ntrain=12 images, crc 00000000/00000000\ntest=none\n";

static void reader(const char *path)
{
    RnWeights w;
    RnTrainState s;
    rn_weights_read(path, &w, &s);
    if (s.present) {
        rn_recipe_compare(path, s.recipe, mine, 1);   /* --force: a difference is a warning */
        /* as rn-train's resume: the steps per epoch must agree with the epoch, then the progress is read */
        int64_t steps_per_epoch = s.epoch ? s.step / s.epoch : s.step + 1;
        if (steps_per_epoch > 0 && s.epoch == (int)(s.step / steps_per_epoch)) {
            RnEpochSums sums;
            rn_recipe_progress(path, s.recipe, s.step, steps_per_epoch, &sums);
        }
    }
    rn_train_state_free(&s);
    rn_weights_free(&w);
}
FUZZ_READER(reader)
