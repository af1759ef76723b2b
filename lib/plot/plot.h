/* Drawing for rn-plot, on cairo: a canvas that writes PNG or SVG atomically,
 * line charts (axes with "nice" ticks, linear or log scale, min-max bands,
 * legend, title), a heatmap, and the two network diagrams.
 *
 * Everything is laid out in canvas units: a PNG is exactly width x height
 * pixels, an SVG is width x height points, so the same figure looks the same
 * in both. Text uses cairo's own font selection ("sans-serif"). */
#ifndef RN_PLOT_H
#define RN_PLOT_H

#include <cairo.h>
#include <stdbool.h>

#include "net.h"

/* ------------------------------------------------------------------ canvas */
typedef struct PlotCanvas PlotCanvas;

/* PATH ends in .png or .svg (the format), or is "-" (PNG on stdout). Dies
 * with a usage error on any other suffix. The output is atomic (lib/io.h). */
PlotCanvas *plot_canvas_open(const char *path, double width, double height);
cairo_t *plot_canvas_cairo(PlotCanvas *c);
double plot_canvas_width(const PlotCanvas *c);
double plot_canvas_height(const PlotCanvas *c);
/* Finishes the drawing, writes the file, commits it, frees the canvas. */
void plot_canvas_close(PlotCanvas *c);
/* True when PATH names a format plot_canvas_open accepts. */
bool plot_path_is_figure(const char *path);

/* The figure title, centred at the top; returns the height it took. */
double plot_draw_title(PlotCanvas *c, const char *title);

/* ------------------------------------------------------------------ text */
enum { PLOT_LEFT = 0, PLOT_CENTER = 1, PLOT_RIGHT = 2 };
/* Draws text with its horizontal anchor at x and its vertical middle at y. */
void plot_text(cairo_t *cr, double x, double y, const char *s, double size, int align, bool bold);
double plot_text_width(cairo_t *cr, const char *s, double size, bool bold);

/* ------------------------------------------------------------------ colours */
typedef struct { double r, g, b; } PlotColor;
PlotColor plot_palette(int i);                 /* colour-blind safe, cycles */

/* ------------------------------------------------------------------ charts */
typedef struct {
    const char *label;         /* legend text; NULL or "" = not in the legend */
    int n;
    const double *x, *y;       /* n points; NaN y values leave a gap */
    const double *lo, *hi;     /* optional band (e.g. min and max over seeds) */
    int color;                 /* palette index */
    double width;              /* line width in canvas units (default 2) */
    bool dashed;
    bool markers;              /* a dot at every point */
    bool steps;                /* draw as a step function (value holds until the next x) */
} PlotSeries;

typedef struct {
    const char *title;         /* panel title (NULL: none) */
    const char *xlabel, *ylabel;
    bool ylog;                 /* log10 y axis (values <= 0 are skipped) */
    bool xthousands;           /* tick labels as 10k, 20k, ... */
    bool xinteger;             /* x is a count (epoch, iteration, layer): integer ticks */
    double xmin, xmax, ymin, ymax;  /* NaN: from the data */
    const PlotSeries *series;
    int nseries;
    const char *note;          /* small text under the legend, may be NULL */
} PlotPanel;

/* Draws a panel (frame, grid, ticks, labels, series, legend) in the box. */
void plot_panel_draw(PlotCanvas *c, const PlotPanel *p, double x, double y, double w, double h);

/* ------------------------------------------------------------------ heatmap */
/* n x n counts (row = true class, column = predicted); cells coloured by the
 * row-normalised fraction and labelled with the count. */
void plot_heatmap_draw(PlotCanvas *c, const unsigned *counts, int n, const char *const *names,
                       const char *xlabel, const char *ylabel, double x, double y, double w, double h);

/* ------------------------------------------------------------------ diagrams */
/* Paper Fig. 2 / study Fig. 2-1: a plain block beside a residual block, the
 * layers read from block `stage`/`index` of the two nets. */
void plot_blocks_diagram(PlotCanvas *c, const RnNet *plain, const RnNet *resnet, double top);
/* Study Fig. 2-2: the CIFAR net with its stages and output sizes. */
void plot_architecture_diagram(PlotCanvas *c, const RnNet *net, double top);

#endif
