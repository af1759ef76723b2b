/* The Winograd path's shape of one transform and its tile transforms, shared
 * by fast_wino.c (geometry, filter transforms, the passes) and
 * fast_wino_transform.c (moving tiles between planes and the V / M matrices).
 * Internal to those two files; the rest of the backend uses fast.h. */
#ifndef RN_FAST_WINO_H
#define RN_FAST_WINO_H

#include <stddef.h>

#include "fast.h"

#if defined(__AVX512F__)
/* The shape of one transform: C input and K output channels, H x W planes,
 * output tiles of m x m (F(m x m, 3x3): patches of a x a = (m + 2) x (m + 2),
 * xis = a * a positions). */
typedef struct {
    int C, K, H, W;
    int m, a, xis;
    int TW, T, Tp;    /* tiles per row, per image, per image rounded up to 16 */
    int g;            /* images per group (1 when an image has a block's tiles or more) */
    int bv;           /* vectors of one image in a block */
    int PH;           /* floats per column phase of a split row: TW + 1 */
    int RS;           /* floats per row of a split padded plane: m phases */
    size_t plane;     /* floats per split padded plane (a multiple of 16) */
    size_t gt;        /* the columns of one block's V_xi or M_xi matrix */
} Wino;

/* Floats from V_xi (or M_xi) to V_xi+1 for a matrix of `rows` channels: one
 * cache line more than the matrix, because the transforms touch all 16 xi at
 * once and 16 streams a multiple of 4 KiB apart would share one L1 set. */
static inline size_t xi_stride(const Wino *g, int rows)
{
    return (size_t)rows * g->gt + 16;
}

/* The tiles of vectors [vb, ve) of one image (block column 16 * (v - vb) on),
 * columns as described in fast_wino.c:
 * V_xi[c][t] = (B^T d_t[c] B)[xi] from x (C planes), through the split
 * planes P when the plane has no direct transform (P is then filled at vb = 0) */
void rn_wino_input(const Wino *g, const float *x, float *P, int vb, int ve, float *V);
/* y (K planes) from M_xi[k][t] = A^T M_t A, through bn when not NULL, then +
 * res (this image's residual, or NULL) */
void rn_wino_output(const Wino *g, int K, const float *M, int vb, int ve, const RnFastBnEval *bn,
                    const float *res, float *y);
/* dM_xi[k][t] = (A dY_t A^T)[xi] from dy (K planes): the filter gradient's */
void rn_wino_grad(const Wino *g, int K, const float *dy, int vb, int ve, float *dM);
#endif

#endif
