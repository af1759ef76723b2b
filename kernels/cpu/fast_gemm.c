/* Single-threaded matrix products for the convolutions (fast.h). The callers
 * parallelise over images, so each product here is small (M, N, K in the
 * hundreds) and runs on one core out of L1/L2.
 *
 * NN: C[M][N] (+)= A[M][K] B[K][N]. The AVX-512 micro-kernel keeps a block of
 * MR rows x NV vectors of 16 columns of C in registers (4 x 4 = 16 zmm
 * accumulators; 8 x 2 where N is 32 wide or less), and for each k loads NV
 * vectors of B's row k and broadcasts MR values of A's column k: 16 FMAs per 8
 * loads. K is cut into slices of KC so the B panel being swept (KC x 64 floats
 * = 32 KiB) stays in L1.
 *
 * NT: C[M][N] (+)= A[M][K] B[N][K]^T, a product of rows with rows. Each of the
 * MR x NR outputs of a block accumulates 16 lanes over K, then the lanes are
 * summed (fixed order). Used for the filter gradient, where K is the image's
 * pixel count and both operands are naturally K-contiguous.
 *
 * rn_fast_transpose turns a matrix round in 16 x 16 blocks held in registers,
 * so that an NT product can run as an NN one (the filter gradients of
 * fast_wino.c and fast_stride2.c).
 *
 * Without AVX-512 (another CPU, -march without it) plain loops take over; the
 * compiler vectorises them for what the target has. */
#include "fast.h"

#include <string.h>

#if defined(__AVX512F__)
#include "fast_tile.h"

/* MR8: the rows of a block when it has at most two vectors of columns: then
 * 4 rows would leave 8 or 4 accumulators, too few chains to cover the FMA
 * latency (4 cycles, 2 FMAs a cycle), and 8 rows keep 16 or 8 busy. The bits
 * are the same (each output's chain over k is unchanged); 32 x 32 x 256, the
 * filter gradient's 32-channel product, ran in 0.94 of the time. */
enum { MR = 4, NV = 4, KC = 128, MR8 = 8 };

/* One mr x nv block of C over k in [0, kc). mr, nv are compile-time constants
 * at every call site (the switch below), so the loops unroll and acc[][] lives
 * in registers. The last vector of a row is masked (N tails). */
static inline __attribute__((always_inline)) void
nn_block(const int mr, const int nv, __mmask16 last, int kc, const float *A, ptrdiff_t a_rs,
         ptrdiff_t a_cs, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate)
{
    __m512 acc[MR8][NV];
#pragma GCC unroll 8
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
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * a_rs]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 8
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
            const int rows = nv <= 2 ? MR8 : MR;
            for (int i = 0; i < M; i += rows) {
                int mr = M - i < rows ? M - i : rows;
                const float *a = A + i * a_rs + k0 * a_cs;
                float *c = C + i * ldc + j;
                switch (mr * 8 + nv) {
                    NN_CASE(8, 2) NN_CASE(7, 2) NN_CASE(6, 2) NN_CASE(5, 2)
                    NN_CASE(8, 1) NN_CASE(7, 1) NN_CASE(6, 1) NN_CASE(5, 1)
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

/* One 16 x 16 block: T[j][i] = S[i][j]. Pairs of rows interleave (unpack),
 * then pairs of pairs (shuffle_ps): 128-bit lane L of u[4q + j] then holds
 * column 4L + j of rows 4q .. 4q + 3. The last two steps move those 128-bit
 * pieces to their rows: output row 4L + j takes lane L of u[j], u[4 + j],
 * u[8 + j], u[12 + j], in that order. (Building the 128-bit pieces' places
 * with inserts from memory instead, then one in-lane 4 x 4 transpose, halves
 * the shuffles but ran 4-8% slower.) */
static void transpose16(const float *S, ptrdiff_t lds, float *T, ptrdiff_t ldt)
{
    __m512 r[16], t[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(S + i * lds);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
        __m512 x2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 x3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
        _mm512_storeu_ps(T + (0 + j) * ldt, _mm512_shuffle_f32x4(x0, x2, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm512_storeu_ps(T + (4 + j) * ldt, _mm512_shuffle_f32x4(x0, x2, _MM_SHUFFLE(3, 1, 3, 1)));
        _mm512_storeu_ps(T + (8 + j) * ldt, _mm512_shuffle_f32x4(x1, x3, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm512_storeu_ps(T + (12 + j) * ldt, _mm512_shuffle_f32x4(x1, x3, _MM_SHUFFLE(3, 1, 3, 1)));
    }
}

void rn_fast_transpose(int rows, int cols, const float *S, ptrdiff_t lds, float *T, ptrdiff_t ldt)
{
    const int rows16 = rows / 16 * 16, cols16 = cols / 16 * 16;
    for (int i = 0; i < rows16; i += 16)
        for (int j = 0; j < cols16; j += 16)
            transpose16(S + i * lds + j, lds, T + j * ldt + i, ldt);
    for (int i = 0; i < rows; i++)   /* the edges: rows below rows16, columns right of cols16 */
        for (int j = i < rows16 ? cols16 : 0; j < cols; j++)
            T[j * ldt + i] = S[i * lds + j];
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

void rn_fast_transpose(int rows, int cols, const float *S, ptrdiff_t lds, float *T, ptrdiff_t ldt)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            T[j * ldt + i] = S[i * lds + j];
}

#endif
