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

/* Known table names, NULL-terminated: results params network training comparison runs table6 */
extern const char *const TABLE_NAMES[];
bool table_name_known(const char *name);

/* Builds table NAME; tsv selects the split-column form. */
void table_build(Table *t, const char *name, const RunSet *rs, bool tsv);
void table_write_markdown(const Table *t, RnOut *out);
void table_write_tsv(const Table *t, RnOut *out);
void table_free(Table *t);

/* Building a table row by row, for tables defined in their own file: a header
 * row first (table_head: right = a numeric column), then the rows' cells in
 * order. A summary is one "mean ± std" cell in Markdown, two columns in TSV. */
void table_begin(Table *t, int ncols);
void table_row(Table *t);
void table_head(Table *t, bool right, const char *text);
void table_head_summary(Table *t, bool tsv, const char *md, const char *tsv_name);
void table_cell(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_cell_summary(Table *t, bool tsv, const Summary *s, int decimals);
void table_cell_count(Table *t, unsigned long long v, bool tsv);
void table_caption(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The paper's Table 6 (table6.c): test error per net against the paper's. */
void build_table6(Table *t, const RunSet *rs, bool tsv);

#endif
