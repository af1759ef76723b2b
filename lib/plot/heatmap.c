/* The confusion matrix as a heatmap: one cell per (true, predicted) pair,
 * shaded by the fraction of the true class's images (so every row reads as a
 * distribution whatever the class sizes), labelled with the raw count. */
#include "plot.h"

#include <math.h>
#include <stdio.h>

/* White to dark blue ("Blues"), t in [0, 1]. */
static PlotColor blues(double t)
{
    static const PlotColor stops[] = {
        {0.969, 0.984, 1.000}, {0.776, 0.859, 0.937}, {0.420, 0.682, 0.839},
        {0.129, 0.443, 0.710}, {0.031, 0.188, 0.420},
    };
    t = fmin(fmax(t, 0), 1) * 4;
    int i = (int)fmin(floor(t), 3);
    double u = t - i;
    PlotColor a = stops[i], b = stops[i + 1];
    return (PlotColor){a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u};
}

void plot_heatmap_draw(PlotCanvas *c, const unsigned *counts, int n, const char *const *names,
                       const char *xlabel, const char *ylabel, double x, double y, double w, double h)
{
    cairo_t *cr = plot_canvas_cairo(c);
    double label_w = 0;
    for (int i = 0; i < n; i++)
        label_w = fmax(label_w, plot_text_width(cr, names[i], 12, false));
    const double bar_w = 18, bar_gap = 52;
    double left = x + 30 + label_w + 10, top = y + 10;
    double cell = fmin((w - (left - x) - bar_gap - bar_w - 40) / n, (h - 10 - label_w - 50) / n);
    if (cell < 4)
        cell = 4;
    double font = fmin(12, cell * 0.32);
    for (int r = 0; r < n; r++) {
        unsigned long row_total = 0;
        for (int k = 0; k < n; k++)
            row_total += counts[r * n + k];
        for (int k = 0; k < n; k++) {
            unsigned v = counts[r * n + k];
            double frac = row_total ? (double)v / row_total : 0;
            PlotColor col = blues(frac);
            cairo_rectangle(cr, left + k * cell, top + r * cell, cell, cell);
            cairo_set_source_rgb(cr, col.r, col.g, col.b);
            cairo_fill(cr);
            char buf[16];
            snprintf(buf, sizeof buf, "%u", v);
            double lum = 0.3 * col.r + 0.59 * col.g + 0.11 * col.b;
            cairo_set_source_rgb(cr, lum < 0.5 ? 1 : 0.1, lum < 0.5 ? 1 : 0.1, lum < 0.5 ? 1 : 0.1);
            plot_text(cr, left + (k + 0.5) * cell, top + (r + 0.5) * cell, buf, font, PLOT_CENTER, r == k);
        }
    }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, left, top, n * cell, n * cell);
    cairo_stroke(cr);
    /* class names: rows on the left, columns rotated below */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    for (int i = 0; i < n; i++) {
        plot_text(cr, left - 6, top + (i + 0.5) * cell, names[i], 12, PLOT_RIGHT, false);
        cairo_save(cr);
        cairo_translate(cr, left + (i + 0.5) * cell, top + n * cell + 6);
        cairo_rotate(cr, -M_PI / 4);
        plot_text(cr, 0, 0, names[i], 12, PLOT_RIGHT, false);
        cairo_restore(cr);
    }
    if (xlabel)
        plot_text(cr, left + n * cell / 2, top + n * cell + label_w * 0.75 + 30, xlabel, 13.5, PLOT_CENTER, false);
    if (ylabel) {
        cairo_save(cr);
        cairo_translate(cr, x + 14, top + n * cell / 2);
        cairo_rotate(cr, -M_PI / 2);
        plot_text(cr, 0, 0, ylabel, 13.5, PLOT_CENTER, false);
        cairo_restore(cr);
    }
    /* colour bar: fraction of the true class */
    double bx = left + n * cell + bar_gap - 30, by = top, bh = n * cell;
    for (int i = 0; i < 100; i++) {
        PlotColor col = blues(1 - i / 99.0);
        cairo_rectangle(cr, bx, by + bh * i / 100, bar_w, bh / 100 + 0.6);
        cairo_set_source_rgb(cr, col.r, col.g, col.b);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_rectangle(cr, bx, by, bar_w, bh);
    cairo_stroke(cr);
    for (int i = 0; i <= 4; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d%%", 25 * i);
        plot_text(cr, bx + bar_w + 5, by + bh * (1 - i / 4.0), buf, 11, PLOT_LEFT, false);
    }
}
