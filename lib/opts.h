/* Table-driven option parsing shared by every tool (GNU style):
 *   --name VALUE, --name=VALUE, -x VALUE; "--" ends options; "-" is a positional.
 * Every tool also gets --help, --version and --quiet for free. */
#ifndef RN_OPTS_H
#define RN_OPTS_H

#include <stdint.h>

typedef enum {
    RN_OPT_FLAG,    /* int*: set to 1 */
    RN_OPT_STR,     /* const char**: the argument */
    RN_OPT_INT,     /* int*: decimal, range-checked to int */
    RN_OPT_U64,     /* uint64_t*: decimal */
    RN_OPT_DOUBLE,  /* double*: finite */
    RN_OPT_LIST,    /* RnStrList*: may repeat; every value appended */
} RnOptType;

typedef struct {
    int count;
    const char *items[64];
} RnStrList;

typedef struct {
    const char *name;        /* long name without "--" */
    char short_name;         /* 0 for none */
    RnOptType type;
    void *target;
    const char *metavar;     /* shown in --help, e.g. "FILE" */
    const char *help;        /* one line; "(default: ...)" belongs here */
} RnOpt;

typedef struct {
    const char *usage;       /* "[options] [FILE]" */
    const char *summary;     /* one sentence: what the tool does */
    const char *details;     /* printed after the option table; may be NULL */
} RnOptInfo;

/* Parses argv; returns the index of the first positional argument (argv is
 * permuted so positionals come last). Exits for --help/--version (0) and for
 * unknown options or bad values (usage error, exit 2). */
int rn_parse_options(int argc, char **argv, const RnOpt *opts, const RnOptInfo *info);

/* Value parsers used by the table and by tools for compound options. */
int rn_parse_int(const char *opt, const char *s);
double rn_parse_double(const char *opt, const char *s);
uint64_t rn_parse_u64(const char *opt, const char *s);

#endif
