/* The study's two diagrams, drawn from the network description (lib/net.h)
 * rather than by hand, so they cannot disagree with what is trained:
 *   Fig. 2-1  plain block beside residual block (layers of the first block)
 *   Fig. 2-2  the CIFAR net: stem, three stages with their output sizes, head */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void rounded_box(cairo_t *cr, double x, double y, double w, double h, PlotColor fill)
{
    double r = fmin(8, fmin(w, h) / 4);
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
    cairo_set_source_rgb(cr, fill.r, fill.g, fill.b);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1.3);
    cairo_stroke(cr);
}

/* A line from (x0,y0) to (x1,y1) ending in a filled arrow head. */
static void arrow(cairo_t *cr, double x0, double y0, double x1, double y1)
{
    double a = atan2(y1 - y0, x1 - x0), len = 9;
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1.6);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1 - cos(a) * len * 0.8, y1 - sin(a) * len * 0.8);
    cairo_stroke(cr);
    cairo_move_to(cr, x1, y1);
    cairo_line_to(cr, x1 - len * cos(a - 0.4), y1 - len * sin(a - 0.4));
    cairo_line_to(cr, x1 - len * cos(a + 0.4), y1 - len * sin(a + 0.4));
    cairo_close_path(cr);
    cairo_fill(cr);
}

static const PlotColor CONV_FILL = {0.87, 0.92, 0.97};
static const PlotColor RELU_FILL = {0.99, 0.93, 0.85};
static const PlotColor HEAD_FILL = {0.90, 0.95, 0.88};

/* One block as a vertical flow centred at cx; returns nothing, draws. */
static void draw_block(cairo_t *cr, const RnBlock *b, double cx, double top, bool residual, const char *title)
{
    const double bw = 190, bh = 38, gap = 30;
    char line[96];
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    plot_text(cr, cx, top, title, 15, PLOT_CENTER, true);
    double y = top + 28;
    snprintf(line, sizeof line, "x  (%d channels, %dx%d)", b->conv1.in_c, b->conv1.in_hw, b->conv1.in_hw);
    plot_text(cr, cx, y, line, 12.5, PLOT_CENTER, false);
    double x_point = y + 10;           /* where the shortcut leaves */
    y += 22;
    arrow(cr, cx, x_point, cx, y);
    const RnConvBn *convs[2] = {&b->conv1, &b->conv2};
    double f_top = y;
    for (int k = 0; k < 2; k++) {
        const RnConvBn *cv = convs[k];
        rounded_box(cr, cx - bw / 2, y, bw, bh, CONV_FILL);
        snprintf(line, sizeof line, "%dx%d conv, %d%s", cv->kernel, cv->kernel, cv->out_c,
                 cv->stride > 1 ? ", /2" : "");
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, cx, y + 13, line, 13, PLOT_CENTER, true);
        plot_text(cr, cx, y + 28, "batch norm", 11.5, PLOT_CENTER, false);
        y += bh;
        arrow(cr, cx, y, cx, y + gap);
        y += gap;
        if (k == 0) {
            rounded_box(cr, cx - bw / 2 + 45, y, bw - 90, 26, RELU_FILL);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            plot_text(cr, cx, y + 13, "ReLU", 12.5, PLOT_CENTER, false);
            y += 26;
            arrow(cr, cx, y, cx, y + gap);
            y += gap;
        }
    }
    double f_bottom = y - gap;
    if (residual) {
        /* the addition node, fed by F(x) from above and x from the shortcut */
        const double r = 13;
        cairo_arc(cr, cx, y + r, r, 0, 2 * M_PI);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_set_line_width(cr, 1.5);
        cairo_stroke(cr);
        cairo_move_to(cr, cx - 7, y + r);
        cairo_line_to(cr, cx + 7, y + r);
        cairo_move_to(cr, cx, y + r - 7);
        cairo_line_to(cr, cx, y + r + 7);
        cairo_stroke(cr);
        double sx = cx + bw / 2 + 45;
        cairo_set_source_rgb(cr, 0.0, 0.45, 0.70);
        cairo_set_line_width(cr, 2.2);
        cairo_move_to(cr, cx, x_point);
        cairo_line_to(cr, sx - 12, x_point);
        cairo_arc(cr, sx - 12, x_point + 12, 12, -M_PI / 2, 0);
        cairo_line_to(cr, sx, y + r - 12);
        cairo_arc(cr, sx - 12, y + r - 12, 12, 0, M_PI / 2);
        cairo_stroke(cr);
        arrow(cr, sx - 12, y + r, cx + r, y + r);
        const char *kind = b->shortcut == RN_SC_PROJ ? "projection Ws x" :
                           b->shortcut == RN_SC_PAD ? "x, zero-padded" : "identity x";
        cairo_set_source_rgb(cr, 0.0, 0.45, 0.70);
        cairo_save(cr);
        cairo_translate(cr, sx + 14, (x_point + y + r) / 2);
        cairo_rotate(cr, M_PI / 2);
        plot_text(cr, 0, 0, kind, 13, PLOT_CENTER, true);
        cairo_restore(cr);
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        plot_text(cr, cx - bw / 2 - 10, (f_top + f_bottom) / 2, "F(x)", 14, PLOT_RIGHT, true);
        y += 2 * r;
        arrow(cr, cx, y, cx, y + gap);
        y += gap;
    }
    rounded_box(cr, cx - bw / 2 + 45, y, bw - 90, 26, RELU_FILL);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    plot_text(cr, cx, y + 13, "ReLU", 12.5, PLOT_CENTER, false);
    y += 26;
    arrow(cr, cx, y, cx, y + 24);
    y += 36;
    plot_text(cr, cx, y, residual ? "H(x) = F(x) + x" : "H(x)", 13, PLOT_CENTER, true);
}

void plot_blocks_diagram(PlotCanvas *c, const RnNet *plain, const RnNet *resnet, double top)
{
    cairo_t *cr = plot_canvas_cairo(c);
    double w = plot_canvas_width(c);
    draw_block(cr, &plain->blocks[0], w * 0.27, top + 10, false, "Plain block");
    draw_block(cr, &resnet->blocks[0], w * 0.66, top + 10, true, "Residual block");
}

/* ------------------------------------------------------------------ architecture */

typedef struct {
    char name[32], line1[48], line2[48], size[32];
    double height;        /* relative: spatial size */
    PlotColor fill;
    int blocks;           /* > 0: a stage drawn with one cell per block */
} ArchBox;

void plot_architecture_diagram(PlotCanvas *c, const RnNet *net, double top)
{
    cairo_t *cr = plot_canvas_cairo(c);
    double W = plot_canvas_width(c), H = plot_canvas_height(c);
    ArchBox boxes[8];
    int nb = 0;
    const RnConvBn *stem = &net->stem;
    ArchBox *b = &boxes[nb++];
    *b = (ArchBox){.fill = {0.95, 0.95, 0.95}, .height = stem->in_hw};
    snprintf(b->name, sizeof b->name, "input");
    snprintf(b->line1, sizeof b->line1, "image");
    snprintf(b->size, sizeof b->size, "%dx%dx%d", stem->in_hw, stem->in_hw, stem->in_c);
    b = &boxes[nb++];
    *b = (ArchBox){.fill = CONV_FILL, .height = stem->out_hw};
    snprintf(b->name, sizeof b->name, "conv1");
    snprintf(b->line1, sizeof b->line1, "%dx%d conv, %d", stem->kernel, stem->kernel, stem->out_c);
    snprintf(b->line2, sizeof b->line2, "BN, ReLU");
    snprintf(b->size, sizeof b->size, "%dx%dx%d", stem->out_hw, stem->out_hw, stem->out_c);
    /* one box per stage, read from the block list */
    for (int s = 1; s <= 3; s++) {
        const RnBlock *first = NULL, *last = NULL;
        int count = 0;
        for (int i = 0; i < net->nblocks; i++)
            if (net->blocks[i].stage == s) {
                if (!first)
                    first = &net->blocks[i];
                last = &net->blocks[i];
                count++;
            }
        if (!first)
            continue;
        b = &boxes[nb++];
        *b = (ArchBox){.fill = CONV_FILL, .height = last->conv2.out_hw, .blocks = count};
        snprintf(b->name, sizeof b->name, "stage %d", s);
        snprintf(b->line1, sizeof b->line1, "%d x [3x3, %d; 3x3, %d]", count, last->conv2.out_c, last->conv2.out_c);
        snprintf(b->line2, sizeof b->line2, "%d layers%s", 2 * count, first->conv1.stride > 1 ? ", first /2" : "");
        snprintf(b->size, sizeof b->size, "%dx%dx%d", last->conv2.out_hw, last->conv2.out_hw, last->conv2.out_c);
    }
    b = &boxes[nb++];
    *b = (ArchBox){.fill = HEAD_FILL, .height = 1};
    snprintf(b->name, sizeof b->name, "pool");
    snprintf(b->line1, sizeof b->line1, "global avg");
    snprintf(b->line2, sizeof b->line2, "pool");
    snprintf(b->size, sizeof b->size, "1x1x%d", net->fc_in);
    b = &boxes[nb++];
    *b = (ArchBox){.fill = HEAD_FILL, .height = 1};
    snprintf(b->name, sizeof b->name, "fc");
    snprintf(b->line1, sizeof b->line1, "fc, %d", net->cfg.classes);
    snprintf(b->line2, sizeof b->line2, "softmax");
    snprintf(b->size, sizeof b->size, "%d", net->cfg.classes);

    /* widths: stages wider (they hold the blocks), the rest compact */
    double widths[8], total = 0;
    for (int i = 0; i < nb; i++) {
        widths[i] = boxes[i].blocks ? 200 : 104;
        total += widths[i];
    }
    double gap = 26, scale = (W - 40 - gap * (nb - 1)) / total;
    double x = 20, mid = top + (H - top) * 0.47, max_h = (H - top) * 0.55;
    bool residual = net->cfg.arch == RN_ARCH_RESNET;
    for (int i = 0; i < nb; i++) {
        ArchBox *a = &boxes[i];
        double bw = widths[i] * scale;
        /* height follows the spatial size (32 -> tall, 8 -> short), never below the text */
        double bh = fmax(70, max_h * sqrt(a->height / 32.0));
        double y = mid - bh / 2;
        rounded_box(cr, x, y, bw, bh, a->fill);
        if (a->blocks > 0) {
            /* one cell per block; residual nets get a skip arc over every block */
            int shown = a->blocks > 24 ? 24 : a->blocks;
            double cw = bw / shown;
            cairo_set_source_rgba(cr, 0.25, 0.25, 0.25, 0.35);
            cairo_set_line_width(cr, 1);
            for (int k = 1; k < shown; k++) {
                cairo_move_to(cr, x + k * cw, y + 4);
                cairo_line_to(cr, x + k * cw, y + bh - 4);
                cairo_stroke(cr);
            }
            if (residual)
                for (int k = 0; k < shown; k++) {
                    cairo_set_source_rgb(cr, 0.0, 0.45, 0.70);
                    cairo_set_line_width(cr, 1.6);
                    cairo_save(cr);
                    cairo_translate(cr, x + (k + 0.5) * cw, y);
                    cairo_scale(cr, cw * 0.42, fmin(14, cw * 0.6));
                    cairo_arc(cr, 0, 0, 1, M_PI, 2 * M_PI);
                    cairo_restore(cr);
                    cairo_stroke(cr);
                }
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, x + bw / 2, y - (a->blocks && residual ? 26 : 12), a->name, 13.5, PLOT_CENTER, true);
        double fs = fmin(12.5, 12.5 * bw / fmax(plot_text_width(cr, a->line1, 12.5, false) + 10, 1));
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        double tw = fmax(plot_text_width(cr, a->line1, fs, false), plot_text_width(cr, a->line2, fs, false));
        cairo_rectangle(cr, x + bw / 2 - tw / 2 - 4, mid - 20, tw + 8, 40);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, x + bw / 2, mid - (a->line2[0] ? 9 : 0), a->line1, fs, PLOT_CENTER, false);
        if (a->line2[0])
            plot_text(cr, x + bw / 2, mid + 9, a->line2, fs, PLOT_CENTER, false);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        plot_text(cr, x + bw / 2, mid + max_h / 2 + 24, a->size, 12.5, PLOT_CENTER, false);
        if (i + 1 < nb)
            arrow(cr, x + bw + 3, mid, x + bw + gap - 3, mid);
        x += bw + gap;
    }
    char line[320], label[32], digits[32], params[48];
    rn_net_label(&net->cfg, label, sizeof label);
    snprintf(digits, sizeof digits, "%zu", net->nparams);   /* 853018 -> 853,018 */
    size_t nd = strlen(digits), o = 0;
    for (size_t i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            params[o++] = ',';
        params[o++] = digits[i];
    }
    params[o] = 0;
    snprintf(line, sizeof line, "%s: n = %d blocks per stage, 6n+2 = %d weighted layers, %s parameters%s",
             label, net->n, net->cfg.depth, params,
             residual ? " (blue arcs: shortcuts)" : " (no shortcuts)");
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    plot_text(cr, W / 2, H - 18, line, 12.5, PLOT_CENTER, false);
}
