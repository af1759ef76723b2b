/* Eval files (lib/evalfile.c), read and printed as TSV. */
#include "evalfile.h"
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

static void reader(const char *path)
{
    RnEval e;
    rn_eval_read(path, &e);
    rn_eval_print_tsv(&e, sink);
    rn_eval_free(&e);
}
FUZZ_READER(reader)
