/* Report generation. The observations are the study's four claims; each
 * sentence is chosen by the numbers, so the report never claims what the runs
 * do not show (e.g. "does not show degradation in this run"). All values are
 * final-epoch values (no selection on the test set); with several seeds the
 * means are compared and overlapping seed ranges are pointed out. */
#include "report.h"

#include "err.h"
#include "tables.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a report template is a page of Markdown */
#define REPORT_MAX_TEMPLATE_BYTES ((size_t)1 << 20)

/* The shallowest / deepest net of an architecture that has runs (option A). */
static const NetGroup *pick(const RunSet *rs, RnArch arch, bool deepest)
{
    const NetGroup *best = NULL;
    for (int i = 0; i < rs->ngroups; i++) {
        const NetGroup *g = &rs->groups[i];
        if (!g->have_cfg || g->nruns == 0 || g->cfg.arch != arch ||
            (arch == RN_ARCH_RESNET && g->cfg.shortcut != RN_SHORTCUT_A))
            continue;
        if (!best || (deepest ? g->cfg.depth > best->cfg.depth : g->cfg.depth < best->cfg.depth))
            best = g;
    }
    return best;
}

typedef struct {
    const NetGroup *g;
    Summary acc, loss, err;
} NetNumbers;

static NetNumbers numbers(const NetGroup *g)
{
    NetNumbers n = {.g = g};
    n.acc = group_summary(g, METRIC_TEST_ACC_PCT, AT_FINAL);
    n.loss = group_summary(g, METRIC_TRAIN_LOSS, AT_FINAL);
    n.err = group_summary(g, METRIC_TRAIN_ERR_PCT, AT_FINAL);
    return n;
}

/* With several seeds each, a difference of means inside the seed ranges is noted. */
static const char *spread_note(const Summary *a, const Summary *b)
{
    if (a->n > 1 && b->n > 1 && a->min <= b->max && b->min <= a->max)
        return " The min-max ranges over seeds overlap, so this gap is within seed-to-seed variation.";
    if (a->n < 2 || b->n < 2)
        return " (One run per net: no seed-to-seed spread is known.)";
    return "";
}

static void appendf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t n, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

static const char *higher_lower(double a, double b) { return a > b ? "HIGHER" : a < b ? "LOWER" : "the SAME"; }

void report_observation(const char *name, const RunSet *rs, char *buf, size_t n)
{
    buf[0] = 0;
    const NetGroup *ps = pick(rs, RN_ARCH_PLAIN, false), *pd = pick(rs, RN_ARCH_PLAIN, true);
    const NetGroup *rsh = pick(rs, RN_ARCH_RESNET, false), *rd = pick(rs, RN_ARCH_RESNET, true);
    bool plain_pair = ps && pd && ps != pd, res_pair = rsh && rd && rsh != rd;

    if (strcmp(name, "degradation") == 0) {
        if (!plain_pair) {
            appendf(buf, n, "*Not measurable: this needs two plain nets of different depth.*");
            return;
        }
        NetNumbers s = numbers(ps), d = numbers(pd);
        double gap = d.acc.mean - s.acc.mean;
        if (gap < 0)
            appendf(buf, n, "**Degradation: yes.** %s ends %.2f pp BELOW %s in final test accuracy "
                    "(%.2f%% vs %.2f%%): the deeper plain net is worse.",
                    pd->name, -gap, ps->name, d.acc.mean, s.acc.mean);
        else if (gap > 0)
            appendf(buf, n, "**Degradation: not shown in this run.** %s ends %.2f pp above %s in final test "
                    "accuracy (%.2f%% vs %.2f%%).", pd->name, gap, ps->name, d.acc.mean, s.acc.mean);
        else
            appendf(buf, n, "**Degradation: not shown in this run.** %s ends level with %s in final test "
                    "accuracy (%.2f%% each).", pd->name, ps->name, d.acc.mean);
        appendf(buf, n, "%s", spread_note(&d.acc, &s.acc));
    } else if (strcmp(name, "overfitting") == 0) {
        if (!plain_pair) {
            appendf(buf, n, "*Not measurable: this needs two plain nets of different depth.*");
            return;
        }
        NetNumbers s = numbers(ps), d = numbers(pd);
        appendf(buf, n, "%s ends with a %s training loss than %s (%.4f vs %.4f; training error %.2f%% vs %.2f%%). ",
                pd->name, higher_lower(d.loss.mean, s.loss.mean), ps->name, d.loss.mean, s.loss.mean,
                d.err.mean, s.err.mean);
        if (d.loss.mean > s.loss.mean)
            appendf(buf, n, "**Not overfitting:** the deeper plain net fits even its training set worse, so "
                    "its %s test accuracy comes from harder optimisation, not from overfitting.",
                    d.acc.mean < s.acc.mean ? "lower" : "(not lower)");
        else if (d.acc.mean < s.acc.mean)
            appendf(buf, n, "**This run does not support \"not overfitting\":** the deeper plain net fits its "
                    "training set at least as well, so its lower test accuracy looks like overfitting here.");
        else
            appendf(buf, n, "**No optimisation difficulty is visible in this run:** the deeper plain net "
                    "trains at least as well.");
        appendf(buf, n, "%s", spread_note(&d.loss, &s.loss));
    } else if (strcmp(name, "residual-fixes") == 0) {
        if (!rd || !pd || rd->cfg.depth != pd->cfg.depth) {
            appendf(buf, n, "*Not measurable: this needs a plain and a residual net of the same depth.*");
            return;
        }
        NetNumbers r = numbers(rd), p = numbers(pd);
        double vs_plain = r.acc.mean - p.acc.mean;
        appendf(buf, n, "%s ends %.2f pp %s %s in final test accuracy (%.2f%% vs %.2f%%)",
                rd->name, fabs(vs_plain), vs_plain >= 0 ? "above" : "below", pd->name, r.acc.mean, p.acc.mean);
        double vs_shallow = NAN;
        if (res_pair) {
            NetNumbers s = numbers(rsh);
            vs_shallow = r.acc.mean - s.acc.mean;
            appendf(buf, n, " and %.2f pp %s %s (%.2f%%)", fabs(vs_shallow), vs_shallow >= 0 ? "above" : "below",
                    rsh->name, s.acc.mean);
        }
        appendf(buf, n, ". ");
        if (vs_plain > 0 && (!isfinite(vs_shallow) || vs_shallow > 0))
            appendf(buf, n, "**Residual connections fix the degradation here:** the deep residual net beats "
                    "the deep plain net%s.", isfinite(vs_shallow) ? " and gains from its extra depth" : "");
        else if (vs_plain > 0)
            appendf(buf, n, "**Partly:** the residual net beats the plain net of its depth but does not (yet) "
                    "gain from depth in this run.");
        else
            appendf(buf, n, "**Not shown in this run:** the deep residual net is not better than the deep plain net.");
        appendf(buf, n, "%s", spread_note(&r.acc, &p.acc));
    } else if (strcmp(name, "residual-trains") == 0) {
        if (!rd || !pd || rd->cfg.depth != pd->cfg.depth) {
            appendf(buf, n, "*Not measurable: this needs a plain and a residual net of the same depth.*");
            return;
        }
        NetNumbers r = numbers(rd), p = numbers(pd);
        appendf(buf, n, "%s ends with a %s training loss than %s (%.4f vs %.4f",
                rd->name, higher_lower(r.loss.mean, p.loss.mean), pd->name, r.loss.mean, p.loss.mean);
        if (r.loss.mean > 0 && r.loss.mean < p.loss.mean) {
            double ratio = p.loss.mean / r.loss.mean;
            if (ratio >= 2)
                appendf(buf, n, ", %.1fx lower", ratio);
            else
                appendf(buf, n, ", %.0f%% lower", 100 * (1 - 1 / ratio));
        }
        appendf(buf, n, "; training error %.2f%% vs %.2f%%). ", r.err.mean, p.err.mean);
        if (r.loss.mean < p.loss.mean)
            appendf(buf, n, "**The residual net trains better:** at the same depth and parameter count it "
                    "reaches a lower training loss.");
        else
            appendf(buf, n, "**Not shown in this run:** the residual net does not reach a lower training loss.");
        appendf(buf, n, "%s", spread_note(&r.loss, &p.loss));
    } else {
        rn_usage_error("unknown observation '%s' (degradation, overfitting, residual-fixes, residual-trains)", name);
    }
}

/* One directive, e.g. "table results"; writes its expansion. */
static void expand(const char *directive, const RunSet *rs, RnOut *out, const char *tpl, int lineno)
{
    char word[32], arg[128];
    arg[0] = 0;
    if (sscanf(directive, " %31s %127s", word, arg) < 1)
        rn_die("%s:%d: empty {{ }} directive", tpl, lineno);
    if (strcmp(word, "table") == 0) {
        if (!table_name_known(arg))
            rn_die("%s:%d: unknown table '%s'", tpl, lineno, arg);
        Table t;
        table_build(&t, arg, rs, false);
        table_write_markdown(&t, out);
        table_free(&t);
    } else if (strcmp(word, "obs") == 0) {
        static const char *const known[] = {"degradation", "overfitting", "residual-fixes", "residual-trains"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strcmp(arg, known[i]) == 0;
        if (!ok)
            rn_die("%s:%d: unknown observation '%s'", tpl, lineno, arg);
        char buf[4096];
        report_observation(arg, rs, buf, sizeof buf);
        rn_out_printf(out, "%s", buf);
    } else if (strcmp(word, "info") == 0) {
        const char *v = runs_global_info(rs, arg);
        rn_out_printf(out, "%s", v && *v ? v : "(not recorded)");
    } else if (strcmp(word, "per-net") == 0) {
        /* the rest of the directive, once per net: NAME -> "ResNet-20", name -> "resnet-20" */
        const char *text = strstr(directive, "per-net") + strlen("per-net");
        while (*text == ' ')
            text++;
        for (int i = 0; i < rs->ngroups; i++) {
            char lower[RUNS_NAME_LEN];
            snprintf(lower, sizeof lower, "%s", rs->groups[i].name);
            for (char *q = lower; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            for (const char *q = text; *q;) {
                if (strncmp(q, "NAME", 4) == 0) {
                    rn_out_printf(out, "%s", rs->groups[i].name);
                    q += 4;
                } else if (strncmp(q, "name", 4) == 0) {
                    rn_out_printf(out, "%s", lower);
                    q += 4;
                } else {
                    rn_out_write(out, q++, 1);
                }
            }
            rn_out_printf(out, "\n");
        }
    } else if (strcmp(word, "nets") == 0) {
        for (int i = 0; i < rs->ngroups; i++)
            rn_out_printf(out, "%s%s", i ? ", " : "", rs->groups[i].name);
    } else {
        rn_die("%s:%d: unknown directive '{{%s}}' (table, obs, info, nets, per-net)", tpl, lineno, directive);
    }
}

void report_render(const char *template_path, const RunSet *rs, RnOut *out)
{
    size_t len;
    char *text = (char *)rn_read_file(template_path, &len, REPORT_MAX_TEMPLATE_BYTES, "a report template");
    int lineno = 1;
    const char *p = text;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            rn_out_write(out, p, strlen(p));
            break;
        }
        for (const char *q = p; q < open; q++)
            lineno += *q == '\n';
        rn_out_write(out, p, (size_t)(open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close)
            rn_die("%s:%d: '{{' without a closing '}}'", template_path, lineno);
        char directive[256];
        size_t dl = (size_t)(close - open - 2);
        if (dl >= sizeof directive || memchr(open + 2, '\n', dl))
            rn_die("%s:%d: a directive must be short and on one line", template_path, lineno);
        memcpy(directive, open + 2, dl);
        directive[dl] = 0;
        expand(directive, rs, out, template_path, lineno);
        p = close + 2;
    }
    free(text);
}
