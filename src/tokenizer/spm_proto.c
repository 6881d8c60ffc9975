/* Reads a serialized SentencePiece ModelProto (protobuf wire format) into a
 * gf_tokenizer. Only the fields encoding and decoding depend on are kept;
 * every other field is skipped by its wire type. Every length is checked
 * against the bytes that remain, so a truncated or hostile file fails with a
 * message rather than reading past the buffer.
 *
 * Field numbers (sentencepiece_model.proto):
 *   ModelProto:      1 pieces, 2 trainer_spec, 3 normalizer_spec,
 *                    5 denormalizer_spec
 *   SentencePiece:   1 piece, 2 score (float), 3 type
 *   TrainerSpec:     3 model_type, 24 treat_whitespace_as_suffix,
 *                    35 byte_fallback, 40..43 unk/bos/eos/pad ids,
 *                    44 unk_surface
 *   NormalizerSpec:  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                    4 remove_extra_whitespaces, 5 escape_whitespaces */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct {
    const uint8_t *p, *end;
    const uint8_t *base; /* start of the file, for byte offsets in errors */
    const char *file;
    const char *where; /* the message being read, for errors */
    gf_error *err;
} pb;

static int pb_fail(pb *r, const char *what) {
    return gf_fail(r->err, "%s: not a SentencePiece model: %s in %s at byte %zu", r->file, what,
                   r->where, (size_t)(r->p - r->base));
}

static int pb_varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return pb_fail(r, "truncated varint");
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return pb_fail(r, "varint longer than 10 bytes");
}

static int pb_key(pb *r, uint32_t *field, uint32_t *wt) {
    uint64_t k = 0;
    if (pb_varint(r, &k)) return -1;
    *field = (uint32_t)(k >> 3);
    *wt = (uint32_t)(k & 7);
    if (*field == 0 || k >> 32) return pb_fail(r, "invalid field number");
    return 0;
}

static int pb_len(pb *r, const uint8_t **b, size_t *n) {
    uint64_t len = 0;
    if (pb_varint(r, &len)) return -1;
    if (len > (uint64_t)(r->end - r->p)) return pb_fail(r, "length runs past the end of the data");
    *b = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

static int pb_skip(pb *r, uint32_t wt) {
    uint64_t v;
    const uint8_t *b;
    size_t n;
    switch (wt) {
    case WT_VARINT: return pb_varint(r, &v);
    case WT_LEN: return pb_len(r, &b, &n);
    case WT_I64:
        if (r->end - r->p < 8) return pb_fail(r, "truncated 64-bit field");
        r->p += 8;
        return 0;
    case WT_I32:
        if (r->end - r->p < 4) return pb_fail(r, "truncated 32-bit field");
        r->p += 4;
        return 0;
    default: return pb_fail(r, "unsupported wire type (groups or garbage)");
    }
}

static int pb_expect(pb *r, uint32_t wt, uint32_t want) {
    if (wt != want) return pb_fail(r, "a known field has the wrong wire type");
    return 0;
}

static int pb_int(pb *r, uint32_t wt, int64_t *out) {
    uint64_t v = 0;
    if (pb_expect(r, wt, WT_VARINT) || pb_varint(r, &v)) return -1;
    *out = (int64_t)v;
    return 0;
}

static int pb_float(pb *r, uint32_t wt, float *out) {
    if (pb_expect(r, wt, WT_I32)) return -1;
    if (r->end - r->p < 4) return pb_fail(r, "truncated float");
    uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    memcpy(out, &u, 4);
    r->p += 4;
    return 0;
}

static pb sub(pb *r, const uint8_t *b, size_t n, const char *where) {
    pb s = {b, b + n, r->base, r->file, where, r->err};
    return s;
}

/* Byte strings that later stages keep: copied into malloc'ed NUL-terminated
 * strings so the file's buffer need not outlive the tokenizer. */
static char *dup_bytes(pb *r, const uint8_t *b, size_t n) {
    char *s = malloc(n + 1);
    if (!s) {
        gf_fail(r->err, "%s: out of memory", r->file);
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = 0;
    return s;
}

typedef struct {
    const uint8_t *piece;
    size_t len;
    float score;
    int type;
} raw_piece;

typedef struct {
    raw_piece *v;
    size_t n, cap;
    const uint8_t *charsmap;
    size_t charsmap_len;
    int64_t model_type, whitespace_suffix, byte_fallback;
    int64_t ids[4]; /* unk, bos, eos, pad as the trainer recorded them */
    const uint8_t *unk_surface;
    size_t unk_surface_len;
    int has_unk_surface;
    int64_t dummy_prefix, remove_ws, escape_ws;
    int denormalizer_rules;
} proto;

static int parse_piece(pb *r, const uint8_t *b, size_t n, raw_piece *out) {
    pb m = sub(r, b, n, "a SentencePiece entry");
    out->piece = NULL;
    out->len = 0;
    out->score = 0;
    out->type = SPM_NORMAL;
    int have_piece = 0;
    while (m.p < m.end) {
        uint32_t f, wt;
        int64_t v = 0;
        if (pb_key(&m, &f, &wt)) return -1;
        if (f == 1) {
            if (pb_expect(&m, wt, WT_LEN) || pb_len(&m, &out->piece, &out->len)) return -1;
            have_piece = 1;
        } else if (f == 2) {
            if (pb_float(&m, wt, &out->score)) return -1;
        } else if (f == 3) {
            if (pb_int(&m, wt, &v)) return -1;
            if (v < SPM_NORMAL || v > SPM_BYTE) return pb_fail(&m, "unknown piece type");
            out->type = (int)v;
        } else if (pb_skip(&m, wt)) {
            return -1;
        }
    }
    if (!have_piece) return pb_fail(&m, "an entry without a piece string");
    return 0;
}

static int parse_trainer(pb *r, const uint8_t *b, size_t n, proto *p) {
    pb m = sub(r, b, n, "trainer_spec");
    while (m.p < m.end) {
        uint32_t f, wt;
        int64_t v = 0;
        if (pb_key(&m, &f, &wt)) return -1;
        if (f == 3 || f == 24 || f == 35 || (f >= 40 && f <= 43)) {
            if (pb_int(&m, wt, &v)) return -1;
            if (f == 3) p->model_type = v;
            else if (f == 24) p->whitespace_suffix = v;
            else if (f == 35) p->byte_fallback = v;
            else p->ids[f - 40] = (int32_t)(uint32_t)v; /* int32 fields: -1 arrives sign-extended */
        } else if (f == 44) {
            if (pb_expect(&m, wt, WT_LEN) || pb_len(&m, &p->unk_surface, &p->unk_surface_len))
                return -1;
            p->has_unk_surface = 1;
        } else if (pb_skip(&m, wt)) {
            return -1;
        }
    }
    return 0;
}

static int parse_normalizer(pb *r, const uint8_t *b, size_t n, proto *p, int denorm) {
    pb m = sub(r, b, n, denorm ? "denormalizer_spec" : "normalizer_spec");
    while (m.p < m.end) {
        uint32_t f, wt;
        int64_t v = 0;
        const uint8_t *s;
        size_t len;
        if (pb_key(&m, &f, &wt)) return -1;
        if (f == 2) {
            if (pb_expect(&m, wt, WT_LEN) || pb_len(&m, &s, &len)) return -1;
            if (denorm) {
                p->denormalizer_rules = len > 0;
            } else {
                p->charsmap = s;
                p->charsmap_len = len;
            }
        } else if (!denorm && f >= 3 && f <= 5) {
            if (pb_int(&m, wt, &v)) return -1;
            if (f == 3) p->dummy_prefix = v != 0;
            else if (f == 4) p->remove_ws = v != 0;
            else p->escape_ws = v != 0;
        } else if (pb_skip(&m, wt)) {
            return -1;
        }
    }
    return 0;
}

static int parse_model(pb *r, proto *p) {
    while (r->p < r->end) {
        uint32_t f, wt;
        const uint8_t *b;
        size_t n;
        if (pb_key(r, &f, &wt)) return -1;
        if (f < 1 || f > 5 || f == 4) {
            if (pb_skip(r, wt)) return -1;
            continue;
        }
        if (pb_expect(r, wt, WT_LEN) || pb_len(r, &b, &n)) return -1;
        if (f == 1) {
            if (p->n == p->cap) {
                size_t cap = p->cap ? 2 * p->cap : 1024;
                raw_piece *g = realloc(p->v, cap * sizeof *g);
                if (!g) return gf_fail(r->err, "%s: out of memory", r->file);
                p->v = g;
                p->cap = cap;
            }
            if (p->n >= (size_t)INT32_MAX / 2) return pb_fail(r, "too many pieces");
            if (parse_piece(r, b, n, &p->v[p->n])) return -1;
            p->n++;
        } else if (f == 2) {
            if (parse_trainer(r, b, n, p)) return -1;
        } else {
            if (parse_normalizer(r, b, n, p, f == 5)) return -1;
        }
    }
    return 0;
}

/* "<0xNN>" with two upper-case hex digits -> NN, else -1. */
static int byte_piece_value(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

int gf_spm_proto_parse(gf_tokenizer *t, const uint8_t *data, size_t n, gf_error *err) {
    pb r = {data, data + n, data, t->path, "the model", err};
    proto p;
    memset(&p, 0, sizeof p);
    /* proto2 defaults */
    p.model_type = SPM_UNIGRAM;
    p.ids[0] = 0, p.ids[1] = 1, p.ids[2] = 2, p.ids[3] = -1;
    p.dummy_prefix = p.remove_ws = p.escape_ws = 1;
    int rc = -1;
    if (parse_model(&r, &p)) goto out;
    if (p.n == 0) {
        gf_fail(err, "%s: not a SentencePiece model: it has no pieces", t->path);
        goto out;
    }
    if (p.model_type != SPM_BPE && p.model_type != SPM_UNIGRAM) {
        gf_fail(err, "%s: model type %lld is not supported (BPE and unigram are)", t->path,
                (long long)p.model_type);
        goto out;
    }
    if (p.whitespace_suffix) {
        gf_fail(err, "%s: treat_whitespace_as_suffix models are not supported", t->path);
        goto out;
    }
    if (p.denormalizer_rules) {
        gf_fail(err, "%s: denormalization rules are not supported", t->path);
        goto out;
    }
    t->n_pieces = (int)p.n;
    t->model_type = (int)p.model_type;
    t->byte_fallback = p.byte_fallback != 0;
    t->add_dummy_prefix = (int)p.dummy_prefix;
    t->remove_extra_whitespaces = (int)p.remove_ws;
    t->escape_whitespaces = (int)p.escape_ws;
    t->unk_surface = p.has_unk_surface ? dup_bytes(&r, p.unk_surface, p.unk_surface_len)
                                       : dup_bytes(&r, (const uint8_t *)" \xE2\x81\x87 ", 5);
    size_t total = 0;
    for (size_t i = 0; i < p.n; i++) total += p.v[i].len + 1;
    t->arena = malloc(total ? total : 1);
    t->piece = malloc(p.n * sizeof *t->piece);
    t->piece_len = malloc(p.n * sizeof *t->piece_len);
    t->score = malloc(p.n * sizeof *t->score);
    t->type = malloc(p.n);
    if (!t->unk_surface || !t->arena || !t->piece || !t->piece_len || !t->score || !t->type) {
        gf_fail(err, "%s: out of memory for %zu pieces", t->path, p.n);
        goto out;
    }
    char *w = t->arena;
    t->unk_id = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    for (size_t i = 0; i < p.n; i++) {
        const raw_piece *rp = &p.v[i];
        if (rp->len == 0) {
            gf_fail(err, "%s: piece %zu is empty", t->path, i);
            goto out;
        }
        if (rp->len > UINT32_MAX / 2) {
            gf_fail(err, "%s: piece %zu is too long", t->path, i);
            goto out;
        }
        /* SentencePiece matches user-defined symbols as C strings, so one
         * with a NUL in it would never match as written. */
        if (rp->type == SPM_USER_DEFINED && memchr(rp->piece, 0, rp->len)) {
            gf_fail(err, "%s: user-defined piece %zu contains a NUL byte", t->path, i);
            goto out;
        }
        memcpy(w, rp->piece, rp->len);
        w[rp->len] = 0;
        t->piece[i] = w;
        t->piece_len[i] = (uint32_t)rp->len;
        t->score[i] = rp->score;
        t->type[i] = (uint8_t)rp->type;
        w += rp->len + 1;
        if (rp->type == SPM_UNKNOWN) {
            if (t->unk_id >= 0) {
                gf_fail(err, "%s: more than one unknown piece (ids %d and %zu)", t->path, t->unk_id, i);
                goto out;
            }
            t->unk_id = (int)i;
        }
        if (rp->type == SPM_BYTE) {
            int v = byte_piece_value(t->piece[i], rp->len);
            if (!t->byte_fallback) {
                gf_fail(err, "%s: byte piece %zu found although byte_fallback is off", t->path, i);
                goto out;
            }
            if (v < 0) {
                gf_fail(err, "%s: byte piece %zu is not of the form <0xNN>", t->path, i);
                goto out;
            }
            t->byte_id[v] = (int32_t)i;
        }
    }
    if (t->unk_id < 0) {
        gf_fail(err, "%s: the model defines no unknown piece", t->path);
        goto out;
    }
    for (int i = 0; i < 256; i++) {
        /* SentencePiece refuses such a model too: an unknown character must
         * have every one of its bytes to fall back on. */
        if (t->byte_id[i] < 0 && t->byte_fallback) {
            gf_fail(err, "%s: byte_fallback is on but byte piece <0x%02X> is missing (there must be 256)",
                    t->path, i);
            goto out;
        }
        if (t->byte_id[i] < 0) t->byte_id[i] = t->unk_id;
    }
    int *ids[4] = {NULL, &t->bos_id, &t->eos_id, &t->pad_id};
    for (int k = 1; k < 4; k++) {
        int64_t v = p.ids[k];
        *ids[k] = v >= 0 && v < (int64_t)p.n && t->type[v] == SPM_CONTROL ? (int)v : -1;
    }
    /* As the unigram model computes them: max_score starts at FLT_MIN (the
     * smallest positive float, not the most negative one) and a result still
     * equal to a starting value becomes 0, so a vocabulary of log
     * probabilities ends with max_score 0. */
    t->min_score = FLT_MAX, t->max_score = FLT_MIN;
    for (size_t i = 0; i < p.n; i++) {
        if (t->type[i] != SPM_NORMAL) continue;
        if (t->score[i] < t->min_score) t->min_score = t->score[i];
        if (t->score[i] > t->max_score) t->max_score = t->score[i];
    }
    if (t->min_score == FLT_MAX) t->min_score = 0;
    if (t->max_score == FLT_MIN) t->max_score = 0;
    if (p.charsmap_len > 0) {
        if (gf_charsmap_load(&t->norm, p.charsmap, p.charsmap_len, t->path, err)) goto out;
        t->has_norm = 1;
    }
    rc = 0;
out:
    free(p.v);
    return rc;
}
