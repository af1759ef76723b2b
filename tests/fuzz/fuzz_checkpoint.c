/* Checkpoints: the weights, the training-state metadata (lib/weights.c) and
 * the recipe a resume parses (lib/train.c: compare_recipe, restore_progress).
 * Those recipe functions are static, so this harness includes train.c; the
 * archive's train.o is then not linked in. */
#include "../../lib/train.c"
#include "fuzz.h"

/* A recipe as make_recipe writes it, to compare the checkpoint's with. */
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
        compare_recipe(path, s.recipe, mine, 1);   /* --force: a difference is a warning */
        /* as rn-train's resume: the steps per epoch must agree with the epoch, then the progress is read */
        Run r;
        memset(&r, 0, sizeof r);
        r.state = s;
        r.step = s.step;
        r.steps_per_epoch = s.epoch ? s.step / s.epoch : s.step + 1;
        if (r.steps_per_epoch > 0 && r.state.epoch == (int)(r.step / r.steps_per_epoch))
            restore_progress(&r, path);
    }
    rn_train_state_free(&s);
    rn_weights_free(&w);
}
FUZZ_READER(reader)
