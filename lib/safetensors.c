/* Safetensors reader and writer (lib/safetensors.h). The JSON header is parsed
 * with cJSON; everything else is plain byte arithmetic, checked before use so
 * a malformed file can never make us read outside the buffer. */
#include "safetensors.h"
#include "err.h"
#include "io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHOWN(path) (rn_is_stdio(path) ? "stdin" : (path))

const char *rn_st_dtype_name(RnStDtype dtype) { return dtype == RN_ST_I64 ? "I64" : "F32"; }
size_t rn_st_dtype_size(RnStDtype dtype) { return dtype == RN_ST_I64 ? 8 : 4; }

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_size(const cJSON *item, uint64_t *v)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double d = item->valuedouble;
    if (!(d >= 0 && d < 9007199254740992.0) || d != floor(d))
        return 0;
    *v = (uint64_t)d;
    return 1;
}

static int by_begin(const void *pa, const void *pb)
{
    const RnStTensor *a = *(const RnStTensor *const *)pa, *b = *(const RnStTensor *const *)pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end;
}

static int by_name(const void *pa, const void *pb)
{
    return strcmp((*(const RnStTensor *const *)pa)->name, (*(const RnStTensor *const *)pb)->name);
}

/* One tensor entry of the header: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. */
static void parse_tensor(const char *path, const cJSON *item, RnStTensor *t, size_t data_len)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        rn_die("%s: tensor %s: header entry is not a JSON object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets))
        rn_die("%s: tensor %s: header entry needs \"dtype\" (string), \"shape\" and \"data_offsets\" (arrays)", path,
               name);
    if (cJSON_GetArraySize(item) != 3)
        rn_die("%s: tensor %s: header entry has keys other than dtype, shape, data_offsets", path, name);
    t->name = rn_xstrdup(name);
    if (strcmp(dtype->valuestring, "F32") == 0)
        t->dtype = RN_ST_F32;
    else if (strcmp(dtype->valuestring, "I64") == 0)
        t->dtype = RN_ST_I64;
    else
        rn_die("%s: tensor %s has dtype %s; only F32 and I64 are supported", path, name, dtype->valuestring);

    int ndim = cJSON_GetArraySize(shape);
    if (ndim > RN_ST_MAX_DIMS)
        rn_die("%s: tensor %s has %d dimensions (at most %d supported)", path, name, ndim, RN_ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (!json_size(dim, &v))
            rn_die("%s: tensor %s: shape entries must be non-negative integers", path, name);
        if (v != 0 && numel > (UINT64_MAX / 8) / v)
            rn_die("%s: tensor %s: shape is impossibly large", path, name);
        numel *= v;
        t->shape[d] = (int64_t)v;
    }
    uint64_t begin, end;
    if (cJSON_GetArraySize(offsets) != 2 || !json_size(offsets->child, &begin) ||
        !json_size(offsets->child->next, &end))
        rn_die("%s: tensor %s: data_offsets must be two non-negative integers [begin, end]", path, name);
    if (end < begin || end > data_len)
        rn_die("%s: tensor %s: data_offsets [%llu, %llu] are reversed or beyond the %zu data bytes a file may hold",
               path, name, (unsigned long long)begin, (unsigned long long)end, data_len);
    if (numel * rn_st_dtype_size(t->dtype) != end - begin)
        rn_die("%s: tensor %s: shape needs %llu bytes of %s but data_offsets span %llu", path, name,
               (unsigned long long)(numel * rn_st_dtype_size(t->dtype)), dtype->valuestring,
               (unsigned long long)(end - begin));
    t->numel = (size_t)numel;
    t->begin = (size_t)begin;
    t->end = (size_t)end;
}

/* Parses and checks the JSON header (hlen bytes at json): tensors, metadata,
 * unique names, offsets contiguous from 0. Sets st->data_len to the bytes the
 * tensors need; the data itself is not looked at (header first: nothing is
 * read or allocated for data a header does not account for). */
static void parse_header(RnSafetensors *st, const char *json, size_t hlen, const char *path)
{
    if (json[0] != '{')
        rn_die("%s: not a safetensors file (header does not start with '{')", path);
    const char *json_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, hlen, &json_end, 0);
    if (!root)
        rn_die("%s: header is not valid JSON (near byte %ld of the header)", path,
               (long)((cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : json) - json));
    for (const char *p = json_end; p < json + hlen; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            cJSON_Delete(root);
            rn_die("%s: header has bytes after its JSON object", path);
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        rn_die("%s: header is not a JSON object", path);
    }

    int n = cJSON_GetArraySize(root);
    st->tensors = rn_xcalloc((size_t)n, sizeof *st->tensors);
    st->meta = NULL;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (!item->string)
            rn_die("%s: header entry without a name", path);
        if (strcmp(item->string, "__metadata__") == 0) {
            if (st->meta)
                rn_die("%s: header has __metadata__ twice", path);
            if (!cJSON_IsObject(item))
                rn_die("%s: __metadata__ is not a JSON object", path);
            st->meta = rn_xcalloc((size_t)cJSON_GetArraySize(item) + 1, sizeof *st->meta);
            for (const cJSON *m = item->child; m; m = m->next) {
                if (!cJSON_IsString(m))
                    rn_die("%s: __metadata__ value of \"%s\" is not a string", path, m->string);
                for (int i = 0; i < st->nmeta; i++)
                    if (strcmp(st->meta[i].key, m->string) == 0)
                        rn_die("%s: __metadata__ has the key \"%s\" twice", path, m->string);
                st->meta[st->nmeta].key = rn_xstrdup(m->string);
                st->meta[st->nmeta].value = rn_xstrdup(m->valuestring);
                st->nmeta++;
            }
            continue;
        }
        parse_tensor(path, item, &st->tensors[st->ntensors++], RN_ST_MAX_DATA);
    }
    cJSON_Delete(root);

    /* Names unique; offsets contiguous from 0. */
    RnStTensor **order = rn_xmalloc(sizeof *order * (size_t)(st->ntensors ? st->ntensors : 1));
    for (int i = 0; i < st->ntensors; i++)
        order[i] = &st->tensors[i];
    qsort(order, (size_t)st->ntensors, sizeof *order, by_name);
    for (int i = 1; i < st->ntensors; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            rn_die("%s: tensor %s appears twice in the header", path, order[i]->name);
    qsort(order, (size_t)st->ntensors, sizeof *order, by_begin);
    size_t expect = 0;
    for (int i = 0; i < st->ntensors; i++) {
        const RnStTensor *t = order[i];
        if (t->begin < expect)
            rn_die("%s: tensor %s: data_offsets [%zu, %zu] overlap the previous tensor (ends at %zu)", path,
                   t->name, t->begin, t->end, expect);
        if (t->begin > expect)
            rn_die("%s: tensor %s: data_offsets [%zu, %zu] leave a gap after byte %zu", path, t->name, t->begin,
                   t->end, expect);
        expect = t->end;
    }
    free(order);
    st->data_len = expect;
}

/* The header length: 8 bytes, little-endian, within the cap. */
static uint64_t header_length(const uint8_t len8[8], size_t got, const char *path)
{
    if (got < 8)
        rn_die("%s: truncated: %zu bytes, not even the 8-byte header length of a safetensors file", path, got);
    uint64_t hlen = rn_get_u64(len8);
    if (hlen < 2 || hlen > RN_ST_MAX_HEADER)
        rn_die("%s: not a safetensors file (header length %llu is not sane: 2..%u bytes)", path,
               (unsigned long long)hlen, RN_ST_MAX_HEADER);
    return hlen;
}

static void header_truncated(const char *path, uint64_t hlen, uint64_t after)
{
    rn_die("%s: truncated: header length %llu is larger than the %llu bytes that follow", path,
           (unsigned long long)hlen, (unsigned long long)after);
}

/* The data section's length against what the header's tensors need. */
static void check_data_length(const RnSafetensors *st, uint64_t have, const char *path)
{
    if (have < st->data_len)
        rn_die("%s: truncated: the tensors need %zu data bytes, the file has %llu", path, st->data_len,
               (unsigned long long)have);
    if (have > st->data_len)
        rn_die("%s: %llu bytes after the last tensor's data (tensors end at %zu of %llu data bytes)", path,
               (unsigned long long)(have - st->data_len), st->data_len, (unsigned long long)have);
}

void rn_st_read_checked(RnSafetensors *st, const char *path_in, RnStCheck check, void *ctx)
{
    const char *path = SHOWN(path_in);
    memset(st, 0, sizeof *st);
    st->path = path_in;
    FILE *f = rn_open_read(path_in);
    struct stat sb;
    bool regular = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
    uint64_t size = regular ? (uint64_t)sb.st_size : 0;

    /* 1. the header length, checked before anything is allocated */
    uint8_t len8[8];
    uint64_t hlen = header_length(len8, fread(len8, 1, 8, f), path);
    if (regular && hlen > size - 8)
        header_truncated(path, hlen, size - 8);
    /* 2. the header: parsed and checked (and the caller's check) before the data */
    uint8_t *buf = rn_xmalloc(8 + (size_t)hlen + 1);
    memcpy(buf, len8, 8);
    size_t got = fread(buf + 8, 1, (size_t)hlen, f);
    if (got < hlen) {
        if (ferror(f))
            rn_die("error reading %s: %s", path, strerror(errno));
        header_truncated(path, hlen, got);
    }
    buf[8 + hlen] = 0;
    parse_header(st, (const char *)buf + 8, (size_t)hlen, path);
    if (check)
        check(st, ctx);
    if (regular)
        check_data_length(st, size - 8 - hlen, path);
    /* 3. exactly the data the header accounts for, and nothing after it */
    buf = rn_xrealloc(buf, 8 + (size_t)hlen + st->data_len + 1);
    got = fread(buf + 8 + hlen, 1, st->data_len, f);
    if (got < st->data_len && ferror(f))
        rn_die("error reading %s: %s", path, strerror(errno));
    if (got == st->data_len && fgetc(f) != EOF)
        rn_die("%s: bytes after the last tensor's data (the tensors end at %zu data bytes)", path, st->data_len);
    check_data_length(st, got, path);
    rn_close_read(f, path_in);
    st->buf = buf;
    st->len = 8 + (size_t)hlen + st->data_len;
    for (int i = 0; i < st->ntensors; i++)
        st->tensors[i].data = buf + 8 + hlen + st->tensors[i].begin;
}

void rn_st_read(RnSafetensors *st, const char *path) { rn_st_read_checked(st, path, NULL, NULL); }

void rn_st_free(RnSafetensors *st)
{
    for (int i = 0; i < st->ntensors; i++)
        free(st->tensors[i].name);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    free(st->buf);
    memset(st, 0, sizeof *st);
}

const RnStTensor *rn_st_find(const RnSafetensors *st, const char *name)
{
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *rn_st_meta(const RnSafetensors *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

/* ------------------------------------------------------------ writing */

static size_t out_numel(const RnStOutTensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

void rn_st_write(const char *path, const RnStOutTensor *tensors, int ntensors, const RnStMeta *meta, int nmeta)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        rn_die("out of memory building the header of %s", path);
    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < nmeta; i++)
            if (!cJSON_AddStringToObject(m, meta[i].key, meta[i].value))
                m = NULL;
        if (!m)
            rn_die("out of memory building the header of %s", path);
    }
    size_t offset = 0;
    for (int i = 0; i < ntensors; i++) {
        const RnStOutTensor *t = &tensors[i];
        size_t bytes = out_numel(t) * rn_st_dtype_size(t->dtype);
        /* keys in the conventional order: dtype, shape, data_offsets */
        cJSON *e = cJSON_AddObjectToObject(root, t->name), *shape = NULL, *offs = NULL;
        int ok = e && cJSON_AddStringToObject(e, "dtype", rn_st_dtype_name(t->dtype)) &&
                 (shape = cJSON_AddArrayToObject(e, "shape")) != NULL;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        if (ok)
            offs = cJSON_AddArrayToObject(e, "data_offsets");
        ok = ok && offs && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + bytes)));
        if (!ok)
            rn_die("out of memory building the header of %s", path);
        offset += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        rn_die("out of memory building the header of %s", path);
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8;   /* pad so the data is 8-byte aligned */

    RnOut *out = rn_out_open(path);
    uint8_t len8[8];
    rn_put_u64(len8, hlen);
    rn_out_write(out, len8, 8);
    rn_out_write(out, json, jlen);
    rn_out_write(out, "        ", hlen - jlen);
    free(json);
    /* Tensor bytes, converted to little-endian whatever the host order. */
    uint8_t chunk[8192];
    for (int i = 0; i < ntensors; i++) {
        const RnStOutTensor *t = &tensors[i];
        size_t n = out_numel(t), fill = 0;
        for (size_t k = 0; k < n; k++) {
            if (t->dtype == RN_ST_F32) {
                uint32_t bits;
                memcpy(&bits, (const float *)t->data + k, 4);
                rn_put_u32(chunk + fill, bits);
                fill += 4;
            } else {
                rn_put_u64(chunk + fill, (uint64_t)((const int64_t *)t->data)[k]);
                fill += 8;
            }
            if (fill == sizeof chunk) {
                rn_out_write(out, chunk, fill);
                fill = 0;
            }
        }
        rn_out_write(out, chunk, fill);
    }
    rn_out_commit(out);
}
