/* The metrics file (lib/metrics.h, docs/FORMATS.md "Metrics files").
 *
 *   header, 88 bytes:
 *     0  magic "RNMETRIC"         8 bytes
 *     8  version (1)              u32
 *    12  record size (80)         u32
 *    16  label, NUL-padded        64 bytes (at least one NUL)
 *    80  CRC-32 of bytes 0..79    u32
 *    84  reserved, 0              u32
 *   records, 80 bytes each:
 *     0  epoch                    u32
 *     4  reserved, 0              u32
 *     8  iteration                u64
 *    16  lr, train_loss, train_err, test_loss, test_err, seconds, images_per_sec: 7 x f64
 *    72  reserved, 0              u32
 *    76  CRC-32 of bytes 0..75    u32
 *
 * A record is appended with one write() and fsync'ed, so a crash leaves at
 * most one torn record, at the end, which readers drop with a warning. */
#include "metrics.h"
#include "err.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 88
#define RECORD_SIZE 80
#define SHOWN(path) (rn_is_stdio(path) ? "stdin" : (path))

static void encode_header(uint8_t h[HEADER_SIZE], const char *label)
{
    memset(h, 0, HEADER_SIZE);
    memcpy(h, RN_METRICS_MAGIC, 8);
    rn_put_u32(h + 8, RN_METRICS_VERSION);
    rn_put_u32(h + 12, RECORD_SIZE);
    size_t n = strlen(label);
    memcpy(h + 16, label, n < RN_METRICS_LABEL_LEN - 1 ? n : RN_METRICS_LABEL_LEN - 1);
    rn_put_u32(h + 80, rn_crc32(h, 80));
}

static void encode_record(uint8_t r[RECORD_SIZE], const RnMetricRecord *rec)
{
    memset(r, 0, RECORD_SIZE);
    rn_put_u32(r, rec->epoch);
    rn_put_u64(r + 8, rec->iteration);
    const double f[7] = {rec->lr, rec->train_loss, rec->train_err, rec->test_loss,
                         rec->test_err, rec->seconds, rec->images_per_sec};
    for (int i = 0; i < 7; i++)
        rn_put_f64(r + 16 + 8 * i, f[i]);
    rn_put_u32(r + 76, rn_crc32(r, 76));
}

static int decode_record(const uint8_t *r, RnMetricRecord *rec)
{
    if (rn_get_u32(r + 76) != rn_crc32(r, 76))
        return 0;
    rec->epoch = rn_get_u32(r);
    rec->iteration = rn_get_u64(r + 8);
    double *f[7] = {&rec->lr, &rec->train_loss, &rec->train_err, &rec->test_loss,
                    &rec->test_err, &rec->seconds, &rec->images_per_sec};
    for (int i = 0; i < 7; i++)
        *f[i] = rn_get_f64(r + 16 + 8 * i);
    return 1;
}

/* The values of a record that passed its checksum must still make sense
 * (a writer bug, or a file edited by hand, gives a valid CRC over nonsense):
 * epochs strictly increasing from 1, every epoch at least one optimizer step,
 * rates in [0, 1], losses finite and >= 0 (a test value may be NaN: no test
 * set), lr finite and > 0, times and speeds finite and >= 0. prev is the
 * record before (NULL for the first). Returns NULL, or what is wrong in why. */
static const char *record_problem(const RnMetricRecord *r, const RnMetricRecord *prev, char *why, size_t n)
{
    if (r->epoch < 1)
        return "epoch is 0 (epochs count from 1)";
    if (prev && r->epoch <= prev->epoch) {
        snprintf(why, n, "epoch %u follows epoch %u (epochs must increase)", r->epoch, prev->epoch);
        return why;
    }
    /* every epoch takes at least one step */
    uint64_t min_iter = prev ? prev->iteration + (r->epoch - prev->epoch) : r->epoch;
    if (r->iteration < min_iter || (prev && r->iteration < prev->iteration)) {
        snprintf(why, n, "iteration %llu at epoch %u, expected at least %llu (every epoch takes a step)",
                 (unsigned long long)r->iteration, r->epoch, (unsigned long long)min_iter);
        return why;
    }
    const struct {
        const char *name;
        double v;
        double hi;                /* upper bound; INFINITY: none */
        int nan_ok;
    } f[] = {
        {"train_loss", r->train_loss, INFINITY, 0}, {"train_err", r->train_err, 1, 0},
        {"test_loss", r->test_loss, INFINITY, 1},   {"test_err", r->test_err, 1, 1},
        {"seconds", r->seconds, INFINITY, 0},       {"images_per_sec", r->images_per_sec, INFINITY, 0},
    };
    if (!(isfinite(r->lr) && r->lr > 0)) {
        snprintf(why, n, "lr is %g (must be finite and > 0)", r->lr);
        return why;
    }
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].nan_ok && isnan(f[i].v))
            continue;
        if (!(isfinite(f[i].v) && f[i].v >= 0 && f[i].v <= f[i].hi)) {
            if (f[i].hi == 1)
                snprintf(why, n, "%s is %g (a rate must be in [0, 1])", f[i].name, f[i].v);
            else
                snprintf(why, n, "%s is %g (must be finite and >= 0)", f[i].name, f[i].v);
            return why;
        }
    }
    return NULL;
}

/* Checks the header; dies naming the file if it is not ours. */
static void check_header(const uint8_t *h, size_t len, const char *path, char label[RN_METRICS_LABEL_LEN])
{
    if (len < HEADER_SIZE) {
        if (len < 8 || memcmp(h, RN_METRICS_MAGIC, 8) != 0)
            rn_die("%s: not a metrics file (no RNMETRIC header)", path);
        rn_die("%s: truncated: metrics header needs %d bytes, file has %zu", path, HEADER_SIZE, len);
    }
    if (memcmp(h, RN_METRICS_MAGIC, 8) != 0)
        rn_die("%s: not a metrics file (magic is not RNMETRIC)", path);
    if (rn_get_u32(h + 8) != RN_METRICS_VERSION)
        rn_die("%s: metrics format version %u is not supported (this build reads %d)", path, rn_get_u32(h + 8),
               RN_METRICS_VERSION);
    if (rn_get_u32(h + 80) != rn_crc32(h, 80))
        rn_die("%s: metrics header is corrupt (checksum mismatch)", path);
    if (rn_get_u32(h + 12) != RECORD_SIZE)
        rn_die("%s: metrics record size %u, expected %d", path, rn_get_u32(h + 12), RECORD_SIZE);
    if (!memchr(h + 16, 0, RN_METRICS_LABEL_LEN))
        rn_die("%s: metrics label is not NUL-terminated", path);
    if (label)
        memcpy(label, h + 16, RN_METRICS_LABEL_LEN);
}

/* Decodes a whole file image. Returns the length of the intact part
 * (header + good records): what truncate/append keep. */
static size_t decode(const uint8_t *buf, size_t len, const char *path, RnMetrics *m)
{
    memset(m, 0, sizeof *m);
    check_header(buf, len, path, m->label);
    size_t body = len - HEADER_SIZE, full = body / RECORD_SIZE, tail = body % RECORD_SIZE;
    m->records = rn_xcalloc(full ? full : 1, sizeof *m->records);
    for (size_t i = 0; i < full; i++) {
        if (decode_record(buf + HEADER_SIZE + i * RECORD_SIZE, &m->records[m->count])) {
            char why[160];
            const char *bad = record_problem(&m->records[m->count], m->count ? &m->records[m->count - 1] : NULL,
                                             why, sizeof why);
            if (bad)
                rn_die("%s: metrics record %zu of %zu is invalid: %s", path, i + 1, full, bad);
            m->count++;
            continue;
        }
        if (i + 1 < full || tail)
            rn_die("%s: metrics record %zu of %zu is corrupt (checksum mismatch before the last record)", path,
                   i + 1, full);
        rn_warn("%s: dropping a torn last metrics record (record %zu: checksum mismatch; a crash while writing?)",
                path, i + 1);
        return HEADER_SIZE + i * RECORD_SIZE;
    }
    if (tail)
        rn_warn("%s: dropping a torn last metrics record (%zu of %d bytes; a crash while writing?)", path, tail,
                RECORD_SIZE);
    return HEADER_SIZE + full * RECORD_SIZE;
}

void rn_metrics_read(const char *path, RnMetrics *m)
{
    size_t len;
    uint8_t *buf = rn_read_file(path, &len, HEADER_SIZE + (size_t)RECORD_SIZE * RN_METRICS_MAX_RECORDS, "a metrics file");
    decode(buf, len, SHOWN(path), m);
    free(buf);
}

void rn_metrics_free(RnMetrics *m)
{
    free(m->records);
    memset(m, 0, sizeof *m);
}

void rn_metrics_create(const char *path, const char *label)
{
    if (strlen(label) >= RN_METRICS_LABEL_LEN)
        rn_die("%s: metrics label '%s' is longer than %d bytes", path, label, RN_METRICS_LABEL_LEN - 1);
    uint8_t h[HEADER_SIZE];
    encode_header(h, label);
    RnOut *out = rn_out_open(path);
    rn_out_write(out, h, sizeof h);
    rn_out_commit(out);
}

void rn_metrics_truncate(const char *path, uint32_t keep_epochs)
{
    RnMetrics m;
    rn_metrics_read(path, &m);
    uint8_t h[HEADER_SIZE], r[RECORD_SIZE];
    encode_header(h, m.label);
    RnOut *out = rn_out_open(path);
    rn_out_write(out, h, sizeof h);
    for (size_t i = 0; i < m.count; i++) {
        if (m.records[i].epoch > keep_epochs)
            continue;
        encode_record(r, &m.records[i]);
        rn_out_write(out, r, sizeof r);
    }
    rn_out_commit(out);
    rn_metrics_free(&m);
}

void rn_metrics_append(const char *path, const RnMetricRecord *rec)
{
    int fd = open(path, O_RDWR | O_APPEND);
    if (fd < 0)
        rn_die("cannot append to %s: %s (create it first)", path, strerror(errno));
    /* Appending after a torn record would bury it mid-file, where it is an
     * error; the trainer truncates on resume, so here it is a bug. Check. */
    struct stat st;
    if (fstat(fd, &st) != 0)
        rn_die("cannot append to %s: %s", path, strerror(errno));
    if (st.st_size < HEADER_SIZE || (st.st_size - HEADER_SIZE) % RECORD_SIZE != 0)
        rn_die("%s: has a torn last record or no header; refusing to append (truncate it first)", path);
    /* what the reader would refuse is never written: check against the last record */
    uint8_t r[RECORD_SIZE];
    RnMetricRecord last;
    bool has_last = st.st_size > HEADER_SIZE;
    if (has_last && (pread(fd, r, RECORD_SIZE, st.st_size - RECORD_SIZE) != RECORD_SIZE || !decode_record(r, &last)))
        rn_die("%s: cannot read its last record before appending (corrupt file?)", path);
    char why[160];
    const char *bad = record_problem(rec, has_last ? &last : NULL, why, sizeof why);
    if (bad)
        rn_die("%s: internal error: refusing to append an invalid record (epoch %u): %s", path, rec->epoch, bad);
    encode_record(r, rec);
    ssize_t n = write(fd, r, sizeof r);
    if (n != (ssize_t)sizeof r)
        rn_die("cannot append to %s: %s", path, n < 0 ? strerror(errno) : "short write (disk full?)");
    if (fsync(fd) != 0 && errno != EINVAL)
        rn_die("cannot append to %s: fsync: %s", path, strerror(errno));
    if (close(fd) != 0)
        rn_die("cannot append to %s: %s", path, strerror(errno));
}

/* Nine significant digits are plenty for tables and plots; a missing test
 * set (NaN) prints as "nan", which awk and spreadsheets understand. */
void rn_metrics_print_tsv(const RnMetrics *m, FILE *out)
{
    fprintf(out, "epoch\titeration\tlr\ttrain_loss\ttrain_err\ttest_loss\ttest_err\tseconds\timages_per_sec\n");
    for (size_t i = 0; i < m->count; i++) {
        const RnMetricRecord *r = &m->records[i];
        fprintf(out, "%u\t%llu\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.6g\t%.6g\n", r->epoch,
                (unsigned long long)r->iteration, r->lr, r->train_loss, r->train_err, r->test_loss, r->test_err,
                r->seconds, r->images_per_sec);
    }
}
