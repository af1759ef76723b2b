/* The eval file (lib/evalfile.h, docs/FORMATS.md "Eval files"). C = classes,
 * L = nlayers; all little-endian:
 *
 *     0  magic "RNEVAL\0\0"          8 bytes
 *     8  version (1)                 u32
 *    12  classes C (2..100)          u32
 *    16  nlayers L (0..1202)         u32
 *    20  count (images evaluated)    u32
 *    24  arch (0 plain, 1 resnet)    u32
 *    28  depth (6n+2)                u32
 *    32  shortcut ('A' or 'B')       u32
 *    36  reserved, 0                 u32
 *    40  label, NUL-padded           64 bytes
 *   104  loss                        f64
 *   112  error                       f64
 *   120  class names                 C x 32 bytes, NUL-padded
 *        confusion [true][predicted] C x C u32
 *        layer std                   L x f64
 *        CRC-32 of all the above     u32
 *
 * The size is fixed by C and L, so a reader knows exactly how long the file
 * must be before trusting anything in it. */
#include "evalfile.h"
#include "err.h"
#include "io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIXED_SIZE 120
#define NAME_LEN 32
#define SHOWN(path) (rn_is_stdio(path) ? "stdin" : (path))

static size_t file_size(uint32_t classes, uint32_t nlayers)
{
    return FIXED_SIZE + (size_t)classes * NAME_LEN + (size_t)classes * classes * 4 + (size_t)nlayers * 8 + 4;
}

void rn_eval_write(const char *path, const RnEval *e)
{
    if (e->classes < 2 || e->classes > RN_MAX_CLASSES || (int)e->classes != e->cfg.classes ||
        e->nlayers > RN_MAX_DEPTH)
        rn_die("%s: internal error: eval record has %u classes (net: %d) and %u layers", path, e->classes,
               e->cfg.classes, e->nlayers);
    size_t size = file_size(e->classes, e->nlayers);
    uint8_t *buf = rn_xcalloc(size, 1);
    memcpy(buf, RN_EVAL_MAGIC, 8);
    rn_put_u32(buf + 8, RN_EVAL_VERSION);
    rn_put_u32(buf + 12, e->classes);
    rn_put_u32(buf + 16, e->nlayers);
    rn_put_u32(buf + 20, e->count);
    rn_put_u32(buf + 24, (uint32_t)e->cfg.arch);
    rn_put_u32(buf + 28, (uint32_t)e->cfg.depth);
    rn_put_u32(buf + 32, (uint32_t)e->cfg.shortcut);
    memcpy(buf + 40, e->label, strnlen(e->label, sizeof e->label - 1));
    rn_put_f64(buf + 104, e->loss);
    rn_put_f64(buf + 112, e->error);
    uint8_t *p = buf + FIXED_SIZE;
    for (uint32_t c = 0; c < e->classes; c++, p += NAME_LEN)
        memcpy(p, e->class_names[c], strnlen(e->class_names[c], NAME_LEN - 1));
    for (uint32_t i = 0; i < e->classes * e->classes; i++, p += 4)
        rn_put_u32(p, e->confusion[i]);
    for (uint32_t l = 0; l < e->nlayers; l++, p += 8)
        rn_put_f64(p, e->layer_std[l]);
    rn_put_u32(p, rn_crc32(buf, size - 4));

    RnOut *out = rn_out_open(path);
    rn_out_write(out, buf, size);
    rn_out_commit(out);
    free(buf);
}

void rn_eval_read(const char *path_in, RnEval *e)
{
    const char *path = SHOWN(path_in);
    size_t len;
    uint8_t *buf = rn_read_file(path_in, &len, file_size(RN_MAX_CLASSES, RN_MAX_DEPTH), "an eval file");
    memset(e, 0, sizeof *e);
    if (len < 8 || memcmp(buf, RN_EVAL_MAGIC, 8) != 0)
        rn_die("%s: not an eval file (magic is not RNEVAL)", path);
    if (len < FIXED_SIZE + 4)
        rn_die("%s: truncated: eval header needs %d bytes, file has %zu", path, FIXED_SIZE + 4, len);
    if (rn_get_u32(buf + 8) != RN_EVAL_VERSION)
        rn_die("%s: eval format version %u is not supported (this build reads %d)", path, rn_get_u32(buf + 8),
               RN_EVAL_VERSION);
    e->classes = rn_get_u32(buf + 12);
    e->nlayers = rn_get_u32(buf + 16);
    if (e->classes < 2 || e->classes > RN_MAX_CLASSES)
        rn_die("%s: eval file declares %u classes (2..%d allowed)", path, e->classes, RN_MAX_CLASSES);
    if (e->nlayers > RN_MAX_DEPTH)
        rn_die("%s: eval file declares %u layers (at most %d)", path, e->nlayers, RN_MAX_DEPTH);
    size_t want = file_size(e->classes, e->nlayers);
    if (len != want)
        rn_die("%s: %s: %zu bytes, expected %zu for %u classes and %u layers", path,
               len < want ? "truncated" : "trailing bytes", len, want, e->classes, e->nlayers);
    if (rn_get_u32(buf + want - 4) != rn_crc32(buf, want - 4))
        rn_die("%s: eval file is corrupt (checksum mismatch)", path);

    e->count = rn_get_u32(buf + 20);
    uint32_t arch = rn_get_u32(buf + 24);
    e->cfg.arch = arch == 1 ? RN_ARCH_RESNET : RN_ARCH_PLAIN;
    e->cfg.depth = (int)rn_get_u32(buf + 28);
    e->cfg.shortcut = (RnShortcutOption)rn_get_u32(buf + 32);
    e->cfg.classes = (int)e->classes;
    const char *bad = arch > 1 ? "arch must be plain or resnet" : rn_net_config_check(&e->cfg);
    if (bad)
        rn_die("%s: eval file describes an invalid network: %s", path, bad);
    /* the responses are those of every 3x3 convolution: the stem and two per
     * block, depth - 1 in all; 0 when rn-eval ran without --responses */
    if (e->nlayers != 0 && e->nlayers != (uint32_t)e->cfg.depth - 1)
        rn_die("%s: eval file has %u layer responses, but a depth-%d net has %d (or 0)", path, e->nlayers,
               e->cfg.depth, e->cfg.depth - 1);
    if (e->count == 0)
        rn_die("%s: eval file counts 0 images", path);
    if (!memchr(buf + 40, 0, sizeof e->label))
        rn_die("%s: eval label is not NUL-terminated", path);
    memcpy(e->label, buf + 40, sizeof e->label);
    e->loss = rn_get_f64(buf + 104);
    e->error = rn_get_f64(buf + 112);
    const uint8_t *p = buf + FIXED_SIZE;
    for (uint32_t c = 0; c < e->classes; c++, p += NAME_LEN) {
        if (!memchr(p, 0, NAME_LEN))
            rn_die("%s: class name %u is not NUL-terminated", path, c);
        memcpy(e->class_names[c], p, NAME_LEN);
    }
    e->confusion = rn_xmalloc(sizeof *e->confusion * e->classes * e->classes);
    uint64_t total = 0, correct = 0;
    for (uint32_t i = 0; i < e->classes * e->classes; i++, p += 4) {
        e->confusion[i] = rn_get_u32(p);
        total += e->confusion[i];
        if (i / e->classes == i % e->classes)
            correct += e->confusion[i];
    }
    e->layer_std = rn_xmalloc(sizeof *e->layer_std * (e->nlayers ? e->nlayers : 1));
    for (uint32_t l = 0; l < e->nlayers; l++, p += 8) {
        e->layer_std[l] = rn_get_f64(p);
        if (!(e->layer_std[l] >= 0) || !isfinite(e->layer_std[l]))
            rn_die("%s: layer %u std is %g (must be finite and >= 0)", path, l + 1, e->layer_std[l]);
    }
    /* The numbers must agree with each other, or some writer has a bug. */
    if (total != e->count)
        rn_die("%s: confusion matrix counts %llu images, header says %u", path, (unsigned long long)total, e->count);
    if (!(e->error >= 0 && e->error <= 1) || (e->count && fabs(e->error - (1.0 - (double)correct / e->count)) > 1e-6))
        rn_die("%s: error %g does not match the confusion matrix (%llu of %u correct)", path, e->error,
               (unsigned long long)correct, e->count);
    if (!(e->loss >= 0) || !isfinite(e->loss))
        rn_die("%s: loss %g is not a finite non-negative number", path, e->loss);
    free(buf);
}

void rn_eval_free(RnEval *e)
{
    free(e->confusion);
    free(e->layer_std);
    e->confusion = NULL;
    e->layer_std = NULL;
}

void rn_eval_print_tsv(const RnEval *e, FILE *out)
{
    char net[32];
    rn_net_label(&e->cfg, net, sizeof net);
    fprintf(out, "# summary\nlabel\tnet\tarch\tdepth\tshortcut\tclasses\tcount\tloss\terror\taccuracy\n");
    fprintf(out, "%s\t%s\t%s\t%d\t%c\t%u\t%u\t%.9g\t%.9g\t%.9g\n", e->label, net, rn_arch_name(e->cfg.arch),
            e->cfg.depth, (char)e->cfg.shortcut, e->classes, e->count, e->loss, e->error, 1.0 - e->error);

    fprintf(out, "\n# per-class\nclass\tname\tcount\tcorrect\taccuracy\n");
    for (uint32_t t = 0; t < e->classes; t++) {
        uint64_t n = 0;
        for (uint32_t p = 0; p < e->classes; p++)
            n += e->confusion[t * e->classes + p];
        uint32_t ok = e->confusion[t * e->classes + t];
        fprintf(out, "%u\t%s\t%llu\t%u\t%.6f\n", t, e->class_names[t], (unsigned long long)n, ok,
                n ? (double)ok / (double)n : NAN);
    }

    /* rows: true class, columns: predicted class */
    fprintf(out, "\n# confusion\ntrue/predicted");
    for (uint32_t p = 0; p < e->classes; p++)
        fprintf(out, "\t%s", e->class_names[p]);
    fputc('\n', out);
    for (uint32_t t = 0; t < e->classes; t++) {
        fprintf(out, "%s", e->class_names[t]);
        for (uint32_t p = 0; p < e->classes; p++)
            fprintf(out, "\t%u", e->confusion[t * e->classes + p]);
        fputc('\n', out);
    }

    fprintf(out, "\n# layer-std\nlayer\tstd\n");
    for (uint32_t l = 0; l < e->nlayers; l++)
        fprintf(out, "%u\t%.9g\n", l + 1, e->layer_std[l]);
}
