/* The generic safetensors container (lib/safetensors.c). */
#include "fuzz.h"
#include "safetensors.h"

static void reader(const char *path)
{
    RnSafetensors st;
    rn_st_read(&st, path);
    for (int i = 0; i < st.ntensors; i++)   /* touch every tensor's bytes: they must be inside the buffer */
        for (size_t b = st.tensors[i].begin; b < st.tensors[i].end; b += 4096)
            if (st.tensors[i].data[b - st.tensors[i].begin] == 0xA5 && st.nmeta < 0)
                abort();
    rn_st_free(&st);
}
FUZZ_READER(reader)
