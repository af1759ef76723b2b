/* The backward of a unit (convolution -> batch norm (+ residual) (+ ReLU)) in
 * one op, the backend's unit_bwd (backend.h).
 *
 * Run as three ops, the batch norm's backward writes the gradient of the
 * convolution's output (a whole activation tensor) and the two convolution
 * gradients read it back, each from memory: three passes over a tensor too
 * big for the cache. Here the batch norm's sums over the batch run first
 * (they need every image), then its dx is made image by image inside the
 * Winograd sweep that takes both convolution gradients (fast_wino.c), into
 * each thread's own buffer, where the two gradients read it while it is in
 * the core's cache. Every value is computed by the same operations as in the
 * three ops, so the bits are theirs (tests/unit/test_fast.c checks). Layers
 * that are not Winograd's run the three ops.
 *
 * Pass 1 of the batch norm's backward (its sums over the batch) reads x, dy
 * and y (or x and dy) from memory in a pass of its own. When the unit's dx is
 * the dy of the next unit to go backward (u->next), the sweep gathers that
 * unit's sums instead, reading each block of dx back from the cache right
 * after it is written (fast_wino.c), and that unit's backward then starts at
 * its pass 2 (u->sums_done): one pass over dy fewer. On the nets' planes the
 * sweep writes an image's dx in one block, so each gathered piece is one
 * plane, summed by pass 1's own run in pass 1's order: the same bits
 * (test_fast.c checks). Steps alternated in one process ran 1.5-3% faster
 * (ResNet-20 and -56, Plain-20 and -56, 2 threads).
 *
 * The units that are not Winograd's (the input layer, the stride-2 layers)
 * run the three ops, but they too start at pass 2 when the sweep of the unit
 * after them gathered their sums: their dx pass 2 from the gathered dgamma and
 * dbeta, which pass 1 would have made bit for bit, then the two convolutions.
 * Pass 1 had read 16 MiB at the input layer (x and dy, batch 128). Steps
 * alternated in one process ran in 0.986-0.988 of the time (ResNet-20,
 * Plain-20; ResNet-56, whose extra units are all Winograd's, 0.997). */
#include "fast.h"

#include "err.h"

typedef struct {
    RnDims d;
    const RnFastBnGrad *coef;
    int relu;
    const float *x, *dy, *dresidual;
} BnImages;

static void bn_dx_of_image(void *ctx, int image, float *dst)
{
    const BnImages *b = ctx;
    rn_fast_bn_bwd_image(b->d, b->coef, b->relu, b->x, b->dy, b->dresidual, image, dst);
}

static size_t coef_floats(int channels)
{
    return rn_fast_round16((size_t)channels * sizeof(RnFastBnGrad) / sizeof(float));
}

/* The unit whose sums this one's sweep can gather: u->next, whose backward
 * (below) can start at pass 2 */
static const RnUnitGrad *gatherable(const RnUnitGrad *u)
{
    const RnUnitGrad *v = u->next;
    if (!v || !u->dx)
        return NULL;
    if (v->conv.n != u->conv.n || v->conv.out_c != u->conv.in_c || v->conv.out_h != u->conv.in_h ||
        v->conv.out_w != u->conv.in_w)
        rn_die("internal error: the next unit's output is %dx%dx%d, this unit's input %dx%dx%d", v->conv.out_c,
               v->conv.out_h, v->conv.out_w, u->conv.in_c, u->conv.in_h, u->conv.in_w);
    return v;
}

/* The three ops of a unit whose sums were gathered: pass 2 into u->scratch,
 * then the convolutions */
static void ops_from_pass2(RnBackend *be, const RnUnitGrad *u, const float *dy)
{
    const RnDims out = {u->conv.n, u->conv.out_c, u->conv.out_h, u->conv.out_w};
    const size_t image = (size_t)out.c * out.h * out.w;
    RnFastBnGrad *coef = (RnFastBnGrad *)rn_fast_workspace(coef_floats(out.c));
    rn_fast_bn_bwd_coef(out, u->gamma, u->beta, u->save_mean, u->save_invstd, u->dgamma, u->dbeta, coef);
#pragma omp parallel for num_threads(rn_fast_threads(be)) schedule(static)
    for (int i = 0; i < out.n; i++)
        rn_fast_bn_bwd_image(out, coef, u->relu, u->pre, dy, u->dresidual, i, u->scratch + (size_t)i * image);
    rn_backend_unit_bwd_convs(be, u);
}

int rn_fast_unit_bwd(RnBackend *be, const RnUnitGrad *u, const float *dy)
{
    if (!rn_fast_wino_ok(&u->conv)) {
        if (u->sums_done)
            ops_from_pass2(be, u, dy);
        else
            rn_backend_unit_bwd_ops(be, u, dy);
        return 0;
    }
    const int threads = rn_fast_threads(be);
    const RnDims out = {u->conv.n, u->conv.out_c, u->conv.out_h, u->conv.out_w};
    const RnUnitGrad *next = gatherable(u);
    const RnDims in = {u->conv.n, u->conv.in_c, u->conv.in_h, u->conv.in_w};
    const int blocks = next ? rn_fast_wino_bwd_sum_blocks(&u->conv) : 0;
    /* the per-channel coefficients, next's masks and pieces, then the Winograd workspace */
    const size_t own = coef_floats(out.c), next_coef = next ? coef_floats(in.c) : 0,
                 pieces = rn_fast_round16((size_t)in.n * in.c * blocks * RN_FAST_GRAD_PIECE_FLOATS);
    float *ws = rn_fast_workspace(own + next_coef + pieces + rn_fast_wino_bwd_ws_floats(&u->conv, threads));
    RnFastBnGrad *coef = (RnFastBnGrad *)ws;
    if (u->sums_done)
        rn_fast_bn_bwd_coef(out, u->gamma, u->beta, u->save_mean, u->save_invstd, u->dgamma, u->dbeta, coef);
    else
        rn_fast_bn_bwd_sums(be, out, u->pre, u->out, dy, u->gamma, u->beta, u->save_mean, u->save_invstd, u->relu,
                            u->dgamma, u->dbeta, u->dresidual, coef);
    RnFastBnGather gather;
    if (next) {
        RnFastBnGrad *masks = (RnFastBnGrad *)(ws + own);
        rn_fast_bn_bwd_mask(in, next->gamma, next->beta, next->save_mean, next->save_invstd, masks);
        gather = (RnFastBnGather){masks, next->relu, next->pre, next->out, next->dresidual, ws + own + next_coef};
    }
    BnImages images = {out, coef, u->relu, u->pre, dy, u->dresidual};
    rn_fast_conv_wino_bwd(threads, &u->conv, u->in, u->w, bn_dx_of_image, &images, u->dw, u->dx, u->dx_plus,
                          next ? &gather : NULL, ws + own + next_coef + pieces);
    if (next)
        rn_fast_bn_bwd_gathered(in, gather.pieces, blocks, next->save_invstd, next->dgamma, next->dbeta);
    return next != NULL;
}
