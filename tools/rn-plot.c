/* rn-plot: metrics, eval and weights files in; figures (PNG, SVG), tables
 * (Markdown, TSV) and the report out.
 *
 *   rn-plot loss|accuracy|error|lr  [options] METRICS... -o OUT.png|OUT.svg
 *   rn-plot responses|confusion     [options] EVAL...    -o OUT.png|OUT.svg
 *   rn-plot blocks|architecture     [--depth D --arch A] -o OUT.png|OUT.svg
 *   rn-plot table NAME              FILES... -o OUT.md|OUT.tsv
 *   rn-plot report --template T.md  FILES... -o REPORT.md
 *
 * Runs with the same metrics label (up to " seed N") are one net: drawn as the
 * mean over seeds with a min-max band. */
#include "err.h"
#include "he2016.h"
#include "io.h"
#include "net.h"
#include "opts.h"
#include "plot.h"
#include "report.h"
#include "runs.h"
#include "tables.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *output, *title, *template_path, *arch;
    int width, height, depth;
    const char *shortcut;
    int deep;
} Options;

static const char *const COMMANDS =
    "Commands (each takes -o OUT; figures are PNG or SVG by the suffix):\n"
    "  loss         training loss per epoch, one line per net (study Fig. 4-1)      METRICS...\n"
    "  accuracy     test accuracy per epoch (study Fig. 4-2)                       METRICS...\n"
    "  error        the paper's Fig. 6: train (dashed) and test (bold) error per\n"
    "               iteration, plain nets left, residual nets right                METRICS...\n"
    "  lr           the learning rate as recorded, per epoch (study Fig. 3-1)      METRICS...\n"
    "  responses    std of each 3x3 layer's response (paper Fig. 7)                EVAL...\n"
    "  confusion    the confusion matrix as a heatmap (several files are summed)   EVAL...\n"
    "  fig6         the paper's Fig. 6 in its three panels: plain nets, ResNets,\n"
    "               and the deepest (ResNets of --deep D layers or more, default\n"
    "               1202, beside the deepest below D)                              METRICS... [INFO]\n"
    "  fig7         the paper's Fig. 7: response std in layer order (top) and\n"
    "               sorted (bottom)                                                EVAL...\n"
    "  blocks       plain block beside residual block (study Fig. 2-1)             [--depth D]\n"
    "  architecture the CIFAR net, its stages and output sizes (study Fig. 2-2)    [--arch A --depth D]\n"
    "  table NAME   results|params|network|training|comparison|runs|table6         FILES...\n"
    "               as .md or .tsv (table6: the paper's Table 6, test error of the final weights\n"
    "               from eval files against the paper's, with the spread over runs)\n"
    "  report       fill --template with tables, observations and info            FILES...\n"
    "FILES may be metrics, eval, weights/checkpoint or info (KEY<TAB>VALUE lines) files, in any\n"
    "order: the kind is read from the first bytes. Several seeds of a net (metrics labels\n"
    "'NAME seed N') are drawn as the mean with a min-max band and tabulated as mean ± std.\n"
    "A global info file (no 'label' line) with 'heldout<TAB>val' tells fig6 and table6 that the\n"
    "per-epoch evaluation was on the validation split (the he2016 pipeline's VAL=1).";

/* ---------------------------------------------------------------- figures */

static void need_runs(const RunSet *rs, const char *what)
{
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].nruns)
            return;
    rn_usage_error("no metrics files given (the %s figure is drawn from rn-train's metrics)", what);
}

static bool any_seeds(const RunSet *rs)
{
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].nruns > 1 || rs->groups[i].nevals > 1)
            return true;
    return false;
}

/* One series per net for a metric; arrays owned by the caller (free_series). */
static int metric_series(const RunSet *rs, MetricField f, bool by_iter, PlotSeries *out, int filter_arch,
                         bool dashed, double width, bool label)
{
    int ns = 0;
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (!g->nruns || (filter_arch >= 0 && (!g->have_cfg || (int)g->cfg.arch != filter_arch)))
            continue;
        double *x, *mean, *lo, *hi;
        int n = group_curve(g, f, by_iter, &x, &mean, &lo, &hi);
        out[ns++] = (PlotSeries){.label = label ? g->name : NULL, .n = n, .x = x, .y = mean,
                                 .lo = g->nruns > 1 ? lo : NULL, .hi = g->nruns > 1 ? hi : NULL,
                                 .color = i, .width = width, .dashed = dashed};
        if (g->nruns <= 1) {
            free(lo);
            free(hi);
        }
    }
    return ns;
}

static void free_series(PlotSeries *s, int n)
{
    for (int i = 0; i < n; i++) {
        free((void *)s[i].x);
        free((void *)s[i].y);
        free((void *)s[i].lo);
        free((void *)s[i].hi);
    }
}

static const char *seed_note(const RunSet *rs)
{
    return any_seeds(rs) ? "lines: mean over seeds; shaded: min-max" : NULL;
}

/* Nets with the same schedule would draw the same line over each other: keep
 * one line per distinct curve, labelled with every net that has it. */
static void merge_identical(PlotSeries *s, int *n, char labels[][256], size_t cap)
{
    int kept = 0;
    for (int i = 0; i < *n; i++) {
        int same = -1;
        for (int k = 0; k < kept && same < 0; k++)
            if (s[k].n == s[i].n && memcmp(s[k].y, s[i].y, sizeof *s[i].y * (size_t)s[i].n) == 0 &&
                memcmp(s[k].x, s[i].x, sizeof *s[i].x * (size_t)s[i].n) == 0)
                same = k;
        if (same < 0) {
            if ((size_t)kept < cap) {
                snprintf(labels[kept], sizeof labels[0], "%s", s[i].label);
                PlotSeries keep = s[i];
                s[i] = s[kept];
                s[kept] = keep;
                s[kept].label = labels[kept];
                kept++;
            }
            continue;
        }
        size_t used = strlen(labels[same]);
        snprintf(labels[same] + used, sizeof labels[0] - used, ", %s", s[i].label);
    }
    for (int i = kept; i < *n; i++) {      /* the duplicates: free their arrays */
        free((void *)s[i].x);
        free((void *)s[i].y);
        free((void *)s[i].lo);
        free((void *)s[i].hi);
    }
    *n = kept;
}

static void figure_metric(const Options *o, const RunSet *rs, const char *cmd)
{
    need_runs(rs, cmd);
    PlotSeries s[RUNS_MAX_NETS];
    static char merged[RUNS_MAX_NETS][256];
    PlotPanel p = {.xmin = NAN, .xmax = NAN, .ymin = NAN, .ymax = NAN, .xlabel = "epoch", .xinteger = true,
                 .note = seed_note(rs)};
    const char *title;
    if (strcmp(cmd, "loss") == 0) {
        p.nseries = metric_series(rs, METRIC_TRAIN_LOSS, false, s, -1, false, 2.2, true);
        p.ylabel = "training loss (cross-entropy, log scale)";
        p.ylog = true;
        title = "Training loss";
    } else if (strcmp(cmd, "accuracy") == 0) {
        p.nseries = metric_series(rs, METRIC_TEST_ACC_PCT, false, s, -1, false, 2.2, true);
        p.ylabel = "test accuracy (%)";
        title = "Test accuracy";
    } else {
        p.nseries = metric_series(rs, METRIC_LR, false, s, -1, false, 2.2, true);
        for (int i = 0; i < p.nseries; i++)
            s[i].steps = true;
        merge_identical(s, &p.nseries, merged, sizeof merged);
        p.xmin = 0;                     /* epoch 1's lr holds over (0, 1] */
        p.ylabel = "learning rate (log scale)";
        p.ylog = true;
        title = "Learning-rate schedule (as recorded)";
    }
    p.series = s;
    PlotCanvas *c = plot_canvas_open(o->output, o->width, o->height);
    double top = plot_draw_title(c, o->title ? o->title : title);
    plot_panel_draw(c, &p, 10, top, o->width - 20, o->height - top - 8);
    plot_canvas_close(c);
    free_series(s, p.nseries);
}

/* The paper's Fig. 6: per architecture, thin dashed training error and bold test error. */
static void figure_error(const Options *o, const RunSet *rs)
{
    need_runs(rs, "error");
    PlotSeries s[2][2 * RUNS_MAX_NETS];
    PlotPanel p[2];
    double ymax = 0;
    const char *names[2] = {"Plain nets", "Residual nets"};
    for (int a = 0; a < 2; a++) {
        int n = metric_series(rs, METRIC_TRAIN_ERR_PCT, true, s[a], a, true, 1.2, false);
        n += metric_series(rs, METRIC_TEST_ERR_PCT, true, s[a] + n, a, false, 2.6, true);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s[a][i].n; k++) {
                double v = s[a][i].hi ? s[a][i].hi[k] : s[a][i].y[k];
                if (isfinite(v))
                    ymax = fmax(ymax, v);
            }
        p[a] = (PlotPanel){.title = names[a], .xlabel = "iteration", .ylabel = "error (%)", .xthousands = true,
                           .xinteger = true, .xmin = NAN, .xmax = NAN, .ymin = 0, .ymax = NAN, .series = s[a], .nseries = n,
                           .note = "dashed: training error; bold: test error"};
    }
    for (int a = 0; a < 2; a++)
        p[a].ymax = ymax > 0 ? fmin(100, ymax * 1.05) : 100;
    PlotCanvas *c = plot_canvas_open(o->output, o->width, o->height);
    double top = plot_draw_title(c, o->title ? o->title : "Training and test error (paper Fig. 6 style)");
    double w = (o->width - 20) / 2;
    for (int a = 0; a < 2; a++)
        plot_panel_draw(c, &p[a], 10 + a * w, top, w, o->height - top - 8);
    plot_canvas_close(c);
    for (int a = 0; a < 2; a++)
        free_series(s[a], p[a].nseries);
}

static void need_evals(const RunSet *rs, const char *what)
{
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].nevals)
            return;
    rn_usage_error("no eval files given (the %s figure is drawn from rn-eval's output)", what);
}

/* Paper Fig. 7: std of the layer responses, in layer order and sorted. */
static void figure_responses(const Options *o, const RunSet *rs)
{
    need_evals(rs, "responses");
    PlotSeries s[2][RUNS_MAX_NETS];
    int ns = 0;
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (!g->nevals)
            continue;
        for (int sorted = 0; sorted < 2; sorted++) {
            s[sorted][ns] = plot_response_series(g, sorted, "responses");
            s[sorted][ns].color = i;
            s[sorted][ns].width = 1.8;
        }
        ns++;
    }
    PlotPanel p[2] = {
        {.title = "By layer index", .xlabel = "layer index (3x3 conv, in order)", .ylabel = "std of response", .xinteger = true,
         .xmin = NAN, .xmax = NAN, .ymin = 0, .ymax = NAN, .series = s[0], .nseries = ns, .note = seed_note(rs)},
        {.title = "Sorted by magnitude", .xlabel = "rank", .ylabel = "std of response", .xinteger = true,
         .xmin = NAN, .xmax = NAN, .ymin = 0, .ymax = NAN, .series = s[1], .nseries = ns},
    };
    PlotCanvas *c = plot_canvas_open(o->output, o->width, o->height);
    double top = plot_draw_title(c, o->title ? o->title : "Layer responses on the test set (paper Fig. 7 style)");
    double w = (o->width - 20) / 2;
    for (int a = 0; a < 2; a++)
        plot_panel_draw(c, &p[a], 10 + a * w, top, w, o->height - top - 8);
    plot_canvas_close(c);
    free_series(s[0], ns);
    free_series(s[1], ns);
}

static void figure_confusion(const Options *o, const RunSet *rs)
{
    need_evals(rs, "confusion");
    const RnEval *first = NULL;
    int files = 0;
    char names_joined[256] = "";
    for (int i = 0; i < rs->ngroups; i++)
        for (int e = 0; e < rs->groups[i].nevals; e++) {
            if (!first)
                first = rs->groups[i].evals[e];
            files++;
        }
    int n = (int)first->classes;
    unsigned *sum = rn_xcalloc((size_t)n * (size_t)n, sizeof *sum);
    unsigned long total = 0, correct = 0;
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (g->nevals)
            snprintf(names_joined + strlen(names_joined), sizeof names_joined - strlen(names_joined), "%s%s",
                     names_joined[0] ? " + " : "", g->name);
        for (int e = 0; e < g->nevals; e++) {
            const RnEval *ev = g->evals[e];
            if ((int)ev->classes != n)
                rn_die("confusion: eval files disagree on the number of classes (%d vs %u)", n, ev->classes);
            for (int k = 0; k < n * n; k++) {
                sum[k] += ev->confusion[k];
                total += ev->confusion[k];
                if (k / n == k % n)
                    correct += ev->confusion[k];
            }
        }
    }
    const char *names[RN_MAX_CLASSES];
    for (int k = 0; k < n; k++)
        names[k] = first->class_names[k];
    char title[400];
    snprintf(title, sizeof title, "Confusion matrix: %s%s (test accuracy %.2f%%)", names_joined,
             files > 1 ? ", summed over runs" : "", total ? 100.0 * correct / total : 0.0);
    PlotCanvas *c = plot_canvas_open(o->output, o->width, o->height);
    double top = plot_draw_title(c, o->title ? o->title : title);
    plot_heatmap_draw(c, sum, n, names, "predicted class", "true class", 10, top, o->width - 20,
                      o->height - top - 8);
    plot_canvas_close(c);
    free(sum);
}

static RnNetConfig config_from(const Options *o, RnArch arch)
{
    RnNetConfig cfg = {.arch = arch, .depth = o->depth, .classes = 10, .shortcut = RN_SHORTCUT_A};
    if (strcmp(o->shortcut, "A") == 0 || strcmp(o->shortcut, "B") == 0)
        cfg.shortcut = (RnShortcutOption)o->shortcut[0];
    else
        rn_usage_error("--shortcut must be A or B, not '%s'", o->shortcut);
    const char *why = rn_net_config_check(&cfg);
    if (why)
        rn_usage_error("%s", why);
    return cfg;
}

static void figure_diagram(const Options *o, const char *cmd)
{
    RnNet a, b;
    if (strcmp(cmd, "blocks") == 0) {
        RnNetConfig pc = config_from(o, RN_ARCH_PLAIN), rc = config_from(o, RN_ARCH_RESNET);
        rn_net_build(&a, &pc);
        rn_net_build(&b, &rc);
        PlotCanvas *c = plot_canvas_open(o->output, o->width, o->height);
        double top = plot_draw_title(c, o->title ? o->title : "Plain block and residual block");
        plot_blocks_diagram(c, &a, &b, top);
        plot_canvas_close(c);
        rn_net_free(&a);
        rn_net_free(&b);
    } else {
        RnArch arch;
        if (!rn_arch_parse(o->arch, &arch))
            rn_usage_error("--arch must be plain or resnet, not '%s'", o->arch);
        RnNetConfig cfg = config_from(o, arch);
        rn_net_build(&a, &cfg);
        char label[32], title[96];
        rn_net_label(&cfg, label, sizeof label);
        snprintf(title, sizeof title, "CIFAR-10 network: %s", label);
        PlotCanvas *c = plot_canvas_open(o->output, o->width, o->height);
        double top = plot_draw_title(c, o->title ? o->title : title);
        plot_architecture_diagram(c, &a, top);
        plot_canvas_close(c);
        rn_net_free(&a);
    }
}

/* ---------------------------------------------------------------- tables and report */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void write_table(const Options *o, const char *name, const RunSet *rs)
{
    bool tsv = ends_with(o->output, ".tsv");
    if (!tsv && !ends_with(o->output, ".md") && !rn_is_stdio(o->output))
        rn_usage_error("output %s: a table is written as .md (Markdown) or .tsv", o->output);
    Table t;
    table_build(&t, name, rs, tsv);
    RnOut *out = rn_out_open(o->output);
    if (tsv)
        table_write_tsv(&t, out);
    else
        table_write_markdown(&t, out);
    rn_out_commit(out);
    table_free(&t);
}

/* ---------------------------------------------------------------- main */

typedef struct { const char *name; int width, height; } FigureSize;
static const FigureSize SIZES[] = {
    {"loss", 900, 560}, {"accuracy", 900, 560}, {"lr", 900, 420}, {"error", 1300, 520},
    {"responses", 1300, 520}, {"confusion", 820, 760}, {"blocks", 760, 470}, {"architecture", 1300, 400},
    {"fig6", 1500, 520}, {"fig7", 1000, 860}, {"table", 0, 0}, {"report", 0, 0},
};

int main(int argc, char **argv)
{
    rn_set_prog(argv[0]);
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            printf("Usage: rn-plot COMMAND [options] FILES... -o OUT\n"
                   "Draws the figures and writes the tables and the report from metrics, eval and weights files.\n\n%s\n"
                   "\n'rn-plot COMMAND --help' lists a command's options.\n", COMMANDS);
            return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
            printf("rn-plot (rn-cifar) %s\n", RN_VERSION);
            return 0;
        }
        rn_usage_error("a command comes first: loss, accuracy, error, lr, responses, confusion, fig6, fig7, "
                       "blocks, architecture, table or report");
    }
    const char *cmd = argv[1];
    const FigureSize *size = NULL;
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++)
        if (strcmp(SIZES[i].name, cmd) == 0)
            size = &SIZES[i];
    if (!size)
        rn_usage_error("unknown command '%s' (see 'rn-plot --help')", cmd);

    Options o = {.output = NULL, .width = size->width, .height = size->height, .depth = 20, .arch = "resnet",
                 .shortcut = "A", .deep = 1202};
    const RnOpt opts[] = {
        {"output", 'o', RN_OPT_STR, &o.output, "OUT", "output file: .png/.svg for figures, .md/.tsv for tables"},
        {"title", 0, RN_OPT_STR, &o.title, "TEXT", "figure title (default: one that says what it shows)"},
        {"width", 0, RN_OPT_INT, &o.width, "W", "figure width in pixels / points (default: per figure)"},
        {"height", 0, RN_OPT_INT, &o.height, "H", "figure height in pixels / points"},
        {"template", 0, RN_OPT_STR, &o.template_path, "FILE", "report: the Markdown template"},
        {"arch", 0, RN_OPT_STR, &o.arch, "ARCH", "architecture: plain|resnet (default: resnet)"},
        {"depth", 0, RN_OPT_INT, &o.depth, "D", "blocks/architecture: depth 6n+2 (default: 20)"},
        {"shortcut", 0, RN_OPT_STR, &o.shortcut, "A|B", "blocks/architecture: shortcut option (default: A)"},
        {"deep", 0, RN_OPT_INT, &o.deep, "D", "fig6: ResNets of D layers or more in the right panel only (default: 1202)"},
        {0},
    };
    char usage[128];
    snprintf(usage, sizeof usage, "%s [options] %s-o OUT", cmd, strcmp(cmd, "table") == 0 ? "NAME FILES... " :
             strcmp(cmd, "blocks") == 0 || strcmp(cmd, "architecture") == 0 ? "" : "FILES... ");
    const RnOptInfo info = {usage, "rn-plot: figures, tables and the report from the runs' files.", COMMANDS};
    argv[1] = argv[0];                  /* the subcommand's argv starts at its name */
    int first = rn_parse_options(argc - 1, argv + 1, opts, &info);
    int nfiles = argc - 1 - first;
    char **files = argv + 1 + first;
    if (!o.output)
        rn_usage_error("no output: give -o OUT");
    if (size->width && (o.width < 50 || o.height < 50 || o.width > 10000 || o.height > 10000))
        rn_usage_error("figure size %dx%d out of range (50..10000)", o.width, o.height);

    if (strcmp(cmd, "blocks") == 0 || strcmp(cmd, "architecture") == 0) {
        if (nfiles)
            rn_usage_error("%s takes no input files (it draws the network description)", cmd);
        figure_diagram(&o, cmd);
        return 0;
    }
    const char *table_name = NULL;
    if (strcmp(cmd, "table") == 0) {
        if (nfiles < 1)
            rn_usage_error("table needs a NAME: results, params, network, training, comparison, runs or table6");
        table_name = files[0];
        if (!table_name_known(table_name))
            rn_usage_error("unknown table '%s' (results, params, network, training, comparison, runs, table6)",
                           table_name);
        files++;
        nfiles--;
    }
    if (strcmp(cmd, "report") == 0 && !o.template_path)
        rn_usage_error("report needs --template FILE");
    if (nfiles < 1)
        rn_usage_error("no input files given");
    if (size->width && !plot_path_is_figure(o.output))
        rn_usage_error("output %s: a figure is written as .png or .svg", o.output);

    RnPathArg *inputs = rn_xcalloc((size_t)nfiles + 1, sizeof *inputs);
    for (int i = 0; i < nfiles; i++)
        inputs[i] = (RnPathArg){"input", files[i]};
    inputs[nfiles] = (RnPathArg){"--template", o.template_path};
    const RnPathArg output = {"-o", o.output};
    rn_refuse_same_files(inputs, (size_t)nfiles + 1, &output, 1);
    free(inputs);

    static RunSet rs;
    runs_load(&rs, nfiles, files);
    if (table_name) {
        write_table(&o, table_name, &rs);
    } else if (strcmp(cmd, "report") == 0) {
        RnOut *out = rn_out_open(o.output);
        report_render(o.template_path, &rs, out);
        rn_out_commit(out);
    } else if (strcmp(cmd, "error") == 0) {
        figure_error(&o, &rs);
    } else if (strcmp(cmd, "fig6") == 0 || strcmp(cmd, "fig7") == 0) {
        if (o.deep < 1)
            rn_usage_error("--deep must be at least 1");
        HeFigure f = {.output = o.output, .title = o.title, .width = o.width, .height = o.height, .deep = o.deep};
        if (cmd[3] == '6')
            plot_fig6(&f, &rs);
        else
            plot_fig7(&f, &rs);
    } else if (strcmp(cmd, "responses") == 0) {
        figure_responses(&o, &rs);
    } else if (strcmp(cmd, "confusion") == 0) {
        figure_confusion(&o, &rs);
    } else {
        figure_metric(&o, &rs, cmd);
    }
    runs_free(&rs);
    return 0;
}
