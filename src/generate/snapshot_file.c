/* A generator snapshot in a file (gf_gen_snapshot_write / _read): what a
 * chat needs to resume a conversation in another process without feeding
 * its ids again. The decode state is fixed in size, so the file is too
 * (plus the repeat penalty's ids and a few bytes of held-back text).
 *
 * Layout, little-endian whatever the host:
 *   "GFSNAP\r\n"                          8 bytes (\r\n: a text-mode copy breaks it visibly)
 *   u32 version (1)
 *   i32 x 9: vocab, width, mlp_width, layers, heads, head_dim, lru_width, window, conv_width
 *   u8 x layers: block types
 *   u64 the weights' fingerprint (below)
 *   i64 tokens in the state
 *   f32 temperature, top_p, min_p; i32 top_k; u64 x 4 the sampler's random state
 *   i32 pend, last, reason; i64 generated
 *   i32 n_tail; i32 x 3 tail
 *   u32 ring_n; i32 x ring_n the penalty's ids, oldest first
 *   u32 n_hold; n_hold bytes of held-back text
 *   f32 x vocab: the logits of the next id
 *   per layer: f32 x na, f32 x nb (gf_state_layer_parts)
 *   u64 FNV-1a of every byte before it
 *
 * The shape comes first so that another model's file is named as such
 * rather than as a wrong size; the fingerprint tells apart models of the
 * same shape; the checksum catches a corrupt file whose sizes still add up.
 * Every length is checked against the file's size before anything is
 * allocated from it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "griffin.h"
#include "generate/internal.h"
#include "model/model.h"
#include "util.h"

#define SNAP_MAGIC "GFSNAP\r\n"
#define SNAP_VERSION 1u
#define SNAP_MAX_RING (1u << 20) /* gf_gen_params' repeat_last_n limit */
#define SNAP_MAX_HOLD 4096u      /* a stop string's length limit */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* Bytes of a few rows of the embedding (first, middle, last) and the final
 * norm: trained or initialised differently, two models differ there. Cheap
 * (no pass over the weights) and stable across gf_model_copy_weights. */
static uint64_t model_fingerprint(const gf_model *m) {
    uint64_t h = FNV_START;
    const gf_mat *e = &m->embed;
    size_t rb = gf_mat_row_bytes(e);
    size_t rows[3] = {0, e->rows / 2, e->rows - 1};
    for (int i = 0; i < 3; i++) h = fnv1a(h, (const uint8_t *)e->data + rows[i] * rb, rb);
    h = fnv1a(h, m->final_norm, (size_t)m->cfg.width * sizeof(float));
    return h;
}

/* ---- writing ---------------------------------------------------------------- */

/* The file is put together in memory (its size is the decode state's, a
 * few MiB at most) and written by gf_write_file_atomic: one writer for
 * every file the library makes, with its temporary, fsync and rename. */
typedef struct {
    uint8_t *buf;
    size_t n, cap;
    uint64_t h;
    int oom;
} wr;

static void put(wr *w, const void *p, size_t n) {
    w->h = fnv1a(w->h, p, n);
    if (w->oom) return;
    if (n > w->cap - w->n) {
        size_t cap = w->cap ? w->cap : 4096;
        while (n > cap - w->n) {
            if (cap > SIZE_MAX / 2) {
                w->oom = 1;
                return;
            }
            cap *= 2;
        }
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->oom = 1;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}
static void put_u32(wr *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}
static void put_u64(wr *w, uint64_t v) {
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}
static void put_f32(wr *w, float x) {
    uint32_t v;
    memcpy(&v, &x, 4);
    put_u32(w, v);
}
static void put_floats(wr *w, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) put_f32(w, x[i]);
}

static void put_shape(wr *w, const gf_config *c) {
    const int dims[9] = {c->vocab_size, c->width, c->mlp_width, c->num_layers, c->num_heads,
                         c->head_dim, c->lru_width, c->window, c->conv_width};
    for (int i = 0; i < 9; i++) put_u32(w, (uint32_t)dims[i]);
    put(w, c->block_types, (size_t)c->num_layers);
}

int gf_gen_snapshot_write(const gf_gen_snapshot *s, const char *path, gf_error *err) {
    if (!s || !path) return gf_fail(err, "snapshot: write: no snapshot or no path");
    const gf_model *m = s->m;
    const gf_config *c = &m->cfg;
    wr w = {NULL, 0, 0, FNV_START, 0};
    put(&w, SNAP_MAGIC, 8);
    put_u32(&w, SNAP_VERSION);
    put_shape(&w, c);
    put_u64(&w, model_fingerprint(m));
    put_u64(&w, (uint64_t)s->st->num_tokens[0]);
    const gf_gen_seq *q = &s->s;
    put_f32(&w, q->smp.temperature);
    put_f32(&w, q->smp.top_p);
    put_f32(&w, q->smp.min_p);
    put_u32(&w, (uint32_t)q->smp.top_k);
    for (int i = 0; i < 4; i++) put_u64(&w, q->smp.rng[i]);
    put_u32(&w, (uint32_t)q->pend);
    put_u32(&w, (uint32_t)q->last);
    put_u32(&w, (uint32_t)q->reason);
    put_u64(&w, (uint64_t)q->generated);
    put_u32(&w, (uint32_t)q->n_tail);
    for (int i = 0; i < 3; i++) put_u32(&w, (uint32_t)(i < q->n_tail ? q->tail[i] : -1));
    put_u32(&w, (uint32_t)q->ring_n);
    for (int i = 0; i < q->ring_n; i++) put_u32(&w, (uint32_t)q->ring[i]);
    put_u32(&w, (uint32_t)q->n_hold);
    put(&w, q->hold, q->n_hold);
    put_floats(&w, s->logits, (size_t)s->V);
    for (int i = 0; i < c->num_layers; i++) {
        size_t na, nb;
        gf_state_layer_parts(c, i, &na, &nb);
        put_floats(&w, s->st->layer_a[i], na);
        put_floats(&w, s->st->layer_b[i], nb);
    }
    uint64_t h = w.h;
    put_u64(&w, h);
    int rc = w.oom ? gf_fail(err, "%s: out of memory for the snapshot", path) : 0;
    if (!rc) {
        /* written beside the target and renamed over it: a failed write
         * leaves an earlier file of that name as it was */
        const void *parts[1] = {w.buf};
        rc = gf_write_file_atomic(path, parts, &w.n, 1, err);
    }
    free(w.buf);
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, at;
} rd;

/* 0, or -1 when fewer than k bytes are left */
static int need(rd *r, size_t k) { return r->n - r->at >= k ? 0 : -1; }
static uint32_t get_u32(rd *r) {
    const uint8_t *b = r->p + r->at;
    r->at += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t get_u64(rd *r) {
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}
static float get_f32(rd *r) {
    uint32_t v = get_u32(r);
    float x;
    memcpy(&x, &v, 4);
    return x;
}
static void get_floats(rd *r, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = get_f32(r);
}

/* The shape as a phrase for messages. */
static void shape_text(char *buf, size_t cap, const int d[9]) {
    snprintf(buf, cap, "vocabulary %d, width %d, %d layers, window %d", d[0], d[1], d[3], d[7]);
}

/* Parses and checks buf [n] (the whole file); fills s. */
static int parse(const gf_model *m, const char *path, const uint8_t *buf, size_t n, gf_gen_snapshot *s,
                 gf_error *err) {
    const gf_config *c = &m->cfg;
    rd r = {buf, n, 0};
    if (n < 12 || memcmp(buf, SNAP_MAGIC, 8))
        return gf_fail(err, "%s: not a griffin snapshot file (no GFSNAP header)", path);
    r.at = 8;
    uint32_t version = get_u32(&r);
    if (version != SNAP_VERSION)
        return gf_fail(err, "%s: snapshot format version %u, this griffin reads version %u", path, version,
                       SNAP_VERSION);
    /* the shape: another model's file is refused here, before any size */
    const int want[9] = {c->vocab_size, c->width, c->mlp_width, c->num_layers, c->num_heads,
                         c->head_dim, c->lru_width, c->window, c->conv_width};
    int got[9];
    if (need(&r, 9 * 4)) return gf_fail(err, "%s: truncated snapshot (%zu bytes)", path, n);
    for (int i = 0; i < 9; i++) got[i] = (int)get_u32(&r);
    int same = !memcmp(got, want, sizeof want);
    if (same && need(&r, (size_t)c->num_layers)) return gf_fail(err, "%s: truncated snapshot (%zu bytes)", path, n);
    if (same) {
        same = !memcmp(r.p + r.at, c->block_types, (size_t)c->num_layers);
        r.at += (size_t)c->num_layers;
    }
    if (!same) {
        char a[128], b[128];
        shape_text(a, sizeof a, got);
        shape_text(b, sizeof b, want);
        return gf_fail(err, "%s: the snapshot is of another model (%s; this one: %s%s)", path, a, b,
                       !memcmp(got, want, sizeof want) ? "; its layer types differ" : "");
    }
    /* the fixed fields, then the two variable-length ones, then the size the
     * file must have */
    size_t fixed = 8 + 8 + 4 * 3 + 4 + 8 * 4 + 4 * 3 + 8 + 4 * 4 + 4;
    if (need(&r, fixed)) return gf_fail(err, "%s: truncated snapshot (%zu bytes)", path, n);
    uint64_t fp = get_u64(&r);
    int64_t tokens = (int64_t)get_u64(&r);
    gf_gen_seq *q = &s->s;
    q->smp.temperature = get_f32(&r);
    q->smp.top_p = get_f32(&r);
    q->smp.min_p = get_f32(&r);
    q->smp.top_k = (int)get_u32(&r);
    for (int i = 0; i < 4; i++) q->smp.rng[i] = get_u64(&r);
    q->pend = (int32_t)get_u32(&r);
    q->last = (int32_t)get_u32(&r);
    q->reason = (int)get_u32(&r);
    q->generated = (int64_t)get_u64(&r);
    q->n_tail = (int)get_u32(&r);
    for (int i = 0; i < 3; i++) q->tail[i] = (int32_t)get_u32(&r);
    uint32_t ring_n = get_u32(&r);
    if (ring_n > SNAP_MAX_RING)
        return gf_fail(err, "%s: corrupt snapshot: %u penalty ids, more than %u", path, ring_n, SNAP_MAX_RING);
    if (need(&r, (size_t)ring_n * 4 + 4)) return gf_fail(err, "%s: truncated snapshot (%zu bytes)", path, n);
    size_t ring_at = r.at;
    r.at += (size_t)ring_n * 4;
    uint32_t n_hold = get_u32(&r);
    if (n_hold > SNAP_MAX_HOLD)
        return gf_fail(err, "%s: corrupt snapshot: %u bytes of held-back text, more than %u", path, n_hold,
                       SNAP_MAX_HOLD);
    size_t state_floats = 0;
    for (int i = 0; i < c->num_layers; i++) {
        size_t na, nb;
        gf_state_layer_parts(c, i, &na, &nb);
        state_floats += na + nb;
    }
    size_t expect = r.at + n_hold + ((size_t)c->vocab_size + state_floats) * 4 + 8;
    if (n != expect)
        return gf_fail(err, "%s: %s snapshot: %zu bytes where its header says %zu", path,
                       n < expect ? "truncated" : "corrupt", n, expect);
    uint64_t sum = fnv1a(FNV_START, buf, n - 8);
    r.at = n - 8;
    if (get_u64(&r) != sum) return gf_fail(err, "%s: corrupt snapshot: the checksum does not match", path);
    if (fp != model_fingerprint(m))
        return gf_fail(err, "%s: the snapshot is of another model of the same shape (its weights differ)", path);
    /* values: whatever a checksum lets through must still be in range */
    int V = c->vocab_size;
    int ok = tokens >= 0 && tokens <= INT32_MAX && q->pend >= -1 && q->pend < V && q->last >= -1 && q->last < V &&
             q->reason >= GF_GEN_RUNNING && q->reason <= GF_GEN_ERROR && q->generated >= 0 && q->n_tail >= 0 &&
             q->n_tail <= 3 && isfinite(q->smp.temperature) && isfinite(q->smp.top_p) && isfinite(q->smp.min_p);
    for (int i = 0; ok && i < q->n_tail; i++) ok = q->tail[i] >= 0 && q->tail[i] < V;
    if (!ok) return gf_fail(err, "%s: corrupt snapshot: a field out of range", path);
    r.at = ring_at;
    q->ring_n = q->ring_cap = (int)ring_n;
    q->ring_pos = 0;
    if (ring_n > 0 && !(q->ring = malloc((size_t)ring_n * sizeof *q->ring)))
        return gf_fail(err, "%s: out of memory", path);
    for (uint32_t i = 0; i < ring_n; i++) {
        q->ring[i] = (int32_t)get_u32(&r);
        if (q->ring[i] < 0 || q->ring[i] >= V)
            return gf_fail(err, "%s: corrupt snapshot: penalty id %d outside the vocabulary", path, (int)q->ring[i]);
    }
    r.at += 4;
    if (!(q->hold = malloc((size_t)n_hold + 1))) return gf_fail(err, "%s: out of memory", path);
    memcpy(q->hold, r.p + r.at, n_hold);
    q->hold[n_hold] = 0;
    q->n_hold = n_hold;
    r.at += n_hold;
    q->valid = 1;
    s->V = V;
    if (!(s->logits = malloc((size_t)V * sizeof *s->logits))) return gf_fail(err, "%s: out of memory", path);
    get_floats(&r, s->logits, (size_t)V);
    /* and the floats: a save never holds a NaN or an infinity (a step that
     * made one failed), which would come out at the next step as non-finite
     * logits blamed on the weights */
    if (gf_first_nonfinite(s->logits, GF_DT_F32, (size_t)V) < (size_t)V)
        return gf_fail(err, "%s: corrupt snapshot: a non-finite logit", path);
    if (!(s->st = gf_state_new(m, 1, err))) return -1;
    for (int i = 0; i < c->num_layers; i++) {
        size_t na, nb;
        gf_state_layer_parts(c, i, &na, &nb);
        get_floats(&r, s->st->layer_a[i], na);
        get_floats(&r, s->st->layer_b[i], nb);
        if (gf_first_nonfinite(s->st->layer_a[i], GF_DT_F32, na) < na ||
            gf_first_nonfinite(s->st->layer_b[i], GF_DT_F32, nb) < nb)
            return gf_fail(err, "%s: corrupt snapshot: a non-finite value in layer %d's state", path, i);
    }
    s->st->num_tokens[0] = tokens;
    return 0;
}

gf_gen_snapshot *gf_gen_snapshot_read(const gf_model *m, const char *path, gf_error *err) {
    if (!m || !path) {
        gf_fail(err, "snapshot: read: no model or no path");
        return NULL;
    }
    if (gf_check_regular(path, err)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* the largest file this model's snapshot can be: checked before the
     * whole file is read into memory */
    const gf_config *c = &m->cfg;
    size_t most = 512 + (size_t)c->num_layers + SNAP_MAX_RING * 4 + SNAP_MAX_HOLD +
                  (size_t)c->vocab_size * 4 + gf_state_bytes_per_seq(c);
    struct stat st;
    uint8_t *buf = NULL;
    gf_gen_snapshot *s = NULL;
    if (fstat(fileno(f), &st) || st.st_size < 0) {
        gf_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    size_t n = (size_t)st.st_size;
    if (n > most) {
        gf_fail(err, "%s: %zu bytes, more than any snapshot of this model (%zu): another model's, or not a snapshot",
                path, n, most);
        goto fail;
    }
    if (!(buf = malloc(n ? n : 1)) || !(s = calloc(1, sizeof *s))) {
        gf_fail(err, "%s: out of memory", path);
        goto fail;
    }
    if (fread(buf, 1, n, f) != n) {
        gf_fail(err, "%s: read failed", path);
        goto fail;
    }
    s->m = m;
    s->s.pend = -1;
    if (parse(m, path, buf, n, s, err)) goto fail;
    fclose(f);
    free(buf);
    return s;
fail:
    fclose(f);
    free(buf);
    gf_gen_snapshot_free(s);
    return NULL;
}
