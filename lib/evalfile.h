/* The eval file written by rn-eval (docs/FORMATS.md): loss, error, per-class
 * accuracy, the confusion matrix and the paper's Fig. 7 layer-response std.
 * Binary (magic "RNEVAL\0\0"), printable as TSV. This module is the only
 * reader and writer of it. */
#ifndef RN_EVALFILE_H
#define RN_EVALFILE_H

#include <stdint.h>
#include <stdio.h>

#include "net.h"

#define RN_EVAL_MAGIC "RNEVAL\0\0"
#define RN_EVAL_VERSION 1

typedef struct {
    char label[64];                 /* e.g. "ResNet-20" */
    RnNetConfig cfg;
    uint32_t count;                 /* images evaluated */
    uint32_t classes;
    char class_names[RN_MAX_CLASSES][32];
    double loss;                    /* mean cross-entropy */
    double error;                   /* fraction 0..1 */
    uint32_t *confusion;            /* classes x classes, [true][predicted] */
    uint32_t nlayers;               /* 3x3 conv layers */
    double *layer_std;              /* nlayers: std of each layer's BN output (Fig. 7) */
} RnEval;

void rn_eval_write(const char *path, const RnEval *e);
void rn_eval_read(const char *path, RnEval *e);
void rn_eval_free(RnEval *e);
/* Sections "# summary", "# per-class", "# confusion", "# layer-std", each TSV with a header line. */
void rn_eval_print_tsv(const RnEval *e, FILE *out);

#endif
