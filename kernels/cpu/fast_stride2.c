/* 3x3 stride-2 pad-1 convolutions (the stage transitions of the nets) without
 * im2col, in all three passes (fast.h). Taken for even plane sizes.
 *
 * Output (oh, ow), tap (kh, kw) reads pixel (2oh + kh, 2ow + kw) of the
 * zero-padded input xpad ((H+2) x (W+2)). Each padded plane is split by row
 * parity b and tap column kw into six sub-planes of S = (OH+1)*OW floats,
 *   P[b][kw][a][ow] = xpad[2a + b][2ow + kw],   a <= OH, ow < OW,
 * so tap (kh, kw) of output q = oh*OW + ow sits at q + off[t] with
 *   off[t] = (3*(kh & 1) + kw) * S + (kh >> 1) * OW
 * for EVERY q: 16 consecutive outputs read 16 consecutive floats, across row
 * ends too, so 8-wide planes waste nothing. That is 1.5x the input (im2col is
 * 2.25x). The forward is then fast_direct.c's kernel as it is,
 *   y[o][q] = sum_{c,t} w[o][c][t] P_c[q + off[t]]              (direct_plane)
 * and the filter gradient outer products over the same planes (below),
 *   dw[o][c][t] = sum_{images, q} dy[o][q] P_c[q + off[t]].
 *
 * The data gradient runs sub-pixel. dx[ih][iw] takes the taps with
 * 2oh + kh = ih + 1: an even row only kh = 1 (oh = a for ih = 2a), an odd row
 * kh = 0 (oh = a + 1) and kh = 2 (oh = a); columns likewise. So each of the
 * four parity classes of dx is a stride-1 correlation of dy with a 1x1, 1x2,
 * 2x1 or 2x2 piece of the filter:
 *   dx[c][2a + pr][2b + pc] = sum_o sum_{(kh, kw) of the class} w[o][c][kh][kw] dy[o][a + (kh == 0)][b + (kw == 0)]
 * With dy split in two sub-planes of S floats, D0[a][b] = dy[a][b] and
 * D1[a][b] = dy[a][b + 1] (0 past the last row and column), dy[a + da][b + db]
 * is D_db at q + da*OW: again one offset per tap, and direct_plane computes
 * each class into its own buffer, interleaved into dx afterwards. 9 taps per 4
 * pixels, the forward's work, instead of col2im's scatter.
 *
 * Sums: forward one FMA chain per output over c then t (Cin*9, as im2col +
 * GEMM); data gradient over o then the class's taps (at most 4*Cout); filter
 * gradient one FMA chain over the OH*OW pixels of each image, then the images
 * of a chunk and the chunks in order. Forward and data gradient split the
 * images over the threads, the filter gradient fixed chunks of CHUNK images:
 * the same bits for any thread count. */
#include "fast.h"

#include <omp.h>
#include <string.h>

enum { CHUNK = 8, TAPS = 9 };

int rn_fast_s2_ok(const RnConvDims *d)
{
#if defined(__AVX512F__)
    return d->kernel == 3 && d->stride == 2 && d->pad == 1 && d->in_h > 0 && d->in_w > 0 && d->in_h % 2 == 0 &&
           d->in_w % 2 == 0 && d->out_h == d->in_h / 2 && d->out_w == d->in_w / 2;
#else
    (void)d;   /* other CPUs keep im2col + GEMM (fast_conv.c) */
    return 0;
#endif
}

static size_t sub_floats(const RnConvDims *d) { return (size_t)(d->out_h + 1) * d->out_w; }

/* per-thread floats of each pass, and what the passes share */
static size_t fwd_per(const RnConvDims *d) { return rn_fast_round16(6 * sub_floats(d) * d->in_c); }
static size_t bd_per(const RnConvDims *d)
{
    return rn_fast_round16(2 * sub_floats(d) * d->out_c) + rn_fast_round16(4 * (size_t)d->in_c * d->out_h * d->out_w);
}
static size_t bf_per(const RnConvDims *d) { return fwd_per(d) + rn_fast_round16((size_t)d->out_c * d->out_h * d->out_w); }
static size_t w_floats(const RnConvDims *d) { return (size_t)d->out_c * d->in_c * TAPS; }

size_t rn_fast_s2_ws_floats(const RnConvDims *d, int threads)
{
    size_t t = (size_t)threads, f = fwd_per(d) * t, b = rn_fast_round16(w_floats(d)) + bd_per(d) * t;
    size_t g = bf_per(d) * t + w_floats(d) * (size_t)((d->n + CHUNK - 1) / CHUNK);
    return f > b ? (f > g ? f : g) : (b > g ? b : g);
}

/* off[kh*3 + kw] for sub-planes ss floats apart */
static void tap_offsets(const RnConvDims *d, size_t ss, int *off)
{
    for (int t = 0; t < TAPS; t++)
        off[t] = (int)((3 * (t / 3 % 2) + t % 3) * ss) + t / 3 / 2 * d->out_w;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* the first k lanes, any k */
static inline __mmask16 first(int k) { return k <= 0 ? 0 : k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << k) - 1); }

/* One padded row 2a + b of x (src, 2*OW floats) into its three sub-plane rows:
 * padded column 2ow + kw is x column 2ow + kw - 1, so p1 gets the even
 * columns, p2 the odd ones, and p0 the odd ones one place to the right. */
static void split_row(const float *src, int OW, float *p0, float *p1, float *p2)
{
    const __m512i i = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_add_epi32(i, i), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    p0[0] = 0;
    for (int m = 0; m < OW; m += 16) {
        int n = OW - m < 16 ? OW - m : 16;
        __m512 lo = _mm512_maskz_loadu_ps(first(2 * n), src + 2 * m);
        __m512 hi = _mm512_maskz_loadu_ps(first(2 * n - 16), src + 2 * m + 16);
        __m512 ev = _mm512_permutex2var_ps(lo, even, hi), od = _mm512_permutex2var_ps(lo, odd, hi);
        _mm512_mask_storeu_ps(p1 + m, first(n), ev);
        _mm512_mask_storeu_ps(p2 + m, first(n), od);
        _mm512_mask_storeu_ps(p0 + m + 1, first(OW - 1 - m), od);
    }
}

/* dst[2b] = z0[b], dst[2b + 1] = z1[b], b < OW */
static void interleave_row(const float *z0, const float *z1, int OW, float *dst)
{
    const __m512i i = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i j = _mm512_add_epi32(i, _mm512_set1_epi32(8));
    for (int m = 0; m < OW; m += 16) {
        int n = OW - m < 16 ? OW - m : 16;
        __m512 a = _mm512_maskz_loadu_ps(first(n), z0 + m), b = _mm512_maskz_loadu_ps(first(n), z1 + m);
        _mm512_mask_storeu_ps(dst + 2 * m, first(2 * n), _mm512_permutex2var_ps(a, i, b));
        _mm512_mask_storeu_ps(dst + 2 * m + 16, first(2 * n - 16), _mm512_permutex2var_ps(a, j, b));
    }
}

#else /* compiled, not taken (rn_fast_s2_ok) */

static void split_row(const float *src, int OW, float *p0, float *p1, float *p2)
{
    p0[0] = 0;
    for (int m = 1; m < OW; m++)
        p0[m] = src[2 * m - 1];
    for (int m = 0; m < OW; m++) {
        p1[m] = src[2 * m];
        p2[m] = src[2 * m + 1];
    }
}

static void interleave_row(const float *z0, const float *z1, int OW, float *dst)
{
    for (int b = 0; b < OW; b++) {
        dst[2 * b] = z0[b];
        dst[2 * b + 1] = z1[b];
    }
}

#endif

/* The six sub-planes of each channel of one image: channel c's P[b][kw] at
 * P + c*cs + (3b + kw)*ss. */
static void split_image(const RnConvDims *d, const float *x, float *P, size_t cs, size_t ss)
{
    const int H = d->in_h, W = d->in_w, OW = d->out_w;
    for (int c = 0; c < d->in_c; c++)
        for (int r = 0; r < H + 2; r++) {   /* padded row r = 2a + b, read in order */
            const int a = r / 2, b = r % 2, ih = r - 1;
            float *p0 = P + c * cs + 3 * b * ss + (size_t)a * OW, *p1 = p0 + ss, *p2 = p1 + ss;
            if (ih < 0 || ih >= H) {
                memset(p0, 0, (size_t)OW * sizeof(float));
                memset(p1, 0, (size_t)OW * sizeof(float));
                memset(p2, 0, (size_t)OW * sizeof(float));
            } else {
                split_row(x + ((size_t)c * H + ih) * W, OW, p0, p1, p2);
            }
        }
}

void rn_fast_conv_s2_fwd(int threads, const RnConvDims *d, const float *x, const float *w, float *y, float *ws)
{
    const size_t S = sub_floats(d), per = fwd_per(d);
    const size_t in_img = (size_t)d->in_c * d->in_h * d->in_w, out_img = (size_t)d->out_c * d->out_h * d->out_w;
    int off[TAPS];
    tap_offsets(d, S, off);
#pragma omp parallel num_threads(threads)
    {
        float *P = ws + per * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
        for (int i = 0; i < d->n; i++) {
            split_image(d, x + i * in_img, P, 6 * S, S);
            rn_fast_direct_plane(d->out_c, d->in_c, TAPS, off, w, P, (ptrdiff_t)(6 * S), d->out_h * d->out_w,
                                 y + i * out_img);
        }
    }
}

/* The data gradient's parity classes pr*2 + pc: their taps kh*3 + kw */
static const int class_taps[4] = {1, 2, 2, 4};
static const int class_tap[4][4] = {{4}, {3, 5}, {1, 7}, {0, 2, 6, 8}};

void rn_fast_conv_s2_bwd_data(int threads, const RnConvDims *d, const float *dy, const float *w, float *dx,
                              float *ws)
{
    const int Cin = d->in_c, Cout = d->out_c, H = d->in_h, W = d->in_w, OH = d->out_h, OW = d->out_w;
    const int N = OH * OW;
    const size_t S = sub_floats(d), per = bd_per(d), dys = rn_fast_round16(2 * S * Cout);
    const size_t in_img = (size_t)Cin * H * W, out_img = (size_t)Cout * N;
    /* class k's filters as direct_plane's [c][o][tap], the classes one after another */
    float *wc = ws, *wk[4];
    int off[4][4];
    for (int k = 0, at = 0; k < 4; k++) {
        const int nt = class_taps[k];
        wk[k] = wc + at;
        at += Cin * Cout * nt;
        for (int c = 0; c < Cin; c++)
            for (int o = 0; o < Cout; o++)
                for (int j = 0; j < nt; j++)
                    wk[k][((size_t)c * Cout + o) * nt + j] = w[((size_t)o * Cin + c) * TAPS + class_tap[k][j]];
        for (int j = 0; j < nt; j++) {
            int kh = class_tap[k][j] / 3, kw = class_tap[k][j] % 3;
            off[k][j] = (kw == 0) * (int)S + (kh == 0) * OW;   /* dy[a + (kh == 0)][b + (kw == 0)] */
        }
    }
    float *base = ws + rn_fast_round16(w_floats(d));
#pragma omp parallel num_threads(threads)
    {
        float *D = base + per * (size_t)omp_get_thread_num(), *Z = D + dys;
#pragma omp for schedule(static)
        for (int i = 0; i < d->n; i++) {
            const float *g = dy + i * out_img;
            for (int o = 0; o < Cout; o++) {
                float *d0 = D + 2 * S * o, *d1 = d0 + S;
                memcpy(d0, g + (size_t)o * N, (size_t)N * sizeof(float));
                memset(d0 + N, 0, (size_t)OW * sizeof(float));
                for (int a = 0; a < OH; a++) {
                    memcpy(d1 + a * OW, g + (size_t)o * N + a * OW + 1, (size_t)(OW - 1) * sizeof(float));
                    d1[a * OW + OW - 1] = 0;
                }
                memset(d1 + N, 0, (size_t)OW * sizeof(float));
            }
            for (int k = 0; k < 4; k++)
                rn_fast_direct_plane(Cin, Cout, class_taps[k], off[k], wk[k], D, (ptrdiff_t)(2 * S), N,
                                     Z + (size_t)k * Cin * N);
            float *dxi = dx + i * in_img;
            for (int c = 0; c < Cin; c++)
                for (int a = 0; a < OH; a++)
                    for (int pr = 0; pr < 2; pr++) {
                        float *row = dxi + ((size_t)c * H + 2 * a + pr) * W;
                        const float *z0 = Z + ((size_t)(2 * pr) * Cin + c) * N + a * OW;
                        interleave_row(z0, z0 + (size_t)Cin * N, OW, row);
                    }
        }
    }
}

/* ---- Filter gradient ----
 * As outer products, one image at a time: the transposed gradient
 *   dwT[c*9 + t][o] (+)= sum_{q<N} P_c[q + off[t]] * dy[o][q]
 * keeps a block of (c, t) rows x up to 4 vectors of 16 filters o in registers
 * (24 accumulators) and for each output pixel q loads dy's column q (dy
 * transposed, dyT[q][o]) and broadcasts one value of each row. Nothing is
 * reduced across lanes and only the N real pixels are visited. Each image's
 * sum is one FMA chain over q, added to its chunk's partial in image order;
 * the partials are added in chunk order: the same bits for any thread count. */

#if defined(__AVX512F__)

enum { OV = 4, OR_MAX = 12 };

/* C[r*ldc + 16v + lane] (+)= sum_{q<N} xr[r][q] * dyT[q*ldt + 16v + lane] for
 * r < rows (<= mr), v < nv (the last vector masked by last). mr, nv are
 * constants at every call site; rows past `rows` compute a copy, unstored. */
static inline __attribute__((always_inline)) void
outer_block(const int mr, const int nv, __mmask16 last, int rows, int N, const float *const *xr, const float *dyT,
            ptrdiff_t ldt, float *C, ptrdiff_t ldc, int accumulate)
{
    __m512 acc[OR_MAX][OV];
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int q = 0; q < N; q++) {
        const float *b = dyT + q * ldt;
        __m512 bv[OV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(xr[r][q]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++)
        if (r < rows)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                __mmask16 m = v == nv - 1 ? last : (__mmask16)0xFFFF;
                __m512 s = acc[r][v];
                if (accumulate)
                    s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, C + r * ldc + 16 * v), s);
                _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m, s);
            }
}

/* C[r][o] (+)= one image's dwT, r < R = Cin*9 rows, o < Cout (ldc = Cout) */
static void outer_image(int R, int Cout, const float *P, size_t cs, const int *off, int N, const float *dyT,
                        float *C, int accumulate)
{
    for (int o0 = 0; o0 < Cout; o0 += 16 * OV) {
        const int nv = Cout - o0 >= 16 * OV ? OV : (Cout - o0 + 15) / 16;
        const int mr = nv == 4 ? 6 : nv == 3 ? 8 : 12;
        const __mmask16 last = first(Cout - o0 - 16 * (nv - 1));
        for (int r0 = 0; r0 < R; r0 += mr) {
            const int rows = R - r0 < mr ? R - r0 : mr;
            const float *xr[OR_MAX];
            for (int r = 0; r < mr; r++) {
                int rr = r0 + (r < rows ? r : rows - 1);
                xr[r] = P + (size_t)(rr / TAPS) * cs + off[rr % TAPS];
            }
            float *c = C + (size_t)r0 * Cout + o0;
            switch (nv) {
            case 4: outer_block(6, 4, last, rows, N, xr, dyT + o0, Cout, c, Cout, accumulate); break;
            case 3: outer_block(8, 3, last, rows, N, xr, dyT + o0, Cout, c, Cout, accumulate); break;
            case 2: outer_block(12, 2, last, rows, N, xr, dyT + o0, Cout, c, Cout, accumulate); break;
            default: outer_block(12, 1, last, rows, N, xr, dyT + o0, Cout, c, Cout, accumulate); break;
            }
        }
    }
}

#else

static void outer_image(int R, int Cout, const float *P, size_t cs, const int *off, int N, const float *dyT,
                        float *C, int accumulate)
{
    for (int r = 0; r < R; r++)
        for (int o = 0; o < Cout; o++) {
            const float *xr = P + (size_t)(r / TAPS) * cs + off[r % TAPS];
            float s = 0;
            for (int q = 0; q < N; q++)
                s += xr[q] * dyT[(size_t)q * Cout + o];
            C[(size_t)r * Cout + o] = accumulate ? C[(size_t)r * Cout + o] + s : s;
        }
}

#endif

void rn_fast_conv_s2_bwd_filter(int threads, const RnConvDims *d, const float *x, const float *dy, float *dw,
                                float *ws)
{
    const int Cout = d->out_c, N = d->out_h * d->out_w, R = d->in_c * TAPS;
    const size_t S = sub_floats(d), per = bf_per(d), wsize = w_floats(d), pl = fwd_per(d);
    const size_t in_img = (size_t)d->in_c * d->in_h * d->in_w, out_img = (size_t)Cout * N;
    const int chunks = (d->n + CHUNK - 1) / CHUNK;
    float *partial = ws + per * (size_t)threads;
    if (chunks == 0) {
        memset(dw, 0, wsize * sizeof(float));
        return;
    }
    int off[TAPS];
    tap_offsets(d, S, off);
#pragma omp parallel num_threads(threads)
    {
        float *P = ws + per * (size_t)omp_get_thread_num(), *dyT = P + pl;
#pragma omp for schedule(static)
        for (int ch = 0; ch < chunks; ch++) {
            int end = (ch + 1) * CHUNK < d->n ? (ch + 1) * CHUNK : d->n;
            for (int i = ch * CHUNK; i < end; i++) {
                split_image(d, x + i * in_img, P, 6 * S, S);
                rn_fast_transpose(Cout, N, dy + i * out_img, N, dyT, Cout);   /* dyT[q][o] = dy[o][q] */
                outer_image(R, Cout, P, 6 * S, off, N, dyT, partial + ch * wsize, i > ch * CHUNK);
            }
        }
        /* dw[o][r] = partial[0] + partial[1] + ... (each [r][o]) in chunk order, element by element */
#pragma omp for schedule(static)
        for (int r = 0; r < R; r++)
            for (int o0 = 0; o0 < Cout; o0 += 64) {
                const int m = Cout - o0 < 64 ? Cout - o0 : 64;
                const float *p = partial + (size_t)r * Cout + o0;
                float s[64];
                for (int o = 0; o < m; o++)
                    s[o] = p[o];
                for (int c = 1; c < chunks; c++)
                    for (int o = 0; o < m; o++)
                        s[o] += p[c * wsize + o];
                for (int o = 0; o < m; o++)
                    dw[(size_t)(o0 + o) * R + r] = s[o];
            }
    }
}
