/* AVX-512 pieces shared by the fast kernels (fast_gemm.c, fast_direct.c).
 * Include only inside #if defined(__AVX512F__). */
#ifndef RN_FAST_TILE_H
#define RN_FAST_TILE_H

#include <immintrin.h>
#include <stddef.h>

/* Mask of the valid lanes of the vector starting at column j of n. */
static inline __mmask16 lane_mask(int n, int j)
{
    int left = n - j;
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

enum { DOT_TILE_MR = 4, DOT_TILE_NR = 6 };

/* An mr x nr tile of dot products over k < K:
 *   C[i*ldc + j] (+)= sum_k A[i*lda + k] * b[j][k]
 * Rows of A are contiguous; each column's operand b[j] is its own row pointer,
 * so a caller can point them at rows of a matrix or at shifted input planes.
 * Each product is accumulated in 16 lanes and reduced at the end, in the same
 * order whatever the caller. mr <= 4 and nr <= 6 are compile-time constants at
 * every call site (a switch), so the loops unroll and acc[][] lives in registers. */
static inline __attribute__((always_inline)) void
dot_tile(const int mr, const int nr, int K, const float *A, ptrdiff_t lda, const float *const *b,
         float *C, ptrdiff_t ldc, int accumulate)
{
    __m512 acc[DOT_TILE_MR][DOT_TILE_NR];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = lane_mask(K, k);
        __m512 av[DOT_TILE_MR], bv[DOT_TILE_NR];
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++)
            av[i] = _mm512_maskz_loadu_ps(m, A + i * lda + k);
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
            bv[j] = _mm512_maskz_loadu_ps(m, b[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++)
#pragma GCC unroll 6
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++) {
            float s = _mm512_reduce_add_ps(acc[i][j]);
            C[i * ldc + j] = accumulate ? C[i * ldc + j] + s : s;
        }
}

#endif
