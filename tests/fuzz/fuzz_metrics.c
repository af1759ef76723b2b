/* Metrics files (lib/metrics.c), read and printed as TSV. */
#include "fuzz.h"

static FILE *sink;   /* opened before any run: the harness frees what a dying run allocated */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!(sink = fopen("/dev/null", "w")))
        abort();
    return 0;
}
#include "metrics.h"

static void reader(const char *path)
{
    RnMetrics m;
    rn_metrics_read(path, &m);
    rn_metrics_print_tsv(&m, sink);
    rn_metrics_free(&m);
}
FUZZ_READER(reader)
