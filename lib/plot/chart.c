/* Line charts: a framed plot area with grid lines at "nice" tick values
 * (1, 2, 5 x 10^k; decades on a log axis), tick labels, axis labels, the
 * series (optional min-max band behind each line) and a legend placed in the
 * corner that hides the fewest data points. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FONT_TICK 12.0
#define FONT_LABEL 13.5
#define FONT_LEGEND 12.5
#define FONT_PANEL_TITLE 14.5
#define MAX_TICKS 64

typedef struct {
    double x0, y0, w, h;           /* plot area on the canvas */
    double xmin, xmax, ymin, ymax; /* data range shown (ymin/ymax in data units) */
    bool ylog;
} Frame;

static double ty(const Frame *f, double v) { return f->ylog ? log10(v) : v; }
static double map_x(const Frame *f, double v) { return f->x0 + (v - f->xmin) / (f->xmax - f->xmin) * f->w; }
static double map_y(const Frame *f, double v)
{
    return f->y0 + f->h - (ty(f, v) - ty(f, f->ymin)) / (ty(f, f->ymax) - ty(f, f->ymin)) * f->h;
}
static bool usable(const Frame *f, double v) { return isfinite(v) && (!f->ylog || v > 0); }

/* The step between ticks: 1, 2 or 5 times a power of ten, about `target` ticks. */
static double nice_step(double range, int target)
{
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static int linear_ticks(double lo, double hi, int target, double *ticks, bool integer)
{
    double step = nice_step(hi - lo, target);
    if (integer && step < 1)
        step = 1;       /* epochs and iterations: no 1.5 */
    int n = 0;
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && n < MAX_TICKS; t += step)
        ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    return n;
}

/* Log axis: every decade, or 1-2-5 within decades when the range is short. */
static int log_ticks(double lo, double hi, double *ticks, bool *major)
{
    int n = 0;
    int d0 = (int)floor(log10(lo) + 1e-9), d1 = (int)ceil(log10(hi) - 1e-9);
    bool fine = d1 - d0 <= 2;
    int majors = 0;
    for (int d = d0; d <= d1 && n < MAX_TICKS - 10; d++)
        for (int m = 1; m <= 9; m++) {
            double t = m * pow(10, d);
            if (t < lo * (1 - 1e-9) || t > hi * (1 + 1e-9))
                continue;
            major[n] = m == 1 || (fine && (m == 2 || m == 5));
            majors += major[n];
            ticks[n++] = t;
        }
    if (majors >= 2)
        return n;
    /* a narrow range (e.g. losses 2.3 to 2.6): linear ticks, placed on the log axis */
    n = linear_ticks(lo, hi, 5, ticks, false);
    for (int i = 0; i < n; i++)
        major[i] = true;
    return n;
}

static void format_tick(char *buf, size_t n, double v, bool thousands)
{
    if (thousands && fabs(v) >= 1000)
        snprintf(buf, n, "%gk", v / 1000);
    else
        snprintf(buf, n, "%g", v);
}

static void data_range(const PlotPanel *p, bool ylog, double *xmin, double *xmax, double *ymin, double *ymax)
{
    *xmin = *ymin = INFINITY;
    *xmax = *ymax = -INFINITY;
    for (int s = 0; s < p->nseries; s++) {
        const PlotSeries *ps = &p->series[s];
        for (int i = 0; i < ps->n; i++) {
            if (!isfinite(ps->x[i]))
                continue;
            const double vals[3] = {ps->y[i], ps->lo ? ps->lo[i] : NAN, ps->hi ? ps->hi[i] : NAN};
            bool any = false;
            for (int k = 0; k < 3; k++) {
                double v = vals[k];
                if (!isfinite(v) || (ylog && v <= 0))
                    continue;
                any = true;
                *ymin = fmin(*ymin, v);
                *ymax = fmax(*ymax, v);
            }
            if (any) {
                *xmin = fmin(*xmin, ps->x[i]);
                *xmax = fmax(*xmax, ps->x[i]);
            }
        }
    }
}

static void set_color(cairo_t *cr, int idx, double alpha)
{
    PlotColor c = plot_palette(idx);
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

static void draw_band(cairo_t *cr, const Frame *f, const PlotSeries *s)
{
    if (!s->lo || !s->hi)
        return;
    bool started = false;
    for (int i = 0; i < s->n; i++) {
        if (!usable(f, s->hi[i]) || !usable(f, s->lo[i]))
            continue;
        if (!started)
            cairo_move_to(cr, map_x(f, s->x[i]), map_y(f, s->hi[i]));
        else
            cairo_line_to(cr, map_x(f, s->x[i]), map_y(f, s->hi[i]));
        started = true;
    }
    for (int i = s->n - 1; i >= 0; i--)
        if (usable(f, s->hi[i]) && usable(f, s->lo[i]))
            cairo_line_to(cr, map_x(f, s->x[i]), map_y(f, s->lo[i]));
    if (!started)
        return;
    cairo_close_path(cr);
    set_color(cr, s->color, 0.20);
    cairo_fill(cr);
}

static void draw_line(cairo_t *cr, const Frame *f, const PlotSeries *s)
{
    bool pen_down = false;
    for (int i = 0; i < s->n; i++) {
        if (!usable(f, s->y[i]) || !isfinite(s->x[i])) {
            pen_down = false;
            continue;
        }
        double px = map_x(f, s->x[i]), py = map_y(f, s->y[i]);
        if (s->steps) {
            /* the value of point i holds over (x[i-1], x[i]]: a flat segment then a riser */
            double prev = i > 0 ? s->x[i - 1] : (s->n > 1 ? s->x[0] - (s->x[1] - s->x[0]) : s->x[0]);
            double qx = map_x(f, fmax(prev, f->xmin));
            if (pen_down)
                cairo_line_to(cr, qx, py);
            else
                cairo_move_to(cr, qx, py);
            cairo_line_to(cr, px, py);
        } else if (pen_down) {
            cairo_line_to(cr, px, py);
        } else {
            cairo_move_to(cr, px, py);
        }
        pen_down = true;
    }
    set_color(cr, s->color, 1);
    double width = s->width > 0 ? s->width : 2;
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    if (s->dashed) {
        double dash[2] = {4 * width + 2, 2.5 * width + 2};
        cairo_set_dash(cr, dash, 2, 0);
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    if (s->markers)
        for (int i = 0; i < s->n; i++)
            if (usable(f, s->y[i])) {
                cairo_arc(cr, map_x(f, s->x[i]), map_y(f, s->y[i]), width + 1.5, 0, 2 * M_PI);
                cairo_fill(cr);
            }
}

/* How much of the drawn lines falls inside a rectangle (legend placement):
 * points sampled along every segment, so long straight segments count too. */
static int points_inside(const Frame *f, const PlotPanel *p, double x, double y, double w, double h)
{
    int count = 0;
    for (int s = 0; s < p->nseries; s++) {
        const PlotSeries *ps = &p->series[s];
        for (int i = 0; i < ps->n; i++) {
            if (!usable(f, ps->y[i]))
                continue;
            double px = map_x(f, ps->x[i]), py = map_y(f, ps->y[i]);
            int steps = i + 1 < ps->n && usable(f, ps->y[i + 1]) ? 24 : 1;
            double qx = steps > 1 ? map_x(f, ps->x[i + 1]) : px, qy = steps > 1 ? map_y(f, ps->y[i + 1]) : py;
            for (int k = 0; k < steps; k++) {
                double t = (double)k / steps, sx = px + (qx - px) * t, sy = py + (qy - py) * t;
                count += sx >= x && sx <= x + w && sy >= y && sy <= y + h;
            }
        }
    }
    return count;
}

static void draw_legend(cairo_t *cr, const Frame *f, const PlotPanel *p)
{
    int entries = 0;
    double text_w = 0;
    for (int s = 0; s < p->nseries; s++)
        if (p->series[s].label && *p->series[s].label) {
            entries++;
            text_w = fmax(text_w, plot_text_width(cr, p->series[s].label, FONT_LEGEND, false));
        }
    double note_w = p->note ? plot_text_width(cr, p->note, FONT_LEGEND - 2, false) : 0;
    if (entries == 0 && !p->note)
        return;
    const double row = 19, pad = 8, sample = 30;
    double w = fmax(pad * 3 + sample + text_w, note_w + 2 * pad);
    double h = entries * row + pad * 2 + (p->note ? row - 3 : 0);
    /* try the four corners; keep the one covering the fewest points */
    const double m = 8;
    double cx[4] = {f->x0 + f->w - w - m, f->x0 + m, f->x0 + f->w - w - m, f->x0 + m};
    double cy[4] = {f->y0 + m, f->y0 + m, f->y0 + f->h - h - m, f->y0 + f->h - h - m};
    int best = 0, best_count = -1;
    for (int k = 0; k < 4; k++) {
        int c = points_inside(f, p, cx[k], cy[k], w, h);
        if (best_count < 0 || c < best_count) {
            best = k;
            best_count = c;
        }
    }
    double x = cx[best], y = cy[best];
    cairo_rectangle(cr, x, y, w, h);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    double ly = y + pad + row / 2;
    for (int s = 0; s < p->nseries; s++) {
        const PlotSeries *ps = &p->series[s];
        if (!ps->label || !*ps->label)
            continue;
        if (ps->lo && ps->hi) {
            cairo_rectangle(cr, x + pad, ly - 6, sample, 12);
            set_color(cr, ps->color, 0.20);
            cairo_fill(cr);
        }
        cairo_move_to(cr, x + pad, ly);
        cairo_line_to(cr, x + pad + sample, ly);
        set_color(cr, ps->color, 1);
        double width = ps->width > 0 ? ps->width : 2;
        cairo_set_line_width(cr, width);
        if (ps->dashed) {
            double dash[2] = {4 * width + 2, 2.5 * width + 2};
            cairo_set_dash(cr, dash, 2, 0);
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, x + pad * 2 + sample, ly, ps->label, FONT_LEGEND, PLOT_LEFT, false);
        ly += row;
    }
    if (p->note) {
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        plot_text(cr, x + pad, ly - 2, p->note, FONT_LEGEND - 2, PLOT_LEFT, false);
    }
}

void plot_panel_draw(PlotCanvas *c, const PlotPanel *p, double x, double y, double w, double h)
{
    cairo_t *cr = plot_canvas_cairo(c);
    Frame f = {.ylog = p->ylog};
    data_range(p, p->ylog, &f.xmin, &f.xmax, &f.ymin, &f.ymax);
    if (!isfinite(f.xmin)) {            /* nothing to draw: an empty frame with a note */
        f.xmin = 0, f.xmax = 1, f.ymin = p->ylog ? 0.1 : 0, f.ymax = 1;
    }
    if (f.xmax <= f.xmin)
        f.xmax = f.xmin + 1;
    if (f.ymax <= f.ymin) {
        double d = f.ylog ? f.ymin * 0.5 : fmax(fabs(f.ymin) * 0.1, 1e-3);
        f.ymin -= d;
        f.ymax += d;
    }
    if (f.ylog) {                       /* pad a little, in log space */
        double a = log10(f.ymin), b = log10(f.ymax), pad = (b - a) * 0.04;
        f.ymin = pow(10, a - pad);
        f.ymax = pow(10, b + pad);
    } else {
        double pad = (f.ymax - f.ymin) * 0.04;
        f.ymin -= pad;
        f.ymax += pad;
    }
    if (isfinite(p->xmin)) f.xmin = p->xmin;
    if (isfinite(p->xmax)) f.xmax = p->xmax;
    if (isfinite(p->ymin)) f.ymin = p->ymin;
    if (isfinite(p->ymax)) f.ymax = p->ymax;

    double top = p->title ? 28 : 8;
    f.x0 = x + 74;
    f.y0 = y + top;
    f.w = w - 74 - 16;
    f.h = h - top - 52;

    if (p->title) {
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, f.x0 + f.w / 2, y + 13, p->title, FONT_PANEL_TITLE, PLOT_CENTER, true);
    }

    /* grid and ticks */
    double ticks[MAX_TICKS];
    bool major[MAX_TICKS];
    char buf[32];
    cairo_set_line_width(cr, 1);
    int nx = linear_ticks(f.xmin, f.xmax, (int)fmax(3, f.w / 110), ticks, p->xinteger);
    for (int i = 0; i < nx; i++) {
        double px = map_x(&f, ticks[i]);
        cairo_set_source_rgb(cr, 0.90, 0.90, 0.90);
        cairo_move_to(cr, px, f.y0);
        cairo_line_to(cr, px, f.y0 + f.h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_move_to(cr, px, f.y0 + f.h);
        cairo_line_to(cr, px, f.y0 + f.h + 5);
        cairo_stroke(cr);
        format_tick(buf, sizeof buf, ticks[i], p->xthousands);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        plot_text(cr, px, f.y0 + f.h + 15, buf, FONT_TICK, PLOT_CENTER, false);
    }
    int ny;
    if (f.ylog) {
        ny = log_ticks(f.ymin, f.ymax, ticks, major);
    } else {
        ny = linear_ticks(f.ymin, f.ymax, (int)fmax(3, f.h / 70), ticks, false);
        for (int i = 0; i < ny; i++)
            major[i] = true;
    }
    for (int i = 0; i < ny; i++) {
        double py = map_y(&f, ticks[i]);
        cairo_set_source_rgb(cr, major[i] ? 0.88 : 0.95, major[i] ? 0.88 : 0.95, major[i] ? 0.88 : 0.95);
        cairo_move_to(cr, f.x0, py);
        cairo_line_to(cr, f.x0 + f.w, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_move_to(cr, f.x0 - (major[i] ? 5 : 3), py);
        cairo_line_to(cr, f.x0, py);
        cairo_stroke(cr);
        if (major[i]) {
            format_tick(buf, sizeof buf, ticks[i], false);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            plot_text(cr, f.x0 - 8, py, buf, FONT_TICK, PLOT_RIGHT, false);
        }
    }

    /* series, clipped to the plot area: bands first so every line stays visible */
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_clip(cr);
    for (int s = 0; s < p->nseries; s++)
        draw_band(cr, &f, &p->series[s]);
    for (int s = 0; s < p->nseries; s++)
        draw_line(cr, &f, &p->series[s]);
    cairo_restore(cr);

    /* frame and axis labels */
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1.2);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (p->xlabel)
        plot_text(cr, f.x0 + f.w / 2, f.y0 + f.h + 38, p->xlabel, FONT_LABEL, PLOT_CENTER, false);
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, x + 16, f.y0 + f.h / 2);
        cairo_rotate(cr, -M_PI / 2);
        plot_text(cr, 0, 0, p->ylabel, FONT_LABEL, PLOT_CENTER, false);
        cairo_restore(cr);
    }
    draw_legend(cr, &f, p);
}
