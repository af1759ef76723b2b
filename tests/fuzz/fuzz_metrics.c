/* Metrics files (lib/metrics.c), read and printed as TSV. */
#include "fuzz.h"
#include "metrics.h"

FUZZ_SINK

static void reader(const char *path)
{
    RnMetrics m;
    rn_metrics_read(path, &m);
    rn_metrics_print_tsv(&m, sink);
    rn_metrics_free(&m);
}
FUZZ_READER(reader)
