/* The figures of the paper's CIFAR-10 section (He et al. 2016, section 4.2),
 * as the he2016 profile's report shows them; its Table 6 is in tables.h. */
#ifndef RN_PLOT_HE2016_H
#define RN_PLOT_HE2016_H

#include "plot.h"
#include "runs.h"

typedef struct {
    const char *output;        /* .png or .svg */
    const char *title;         /* NULL: the default title */
    int width, height;
    int deep;                  /* Fig. 6: ResNets this deep or deeper go to the right panel only */
} HeFigure;

/* Fig. 6 (fig6.c): training error (thin, dashed) and test error (bold) against
 * iterations in three panels: the plain nets; the ResNets shallower than
 * `deep`; the deepest of those beside every ResNet of depth >= deep (the
 * paper: ResNet-110 and ResNet-1202). From metrics files; a global info file
 * with "heldout<TAB>val" labels the bold curves validation error. */
void plot_fig6(const HeFigure *f, const RunSet *rs);

/* Fig. 7 (fig7.c): the std of every 3x3 layer's response (rn-eval
 * --responses), in layer order (top) and sorted by magnitude (bottom), one
 * line per net (the mean over its eval files, a min-max band with several). */
void plot_fig7(const HeFigure *f, const RunSet *rs);

/* One net's curve of layer-response stds (fig7.c, also rn-plot responses): the
 * mean over its eval files at each position (sorted: each file's values sorted
 * in descending order first), with a min-max band when there are several;
 * dashed for a plain net. Dies naming FIGURE when the files hold no responses
 * or disagree on their number. The caller sets colour and width. */
PlotSeries plot_response_series(const NetGroup *g, bool sorted, const char *figure);

#endif
