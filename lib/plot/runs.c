/* Loading rn-plot's inputs and grouping them by net; per-epoch curves and
 * per-run summaries over seeds. */
#include "runs.h"

#include "err.h"
#include "io.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* an info file is a few KEY<TAB>VALUE lines; a larger one is not one */
#define RUNS_MAX_INFO_BYTES ((size_t)1 << 20)

RunFileKind runs_detect(const char *path)
{
    FILE *f = rn_open_read(path);
    unsigned char head[9] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    rn_close_read(f, path);
    if (got >= 8 && memcmp(head, RN_METRICS_MAGIC, 8) == 0)
        return FILE_METRICS;
    if (got >= 8 && memcmp(head, RN_EVAL_MAGIC, 8) == 0)
        return FILE_EVAL;
    /* safetensors: u64 header length, then the JSON header */
    if (got == 9 && rn_get_u64(head) < ((uint64_t)1 << 30) && head[8] == '{')
        return FILE_WEIGHTS;
    for (size_t i = 0; i < got; i++)
        if (head[i] == 0)
            rn_die("%s: not a metrics, eval, weights or info file (unknown binary format)", path);
    return FILE_INFO;
}

static void read_info(const char *path, InfoFile *info)
{
    size_t len;
    char *text = (char *)rn_read_file(path, &len, RUNS_MAX_INFO_BYTES, "an info file");
    int cap = 16;
    info->n = 0;
    info->key = rn_xmalloc(sizeof *info->key * (size_t)cap);
    info->value = rn_xmalloc(sizeof *info->value * (size_t)cap);
    int lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        lineno++;
        if (!*line || *line == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            rn_die("%s:%d: not a metrics, eval, weights or info file (an info line is KEY<TAB>VALUE)",
                   path, lineno);
        *tab = 0;
        if (info->n == cap) {
            cap *= 2;
            info->key = rn_xrealloc(info->key, sizeof *info->key * (size_t)cap);
            info->value = rn_xrealloc(info->value, sizeof *info->value * (size_t)cap);
        }
        snprintf(info->key[info->n], sizeof info->key[0], "%s", line);
        snprintf(info->value[info->n], sizeof info->value[0], "%s", tab + 1);
        info->n++;
    }
    free(text);
}

const char *info_get(const InfoFile *f, const char *key)
{
    if (!f)
        return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0)
            return f->value[i];
    return NULL;
}

const char *runs_global_info(const RunSet *rs, const char *key)
{
    for (int i = 0; i < rs->nglobal; i++) {
        const char *v = info_get(rs->global[i], key);
        if (v)
            return v;
    }
    return NULL;
}

/* "ResNet-20 seed 3" -> name "ResNet-20", seed 3. */
static void split_label(const char *label, char *name, size_t n, int *seed)
{
    snprintf(name, n, "%s", label);
    *seed = -1;
    char *s = strstr(name, " seed ");
    if (s) {
        *seed = atoi(s + 6);
        *s = 0;
    }
}

bool parse_net_name(const char *name, RnNetConfig *cfg)
{
    const char *dash = strchr(name, '-');
    if (!dash || !isdigit((unsigned char)dash[1]))
        return false;
    char arch[16];
    snprintf(arch, sizeof arch, "%.*s", (int)(dash - name), name);
    for (char *p = arch; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    RnNetConfig c = {.classes = 10, .shortcut = RN_SHORTCUT_A};
    if (!rn_arch_parse(arch, &c.arch))
        return false;
    char *end;
    c.depth = (int)strtol(dash + 1, &end, 10);
    if (*end == 'B' && c.arch == RN_ARCH_RESNET)
        c.shortcut = RN_SHORTCUT_B, end++;
    if (*end)
        return false;
    *cfg = c;
    return true;
}

static NetGroup *group_for(RunSet *rs, const char *name, const char *path)
{
    for (int i = 0; i < rs->ngroups; i++)
        if (strcmp(rs->groups[i].name, name) == 0)
            return &rs->groups[i];
    if (rs->ngroups == RUNS_MAX_NETS)
        rn_die("%s: more than %d different nets given", path, RUNS_MAX_NETS);
    NetGroup *g = &rs->groups[rs->ngroups++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->have_cfg = parse_net_name(name, &g->cfg);
    return g;
}

static void check_room(int count, const char *path)
{
    if (count >= RUNS_MAX_PER_NET)
        rn_die("%s: more than %d files for one net", path, RUNS_MAX_PER_NET);
}

void runs_load(RunSet *rs, int nfiles, char **files)
{
    memset(rs, 0, sizeof *rs);
    for (int i = 0; i < nfiles; i++) {
        const char *path = files[i];
        char name[RUNS_NAME_LEN];
        switch (runs_detect(path)) {
        case FILE_METRICS: {
            MetricRun *run = rn_xcalloc(1, sizeof *run);
            run->path = path;
            rn_metrics_read(path, &run->m);
            if (run->m.count == 0)
                rn_die("%s: no epochs recorded yet (has the training run started?)", path);
            snprintf(run->label, sizeof run->label, "%s", run->m.label);
            if (!run->label[0]) {       /* unlabelled: the file name stands in */
                const char *base = strrchr(path, '/');
                snprintf(run->label, sizeof run->label, "%s", base ? base + 1 : path);
            }
            split_label(run->label, name, sizeof name, &run->seed);
            NetGroup *g = group_for(rs, name, path);
            check_room(g->nruns, path);
            g->runs[g->nruns++] = run;
            break;
        }
        case FILE_EVAL: {
            RnEval *e = rn_xcalloc(1, sizeof *e);
            rn_eval_read(path, e);
            rn_net_label(&e->cfg, name, sizeof name);
            NetGroup *g = group_for(rs, name, path);
            check_room(g->nevals, path);
            g->evals[g->nevals++] = e;
            g->cfg = e->cfg;
            g->have_cfg = true;
            break;
        }
        case FILE_WEIGHTS: {
            RnWeights w;
            RnTrainState st;
            rn_weights_read(path, &w, &st);
            rn_net_label(&w.net.cfg, name, sizeof name);
            NetGroup *g = group_for(rs, name, path);
            check_room(g->nweights, path);
            if (g->nweights == 0)
                g->nparams = w.net.nparams;
            g->weights_paths[g->nweights++] = path;
            g->cfg = w.net.cfg;
            g->have_cfg = true;
            if (st.present && g->nrecipes < RUNS_MAX_PER_NET)
                g->recipes[g->nrecipes++] = rn_xstrdup(st.recipe);
            rn_train_state_free(&st);
            rn_weights_free(&w);
            break;
        }
        case FILE_INFO: {
            if (rs->ninfos == (int)(sizeof rs->infos / sizeof rs->infos[0]))
                rn_die("%s: too many info files", path);
            InfoFile *info = &rs->infos[rs->ninfos++];
            read_info(path, info);
            if (!info_get(info, "label"))
                rs->global[rs->nglobal++] = info;
            break;
        }
        }
    }
    /* attach each run's info file (same label) */
    for (int gi = 0; gi < rs->ngroups; gi++)
        for (int r = 0; r < rs->groups[gi].nruns; r++) {
            MetricRun *run = rs->groups[gi].runs[r];
            for (int k = 0; k < rs->ninfos; k++) {
                const char *l = info_get(&rs->infos[k], "label");
                if (l && strcmp(l, run->label) == 0)
                    run->info = &rs->infos[k];
            }
        }
}

void runs_free(RunSet *rs)
{
    for (int gi = 0; gi < rs->ngroups; gi++) {
        NetGroup *g = &rs->groups[gi];
        for (int r = 0; r < g->nruns; r++) {
            rn_metrics_free(&g->runs[r]->m);
            free(g->runs[r]);
        }
        for (int e = 0; e < g->nevals; e++) {
            rn_eval_free(g->evals[e]);
            free(g->evals[e]);
        }
        for (int k = 0; k < g->nrecipes; k++)
            free(g->recipes[k]);
    }
    for (int i = 0; i < rs->ninfos; i++) {
        free(rs->infos[i].key);
        free(rs->infos[i].value);
    }
    memset(rs, 0, sizeof *rs);
}

const NetGroup *runs_find(const RunSet *rs, const char *name)
{
    for (int i = 0; i < rs->ngroups; i++)
        if (strcmp(rs->groups[i].name, name) == 0)
            return &rs->groups[i];
    return NULL;
}

const NetGroup *runs_find_net(const RunSet *rs, RnArch arch, int depth)
{
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (g->have_cfg && g->cfg.arch == arch && g->cfg.depth == depth &&
            (arch == RN_ARCH_PLAIN || g->cfg.shortcut == RN_SHORTCUT_A))
            return g;
    }
    return NULL;
}

/* ---------------------------------------------------------------- statistics */

double metric_value(const RnMetricRecord *r, MetricField f)
{
    switch (f) {
    case METRIC_TRAIN_LOSS: return r->train_loss;
    case METRIC_TRAIN_ERR_PCT: return 100 * r->train_err;
    case METRIC_TEST_LOSS: return r->test_loss;
    case METRIC_TEST_ERR_PCT: return 100 * r->test_err;
    case METRIC_TEST_ACC_PCT: return 100 * (1 - r->test_err);
    case METRIC_LR: return r->lr;
    case METRIC_SECONDS: return r->seconds;
    case METRIC_IMAGES_PER_SEC: return r->images_per_sec;
    }
    return NAN;
}

int group_curve(const NetGroup *g, MetricField f, bool by_iteration, double **x, double **mean,
                double **lo, double **hi)
{
    size_t n = SIZE_MAX;
    for (int r = 0; r < g->nruns; r++)
        n = g->runs[r]->m.count < n ? g->runs[r]->m.count : n;
    if (g->nruns == 0)
        n = 0;
    *x = rn_xcalloc(n + 1, sizeof **x);
    *mean = rn_xcalloc(n + 1, sizeof **mean);
    *lo = rn_xcalloc(n + 1, sizeof **lo);
    *hi = rn_xcalloc(n + 1, sizeof **hi);
    for (size_t i = 0; i < n; i++) {
        const RnMetricRecord *first = &g->runs[0]->m.records[i];
        (*x)[i] = by_iteration ? (double)first->iteration : first->epoch;
        double sum = 0, mn = INFINITY, mx = -INFINITY;
        int k = 0;
        for (int r = 0; r < g->nruns; r++) {
            double v = metric_value(&g->runs[r]->m.records[i], f);
            if (!isfinite(v))
                continue;
            sum += v;
            mn = fmin(mn, v);
            mx = fmax(mx, v);
            k++;
        }
        (*mean)[i] = k ? sum / k : NAN;
        (*lo)[i] = k ? mn : NAN;
        (*hi)[i] = k ? mx : NAN;
    }
    return (int)n;
}

static double run_value(const RnMetrics *m, MetricField f, SummaryAt at)
{
    if (m->count == 0)
        return NAN;
    if (at == AT_FINAL)
        return metric_value(&m->records[m->count - 1], f);
    double best = NAN, sum = 0;
    int k = 0;
    for (size_t i = 0; i < m->count; i++) {
        double v = metric_value(&m->records[i], f);
        if (!isfinite(v))
            continue;
        best = isfinite(best) ? fmax(best, v) : v;
        sum += v;
        k++;
    }
    return at == AT_BEST_MAX ? best : (k ? sum / k : NAN);
}

Summary group_summary(const NetGroup *g, MetricField f, SummaryAt at)
{
    Summary s = {0, NAN, NAN, NAN, NAN};
    double sum = 0, sq = 0;
    for (int r = 0; r < g->nruns; r++) {
        double v = run_value(&g->runs[r]->m, f, at);
        if (!isfinite(v))
            continue;
        s.min = s.n ? fmin(s.min, v) : v;
        s.max = s.n ? fmax(s.max, v) : v;
        sum += v;
        sq += v * v;
        s.n++;
    }
    if (s.n) {
        s.mean = sum / s.n;
        /* sample standard deviation over seeds (n - 1) */
        s.std = s.n > 1 ? sqrt(fmax(0, (sq - sum * sum / s.n) / (s.n - 1))) : 0;
    }
    return s;
}

void summary_format(const Summary *s, int decimals, char *buf, size_t n)
{
    if (s->n == 0)
        snprintf(buf, n, "n/a");
    else if (s->n == 1)
        snprintf(buf, n, "%.*f", decimals, s->mean);
    else
        snprintf(buf, n, "%.*f ± %.*f", decimals, s->mean, decimals, s->std);
}
