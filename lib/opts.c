#include "opts.h"
#include "err.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rn_parse_int(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        rn_usage_error("option --%s: '%s' is not an integer", opt, s);
    return (int)v;
}

uint64_t rn_parse_u64(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    if (*s == '-')
        rn_usage_error("option --%s: '%s' is not a non-negative integer", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        rn_usage_error("option --%s: '%s' is not a non-negative integer", opt, s);
    return (uint64_t)v;
}

double rn_parse_double(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        rn_usage_error("option --%s: '%s' is not a number", opt, s);
    return v;
}

static void print_help(const RnOpt *opts, const RnOptInfo *info)
{
    printf("Usage: %s %s\n%s\n\nOptions:\n", rn_prog(), info->usage, info->summary);
    for (const RnOpt *o = opts; o->name; o++) {
        char left[64];
        int n = 0;
        if (o->short_name)
            n = snprintf(left, sizeof left, "-%c, ", o->short_name);
        else
            n = snprintf(left, sizeof left, "    ");
        snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s", o->name,
                 o->type == RN_OPT_FLAG ? "" : " ", o->type == RN_OPT_FLAG ? "" : (o->metavar ? o->metavar : "X"));
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "-q, --quiet", "print nothing but errors and warnings");
    printf("  %-26s %s\n", "-h, --help", "show this help and exit");
    printf("  %-26s %s\n", "    --version", "show the version and exit");
    if (info->details)
        printf("\n%s\n", info->details);
    printf("\nErrors are one line on stderr; exit status 0 ok, 1 failure, 2 usage error.\n");
}

static void store(const RnOpt *o, const char *value)
{
    switch (o->type) {
    case RN_OPT_FLAG: *(int *)o->target = 1; break;
    case RN_OPT_STR: *(const char **)o->target = value; break;
    case RN_OPT_INT: *(int *)o->target = rn_parse_int(o->name, value); break;
    case RN_OPT_U64: *(uint64_t *)o->target = rn_parse_u64(o->name, value); break;
    case RN_OPT_DOUBLE: *(double *)o->target = rn_parse_double(o->name, value); break;
    case RN_OPT_LIST: {
        RnStrList *l = o->target;
        if (l->count == (int)(sizeof l->items / sizeof l->items[0]))
            rn_usage_error("option --%s given too many times", o->name);
        l->items[l->count++] = value;
        break;
    }
    }
}

int rn_parse_options(int argc, char **argv, const RnOpt *opts, const RnOptInfo *info)
{
    rn_set_prog(argv[0]);
    /* file-static so the buffer stays reachable if a usage error exits mid-parse
     * (LeakSanitizer would otherwise report it) */
    static char **positional;
    positional = rn_xmalloc(sizeof(char *) * (size_t)(argc + 1));
    int npos = 0, i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            positional[npos++] = a;
            continue;
        }
        const RnOpt *hit = NULL;
        const char *inline_value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (len == 4 && strncmp(name, "help", 4) == 0) {
                print_help(opts, info);
                exit(0);
            }
            if (len == 7 && strncmp(name, "version", 7) == 0) {
                printf("%s (rn-cifar) %s\n", rn_prog(), RN_VERSION);
                exit(0);
            }
            if (len == 5 && strncmp(name, "quiet", 5) == 0) {
                rn_quiet = 1;
                continue;
            }
            for (const RnOpt *o = opts; o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                    hit = o;
            if (!hit)
                rn_usage_error("unknown option '--%.*s'", (int)len, name);
            if (eq)
                inline_value = eq + 1;
        } else {
            if (a[2] != 0)
                rn_usage_error("unknown option '%s' (short options take their value as the next argument)", a);
            if (a[1] == 'h') {
                print_help(opts, info);
                exit(0);
            }
            if (a[1] == 'q') {
                rn_quiet = 1;
                continue;
            }
            for (const RnOpt *o = opts; o->name; o++)
                if (o->short_name == a[1])
                    hit = o;
            if (!hit)
                rn_usage_error("unknown option '%s'", a);
        }
        if (hit->type == RN_OPT_FLAG) {
            if (inline_value)
                rn_usage_error("option --%s takes no value", hit->name);
            store(hit, NULL);
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argc)
                rn_usage_error("option --%s needs a value (%s)", hit->name, hit->metavar ? hit->metavar : "X");
            inline_value = argv[++i];
        }
        store(hit, inline_value);
    }
    for (; i < argc; i++)
        positional[npos++] = argv[i];
    int first = argc - npos;
    for (int k = 0; k < npos; k++)
        argv[first + k] = positional[k];
    free(positional);
    positional = NULL;
    return first;
}
