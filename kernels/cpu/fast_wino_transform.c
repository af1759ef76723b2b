/* The Winograd path's tile transforms (fast_wino.h; the scheme, the matrices'
 * layout and the blocks are described in fast_wino.c): patches of x into V,
 * M back into output planes (with the eval-mode batch norm epilogue), and dy
 * into the filter gradient's dM, for F(2x2,3x3) and F(4x4,3x3). A vector holds
 * 16 tiles; where a tile row is shorter than a vector, the vector spans
 * several tile rows ("segments"). The planes of the nets (8, 16 and 32 wide)
 * are read straight from x; others go through a zero-padded copy split by
 * column phase (pad_split). */
#include "fast_wino.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#include <string.h>

static __mmask16 lanes(int n)
{
    return n <= 0 ? 0 : n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* A run of lanes [l0, l0 + n) of one vector whose tiles share tile row ty,
 * starting at tile column tx. */
typedef struct {
    int l0, n, ty, tx;
} Segment;

static int segments(const Wino *g, int v, Segment s[16])
{
    int count = 0;
    for (int l0 = 0; l0 < 16;) {
        int t = 16 * v + l0;
        if (t >= g->T)
            break;
        int tx = t % g->TW, n = g->TW - tx;
        if (n > 16 - l0)
            n = 16 - l0;
        s[count++] = (Segment){l0, n, t / g->TW, tx};
        l0 += n;
    }
    return count;
}

/* acc with lanes [l0, l0 + n) replaced by src[0 .. n): a masked load from
 * src - l0, which reads no lane outside the mask. (src - l0 stays inside the
 * workspace: the split planes always come after the transformed filters.) */
static inline __m512 place(__m512 acc, const Segment *s, const float *src)
{
    if (s->n == 16)
        return _mm512_loadu_ps(src);
    return _mm512_mask_loadu_ps(acc, (__mmask16)(lanes(s->n) << s->l0), src - s->l0);
}

/* One output channel's eval-mode batch norm, broadcast (see RnFastBnEval). */
typedef struct {
    int on, relu;
    __m512 mean, scale, beta;
} Epilogue;

/* Output channel k's epilogue: bn's, or none when bn is NULL */
static inline Epilogue epilogue(const RnFastBnEval *bn, int k)
{
    if (!bn)
        return (Epilogue){0, 0, _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    return (Epilogue){1, bn->relu, _mm512_set1_ps(bn->mean[k]), _mm512_set1_ps(bn->scale[k]),
                      _mm512_set1_ps(bn->beta[k])};
}

/* v, the outputs at dst (lanes m), through the epilogue; res points at the
 * residual of the same outputs (or is NULL; without a batch norm it is simply
 * added, as be->add would). The operations and their order are plane_out's in
 * fast_bn.c: fma(v - mean, scale, beta) + res. */
static inline __m512 finish(const Epilogue *e, __m512 v, const float *res, __mmask16 m)
{
    if (e->on)
        v = _mm512_fmadd_ps(_mm512_sub_ps(v, e->mean), e->scale, e->beta);
    if (res)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    if (e->relu)   /* v <= 0 -> 0; a NaN stays (the comparison is false) */
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LE_OQ), _mm512_setzero_ps());
    return v;
}

/* Lanes [l0, l0 + n) of a (even columns) and b (odd columns) interleaved into
 * dst[0 .. 2n): one output row of the segment's tiles, through the epilogue
 * (res: the residual at dst, or NULL). */
static inline void store_pairs(const Segment *s, __m512 a, __m512 b, const Epilogue *e, const float *res, float *dst)
{
    if (s->n == 16) {
        const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        _mm512_storeu_ps(dst, finish(e, _mm512_permutex2var_ps(a, lo, b), res, 0xFFFF));
        _mm512_storeu_ps(dst + 16, finish(e, _mm512_permutex2var_ps(a, hi, b), res ? res + 16 : NULL, 0xFFFF));
        return;
    }
    /* output lane p takes lane l0 + p/2 of a (p even) or of b (p odd: +16) */
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i idx = _mm512_add_epi32(_mm512_add_epi32(_mm512_srli_epi32(p, 1), _mm512_set1_epi32(s->l0)),
                                   _mm512_slli_epi32(_mm512_and_si512(p, _mm512_set1_epi32(1)), 4));
    __mmask16 m = lanes(2 * s->n);
    _mm512_mask_storeu_ps(dst, m, finish(e, _mm512_permutex2var_ps(a, idx, b), res, m));
}

/* The reverse: src[0 .. 2n) split into even columns (lanes [l0, l0+n) of *a)
 * and odd columns (of *b). */
static inline void load_pairs(const Segment *s, const float *src, __m512 *a, __m512 *b)
{
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    if (s->n == 16) {
        __m512 lo = _mm512_loadu_ps(src), hi = _mm512_loadu_ps(src + 16);
        __m512i even = _mm512_slli_epi32(p, 1);
        *a = _mm512_permutex2var_ps(lo, even, hi);
        *b = _mm512_permutex2var_ps(lo, _mm512_add_epi32(even, _mm512_set1_epi32(1)), hi);
        return;
    }
    __m512 r = _mm512_maskz_loadu_ps(lanes(2 * s->n), src);
    __m512i even = _mm512_slli_epi32(_mm512_sub_epi32(p, _mm512_set1_epi32(s->l0)), 1);
    __mmask16 m = (__mmask16)(lanes(s->n) << s->l0);
    *a = _mm512_mask_permutexvar_ps(*a, m, even, r);
    *b = _mm512_mask_permutexvar_ps(*b, m, _mm512_add_epi32(even, _mm512_set1_epi32(1)), r);
}

/* P = the C planes of x (one image), zero-padded by one and split by column
 * phase: row r of a plane holds phase q = 0 .. m-1 at q * PH, and
 * phase q [t] = x_pad[r][m t + q] for t <= TW. (m = 2: E = even then O = odd.) */
static inline __attribute__((always_inline)) void pad_split_m(const int m, const Wino *g, int C, const float *x,
                                                              float *P)
{
    const int H = g->H, W = g->W, TW = g->TW, RS = g->RS, PH = g->PH;
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i pick[4];   /* lane t takes column m t + s of a 32-column chunk */
    for (int s = 0; s < m; s++)
        pick[s] = _mm512_add_epi32(_mm512_mullo_epi32(p, _mm512_set1_epi32(m)), _mm512_set1_epi32(s));
    for (int c = 0; c < C; c++) {
        float *pl = P + (size_t)c * g->plane;
        memset(pl, 0, (size_t)RS * sizeof(float));
        memset(pl + (size_t)(H + 1) * RS, 0, (size_t)RS * sizeof(float));
        for (int r = 1; r <= H; r++) {
            float *row = pl + (size_t)r * RS;
            const float *src = x + ((size_t)c * H + r - 1) * W;
            row[0] = 0;                  /* phase 0, t = 0: padded column 0 */
            for (int q = 1; q < m; q++)  /* padded columns W + q: the right pad (q = 1) and beyond */
                row[q * PH + TW] = 0;
            /* x column m t + s sits at padded column m t + s + 1: phase (s + 1) % m,
             * index t, or t + 1 for s = m - 1 (phase 0) */
            for (int q0 = 0; q0 < W; q0 += 32) {
                int n = W - q0 < 32 ? W - q0 : 32;
                __m512 lo = _mm512_maskz_loadu_ps(lanes(n), src + q0);
                __m512 hi = _mm512_maskz_loadu_ps(lanes(n - 16), src + q0 + 16);
#pragma GCC unroll 4
                for (int s = 0; s < m; s++)
                    _mm512_mask_storeu_ps(row + ((s + 1) % m) * PH + q0 / m + (s == m - 1), lanes(n / m),
                                          _mm512_permutex2var_ps(lo, pick[s], hi));
            }
        }
    }
}

/* m as a constant, so the phase loops unroll. The split costs about 1.35x a
 * memcpy of the same image (measured on a 16x32x32 image: 1.8 vs 1.35 us): it
 * is bound by reading x from the last-level cache, not by its shuffles (a
 * table-driven copy of whole output vectors ran slower). Hence the direct
 * transforms below, which read x once, for the planes they can take. */
static void pad_split(const Wino *g, int C, const float *x, float *P)
{
    if (g->m == 4)
        pad_split_m(4, g, C, x, P);
    else
        pad_split_m(2, g, C, x, P);
}

/* V of one vector of tiles and one channel from its 4x4 patches d: F(2x2,3x3)'s
 * B^T d B, stored at out (xi rows `stride` floats apart) */
static inline void transform2_store(__m512 d[4][4], float *out, size_t stride)
{
    __m512 r[4][4];   /* B^T d */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
        r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
        r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
        r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {   /* (B^T d) B */
        _mm512_storeu_ps(out + (4 * i + 0) * stride, _mm512_sub_ps(r[i][0], r[i][2]));
        _mm512_storeu_ps(out + (4 * i + 1) * stride, _mm512_add_ps(r[i][1], r[i][2]));
        _mm512_storeu_ps(out + (4 * i + 2) * stride, _mm512_sub_ps(r[i][2], r[i][1]));
        _mm512_storeu_ps(out + (4 * i + 3) * stride, _mm512_sub_ps(r[i][1], r[i][3]));
    }
}

/* V_xi[c][16 (v - vb) + lane] (columns at V, row stride g->gt) for vectors
 * [vb, ve) of one image, from its split planes P: F(2x2,3x3) */
static void input_transform2(const Wino *g, int C, const float *P, int vb, int ve, float *V)
{
    const int TW = g->TW;
    const size_t stride = xi_stride(g, C);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int c = 0; c < C; c++) {
            const float *pl = P + (size_t)c * g->plane;
            __m512 d[4][4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    d[i][j] = _mm512_setzero_ps();
            for (int s = 0; s < ns; s++)
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    const float *E = pl + (size_t)(2 * seg[s].ty + i) * g->RS + seg[s].tx, *O = E + TW + 1;
                    d[i][0] = place(d[i][0], &seg[s], E);
                    d[i][1] = place(d[i][1], &seg[s], O);
                    d[i][2] = place(d[i][2], &seg[s], E + 1);
                    d[i][3] = place(d[i][3], &seg[s], O + 1);
                }
            transform2_store(d, V + (size_t)c * g->gt + 16 * (v - vb), stride);
        }
    }
}

/* F(2x2,3x3)'s patches straight from x's planes, without the split copy, for
 * planes 8, 16 or 32 wide whose tiles fill whole vectors (the training
 * forward's every plane, the 8x8 ones of the other passes). A vector holds R =
 * 16 / TW tile rows, and patch row i of its tiles reads R rows of x, two
 * apart: R * W = 32 floats, two vectors S = s0:s1 (halves of one row, two
 * rows, or four half rows). Patch column j of the tile in lane l is then
 * S[(l / TW) * W + 2 (l % TW) + j - 1], one two-source permute per (i, j),
 * with the lanes that fall in the padding (column -1 or W) zeroed. The
 * patches are the split path's, so are the bits. The split copy is bound by
 * reading x (pad_split); here that read is the only one. */
static int direct2_ok(const Wino *g)
{
    return g->m == 2 && (g->W == 8 || g->W == 16 || g->W == 32) && g->T % 16 == 0;
}

/* 8 floats of x's row r of a plane (zero outside the plane) */
static inline __m256 half_row(const float *pl, int H, int W, int r)
{
    return r < 0 || r >= H ? _mm256_setzero_ps() : _mm256_loadu_ps(pl + (size_t)r * W);
}

/* Asks for rows [first, first + count) of a plane (clipped to its H rows of
 * W floats) to be brought into L1 ahead of use. Why: every transform here
 * visits one plane after another, a few rows of each, and reads those rows all
 * at once. A batch's planes are far larger than L2 and one plane lies a page
 * or more from the next, so the hardware prefetcher, which follows a stream
 * within a page, has not started on a plane by the time it is read: each step
 * waited for its rows. So each step asks for the next plane's rows before
 * working on its own. (Alone, the 32- and 16-wide F(4x4) input transforms on
 * planes from memory ran in 0.85 and 0.88 of the time; a training step in
 * about 0.96. Asking for the output planes' lines ahead, for writing, gained
 * nothing measurable and is not done.) */
static inline void prefetch_rows(const float *pl, int first, int count, int H, int W)
{
    const int r0 = first < 0 ? 0 : first, r1 = first + count < H ? first + count : H;
    /* prefetcht0 by asm: gcc deletes a loop whose only statements are
     * _mm_prefetch or __builtin_prefetch as a loop without effects */
    for (const float *p = pl + (size_t)r0 * W, *end = pl + (size_t)r1 * W; p < end; p += 16)
        __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
}

/* The plane rows that the tiles of a vector's ns segments cover (m x m tiles) */
static inline int first_row(const Wino *g, const Segment *seg)
{
    return g->m * seg[0].ty;
}
static inline int row_count(const Wino *g, const Segment *seg, int ns)
{
    return g->m * (seg[ns - 1].ty - seg[0].ty + 1);
}

/* 16 floats of x's row r (W >= 16) from column q (zero outside the plane) */
static inline __m512 full_row(const float *pl, int H, int W, int r, int q)
{
    return r < 0 || r >= H ? _mm512_setzero_ps() : _mm512_loadu_ps(pl + (size_t)r * W + q);
}

static void input_transform2_direct(const Wino *g, int C, const float *x, int vb, int ve, float *V)
{
    const int H = g->H, W = g->W, TW = g->TW, R = 16 / TW;
    const size_t stride = xi_stride(g, C), xplane = (size_t)H * W;
    __m512i idx[4];
    __mmask16 keep[4];
    for (int j = 0; j < 4; j++) {
        int32_t at[16];
        keep[j] = 0;
        for (int l = 0; l < 16; l++) {
            int col = 2 * (l % TW) + j - 1;
            at[l] = col >= 0 && col < W ? (l / TW) * W + col : 0;
            keep[j] |= (__mmask16)((col >= 0 && col < W) << l);
        }
        idx[j] = _mm512_loadu_si512(at);
    }
    for (int v = vb; v < ve; v++) {
        const int r0 = 2 * v * R - 1;   /* x row of patch row 0 of the vector's first tile row */
        for (int c = 0; c < C; c++) {
            const float *pl = x + (size_t)c * xplane;
            if (c + 1 < C)
                prefetch_rows(pl + xplane, r0, 2 * R + 2, H, W);
            __m512 d[4][4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const int r = r0 + i;
                __m512 s0, s1;
                if (R == 1) {
                    s0 = full_row(pl, H, W, r, 0);
                    s1 = full_row(pl, H, W, r, 16);
                } else if (R == 2) {
                    s0 = full_row(pl, H, W, r, 0);
                    s1 = full_row(pl, H, W, r + 2, 0);
                } else {
                    s0 = _mm512_insertf32x8(_mm512_castps256_ps512(half_row(pl, H, W, r)), half_row(pl, H, W, r + 2),
                                            1);
                    s1 = _mm512_insertf32x8(_mm512_castps256_ps512(half_row(pl, H, W, r + 4)),
                                            half_row(pl, H, W, r + 6), 1);
                }
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    d[i][j] = _mm512_maskz_permutex2var_ps(keep[j], s0, idx[j], s1);
            }
            transform2_store(d, V + (size_t)c * g->gt + 16 * (v - vb), stride);
        }
    }
}

/* The tiles of vectors [vb, ve) of y (one image, K planes) from M_xi[k][t]
 * (columns at M as in input_transform), through bn when not NULL (res: this
 * image's residual, or NULL): F(2x2,3x3) */
static void output_transform2(const Wino *g, int K, const float *M, int vb, int ve, const RnFastBnEval *bn,
                              const float *res, float *y)
{
    const size_t stride = xi_stride(g, K);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int k = 0; k < K; k++) {
            const float *in = M + (size_t)k * g->gt + 16 * (v - vb);
            const Epilogue e = epilogue(bn, k);
            if (res && k + 1 < K)   /* the next plane's residual rows of these tiles */
                prefetch_rows(res + (size_t)(k + 1) * g->H * g->W, first_row(g, seg), row_count(g, seg, ns), g->H,
                              g->W);
            __m512 m[4][4];
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; xi++)
                m[xi / 4][xi % 4] = _mm512_loadu_ps(in + xi * stride);
            __m512 r[2][4];   /* A^T m */
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                r[0][j] = _mm512_add_ps(_mm512_add_ps(m[0][j], m[1][j]), m[2][j]);
                r[1][j] = _mm512_sub_ps(_mm512_sub_ps(m[1][j], m[2][j]), m[3][j]);
            }
            __m512 o[2][2];   /* (A^T m) A */
#pragma GCC unroll 2
            for (int a = 0; a < 2; a++) {
                o[a][0] = _mm512_add_ps(_mm512_add_ps(r[a][0], r[a][1]), r[a][2]);
                o[a][1] = _mm512_sub_ps(_mm512_sub_ps(r[a][1], r[a][2]), r[a][3]);
            }
            for (int s = 0; s < ns; s++)
#pragma GCC unroll 2
                for (int a = 0; a < 2; a++) {
                    size_t at = ((size_t)k * g->H + 2 * seg[s].ty + a) * g->W + 2 * seg[s].tx;
                    store_pairs(&seg[s], o[a][0], o[a][1], &e, res ? res + at : NULL, y + at);
                }
        }
    }
}

/* F(4x4,3x3), with the interpolation points 0, 1, -1, 2, -2 and infinity:
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |       |  0     0     1    |
 *
 * 36 products per 16 outputs instead of 144 for a direct convolution and 64
 * for four F(2x2,3x3) tiles; the larger coefficients cost about 6x the
 * rounding error of F(2x2,3x3) (float32 simulation, 16 channels: 1.0e-6 vs
 * 1.8e-7 relative; tests/unit/test_fast.c bounds it). Each 1-D transform
 * below is written so that every term passes at most 2 roundings (B^T) or 3
 * (A^T). */
static inline void bt6(__m512 d0, __m512 d1, __m512 d2, __m512 d3, __m512 d4, __m512 d5, __m512 t[6])
{
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    __m512 s12 = _mm512_add_ps(d1, d2), s34 = _mm512_add_ps(d3, d4);
    __m512 d12 = _mm512_sub_ps(d1, d2), d43 = _mm512_sub_ps(d4, d3);
    __m512 d31 = _mm512_sub_ps(d3, d1), d42 = _mm512_sub_ps(d4, d2);
    t[0] = _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4));
    t[1] = _mm512_fnmadd_ps(four, s12, s34);
    t[2] = _mm512_fmadd_ps(four, d12, d43);
    t[3] = _mm512_fmadd_ps(two, d31, d42);
    t[4] = _mm512_fnmadd_ps(two, d31, d42);
    t[5] = _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5));
}

static inline void at6(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 m4, __m512 m5, __m512 o[4])
{
    __m512 s12 = _mm512_add_ps(m1, m2), s34 = _mm512_add_ps(m3, m4);
    __m512 d12 = _mm512_sub_ps(m1, m2), d34 = _mm512_sub_ps(m3, m4);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d34, d12), m5);
}

/* B^T (d B) of one vector of tiles and one channel from r = d B (row by row),
 * stored at out (xi rows `stride` floats apart): F(4x4,3x3) */
static inline void transform4_store(__m512 r[6][6], float *out, size_t stride)
{
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++) {   /* B^T (d B) */
        __m512 t[6];
        bt6(r[0][j], r[1][j], r[2][j], r[3][j], r[4][j], r[5][j], t);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
            _mm512_storeu_ps(out + (6 * i + j) * stride, t[i]);
    }
}

/* input_transform2 for 4x4 tiles: patch column j of tile tx is phase j % 4 at
 * index tx + j / 4 */
static void input_transform4(const Wino *g, int C, const float *P, int vb, int ve, float *V)
{
    const int PH = g->PH;
    const size_t stride = xi_stride(g, C);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int c = 0; c < C; c++) {
            const float *pl = P + (size_t)c * g->plane;
            __m512 r[6][6];   /* d B, row by row */
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 d[6];
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++)
                    d[j] = _mm512_setzero_ps();
                for (int s = 0; s < ns; s++) {
                    const float *row = pl + (size_t)(4 * seg[s].ty + i) * g->RS + seg[s].tx;
#pragma GCC unroll 6
                    for (int j = 0; j < 6; j++)
                        d[j] = place(d[j], &seg[s], row + (j % 4) * PH + j / 4);
                }
                bt6(d[0], d[1], d[2], d[3], d[4], d[5], r[i]);
            }
            transform4_store(r, V + (size_t)c * g->gt + 16 * (v - vb), stride);
        }
    }
}

/* F(4x4,3x3)'s patches straight from x's planes 16 or 32 wide whose tiles
 * fill whole vectors. 16 wide: a vector holds four tile rows of four tiles,
 * and patch row i reads four rows of x, four apart, one vector each. Two rows
 * at a time are permuted together into a column pair (j, j + 1): lanes 0..7
 * hold column j of the first row's four tiles, then of the second's; lanes
 * 8..15 column j + 1 alike; column j of tile t is x[4t + j - 1] (0 outside
 * the plane). Column j of the vector is then the low half of the first two
 * rows' pair beside the low half of the last two rows' (column j + 1: the high
 * halves). That is 12 shuffles per patch row; permuting each row alone, then
 * transposing quarters, took 20 and ran about 2% slower. The patches are the
 * split path's, so are the bits. */
static int direct4_ok(const Wino *g)
{
    return g->m == 4 && (g->W == 16 || g->W == 32) && g->T % 16 == 0;
}

/* The same for 32-wide planes: a vector holds two tile rows of eight tiles;
 * each of patch row i's two rows of x (two vectors each) is permuted into
 * column pairs (j, j + 1), 8 lanes each, and column j of the vector is the
 * j-th half of the first row's pair beside that of the second. The planes
 * go one by one, each from top to bottom: alone, on planes from memory, that
 * ran in 0.85-0.90 of the time of taking each vector through all the planes
 * (training steps: 0.99, within their noise). The output and gradient
 * transforms taken plane by plane gained nothing measurable and stay as they
 * are. */
static void input_transform4_direct32(const Wino *g, int C, const float *x, int vb, int ve, float *V)
{
    const int H = g->H, W = g->W;
    const size_t stride = xi_stride(g, C), xplane = (size_t)H * W;
    __m512i ip[3];
    __mmask16 keep[3] = {0, 0, 0};
    for (int h = 0; h < 3; h++) {
        int32_t at[16];
        for (int l = 0; l < 16; l++) {
            int col = 4 * (l % 8) + 2 * h + l / 8 - 1;   /* column 2h + l/8 of tile l % 8 */
            int ok = col >= 0 && col < W;
            at[l] = ok ? col : 0;
            keep[h] |= (__mmask16)(ok << l);
        }
        ip[h] = _mm512_loadu_si512(at);
    }
    for (int c = 0; c < C; c++) {   /* plane by plane, so that x is read in order */
        const float *pl = x + (size_t)c * xplane;
        for (int v = vb; v < ve; v++) {
            const int r0 = 8 * v - 1;   /* x row of patch row 0 of the vector's first tile row */
            if (c + 1 < C)   /* read ve - vb steps from now */
                prefetch_rows(pl + xplane, r0, 10, H, W);
            __m512 r[6][6];   /* d B, row by row */
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 a0 = full_row(pl, H, W, r0 + i, 0), a1 = full_row(pl, H, W, r0 + i, 16);
                __m512 b0 = full_row(pl, H, W, r0 + i + 4, 0), b1 = full_row(pl, H, W, r0 + i + 4, 16);
                __m512 d[6];
#pragma GCC unroll 3
                for (int h = 0; h < 3; h++) {
                    __m512 pa = _mm512_maskz_permutex2var_ps(keep[h], a0, ip[h], a1);
                    __m512 pb = _mm512_maskz_permutex2var_ps(keep[h], b0, ip[h], b1);
                    d[2 * h] = _mm512_shuffle_f32x4(pa, pb, _MM_SHUFFLE(1, 0, 1, 0));
                    d[2 * h + 1] = _mm512_shuffle_f32x4(pa, pb, _MM_SHUFFLE(3, 2, 3, 2));
                }
                bt6(d[0], d[1], d[2], d[3], d[4], d[5], r[i]);
            }
            transform4_store(r, V + (size_t)c * g->gt + 16 * (v - vb), stride);
        }
    }
}

/* The 16-wide one. It repeats the 32-wide one's shape on purpose: one body
 * for both (W a constant of an inlined function), or the patch row as a
 * shared inline function, made each transform 5-14% slower, measured alone. */
static void input_transform4_direct16(const Wino *g, int C, const float *x, int vb, int ve, float *V)
{
    const int H = g->H, W = g->W;
    const size_t stride = xi_stride(g, C), xplane = (size_t)H * W;
    __m512i ip[3];
    __mmask16 keep[3] = {0, 0, 0};
    for (int h = 0; h < 3; h++) {
        int32_t at[16];
        for (int l = 0; l < 16; l++) {
            int col = 4 * (l % 4) + 2 * h + l / 8 - 1;   /* column 2h + l/8 of tile l % 4 */
            int ok = col >= 0 && col < W;
            at[l] = ok ? col + 16 * (l / 4 % 2) : 0;      /* lanes 4..7 and 12..15 from the second row */
            keep[h] |= (__mmask16)(ok << l);
        }
        ip[h] = _mm512_loadu_si512(at);
    }
    for (int v = vb; v < ve; v++) {
        const int r0 = 16 * v - 1;   /* x row of patch row 0 of the vector's first tile row */
        for (int c = 0; c < C; c++) {
            const float *pl = x + (size_t)c * xplane;
            if (c + 1 < C)
                prefetch_rows(pl + xplane, r0, 18, H, W);
            __m512 r[6][6];   /* d B, row by row */
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 s0 = full_row(pl, H, W, r0 + i, 0), s1 = full_row(pl, H, W, r0 + i + 4, 0);
                __m512 s2 = full_row(pl, H, W, r0 + i + 8, 0), s3 = full_row(pl, H, W, r0 + i + 12, 0);
                __m512 d[6];
#pragma GCC unroll 3
                for (int h = 0; h < 3; h++) {
                    __m512 p01 = _mm512_maskz_permutex2var_ps(keep[h], s0, ip[h], s1);
                    __m512 p23 = _mm512_maskz_permutex2var_ps(keep[h], s2, ip[h], s3);
                    d[2 * h] = _mm512_shuffle_f32x4(p01, p23, _MM_SHUFFLE(1, 0, 1, 0));
                    d[2 * h + 1] = _mm512_shuffle_f32x4(p01, p23, _MM_SHUFFLE(3, 2, 3, 2));
                }
                bt6(d[0], d[1], d[2], d[3], d[4], d[5], r[i]);
            }
            transform4_store(r, V + (size_t)c * g->gt + 16 * (v - vb), stride);
        }
    }
}

/* Lanes [l0, l0 + n) of o[0..3] (the four columns of one output row of the
 * segment's 4x4 tiles) interleaved into dst[0 .. 4n), through the epilogue */
static inline void store_quads(const Segment *s, const __m512 o[4], const Epilogue *e, const float *res, float *dst)
{
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /* output lane 4u + c: tile lane l0 + u0 + u, column c from o[c] (c odd: +16 picks the second source) */
    const __m512i odd = _mm512_slli_epi32(_mm512_and_si512(p, _mm512_set1_epi32(1)), 4);
    for (int u0 = 0; u0 < s->n; u0 += 4) {
        __m512i idx = _mm512_add_epi32(_mm512_add_epi32(_mm512_srli_epi32(p, 2), _mm512_set1_epi32(s->l0 + u0)), odd);
        __m512 v = _mm512_mask_blend_ps(0xCCCC, _mm512_permutex2var_ps(o[0], idx, o[1]),
                                        _mm512_permutex2var_ps(o[2], idx, o[3]));
        __mmask16 m = lanes(4 * (s->n - u0));
        _mm512_mask_storeu_ps(dst + 4 * u0, m, finish(e, v, res ? res + 4 * u0 : NULL, m));
    }
}

/* output_transform2 for 4x4 tiles */
static void output_transform4(const Wino *g, int K, const float *M, int vb, int ve, const RnFastBnEval *bn,
                              const float *res, float *y)
{
    const size_t stride = xi_stride(g, K);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int k = 0; k < K; k++) {
            const float *in = M + (size_t)k * g->gt + 16 * (v - vb);
            const Epilogue e = epilogue(bn, k);
            if (res && k + 1 < K)   /* the next plane's residual rows of these tiles */
                prefetch_rows(res + (size_t)(k + 1) * g->H * g->W, first_row(g, seg), row_count(g, seg, ns), g->H,
                              g->W);
            __m512 r[6][4];   /* m A, row by row */
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                const float *row = in + 6 * i * stride;
                at6(_mm512_loadu_ps(row), _mm512_loadu_ps(row + stride), _mm512_loadu_ps(row + 2 * stride),
                    _mm512_loadu_ps(row + 3 * stride), _mm512_loadu_ps(row + 4 * stride),
                    _mm512_loadu_ps(row + 5 * stride), r[i]);
            }
            __m512 o[4][4];   /* A^T (m A), o[a][b] */
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) {
                __m512 t[4];
                at6(r[0][b], r[1][b], r[2][b], r[3][b], r[4][b], r[5][b], t);
#pragma GCC unroll 4
                for (int a = 0; a < 4; a++)
                    o[a][b] = t[a];
            }
            for (int s = 0; s < ns; s++)
#pragma GCC unroll 4
                for (int a = 0; a < 4; a++) {
                    size_t at = ((size_t)k * g->H + 4 * seg[s].ty + a) * g->W + 4 * seg[s].tx;
                    store_quads(&seg[s], o[a], &e, res ? res + at : NULL, y + at);
                }
        }
    }
}

static void input_transform(const Wino *g, int C, const float *P, int vb, int ve, float *V)
{
    if (g->m == 4)
        input_transform4(g, C, P, vb, ve, V);
    else
        input_transform2(g, C, P, vb, ve, V);
}

/* V from x's planes without the split copy (direct2_ok or direct4_ok planes),
 * or through the split planes P (pad_split at the image's first block) */
void rn_wino_input(const Wino *g, const float *x, float *P, int vb, int ve, float *V)
{
    if (direct4_ok(g))
        (g->W == 32 ? input_transform4_direct32 : input_transform4_direct16)(g, g->C, x, vb, ve, V);
    else if (direct2_ok(g))
        input_transform2_direct(g, g->C, x, vb, ve, V);
    else {
        if (vb == 0)
            pad_split(g, g->C, x, P);
        input_transform(g, g->C, P, vb, ve, V);
    }
}

void rn_wino_output(const Wino *g, int K, const float *M, int vb, int ve, const RnFastBnEval *bn,
                    const float *res, float *y)
{
    if (g->m == 4)
        output_transform4(g, K, M, vb, ve, bn, res, y);
    else
        output_transform2(g, K, M, vb, ve, bn, res, y);
}

/* dM_xi[k][t] = (A dY_t A^T)[xi] for the tiles of vectors [vb, ve) of one
 * image's output gradient dy (K planes), columns as in input_transform */
static void grad_transform2(const Wino *g, int K, const float *dy, int vb, int ve, float *dM)
{
    const size_t stride = xi_stride(g, K);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int k = 0; k < K; k++) {
            if (k + 1 < K)
                prefetch_rows(dy + (size_t)(k + 1) * g->H * g->W, first_row(g, seg), row_count(g, seg, ns), g->H,
                              g->W);
            __m512 e[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
            for (int s = 0; s < ns; s++)
#pragma GCC unroll 2
                for (int a = 0; a < 2; a++)
                    load_pairs(&seg[s], dy + ((size_t)k * g->H + 2 * seg[s].ty + a) * g->W + 2 * seg[s].tx,
                               &e[a][0], &e[a][1]);
            __m512 r[4][2];   /* A dY */
#pragma GCC unroll 2
            for (int b = 0; b < 2; b++) {
                r[0][b] = e[0][b];
                r[1][b] = _mm512_add_ps(e[0][b], e[1][b]);
                r[2][b] = _mm512_sub_ps(e[0][b], e[1][b]);
                r[3][b] = _mm512_sub_ps(_mm512_setzero_ps(), e[1][b]);
            }
            float *out = dM + (size_t)k * g->gt + 16 * (v - vb);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {   /* (A dY) A^T */
                _mm512_storeu_ps(out + (4 * i + 0) * stride, r[i][0]);
                _mm512_storeu_ps(out + (4 * i + 1) * stride, _mm512_add_ps(r[i][0], r[i][1]));
                _mm512_storeu_ps(out + (4 * i + 2) * stride, _mm512_sub_ps(r[i][0], r[i][1]));
                _mm512_storeu_ps(out + (4 * i + 3) * stride, _mm512_sub_ps(_mm512_setzero_ps(), r[i][1]));
            }
        }
    }
}

/* t = A y for one column of four (F(4x4,3x3)'s gradient transform, 1-D; A is
 * A^T above turned over); every term passes at most 2 roundings */
static inline void a6(__m512 e0, __m512 e1, __m512 e2, __m512 e3, __m512 t[6])
{
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4);
    __m512 s02 = _mm512_add_ps(e0, e2), s13 = _mm512_add_ps(e1, e3);
    __m512 f02 = _mm512_fmadd_ps(four, e2, e0), f13 = _mm512_fmadd_ps(four, e3, e1);
    t[0] = e0;
    t[1] = _mm512_add_ps(s02, s13);
    t[2] = _mm512_sub_ps(s02, s13);
    t[3] = _mm512_fmadd_ps(two, f13, f02);
    t[4] = _mm512_fnmadd_ps(two, f13, f02);
    t[5] = e3;
}

/* The reverse of store_quads: src[0 .. 4n) (one row of the segment's 4x4
 * tiles) split into its four columns, lanes [l0, l0 + n) of e[0..3] */
static inline void load_quads(const Segment *s, const float *src, __m512 e[4])
{
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int u0 = 0; u0 < s->n; u0 += 4) {
        int nt = s->n - u0 < 4 ? s->n - u0 : 4;
        __m512 r = _mm512_maskz_loadu_ps(lanes(4 * nt), src + 4 * u0);
        __mmask16 m = (__mmask16)(lanes(nt) << (s->l0 + u0));
        /* lane l takes r[4 (l - l0 - u0) + c] */
        __m512i base = _mm512_slli_epi32(_mm512_sub_epi32(p, _mm512_set1_epi32(s->l0 + u0)), 2);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            e[c] = _mm512_mask_permutexvar_ps(e[c], m, _mm512_add_epi32(base, _mm512_set1_epi32(c)), r);
    }
}

/* load_quads for a whole vector in the two layouts of the nets' planes, with
 * whole-vector shuffles instead of 16 masked permutes (same values): two
 * segments of 8 tiles (32x32 planes) or four of 4 (16x16). Returns 0 for
 * any other layout. src[s] is segment s's row. */
static inline int load_quads_vector(int ns, const Segment *seg, const float *const src[], __m512 e[4])
{
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    if (ns == 2 && seg[0].n == 8 && seg[1].n == 8) {
        /* lane l < 8: element 4l (column 0 or 2); l >= 8: 4(l - 8) + 1 (column 1 or 3) */
        const __m512i i01 = _mm512_add_epi32(_mm512_slli_epi32(_mm512_and_si512(p, _mm512_set1_epi32(7)), 2),
                                             _mm512_srli_epi32(p, 3));
        const __m512i i23 = _mm512_add_epi32(i01, _mm512_set1_epi32(2));
        __m512 a0 = _mm512_loadu_ps(src[0]), a1 = _mm512_loadu_ps(src[0] + 16);
        __m512 b0 = _mm512_loadu_ps(src[1]), b1 = _mm512_loadu_ps(src[1] + 16);
        __m512 pa01 = _mm512_permutex2var_ps(a0, i01, a1), pb01 = _mm512_permutex2var_ps(b0, i01, b1);
        __m512 pa23 = _mm512_permutex2var_ps(a0, i23, a1), pb23 = _mm512_permutex2var_ps(b0, i23, b1);
        e[0] = _mm512_shuffle_f32x4(pa01, pb01, 0x44);
        e[1] = _mm512_shuffle_f32x4(pa01, pb01, 0xEE);
        e[2] = _mm512_shuffle_f32x4(pa23, pb23, 0x44);
        e[3] = _mm512_shuffle_f32x4(pa23, pb23, 0xEE);
        return 1;
    }
    if (ns == 4 && seg[0].n == 4 && seg[1].n == 4 && seg[2].n == 4 && seg[3].n == 4) {
        /* each row to [column 0 of its 4 tiles | column 1 | column 2 | column 3],
         * then a 4x4 transpose of 128-bit lanes */
        const __m512i byc = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        __m512 r0 = _mm512_permutexvar_ps(byc, _mm512_loadu_ps(src[0]));
        __m512 r1 = _mm512_permutexvar_ps(byc, _mm512_loadu_ps(src[1]));
        __m512 r2 = _mm512_permutexvar_ps(byc, _mm512_loadu_ps(src[2]));
        __m512 r3 = _mm512_permutexvar_ps(byc, _mm512_loadu_ps(src[3]));
        __m512 t0 = _mm512_shuffle_f32x4(r0, r1, 0x44), t1 = _mm512_shuffle_f32x4(r0, r1, 0xEE);
        __m512 t2 = _mm512_shuffle_f32x4(r2, r3, 0x44), t3 = _mm512_shuffle_f32x4(r2, r3, 0xEE);
        e[0] = _mm512_shuffle_f32x4(t0, t2, 0x88);
        e[1] = _mm512_shuffle_f32x4(t0, t2, 0xDD);
        e[2] = _mm512_shuffle_f32x4(t1, t3, 0x88);
        e[3] = _mm512_shuffle_f32x4(t1, t3, 0xDD);
        return 1;
    }
    return 0;
}

/* grad_transform2 for 4x4 tiles: dM = A dY A^T (6x6) */
static void grad_transform4(const Wino *g, int K, const float *dy, int vb, int ve, float *dM)
{
    const size_t stride = xi_stride(g, K);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int k = 0; k < K; k++) {
            if (k + 1 < K)
                prefetch_rows(dy + (size_t)(k + 1) * g->H * g->W, first_row(g, seg), row_count(g, seg, ns), g->H,
                              g->W);
            __m512 r[4][6];   /* dY A^T, row by row */
#pragma GCC unroll 4
            for (int a = 0; a < 4; a++) {
                __m512 e[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                const float *src[16];   /* segment s's row a */
                for (int s = 0; s < ns; s++)
                    src[s] = dy + ((size_t)k * g->H + 4 * seg[s].ty + a) * g->W + 4 * seg[s].tx;
                if (!load_quads_vector(ns, seg, src, e))
                    for (int s = 0; s < ns; s++)
                        load_quads(&seg[s], src[s], e);
                a6(e[0], e[1], e[2], e[3], r[a]);
            }
            float *out = dM + (size_t)k * g->gt + 16 * (v - vb);
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) {   /* A (dY A^T) */
                __m512 t[6];
                a6(r[0][j], r[1][j], r[2][j], r[3][j], t);
#pragma GCC unroll 6
                for (int i = 0; i < 6; i++)
                    _mm512_storeu_ps(out + (6 * i + j) * stride, t[i]);
            }
        }
    }
}

void rn_wino_grad(const Wino *g, int K, const float *dy, int vb, int ve, float *dM)
{
    if (g->m == 4)
        grad_transform4(g, K, dy, vb, ve, dM);
    else
        grad_transform2(g, K, dy, vb, ve, dM);
}

#else
typedef int rn_fast_wino_transform_needs_avx512;   /* nothing to build without AVX-512 */
#endif
