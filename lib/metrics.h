/* The metrics file (docs/FORMATS.md): a fixed header then fixed-size records,
 * one per epoch, each with its own CRC-32 so a torn last record (a crash while
 * appending) is detected and dropped. Append-only. This module is the only
 * reader and writer of it. */
#ifndef RN_METRICS_H
#define RN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RN_METRICS_MAGIC "RNMETRIC"     /* 8 bytes */
#define RN_METRICS_VERSION 1
#define RN_METRICS_LABEL_LEN 64
#define RN_METRICS_MAX_RECORDS 1000000   /* epochs; the reader refuses a larger file (80 MB) */

typedef struct {
    uint32_t epoch;               /* 1-based epoch just finished */
    uint64_t iteration;           /* optimizer steps so far */
    double lr;                    /* learning rate of the epoch's last step */
    double train_loss;            /* mean over the epoch's training samples */
    double train_err;             /* fraction 0..1, over the epoch */
    double test_loss;             /* NaN when no test/val set was given */
    double test_err;              /* NaN when no test/val set was given */
    double seconds;               /* wall time of the epoch, test pass included */
    double images_per_sec;        /* training images / training seconds */
} RnMetricRecord;

typedef struct {
    char label[RN_METRICS_LABEL_LEN];   /* e.g. "ResNet-20 seed 1", for legends */
    RnMetricRecord *records;
    size_t count;
} RnMetrics;

/* Reads every intact record; a torn or corrupt last record is dropped with a
 * warning; corruption before the last record is an error. */
void rn_metrics_read(const char *path, RnMetrics *m);
void rn_metrics_free(RnMetrics *m);
/* Creates (or replaces) PATH with a header and no records. */
void rn_metrics_create(const char *path, const char *label);
/* Keeps the header and the records with epoch <= keep_epochs, dropping the rest
 * (used on resume, so the file matches the checkpoint). */
void rn_metrics_truncate(const char *path, uint32_t keep_epochs);
/* Appends one record and flushes it to disk. */
void rn_metrics_append(const char *path, const RnMetricRecord *rec);
/* TSV with a header line: epoch iteration lr train_loss train_err test_loss test_err seconds images_per_sec */
void rn_metrics_print_tsv(const RnMetrics *m, FILE *out);

#endif
