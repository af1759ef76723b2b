/* The fast paths' hook into the CPU backend and their scratch memory (fast.h). */
#include "fast.h"

#include <omp.h>
#include <stdlib.h>

#include "cpu_backend.h"

#include "err.h"

void rn_fast_install(RnBackend *be)
{
    be->conv_fwd = rn_fast_conv_fwd;
    be->conv_bwd_data = rn_fast_conv_bwd_data;
    be->conv_bwd_filter = rn_fast_conv_bwd_filter;
    be->conv_bn_eval_fwd = rn_fast_conv_bn_eval_fwd;
    be->conv_bn_train_fwd = rn_fast_conv_bn_train_fwd;
    be->bn_fwd_train = rn_fast_bn_fwd_train;
    be->bn_fwd_eval = rn_fast_bn_fwd_eval;
    be->bn_bwd = rn_fast_bn_bwd;
    be->unit_bwd = rn_fast_unit_bwd;
    be->eval_chunk = RN_FAST_EVAL_CHUNK;
}

/* One buffer for the whole process: the ops run one after another on one
 * stream, each from the main thread, and none keeps data in it between calls.
 * It grows to the largest layer's need during the first step, then stays. */
static float *workspace;
static size_t workspace_floats;

float *rn_fast_workspace(size_t floats)
{
    if (floats <= workspace_floats)
        return workspace;
    free(workspace);
    workspace = cpu_host_alloc(floats * sizeof(float));
    workspace_floats = floats;
    return workspace;
}

void rn_fast_workspace_free(void)
{
    free(workspace);
    workspace = NULL;
    workspace_floats = 0;
}

int rn_fast_threads(const RnBackend *be)
{
    return be && be->ctx ? cpu_threads(be) : omp_get_max_threads();
}
