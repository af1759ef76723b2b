#include "rng.h"
#include "err.h"

#include <math.h>
#include <stdlib.h>

double rn_normal(uint64_t seed, uint32_t purpose, uint32_t a, uint32_t index)
{
    uint32_t r[4];
    rn_random4(seed, purpose, a, index / 2, r);
    double u1 = 1.0 - rn_u01d(r[0], r[1]);   /* (0, 1]: log is finite */
    double u2 = rn_u01d(r[2], r[3]);
    double radius = sqrt(-2.0 * log(u1));
    double angle = 2.0 * M_PI * u2;
    return (index & 1) ? radius * sin(angle) : radius * cos(angle);
}

typedef struct {
    uint64_t key;
    uint32_t index;
} KeyedIndex;

static int by_key(const void *pa, const void *pb)
{
    const KeyedIndex *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

void rn_permutation(uint64_t seed, uint32_t purpose, uint32_t a, uint32_t n, uint32_t *perm)
{
    KeyedIndex *k = rn_xmalloc(sizeof *k * (n ? n : 1));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r[4];
        rn_random4(seed, purpose, a, i, r);
        k[i].key = (uint64_t)r[0] << 32 | r[1];
        k[i].index = i;
    }
    qsort(k, n, sizeof *k, by_key);
    for (uint32_t i = 0; i < n; i++)
        perm[i] = k[i].index;
    free(k);
}
