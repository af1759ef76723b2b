/* 3x3 stride-1 pad-1 convolutions by Winograd's minimal filtering F(m x m, 3x3)
 * (fast.h): forward, data gradient and filter gradient. The reference is
 * kernels/cpu/ref_conv.c; tests/unit/test_fast.c checks all three against it.
 *
 * The idea (Lavin & Gray 2016). Cut each output plane into m x m tiles; tile t
 * reads the a x a input patch d_t around it (a = m + 2). For m = 2, with
 *
 *   B^T = | 1  0 -1  0 |     G = | 1    0    0   |     A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
 *         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |         | 0    0    1   |
 *
 * (m = 4's are below, at bt6), the outputs of tile t are
 *   Y_t = A^T [ sum_c U[k][c] (.) V_t[c] ] A,
 * where U[k][c] = G g[k][c] G^T (a x a, the transformed filter), V_t[c] =
 * B^T d_t[c] B (a x a, the transformed patch) and (.) is the element-wise
 * product. For each of the a*a positions xi the sum over c is a plain matrix
 * product  M_xi[k][t] = sum_c U_xi[k][c] V_xi[c][t],  so a convolution becomes:
 * transform the input (adds), a*a GEMMs with K = C, transform the output
 * (adds). The GEMMs do a*a multiplies per m*m outputs where the direct
 * convolution does 9 per output: 2.25x less arithmetic for F(2x2,3x3), 4x less
 * for F(4x4,3x3). F(2x2)'s transforms hold only 0, +-1 and +-1/2, so its
 * rounding is that of a direct convolution; F(4x4)'s larger coefficients cost
 * about 6x that (~1e-6 relative, bounded in the test). F(4x4) runs where its
 * tiles fill whole vectors (16x16 and 32x32 planes: rn_fast_wino_tile), in
 * all three passes, F(2x2) elsewhere (8x8 planes have only 4 such tiles).
 *
 *   data gradient    a forward pass of dy with the filters turned around (as in
 *                    fast_conv.c), so the same code with U built from rot180(g)
 *   filter gradient  the adjoint of the above: dM_t = A dY_t A^T per tile,
 *                    dU_xi[k][c] = sum_t dM_xi[k][t] V_xi[c][t] (a*a NT GEMMs),
 *                    dg[k][c] = G^T dU[k][c] G
 *
 * Layout. 16 tiles lie side by side in the 16 lanes of a vector, in row-major
 * tile order; V_xi and M_xi are [channel][tile] matrices whose tile columns
 * for g images of a group sit side by side (small planes are grouped so the
 * GEMMs are long enough). Patch column m*tx + j falls in column phase j % m,
 * so each input plane is first stored padded and split by column phase: row r
 * holds phase q [t] = x_pad[r][m*t + q] for q = 0 .. m-1 (for m = 2: E = even
 * columns, then O = odd), and column j of the patches of 16 neighbouring tiles
 * is one contiguous load, phase j % m from t = tx + j / m. When a row has
 * fewer than 16 tiles (all but 64-wide planes) one vector spans several tile
 * rows, each a "segment" of lanes loaded on its own; so a tile row must fill
 * a vector exactly or divide 16 (rn_fast_wino_ok, rn_fast_wino_tile).
 * The planes of the nets (8, 16 and 32 wide) skip the split copy: their
 * patches are permuted straight out of x's rows: the same data and the same
 * bits, and x is read once instead of twice. The transforms of tiles are in
 * fast_wino_transform.c; this file has the geometry, the filter transforms
 * and the passes.
 *
 * Threads: forward splits groups of images over the threads; the filter
 * gradient sums fixed chunks of CHUNK images into their own partials, then adds
 * the partials in chunk order: the same bits for any number of threads.
 * Which thread takes a group or a chunk changes no bits, so they are handed
 * out as threads come free (schedule(dynamic)), not in fixed halves: on a
 * shared machine one core is often slowed for a while, and a fixed split then
 * leaves the other waiting at the loop's end. Steps alternated in one process
 * ran 1-8% faster so (medians, ResNet-20 and -56, 2 threads). */
#include "fast.h"
#include "fast_wino.h"

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

int rn_fast_wino_tile(const RnConvDims *d)
{
    if (!rn_fast_wino_ok(d))
        return 0;
    if (d->in_h % 4 || d->in_w % 4)
        return 2;
    /* 4x4 tiles only where they fill whole vectors: an 8x8 plane has 4 */
    int tiles_per_row = d->in_w / 4, tiles = d->in_h / 4 * tiles_per_row;
    return (tiles_per_row % 16 == 0 || 16 % tiles_per_row == 0) && tiles % 16 == 0 ? 4 : 2;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* A block of tile columns goes through transform, GEMMs and back-transform
 * together, so its V and M stay in the core's L2: FWD_BLOCK = 64 columns x 16
 * (F(2x2)) or 36 (F(4x4)) xi x 16..64 channels is 64..576 KiB. The filter
 * gradient's NT products (16 channels, see filter_via_vt) sum over the
 * columns, and a longer sum amortises their 16-lane reductions, so their
 * blocks are longer (FILTER_BLOCK_NT). Its transposed NN products reduce no
 * lanes, and their blocks are as short as the forward's: at 256 columns a
 * block's V and dM (1.2 MiB each at 32 channels) outgrew L2 and the filter
 * gradient of 32 channels at 16x16 took 4.0-4.6 ms a batch of 128 (2
 * threads); with 64 columns 2.8 ms, the same bits (each dU element is one
 * chain over the columns in order, however they are cut into blocks), and a
 * training step 0.93 of its time (ResNet-20 and -56, alternated in one
 * process). Planes with fewer tiles than a block are grouped, a block holding
 * whole images (up to CHUNK: 16 images of an 8x8 plane fill 256 columns; with
 * chunks of 8 the 8x8 filter gradient ran 30% slower). */
enum { CHUNK = 16, FWD_BLOCK = 64, FILTER_BLOCK_NT = 256, FILTER_BLOCK_VT = FWD_BLOCK };

static Wino geometry(int C, int K, int H, int W, int m, int block)
{
    Wino g;
    g.C = C;
    g.K = K;
    g.H = H;
    g.W = W;
    g.m = m;
    g.a = m + 2;
    g.xis = g.a * g.a;
    g.TW = W / m;
    g.T = (H / m) * g.TW;
    g.Tp = (g.T + 15) / 16 * 16;
    g.g = g.Tp >= block ? 1 : block / g.Tp > CHUNK ? CHUNK : block / g.Tp;
    g.bv = g.Tp >= block ? block / 16 : g.Tp / 16;
    g.PH = g.TW + 1;
    g.RS = m * g.PH;
    g.plane = ((size_t)(H + 2) * (size_t)g.RS + 15) / 16 * 16;
    g.gt = g.Tp >= block ? (size_t)block : (size_t)g.g * (size_t)g.Tp;
    return g;
}

/* U_xi[o][i] = (G f G^T)[xi] for o < nout, i < nin, where f = w[o][i] (w is
 * [nout][nin][3][3]), or with turned = 1, f = rot180(w[i][o]) (w is
 * [nin][nout][3][3]); G is F(m x m, 3x3)'s. Computed in double and rounded
 * once (1/6 and 1/24 are not floats). */
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

/* Filters are transformed TBLOCK side by side, in the last index of the
 * double arrays below. Those loops always run all TBLOCK columns (zeros past
 * the last filter) and only the stores stop at nb: with a fixed trip count gcc
 * vectorises them at -O2 (its cheap cost model refuses a loop of unknown
 * length), and they ran scalar before, at about 1% of a training step each.
 * Vector or scalar, every value is the same chain of double operations (no
 * contraction in ISO C mode), so the bits are the same. */
enum { TBLOCK = 16 };

/* Copies n (<= TBLOCK) floats of a column block: a loop of fixed length, which
 * the vectoriser takes, when the block is whole */
static inline void copy_block(float *dst, const float *src, int n)
{
    if (n == TBLOCK)
        for (int b = 0; b < TBLOCK; b++)
            dst[b] = src[b];
    else
        for (int b = 0; b < n; b++)
            dst[b] = src[b];
}

static void filter_transform(int threads, int m, const float *w, int nout, int nin, int turned, float *U)
{
    const int a = m + 2;
    const double(*G)[3] = m == 4 ? G4 : G2;
    const size_t step = (size_t)nout * nin;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int o = 0; o < nout; o++)
        for (int i0 = 0; i0 < nin; i0 += TBLOCK) {
            const int nb = nin - i0 < TBLOCK ? nin - i0 : TBLOCK;
            double f[9][TBLOCK] = {{0}}, gf[6][3][TBLOCK];   /* filter i0 + b in column b */
            for (int b = 0; b < nb; b++)
                for (int r = 0; r < 9; r++)
                    f[r][b] = turned ? w[((size_t)(i0 + b) * nout + o) * 9 + 8 - r]
                                     : w[((size_t)o * nin + i0 + b) * 9 + r];
            for (int r = 0; r < a; r++)   /* G f */
                for (int q = 0; q < 3; q++)
                    for (int b = 0; b < TBLOCK; b++)
                        gf[r][q][b] = G[r][0] * f[q][b] + G[r][1] * f[3 + q][b] + G[r][2] * f[6 + q][b];
            float *u = U + (size_t)o * nin + i0;
            for (int r = 0; r < a; r++)   /* (G f) G^T */
                for (int q = 0; q < a; q++) {
                    float out[TBLOCK];
                    for (int b = 0; b < TBLOCK; b++)
                        out[b] = (float)(gf[r][0][b] * G[q][0] + gf[r][1][b] * G[q][1] + gf[r][2][b] * G[q][2]);
                    copy_block(u + (size_t)(a * r + q) * step, out, nb);
                }
        }
}

/* dw[k][c] = G^T dU[k][c] G (dU is [a*a][K][C]), in double, rounded once */
static void filter_grad_untransform(int threads, int m, const float *dU, int K, int C, float *dw)
{
    const int a = m + 2;
    const double(*G)[3] = m == 4 ? G4 : G2;
    const size_t step = (size_t)K * C;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int k = 0; k < K; k++)
        for (int c0 = 0; c0 < C; c0 += TBLOCK) {
            const int nb = C - c0 < TBLOCK ? C - c0 : TBLOCK;
            const float *u = dU + (size_t)k * C + c0;
            double in[36][TBLOCK], t[3][6][TBLOCK], out[9][TBLOCK];   /* channel c0 + b in column b */
            for (int x = 0; x < a * a; x++) {
                float col[TBLOCK] = {0};
                copy_block(col, u + (size_t)x * step, nb);
                for (int b = 0; b < TBLOCK; b++)
                    in[x][b] = col[b];
            }
            for (int r = 0; r < 3; r++)   /* G^T dU */
                for (int j = 0; j < a; j++) {
                    for (int b = 0; b < TBLOCK; b++)
                        t[r][j][b] = 0;
                    for (int i = 0; i < a; i++)
                        for (int b = 0; b < TBLOCK; b++)
                            t[r][j][b] += G[i][r] * in[a * i + j][b];
                }
            for (int r = 0; r < 3; r++)   /* (G^T dU) G */
                for (int q = 0; q < 3; q++) {
                    for (int b = 0; b < TBLOCK; b++)
                        out[3 * r + q][b] = 0;
                    for (int j = 0; j < a; j++)
                        for (int b = 0; b < TBLOCK; b++)
                            out[3 * r + q][b] += t[r][j][b] * G[j][q];
                }
            for (int b = 0; b < nb; b++)
                for (int e = 0; e < 9; e++)
                    dw[((size_t)k * C + c0 + b) * 9 + e] = (float)out[e][b];
        }
}

/* Floats of the transformed filters U (or the filter gradient's dU): a*a matrices of K x C */
static size_t u_floats(const Wino *g)
{
    return rn_fast_round16((size_t)g->xis * g->K * g->C);
}

/* Per-thread floats: split planes of one image, V and M (or dM) of a group. */
static size_t thread_floats(const Wino *g)
{
    return rn_fast_round16((size_t)g->C * g->plane) + rn_fast_round16((size_t)g->xis * xi_stride(g, g->C)) +
           rn_fast_round16((size_t)g->xis * xi_stride(g, g->K));
}

/* One thread's buffers, carved from its thread_floats(g) floats at ws. */
typedef struct {
    float *P, *V, *M;   /* split planes of one image; V and M (or dM) of a block */
    float *VT;          /* the filter gradient's V_xi^T (filter_bufs), or NULL */
} ThreadBufs;

static ThreadBufs thread_bufs(const Wino *g, float *ws)
{
    ThreadBufs b;
    b.P = ws;
    b.V = b.P + rn_fast_round16((size_t)g->C * g->plane);
    b.M = b.V + rn_fast_round16((size_t)g->xis * xi_stride(g, g->C));
    b.VT = NULL;
    return b;
}

/* The filter gradient's products dU_xi = dM_xi V_xi^T sum over the block's
 * columns, and both operands are column-contiguous: an NT product, whose
 * 16-lane partial sums each end in a lane reduction (shuffles on the port one
 * of the two FMA units shares) and whose operands, read again for every 4 x 4
 * tile of outputs, outgrow L1 from 32 channels up. There, turning V_xi round
 * once (16 x 16 blocks in registers) and running an NN product, which keeps
 * its V^T panel in L1 and never reduces lanes, costs less: on one core, over
 * 256 columns, the transpose and NN product took 0.81-0.85 of the NT
 * product's time at 64 channels and 0.89-0.91 at 32; a whole training step,
 * steps alternated in one process, 0.98 of its time (ResNet-56) and 0.99
 * (ResNet-20, Plain-56). With 16 channels the NN product has one vector of
 * columns and ran 1.2-1.3x slower, so the NT one stays. */
static int filter_via_vt(int C)
{
    return C >= 32 && C % 16 == 0;
}

static size_t filter_thread_floats(const Wino *f)
{
    return thread_floats(f) + (filter_via_vt(f->C) ? rn_fast_round16(f->gt * (size_t)f->C) : 0);
}

static ThreadBufs filter_bufs(const Wino *f, float *ws)
{
    ThreadBufs b = thread_bufs(f, ws);
    if (filter_via_vt(f->C))
        b.VT = ws + thread_floats(f);
    return b;
}

static int chunks_of(int n)
{
    return (n + CHUNK - 1) / CHUNK;
}

/* The data gradient's geometry (a forward pass from K to C channels) and the
 * filter gradient's, for the convolution d. */
static Wino data_geometry(const RnConvDims *d)
{
    return geometry(d->out_c, d->in_c, d->in_h, d->in_w, rn_fast_wino_tile(d), FWD_BLOCK);
}

static Wino filter_geometry(const RnConvDims *d)
{
    const int block = filter_via_vt(d->in_c) ? FILTER_BLOCK_VT : FILTER_BLOCK_NT;
    return geometry(d->in_c, d->out_c, d->in_h, d->in_w, rn_fast_wino_tile(d), block);
}

/* The filter gradient's shared floats: dU and one partial per chunk of images */
static size_t filter_shared_floats(const Wino *f, int n)
{
    return u_floats(f) * (size_t)(chunks_of(n) + 1);
}

size_t rn_fast_wino_ws_floats(const RnConvDims *d, int threads)
{
    Wino g = geometry(d->in_c, d->out_c, d->in_h, d->in_w, rn_fast_wino_tile(d), FWD_BLOCK);
    Wino t = data_geometry(d), f = filter_geometry(d);
    size_t fwd = u_floats(&g) + thread_floats(&g) * (size_t)threads;
    size_t bwd = u_floats(&t) + thread_floats(&t) * (size_t)threads;
    size_t filt = filter_shared_floats(&f, d->n) + filter_thread_floats(&f) * (size_t)threads;
    size_t most = fwd > bwd ? fwd : bwd;
    return most > filt ? most : filt;
}

/* Blocks of tiles per image: pieces of the batch-norm statistics (fast.h) */
static int sum_blocks(const Wino *g)
{
    return (g->Tp / 16 + g->bv - 1) / g->bv;
}

int rn_fast_wino_sum_blocks(const RnConvDims *d)
{
    Wino g = geometry(d->in_c, d->out_c, d->in_h, d->in_w, rn_fast_wino_tile(d), FWD_BLOCK);
    return sum_blocks(&g);
}

int rn_fast_wino_bwd_sum_blocks(const RnConvDims *d)
{
    Wino t = data_geometry(d);
    return sum_blocks(&t);
}

/* The tiles of one piece: tiles [t0, t1) of a plane, which lie either in one
 * run of whole output rows (all the nets' planes) or in each tile row's part
 * of m rows */
typedef struct {
    int t0, t1, whole_rows;
} Piece;

static Piece piece_of(const Wino *g, int vb, int ve)
{
    Piece pc = {16 * vb, 16 * ve < g->T ? 16 * ve : g->T, 0};
    pc.whole_rows = pc.t0 % g->TW == 0 && pc.t1 % g->TW == 0;
    return pc;
}

/* Calls run(ctx, at, n) for each run of the piece's outputs in a plane: n
 * floats from offset at */
typedef void (*RunFn)(void *ctx, size_t at, int n);
static void piece_runs(const Wino *g, const Piece *pc, RunFn run, void *ctx)
{
    if (pc->whole_rows) {
        run(ctx, (size_t)(pc->t0 / g->TW) * g->m * g->W, (pc->t1 - pc->t0) * g->m * g->m);
        return;
    }
    for (int t = pc->t0; t < pc->t1;) {
        const int ty = t / g->TW, tx = t % g->TW, n = pc->t1 - t < g->TW - tx ? pc->t1 - t : g->TW - tx;
        for (int r = g->m * ty; r < g->m * (ty + 1); r++)
            run(ctx, (size_t)r * g->W + g->m * tx, g->m * n);
        t += n;
    }
}

/* One plane's shifted sums: sum (p[i] - s) and sum (p[i] - s)^2 into acc */
typedef struct {
    const float *pl;
    float shift, acc[2];
} ShiftedSums;

static void run_sums(void *ctx, size_t at, int n)
{
    ShiftedSums *ss = ctx;
    const float *p = ss->pl + at, s = ss->shift;
    float a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (int i = 0; i < n; i++) {
        const float v = p[i] - s;
        a += v;
        b += v * v;
    }
    ss->acc[0] += a;
    ss->acc[1] += b;
}

/* The statistics of the pieces of the tiles of vectors [vb, ve) of one
 * image's planes y (RN_FAST_PIECE_FLOATS), channel k's at out + 4 * k * blocks.
 * Read back right after the block was written: from the core's cache. One
 * pass: the sums of v = y - y0 and v^2, shifted by the piece's first output
 * y0, a value of the same distribution, so E[v^2] - E[v]^2 loses little to
 * cancellation; in double, M2 = sum v^2 - (sum v)^2 / n. */
static void block_sums(const Wino *g, const float *y, int vb, int ve, int blocks, float *out)
{
    const Piece pc = piece_of(g, vb, ve);
    const int n = (pc.t1 - pc.t0) * g->m * g->m;
    const size_t first = (size_t)(pc.t0 / g->TW) * g->m * g->W + (size_t)(pc.t0 % g->TW) * g->m;
    for (int k = 0; k < g->K; k++) {
        const float *pl = y + (size_t)k * g->H * g->W;
        ShiftedSums ss = {pl, pl[first], {0, 0}};
        piece_runs(g, &pc, run_sums, &ss);
        const double m2 = (double)ss.acc[1] - (double)ss.acc[0] * ss.acc[0] / n;
        float *o = out + (size_t)k * RN_FAST_PIECE_FLOATS * blocks;
        o[0] = (float)n;
        o[1] = ss.shift;   /* the mean is y0 + acc[0] / n: a float would round it to y0's precision */
        o[2] = ss.acc[0];
        o[3] = m2 > 0 ? (float)m2 : 0;
    }
}

/* One plane's batch-norm backward sums (RnFastBnGather): dy is the plane just
 * written, the rest are the gathering batch norm's planes */
typedef struct {
    const RnFastBnGrad *k;
    int relu;
    const float *x, *y, *dy;
    float *r, acc[2];
} GradSums;

static void run_grad_sums(void *ctx, size_t at, int n)
{
    GradSums *gs = ctx;
    rn_fast_bn_grad_run(gs->k, gs->relu, gs->x + at, gs->y + at, gs->dy + at, gs->r ? gs->r + at : NULL, n,
                        gs->acc);
}

/* The gathered pieces (fast.h) of image `image` (dy: its planes, just
 * written) for the tiles of vectors [vb, ve) */
static void block_grad_sums(const Wino *g, const RnFastBnGather *ga, int image, const float *dy, int vb, int ve,
                            int blocks)
{
    const Piece pc = piece_of(g, vb, ve);
    const size_t plane = (size_t)g->H * g->W;
    for (int k = 0; k < g->K; k++) {
        const size_t off = ((size_t)image * g->K + k) * plane;
        GradSums gs = {&ga->coef[k], ga->relu, ga->x + off, ga->y + off, dy + (size_t)k * plane,
                       ga->dresidual ? ga->dresidual + off : NULL, {0, 0}};
        piece_runs(g, &pc, run_grad_sums, &gs);
        float *o = ga->pieces + (((size_t)image * g->K + k) * blocks + (size_t)(vb / g->bv)) * RN_FAST_GRAD_PIECE_FLOATS;
        o[0] = gs.acc[0];
        o[1] = gs.acc[1];
    }
}

/* The forward of `count` consecutive images (at most g->g: one group), x, y
 * and res (NULL: none) pointing at the first one's planes, U the transformed
 * filters; through bn when not NULL, then + res. sums (NULL: none) points
 * at the first image's statistics; gather (NULL: none) gathers from y as
 * well, the first image being image i0 of the batch. */
static void forward_group(const Wino *g, const float *U, const float *x, int count, const RnFastBnEval *bn,
                          const float *res, float *sums, const RnFastBnGather *gather, int i0, float *y,
                          const ThreadBufs *b)
{
    const size_t in_img = (size_t)g->C * g->H * g->W, out_img = (size_t)g->K * g->H * g->W;
    const int blocks = sum_blocks(g);
    for (int vb = 0; vb < g->Tp / 16; vb += g->bv) {   /* one block */
        int ve = vb + g->bv < g->Tp / 16 ? vb + g->bv : g->Tp / 16;
        int cols = (count - 1) * g->Tp + 16 * (ve - vb);
        for (int j = 0; j < count; j++)
            rn_wino_input(g, x + (size_t)j * in_img, b->P, vb, ve, b->V + (size_t)j * g->Tp);
        for (int xi = 0; xi < g->xis; xi++)
            rn_fast_gemm_nn(g->K, cols, g->C, U + (size_t)xi * g->K * g->C, g->C, 1, b->V + xi * xi_stride(g, g->C),
                            (ptrdiff_t)g->gt, b->M + xi * xi_stride(g, g->K), (ptrdiff_t)g->gt, 0);
        for (int j = 0; j < count; j++)
            rn_wino_output(g, g->K, b->M + (size_t)j * g->Tp, vb, ve, bn, res ? res + (size_t)j * out_img : NULL,
                           y + (size_t)j * out_img);
        if (sums)
            for (int j = 0; j < count; j++)
                block_sums(g, y + (size_t)j * out_img, vb, ve, blocks,
                           sums + ((size_t)j * g->K * blocks + (size_t)(vb / g->bv)) * RN_FAST_PIECE_FLOATS);
        if (gather)
            for (int j = 0; j < count; j++)
                block_grad_sums(g, gather, i0 + j, y + (size_t)j * out_img, vb, ve, blocks);
    }
}

/* y = conv(x, f) for n images of C -> K channels, U = the transformed filters,
 * through bn when not NULL */
static void forward(int threads, int n, const Wino *g, const float *U, const float *x, const RnFastBnEval *bn,
                    float *sums, float *y, float *ws)
{
    const size_t in_img = (size_t)g->C * g->H * g->W, out_img = (size_t)g->K * g->H * g->W;
    const size_t img_sums = (size_t)g->K * sum_blocks(g) * RN_FAST_PIECE_FLOATS;
    const int groups = (n + g->g - 1) / g->g;
#pragma omp parallel num_threads(threads)
    {
        ThreadBufs b = thread_bufs(g, ws + thread_floats(g) * (size_t)omp_get_thread_num());
#pragma omp for schedule(dynamic)
        for (int gi = 0; gi < groups; gi++) {
            int i0 = gi * g->g, count = n - i0 < g->g ? n - i0 : g->g;
            forward_group(g, U, x + (size_t)i0 * in_img, count, bn,
                          bn && bn->residual ? bn->residual + (size_t)i0 * out_img : NULL,
                          sums ? sums + (size_t)i0 * img_sums : NULL, NULL, i0, y + (size_t)i0 * out_img, &b);
        }
    }
}

void rn_fast_conv_wino_fwd(int threads, const RnConvDims *d, const float *x, const float *w,
                           const RnFastBnEval *bn, float *sums, float *y, float *ws)
{
    if (sums && bn)
        rn_die("internal error: batch-norm sums gathered through an eval-mode epilogue");
    Wino g = geometry(d->in_c, d->out_c, d->in_h, d->in_w, rn_fast_wino_tile(d), FWD_BLOCK);
    float *U = ws;
    filter_transform(threads, g.m, w, d->out_c, d->in_c, 0, U);
    forward(threads, d->n, &g, U, x, bn, sums, y, ws + u_floats(&g));
}

void rn_fast_conv_wino_bwd_data(int threads, const RnConvDims *d, const float *dy, const float *w, float *dx,
                                float *ws)
{
    Wino g = data_geometry(d);   /* K -> C channels */
    float *U = ws;
    filter_transform(threads, g.m, w, d->in_c, d->out_c, 1, U);
    forward(threads, d->n, &g, U, dy, NULL, NULL, dx, ws + u_floats(&g));
}

/* Adds the filter-gradient products of `count` consecutive images (one group
 * of f) to the chunk's partial dU (overwritten first when !accumulate); x, dy
 * point at the first image's planes. */
static void filter_group(const Wino *f, const float *x, const float *dy, int count, float *partial, int accumulate,
                         const ThreadBufs *b)
{
    const size_t in_img = (size_t)f->C * f->H * f->W, out_img = (size_t)f->K * f->H * f->W;
    for (int vb = 0; vb < f->Tp / 16; vb += f->bv) {   /* one block */
        int ve = vb + f->bv < f->Tp / 16 ? vb + f->bv : f->Tp / 16;
        int cols = (count - 1) * f->Tp + 16 * (ve - vb);
        for (int j = 0; j < count; j++) {
            rn_wino_input(f, x + (size_t)j * in_img, b->P, vb, ve, b->V + (size_t)j * f->Tp);
            rn_wino_grad(f, f->K, dy + (size_t)j * out_img, vb, ve, b->M + (size_t)j * f->Tp);
        }
        for (int xi = 0; xi < f->xis; xi++) {
            const float *dM = b->M + xi * xi_stride(f, f->K), *V = b->V + xi * xi_stride(f, f->C);
            float *dU = partial + (size_t)xi * f->K * f->C;
            if (b->VT) {   /* see filter_via_vt */
                rn_fast_transpose(f->C, cols, V, (ptrdiff_t)f->gt, b->VT, f->C);
                rn_fast_gemm_nn(f->K, f->C, cols, dM, (ptrdiff_t)f->gt, 1, b->VT, f->C, dU, f->C,
                                accumulate || vb > 0);
            } else {
                rn_fast_gemm_nt(f->K, f->C, cols, dM, (ptrdiff_t)f->gt, V, (ptrdiff_t)f->gt, dU, f->C,
                                accumulate || vb > 0);
            }
        }
    }
}

/* dU = partial[0] + partial[1] + ... in chunk order, element by element (inside
 * a parallel region: the elements are split over its threads). Blocks of 16
 * elements, so that the loops over a block have a fixed trip count and
 * vectorise (see TBLOCK); each element's sum is the same chain either way. */
static void sum_partials(const Wino *f, int chunks, const float *partial, float *dU)
{
    const size_t usize = u_floats(f), total = (size_t)f->xis * f->K * f->C;
#pragma omp for schedule(static)
    for (size_t e0 = 0; e0 < total; e0 += 16) {
        if (total - e0 >= 16) {
            float s[16];
            for (int b = 0; b < 16; b++)
                s[b] = partial[e0 + b];
            for (int ch = 1; ch < chunks; ch++)
                for (int b = 0; b < 16; b++)
                    s[b] += partial[usize * (size_t)ch + e0 + b];
            for (int b = 0; b < 16; b++)
                dU[e0 + b] = s[b];
        } else {
            for (size_t e = e0; e < total; e++) {
                float s = partial[e];
                for (int ch = 1; ch < chunks; ch++)
                    s += partial[usize * (size_t)ch + e];
                dU[e] = s;
            }
        }
    }
}

void rn_fast_conv_wino_bwd_filter(int threads, const RnConvDims *d, const float *x, const float *dy, float *dw,
                                  float *ws)
{
    Wino f = filter_geometry(d);
    const size_t in_img = (size_t)f.C * f.H * f.W, out_img = (size_t)f.K * f.H * f.W, usize = u_floats(&f);
    const int chunks = chunks_of(d->n);
    float *dU = ws, *partial = ws + usize, *thread_ws = ws + filter_shared_floats(&f, d->n);
    if (chunks == 0) {
        memset(dw, 0, (size_t)f.K * f.C * 9 * sizeof(float));
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        ThreadBufs b = filter_bufs(&f, thread_ws + filter_thread_floats(&f) * (size_t)omp_get_thread_num());
#pragma omp for schedule(dynamic)
        for (int ch = 0; ch < chunks; ch++) {
            int end = (ch + 1) * CHUNK < d->n ? (ch + 1) * CHUNK : d->n;
            for (int i0 = ch * CHUNK; i0 < end; i0 += f.g) {
                int count = end - i0 < f.g ? end - i0 : f.g;
                filter_group(&f, x + (size_t)i0 * in_img, dy + (size_t)i0 * out_img, count,
                             partial + usize * (size_t)ch, i0 > ch * CHUNK, &b);
            }
        }
        sum_partials(&f, chunks, partial, dU);
    }
    filter_grad_untransform(threads, f.m, dU, f.K, f.C, dw);
}

/* The sweep's per-thread floats: the filter gradient's buffers, which the
 * data gradient's then reuse (a group's filter products are done before its
 * data gradient starts; one set of buffers instead of two kept more of them in
 * L2: training steps ran in 0.99 of the time, ResNet-20 and -56, alternated in
 * one process), and after them the dy of one filter group of images. */
static size_t sweep_bufs_floats(const Wino *t, const Wino *f)
{
    const size_t filter = filter_thread_floats(f), data = thread_floats(t);
    return filter > data ? filter : data;
}

static size_t sweep_thread_floats(const Wino *t, const Wino *f)
{
    return sweep_bufs_floats(t, f) + rn_fast_round16((size_t)f->g * f->K * f->H * f->W);
}

size_t rn_fast_wino_bwd_ws_floats(const RnConvDims *d, int threads)
{
    Wino t = data_geometry(d), f = filter_geometry(d);
    return u_floats(&t) + filter_shared_floats(&f, d->n) + sweep_thread_floats(&t, &f) * (size_t)threads;
}

/* Both gradients in one sweep over the images (fast.h). Each thread makes the
 * dy of one filter group of images into its own buffer G, adds their
 * filter-gradient products to the chunk's partial, then runs their data
 * gradient from G. Whole data groups fit in a filter group (with 16 channels,
 * 1 in 4 images of a 32x32 plane and 4 in 16 of the smaller ones; with more,
 * the two groups are the same images), and each output element is the same
 * chain of operations whichever images share its product, so the bits are
 * those of the two separate passes. */
void rn_fast_conv_wino_bwd(int threads, const RnConvDims *d, const float *x, const float *w, RnFastImageFn dy_of,
                           void *ctx, float *dw, float *dx, const float *dx_plus, const RnFastBnGather *gather,
                           float *ws)
{
    if (gather && !dx)
        rn_die("internal error: batch-norm sums gathered without a data gradient");
    Wino t = data_geometry(d), f = filter_geometry(d);
    const size_t in_img = (size_t)f.C * f.H * f.W, out_img = (size_t)f.K * f.H * f.W, usize = u_floats(&f);
    const int chunks = chunks_of(d->n);
    if (chunks == 0) {
        memset(dw, 0, (size_t)f.K * f.C * 9 * sizeof(float));
        return;
    }
    float *Ut = ws, *dU = Ut + u_floats(&t), *partial = dU + usize;
    float *thread_ws = dU + filter_shared_floats(&f, d->n);
    if (dx)
        filter_transform(threads, t.m, w, d->in_c, d->out_c, 1, Ut);
#pragma omp parallel num_threads(threads)
    {
        float *mine = thread_ws + sweep_thread_floats(&t, &f) * (size_t)omp_get_thread_num();
        ThreadBufs bf = filter_bufs(&f, mine), bt = thread_bufs(&t, mine);   /* one after the other */
        float *G = mine + sweep_bufs_floats(&t, &f);   /* dy of one filter group */
#pragma omp for schedule(dynamic)
        for (int ch = 0; ch < chunks; ch++) {
            int end = (ch + 1) * CHUNK < d->n ? (ch + 1) * CHUNK : d->n;
            for (int i0 = ch * CHUNK; i0 < end; i0 += f.g) {
                int count = end - i0 < f.g ? end - i0 : f.g;
                for (int j = 0; j < count; j++)
                    dy_of(ctx, i0 + j, G + (size_t)j * out_img);
                filter_group(&f, x + (size_t)i0 * in_img, G, count, partial + usize * (size_t)ch, i0 > ch * CHUNK,
                             &bf);
                for (int j0 = 0; dx && j0 < count; j0 += t.g) {
                    int tc = count - j0 < t.g ? count - j0 : t.g;
                    forward_group(&t, Ut, G + (size_t)j0 * out_img, tc, NULL,
                                  dx_plus ? dx_plus + (size_t)(i0 + j0) * in_img : NULL, NULL, gather, i0 + j0,
                                  dx + (size_t)(i0 + j0) * in_img, &bt);
                }
            }
        }
        sum_partials(&f, chunks, partial, dU);
    }
    filter_grad_untransform(threads, f.m, dU, f.K, f.C, dw);
}

#else /* no AVX-512: rn_fast_wino_ok says no, so these are never called */

size_t rn_fast_wino_ws_floats(const RnConvDims *d, int threads)
{
    (void)d;
    (void)threads;
    return 0;
}
int rn_fast_wino_sum_blocks(const RnConvDims *d)
{
    (void)d;
    return 0;
}
int rn_fast_wino_bwd_sum_blocks(const RnConvDims *d)
{
    (void)d;
    return 0;
}
void rn_fast_conv_wino_fwd(int threads, const RnConvDims *d, const float *x, const float *w,
                           const RnFastBnEval *bn, float *sums, float *y, float *ws)
{
    (void)threads, (void)d, (void)x, (void)w, (void)bn, (void)sums, (void)y, (void)ws;
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
size_t rn_fast_wino_bwd_ws_floats(const RnConvDims *d, int threads)
{
    (void)d;
    (void)threads;
    return 0;
}
void rn_fast_conv_wino_bwd(int threads, const RnConvDims *d, const float *x, const float *w, RnFastImageFn dy_of,
                           void *ctx, float *dw, float *dx, const float *dx_plus, const RnFastBnGather *gather,
                           float *ws)
{
    (void)threads, (void)d, (void)x, (void)w, (void)dy_of, (void)ctx, (void)dw, (void)dx, (void)dx_plus,
        (void)gather, (void)ws;
    rn_die("internal error: the Winograd path needs AVX-512");
}
#endif
