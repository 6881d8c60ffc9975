/* Token files for training: a 1-D .npy of uint16 or int32 ids, memory-mapped,
 * with every id checked against the vocabulary on opening, and the batches
 * drawn from it: random windows of T + 1 tokens whose document starts (BOS
 * tokens) become segment resets.
 *
 * With a loss mask (a uint8 file of the same length, 1 on answer tokens) the
 * documents are examples of a task, and a window at a random place would cut
 * them. Masked rows are therefore packed from whole examples instead: a row
 * starts at an example's BOS and takes the examples that follow while they
 * fit in its T positions; the positions left over are padding (a BOS with
 * position 0 as input, so each is a document of its own that no real token
 * sees, and no target). Only targets whose mask is 1 count. Because the
 * resets keep packed examples apart, a row of several examples computes what
 * one row per example would. An example of n tokens fills n - 1 positions
 * (its last token is only a target), so examples of up to T + 1 tokens fit. */
#include <stdlib.h>
#include <string.h>

#include "trainable.h"
#include "util.h"

struct gf_token_data {
    gf_npy_mapped f;
    size_t n;
    int32_t bos;
    size_t *starts; /* indices of the BOS tokens, ascending */
    size_t n_starts;
    size_t longest; /* tokens in the longest document (BOS to the next BOS) */
    /* with a mask (else zeroed) */
    gf_npy_mapped mask;
    const uint8_t *m;
    size_t *answer_docs; /* the documents that hold an answer token, ascending */
    size_t n_answer_docs, n_answers;
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
        gf_fail(err, "%s: token files hold uint16 ('<u2') or int32 ('<i4') ids, not %s", path,
                a->dtype == GF_NPY_F32 ? "float32" : "uint8");
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
    size_t from = 0; /* the tokens before the first BOS count as a document */
    for (size_t k = 0; k <= d->n_starts; k++) {
        size_t to = k < d->n_starts ? d->starts[k] : d->n;
        if (to - from > d->longest) d->longest = to - from;
        from = to;
    }
    return d;
fail:
    gf_token_data_free(d);
    return NULL;
}

void gf_token_data_free(gf_token_data *d) {
    if (!d) return;
    gf_npy_unmap(&d->f);
    gf_npy_unmap(&d->mask);
    free(d->starts);
    free(d->answer_docs);
    free(d);
}

/* The document k: tokens [*a, *z). */
static void doc_span(const gf_token_data *d, size_t k, size_t *a, size_t *z) {
    *a = d->starts[k];
    *z = k + 1 < d->n_starts ? d->starts[k + 1] : d->n;
}

int gf_token_data_set_mask(gf_token_data *d, const char *path, gf_error *err) {
    if (d->m) return gf_fail(err, "%s: the token data has a mask already", path);
    gf_npy_mapped mk;
    if (gf_npy_map(path, &mk, err)) return -1;
    const gf_npy *a = &mk.info;
    const uint8_t *m = a->data;
    size_t *docs = NULL;
    if (a->dtype != GF_NPY_U8) {
        gf_fail(err, "%s: a loss mask holds uint8 ('|u1') values 0 or 1", path);
        goto fail;
    }
    if (a->ndim != 1) {
        gf_fail(err, "%s: a loss mask is a 1-D array (this one has %d dimensions)", path, a->ndim);
        goto fail;
    }
    if (a->count != d->n) {
        gf_fail(err, "%s: %zu values for %zu tokens; a loss mask has one value per token of its token file", path,
                a->count, d->n);
        goto fail;
    }
    if (d->n == 0 || token_at(d, 0) != d->bos) {
        gf_fail(err, "%s: with a mask every example starts with BOS (%d), but the token file's first token is %lld",
                path, (int)d->bos, d->n ? (long long)token_at(d, 0) : -1LL);
        goto fail;
    }
    size_t answers = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (m[i] > 1) {
            gf_fail(err, "%s: mask value %u at index %zu; a mask holds 0 or 1", path, (unsigned)m[i], i);
            goto fail;
        }
        /* the target at a BOS would be predicted from the example before */
        if (m[i] && token_at(d, i) == d->bos) {
            gf_fail(err, "%s: mask is 1 at index %zu, a BOS (an example's start); answers lie inside examples", path, i);
            goto fail;
        }
        answers += m[i];
    }
    if (answers == 0) {
        gf_fail(err, "%s: the mask marks no answer token (every value is 0)", path);
        goto fail;
    }
    docs = gf_calloc(d->n_starts, sizeof *docs, "answer index", err);
    if (!docs) goto fail;
    size_t nd = 0;
    for (size_t k = 0; k < d->n_starts; k++) {
        size_t s, z;
        doc_span(d, k, &s, &z);
        size_t i = s;
        while (i < z && !m[i]) i++;
        if (i < z) docs[nd++] = k;
    }
    d->mask = mk;
    d->m = m;
    d->answer_docs = docs;
    d->n_answer_docs = nd;
    d->n_answers = answers;
    return 0;
fail:
    free(docs);
    gf_npy_unmap(&mk);
    return -1;
}

int gf_token_data_masked(const gf_token_data *d) { return d->m != NULL; }

size_t gf_token_data_num_docs(const gf_token_data *d) { return d->n_starts; }

size_t gf_token_data_longest_doc(const gf_token_data *d) { return d->longest; }

size_t gf_token_data_num_answers(const gf_token_data *d) { return d->n_answers; }

size_t gf_token_data_pack(const gf_token_data *d, size_t doc, size_t T, int32_t *inputs, int32_t *targets,
                          int32_t *segment_pos) {
    size_t t = 0, k = doc;
    for (; k < d->n_starts; k++) {
        size_t a, z;
        doc_span(d, k, &a, &z);
        size_t len = z - a - 1; /* positions: every token but the last as input */
        if (t + len > T) break;
        for (size_t j = 0; j < len; j++, t++) {
            inputs[t] = token_at(d, a + j);
            targets[t] = d->m && !d->m[a + j + 1] ? -1 : token_at(d, a + j + 1);
            segment_pos[t] = (int32_t)j;
        }
    }
    for (; t < T; t++) {
        inputs[t] = d->bos;
        targets[t] = -1;
        segment_pos[t] = 0;
    }
    return k - doc;
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
    return gf_token_data_sample_part(d, rng, B, 0, B, T, inputs, targets, segment_pos, NULL, err);
}

int gf_token_data_sample_part(const gf_token_data *d, uint64_t rng[4], size_t B_all, size_t row0, size_t B,
                              size_t T, int32_t *inputs, int32_t *targets, int32_t *segment_pos,
                              size_t *targets_all, gf_error *err) {
    if (row0 > B_all || B > B_all - row0)
        return gf_fail(err, "rows [%zu, %zu) are not within a batch of %zu", row0, row0 + B, B_all);
    if (d->m && d->longest > T + 1)
        return gf_fail(err, "an example of %zu tokens does not fit a window of T + 1 = %zu", d->longest, T + 1);
    if (!d->m && d->n < T + 1)
        return gf_fail(err, "the token file holds %zu tokens, fewer than a window of T + 1 = %zu", d->n, T + 1);
    /* scratch for the rows of other parts, whose targets are counted (with
     * a mask only: without one every position of every row counts) */
    int32_t *sc = NULL;
    if (d->m && B < B_all) {
        sc = gf_calloc(3 * T, sizeof *sc, "sample scratch", err);
        if (!sc) return -1;
    }
    size_t count = d->m ? 0 : B_all * T;
    /* one draw per row, in the order gf_token_data_sample draws the whole
     * batch, so every part advances rng alike and takes its rows of it */
    for (size_t b = 0; b < B_all; b++) {
        uint64_t r = gf_rng_next(rng);
        int mine = b >= row0 && b < row0 + B;
        int32_t *in = mine ? inputs + (b - row0) * T : sc, *tg = mine ? targets + (b - row0) * T : sc + T;
        int32_t *pos = mine ? segment_pos + (b - row0) * T : sc + 2 * T;
        if (d->m) {
            gf_token_data_pack(d, d->answer_docs[r % d->n_answer_docs], T, in, tg, pos);
            for (size_t i = 0; i < T; i++) count += tg[i] >= 0;
        } else if (mine) {
            gf_token_data_window(d, (size_t)(r % (d->n - T)), T, in, tg, pos);
        }
    }
    free(sc);
    if (targets_all) *targets_all = count;
    return 0;
}
