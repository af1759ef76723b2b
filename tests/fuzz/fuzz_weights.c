/* Weights files (lib/weights.c on lib/safetensors.c). */
#include "fuzz.h"
#include "weights.h"

static void reader(const char *path)
{
    RnWeights w;
    rn_weights_read(path, &w, NULL);
    rn_weights_free(&w);
}
FUZZ_READER(reader)
