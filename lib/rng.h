/* The one source of randomness: Philox4x32-10 (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11), a counter-based generator. A random
 * number is a pure function of (seed, purpose, a, b): the shuffle of epoch e,
 * the crop/flip of sample i in epoch e, the initial value of weight j are the
 * same on any backend, any thread count, and after a resume. The same function
 * is compiled for the GPU (kernels/cuda) so both backends draw identical bits. */
#ifndef RN_RNG_H
#define RN_RNG_H

#include <stdint.h>

#if defined(__CUDACC__)
#define RN_HD __host__ __device__
#else
#define RN_HD
#endif

/* What a random number is for: part of the counter, so streams never overlap. */
typedef enum {
    RN_RNG_INIT = 1,      /* a = tensor index, b = element index / 2 */
    RN_RNG_SHUFFLE = 2,   /* a = epoch, b = sample index */
    RN_RNG_AUGMENT = 3,   /* a = epoch, b = sample index (dataset position) */
    RN_RNG_SPLIT = 4,     /* a = 0, b = sample index (train/val split, subsets) */
    RN_RNG_TEST = 99,     /* unit tests */
} RnRngPurpose;

/* Philox4x32-10: counter ctr[4], key key[2] -> out[4]. */
static inline RN_HD void rn_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Four random 32-bit words for (seed, purpose, a, b). */
static inline RN_HD void rn_random4(uint64_t seed, uint32_t purpose, uint32_t a, uint32_t b, uint32_t out[4])
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {b, a, purpose, 0x52434E52u /* "RNCR" */};
    rn_philox4x32(ctr, key, out);
}

/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
static inline RN_HD float rn_u01f(uint32_t u) { return (float)(u >> 8) * (1.0f / 16777216.0f); }
/* Uniform in [0, 1) with 53 random bits from two words. */
static inline RN_HD double rn_u01d(uint32_t hi, uint32_t lo)
{
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
}

/* The augmentation of one sample: crop offset in the padded 40x40 image
 * (0..8 in each direction, 4 = centred) and a horizontal flip. */
typedef struct { int dx, dy, flip; } RnAug;
static inline RN_HD RnAug rn_aug_for(uint64_t seed, uint32_t epoch, uint32_t sample, int pad)
{
    uint32_t r[4];
    rn_random4(seed, RN_RNG_AUGMENT, epoch, sample, r);
    RnAug a;
    a.dx = (int)(r[0] % (uint32_t)(2 * pad + 1));
    a.dy = (int)(r[1] % (uint32_t)(2 * pad + 1));
    a.flip = (int)(r[2] >> 31);
    return a;
}

/* Standard normal by Box-Muller from (seed, purpose, a, b): two per counter. */
double rn_normal(uint64_t seed, uint32_t purpose, uint32_t a, uint32_t index);
/* A random permutation of 0..n-1 for (seed, purpose, a): every element gets a
 * 64-bit key from the generator and the elements are sorted by key (ties by
 * index), so the result does not depend on how it is computed. */
void rn_permutation(uint64_t seed, uint32_t purpose, uint32_t a, uint32_t n, uint32_t *perm);

#endif
