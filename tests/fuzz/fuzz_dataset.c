/* Dataset files (lib/dataset.c). */
#include "dataset.h"
#include "fuzz.h"

static void reader(const char *path)
{
    RnDataset ds;
    rn_dataset_read(path, &ds);
    rn_dataset_free(&ds);
}
FUZZ_READER(reader)
