/* The learning-rate schedule (lib/schedule.h) at every step around its
 * milestones, in epochs and in iterations, and with a warm-up; and the
 * augmentation draw (rn_aug_for) over many samples: every crop offset of
 * 0..2*pad and both flips occur, about equally often. An lr that drops one
 * epoch early or late, a unit that is ignored, or a warm-up one step too long
 * each fails a line here. */
#include "rng.h"
#include "schedule.h"
#include "test.h"

#include <string.h>

static RnSchedule base(const char *milestones, RnMilestoneUnit unit)
{
    RnSchedule s;
    memset(&s, 0, sizeof s);
    s.lr = 0.1;
    s.gamma = 0.1;
    s.unit = unit;
    s.warmup_lr = 0.01;
    const char *why = rn_schedule_parse_milestones(&s, milestones);
    CHECK(why == NULL, "milestones '%s' parse (%s)", milestones, why ? why : "ok");
    return s;
}

/* The expected lr, written out independently: the number of milestones M with
 * position >= M, where position is the 0-based epoch (step / steps_per_epoch) or step. */
static double expect_lr(int64_t position, const int64_t *m, int nm, double lr, double gamma)
{
    for (int i = 0; i < nm; i++)
        if (position >= m[i])
            lr *= gamma;
    return lr;
}

static void test_epoch_milestones(void)
{
    RnSchedule s = base("3,5", RN_UNIT_EPOCH);
    const int64_t spe = 7, m[2] = {3, 5};
    int bad = 0;
    for (int64_t step = 0; step < 8 * spe; step++) {
        double want = expect_lr(step / spe, m, 2, 0.1, 0.1), got = rn_schedule_lr(&s, step, spe);
        if (!test_close(got, want, 0, 1e-12)) {
            printf("# step %lld (epoch index %lld): lr %g, expected %g\n", (long long)step, (long long)(step / spe),
                   got, want);
            bad++;
        }
    }
    CHECK(bad == 0, "epoch milestones 3,5: every step of epochs 0..7 has the right lr");
    /* the boundaries, spelled out: the last step of epoch index 2 still at 0.1, the first of 3 at 0.01 */
    CHECK(rn_schedule_lr(&s, 3 * spe - 1, spe) == 0.1, "last step before milestone 3: lr 0.1");
    CHECK(test_close(rn_schedule_lr(&s, 3 * spe, spe), 0.01, 0, 1e-12), "first step of epoch index 3: lr 0.01");
    CHECK(test_close(rn_schedule_lr(&s, 5 * spe - 1, spe), 0.01, 0, 1e-12), "last step before milestone 5: 0.01");
    CHECK(test_close(rn_schedule_lr(&s, 5 * spe, spe), 0.001, 0, 1e-12), "first step of epoch index 5: 0.001");
}

static void test_iter_milestones(void)
{
    /* steps_per_epoch 10: as epochs the milestones 12,18 would fall at steps 120 and 180 */
    RnSchedule s = base("12,18", RN_UNIT_ITER);
    CHECK(rn_schedule_lr(&s, 11, 10) == 0.1, "iter unit: step 11 at lr 0.1");
    CHECK(test_close(rn_schedule_lr(&s, 12, 10), 0.01, 0, 1e-12), "iter unit: step 12 at 0.01");
    CHECK(test_close(rn_schedule_lr(&s, 17, 10), 0.01, 0, 1e-12), "iter unit: step 17 at 0.01");
    CHECK(test_close(rn_schedule_lr(&s, 18, 10), 0.001, 0, 1e-12), "iter unit: step 18 at 0.001");
    CHECK(test_close(rn_schedule_lr(&s, 119, 10), 0.001, 0, 1e-12), "iter unit: step 119 (not epochs) at 0.001");
}

static void test_warmup(void)
{
    RnSchedule s = base("2", RN_UNIT_EPOCH);
    s.warmup_iters = 5;
    for (int64_t step = 0; step < 5; step++)
        CHECK(rn_schedule_lr(&s, step, 4) == 0.01, "warm-up 5: step %lld at the warm-up lr 0.01", (long long)step);
    CHECK(rn_schedule_lr(&s, 5, 4) == 0.1, "warm-up 5: step 5 at the base lr");
    CHECK(rn_schedule_lr(&s, 7, 4) == 0.1, "warm-up 5: step 7 (epoch index 1) at the base lr");
    CHECK(test_close(rn_schedule_lr(&s, 8, 4), 0.01, 0, 1e-12), "warm-up 5: step 8 (epoch index 2) after milestone");
    s.warmup_iters = 0;
    CHECK(rn_schedule_lr(&s, 0, 4) == 0.1, "no warm-up: step 0 at the base lr");
}

static void test_parse(void)
{
    RnSchedule s;
    memset(&s, 0, sizeof s);
    CHECK(rn_schedule_parse_milestones(&s, "") == NULL && s.nmilestones == 0, "'' is no milestones");
    CHECK(rn_schedule_parse_milestones(&s, "5,3") != NULL, "'5,3' refused (not increasing)");
    CHECK(rn_schedule_parse_milestones(&s, "5,") != NULL, "'5,' refused (trailing comma)");
    CHECK(rn_schedule_parse_milestones(&s, "-1") != NULL, "'-1' refused");
    RnMilestoneUnit u;
    CHECK(rn_milestone_unit_parse("iter", &u) && u == RN_UNIT_ITER, "'iter' parses");
    CHECK(!rn_milestone_unit_parse("iters", &u), "'iters' refused");
}

/* torchvision's RandomCrop(32, padding=4) draws each offset from 0..8 and
 * RandomHorizontalFlip flips half the images. */
static void test_augment_draw(void)
{
    enum { N = 90000, PAD = 4 };
    int dx[2 * PAD + 1] = {0}, dy[2 * PAD + 1] = {0}, flips = 0, out_of_range = 0;
    for (uint32_t j = 0; j < N; j++) {
        RnAug a = rn_aug_for(1, j % 3, j, PAD);
        if (a.dx < 0 || a.dx > 2 * PAD || a.dy < 0 || a.dy > 2 * PAD || (a.flip != 0 && a.flip != 1)) {
            out_of_range++;
            continue;
        }
        dx[a.dx]++;
        dy[a.dy]++;
        flips += a.flip;
    }
    CHECK(out_of_range == 0, "every crop offset within 0..%d, flip 0 or 1", 2 * PAD);
    /* each of the 9 offsets: 10,000 expected, sd ~95; 9,500..10,500 is > 5 sd */
    int even = 1;
    for (int k = 0; k <= 2 * PAD; k++)
        even &= dx[k] > 9500 && dx[k] < 10500 && dy[k] > 9500 && dy[k] < 10500;
    CHECK(even, "crop offsets uniform over 0..8 (dx[0] %d, dx[8] %d, dy[0] %d, dy[8] %d)", dx[0], dx[2 * PAD],
          dy[0], dy[2 * PAD]);
    CHECK(flips > 44000 && flips < 46000, "about half the images flipped (%d of %d)", flips, N);
}

int main(void)
{
    test_epoch_milestones();
    test_iter_milestones();
    test_warmup();
    test_parse();
    test_augment_draw();
    return test_done();
}
