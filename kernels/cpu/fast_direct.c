/* Stride-1 convolution without im2col (fast.h): the forward pass, and through
 * it the stride-1 data gradient (fast_conv.c turns the filters around).
 *
 * The trick is a padded input plane whose rows keep their padding: with
 * Wp = W + 2p columns per row, xp[c][(ih+p)*Wp + iw+p] = x[c][ih][iw] and 0 on
 * the border. Number the outputs in the same pitch, q = oh*Wp + ow; then tap
 * (kh, kw) of output q reads xp[c][q + kh*Wp + kw] for EVERY q. So the
 * convolution is a matrix product whose "B rows" are the input plane shifted by
 * one of k*k fixed offsets:
 *   yp[o][q] = sum_{c, t} w[o][c][t] * xp[c][q + off[t]]
 * and 16 consecutive outputs read 16 consecutive inputs: plain vector loads,
 * no 9x copy of the image (im2col was as slow as the multiply at 16 channels).
 * When OW is a multiple of 16 (32, 16) each vector covers 16 outputs of one
 * row and goes straight to y. Otherwise (8, odd sizes) vectors run along q
 * across rows: the 2p columns q with ow >= OW of each row are computed and
 * thrown away (20% of the work at W = 8) and the valid outputs are copied out
 * to y. Every index read for a kept output stays inside its plane.
 *
 * The micro-kernel is the GEMM one of fast_gemm.c with the B row pointer taken
 * from the offset table: MR = 8 output channels x NV = 3 vectors of 16 outputs
 * (24 zmm accumulators), 8 broadcasts + 3 loads per 24 FMAs. Each output is one
 * FMA chain over c, then t, in that order: the same bits for any thread count
 * (images are split over the threads). */
#include "fast.h"

#include <omp.h>
#include <string.h>

enum { MAX_TAPS = 49 };   /* kernels up to 7x7 */

int rn_fast_direct_ok(const RnConvDims *d)
{
    return d->stride == 1 && d->kernel * d->kernel <= MAX_TAPS && d->pad >= 0 &&
           d->out_h == d->in_h + 2 * d->pad - d->kernel + 1 && d->out_w == d->in_w + 2 * d->pad - d->kernel + 1 &&
           d->out_h > 0 && d->out_w > 0;
}

/* Per image: the padded planes, then the outputs in padded pitch. */
static size_t plane_floats(const RnConvDims *d)
{
    return (size_t)(d->in_h + 2 * d->pad) * (d->in_w + 2 * d->pad);
}
static size_t pitched_out(const RnConvDims *d)
{
    return (size_t)(d->out_h - 1) * (d->in_w + 2 * d->pad) + d->out_w;
}

size_t rn_fast_direct_ws_floats(const RnConvDims *d, int threads)
{
    size_t per = (size_t)d->in_c * plane_floats(d) + (size_t)d->out_c * pitched_out(d);
    return rn_fast_round16(per) * (size_t)threads;   /* each thread's part 64-byte aligned */
}

/* xp (one image, in_c padded planes cs floats apart) = x with its zero border */
static void pad_image(const RnConvDims *d, const float *x, float *xp, size_t cs)
{
    const int p = d->pad, H = d->in_h, W = d->in_w, Wp = W + 2 * p, Hp = H + 2 * p;
    for (int c = 0; c < d->in_c; c++)
        for (int r = 0; r < Hp; r++) {
            float *row = xp + c * cs + (size_t)r * Wp;
            int ih = r - p;
            if (ih < 0 || ih >= H) {
                memset(row, 0, (size_t)Wp * sizeof(float));
                continue;
            }
            for (int j = 0; j < p; j++)
                row[j] = row[p + W + j] = 0;
            memcpy(row + p, x + ((size_t)c * H + ih) * W, (size_t)W * sizeof(float));
        }
}

#if defined(__AVX512F__)
#include "fast_tile.h"

/* Blocks of up to MR = 8 output channels x NV = 3 vectors, or MR4 = 6 x 4
 * (24 accumulators either way). */
enum { MR = 8, NV = 3, MR4 = 6, NV_MAX = 4 };

/* For v < nv: C[i*ldc + cs[v] + lane] = sum_{c<cin, t<taps} A[i*lda + c*taps + t] *
 * X[c*plane + off[t] + xs[v] + lane], i < mr, 16 lanes (the last masked by last).
 * mr, nv are constants at every call site, so acc[][] lives in registers. */
static inline __attribute__((always_inline)) void
direct_block(const int mr, const int nv, __mmask16 last, int cin, int taps, const int *off, const float *A,
             ptrdiff_t lda, const float *X, ptrdiff_t plane, const int *xs, float *C, ptrdiff_t ldc, const int *cs)
{
    __m512 acc[MR][NV_MAX];
    const float *xv[NV_MAX];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        xv[v] = X + xs[v];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (int c = 0; c < cin; c++) {
        const float *ac = A + c * taps;
        const ptrdiff_t cp = c * plane;
        for (int t = 0; t < taps; t++) {
            const ptrdiff_t o = cp + off[t];
            __m512 bv[NV_MAX];
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, xv[v] + o) : _mm512_loadu_ps(xv[v] + o);
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m512 av = _mm512_set1_ps(ac[i * lda + t]);
#pragma GCC unroll 4
                for (int v = 0; v < nv; v++)
                    acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(C + i * ldc + cs[v], v == nv - 1 ? last : (__mmask16)0xFFFF, acc[i][v]);
}

#define DB_CASE(r, v) \
    case (r) * 8 + (v): direct_block(r, v, last, cin, taps, off, a, lda, xp, plane, xs, c, ldc, cs); break;
#define DB_ROWS(r) DB_CASE(r, 3) DB_CASE(r, 2) DB_CASE(r, 1)
#define DB_ROWS4(r) DB_CASE(r, 4) DB_CASE(r, 3) DB_CASE(r, 2) DB_CASE(r, 1)

/* The blocks of one image: vectors [v0, v0 + nv) with their sources xs and
 * destinations cs, over all output channels, in row blocks as even as can be
 * (at most MR, or MR4 with 4 vectors). */
static inline void block_all_channels(int cout, int cin, int taps, const int *off, const float *w,
                                      const float *xp, ptrdiff_t plane, int nv, __mmask16 last, const int *xs,
                                      float *y, ptrdiff_t ldc, const int *cs)
{
    const ptrdiff_t lda = (ptrdiff_t)cin * taps;
    const int rows = nv == NV_MAX ? MR4 : MR, blocks = (cout + rows - 1) / rows;
    for (int b = 0, i = 0; b < blocks; b++) {
        int mr = cout / blocks + (b < cout % blocks);
        const float *a = w + i * lda;
        float *c = y + i * ldc;
        switch (mr * 8 + nv) {
            DB_ROWS(8) DB_ROWS(7) DB_ROWS4(6) DB_ROWS4(5) DB_ROWS4(4) DB_ROWS4(3) DB_ROWS4(2) DB_ROWS4(1)
        }
        i += mr;
    }
}

/* The V = ceil(N/16) vectors go in blocks of 4 when V is a multiple of 4, else
 * of at most NV, as even as can be (16 vectors: 4,4,4,4; 5: 3,2), so no block
 * is left with one vector. */
void rn_fast_direct_plane(int cout, int cin, int taps, const int *off, const float *w, const float *xp,
                          ptrdiff_t plane, int N, float *yp)
{
    const int V = (N + 15) / 16, per = V % NV_MAX == 0 ? NV_MAX : NV, blocks = (V + per - 1) / per;
    for (int b = 0, v0 = 0; b < blocks; b++) {
        int nv = V / blocks + (b < V % blocks), j = 16 * v0;
        int xs[NV_MAX] = {j, j + 16, j + 32, j + 48};
        block_all_channels(cout, cin, taps, off, w, xp, plane, nv, lane_mask(N, j + 16 * (nv - 1)), xs, yp, N,
                           xs);
        v0 += nv;
    }
}

/* When the output width is a multiple of 16, each vector stays within one
 * output row: nothing is thrown away and the results go straight to y[o][oh][ow]. */
static int rows_ok(const RnConvDims *d) { return d->out_w % 16 == 0; }

static void direct_image_rows(const RnConvDims *d, int taps, const int *off, const float *w, const float *xp,
                              ptrdiff_t plane, float *y)
{
    const int per_row = d->out_w / 16, V = d->out_h * per_row, Wp = d->in_w + 2 * d->pad;
    for (int v0 = 0; v0 < V; v0 += NV) {
        int nv = V - v0 < NV ? V - v0 : NV, xs[NV] = {0}, cs[NV] = {0};
        for (int v = 0; v < nv; v++) {
            int oh = (v0 + v) / per_row, m = (v0 + v) % per_row;
            xs[v] = oh * Wp + 16 * m;
            cs[v] = oh * d->out_w + 16 * m;
        }
        block_all_channels(d->out_c, d->in_c, taps, off, w, xp, plane, nv, (__mmask16)0xFFFF, xs, y,
                           (ptrdiff_t)d->out_h * d->out_w, cs);
    }
}

#else /* portable fallback: the same sums in the same order */

void rn_fast_direct_plane(int cout, int cin, int taps, const int *off, const float *w, const float *xp,
                          ptrdiff_t plane, int N, float *yp)
{
    for (int o = 0; o < cout; o++)
        for (int q = 0; q < N; q++) {
            float s = 0;
            for (int c = 0; c < cin; c++)
                for (int t = 0; t < taps; t++)
                    s += w[((size_t)o * cin + c) * taps + t] * xp[c * plane + off[t] + q];
            yp[(size_t)o * N + q] = s;
        }
}

static int rows_ok(const RnConvDims *d) { (void)d; return 0; }
static void direct_image_rows(const RnConvDims *d, int taps, const int *off, const float *w, const float *xp,
                              ptrdiff_t plane, float *y)
{
    (void)d, (void)taps, (void)off, (void)w, (void)xp, (void)plane, (void)y;
}

#endif

void rn_fast_conv_direct(int threads, const RnConvDims *d, const float *x, const float *w, float *y, float *ws)
{
    const int k = d->kernel, taps = k * k, Wp = d->in_w + 2 * d->pad;
    const ptrdiff_t plane = (ptrdiff_t)plane_floats(d);
    const int N = (int)pitched_out(d);
    const size_t in_img = (size_t)d->in_c * d->in_h * d->in_w, out_hw = (size_t)d->out_h * d->out_w;
    const size_t per = rn_fast_direct_ws_floats(d, 1);
    int off[MAX_TAPS];
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++)
            off[kh * k + kw] = kh * Wp + kw;
#pragma omp parallel num_threads(threads)
    {
        float *xp = ws + per * (size_t)omp_get_thread_num();
        float *yp = xp + (size_t)d->in_c * plane;
#pragma omp for schedule(static)
        for (int i = 0; i < d->n; i++) {
            pad_image(d, x + i * in_img, xp, (size_t)plane);
            float *yi = y + (size_t)i * d->out_c * out_hw;
            if (rows_ok(d)) {
                direct_image_rows(d, taps, off, w, xp, plane, yi);
                continue;
            }
            rn_fast_direct_plane(d->out_c, d->in_c, taps, off, w, xp, plane, N, yp);
            for (int o = 0; o < d->out_c; o++)
                for (int oh = 0; oh < d->out_h; oh++)
                    memcpy(yi + (o * d->out_h + oh) * d->out_w, yp + (size_t)o * N + (size_t)oh * Wp,
                           (size_t)d->out_w * sizeof(float));
        }
    }
}

/* ---- Filter gradient, stride 1 ----
 * dW[o][c][t] = sum over images and outputs q of dy[o][q] * xp[c][q + off[t]]:
 * a product of rows with rows (as fast_gemm.c's NT) whose "B rows" are again
 * shifted views of the padded planes, so no im2col either. dy is laid out in
 * the same padded pitch with zeros in the thrown-away columns, which then add
 * nothing. To give the 16-lane chains some length at 8x8 and 16x16, up to
 * CHUNK images of a chunk sit side by side, each in its own plane-sized slot
 * (group of g images: K = (g-1)*plane + N). As in fast_conv.c, each fixed
 * chunk of CHUNK images is summed into its own partial in image order, then the
 * partials are added in chunk order: the same bits for any thread count. */

enum { CHUNK = 8, GROUP_K = 1024 };

static int group_images(const RnConvDims *d)
{
    int g = GROUP_K / (int)plane_floats(d);
    return g < 1 ? 1 : g > CHUNK ? CHUNK : g;
}

static size_t bf_per_thread(const RnConvDims *d)
{
    size_t gs = plane_floats(d) * (size_t)group_images(d);
    return rn_fast_round16((size_t)(d->in_c + d->out_c) * gs);
}

size_t rn_fast_direct_bwd_filter_ws_floats(const RnConvDims *d, int threads)
{
    size_t wsize = (size_t)d->out_c * d->in_c * d->kernel * d->kernel;
    return bf_per_thread(d) * (size_t)threads + wsize * (size_t)((d->n + CHUNK - 1) / CHUNK);
}

/* Row r of B is channel r / taps shifted by off[r % taps]. */
static inline const float *b_row(const float *X, size_t xs, int taps, const int *off, int r)
{
    return X + (size_t)(r / taps) * xs + off[r % taps];
}

#if defined(__AVX512F__)

enum { NT_MR = DOT_TILE_MR, NT_NR = DOT_TILE_NR };   /* 4 x 4: see fast_tile.h */

static inline __attribute__((always_inline)) void
nt_shift_block(const int mr, const int nr, int K, const float *A, size_t lda, const float *X, size_t xs,
               int taps, const int *off, int r0, float *C, ptrdiff_t ldc, int accumulate)
{
    const float *b[NT_NR];
#pragma GCC unroll 4
    for (int j = 0; j < nr; j++)
        b[j] = b_row(X, xs, taps, off, r0 + j);
    dot_tile(mr, nr, K, A, (ptrdiff_t)lda, b, C, ldc, accumulate);
}

#define NT_CASE(r, n) \
    case (r) * 8 + (n): nt_shift_block(r, n, K, a, lda, X, xs, taps, off, j, c, ldc, accumulate); break;
#define NT_ROWS(r) NT_CASE(r, 4) NT_CASE(r, 3) NT_CASE(r, 2) NT_CASE(r, 1)

/* C[o][r] (+)= sum_{k<K} A[o*lda + k] * B_r[k], o < M, r < R (B_r from b_row) */
static void nt_shift(int M, int R, int K, const float *A, size_t lda, const float *X, size_t xs, int taps,
                     const int *off, float *C, ptrdiff_t ldc, int accumulate)
{
    for (int i = 0; i < M; i += NT_MR) {
        int mr = M - i < NT_MR ? M - i : NT_MR;
        for (int j = 0; j < R; j += NT_NR) {
            int nr = R - j < NT_NR ? R - j : NT_NR;
            const float *a = A + i * lda;
            float *c = C + i * ldc + j;
            switch (mr * 8 + nr) {
                NT_ROWS(4) NT_ROWS(3) NT_ROWS(2) NT_ROWS(1)
            }
        }
    }
}

#else

static void nt_shift(int M, int R, int K, const float *A, size_t lda, const float *X, size_t xs, int taps,
                     const int *off, float *C, ptrdiff_t ldc, int accumulate)
{
    for (int i = 0; i < M; i++)
        for (int r = 0; r < R; r++) {
            const float *b = b_row(X, xs, taps, off, r);
            float s = 0;
            for (int k = 0; k < K; k++)
                s += A[i * lda + k] * b[k];
            C[i * ldc + r] = accumulate ? C[i * ldc + r] + s : s;
        }
}

#endif

void rn_fast_conv_bwd_filter_direct(int threads, const RnConvDims *d, const float *x, const float *dy,
                                    float *dw, float *ws)
{
    const int k = d->kernel, taps = k * k, Wp = d->in_w + 2 * d->pad, g_max = group_images(d);
    const size_t plane = plane_floats(d), gs = plane * (size_t)g_max;
    const int N = (int)pitched_out(d), ckk = d->in_c * taps;
    const size_t in_img = (size_t)d->in_c * d->in_h * d->in_w, out_hw = (size_t)d->out_h * d->out_w;
    const size_t wsize = (size_t)d->out_c * ckk, per = bf_per_thread(d);
    const int chunks = (d->n + CHUNK - 1) / CHUNK;
    float *partial = ws + per * (size_t)threads;
    if (chunks == 0) {
        memset(dw, 0, wsize * sizeof(float));
        return;
    }
    int off[MAX_TAPS];
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++)
            off[kh * k + kw] = kh * Wp + kw;
#pragma omp parallel num_threads(threads)
    {
        float *xg = ws + per * (size_t)omp_get_thread_num(), *dyg = xg + (size_t)d->in_c * gs;
#pragma omp for schedule(static)
        for (int ch = 0; ch < chunks; ch++) {
            int end = (ch + 1) * CHUNK < d->n ? (ch + 1) * CHUNK : d->n;
            for (int i0 = ch * CHUNK; i0 < end; i0 += g_max) {
                int g = end - i0 < g_max ? end - i0 : g_max;
                /* image j of the group in slot j of every channel row (stride gs) */
                memset(dyg, 0, (size_t)d->out_c * gs * sizeof(float));
                for (int j = 0; j < g; j++) {
                    pad_image(d, x + (i0 + j) * in_img, xg + j * plane, gs);
                    const float *dyi = dy + (size_t)(i0 + j) * d->out_c * out_hw;
                    for (int o = 0; o < d->out_c; o++)
                        for (int oh = 0; oh < d->out_h; oh++)
                            memcpy(dyg + o * gs + j * plane + (size_t)oh * Wp, dyi + (o * d->out_h + oh) * d->out_w,
                                   (size_t)d->out_w * sizeof(float));
                }
                nt_shift(d->out_c, ckk, (int)((g - 1) * plane) + N, dyg, gs, xg, gs, taps, off,
                         partial + ch * wsize, ckk, i0 > ch * CHUNK);
            }
        }
        /* dw = partial[0] + partial[1] + ... in chunk order, element by element */
#pragma omp for schedule(static)
        for (size_t e = 0; e < wsize; e++) {
            float s = partial[e];
            for (int c = 1; c < chunks; c++)
                s += partial[c * wsize + e];
            dw[e] = s;
        }
    }
}
