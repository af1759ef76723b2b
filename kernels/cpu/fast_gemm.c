/* Single-threaded matrix products for the convolutions (fast.h). The callers
 * parallelise over images, so each product here is small (M, N, K in the
 * hundreds) and runs on one core out of L1/L2.
 *
 * NN: C[M][N] (+)= A[M][K] B[K][N]. The AVX-512 micro-kernel keeps a block of
 * MR rows x NV vectors of 16 columns of C in registers (4 x 4 = 16 zmm
 * accumulators), and for each k loads NV vectors of B's row k and broadcasts MR
 * values of A's column k: 16 FMAs per 8 loads. K is cut into slices of KC so the
 * B panel being swept (KC x 64 floats = 32 KiB) stays in L1.
 *
 * NT: C[M][N] (+)= A[M][K] B[N][K]^T, a product of rows with rows. Each of the
 * MR x NR outputs of a block accumulates 16 lanes over K, then the lanes are
 * summed (fixed order). Used for the filter gradient, where K is the image's
 * pixel count and both operands are naturally K-contiguous.
 *
 * Without AVX-512 (another CPU, -march without it) plain loops take over; the
 * compiler vectorises them for what the target has. */
#include "fast.h"

#include <string.h>

#if defined(__AVX512F__)
#include "fast_tile.h"

enum { MR = 4, NV = 4, KC = 128 };

/* One mr x nv block of C over k in [0, kc). mr, nv are compile-time constants
 * at every call site (the switch below), so the loops unroll and acc[][] lives
 * in registers. The last vector of a row is masked (N tails). */
static inline __attribute__((always_inline)) void
nn_block(const int mr, const int nv, __mmask16 last, int kc, const float *A, ptrdiff_t a_rs,
         ptrdiff_t a_cs, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    __m512 acc[MR][NV];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __mmask16 m = v == nv - 1 ? last : (__mmask16)0xFFFF;
            acc[i][v] = accumulate ? _mm512_maskz_loadu_ps(m, C + i * ldc + 16 * v) : _mm512_setzero_ps();
        }
    for (int k = 0; k < kc; k++) {
        const float *b = B + k * ldb;
        __m512 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
        {
            bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
            keep_in_register(&bv[v]);   /* one load per vector, not one per FMA */
        }
        const float *a = A + k * a_cs;
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * a_rs]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __mmask16 m = v == nv - 1 ? last : (__mmask16)0xFFFF;
            _mm512_mask_storeu_ps(C + i * ldc + 16 * v, m, acc[i][v]);
        }
}

#define NN_CASE(r, v) \
    case (r) * 8 + (v): nn_block(r, v, last, kc, a, a_rs, a_cs, b, ldb, c, ldc, acc); break;

void rn_fast_gemm_nn(int M, int N, int K, const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    if (K == 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++)
                memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int acc = accumulate || k0 > 0;
        for (int j = 0; j < N; j += 16 * NV) {
            int nv = (N - j + 15) / 16;
            if (nv > NV)
                nv = NV;
            __mmask16 last = lane_mask(N, j + 16 * (nv - 1));
            const float *b = B + k0 * ldb + j;
            for (int i = 0; i < M; i += MR) {
                int mr = M - i < MR ? M - i : MR;
                const float *a = A + i * a_rs + k0 * a_cs;
                float *c = C + i * ldc + j;
                switch (mr * 8 + nv) {
                    NN_CASE(4, 4) NN_CASE(4, 3) NN_CASE(4, 2) NN_CASE(4, 1)
                    NN_CASE(3, 4) NN_CASE(3, 3) NN_CASE(3, 2) NN_CASE(3, 1)
                    NN_CASE(2, 4) NN_CASE(2, 3) NN_CASE(2, 2) NN_CASE(2, 1)
                    NN_CASE(1, 4) NN_CASE(1, 3) NN_CASE(1, 2) NN_CASE(1, 1)
                }
            }
        }
    }
}

enum { NT_MR = DOT_TILE_MR, NT_NR = DOT_TILE_NR };   /* 4 x 4: see fast_tile.h */

/* One tile of C = A . B^T: the columns' operands are rows of B. */
static inline __attribute__((always_inline)) void
nt_block(const int mr, const int nr, int K, const float *A, ptrdiff_t lda, const float *B,
         ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    const float *b[NT_NR];
#pragma GCC unroll 4
    for (int j = 0; j < nr; j++)
        b[j] = B + j * ldb;
    dot_tile(mr, nr, K, A, lda, b, C, ldc, accumulate);
}

#define NT_CASE(r, n) \
    case (r) * 8 + (n): nt_block(r, n, K, a, lda, b, ldb, c, ldc, accumulate); break;

void rn_fast_gemm_nt(int M, int N, int K, const float *A, ptrdiff_t lda,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    for (int i = 0; i < M; i += NT_MR) {
        int mr = M - i < NT_MR ? M - i : NT_MR;
        for (int j = 0; j < N; j += NT_NR) {
            int nr = N - j < NT_NR ? N - j : NT_NR;
            const float *a = A + i * lda, *b = B + j * ldb;
            float *c = C + i * ldc + j;
            switch (mr * 8 + nr) {
                NT_CASE(4, 4) NT_CASE(4, 3) NT_CASE(4, 2) NT_CASE(4, 1)
                NT_CASE(3, 4) NT_CASE(3, 3) NT_CASE(3, 2) NT_CASE(3, 1)
                NT_CASE(2, 4) NT_CASE(2, 3) NT_CASE(2, 2) NT_CASE(2, 1)
                NT_CASE(1, 4) NT_CASE(1, 3) NT_CASE(1, 2) NT_CASE(1, 1)
            }
        }
    }
}

#else /* portable fallback */

void rn_fast_gemm_nn(int M, int N, int K, const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    for (int i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (!accumulate)
            memset(c, 0, (size_t)N * sizeof(float));
        for (int k = 0; k < K; k++) {
            float a = A[i * a_rs + k * a_cs];
            const float *b = B + k * ldb;
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}

void rn_fast_gemm_nt(int M, int N, int K, const float *A, ptrdiff_t lda,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;
            for (int k = 0; k < K; k++)
                s += A[i * lda + k] * B[j * ldb + k];
            C[i * ldc + j] = accumulate ? C[i * ldc + j] + s : s;
        }
}

#endif
