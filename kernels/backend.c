/* Picking a backend: --device cpu | cuda | auto.
 * auto takes the GPU when rn_cuda_available() finds a usable one, else the
 * CPU, and says which (rn_info: silent under --quiet).
 *
 * A build without nvcc/cuDNN has no kernels/cuda objects; this file then
 * provides the two CUDA entry points, answering "not available" with the
 * reason, so every tool links and --device cuda fails with one clear line. */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

#ifndef RN_HAVE_CUDA
static const char NO_CUDA[] = "built without the CUDA backend (nvcc/cuDNN not found at build time)";

RnBackend *rn_cuda_backend_create(const RnBackendOptions *opts, char *why, size_t why_len)
{
    (void)opts;
    if (why && why_len)
        snprintf(why, why_len, "%s", NO_CUDA);
    return NULL;
}

int rn_cuda_available(char *why, size_t why_len)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", NO_CUDA);
    return 0;
}
#endif

RnBackend *rn_backend_create(const RnBackendOptions *opts)
{
    const char *device = opts->device ? opts->device : "auto";
    char why[256] = "";

    if (strcmp(device, "cpu") == 0)
        return rn_cpu_backend_create(opts);

    if (strcmp(device, "cuda") == 0) {
        RnBackend *be = rn_cuda_backend_create(opts, why, sizeof why);
        if (!be)
            rn_die("--device cuda: %s (use --device cpu or auto)", why);
        return be;
    }

    if (strcmp(device, "auto") == 0) {
        if (rn_cuda_available(why, sizeof why)) {
            RnBackend *be = rn_cuda_backend_create(opts, why, sizeof why);
            if (be) {
                rn_info("device: %s", be->description);
                return be;
            }
        }
        RnBackend *be = rn_cpu_backend_create(opts);
        rn_info("device: %s (the GPU is not used: %s)", be->description, why);
        return be;
    }

    rn_usage_error("unknown device '%s' (valid: auto, cpu, cuda)", device);
}

void rn_backend_destroy(RnBackend *be)
{
    if (be)
        be->destroy(be);
}

void rn_device_check(const char *device)
{
    if (strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "cuda"))
        rn_usage_error("--device must be auto, cpu or cuda, not '%s'", device);
}

void rn_normalize_check(const RnBackend *be, RnNormalize mode)
{
    if (mode == RN_NORM_PIXEL && strcmp(be->name, "cuda") == 0)
        rn_die("--normalize pixel is not implemented on the CUDA backend yet (its data path subtracts "
               "channel means only): use --normalize channel on a GPU, or --device cpu");
}

void rn_backend_unit_bwd_ops(RnBackend *be, const RnUnitGrad *u, const float *dy)
{
    RnDims out = {u->conv.n, u->conv.out_c, u->conv.out_h, u->conv.out_w};
    be->bn_bwd(be, out, u->pre, u->out, dy, u->gamma, u->beta, u->save_mean, u->save_invstd, u->relu, u->scratch,
               u->dgamma, u->dbeta, u->dresidual);
    rn_backend_unit_bwd_convs(be, u);
}

void rn_backend_unit_bwd_convs(RnBackend *be, const RnUnitGrad *u)
{
    be->conv_bwd_filter(be, &u->conv, u->in, u->scratch, u->dw);
    if (u->dx) {   /* after the batch norm's backward has read dy: dx may be dy */
        be->conv_bwd_data(be, &u->conv, u->scratch, u->w, u->dx);
        if (u->dx_plus)
            be->add(be, u->dx, u->dx_plus, (size_t)u->conv.n * u->conv.in_c * u->conv.in_h * u->conv.in_w);
    }
}

int rn_backend_unit_bwd(RnBackend *be, const RnUnitGrad *u, const float *dy)
{
    if (be->unit_bwd)
        return be->unit_bwd(be, u, dy);
    rn_backend_unit_bwd_ops(be, u, dy);
    return 0;
}
