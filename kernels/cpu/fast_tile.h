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

/* 4 x 4: the 8 operand vectors fit in registers next to the 16 accumulators
 * (with a 4 x 6 tile's 24 they do not, gcc then folds each operand into every
 * FMA as a memory operand, and the loop waits on loads: the stem's filter
 * gradient ran 1.4 ms a step with 4 x 6 tiles, 0.95 ms with 4 x 4). */
enum { DOT_TILE_MR = 4, DOT_TILE_NR = 4 };

/* Left to itself, gcc folds a loaded vector into each FMA that uses it as a
 * memory operand, so a value used by several FMAs is loaded again for each:
 * the 4 x 4 tile's loop then waits on loads, not on FMAs (20 loads per 16
 * FMAs). An empty asm that "changes" the vector makes it one load into a
 * register. */
static inline __attribute__((always_inline)) void keep_in_register(__m512 *v)
{
    __asm__("" : "+v"(*v));
}

/* The lane sums of 16 vectors a[0..15] as one vector: lane l = sum of a[l]'s
 * lanes. Each sum pairs the lanes as _mm512_reduce_add_ps does in gcc (lane j
 * plus lane j + 8, then + 4, + 2, + 1), but the 16 reductions share their
 * shuffles: 45 shuffles and adds instead of 16 x 8. Level by level, the
 * halves of two vectors are shuffled side by side and added, so each vector
 * carries the partial sums of twice as many inputs. */
static inline __m512 sum_lanes16(const __m512 a[16])
{
    __m512 h[8], q[4], e[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)   /* lanes 0-7: a[2i]'s j + j+8; lanes 8-15: a[2i+1]'s */
        h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)   /* 128-bit lane k: a[4i + k]'s partials + 4 */
        q[i] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)   /* lanes 4k, 4k+1: a[8i + k]'s partials + 2; 4k+2, 4k+3: a[8i + 4 + k]'s */
        e[i] = _mm512_add_ps(_mm512_shuffle_ps(q[2 * i], q[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(q[2 * i], q[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane 4k: a[k]'s sum, 4k + 1: a[4 + k]'s, 4k + 2: a[8 + k]'s, 4k + 3: a[12 + k]'s */
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, s);
}

/* An mr x nr tile of dot products over k < K:
 *   C[i*ldc + j] (+)= sum_k A[i*lda + k] * b[j][k]
 * Rows of A are contiguous; each column's operand b[j] is its own row pointer,
 * so a caller can point them at rows of a matrix or at shifted input planes.
 * Each product is accumulated in 16 lanes and reduced at the end, in the same
 * order whatever the caller. mr <= 4 and nr <= 4 are compile-time constants at
 * every call site (a switch), so the loops unroll and acc[][] lives in registers. */
static inline __attribute__((always_inline)) void
dot_tile(const int mr, const int nr, int K, const float *A, ptrdiff_t lda, const float *const *b,
         float *C, ptrdiff_t ldc, int accumulate)
{
    __m512 acc[DOT_TILE_MR][DOT_TILE_NR];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {   /* whole vectors: plain loads (masked ones cost more) */
        __m512 av[DOT_TILE_MR], bv[DOT_TILE_NR];
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            av[i] = _mm512_loadu_ps(A + i * lda + k);
            keep_in_register(&av[i]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++) {
            bv[j] = _mm512_loadu_ps(b[j] + k);
            keep_in_register(&bv[j]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
    }
    if (k < K) {   /* the last K % 16: masked, zeros beyond K */
        __mmask16 m = lane_mask(K, k);
        __m512 av[DOT_TILE_MR], bv[DOT_TILE_NR];
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++)
            av[i] = _mm512_maskz_loadu_ps(m, A + i * lda + k);
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            bv[j] = _mm512_maskz_loadu_ps(m, b[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
    }
    if (mr == 4 && nr == 4) {   /* a whole tile: one shared reduction */
        __m512 a16[16];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                a16[4 * i + j] = acc[i][j];
        __m512 s = sum_lanes16(a16);
        __m128 r[4] = {_mm512_extractf32x4_ps(s, 0), _mm512_extractf32x4_ps(s, 1),   /* row i, columns 0..3 */
                       _mm512_extractf32x4_ps(s, 2), _mm512_extractf32x4_ps(s, 3)};
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            _mm_storeu_ps(C + i * ldc, accumulate ? _mm_add_ps(_mm_loadu_ps(C + i * ldc), r[i]) : r[i]);
        return;
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++) {
            float s = _mm512_reduce_add_ps(acc[i][j]);
            C[i * ldc + j] = accumulate ? C[i * ldc + j] + s : s;
        }
}

#endif
