/* Eval files (lib/evalfile.c), read and printed as TSV. */
#include "evalfile.h"
#include "fuzz.h"

FUZZ_SINK

static void reader(const char *path)
{
    RnEval e;
    rn_eval_read(path, &e);
    rn_eval_print_tsv(&e, sink);
    rn_eval_free(&e);
}
FUZZ_READER(reader)
