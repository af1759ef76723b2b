/* The report's tables, built from a RunSet and written as Markdown (for the
 * report) or TSV (for spreadsheets and awk: a mean ± std cell becomes two
 * columns there). */
#ifndef RN_PLOT_TABLES_H
#define RN_PLOT_TABLES_H

#include <stdbool.h>

#include "io.h"
#include "runs.h"

typedef struct {
    int ncols, nrows, cap;      /* nrows includes the header row */
    char **cells;               /* row-major, ncols per row */
    bool *right;                /* per column: right-aligned (numbers) */
    char *caption;              /* printed under a Markdown table, may be NULL */
} Table;

/* Known table names, NULL-terminated: results params network training comparison runs */
extern const char *const TABLE_NAMES[];
bool table_name_known(const char *name);

/* Builds table NAME; tsv selects the split-column form. */
void table_build(Table *t, const char *name, const RunSet *rs, bool tsv);
void table_write_markdown(const Table *t, RnOut *out);
void table_write_tsv(const Table *t, RnOut *out);
void table_free(Table *t);

#endif
