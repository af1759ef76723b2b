/* The paper's Table 6 (He et al. 2016, CIFAR-10): per net its depth, its
 * parameters (ours counted, the paper's as printed), our test error with the
 * spread over runs, the paper's error and the difference.
 *
 * Our test error is that of each run's final weights (rn-eval's eval files:
 * one per run); without eval files, the last metrics record's, when the
 * per-epoch set was the test set. Nothing is selected on the test set: the
 * "best of runs" column exists because the paper's ResNet-110 number is one
 * (the best of 5), and is labelled so. A global info file with
 * "heldout<TAB>val" (the he2016 pipeline's) says the per-epoch set was the
 * validation split: its final error is then a column of its own. */
#include "tables.h"

#include "reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values of one net's runs, in percent. */
static Summary summarise(const double *v, int n)
{
    Summary s = {0, NAN, NAN, NAN, NAN};
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        s.min = s.n ? fmin(s.min, v[i]) : v[i];
        s.max = s.n ? fmax(s.max, v[i]) : v[i];
        sum += v[i];
        sq += v[i] * v[i];
        s.n++;
    }
    if (s.n) {
        s.mean = sum / s.n;
        s.std = s.n > 1 ? sqrt(fmax(0, (sq - sum * sum / s.n) / (s.n - 1))) : 0;
    }
    return s;
}

static Summary test_error(const NetGroup *g, bool heldout_is_test)
{
    double v[RUNS_MAX_PER_NET];
    int n = 0;
    if (g->nevals) {
        for (int e = 0; e < g->nevals; e++)
            v[n++] = 100 * g->evals[e]->error;
    } else if (heldout_is_test) {
        for (int r = 0; r < g->nruns; r++)
            v[n++] = metric_value(&g->runs[r]->m.records[g->runs[r]->m.count - 1], METRIC_TEST_ERR_PCT);
    }
    return summarise(v, n);
}

static int compare_groups(const void *a, const void *b)
{
    const NetGroup *x = *(const NetGroup *const *)a, *y = *(const NetGroup *const *)b;
    if (x->cfg.arch != y->cfg.arch)
        return x->cfg.arch == RN_ARCH_PLAIN ? -1 : 1;
    return (x->cfg.depth > y->cfg.depth) - (x->cfg.depth < y->cfg.depth);
}

/* "pixel" when every recipe says normalize=pixel, "channel" when none does, else "mixed". */
static const char *normalisation(const RunSet *rs)
{
    int pixel = 0, total = 0;
    for (int i = 0; i < rs->ngroups; i++)
        for (int k = 0; k < rs->groups[i].nrecipes; k++) {
            total++;
            pixel += strstr(rs->groups[i].recipes[k], "normalize=pixel\n") != NULL;
        }
    if (!total)
        return NULL;
    return pixel == total ? "the per-pixel mean subtracted (as the paper)" :
           pixel == 0 ? "per-channel mean/std (the study's; the paper subtracts the per-pixel mean)" :
                        "mixed: some runs per-pixel, some per-channel";
}

void build_table6(Table *t, const RunSet *rs, bool tsv)
{
    const char *heldout = runs_global_info(rs, "heldout");
    bool val = heldout && strcmp(heldout, "val") == 0;
    const NetGroup *groups[RUNS_MAX_NETS];
    int ng = 0;
    for (int i = 0; i < rs->ngroups; i++)
        if (rs->groups[i].have_cfg && (rs->groups[i].nruns || rs->groups[i].nevals))
            groups[ng++] = &rs->groups[i];
    qsort(groups, (size_t)ng, sizeof groups[0], compare_groups);

    table_begin(t, (tsv ? 16 : 10) + (val ? (tsv ? 2 : 1) : 0));
    table_row(t);
    table_head(t, false, tsv ? "net" : "Net");
    table_head(t, true, tsv ? "layers" : "Layers");
    table_head(t, true, tsv ? "params" : "Params (ours)");
    table_head(t, true, tsv ? "paper_params_millions" : "Params (paper)");
    table_head(t, true, tsv ? "runs" : "Runs");
    table_head_summary(t, tsv, "Test error (%)", "test_err");
    if (tsv) {
        table_head(t, true, "test_err_min");
        table_head(t, true, "test_err_max");
    } else {
        table_head(t, true, "Min–max over runs (%)");
    }
    if (val)
        table_head_summary(t, tsv, "Validation error (%)", "val_err");
    table_head(t, true, tsv ? "paper_err" : "Paper (%)");
    if (tsv) {
        table_head(t, true, "paper_mean_err");
        table_head(t, true, "paper_std_err");
        table_head(t, true, "ours_mean_minus_paper_pp");
        table_head(t, true, "ours_best_minus_paper_best_pp");
    } else {
        table_head(t, true, "Ours − paper (pp)");
    }
    table_head(t, true, tsv ? "iterations" : "Iterations");
    if (tsv)
        table_head(t, true, "test_images");

    for (int k = 0; k < ng; k++) {
        const NetGroup *g = groups[k];
        const RefResult *ref = g->cfg.arch == RN_ARCH_PLAIN || g->cfg.shortcut == RN_SHORTCUT_A
                                   ? ref_lookup(g->cfg.arch, g->cfg.depth) : NULL;
        double paper = ref ? ref->paper_error : NAN;
        bool r110 = g->cfg.arch == RN_ARCH_RESNET && g->cfg.depth == 110 && isfinite(paper);
        double paper_mean = r110 ? REF_PAPER_R110_MEAN_ERROR : paper;
        Summary err = test_error(g, !val);

        size_t params = g->nparams;
        if (!g->nweights) {
            RnNet net;
            rn_net_build(&net, &g->cfg);
            params = net.nparams;
            rn_net_free(&net);
        }
        double paper_params = ref_paper_params_millions(g->cfg.arch, g->cfg.depth);

        table_row(t);
        table_cell(t, "%s", g->name);
        table_cell(t, "%d", g->cfg.depth);
        if (tsv)
            table_cell_count(t, params, true);
        else
            table_cell(t, "%.2fM", params / 1e6);
        if (isfinite(paper_params))
            table_cell(t, tsv ? "%g" : "%gM", paper_params);
        else
            table_cell(t, "%s", tsv ? "NA" : "—");
        table_cell(t, "%d", err.n);
        table_cell_summary(t, tsv, &err, 2);
        if (tsv) {
            table_cell(t, err.n ? "%.4f" : "NA", err.min);
            table_cell(t, err.n ? "%.4f" : "NA", err.max);
        } else if (err.n > 1) {
            table_cell(t, "%.2f–%.2f", err.min, err.max);
        } else {
            table_cell(t, "—");
        }
        if (val) {
            double v[RUNS_MAX_PER_NET];
            int n = 0;
            for (int r = 0; r < g->nruns; r++)
                v[n++] = metric_value(&g->runs[r]->m.records[g->runs[r]->m.count - 1], METRIC_TEST_ERR_PCT);
            Summary s = summarise(v, n);
            table_cell_summary(t, tsv, &s, 2);
        }
        if (tsv) {
            table_cell(t, isfinite(paper) ? "%.2f" : "NA", paper);
            table_cell(t, isfinite(paper_mean) ? "%.2f" : "NA", paper_mean);
            table_cell(t, r110 ? "%.2f" : "NA", REF_PAPER_R110_STD_ERROR);
            table_cell(t, isfinite(paper_mean) && err.n ? "%+.4f" : "NA", err.mean - paper_mean);
            table_cell(t, isfinite(paper) && err.n ? "%+.4f" : "NA", err.min - paper);
        } else {
            if (r110)
                table_cell(t, "%.2f (best of %d); %.2f ± %.2f", paper, REF_PAPER_R110_RUNS, REF_PAPER_R110_MEAN_ERROR,
                           REF_PAPER_R110_STD_ERROR);
            else if (isfinite(paper))
                table_cell(t, "%.2f", paper);
            else
                table_cell(t, "%s", g->cfg.arch == RN_ARCH_PLAIN ? "— (curves only, Fig. 6)" : "—");
            if (!isfinite(paper) || !err.n)
                table_cell(t, "—");
            else if (r110 && err.n > 1)
                table_cell(t, "mean %+.2f, best %+.2f", err.mean - paper_mean, err.min - paper);
            else
                table_cell(t, "%+.2f", err.mean - paper_mean);
        }
        uint64_t iters = 0;
        for (int r = 0; r < g->nruns; r++) {
            uint64_t it = g->runs[r]->m.records[g->runs[r]->m.count - 1].iteration;
            iters = it > iters ? it : iters;
        }
        table_cell(t, "%llu", (unsigned long long)iters);
        if (tsv)
            table_cell(t, "%u", g->nevals ? g->evals[0]->count : 0);
    }
    const char *norm = normalisation(rs);
    unsigned images = 0;
    for (int k = 0; k < ng && !images; k++)
        images = groups[k]->nevals ? groups[k]->evals[0]->count : 0;
    char where[128];
    if (images)
        snprintf(where, sizeof where, "on the %u test images", images);
    else
        snprintf(where, sizeof where, "on the test set");
    table_caption(t,
                  "Test error of each run's final weights %s (the last iteration; no selection on the test set); "
                  "with several runs, mean ± sample std and the min–max over runs. %s"
                  "Paper: %s; its ResNet-110 entry is the best of %d runs (mean ± std %.2f ± %.2f), so for a net "
                  "with several runs the difference is given for the mean (against the paper's mean) and for the "
                  "best run (against the paper's best), a best that is a selection on the test set like the "
                  "paper's. The paper gives no numbers for plain nets (only their curves). Parameters: ours "
                  "counted from the weights, the paper's as printed. Normalisation: %s.",
                  where,
                  val ? "Validation error: the last per-epoch evaluation, on the validation split the runs did not "
                        "train on. " : "",
                  REF_PAPER_SOURCE, REF_PAPER_R110_RUNS, REF_PAPER_R110_MEAN_ERROR, REF_PAPER_R110_STD_ERROR,
                  norm ? norm : "not recorded (no checkpoint given)");
}
