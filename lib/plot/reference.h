/* Published numbers the report compares against: the ONE place they are
 * typed in (reference.c), each with its source. */
#ifndef RN_PLOT_REFERENCE_H
#define RN_PLOT_REFERENCE_H

#include <stdbool.h>

#include "net.h"

typedef struct {
    RnArch arch;
    int depth;
    double paper_error;       /* He et al. 2016, Table 6: test error % (NaN: not reported) */
    double study_best_acc;    /* the reference study, Table 4-1/4-2: best test accuracy % */
    double study_final_acc;   /* Table 4-1: test accuracy % at epoch 200 */
    double study_final_loss;  /* Table 4-1: training loss at epoch 200 */
} RefResult;

/* NULL when the net is in neither source. Option A shortcuts (both sources). */
const RefResult *ref_lookup(RnArch arch, int depth);

/* He et al. 2016, Table 6: the parameter count in millions as printed (NaN:
 * not in the table, e.g. every plain net), and ResNet-110's mean ± std over
 * its runs (its paper_error is the best of them). */
double ref_paper_params_millions(RnArch arch, int depth);
extern const double REF_PAPER_R110_MEAN_ERROR, REF_PAPER_R110_STD_ERROR;
extern const int REF_PAPER_R110_RUNS;

extern const char *const REF_PAPER_SOURCE;
extern const char *const REF_STUDY_SOURCE;

#endif
