/* The canvas: a cairo surface whose bytes go through lib/io.h's atomic
 * output, so a failed run never leaves a half-written figure. PNG is drawn on
 * an image surface and encoded at close; SVG streams as cairo draws. */
#include "plot.h"

#include "err.h"
#include "io.h"

#include <cairo-svg.h>
#include <stdlib.h>
#include <string.h>

/* fontconfig comes with cairo (its font backend) but is not on our link line:
 * a weak reference finds it at run time when it is loaded, else stays NULL. */
extern void FcFini(void) __attribute__((weak));

struct PlotCanvas {
    cairo_surface_t *surface;
    cairo_t *cr;
    RnOut *out;
    bool svg;
    double width, height;
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool plot_path_is_figure(const char *path)
{
    return rn_is_stdio(path) || has_suffix(path, ".png") || has_suffix(path, ".svg");
}

/* cairo's stream callback: every byte goes to the atomic output. */
static cairo_status_t write_to_out(void *closure, const unsigned char *data, unsigned int length)
{
    rn_out_write(closure, data, length);
    return CAIRO_STATUS_SUCCESS;
}

static void check_cairo(cairo_status_t st, const char *path)
{
    if (st != CAIRO_STATUS_SUCCESS)
        rn_die("cannot draw %s: %s", path, cairo_status_to_string(st));
}

PlotCanvas *plot_canvas_open(const char *path, double width, double height)
{
    if (!plot_path_is_figure(path))
        rn_usage_error("output %s: the name must end in .png or .svg", path);
    if (width < 50 || height < 50 || width > 10000 || height > 10000)
        rn_usage_error("figure size %gx%g out of range (50..10000)", width, height);
    PlotCanvas *c = rn_xcalloc(1, sizeof *c);
    c->width = width;
    c->height = height;
    c->svg = has_suffix(path, ".svg");
    c->out = rn_out_open(path);
    if (c->svg)
        c->surface = cairo_svg_surface_create_for_stream(write_to_out, c->out, width, height);
    else
        c->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)width, (int)height);
    check_cairo(cairo_surface_status(c->surface), path);
    c->cr = cairo_create(c->surface);
    check_cairo(cairo_status(c->cr), path);
    /* white paper */
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    return c;
}

cairo_t *plot_canvas_cairo(PlotCanvas *c) { return c->cr; }
double plot_canvas_width(const PlotCanvas *c) { return c->width; }
double plot_canvas_height(const PlotCanvas *c) { return c->height; }

void plot_canvas_close(PlotCanvas *c)
{
    const char *path = rn_out_path(c->out);
    check_cairo(cairo_status(c->cr), path);
    cairo_destroy(c->cr);
    if (c->svg) {
        cairo_surface_finish(c->surface);           /* flushes the SVG stream */
    } else {
        cairo_surface_flush(c->surface);
        check_cairo(cairo_surface_write_to_png_stream(c->surface, write_to_out, c->out), path);
    }
    check_cairo(cairo_surface_status(c->surface), path);
    cairo_surface_destroy(c->surface);
    rn_out_commit(c->out);
    free(c);
    /* Release cairo's font caches (they hold fontconfig patterns) and then
     * fontconfig's own, so that LeakSanitizer sees a clean exit. Nothing of
     * cairo is alive any more. */
    cairo_debug_reset_static_data();
    if (FcFini)
        FcFini();
}

void plot_text(cairo_t *cr, double x, double y, const char *s, double size, int align, bool bold)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    /* centre on the height of capital letters so baselines line up */
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double dx = align == PLOT_CENTER ? -te.x_advance / 2 : align == PLOT_RIGHT ? -te.x_advance : 0;
    cairo_move_to(cr, x + dx, y + (fe.ascent - fe.descent) / 2);
    cairo_show_text(cr, s);
}

double plot_text_width(cairo_t *cr, const char *s, double size, bool bold)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

double plot_draw_title(PlotCanvas *c, const char *title)
{
    if (!title || !*title)
        return 8;
    cairo_set_source_rgb(c->cr, 0.1, 0.1, 0.1);
    plot_text(c->cr, c->width / 2, 22, title, 18, PLOT_CENTER, true);
    return 42;
}

PlotColor plot_palette(int i)
{
    /* Okabe-Ito, reordered so the first four (the 2x2 experiment) contrast well */
    static const PlotColor colors[] = {
        {0.000, 0.447, 0.698},   /* blue */
        {0.835, 0.369, 0.000},   /* vermillion */
        {0.000, 0.620, 0.451},   /* bluish green */
        {0.800, 0.475, 0.655},   /* reddish purple */
        {0.902, 0.624, 0.000},   /* orange */
        {0.337, 0.706, 0.914},   /* sky blue */
        {0.941, 0.894, 0.259},   /* yellow */
        {0.300, 0.300, 0.300},   /* grey */
    };
    int n = (int)(sizeof colors / sizeof colors[0]);
    return colors[((i % n) + n) % n];
}
