/* The random number generator (lib/rng.h): Philox4x32-10 against the
 * Random123 known-answer vectors (kat_vectors, "philox4x32 10" lines), then
 * the first outputs of everything built on it pinned, so any change to the
 * generator -- which would silently change every initialisation, shuffle and
 * augmentation -- fails here first. */
#include "rng.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4], const char *what)
{
    uint32_t out[4];
    rn_philox4x32(ctr, key, out);
    CHECK(memcmp(out, want, sizeof out) == 0, "Philox4x32-10 known answer, %s: %08x %08x %08x %08x", what, out[0],
          out[1], out[2], out[3]);
}

static void test_philox(void)
{
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    const uint32_t w0[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    kat(c0, k0, w0, "zero counter and key");
    const uint32_t c1[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, k1[2] = {0xffffffff, 0xffffffff};
    const uint32_t w1[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    kat(c1, k1, w1, "all ones");
    /* the digits of pi */
    const uint32_t c2[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, k2[2] = {0xa4093822, 0x299f31d0};
    const uint32_t w2[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    kat(c2, k2, w2, "pi");
}

static void test_pinned(void)
{
    uint32_t o[4];
    rn_random4(1, RN_RNG_TEST, 0, 0, o);
    CHECK(o[0] == 0x0a928825 && o[1] == 0xe5ff3933 && o[2] == 0x70c953e5 && o[3] == 0xfc0b5aa0,
          "rn_random4(1, TEST, 0, 0) pinned");
    rn_random4(0x123456789abcdef0ull, RN_RNG_SHUFFLE, 7, 12345, o);
    CHECK(o[0] == 0x4cc49543 && o[1] == 0x263fcdaa && o[2] == 0x7df7a193 && o[3] == 0x603b33c8,
          "rn_random4 with a 64-bit seed pinned (both key words used)");

    /* Box-Muller goes through libm's log/sin/cos: allow a few ulps. */
    const double normals[4] = {0.89336645971405781, -1.1111270332993473, -0.21114912552611667, -0.38414144148084334};
    for (uint32_t i = 0; i < 4; i++) {
        double v = rn_normal(1, RN_RNG_INIT, 3, i);
        CHECK(test_close(v, normals[i], 0, 1e-14), "rn_normal(1, INIT, 3, %u) = %.17g pinned", i, v);
    }

    uint32_t p[10];
    const uint32_t p1[10] = {9, 6, 4, 0, 1, 5, 3, 8, 2, 7}, p2[10] = {6, 1, 8, 5, 4, 9, 7, 2, 0, 3};
    rn_permutation(1, RN_RNG_SHUFFLE, 0, 10, p);
    CHECK(memcmp(p, p1, sizeof p) == 0, "rn_permutation(1, SHUFFLE, 0, 10) pinned");
    rn_permutation(42, RN_RNG_SHUFFLE, 5, 10, p);
    CHECK(memcmp(p, p2, sizeof p) == 0, "rn_permutation(42, SHUFFLE, 5, 10) pinned");

    RnAug a = rn_aug_for(1, 0, 0, 4);
    CHECK(a.dx == 2 && a.dy == 5 && a.flip == 1, "rn_aug_for(1, 0, 0, 4) pinned: dx %d dy %d flip %d", a.dx, a.dy,
          a.flip);
}

static void test_properties(void)
{
    CHECK(rn_u01f(0xffffffffu) < 1.0f && rn_u01f(0) == 0.0f, "rn_u01f in [0, 1)");
    CHECK(rn_u01d(0xffffffffu, 0xffffffffu) < 1.0 && rn_u01d(0, 0) == 0.0, "rn_u01d in [0, 1)");

    /* A large permutation is a permutation. */
    enum { N = 50000 };
    uint32_t *perm = malloc(N * sizeof *perm);
    char *seen = calloc(N, 1);
    rn_permutation(7, RN_RNG_SHUFFLE, 3, N, perm);
    int ok = 1, moved = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (perm[i] >= N || seen[perm[i]])
            ok = 0;
        else
            seen[perm[i]] = 1;
        moved += perm[i] != i;
    }
    CHECK(ok && moved > N - 10, "rn_permutation of %d is a permutation that moves almost everything", N);
    free(perm);
    free(seen);

    /* Normals: sample mean and variance of 200,000 draws (loose: 5 sigma). */
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double v = rn_normal(3, RN_RNG_TEST, 1, (uint32_t)i);
        s += v;
        s2 += v * v;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    CHECK(fabs(mean) < 5 / sqrt(n) && fabs(var - 1) < 5 * sqrt(2.0 / n), "rn_normal mean %.4f, variance %.4f", mean,
          var);

    /* Augmentation covers every offset 0..8 and flips about half the time. */
    int hist[9] = {0}, flips = 0;
    for (uint32_t i = 0; i < 9000; i++) {
        RnAug a = rn_aug_for(5, 2, i, 4);
        hist[a.dx]++;
        flips += a.flip;
    }
    int all = 1;
    for (int k = 0; k < 9; k++)
        all &= hist[k] > 850 && hist[k] < 1150;
    CHECK(all && flips > 4300 && flips < 4700, "rn_aug_for: offsets uniform over 0..8, flip p ~ 0.5 (%d of 9000)",
          flips);
}

int main(void)
{
    test_philox();
    test_pinned();
    test_properties();
    return test_done();
}
