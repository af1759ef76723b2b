/* The executor (model.h): runs an RnNet forward and backward on any
 * RnBackend by walking the stem, the blocks and the head.
 *
 * Memory plan. Everything is allocated once in rn_model_create; nothing is
 * allocated inside a step.
 * - params: the trainable tensors back to back in state_dict order, so that
 *   one sgd() call updates them all; grads and momentum have the same layout.
 * - running: the BN running means and variances (not trained), packed the same
 *   way; num_batches_tracked lives on the host (a counter, nothing to compute).
 * - one "unit" per convolution + batch norm pair keeps what its backward needs:
 *   the convolution output (pre, the BN input), the BN output (out: the next
 *   layer's input, and the ReLU mask), and the batch mean / inverse std.
 * - five gradient scratch buffers of the largest activation size are reused
 *   by every block in the backward pass.
 * A model made by rn_model_create_inference keeps no per-layer activations:
 * its units share a pool of five buffers (enough for the liveness of one
 * block, see assign_inference_buffers), so evaluation at batch 1000 needs
 * little memory. It cannot train.
 *
 * The RnNet passed to rn_model_create must outlive the model. */
#include "model.h"
#include "err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_OFFSET SIZE_MAX
#define MAX_BUFFERS 4096

typedef struct {
    const RnConvBn *cb;
    RnConvDims dims;                  /* dims.n is set per call */
    float *w, *gamma, *beta;          /* in params */
    float *dw, *dgamma, *dbeta;       /* in grads (NULL for inference models) */
    float *running_mean, *running_var;
    int count;                        /* index into counts (num_batches_tracked) */
    float *pre, *out;                 /* conv output = BN input, BN output */
    float *save_mean, *save_invstd;   /* batch statistics kept for backward */
    int response;                     /* index among the 3x3 layers, -1 for the 1x1 projection */
} Unit;

typedef struct {
    const RnBlock *def;
    Unit conv1, conv2, proj;
    float *input;                     /* the block input (previous output), not owned */
    float *residual;                  /* option A: the padded shortcut */
} BlockRun;

struct RnModel {
    RnBackend *be;
    const RnNet *net;
    int max_batch;
    int chunk;                        /* images per pass through the layers (inference: be->eval_chunk) */
    bool can_train;

    size_t nparams, nrunning;
    size_t *param_off, *running_off;  /* per tensor index, NO_OFFSET if not in that buffer */
    float *params, *grads, *momentum, *running;
    int64_t *counts;                  /* host: num_batches_tracked per BN */

    float *x;                         /* [max_batch, 3, 32, 32] */
    int32_t *labels;
    float *pooled, *dpooled;          /* [max_batch, fc_in] */
    float *logits, *dlogits;          /* [max_batch, classes] */
    float *stats;                     /* 3 floats: loss sum, errors, first bad step */

    Unit stem;
    BlockRun *blocks;
    float *g_out, *g_in, *g_pre, *g_res, *g_tmp;   /* backward scratch */

    /* Fig. 7 layer responses */
    int nresponses;
    bool collecting;
    float *response_tmp;
    double *response_sum, *response_sumsq;
    uint64_t *response_count;

    float *host_stage;                /* nvalues floats, for layout conversions */
    size_t counted;                   /* rn_model_train_bytes: no backend, bytes summed instead */
    void *owned[MAX_BUFFERS];
    int nowned;
};

static void *device_alloc(RnModel *m, size_t bytes)
{
    if (!m->be) {   /* counting only (rn_model_train_bytes) */
        m->counted += bytes;
        return NULL;
    }
    if (m->nowned == MAX_BUFFERS)
        rn_die("internal error: model needs more than %d device buffers", MAX_BUFFERS);
    void *p = m->be->alloc(m->be, bytes ? bytes : sizeof(float));
    m->owned[m->nowned++] = p;
    return p;
}

static float *alloc_floats(RnModel *m, size_t count) { return device_alloc(m, count * sizeof(float)); }

/* Packs tensor offsets: trainable tensors into params, running stats into running. */
static void plan_offsets(RnModel *m)
{
    const RnNet *net = m->net;
    m->param_off = rn_xmalloc(sizeof(size_t) * (size_t)net->ntensors);
    m->running_off = rn_xmalloc(sizeof(size_t) * (size_t)net->ntensors);
    for (int t = 0; t < net->ntensors; t++) {
        const RnTensorSpec *s = &net->tensors[t];
        m->param_off[t] = m->running_off[t] = NO_OFFSET;
        if (s->trainable) {
            m->param_off[t] = m->nparams;
            m->nparams += s->numel;
        } else if (s->role == RN_T_BN_MEAN || s->role == RN_T_BN_VAR) {
            m->running_off[t] = m->nrunning;
            m->nrunning += s->numel;
        }
    }
}

static size_t activation_floats(const RnConvBn *cb, int n)
{
    return (size_t)n * (size_t)cb->out_c * (size_t)cb->out_hw * (size_t)cb->out_hw;
}

static void init_unit(RnModel *m, Unit *u, const RnConvBn *cb, int response)
{
    const RnNet *net = m->net;
    u->cb = cb;
    u->response = response;
    u->dims = (RnConvDims){.n = 0, .in_c = cb->in_c, .in_h = cb->in_hw, .in_w = cb->in_hw,
                           .out_c = cb->out_c, .out_h = cb->out_hw, .out_w = cb->out_hw,
                           .kernel = cb->kernel, .stride = cb->stride, .pad = cb->pad};
    u->w = m->params + m->param_off[cb->weight];
    u->gamma = m->params + m->param_off[cb->bn];
    u->beta = m->params + m->param_off[cb->bn + 1];
    u->running_mean = m->running + m->running_off[cb->bn + 2];
    u->running_var = m->running + m->running_off[cb->bn + 3];
    u->count = (int)net->tensors[cb->bn + 4].offset;
    if (!m->be) {   /* counting: the same allocations, no pointers into buffers that are not there */
        for (int i = 0; i < 2; i++)
            alloc_floats(m, activation_floats(cb, m->max_batch));
        for (int i = 0; i < 2; i++)
            alloc_floats(m, (size_t)cb->out_c);
        return;
    }
    if (m->can_train) {
        u->dw = m->grads + m->param_off[cb->weight];
        u->dgamma = m->grads + m->param_off[cb->bn];
        u->dbeta = m->grads + m->param_off[cb->bn + 1];
        u->pre = alloc_floats(m, activation_floats(cb, m->max_batch));
        u->out = alloc_floats(m, activation_floats(cb, m->max_batch));
        u->save_mean = alloc_floats(m, (size_t)cb->out_c);
        u->save_invstd = alloc_floats(m, (size_t)cb->out_c);
    }
}

/* Inference models: the units share five buffers. Within a block reading X
 * (the previous block's output) the live values are: conv1 X -> a, bn1 a -> b,
 * conv2 b -> a, shortcut X -> c (pad, or the projection's conv) and c -> d
 * (its BN), bn2 (a, residual X|c|d) -> a, in place; a is the next block's X.
 * So no unit's output is its own input, and the fused conv_bn_eval_fwd
 * (conv2 b -> a directly) may run on every unit. */
static void assign_inference_buffers(RnModel *m, float *pool[5])
{
    int x = 1;
    m->stem.pre = pool[0];
    m->stem.out = pool[1];
    for (int b = 0; b < m->net->nblocks; b++) {
        int other[4], k = 0;
        for (int i = 0; i < 5; i++)
            if (i != x)
                other[k++] = i;
        BlockRun *br = &m->blocks[b];
        br->conv1.pre = pool[other[0]];
        br->conv1.out = pool[other[1]];
        br->conv2.pre = pool[other[0]];
        br->conv2.out = pool[other[0]];
        br->residual = pool[other[2]];
        br->proj.pre = pool[other[2]];
        br->proj.out = pool[other[3]];
        x = other[0];
    }
}

static RnModel *create(RnBackend *be, const RnNet *net, int max_batch, bool can_train)
{
    if (max_batch < 1)
        rn_die("internal error: model batch size %d must be at least 1", max_batch);
    RnModel *m = rn_xcalloc(1, sizeof *m);
    m->be = be;
    m->net = net;
    m->max_batch = max_batch;
    m->can_train = can_train;
    plan_offsets(m);
    m->params = alloc_floats(m, m->nparams);
    m->running = alloc_floats(m, m->nrunning);
    if (can_train) {
        m->grads = alloc_floats(m, m->nparams);
        m->momentum = alloc_floats(m, m->nparams);
    }
    m->counts = rn_xcalloc((size_t)(net->ncounts ? net->ncounts : 1), sizeof(int64_t));
    m->host_stage = rn_xmalloc(sizeof(float) * (net->nvalues ? net->nvalues : 1));

    size_t nb = (size_t)max_batch;
    m->x = alloc_floats(m, nb * RN_IN_FLOATS);
    m->labels = device_alloc(m, nb * sizeof(int32_t));
    m->pooled = alloc_floats(m, nb * (size_t)net->fc_in);
    m->logits = alloc_floats(m, nb * (size_t)net->cfg.classes);
    m->stats = alloc_floats(m, 3);
    if (can_train) {
        m->dpooled = alloc_floats(m, nb * (size_t)net->fc_in);
        m->dlogits = alloc_floats(m, nb * (size_t)net->cfg.classes);
    }

    /* An inference model runs a large batch through the layers in chunks of
     * the backend's choice: images are independent in eval mode, so the
     * results are the same, and on a CPU a chunk's activations stay in cache. */
    m->chunk = !can_train && be->eval_chunk > 0 && be->eval_chunk < max_batch ? be->eval_chunk : max_batch;

    /* the largest activation of any layer, for the shared buffers */
    size_t largest = activation_floats(&net->stem, m->chunk);
    for (int b = 0; b < net->nblocks; b++) {
        const RnBlock *blk = &net->blocks[b];
        size_t a1 = activation_floats(&blk->conv1, m->chunk), a2 = activation_floats(&blk->conv2, m->chunk);
        largest = a1 > largest ? a1 : largest;
        largest = a2 > largest ? a2 : largest;
    }

    m->nresponses = 1 + 2 * net->nblocks;
    m->response_sum = rn_xcalloc((size_t)m->nresponses, sizeof(double));
    m->response_sumsq = rn_xcalloc((size_t)m->nresponses, sizeof(double));
    m->response_count = rn_xcalloc((size_t)m->nresponses, sizeof(uint64_t));
    m->response_tmp = alloc_floats(m, largest);

    m->blocks = rn_xcalloc((size_t)(net->nblocks ? net->nblocks : 1), sizeof(BlockRun));
    init_unit(m, &m->stem, &net->stem, 0);
    for (int b = 0; b < net->nblocks; b++) {
        BlockRun *br = &m->blocks[b];
        br->def = &net->blocks[b];
        init_unit(m, &br->conv1, &br->def->conv1, 1 + 2 * b);
        init_unit(m, &br->conv2, &br->def->conv2, 2 + 2 * b);
        if (br->def->shortcut == RN_SC_PROJ)
            init_unit(m, &br->proj, &br->def->proj, -1);
    }
    if (can_train) {
        float *residual = alloc_floats(m, largest);   /* not needed by backward: shared */
        for (int b = 0; b < net->nblocks; b++)
            m->blocks[b].residual = residual;
        m->g_out = alloc_floats(m, largest);
        m->g_in = alloc_floats(m, largest);
        m->g_pre = alloc_floats(m, largest);
        m->g_res = alloc_floats(m, largest);
        m->g_tmp = alloc_floats(m, largest);
    } else {
        float *pool[5];
        for (int i = 0; i < 5; i++)
            pool[i] = alloc_floats(m, largest);
        assign_inference_buffers(m, pool);
    }
    for (int b = 0; b < net->nblocks; b++)
        m->blocks[b].input = b == 0 ? m->stem.out : m->blocks[b - 1].conv2.out;
    if (be)
        rn_model_reset_stats(m);
    return m;
}

RnModel *rn_model_create(RnBackend *be, const RnNet *net, int max_batch)
{
    return create(be, net, max_batch, true);
}

RnModel *rn_model_create_inference(RnBackend *be, const RnNet *net, int max_batch)
{
    return create(be, net, max_batch, false);
}

size_t rn_model_train_bytes(const RnNet *net, int max_batch)
{
    RnModel *m = create(NULL, net, max_batch, true);
    size_t bytes = m->counted;
    rn_model_free(m);
    return bytes;
}

void rn_model_free(RnModel *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nowned; i++)
        m->be->release(m->be, m->owned[i]);
    free(m->param_off);
    free(m->running_off);
    free(m->counts);
    free(m->host_stage);
    free(m->blocks);
    free(m->response_sum);
    free(m->response_sumsq);
    free(m->response_count);
    free(m);
}

RnBackend *rn_model_backend(RnModel *m) { return m->be; }
float *rn_model_input(RnModel *m) { return m->x; }
int32_t *rn_model_labels(RnModel *m) { return m->labels; }

static void check_batch(const RnModel *m, int n)
{
    if (n < 1 || n > m->max_batch)
        rn_die("internal error: batch of %d samples, the model holds 1..%d", n, m->max_batch);
}

static void require_training(const RnModel *m, const char *what)
{
    if (!m->can_train)
        rn_die("internal error: %s on a model created for inference only", what);
}

void rn_model_upload_batch(RnModel *m, int n, const float *x, const int32_t *labels)
{
    check_batch(m, n);
    m->be->upload(m->be, m->x, x, sizeof(float) * (size_t)n * RN_IN_FLOATS);
    m->be->upload(m->be, m->labels, labels, sizeof(int32_t) * (size_t)n);
}

/* ---------------------------------------------------------------- parameters */

/* Copies between the RnWeights.values layout (src_layout) and a packed buffer
 * (offsets off[]), for the tensors that have an offset there. */
static void pack(const RnModel *m, const size_t *off, const float *values, float *packed)
{
    for (int t = 0; t < m->net->ntensors; t++)
        if (off[t] != NO_OFFSET)
            memcpy(packed + off[t], values + m->net->tensors[t].offset,
                   sizeof(float) * m->net->tensors[t].numel);
}

static void unpack(const RnModel *m, const size_t *off, const float *packed, float *values)
{
    for (int t = 0; t < m->net->ntensors; t++)
        if (off[t] != NO_OFFSET)
            memcpy(values + m->net->tensors[t].offset, packed + off[t],
                   sizeof(float) * m->net->tensors[t].numel);
}

/* Writes the trainable tensors of a packed buffer into values, zeroing the
 * other float tensors (momentum and gradients have none). */
static void download_trainable(RnModel *m, const float *device, float *values)
{
    m->be->download(m->be, m->host_stage, device, sizeof(float) * m->nparams);
    memset(values, 0, sizeof(float) * m->net->nvalues);
    unpack(m, m->param_off, m->host_stage, values);
}

void rn_model_set_weights(RnModel *m, const RnWeights *w)
{
    pack(m, m->param_off, w->values, m->host_stage);
    m->be->upload(m->be, m->params, m->host_stage, sizeof(float) * m->nparams);
    pack(m, m->running_off, w->values, m->host_stage);
    m->be->upload(m->be, m->running, m->host_stage, sizeof(float) * m->nrunning);
    memcpy(m->counts, w->counts, sizeof(int64_t) * (size_t)m->net->ncounts);
}

void rn_model_get_weights(RnModel *m, RnWeights *w)
{
    m->be->download(m->be, m->host_stage, m->params, sizeof(float) * m->nparams);
    unpack(m, m->param_off, m->host_stage, w->values);
    m->be->download(m->be, m->host_stage, m->running, sizeof(float) * m->nrunning);
    unpack(m, m->running_off, m->host_stage, w->values);
    memcpy(w->counts, m->counts, sizeof(int64_t) * (size_t)m->net->ncounts);
}

void rn_model_set_momentum(RnModel *m, const float *momentum)
{
    require_training(m, "set_momentum");
    pack(m, m->param_off, momentum, m->host_stage);
    m->be->upload(m->be, m->momentum, m->host_stage, sizeof(float) * m->nparams);
}

void rn_model_get_momentum(RnModel *m, float *momentum)
{
    require_training(m, "get_momentum");
    download_trainable(m, m->momentum, momentum);
}

void rn_model_get_grads(RnModel *m, float *host)
{
    require_training(m, "get_grads");
    download_trainable(m, m->grads, host);
}

void rn_model_get_logits(RnModel *m, int n, float *host)
{
    check_batch(m, n);
    m->be->download(m->be, host, m->logits, sizeof(float) * (size_t)n * (size_t)m->net->cfg.classes);
}

/* ---------------------------------------------------------------- forward */

static RnDims out_dims(const Unit *u, int n)
{
    return (RnDims){n, u->dims.out_c, u->dims.out_h, u->dims.out_w};
}

/* Fig. 7: the BN output before the residual addition and the ReLU. The fused
 * BN cannot give it when a residual or ReLU follows, so it is computed again
 * into a scratch buffer, only while collecting: from the convolution's output
 * (pre), or with the backend's fused op when it has one (in, not NULL), so
 * the responses come from the same convolution as the outputs. */
static void collect_response(RnModel *m, const Unit *u, int n, const float *in)
{
    RnBackend *be = m->be;
    RnDims d = out_dims(u, n);
    size_t count = (size_t)d.n * (size_t)d.c * (size_t)d.h * (size_t)d.w;
    if (in) {
        RnConvDims cd = u->dims;
        cd.n = n;
        be->conv_bn_eval_fwd(be, &cd, in, u->w, u->gamma, u->beta, NULL, 0, u->running_mean, u->running_var,
                             RN_BN_EPS, m->response_tmp);
    } else {
        be->bn_fwd_eval(be, d, u->pre, u->gamma, u->beta, NULL, 0, u->running_mean, u->running_var, RN_BN_EPS,
                        m->response_tmp);
    }
    double sum, sumsq;
    be->moments(be, m->response_tmp, count, &sum, &sumsq);
    m->response_sum[u->response] += sum;
    m->response_sumsq[u->response] += sumsq;
    m->response_count[u->response] += count;
}

/* conv -> BN (+ residual) (-> ReLU) */
static void unit_forward(RnModel *m, Unit *u, int n, const float *in, const float *residual, int relu,
                         bool train)
{
    RnBackend *be = m->be;
    RnConvDims cd = u->dims;
    cd.n = n;
    RnDims d = out_dims(u, n);
    if (!train && be->conv_bn_eval_fwd && in != u->out && residual != u->out) {
        if (m->collecting && u->response >= 0)
            collect_response(m, u, n, in);
        /* one op: the backend may skip writing the convolution's own output */
        be->conv_bn_eval_fwd(be, &cd, in, u->w, u->gamma, u->beta, residual, relu, u->running_mean,
                             u->running_var, RN_BN_EPS, u->out);
        return;
    }
    if (train) {
        if (be->conv_bn_train_fwd) {   /* one op: the backend may gather the statistics as it writes pre */
            be->conv_bn_train_fwd(be, &cd, in, u->w, u->gamma, u->beta, residual, relu, RN_BN_MOMENTUM,
                                  RN_BN_EPS, u->running_mean, u->running_var, u->save_mean, u->save_invstd, u->pre,
                                  u->out);
        } else {
            be->conv_fwd(be, &cd, in, u->w, u->pre);
            be->bn_fwd_train(be, d, u->pre, u->gamma, u->beta, residual, relu, RN_BN_MOMENTUM, RN_BN_EPS,
                             u->running_mean, u->running_var, u->save_mean, u->save_invstd, u->out);
        }
        m->counts[u->count]++;   /* num_batches_tracked, as PyTorch counts training forwards */
        return;
    }
    be->conv_fwd(be, &cd, in, u->w, u->pre);
    if (m->collecting && u->response >= 0)
        collect_response(m, u, n, NULL);
    be->bn_fwd_eval(be, d, u->pre, u->gamma, u->beta, residual, relu, u->running_mean, u->running_var, RN_BN_EPS,
                    u->out);
}

static void block_forward(RnModel *m, BlockRun *br, int n, bool train)
{
    const RnBlock *def = br->def;
    const float *residual = NULL;
    switch (def->shortcut) {
    case RN_SC_NONE: break;
    case RN_SC_IDENTITY: residual = br->input; break;
    case RN_SC_PAD: {
        RnDims in = {n, def->conv1.in_c, def->conv1.in_hw, def->conv1.in_hw};
        m->be->shortcut_pad_fwd(m->be, in, def->conv2.out_c, br->input, br->residual);
        residual = br->residual;
        break;
    }
    case RN_SC_PROJ:
        unit_forward(m, &br->proj, n, br->input, NULL, 0, train);
        residual = br->proj.out;
        break;
    }
    unit_forward(m, &br->conv1, n, br->input, NULL, 1, train);
    unit_forward(m, &br->conv2, n, br->conv1.out, residual, 1, train);
}

static const float *last_output(const RnModel *m)
{
    return m->net->nblocks ? m->blocks[m->net->nblocks - 1].conv2.out : m->stem.out;
}

static RnDims last_dims(const RnModel *m, int n)
{
    const Unit *u = m->net->nblocks ? &m->blocks[m->net->nblocks - 1].conv2 : &m->stem;
    return out_dims(u, n);
}

/* images [i0, i0 + n) of the batch through the net (n <= m->chunk) */
static void forward_images(RnModel *m, int i0, int n, bool train)
{
    RnBackend *be = m->be;
    const RnNet *net = m->net;
    unit_forward(m, &m->stem, n, m->x + (size_t)i0 * RN_IN_FLOATS, NULL, 1, train);
    for (int b = 0; b < net->nblocks; b++)
        block_forward(m, &m->blocks[b], n, train);
    float *pooled = m->pooled + (size_t)i0 * (size_t)net->fc_in;
    be->avgpool_fwd(be, last_dims(m, n), last_output(m), pooled);
    be->fc_fwd(be, n, net->fc_in, net->cfg.classes, pooled, m->params + m->param_off[net->fc_weight],
               m->params + m->param_off[net->fc_bias], m->logits + (size_t)i0 * (size_t)net->cfg.classes);
}

void rn_model_forward(RnModel *m, int n, bool train)
{
    check_batch(m, n);
    if (train)
        require_training(m, "training forward");
    for (int i0 = 0; i0 < n; i0 += m->chunk)
        forward_images(m, i0, n - i0 < m->chunk ? n - i0 : m->chunk, train);
}

void rn_model_loss(RnModel *m, int n, int step, bool with_grad)
{
    check_batch(m, n);
    if (with_grad)
        require_training(m, "loss gradient");
    m->be->xent(m->be, n, m->net->cfg.classes, m->logits, m->labels, with_grad ? m->dlogits : NULL, m->stats,
                step);
}

/* ---------------------------------------------------------------- backward */

/* What the backward through a unit's BN (and the ReLU after it) and its
 * convolution reads and writes: weight gradients, and the gradient of the
 * unit's input into dx when dx != NULL. dresidual (or NULL) receives the
 * gradient that flows into the residual branch; dx_plus (or NULL) is added to dx. */
static RnUnitGrad unit_grad(RnModel *m, Unit *u, int n, const float *in, int relu, float *dresidual, float *dx,
                            const float *dx_plus)
{
    RnUnitGrad g = {.conv = u->dims, .in = in, .w = u->w, .pre = u->pre, .out = u->out, .gamma = u->gamma,
                    .beta = u->beta, .save_mean = u->save_mean, .save_invstd = u->save_invstd, .relu = relu,
                    .dw = u->dw, .dgamma = u->dgamma, .dbeta = u->dbeta, .dresidual = dresidual, .dx = dx,
                    .dx_plus = dx_plus, .scratch = m->g_pre};
    g.conv.n = n;
    return g;
}

/* A block's second unit, whose data gradient goes to dx */
static RnUnitGrad conv2_grad(RnModel *m, BlockRun *br, int n, float *dx)
{
    return unit_grad(m, &br->conv2, n, br->conv1.out, 1, br->def->shortcut == RN_SC_NONE ? NULL : m->g_res, dx,
                     NULL);
}

/* The unit before block b in the forward, whose output is the block's input:
 * the previous block's second unit, or the stem */
static RnUnitGrad unit_before(RnModel *m, int b, int n)
{
    if (b > 0)
        return conv2_grad(m, &m->blocks[b - 1], n, m->g_out);
    return unit_grad(m, &m->stem, n, m->x, 1, NULL, NULL, NULL);
}

/* g_out holds the gradient of the block output; leaves the gradient of the
 * block input in g_in. before is the unit before the block (unit_before).
 * *sums_done says whether the unit_bwd before gathered the batch norm's sums
 * of this block's second unit, and then whether this block gathered before's. */
static void block_backward(RnModel *m, BlockRun *br, int n, const RnUnitGrad *before, int *sums_done)
{
    RnBackend *be = m->be;
    const RnBlock *def = br->def;
    /* conv2 writes the gradient of conv1's output into g_in, which conv1's
     * backward then reads as dy and overwrites with the block-input gradient
     * (RnUnitGrad allows dx to be dy: each image's dy is read before its dx is
     * written); an identity shortcut's gradient is added as it is written. */
    RnUnitGrad g2 = conv2_grad(m, br, n, m->g_in);
    RnUnitGrad g1 = unit_grad(m, &br->conv1, n, br->input, 1, NULL, m->g_in,
                              def->shortcut == RN_SC_IDENTITY ? m->g_res : NULL);
    /* With no shortcut or an identity one nothing is added to conv1's data
     * gradient afterwards: it is the dy of the unit before, whose dx will be
     * g_out (the buffers swap). Its g_res is overwritten only after conv1
     * read each image's part of it (the sweep reads dx_plus before it writes
     * the sums there). */
    const bool chain = def->shortcut == RN_SC_NONE || def->shortcut == RN_SC_IDENTITY;
    g2.sums_done = *sums_done;
    g2.next = &g1;
    g1.sums_done = rn_backend_unit_bwd(be, &g2, m->g_out);
    g1.next = chain ? before : NULL;
    *sums_done = rn_backend_unit_bwd(be, &g1, m->g_in);
    RnDims in = {n, def->conv1.in_c, def->conv1.in_hw, def->conv1.in_hw};
    size_t in_count = (size_t)in.n * (size_t)in.c * (size_t)in.h * (size_t)in.w;
    switch (def->shortcut) {
    case RN_SC_NONE: break;
    case RN_SC_IDENTITY: break;   /* added by conv1's backward */
    case RN_SC_PAD: be->shortcut_pad_bwd(be, in, def->conv2.out_c, m->g_res, m->g_in); break;
    case RN_SC_PROJ: {
        RnUnitGrad gs = unit_grad(m, &br->proj, n, br->input, 0, NULL, m->g_tmp, NULL);
        rn_backend_unit_bwd(be, &gs, m->g_res);
        be->add(be, m->g_in, m->g_tmp, in_count);
        break;
    }
    }
}

void rn_model_backward(RnModel *m, int n)
{
    check_batch(m, n);
    require_training(m, "backward");
    RnBackend *be = m->be;
    const RnNet *net = m->net;
    size_t wi = m->param_off[net->fc_weight], bi = m->param_off[net->fc_bias];
    be->fc_bwd(be, n, net->fc_in, net->cfg.classes, m->pooled, m->params + wi, m->dlogits, m->dpooled,
               m->grads + wi, m->grads + bi);
    be->avgpool_bwd(be, last_dims(m, n), m->dpooled, m->g_out);
    int sums_done = 0;
    for (int b = net->nblocks - 1; b >= 0; b--) {
        const RnUnitGrad before = unit_before(m, b, n);
        block_backward(m, &m->blocks[b], n, &before, &sums_done);
        float *t = m->g_out;   /* the block input's gradient is the previous block's output gradient */
        m->g_out = m->g_in;
        m->g_in = t;
    }
    /* no gradient for the images; the first block may have gathered the stem's sums */
    RnUnitGrad gs = unit_before(m, 0, n);
    gs.sums_done = sums_done;
    rn_backend_unit_bwd(be, &gs, m->g_out);
}

void rn_model_sgd(RnModel *m, float lr, float momentum, float weight_decay)
{
    require_training(m, "sgd");
    m->be->sgd(m->be, m->nparams, m->params, m->grads, m->momentum, lr, momentum, weight_decay);
}

void rn_model_train_step(RnModel *m, int n, int step, float lr, float momentum, float weight_decay)
{
    rn_model_forward(m, n, true);
    rn_model_loss(m, n, step, true);
    rn_model_backward(m, n);
    rn_model_sgd(m, lr, momentum, weight_decay);
}

/* ---------------------------------------------------------------- statistics */

void rn_model_read_stats(RnModel *m, double *loss_sum, double *errors, int *bad_step)
{
    float s[3];
    m->be->download(m->be, s, m->stats, sizeof s);
    *loss_sum = s[0];
    *errors = s[1];
    *bad_step = (int)s[2];
}

void rn_model_reset_stats(RnModel *m)
{
    const float s[3] = {0.0f, 0.0f, -1.0f};   /* -1 arms the first-non-finite-step record */
    m->be->upload(m->be, m->stats, s, sizeof s);
}

/* Sum of the trainable parameters: not finite iff some weight is NaN or Inf. */
bool rn_model_weights_finite(RnModel *m)
{
    double sum, sumsq;
    m->be->moments(m->be, m->params, m->nparams, &sum, &sumsq);
    return isfinite(sum) && isfinite(sumsq);
}

int rn_model_response_layers(const RnModel *m) { return m->nresponses; }

void rn_model_collect_responses(RnModel *m, int n)
{
    m->collecting = true;
    rn_model_forward(m, n, false);
    m->collecting = false;
}

/* Population std over every element of the layer's output for all collected
 * images: sqrt(E[y^2] - E[y]^2), sums in double. */
void rn_model_response_std(RnModel *m, double *out)
{
    for (int i = 0; i < m->nresponses; i++) {
        double count = (double)m->response_count[i];
        if (count == 0) {
            out[i] = NAN;
            continue;
        }
        double mean = m->response_sum[i] / count;
        double var = m->response_sumsq[i] / count - mean * mean;
        out[i] = sqrt(var > 0 ? var : 0);
    }
}
