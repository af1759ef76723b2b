/* The report's tables. Every cell is computed from the files given; the only
 * typed-in numbers are the published ones in reference.c. */
#include "tables.h"

#include "err.h"
#include "reference.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const TABLE_NAMES[] = {"results", "params", "network", "training", "comparison", "runs", "table6", NULL};

bool table_name_known(const char *name)
{
    for (int i = 0; TABLE_NAMES[i]; i++)
        if (strcmp(TABLE_NAMES[i], name) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- building */

static void table_init(Table *t, int ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->right = rn_xcalloc((size_t)ncols, sizeof *t->right);
}

static int cur_col;      /* column of the next cell in the row being filled */

static void row_start(Table *t)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->cells = rn_xrealloc(t->cells, sizeof *t->cells * (size_t)t->cap * (size_t)t->ncols);
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = NULL;
    t->nrows++;
    cur_col = 0;
}

static void cell(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cell(Table *t, const char *fmt, ...)
{
    if (cur_col >= t->ncols)
        rn_die("internal error: table row has more than %d cells", t->ncols);
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->cells[(t->nrows - 1) * t->ncols + cur_col++] = rn_xstrdup(buf);
}

/* A header cell; right marks a numeric column. */
static void head(Table *t, bool right, const char *text)
{
    t->right[cur_col] = right;
    cell(t, "%s", text);
}

/* Header for a summarised quantity: one column (Markdown) or mean + std (TSV). */
static void head_summary(Table *t, bool tsv, const char *md, const char *tsv_name)
{
    if (tsv) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s_mean", tsv_name);
        head(t, true, buf);
        snprintf(buf, sizeof buf, "%s_std", tsv_name);
        head(t, true, buf);
    } else {
        head(t, true, md);
    }
}

static void cell_summary(Table *t, bool tsv, const Summary *s, int decimals)
{
    if (!tsv) {
        char buf[64];
        summary_format(s, decimals, buf, sizeof buf);
        cell(t, "%s", buf);
    } else if (s->n == 0) {
        cell(t, "NA");
        cell(t, "NA");
    } else {
        cell(t, "%.*f", decimals + 2, s->mean);
        cell(t, "%.*f", decimals + 2, s->std);
    }
}

static void cell_number(Table *t, double v, int decimals, const char *missing)
{
    if (isfinite(v))
        cell(t, "%.*f", decimals, v);
    else
        cell(t, "%s", missing);
}

/* 269722 -> "269,722" in Markdown (readable), plain digits in TSV (parseable). */
static void cell_count(Table *t, unsigned long long v, bool tsv)
{
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%llu", v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tsv && i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
    cell(t, "%s", out);
}

static void set_caption(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_caption(Table *t, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(t->caption);
    t->caption = rn_xstrdup(buf);
}

static int group_epochs(const NetGroup *g)
{
    size_t n = 0;
    for (int r = 0; r < g->nruns; r++)
        n = g->runs[r]->m.count > n ? g->runs[r]->m.count : n;
    return (int)n;
}

/* ---------------------------------------------------------------- the tables */

static void build_results(Table *t, const RunSet *rs, bool tsv)
{
    table_init(t, tsv ? 11 : 7);
    row_start(t);
    head(t, false, tsv ? "net" : "Net");
    head(t, true, tsv ? "runs" : "Runs");
    head(t, true, tsv ? "epochs" : "Epochs");
    head_summary(t, tsv, "Final test acc (%)", "final_test_acc");
    head_summary(t, tsv, "Best test acc (%) [test-set selection]", "best_test_acc");
    head_summary(t, tsv, "Final train loss", "final_train_loss");
    head_summary(t, tsv, "Final train error (%)", "final_train_err");
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (g->nruns == 0)
            continue;
        row_start(t);
        cell(t, "%s", g->name);
        cell(t, "%d", g->nruns);
        cell(t, "%d", group_epochs(g));
        Summary s = group_summary(g, METRIC_TEST_ACC_PCT, AT_FINAL);
        cell_summary(t, tsv, &s, 2);
        s = group_summary(g, METRIC_TEST_ACC_PCT, AT_BEST_MAX);
        cell_summary(t, tsv, &s, 2);
        s = group_summary(g, METRIC_TRAIN_LOSS, AT_FINAL);
        cell_summary(t, tsv, &s, 4);
        s = group_summary(g, METRIC_TRAIN_ERR_PCT, AT_FINAL);
        cell_summary(t, tsv, &s, 2);
    }
    set_caption(t, "Final = last epoch. Best = the highest test accuracy over all epochs, i.e. a model "
                   "selected on the test set (reported for comparison with the study, not as a clean "
                   "estimate). With several seeds: mean ± sample standard deviation.");
}

static void build_params(Table *t, const RunSet *rs, bool tsv)
{
    table_init(t, 6);
    row_start(t);
    head(t, false, tsv ? "net" : "Net");
    head(t, false, tsv ? "arch" : "Architecture");
    head(t, true, tsv ? "depth" : "Depth");
    head(t, false, tsv ? "shortcut" : "Shortcut");
    head(t, true, tsv ? "parameters" : "Trainable parameters");
    head(t, true, tsv ? "macs_per_image" : "Multiply-adds per image");
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (g->nweights == 0)
            continue;
        RnNet net;
        rn_net_build(&net, &g->cfg);
        row_start(t);
        cell(t, "%s", g->name);
        cell(t, "%s", rn_arch_name(g->cfg.arch));
        cell(t, "%d", g->cfg.depth);
        cell(t, "%s", g->cfg.arch == RN_ARCH_PLAIN ? "none" : g->cfg.shortcut == RN_SHORTCUT_A ?
                      "A (zero-pad)" : "B (projection)");
        cell_count(t, g->nparams, tsv);
        cell_count(t, rn_net_macs(&net), tsv);
        rn_net_free(&net);
    }
    set_caption(t, "Counted from the weights files (trainable tensors: convolutions, BN scale and shift, "
                   "the fc layer; BN running statistics excluded).");
}

/* Table 2-1: one row per part of the net, one column of block counts per depth. */
static void build_network(Table *t, const RunSet *rs, bool tsv)
{
    int depths[RUNS_MAX_NETS], nd = 0;
    RnNetConfig cfgs[RUNS_MAX_NETS];
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (!g->have_cfg)
            continue;
        bool seen = false;
        for (int k = 0; k < nd; k++)
            seen |= depths[k] == g->cfg.depth;
        if (!seen) {
            cfgs[nd] = g->cfg;
            depths[nd++] = g->cfg.depth;
        }
    }
    if (nd == 0)
        rn_die("table network: no weights, eval or labelled metrics file tells the architecture");
    table_init(t, 3 + nd);
    RnNet *nets = rn_xcalloc((size_t)nd, sizeof *nets);
    for (int k = 0; k < nd; k++)
        rn_net_build(&nets[k], &cfgs[k]);
    row_start(t);
    head(t, false, tsv ? "layer" : "Layer");
    head(t, false, tsv ? "output_size" : "Output size");
    head(t, false, tsv ? "structure" : "Structure");
    for (int k = 0; k < nd; k++) {
        char buf[64];
        snprintf(buf, sizeof buf, tsv ? "layers_depth_%d" : "%d-layer (n = %d)", depths[k], nets[k].n);
        head(t, true, buf);
    }
    const RnNet *ref = &nets[0];
    row_start(t);
    cell(t, "conv1");
    cell(t, "%dx%d", ref->stem.out_hw, ref->stem.out_hw);
    cell(t, "%dx%d conv, %d, stride %d", ref->stem.kernel, ref->stem.kernel, ref->stem.out_c, ref->stem.stride);
    for (int k = 0; k < nd; k++)
        cell(t, "1");
    for (int s = 1; s <= 3; s++) {
        const RnBlock *b = NULL;
        for (int i = 0; i < ref->nblocks && !b; i++)
            if (ref->blocks[i].stage == s)
                b = &ref->blocks[i];
        if (!b)
            continue;
        row_start(t);
        cell(t, "stage%d", s);
        cell(t, "%dx%d", b->conv2.out_hw, b->conv2.out_hw);
        cell(t, "[3x3, %d; 3x3, %d] x n%s", b->conv2.out_c, b->conv2.out_c,
             b->conv1.stride > 1 ? " (first block stride 2)" : "");
        for (int k = 0; k < nd; k++)
            cell(t, "%d", 2 * nets[k].n);
    }
    row_start(t);
    cell(t, "pool");
    cell(t, "1x1");
    cell(t, "global average pool");
    for (int k = 0; k < nd; k++)
        cell(t, "0");
    row_start(t);
    cell(t, "fc");
    cell(t, "%d", ref->cfg.classes);
    cell(t, "fully connected %d -> %d, softmax", ref->fc_in, ref->cfg.classes);
    for (int k = 0; k < nd; k++)
        cell(t, "1");
    row_start(t);
    cell(t, tsv ? "total" : "**total weighted layers**");
    cell(t, "%s", "");
    cell(t, "6n + 2");
    for (int k = 0; k < nd; k++)
        cell(t, "%d", depths[k]);
    for (int k = 0; k < nd; k++)
        rn_net_free(&nets[k]);
    free(nets);
    set_caption(t, "Read from the network description (lib/net.h) for the depths trained.");
}

/* The lr schedule as recorded: "0.1 (ep 1-100), 0.01 (ep 101-150), ..." */
static void recorded_schedule(const RnMetrics *m, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    size_t start = 0;
    for (size_t i = 1; i <= m->count; i++) {
        if (i < m->count && m->records[i].lr == m->records[start].lr)
            continue;
        int w = snprintf(buf + used, n - used, "%s%g (ep %u-%u)", used ? ", " : "", m->records[start].lr,
                         m->records[start].epoch, m->records[i - 1].epoch);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
        start = i;
    }
}

/* Splits a canonical recipe into key=value tokens (separated by spaces or ';'). */
static int recipe_tokens(const char *recipe, char keys[][64], char values[][256], int max)
{
    int n = 0;
    /* rn-train writes one key=value per line (values may hold spaces) */
    const char *seps = strchr(recipe, '\n') ? "\n" : " ;\t";
    char *copy = rn_xstrdup(recipe), *save = NULL;
    for (char *tok = strtok_r(copy, seps, &save); tok && n < max; tok = strtok_r(NULL, seps, &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(keys[n], 64, "%s", tok);
            values[n][0] = 0;
        } else {
            snprintf(keys[n], 64, "%.*s", (int)(eq - tok), tok);
            /* numbers are stored round-trip exact (0.10000000000000001): show them short */
            char *end;
            double v = strtod(eq + 1, &end);
            if (end != eq + 1 && *end == 0)
                snprintf(values[n], 256, "%g", v);
            else
                snprintf(values[n], 256, "%s", eq + 1);
        }
        n++;
    }
    free(copy);
    return n;
}

#define MAX_KEYS 64
static void build_training(Table *t, const RunSet *rs, bool tsv)
{
    /* part 1 (rows = nets): what the metrics files recorded */
    int ng = 0;
    const NetGroup *groups[RUNS_MAX_NETS];
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].nruns || rs->groups[i].nrecipes)
            groups[ng++] = &rs->groups[i];
    table_init(t, 1 + ng);
    row_start(t);
    head(t, false, tsv ? "setting" : "Setting");
    for (int k = 0; k < ng; k++)
        head(t, false, groups[k]->name);
    row_start(t);
    cell(t, "%s", tsv ? "runs (seeds)" : "runs (seeds)");
    for (int k = 0; k < ng; k++) {
        char seeds[256] = "";
        size_t used = 0;
        for (int r = 0; r < groups[k]->nruns && used < sizeof seeds - 16; r++)
            used += (size_t)snprintf(seeds + used, sizeof seeds - used, "%s%d", r ? " " : "", groups[k]->runs[r]->seed);
        cell(t, "%d (%s)", groups[k]->nruns, seeds);
    }
    row_start(t);
    cell(t, "epochs recorded");
    for (int k = 0; k < ng; k++)
        cell(t, "%d", group_epochs(groups[k]));
    row_start(t);
    cell(t, "optimizer steps");
    for (int k = 0; k < ng; k++) {
        const NetGroup *g = groups[k];
        if (!g->nruns) { cell(t, "n/a"); continue; }
        const RnMetrics *m = &g->runs[0]->m;
        cell(t, "%llu (%llu per epoch)", (unsigned long long)m->records[m->count - 1].iteration,
             (unsigned long long)m->records[0].iteration);
    }
    row_start(t);
    cell(t, "learning rate (recorded)");
    for (int k = 0; k < ng; k++) {
        char buf[512] = "n/a";
        if (groups[k]->nruns)
            recorded_schedule(&groups[k]->runs[0]->m, buf, sizeof buf);
        cell(t, "%s", buf);
    }
    /* part 2: the recipe each checkpoint recorded, one row per key */
    static char keys[MAX_KEYS][64], values[MAX_KEYS][256];
    char all_keys[MAX_KEYS][64];
    int nall = 0;
    for (int k = 0; k < ng; k++)
        for (int r = 0; r < groups[k]->nrecipes; r++) {
            int n = recipe_tokens(groups[k]->recipes[r], keys, values, MAX_KEYS);
            for (int i = 0; i < n; i++) {
                bool seen = false;
                for (int j = 0; j < nall; j++)
                    seen |= strcmp(all_keys[j], keys[i]) == 0;
                if (!seen && nall < MAX_KEYS)
                    memcpy(all_keys[nall++], keys[i], sizeof all_keys[0]);
            }
        }
    for (int j = 0; j < nall; j++) {
        if (strcmp(all_keys[j], "seed") == 0 || strcmp(all_keys[j], "recipe") == 0 || strcmp(all_keys[j], "net") == 0)
            continue;        /* seed: per run, shown above; recipe: format version; net: the column */
        row_start(t);
        cell(t, "%s", all_keys[j]);
        for (int k = 0; k < ng; k++) {
            const char *v = "n/a";
            char shown[512] = "";
            for (int r = 0; r < groups[k]->nrecipes; r++) {
                int n = recipe_tokens(groups[k]->recipes[r], keys, values, MAX_KEYS);
                for (int i = 0; i < n; i++)
                    if (strcmp(keys[i], all_keys[j]) == 0 && !strstr(shown, values[i]) &&
                        strlen(shown) + strlen(values[i]) + 3 < sizeof shown) {
                        if (shown[0])
                            strcat(shown, " / ");
                        strcat(shown, values[i]);
                    }
            }
            cell(t, "%s", shown[0] ? shown : v);
        }
    }
    set_caption(t, "%s", nall ? "Rows above the recipe keys come from the metrics files; the rest is the "
                              "canonical recipe stored in each run's checkpoint." :
                              "From the metrics files (no checkpoint was given, so no stored recipe).");
}

static void build_comparison(Table *t, const RunSet *rs, bool tsv)
{
    table_init(t, tsv ? 10 : 8);
    row_start(t);
    head(t, false, tsv ? "net" : "Net");
    head_summary(t, tsv, "Ours: final test acc (%)", "ours_final_test_acc");
    head_summary(t, tsv, "Ours: best test acc (%) [test-set selection]", "ours_best_test_acc");
    head(t, true, tsv ? "study_final_acc" : "Study: final (%)");
    head(t, true, tsv ? "study_best_acc" : "Study: best (%)");
    head(t, true, tsv ? "paper_acc" : "Paper Table 6 (%)");
    head(t, true, tsv ? "ours_final_minus_paper_pp" : "Ours final − paper (pp)");
    head(t, true, tsv ? "ours_final_minus_study_final_pp" : "Ours final − study final (pp)");
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (g->nruns == 0)
            continue;
        const RefResult *ref = g->have_cfg && (g->cfg.arch == RN_ARCH_PLAIN || g->cfg.shortcut == RN_SHORTCUT_A)
                                   ? ref_lookup(g->cfg.arch, g->cfg.depth) : NULL;
        double paper = ref && isfinite(ref->paper_error) ? 100 - ref->paper_error : NAN;
        double study_final = ref ? ref->study_final_acc : NAN, study_best = ref ? ref->study_best_acc : NAN;
        Summary fin = group_summary(g, METRIC_TEST_ACC_PCT, AT_FINAL);
        Summary best = group_summary(g, METRIC_TEST_ACC_PCT, AT_BEST_MAX);
        row_start(t);
        cell(t, "%s", g->name);
        cell_summary(t, tsv, &fin, 2);
        cell_summary(t, tsv, &best, 2);
        cell_number(t, study_final, 2, tsv ? "NA" : "—");
        cell_number(t, study_best, 2, tsv ? "NA" : "—");
        cell_number(t, paper, 2, tsv ? "NA" : "— (not reported)");
        if (isfinite(paper))
            cell(t, "%+.2f", fin.mean - paper);
        else
            cell(t, "%s", tsv ? "NA" : "—");
        if (isfinite(study_final))
            cell(t, "%+.2f", fin.mean - study_final);
        else
            cell(t, "%s", tsv ? "NA" : "—");
    }
    set_caption(t, "Paper: %s; accuracy = 100 − error. Study: %s. The paper reports no numbers for plain nets "
                   "(only curves, its Fig. 6).", REF_PAPER_SOURCE, REF_STUDY_SOURCE);
}

static void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s))
        snprintf(buf, n, "n/a");
    else if (s < 120)
        snprintf(buf, n, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, n, "%.1f min", s / 60);
    else
        snprintf(buf, n, "%.2f h", s / 3600);
}

static void build_runs(Table *t, const RunSet *rs, bool tsv)
{
    table_init(t, 8);
    row_start(t);
    head(t, false, tsv ? "run" : "Run");
    head(t, true, tsv ? "epochs" : "Epochs");
    head(t, true, tsv ? "wall_seconds" : "Wall time");
    head(t, true, tsv ? "train_images_per_sec" : "Train images/s");
    head(t, false, tsv ? "backend" : "Backend");
    head(t, false, tsv ? "cpu" : "CPU");
    head(t, false, tsv ? "gpu" : "GPU");
    head(t, false, tsv ? "commit" : "Commit");
    for (int i = 0; i < rs->ngroups; i++)
        for (int r = 0; r < rs->groups[i].nruns; r++) {
            const MetricRun *run = rs->groups[i].runs[r];
            const RnMetrics *m = &run->m;
            double secs = 0, ips = 0;
            for (size_t k = 0; k < m->count; k++) {
                secs += m->records[k].seconds;
                ips += m->records[k].images_per_sec;
            }
            ips /= (double)m->count;
            /* the wrapper's wall clock (process start to end) when it was recorded */
            const char *wall = info_get(run->info, "wall_seconds");
            if (wall)
                secs = atof(wall);
            row_start(t);
            cell(t, "%s", run->label);
            cell(t, "%zu", m->count);
            if (tsv) {
                cell(t, "%.1f", secs);
            } else {
                char buf[32];
                format_duration(secs, buf, sizeof buf);
                cell(t, "%s", buf);
            }
            cell(t, "%.0f", ips);
            const char *v;
            cell(t, "%s", (v = info_get(run->info, "backend")) && *v ? v : "n/a");
            cell(t, "%s", (v = info_get(run->info, "cpu")) && *v ? v : "n/a");
            cell(t, "%s", (v = info_get(run->info, "gpu")) && *v ? v : "none");
            cell(t, "%s", (v = info_get(run->info, "commit")) && *v ? v : "n/a");
        }
    set_caption(t, "Wall time: the training process from start to end as timed by the pipeline (else the sum "
                   "of the epochs' recorded seconds). Images/s: mean over epochs of the training throughput.");
}

void table_build(Table *t, const char *name, const RunSet *rs, bool tsv)
{
    if (strcmp(name, "results") == 0) build_results(t, rs, tsv);
    else if (strcmp(name, "params") == 0) build_params(t, rs, tsv);
    else if (strcmp(name, "network") == 0) build_network(t, rs, tsv);
    else if (strcmp(name, "training") == 0) build_training(t, rs, tsv);
    else if (strcmp(name, "comparison") == 0) build_comparison(t, rs, tsv);
    else if (strcmp(name, "runs") == 0) build_runs(t, rs, tsv);
    else if (strcmp(name, "table6") == 0) build_table6(t, rs, tsv);
    else rn_usage_error("unknown table '%s' (results, params, network, training, comparison, runs, table6)", name);
    if (t->nrows < 2)
        rn_die("table %s: none of the files given has what it needs (%s)", name,
               strcmp(name, "params") == 0 ? "weights files" : "metrics files");
}

/* ---------------------------------------------------------------- for tables built elsewhere */
/* table6.c (the paper's Table 6) builds its rows through these. */

void table_begin(Table *t, int ncols) { table_init(t, ncols); }
void table_row(Table *t) { row_start(t); }
void table_head(Table *t, bool right, const char *text) { head(t, right, text); }
void table_head_summary(Table *t, bool tsv, const char *md, const char *tsv_name) { head_summary(t, tsv, md, tsv_name); }
void table_cell_summary(Table *t, bool tsv, const Summary *s, int decimals) { cell_summary(t, tsv, s, decimals); }
void table_cell_count(Table *t, unsigned long long v, bool tsv) { cell_count(t, v, tsv); }

void table_cell(Table *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cell(t, "%s", buf);
}

void table_caption(Table *t, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    set_caption(t, "%s", buf);
}

/* ---------------------------------------------------------------- writing */

static void write_md_cell(RnOut *out, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '|')
            rn_out_write(out, "\\|", 2);
        else if (*p == '\n')
            rn_out_write(out, " ", 1);
        else
            rn_out_write(out, p, 1);
    }
}

void table_write_markdown(const Table *t, RnOut *out)
{
    for (int r = 0; r < t->nrows; r++) {
        rn_out_printf(out, "|");
        for (int c = 0; c < t->ncols; c++) {
            rn_out_printf(out, " ");
            write_md_cell(out, t->cells[r * t->ncols + c] ? t->cells[r * t->ncols + c] : "");
            rn_out_printf(out, " |");
        }
        rn_out_printf(out, "\n");
        if (r == 0) {
            rn_out_printf(out, "|");
            for (int c = 0; c < t->ncols; c++)
                rn_out_printf(out, "%s|", t->right[c] ? "---:" : ":---");
            rn_out_printf(out, "\n");
        }
    }
    if (t->caption)
        rn_out_printf(out, "\n*%s*\n", t->caption);
}

void table_write_tsv(const Table *t, RnOut *out)
{
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c] ? t->cells[r * t->ncols + c] : "";
            for (const char *p = s; *p; p++)    /* a tab or newline inside a cell would break the format */
                rn_out_write(out, *p == '\t' || *p == '\n' ? " " : p, 1);
            rn_out_write(out, c + 1 < t->ncols ? "\t" : "\n", 1);
        }
}

void table_free(Table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->right);
    free(t->caption);
    memset(t, 0, sizeof *t);
}
