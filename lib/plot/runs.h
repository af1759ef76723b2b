/* The inputs of rn-plot, sorted by net: metrics files (one per training run),
 * eval files, weights files or checkpoints, and info files (plain text,
 * "key<TAB>value" per line, written by the pipeline: hardware, commit, wall
 * time). The kind of each file is told by its first bytes, so the command
 * line is just a list of files.
 *
 * Runs are grouped into nets by name: a metrics label "ResNet-20 seed 2"
 * belongs to net "ResNet-20"; eval and weights files by their architecture
 * (rn_net_label); an info file by its "label" line (else it is global). */
#ifndef RN_PLOT_RUNS_H
#define RN_PLOT_RUNS_H

#include <stdbool.h>

#include "evalfile.h"
#include "metrics.h"
#include "net.h"
#include "weights.h"

#define RUNS_MAX_NETS 32
#define RUNS_MAX_PER_NET 64
#define RUNS_NAME_LEN 64

typedef enum { FILE_METRICS, FILE_EVAL, FILE_WEIGHTS, FILE_INFO } RunFileKind;

typedef struct {
    int n;
    char (*key)[64];
    char (*value)[512];
} InfoFile;

typedef struct {
    const char *path;
    int seed;                  /* from the label's " seed N", else -1 */
    char label[RN_METRICS_LABEL_LEN];
    RnMetrics m;
    const InfoFile *info;      /* the info file with the same label, or NULL */
} MetricRun;

typedef struct {
    char name[RUNS_NAME_LEN];  /* "ResNet-20" */
    bool have_cfg;
    RnNetConfig cfg;           /* from weights/eval files, else parsed from the name */
    int nruns;
    MetricRun *runs[RUNS_MAX_PER_NET];
    int nevals;
    RnEval *evals[RUNS_MAX_PER_NET];
    int nweights;
    const char *weights_paths[RUNS_MAX_PER_NET];
    size_t nparams;            /* from the first weights file */
    int nrecipes;
    char *recipes[RUNS_MAX_PER_NET];   /* canonical recipe strings from checkpoints */
} NetGroup;

typedef struct {
    int ngroups;
    NetGroup groups[RUNS_MAX_NETS];
    int ninfos;
    InfoFile infos[RUNS_MAX_PER_NET * 2];
    int nglobal;
    const InfoFile *global[RUNS_MAX_PER_NET];   /* info files with no label */
} RunSet;

RunFileKind runs_detect(const char *path);
/* Reads every file; dies with one line naming a file it cannot use. */
void runs_load(RunSet *rs, int nfiles, char **files);
void runs_free(RunSet *rs);

/* The value of KEY in an info file, or NULL. */
const char *info_get(const InfoFile *f, const char *key);
/* The first global info file that has KEY, or NULL. */
const char *runs_global_info(const RunSet *rs, const char *key);
/* The group called NAME, or NULL. */
const NetGroup *runs_find(const RunSet *rs, const char *name);
/* The group for (arch, depth) with option-A/plain shortcut, or NULL. */
const NetGroup *runs_find_net(const RunSet *rs, RnArch arch, int depth);

/* ---------------------------------------------------------------- statistics */
typedef enum {
    METRIC_TRAIN_LOSS, METRIC_TRAIN_ERR_PCT, METRIC_TEST_LOSS, METRIC_TEST_ERR_PCT,
    METRIC_TEST_ACC_PCT, METRIC_LR, METRIC_SECONDS, METRIC_IMAGES_PER_SEC,
} MetricField;
double metric_value(const RnMetricRecord *r, MetricField f);

/* Per epoch over a group's runs: x (epoch or iteration), mean, min, max;
 * over the first min(count) epochs. Returns the number of points; arrays
 * are allocated (free them). */
int group_curve(const NetGroup *g, MetricField f, bool by_iteration, double **x, double **mean,
                double **lo, double **hi);

/* One number per run, summarised over the group's runs. */
typedef struct { int n; double mean, std, min, max; } Summary;
typedef enum { AT_FINAL, AT_BEST_MAX, AT_MEAN_ALL } SummaryAt;
Summary group_summary(const NetGroup *g, MetricField f, SummaryAt at);
/* "91.27" or "91.27 ± 0.12" (n > 1); "n/a" when n == 0. */
void summary_format(const Summary *s, int decimals, char *buf, size_t n);

/* "ResNet-20" -> arch/depth/shortcut (B when the name ends in "B"); false if not that form. */
bool parse_net_name(const char *name, RnNetConfig *cfg);

#endif
