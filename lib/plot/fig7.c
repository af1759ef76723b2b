/* The paper's Fig. 7: standard deviations of the layer responses on CIFAR-10,
 * the responses being each 3x3 layer's output after BN and before the
 * nonlinearity (and before the residual addition), as rn-eval --responses
 * measures them. Top: in the original layer order; bottom: sorted in
 * descending magnitude. Plain nets dashed, ResNets solid; a depth has the same
 * colour in both architectures. Several eval files of a net (seeds): the mean
 * per position, with a min-max band (sorted: each run sorted first). */
#include "he2016.h"

#include "err.h"
#include "plot.h"

#include <math.h>
#include <stdlib.h>

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static int int_asc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int by_arch_depth(const void *a, const void *b)
{
    const NetGroup *x = *(const NetGroup *const *)a, *y = *(const NetGroup *const *)b;
    if (x->cfg.arch != y->cfg.arch)
        return x->cfg.arch == RN_ARCH_PLAIN ? -1 : 1;
    return (x->cfg.depth > y->cfg.depth) - (x->cfg.depth < y->cfg.depth);
}

PlotSeries plot_response_series(const NetGroup *g, bool sorted, const char *figure)
{
    int n = (int)g->evals[0]->nlayers;
    for (int e = 1; e < g->nevals; e++)
        if ((int)g->evals[e]->nlayers != n)
            rn_die("%s: the eval files of %s disagree on the number of layers", figure, g->name);
    if (n == 0)
        rn_die("%s: the eval files of %s hold no layer responses (run rn-eval with --responses)", figure, g->name);
    double *x = rn_xcalloc((size_t)n, sizeof *x), *y = rn_xcalloc((size_t)n, sizeof *y);
    double *lo = rn_xcalloc((size_t)n, sizeof *lo), *hi = rn_xcalloc((size_t)n, sizeof *hi);
    double *v = rn_xcalloc((size_t)n, sizeof *v);
    for (int k = 0; k < n; k++) {
        x[k] = k + 1;
        lo[k] = INFINITY;
        hi[k] = -INFINITY;
    }
    for (int e = 0; e < g->nevals; e++) {
        for (int k = 0; k < n; k++)
            v[k] = g->evals[e]->layer_std[k];
        if (sorted)
            qsort(v, (size_t)n, sizeof *v, cmp_desc);
        for (int k = 0; k < n; k++) {
            y[k] += v[k] / g->nevals;
            lo[k] = fmin(lo[k], v[k]);
            hi[k] = fmax(hi[k], v[k]);
        }
    }
    free(v);
    if (g->nevals < 2) {
        free(lo);
        free(hi);
        lo = hi = NULL;
    }
    return (PlotSeries){.label = g->name, .n = n, .x = x, .y = y, .lo = lo, .hi = hi,
                        .dashed = g->cfg.arch == RN_ARCH_PLAIN, .markers = n <= 60};
}

/* One net's curve in Fig. 7: a depth's colour, plain nets thinner. */
static PlotSeries curve(const NetGroup *g, bool sorted, int color)
{
    PlotSeries s = plot_response_series(g, sorted, "fig7");
    s.color = color;
    s.width = s.dashed ? 1.6 : 2.0;
    return s;
}

void plot_fig7(const HeFigure *f, const RunSet *rs)
{
    const NetGroup *nets[RUNS_MAX_NETS];
    int nn = 0;
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].nevals)
            nets[nn++] = &rs->groups[i];
    if (!nn)
        rn_usage_error("fig7: no eval files given (it is drawn from rn-eval --responses output)");
    qsort(nets, (size_t)nn, sizeof nets[0], by_arch_depth);
    /* colour by depth: the i-th distinct depth, in increasing order */
    int depths[RUNS_MAX_NETS], nd = 0;
    for (int i = 0; i < nn; i++) {
        int d = nets[i]->cfg.depth, k = 0;
        while (k < nd && depths[k] != d)
            k++;
        if (k == nd)
            depths[nd++] = d;
    }
    qsort(depths, (size_t)nd, sizeof depths[0], int_asc);    /* shallowest = colour 0 */
    PlotSeries s[2][RUNS_MAX_NETS];
    bool seeds = false;
    for (int i = 0; i < nn; i++) {
        int color = 0;
        while (depths[color] != nets[i]->cfg.depth)
            color++;
        for (int sorted = 0; sorted < 2; sorted++)
            s[sorted][i] = curve(nets[i], sorted, color);
        seeds |= nets[i]->nevals > 1;
    }
    const char *note = seeds ? "dashed: plain; solid: ResNet; shaded: min-max over runs" : "dashed: plain; solid: ResNet";
    PlotPanel p[2] = {
        {.title = "In the original layer order", .xlabel = "layer index (3x3 convolutions, input to output)",
         .ylabel = "std of response", .xinteger = true, .xmin = NAN, .xmax = NAN, .ymin = 0, .ymax = NAN,
         .series = s[0], .nseries = nn, .note = note},
        {.title = "Sorted by magnitude", .xlabel = "layer index (sorted in descending order of std)",
         .ylabel = "std of response", .xinteger = true, .xmin = NAN, .xmax = NAN, .ymin = 0, .ymax = NAN,
         .series = s[1], .nseries = nn},
    };
    PlotCanvas *c = plot_canvas_open(f->output, f->width, f->height);
    double top = plot_draw_title(c, f->title ? f->title : "Standard deviations of layer responses (paper Fig. 7)");
    double h = (f->height - top - 8) / 2;
    for (int a = 0; a < 2; a++)
        plot_panel_draw(c, &p[a], 10, top + a * h, f->width - 20, h);
    plot_canvas_close(c);
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < nn; i++) {
            free((void *)s[a][i].x);
            free((void *)s[a][i].y);
            free((void *)s[a][i].lo);
            free((void *)s[a][i].hi);
        }
}
