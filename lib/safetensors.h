/* A generic safetensors reader and writer (https://github.com/huggingface/safetensors):
 *
 *   8 bytes    N, the header length, unsigned little-endian
 *   N bytes    a JSON object (UTF-8), optionally padded with spaces:
 *                { "__metadata__": {"key": "string", ...},
 *                  "tensor name": {"dtype": "F32", "shape": [16,3,3,3],
 *                                  "data_offsets": [begin, end]}, ... }
 *   the rest   the tensor bytes, little-endian; offsets are relative to here
 *
 * The reader is strict: header length sane and inside the file, JSON valid,
 * dtypes known (F32, I64 only: all rn-cifar needs), shape product * dtype size
 * equal to end - begin, tensors contiguous (sorted by offset they start at 0,
 * each begins where the previous ended, the last ends at the end of the file),
 * names unique, metadata values strings, sizes within the caps below. Any violation dies with one line
 * naming the file. Knowing nothing about networks, this module is used by
 * lib/weights.c, which checks the tensors against the architecture. */
#ifndef RN_SAFETENSORS_H
#define RN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define RN_ST_MAX_DIMS 8
#define RN_ST_MAX_HEADER (100u * 1000u * 1000u)   /* as the reference implementation */
/* The most tensor data a file may declare: 1 GiB, well above the largest
 * checkpoint here (ResNet-1202, 100 classes, with momentum: about 160 MB);
 * lib/weights.c refuses anything beyond what the declared net needs. */
#define RN_ST_MAX_DATA ((size_t)1 << 30)

typedef enum { RN_ST_F32, RN_ST_I64 } RnStDtype;

typedef struct {
    char *name;
    RnStDtype dtype;
    int ndim;
    int64_t shape[RN_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;            /* byte offsets in the data section */
    const uint8_t *data;          /* points into the file buffer (little-endian bytes) */
} RnStTensor;

typedef struct {
    char *key, *value;
} RnStMeta;

typedef struct {
    const char *path;             /* for messages ("-" shown as stdin) */
    uint8_t *buf;                 /* the whole file */
    size_t len;
    size_t data_len;              /* bytes of the data section */
    int ntensors;
    RnStTensor *tensors;          /* in header order */
    int nmeta;
    RnStMeta *meta;
} RnSafetensors;

/* Reads and validates PATH ("-" = stdin), header first: the header length
 * (at most RN_ST_MAX_HEADER), then the header, then exactly the data bytes it
 * accounts for (at most RN_ST_MAX_DATA); nothing is allocated for bytes a
 * header does not account for, and bytes after them are an error. */
void rn_st_read(RnSafetensors *st, const char *path);
/* As rn_st_read, calling check(st, ctx) once the header is parsed and before
 * any data is read (tensors' data pointers are NULL then): a caller that
 * knows what the file must hold refuses a bad header before reading on. */
typedef void (*RnStCheck)(const RnSafetensors *st, void *ctx);
void rn_st_read_checked(RnSafetensors *st, const char *path, RnStCheck check, void *ctx);
void rn_st_free(RnSafetensors *st);
const RnStTensor *rn_st_find(const RnSafetensors *st, const char *name);
const char *rn_st_meta(const RnSafetensors *st, const char *key);   /* NULL if absent */
const char *rn_st_dtype_name(RnStDtype dtype);
size_t rn_st_dtype_size(RnStDtype dtype);

/* Writing: a tensor to store, its data in host order (converted to LE). */
typedef struct {
    const char *name;
    RnStDtype dtype;
    int ndim;
    int64_t shape[RN_ST_MAX_DIMS];
    const void *data;             /* float* for F32, int64_t* for I64 */
} RnStOutTensor;

/* Writes the tensors in the given order, contiguous, and the metadata, to
 * PATH atomically ("-" = stdout). The header is padded with spaces to a
 * multiple of 8 bytes so the data section is 8-byte aligned. */
void rn_st_write(const char *path, const RnStOutTensor *tensors, int ntensors, const RnStMeta *meta, int nmeta);

#endif
