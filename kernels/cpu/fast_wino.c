/* 3x3 stride-1 pad-1 convolutions by Winograd's minimal filtering F(2x2, 3x3)
 * (fast.h): forward, data gradient and filter gradient. The reference is
 * kernels/cpu/ref_conv.c; tests/unit/test_fast.c checks all three against it.
 *
 * The idea (Lavin & Gray 2016). Cut each output plane into 2x2 tiles; tile t
 * reads the 4x4 input patch d_t around it. With the fixed matrices
 *
 *   B^T = | 1  0 -1  0 |     G = | 1    0    0   |     A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
 *         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |         | 0    0    1   |
 *
 * the 2x2 outputs of tile t are  Y_t = A^T [ sum_c U[k][c] (.) V_t[c] ] A,
 * where U[k][c] = G g[k][c] G^T (4x4, the transformed filter), V_t[c] = B^T d_t[c] B
 * (4x4, the transformed patch) and (.) is the element-wise product. For each of
 * the 16 positions xi of the 4x4 the sum over c is a plain matrix product
 *   M_xi[k][t] = sum_c U_xi[k][c] V_xi[c][t],
 * so a convolution becomes: transform the input (adds only), 16 GEMMs with K = C,
 * transform the output (adds only). The GEMMs do 16 multiplies per 4 outputs
 * where the direct convolution does 36: 2.25x less arithmetic. F(2x2,3x3)'s
 * transforms have only 0, +-1 and +-1/2 in them, so the rounding is that of a
 * direct convolution (F(4x4,3x3) would save more but loses digits in fp32).
 *
 *   data gradient    a forward pass of dy with the filters turned around (as in
 *                    fast_conv.c), so the same code with U built from rot180(g)
 *   filter gradient  the adjoint of the above: dM_t = A dY_t A^T per tile,
 *                    dU_xi[k][c] = sum_t dM_xi[k][t] V_xi[c][t] (16 NT GEMMs),
 *                    dg[k][c] = G^T dU[k][c] G
 *
 * Layout. 16 tiles lie side by side in the 16 lanes of a vector, in row-major
 * tile order; V_xi and M_xi are [channel][tile] matrices whose tile columns
 * for g images of a group sit side by side (small planes are grouped so the
 * GEMMs are long enough). A patch column 2*tx + j is even or odd, so each input
 * plane is first stored padded and split by column parity: row r holds
 * E[m] = x_pad[r][2m] then O[m] = x_pad[r][2m+1], and the four columns of the
 * patches of 16 neighbouring tiles are four contiguous loads, E[tx], O[tx],
 * E[tx+1], O[tx+1]. When a row has fewer than 16 tiles (8x8 and 16x16 planes)
 * one vector spans several tile rows, each a "segment" of lanes loaded on its
 * own; so a tile row must fill a vector exactly or divide 16 (rn_fast_wino_ok).
 *
 * Threads: forward splits groups of images over the threads; the filter
 * gradient sums fixed chunks of CHUNK images into their own partials, then adds
 * the partials in chunk order: the same bits for any number of threads. */
#include "fast.h"

#include <omp.h>
#include <string.h>

#include "err.h"

int rn_fast_wino_ok(const RnConvDims *d)
{
#if defined(__AVX512F__)
    if (d->kernel != 3 || d->stride != 1 || d->pad != 1 || d->out_h != d->in_h || d->out_w != d->in_w)
        return 0;
    if (d->in_h < 2 || d->in_w < 2 || d->in_h % 2 || d->in_w % 2)
        return 0;
    /* With few channels the transforms cost more than the multiplies they save
     * (the 3 -> 16 input layer runs faster direct). */
    if (d->in_c < 8 || d->out_c < 8)
        return 0;
    int tiles_per_row = d->in_w / 2;
    return tiles_per_row % 16 == 0 || 16 % tiles_per_row == 0;
#else
    (void)d;
    return 0;
#endif
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* A block of tile columns goes through transform, GEMMs and back-transform
 * together, so its V and M stay in the core's cache: FWD_BLOCK = 64 columns x
 * 16 xi x 16..64 channels is 64..256 KiB. The filter gradient's products sum
 * over the columns, and a longer sum amortises their 16-lane reductions, so its
 * blocks are longer. Planes with fewer tiles than a block are grouped, a block
 * holding whole images (up to CHUNK: 16 images of an 8x8 plane fill 256
 * columns; with chunks of 8 the 8x8 filter gradient ran 30% slower). */
enum { CHUNK = 16, FWD_BLOCK = 64, FILTER_BLOCK = 256 };

/* The shape of one transform: C input and K output channels, H x W planes. */
typedef struct {
    int C, K, H, W;
    int TW, T, Tp;    /* tiles per row, per image, per image rounded up to 16 */
    int g;            /* images per group (1 when an image has a block's tiles or more) */
    int bv;           /* vectors of one image in a block */
    int RS;           /* floats per row of a split padded plane: E[TW+1] then O[TW+1] */
    size_t plane;     /* floats per split padded plane (a multiple of 16) */
    size_t gt;        /* the columns of one block's V_xi or M_xi matrix */
} Wino;

static Wino geometry(int C, int K, int H, int W, int block)
{
    Wino g;
    g.C = C;
    g.K = K;
    g.H = H;
    g.W = W;
    g.TW = W / 2;
    g.T = (H / 2) * g.TW;
    g.Tp = (g.T + 15) / 16 * 16;
    g.g = g.Tp >= block ? 1 : block / g.Tp > CHUNK ? CHUNK : block / g.Tp;
    g.bv = g.Tp >= block ? block / 16 : g.Tp / 16;
    g.RS = 2 * (g.TW + 1);
    g.plane = ((size_t)(H + 2) * (size_t)g.RS + 15) / 16 * 16;
    g.gt = g.Tp >= block ? (size_t)block : (size_t)g.g * (size_t)g.Tp;
    return g;
}

/* Floats from V_xi (or M_xi) to V_xi+1 for a matrix of `rows` channels: one
 * cache line more than the matrix, because the transforms touch all 16 xi at
 * once and 16 streams a multiple of 4 KiB apart would share one L1 set. */
static size_t xi_stride(const Wino *g, int rows)
{
    return (size_t)rows * g->gt + 16;
}

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

/* acc with lanes [l0, l0 + n) replaced by src[0 .. n) */
static inline __m512 place(__m512 acc, const Segment *s, const float *src)
{
    if (s->n == 16)
        return _mm512_loadu_ps(src);
    __m512 r = _mm512_maskz_loadu_ps(lanes(s->n), src);
    __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                   _mm512_set1_epi32(s->l0));
    return _mm512_mask_permutexvar_ps(acc, (__mmask16)(lanes(s->n) << s->l0), idx, r);
}

/* One output channel's eval-mode batch norm, broadcast (see RnFastBnEval). */
typedef struct {
    int on, relu;
    __m512 mean, scale, beta;
} Epilogue;

/* v, the outputs at dst (lanes m), through the epilogue; res points at the
 * residual of the same outputs (or is NULL). The operations and their order
 * are plane_out's in fast_bn.c: ((v - mean) * scale + beta) + res. */
static inline __m512 finish(const Epilogue *e, __m512 v, const float *res, __mmask16 m)
{
    if (!e->on)
        return v;
    v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v, e->mean), e->scale), e->beta);
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

/* P = the C planes of x (one image), zero-padded by one and split by column parity. */
static void pad_split(const Wino *g, int C, const float *x, float *P)
{
    const int H = g->H, W = g->W, TW = g->TW, RS = g->RS;
    const __m512i p = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_slli_epi32(p, 1), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int c = 0; c < C; c++) {
        float *pl = P + (size_t)c * g->plane;
        memset(pl, 0, (size_t)RS * sizeof(float));
        memset(pl + (size_t)(H + 1) * RS, 0, (size_t)RS * sizeof(float));
        for (int r = 1; r <= H; r++) {
            float *E = pl + (size_t)r * RS, *O = E + TW + 1;
            const float *src = x + ((size_t)c * H + r - 1) * W;
            E[0] = 0;   /* padded column 0 */
            O[TW] = 0;  /* padded column W + 1 */
            /* x column 2m sits at padded column 2m + 1 (O[m]); 2m + 1 at 2m + 2 (E[m + 1]) */
            for (int q = 0; q < W; q += 32) {
                int m = W - q < 32 ? W - q : 32;
                __m512 lo = _mm512_maskz_loadu_ps(lanes(m), src + q);
                __m512 hi = _mm512_maskz_loadu_ps(lanes(m - 16), src + q + 16);
                _mm512_mask_storeu_ps(O + q / 2, lanes(m / 2), _mm512_permutex2var_ps(lo, even, hi));
                _mm512_mask_storeu_ps(E + 1 + q / 2, lanes(m / 2), _mm512_permutex2var_ps(lo, odd, hi));
            }
        }
    }
}

/* V_xi[c][16 (v - vb) + lane] (columns at V, row stride g->gt) for vectors
 * [vb, ve) of one image, from its split planes P */
static void input_transform(const Wino *g, int C, const float *P, int vb, int ve, float *V)
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
            __m512 r[4][4];   /* B^T d */
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
                r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
                r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
                r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
            }
            float *out = V + (size_t)c * g->gt + 16 * (v - vb);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {   /* (B^T d) B */
                _mm512_storeu_ps(out + (4 * i + 0) * stride, _mm512_sub_ps(r[i][0], r[i][2]));
                _mm512_storeu_ps(out + (4 * i + 1) * stride, _mm512_add_ps(r[i][1], r[i][2]));
                _mm512_storeu_ps(out + (4 * i + 2) * stride, _mm512_sub_ps(r[i][2], r[i][1]));
                _mm512_storeu_ps(out + (4 * i + 3) * stride, _mm512_sub_ps(r[i][1], r[i][3]));
            }
        }
    }
}

/* The tiles of vectors [vb, ve) of y (one image, K planes) from M_xi[k][t]
 * (columns at M as in input_transform), through bn when not NULL (res: this
 * image's residual, or NULL) */
static void output_transform(const Wino *g, int K, const float *M, int vb, int ve, const RnFastBnEval *bn,
                             const float *res, float *y)
{
    const size_t stride = xi_stride(g, K);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int k = 0; k < K; k++) {
            const float *in = M + (size_t)k * g->gt + 16 * (v - vb);
            Epilogue e = {0, 0, _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            if (bn)
                e = (Epilogue){1, bn->relu, _mm512_set1_ps(bn->mean[k]), _mm512_set1_ps(bn->scale[k]),
                               _mm512_set1_ps(bn->beta[k])};
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

/* dM_xi[k][t] = (A dY_t A^T)[xi] for the tiles of vectors [vb, ve) of one
 * image's output gradient dy (K planes), columns as in input_transform */
static void grad_transform(const Wino *g, int K, const float *dy, int vb, int ve, float *dM)
{
    const size_t stride = xi_stride(g, K);
    for (int v = vb; v < ve; v++) {
        Segment seg[16];
        int ns = segments(g, v, seg);
        for (int k = 0; k < K; k++) {
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

/* U_xi[o][i] = (G f G^T)[xi] for o < nout, i < nin, where f = w[o][i] (w is
 * [nout][nin][3][3]), or with turned = 1, f = rot180(w[i][o]) (w is [nin][nout][3][3]). */
static void filter_transform(const float *w, int nout, int nin, int turned, float *U)
{
    const size_t step = (size_t)nout * nin;
    for (int o = 0; o < nout; o++)
        for (int i = 0; i < nin; i++) {
            float f[3][3], gf[4][3];
            for (int r = 0; r < 9; r++)
                f[r / 3][r % 3] = turned ? w[((size_t)i * nout + o) * 9 + 8 - r] : w[((size_t)o * nin + i) * 9 + r];
            for (int s = 0; s < 3; s++) {   /* G f */
                gf[0][s] = f[0][s];
                gf[1][s] = 0.5f * (f[0][s] + f[1][s] + f[2][s]);
                gf[2][s] = 0.5f * (f[0][s] - f[1][s] + f[2][s]);
                gf[3][s] = f[2][s];
            }
            float *u = U + (size_t)o * nin + i;
            for (int r = 0; r < 4; r++) {   /* (G f) G^T */
                u[(4 * r + 0) * step] = gf[r][0];
                u[(4 * r + 1) * step] = 0.5f * (gf[r][0] + gf[r][1] + gf[r][2]);
                u[(4 * r + 2) * step] = 0.5f * (gf[r][0] - gf[r][1] + gf[r][2]);
                u[(4 * r + 3) * step] = gf[r][2];
            }
        }
}

/* dw[k][c] = G^T dU[k][c] G (dU is [16][K][C]) */
static void filter_grad_untransform(const float *dU, int K, int C, float *dw)
{
    const size_t step = (size_t)K * C;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            const float *u = dU + (size_t)k * C + c;
            float t[3][4];
            for (int j = 0; j < 4; j++) {   /* G^T dU */
                float u0 = u[(0 + j) * step], u1 = u[(4 + j) * step];
                float u2 = u[(8 + j) * step], u3 = u[(12 + j) * step];
                t[0][j] = u0 + 0.5f * (u1 + u2);
                t[1][j] = 0.5f * (u1 - u2);
                t[2][j] = 0.5f * (u1 + u2) + u3;
            }
            float *out = dw + ((size_t)k * C + c) * 9;
            for (int r = 0; r < 3; r++) {   /* (G^T dU) G */
                out[3 * r + 0] = t[r][0] + 0.5f * (t[r][1] + t[r][2]);
                out[3 * r + 1] = 0.5f * (t[r][1] - t[r][2]);
                out[3 * r + 2] = 0.5f * (t[r][1] + t[r][2]) + t[r][3];
            }
        }
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

/* Per-thread floats: split planes of one image, V and M (or dM) of a group. */
static size_t thread_floats(const Wino *g)
{
    return round16((size_t)g->C * g->plane) + round16(16 * xi_stride(g, g->C)) + round16(16 * xi_stride(g, g->K));
}

size_t rn_fast_wino_ws_floats(const RnConvDims *d, int threads)
{
    Wino g = geometry(d->in_c, d->out_c, d->in_h, d->in_w, FWD_BLOCK);
    Wino t = geometry(d->out_c, d->in_c, d->in_h, d->in_w, FWD_BLOCK);   /* the data gradient's */
    Wino f = geometry(d->in_c, d->out_c, d->in_h, d->in_w, FILTER_BLOCK);
    size_t fwd = round16(16 * (size_t)d->out_c * d->in_c) + thread_floats(&g) * (size_t)threads;
    size_t bwd = round16(16 * (size_t)d->out_c * d->in_c) + thread_floats(&t) * (size_t)threads;
    int chunks = (d->n + CHUNK - 1) / CHUNK;
    size_t filt = round16(16 * (size_t)d->out_c * d->in_c) * (size_t)(chunks + 1) + thread_floats(&f) * (size_t)threads;
    size_t m = fwd > bwd ? fwd : bwd;
    return m > filt ? m : filt;
}

/* y = conv(x, f) for n images of C -> K channels, U = the transformed filters,
 * through bn when not NULL */
static void forward(int threads, int n, const Wino *g, const float *U, const float *x, const RnFastBnEval *bn,
                    float *y, float *ws)
{
    const size_t in_img = (size_t)g->C * g->H * g->W, out_img = (size_t)g->K * g->H * g->W;
    const size_t per_thread = thread_floats(g);
    const int groups = (n + g->g - 1) / g->g;
#pragma omp parallel num_threads(threads)
    {
        float *P = ws + per_thread * (size_t)omp_get_thread_num();
        float *V = P + round16((size_t)g->C * g->plane), *M = V + round16(16 * xi_stride(g, g->C));
#pragma omp for schedule(static)
        for (int gi = 0; gi < groups; gi++) {
            int i0 = gi * g->g, count = n - i0 < g->g ? n - i0 : g->g;
            for (int vb = 0; vb < g->Tp / 16; vb += g->bv) {   /* one block */
                int ve = vb + g->bv < g->Tp / 16 ? vb + g->bv : g->Tp / 16;
                int cols = (count - 1) * g->Tp + 16 * (ve - vb);
                for (int j = 0; j < count; j++) {
                    if (vb == 0)
                        pad_split(g, g->C, x + (size_t)(i0 + j) * in_img, P);
                    input_transform(g, g->C, P, vb, ve, V + (size_t)j * g->Tp);
                }
                for (int xi = 0; xi < 16; xi++)
                    rn_fast_gemm_nn(g->K, cols, g->C, U + (size_t)xi * g->K * g->C, g->C, 1,
                                    V + xi * xi_stride(g, g->C), (ptrdiff_t)g->gt, M + xi * xi_stride(g, g->K),
                                    (ptrdiff_t)g->gt, 0);
                for (int j = 0; j < count; j++)
                    output_transform(g, g->K, M + (size_t)j * g->Tp, vb, ve, bn,
                                     bn && bn->residual ? bn->residual + (size_t)(i0 + j) * out_img : NULL,
                                     y + (size_t)(i0 + j) * out_img);
            }
        }
    }
}

void rn_fast_conv_wino_fwd(int threads, const RnConvDims *d, const float *x, const float *w, const RnFastBnEval *bn,
                           float *y, float *ws)
{
    Wino g = geometry(d->in_c, d->out_c, d->in_h, d->in_w, FWD_BLOCK);
    float *U = ws;
    filter_transform(w, d->out_c, d->in_c, 0, U);
    forward(threads, d->n, &g, U, x, bn, y, ws + round16(16 * (size_t)d->out_c * d->in_c));
}

void rn_fast_conv_wino_bwd_data(int threads, const RnConvDims *d, const float *dy, const float *w, float *dx,
                                float *ws)
{
    Wino g = geometry(d->out_c, d->in_c, d->in_h, d->in_w, FWD_BLOCK);   /* K -> C channels */
    float *U = ws;
    filter_transform(w, d->in_c, d->out_c, 1, U);
    forward(threads, d->n, &g, U, dy, NULL, dx, ws + round16(16 * (size_t)d->out_c * d->in_c));
}

void rn_fast_conv_wino_bwd_filter(int threads, const RnConvDims *d, const float *x, const float *dy, float *dw,
                                  float *ws)
{
    Wino g = geometry(d->in_c, d->out_c, d->in_h, d->in_w, FILTER_BLOCK);
    const size_t in_img = (size_t)g.C * g.H * g.W, out_img = (size_t)g.K * g.H * g.W;
    const size_t usize = round16(16 * (size_t)g.K * g.C), per_thread = thread_floats(&g);
    const int chunks = (d->n + CHUNK - 1) / CHUNK;
    float *dU = ws, *partial = ws + usize, *thread_ws = partial + usize * (size_t)chunks;
    if (chunks == 0) {
        memset(dw, 0, (size_t)g.K * g.C * 9 * sizeof(float));
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        float *P = thread_ws + per_thread * (size_t)omp_get_thread_num();
        float *V = P + round16((size_t)g.C * g.plane), *dM = V + round16(16 * xi_stride(&g, g.C));
#pragma omp for schedule(static)
        for (int ch = 0; ch < chunks; ch++) {
            int end = (ch + 1) * CHUNK < d->n ? (ch + 1) * CHUNK : d->n;
            for (int i0 = ch * CHUNK; i0 < end; i0 += g.g) {
                int count = end - i0 < g.g ? end - i0 : g.g;
                for (int vb = 0; vb < g.Tp / 16; vb += g.bv) {   /* one block */
                    int ve = vb + g.bv < g.Tp / 16 ? vb + g.bv : g.Tp / 16;
                    int cols = (count - 1) * g.Tp + 16 * (ve - vb);
                    for (int j = 0; j < count; j++) {
                        if (vb == 0)
                            pad_split(&g, g.C, x + (size_t)(i0 + j) * in_img, P);
                        input_transform(&g, g.C, P, vb, ve, V + (size_t)j * g.Tp);
                        grad_transform(&g, g.K, dy + (size_t)(i0 + j) * out_img, vb, ve, dM + (size_t)j * g.Tp);
                    }
                    for (int xi = 0; xi < 16; xi++)
                        rn_fast_gemm_nt(g.K, g.C, cols, dM + xi * xi_stride(&g, g.K), (ptrdiff_t)g.gt,
                                        V + xi * xi_stride(&g, g.C), (ptrdiff_t)g.gt,
                                        partial + usize * (size_t)ch + (size_t)xi * g.K * g.C, g.C,
                                        i0 > ch * CHUNK || vb > 0);
                }
            }
        }
        /* dU = partial[0] + partial[1] + ... in chunk order, element by element */
#pragma omp for schedule(static)
        for (size_t e = 0; e < 16 * (size_t)g.K * g.C; e++) {
            float s = partial[e];
            for (int ch = 1; ch < chunks; ch++)
                s += partial[usize * (size_t)ch + e];
            dU[e] = s;
        }
    }
    filter_grad_untransform(dU, g.K, g.C, dw);
}

#else /* no AVX-512: rn_fast_wino_ok says no, so these are never called */

size_t rn_fast_wino_ws_floats(const RnConvDims *d, int threads)
{
    (void)d;
    (void)threads;
    return 0;
}
void rn_fast_conv_wino_fwd(int threads, const RnConvDims *d, const float *x, const float *w, const RnFastBnEval *bn,
                           float *y, float *ws)
{
    (void)threads, (void)d, (void)x, (void)w, (void)bn, (void)y, (void)ws;
    rn_die("internal error: the Winograd path needs AVX-512");
}
void rn_fast_conv_wino_bwd_data(int threads, const RnConvDims *d, const float *dy, const float *w, float *dx,
                                float *ws)
{
    (void)threads, (void)d, (void)dy, (void)w, (void)dx, (void)ws;
    rn_die("internal error: the Winograd path needs AVX-512");
}
void rn_fast_conv_wino_bwd_filter(int threads, const RnConvDims *d, const float *x, const float *dy, float *dw,
                                  float *ws)
{
    (void)threads, (void)d, (void)x, (void)dy, (void)dw, (void)ws;
    rn_die("internal error: the Winograd path needs AVX-512");
}
#endif
