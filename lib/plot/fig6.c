/* The paper's Fig. 6: training on CIFAR-10, error against iterations; thin
 * dashed lines the training error (of the epoch's mini-batches, augmented),
 * bold lines the test (or validation) error after each epoch. Left the plain
 * nets, middle the ResNets, right the deepest ones. Colours follow the depth
 * order within an architecture, so a depth keeps its colour in every panel.
 * Several runs of a net: the mean, with a min-max band behind the bold line. */
#include "he2016.h"

#include "err.h"
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The paper's axis shows 0-20 %; kept when every curve ends well inside it. */
#define PAPER_YMAX 20.0

typedef struct {
    const NetGroup *g[RUNS_MAX_NETS];
    int color[RUNS_MAX_NETS];
    int n;
    char title[160];
} Panel;

static int by_depth(const void *a, const void *b)
{
    const NetGroup *x = *(const NetGroup *const *)a, *y = *(const NetGroup *const *)b;
    return (x->cfg.depth > y->cfg.depth) - (x->cfg.depth < y->cfg.depth);
}

/* The nets of one architecture that have metrics, shallowest first. */
static int nets_of(const RunSet *rs, RnArch arch, const NetGroup **out)
{
    int n = 0;
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].nruns && rs->groups[i].have_cfg && rs->groups[i].cfg.arch == arch)
            out[n++] = &rs->groups[i];
    qsort(out, (size_t)n, sizeof out[0], by_depth);
    return n;
}

static void add(Panel *p, const NetGroup *g, int color)
{
    p->g[p->n] = g;
    p->color[p->n++] = color;
}

/* Two series per net (training error, held-out error); returns the count. */
static int panel_series(const Panel *p, PlotSeries *s, double *final_max)
{
    int ns = 0;
    for (int k = 0; k < p->n; k++)
        for (int held = 0; held < 2; held++) {
            const NetGroup *g = p->g[k];
            double *x, *mean, *lo, *hi;
            int n = group_curve(g, held ? METRIC_TEST_ERR_PCT : METRIC_TRAIN_ERR_PCT, true, &x, &mean, &lo, &hi);
            bool band = held && g->nruns > 1;
            if (!band) {
                free(lo);
                free(hi);
                lo = hi = NULL;
            }
            if (n > 0 && isfinite(mean[n - 1]))
                *final_max = fmax(*final_max, band ? hi[n - 1] : mean[n - 1]);
            s[ns++] = (PlotSeries){.label = held ? g->name : NULL, .n = n, .x = x, .y = mean, .lo = lo, .hi = hi,
                                   .color = p->color[k], .width = held ? 2.6 : 1.1, .dashed = !held};
        }
    return ns;
}

static double series_max(const PlotSeries *s, int ns)
{
    double m = 0;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++) {
            double v = s[i].hi ? s[i].hi[k] : s[i].y[k];
            if (isfinite(v))
                m = fmax(m, v);
        }
    return m;
}

void plot_fig6(const HeFigure *f, const RunSet *rs)
{
    const NetGroup *plain[RUNS_MAX_NETS], *res[RUNS_MAX_NETS];
    int np = nets_of(rs, RN_ARCH_PLAIN, plain), nr = nets_of(rs, RN_ARCH_RESNET, res);
    if (np + nr == 0)
        rn_usage_error("fig6: no metrics files of plain or residual nets given (it is drawn from rn-train's metrics)");
    Panel panel[3] = {{.n = 0}};
    snprintf(panel[0].title, sizeof panel[0].title, "Plain nets");
    snprintf(panel[1].title, sizeof panel[1].title, "ResNets");
    for (int k = 0; k < np; k++)
        add(&panel[0], plain[k], k);
    int below = -1;   /* the deepest ResNet shallower than f->deep */
    for (int k = 0; k < nr; k++)
        if (res[k]->cfg.depth < f->deep) {
            add(&panel[1], res[k], k);
            below = k;
        }
    if (below >= 0)
        add(&panel[2], res[below], below);
    for (int k = 0; k < nr; k++)
        if (res[k]->cfg.depth >= f->deep)
            add(&panel[2], res[k], k);
    size_t used = 0;
    for (int k = 0; k < panel[2].n; k++)
        used += (size_t)snprintf(panel[2].title + used, sizeof panel[2].title - used, "%s%s", k ? ", " : "",
                                 panel[2].g[k]->name);
    if (!panel[2].n)
        snprintf(panel[2].title, sizeof panel[2].title, "The deepest ResNets");

    const char *heldout = runs_global_info(rs, "heldout");
    bool val = heldout && strcmp(heldout, "val") == 0;
    static PlotSeries s[3][2 * RUNS_MAX_NETS];
    PlotPanel p[3];
    double final_max = 0, all_max = 0;
    for (int a = 0; a < 3; a++) {
        int ns = panel_series(&panel[a], s[a], &final_max);
        all_max = fmax(all_max, series_max(s[a], ns));
        p[a] = (PlotPanel){.title = panel[a].title, .xlabel = "iteration", .ylabel = "error (%)", .xthousands = true,
                           .xinteger = true, .xmin = 0, .xmax = NAN, .ymin = 0, .ymax = NAN, .series = s[a],
                           .nseries = ns,
                           .note = !panel[a].n ? "no such nets in this run" :
                                   val ? "dashed: training error; bold: validation error" :
                                         "dashed: training error; bold: test error"};
    }
    /* the paper's 0-20 % when every net ends below 3/4 of it, else all of every curve */
    double ymax = final_max < 0.75 * PAPER_YMAX ? PAPER_YMAX : fmin(100, fmax(1, all_max) * 1.05);
    for (int a = 0; a < 3; a++)
        p[a].ymax = ymax;

    PlotCanvas *c = plot_canvas_open(f->output, f->width, f->height);
    double top = plot_draw_title(c, f->title ? f->title : val ?
                                 "Training on CIFAR-10: training and validation error (paper Fig. 6)" :
                                 "Training on CIFAR-10: training and test error (paper Fig. 6)");
    double w = (f->width - 20) / 3.0;
    for (int a = 0; a < 3; a++)
        plot_panel_draw(c, &p[a], 10 + a * w, top, w, f->height - top - 8);
    plot_canvas_close(c);
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < p[a].nseries; i++) {
            free((void *)s[a][i].x);
            free((void *)s[a][i].y);
            free((void *)s[a][i].lo);
            free((void *)s[a][i].hi);
        }
}
