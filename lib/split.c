/* Train/validation split and subsets (rules in split.h). */
#include "split.h"
#include "err.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

void rn_split_mark_val(const RnDataset *ds, uint32_t val_size, uint64_t seed, uint8_t *is_val, const char *what)
{
    if (val_size % ds->classes != 0)
        rn_die("%s: validation size %u is not a multiple of the %u classes", what, val_size, ds->classes);
    uint32_t per_class = val_size / ds->classes;
    uint32_t sizes[RN_DATASET_MAX_CLASSES] = {0};   /* checked before allocating: dying frees nothing */
    for (uint32_t i = 0; i < ds->count; i++)
        sizes[ds->labels[i]]++;
    for (uint32_t c = 0; c < ds->classes; c++)
        if (sizes[c] < per_class)
            rn_die("%s: class %u (%s) has %u images, fewer than the %u the validation set takes from each class",
                   what, c, ds->class_names[c], sizes[c], per_class);
    uint32_t *members = rn_xmalloc(sizeof *members * (ds->count ? ds->count : 1));
    uint32_t *perm = rn_xmalloc(sizeof *perm * (ds->count ? ds->count : 1));
    memset(is_val, 0, ds->count);
    for (uint32_t c = 0; c < ds->classes; c++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < ds->count; i++)
            if (ds->labels[i] == c)
                members[n++] = i;
        /* the permutation depends on the class and its size only, so the
         * split of one class does not change when another class changes */
        rn_permutation(seed, RN_RNG_SPLIT, c, n, perm);
        for (uint32_t k = 0; k < per_class; k++)
            is_val[members[perm[k]]] = 1;
    }
    free(perm);
    free(members);
}

void rn_select_keep(RnDataset *ds, const uint8_t *keep)
{
    size_t image = (size_t)rn_dataset_image_bytes(ds);
    uint32_t n = 0;
    for (uint32_t i = 0; i < ds->count; i++) {
        if (!keep[i])
            continue;
        if (n != i) {
            ds->labels[n] = ds->labels[i];
            memmove(ds->pixels + (size_t)n * image, ds->pixels + (size_t)i * image, image);
        }
        n++;
    }
    ds->count = n;
}

void rn_select_per_class(RnDataset *ds, uint32_t n, const char *what)
{
    uint32_t seen[RN_DATASET_MAX_CLASSES] = {0};
    for (uint32_t i = 0; i < ds->count; i++)
        seen[ds->labels[i]]++;
    for (uint32_t c = 0; c < ds->classes; c++)
        if (seen[c] < n)
            rn_die("%s: class %u (%s) has only %u images, fewer than --per-class %u", what, c, ds->class_names[c],
                   seen[c], n);
    memset(seen, 0, sizeof seen);
    uint8_t *keep = rn_xmalloc(ds->count ? ds->count : 1);
    for (uint32_t i = 0; i < ds->count; i++) {
        uint8_t c = ds->labels[i];
        keep[i] = seen[c] < n;
        seen[c] += keep[i];
    }
    rn_select_keep(ds, keep);
    free(keep);
}

void rn_select_limit(RnDataset *ds, uint32_t n)
{
    if (n < ds->count)
        ds->count = n;
}
