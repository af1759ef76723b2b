/* bench_peak: what this CPU's arithmetic allows, to read the speed table
 * against. Prints one line of key=value pairs (tests/bench/run-bench.sh):
 *
 *   fma_gflops_1t   fp32 FMA throughput of one core: 24 independent chains of
 *                   vector FMAs (enough to cover the FMA latency), no memory
 *   fma_gflops_2t   the same on two threads at once (both cores)
 *   gemm_gflops     rn_fast_gemm_nn on one core, median over the products of
 *                   the F(2x2,3x3) Winograd forward of a 3x3 stride-1 layer of
 *                   16, 32 and 64 channels (16 products of C x 64 columns by
 *                   C x C filters each, operands in cache), as fast_wino.c calls it
 *
 * A chip's nominal peak (cores x FMA units x lanes x 2 x clock) need not be
 * what a core sustains: on a core that splits 512-bit operations in two, 512-
 * and 256-bit FMAs give the same figure. Timings are wall clock; run on a
 * quiet machine. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"
#include "cpu/fast.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

enum { CHAINS = 24 };

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 Vec;
enum { LANES = 16 };
#define VEC_SET1(x) _mm512_set1_ps(x)
#define VEC_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VEC_ADD(a, b) _mm512_add_ps(a, b)
#define VEC_SUM(a) _mm512_reduce_add_ps(a)
#elif defined(__FMA__)
#include <immintrin.h>
typedef __m256 Vec;
enum { LANES = 8 };
#define VEC_SET1(x) _mm256_set1_ps(x)
#define VEC_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VEC_ADD(a, b) _mm256_add_ps(a, b)
static float VEC_SUM(__m256 a)
{
    float f[8], s = 0;
    _mm256_storeu_ps(f, a);
    for (int i = 0; i < 8; i++)
        s += f[i];
    return s;
}
#endif

#ifdef VEC_FMA
/* GFLOP/s of `iters` rounds of CHAINS independent FMAs on one thread. The
 * chains start from different values (seed), so the compiler cannot merge
 * them, and the result is used, so it cannot drop them. */
static double fma_rate(long iters, float seed, float *sink)
{
    Vec a[CHAINS];
    for (int j = 0; j < CHAINS; j++)
        a[j] = VEC_SET1(seed + 1e-3f * (float)j);
    const Vec b = VEC_SET1(0.999f), c = VEC_SET1(1e-4f);
    double t0 = now();
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 24
        for (int j = 0; j < CHAINS; j++)
            a[j] = VEC_FMA(a[j], b, c);
    }
    double dt = now() - t0;
    Vec s = a[0];
    for (int j = 1; j < CHAINS; j++)
        s = VEC_ADD(s, a[j]);
    *sink += VEC_SUM(s);
    return 2.0 * LANES * CHAINS * (double)iters / dt / 1e9;
}
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median GFLOP/s of the Winograd forward's 16 products for C -> C channels
 * over blocks of 64 tile columns (fast_wino.c's FWD_BLOCK), laid out as there. */
static double gemm_rate(int C)
{
    const int N = 64, xis = 16;
    const size_t stride = (size_t)C * N + 16;   /* fast_wino.c's xi_stride */
    float *U = rn_xmalloc((size_t)xis * C * C * sizeof(float));
    float *V = rn_xmalloc((size_t)xis * stride * sizeof(float));
    float *M = rn_xmalloc((size_t)xis * stride * sizeof(float));
    for (size_t i = 0; i < (size_t)xis * C * C; i++)
        U[i] = 0.01f * (float)(i % 13) - 0.06f;
    for (size_t i = 0; i < (size_t)xis * stride; i++)
        V[i] = 0.02f * (float)(i % 7) - 0.06f;
    const long reps = 20000000L / ((long)C * C * N) + 1;
    double rate[7];
    for (int t = 0; t < 7; t++) {
        double t0 = now();
        for (long r = 0; r < reps; r++)
            for (int xi = 0; xi < xis; xi++)
                rn_fast_gemm_nn(C, N, C, U + (size_t)xi * C * C, C, 1, V + xi * stride, N, M + xi * stride, N, 0);
        rate[t] = 2.0 * C * C * N * xis * (double)reps / (now() - t0) / 1e9;
    }
    qsort(rate, 7, sizeof *rate, cmp_double);
    free(U);
    free(V);
    free(M);
    return rate[3];
}

int main(int argc, char **argv)
{
    rn_set_prog(argv[0]);
    if (argc != 1)
        rn_usage_error("no arguments expected");
    float sink = 0;
#ifdef VEC_FMA
    const long iters = 50000000;
    double one = fma_rate(iters, 0.1f, &sink), both = 0;
#pragma omp parallel num_threads(2) reduction(+ : both)
    {
        float s = 0;
        both += fma_rate(iters, 0.2f + 0.1f * (float)omp_get_thread_num(), &s);
#pragma omp atomic
        sink += s;
    }
    printf("fma_gflops_1t=%.1f fma_gflops_2t=%.1f", one, both);
#else
    printf("fma_gflops_1t=- fma_gflops_2t=-");
#endif
    double g[3] = {gemm_rate(16), gemm_rate(32), gemm_rate(64)};
    qsort(g, 3, sizeof *g, cmp_double);
    printf(" gemm_gflops=%.1f sink=%.3g\n", g[1], (double)sink);
    return 0;
}
