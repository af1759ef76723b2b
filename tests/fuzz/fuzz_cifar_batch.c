/* Official CIFAR-10 binary batches (lib/cifar_source.c). */
#include "cifar_source.h"
#include "fuzz.h"

static void reader(const char *path)
{
    RnDataset ds;
    rn_cifar_init(&ds);
    rn_cifar_append_batch(&ds, path);
    rn_dataset_free(&ds);
}
FUZZ_READER(reader)
