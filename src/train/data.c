/* Token files for training: a 1-D .npy of uint16 or int32 ids, memory-mapped,
 * with every id checked against the vocabulary on opening, and the batches
 * drawn from it: random windows of T + 1 tokens whose document starts (BOS
 * tokens) become segment resets. */
#include <stdlib.h>
#include <string.h>

#include "trainable.h"
#include "../util.h"

struct gf_token_data {
    gf_npy_mapped f;
    size_t n;
    int32_t bos;
    size_t *starts; /* indices of the BOS tokens, ascending */
    size_t n_starts;
};

/* memcpy, not a cast: a .npy header of any length may leave the data at an
 * odd offset in the mapping. */
static inline int32_t token_at(const gf_token_data *d, size_t i) {
    const char *base = d->f.info.data;
    if (d->f.info.dtype == GF_NPY_U16) {
        uint16_t v;
        memcpy(&v, base + 2 * i, sizeof v);
        return (int32_t)v;
    }
    int32_t v;
    memcpy(&v, base + 4 * i, sizeof v);
    return v;
}

gf_token_data *gf_token_data_open(const char *path, int vocab, int bos, gf_error *err) {
    gf_token_data *d = gf_calloc(1, sizeof *d, "token data", err);
    if (!d) return NULL;
    if (gf_npy_map(path, &d->f, err)) goto fail;
    const gf_npy *a = &d->f.info;
    if (a->dtype != GF_NPY_U16 && a->dtype != GF_NPY_I32) {
        gf_fail(err, "%s: token files hold uint16 ('<u2') or int32 ('<i4') ids, not float32", path);
        goto fail;
    }
    if (a->ndim != 1) {
        gf_fail(err, "%s: a token file is a 1-D array (this one has %d dimensions)", path, a->ndim);
        goto fail;
    }
    d->n = a->count;
    d->bos = bos;
    size_t n_bos = 0;
    for (size_t i = 0; i < d->n; i++) {
        int32_t t = token_at(d, i);
        if (t < 0 || t >= vocab) {
            gf_fail(err, "%s: token %lld at index %zu is outside the model's vocabulary [0, %d)", path,
                    (long long)t, i, vocab);
            goto fail;
        }
        n_bos += t == bos;
    }
    d->starts = gf_calloc(n_bos, sizeof *d->starts, "document index", err);
    if (!d->starts) goto fail;
    for (size_t i = 0; i < d->n; i++)
        if (token_at(d, i) == bos) d->starts[d->n_starts++] = i;
    return d;
fail:
    gf_token_data_free(d);
    return NULL;
}

void gf_token_data_free(gf_token_data *d) {
    if (!d) return;
    gf_npy_unmap(&d->f);
    free(d->starts);
    free(d);
}

size_t gf_token_data_len(const gf_token_data *d) { return d->n; }

int32_t gf_token_data_at(const gf_token_data *d, size_t i) { return i < d->n ? token_at(d, i) : -1; }

/* Position of index i in its document: the distance back to the last BOS at
 * or before i (binary search), or i itself before the first BOS. */
static int32_t doc_position(const gf_token_data *d, size_t i) {
    size_t lo = 0, hi = d->n_starts;
    while (lo < hi) { /* first start > i */
        size_t mid = lo + (hi - lo) / 2;
        if (d->starts[mid] <= i) lo = mid + 1;
        else hi = mid;
    }
    size_t from = lo == 0 ? 0 : d->starts[lo - 1];
    size_t p = i - from;
    return p > INT32_MAX ? INT32_MAX : (int32_t)p;
}

void gf_token_data_window(const gf_token_data *d, size_t start, size_t T, int32_t *inputs,
                          int32_t *targets, int32_t *segment_pos) {
    int32_t pos = doc_position(d, start);
    for (size_t t = 0; t < T; t++) {
        int32_t tok = token_at(d, start + t);
        if (t > 0) pos = tok == d->bos ? 0 : pos + 1;
        inputs[t] = tok;
        targets[t] = token_at(d, start + t + 1);
        segment_pos[t] = pos;
    }
}

int gf_token_data_sample(const gf_token_data *d, uint64_t rng[4], size_t B, size_t T,
                         int32_t *inputs, int32_t *targets, int32_t *segment_pos, gf_error *err) {
    if (d->n < T + 1)
        return gf_fail(err, "the token file holds %zu tokens, fewer than a window of T + 1 = %zu", d->n, T + 1);
    size_t span = d->n - T; /* window starts 0 .. n - T - 1 */
    for (size_t b = 0; b < B; b++) {
        size_t s = (size_t)(gf_rng_next(rng) % span);
        gf_token_data_window(d, s, T, inputs + b * T, targets + b * T, segment_pos + b * T);
    }
    return 0;
}
