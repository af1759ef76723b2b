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
 * that are not Winograd's run the three ops. */
#include "fast.h"

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

void rn_fast_unit_bwd(RnBackend *be, const RnUnitGrad *u, const float *dy)
{
    if (!rn_fast_wino_ok(&u->conv)) {
        rn_backend_unit_bwd_ops(be, u, dy);
        return;
    }
    const int threads = rn_fast_threads(be);
    const RnDims out = {u->conv.n, u->conv.out_c, u->conv.out_h, u->conv.out_w};
    /* the per-channel coefficients, then the Winograd workspace */
    const size_t coef_floats = ((size_t)out.c * sizeof(RnFastBnGrad) / sizeof(float) + 15) / 16 * 16;
    float *ws = rn_fast_workspace(coef_floats + rn_fast_wino_bwd_ws_floats(&u->conv, threads));
    RnFastBnGrad *coef = (RnFastBnGrad *)ws;
    rn_fast_bn_bwd_sums(be, out, u->pre, u->out, dy, u->gamma, u->beta, u->save_mean, u->save_invstd, u->relu,
                        u->dgamma, u->dbeta, u->dresidual, coef);
    BnImages images = {out, coef, u->relu, u->pre, dy, u->dresidual};
    rn_fast_conv_wino_bwd(threads, &u->conv, u->in, u->w, bn_dx_of_image, &images, u->dw, u->dx, u->dx_plus,
                          ws + coef_floats);
}
