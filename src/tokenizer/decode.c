/* Ids back to text, as spm_decode does it:
 *  - control pieces (<bos>, <eos>, ...) are invisible;
 *  - the unknown piece reads as the trainer's unk_surface (" ⁇ ");
 *  - consecutive byte pieces (<0xNN>) are joined and read as UTF-8, each
 *    byte that does not start a valid character becoming U+FFFD;
 *  - other pieces read as themselves with U+2581 turned back into spaces;
 *    at the start of the text one leading U+2581 is dropped (the dummy
 *    prefix) when the model adds one or strips whitespace. "At the start"
 *    lasts while nothing has been written and, for a model that keeps
 *    whitespace, until one such U+2581 has been dropped: so "▁ ▁a" decodes
 *    to " a" there but to "a" for a whitespace-stripping model, as
 *    SentencePiece 0.1.97 does it.
 *
 * The same code serves whole-sequence decoding and streaming; streaming only
 * differs in that a byte run may end in an incomplete character, which is
 * held back until the next piece shows whether it completes. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

typedef struct {
    int text_empty;       /* nothing written yet */
    int at_bos;           /* a leading U+2581 may still be dropped */
    int dropped;          /* the previous piece had its U+2581 dropped */
    unsigned char pend[4]; /* byte-piece bytes not yet written */
    size_t n_pend;
} detok;

typedef struct {
    char *p;
    size_t len, cap;
} growbuf;

static int put(growbuf *g, const char *s, size_t n, gf_error *err) {
    if (gf_tok_grow((void **)&g->p, &g->cap, g->len + n + 1, 1, err)) return -1;
    memcpy(g->p + g->len, s, n);
    g->len += n;
    g->p[g->len] = 0;
    return 0;
}

/* Bytes a lead byte announces, or 1 when it cannot start a character. */
static size_t announced_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

/* Writes the pending bytes that are decided. final: the run has ended, so an
 * incomplete character is invalid now. */
static int drain(detok *d, growbuf *g, int final, gf_error *err) {
    size_t o = 0;
    while (o < d->n_pend) {
        const char *s = (const char *)d->pend + o;
        size_t avail = d->n_pend - o;
        if (!final && avail < announced_len((unsigned char)s[0])) break;
        size_t l = gf_utf8_valid_len(s, avail);
        if (l > 0) {
            if (put(g, s, l, err)) return -1;
            o += l;
        } else {
            if (put(g, "\xEF\xBF\xBD", 3, err)) return -1;
            o += 1;
        }
    }
    memmove(d->pend, d->pend + o, d->n_pend - o);
    d->n_pend -= o;
    if (g->len > 0) d->text_empty = 0;
    return 0;
}

static int push(const gf_tokenizer *t, detok *d, int32_t id, growbuf *g, gf_error *err) {
    if (id < 0 || id >= t->n_pieces)
        return gf_fail(err, "id %d is outside the vocabulary [0, %d)", (int)id, t->n_pieces);
    int type = t->type[id];
    if (type == SPM_BYTE) {
        /* byte pieces were validated as <0xNN> at load */
        const char *p = t->piece[id];
        int hi = p[3] <= '9' ? p[3] - '0' : p[3] - 'A' + 10;
        int lo = p[4] <= '9' ? p[4] - '0' : p[4] - 'A' + 10;
        d->pend[d->n_pend++] = (unsigned char)(hi * 16 + lo);
        return drain(d, g, 0, err);
    }
    if (drain(d, g, 1, err)) return -1;
    if (d->dropped || !d->text_empty) d->at_bos = 0;
    d->dropped = 0;
    if (type == SPM_CONTROL) return 0;
    if (type == SPM_UNKNOWN) {
        if (put(g, t->unk_surface, strlen(t->unk_surface), err)) return -1;
    } else {
        const char *s = t->piece[id];
        size_t n = t->piece_len[id];
        if (d->at_bos && (t->add_dummy_prefix || t->remove_extra_whitespaces) && n >= 3 &&
            !memcmp(s, "\xE2\x96\x81", 3)) {
            s += 3, n -= 3;
            /* a whitespace-stripping model drops every leading U+2581 */
            d->dropped = !t->remove_extra_whitespaces;
        }
        size_t start = 0;
        for (size_t i = 0; i + 3 <= n;) {
            if (!memcmp(s + i, "\xE2\x96\x81", 3)) {
                if (put(g, s + start, i - start, err) || put(g, " ", 1, err)) return -1;
                i += 3;
                start = i;
            } else {
                i++;
            }
        }
        if (put(g, s + start, n - start, err)) return -1;
    }
    if (g->len > 0) d->text_empty = 0;
    return 0;
}

int gf_decode(const gf_tokenizer *t, const int32_t *ids, size_t n, gf_tok_buf *b,
              const char **text, size_t *len, gf_error *err) {
    detok d = {1, 1, 0, {0}, 0};
    growbuf g = {b->text, 0, b->text_cap};
    int rc = 0;
    if (put(&g, "", 0, err)) rc = -1;
    for (size_t i = 0; i < n && !rc; i++) rc = push(t, &d, ids[i], &g, err);
    if (!rc) rc = drain(&d, &g, 1, err);
    b->text = g.p;
    b->text_cap = g.cap;
    b->text_len = rc ? 0 : g.len;
    *text = b->text;
    *len = b->text_len;
    return rc;
}

struct gf_detok_stream {
    const gf_tokenizer *t;
    detok d;
    growbuf g;
};

gf_detok_stream *gf_detok_stream_new(const gf_tokenizer *t, int at_start, gf_error *err) {
    gf_detok_stream *s = calloc(1, sizeof *s);
    if (!s) {
        gf_fail(err, "tokenizer: out of memory");
        return NULL;
    }
    s->t = t;
    s->d.text_empty = at_start != 0;
    s->d.at_bos = at_start != 0;
    return s;
}

int gf_detok_stream_push(gf_detok_stream *s, int32_t id, const char **text, size_t *len,
                         gf_error *err) {
    /* g.len counts this push's output; whether earlier text exists lives in
     * d.text_empty, which drain/push only ever clear. */
    s->g.len = 0;
    int rc = put(&s->g, "", 0, err);
    if (!rc) rc = push(s->t, &s->d, id, &s->g, err);
    *text = s->g.p ? s->g.p : "";
    *len = rc ? 0 : s->g.len;
    return rc;
}

void gf_detok_stream_flush(gf_detok_stream *s, const char **text, size_t *len) {
    gf_error err;
    s->g.len = 0;
    int rc = put(&s->g, "", 0, &err);
    if (!rc) rc = drain(&s->d, &s->g, 1, &err);
    *text = s->g.p ? s->g.p : "";
    *len = rc ? 0 : s->g.len;
}

void gf_detok_stream_free(gf_detok_stream *s) {
    if (!s) return;
    free(s->g.p);
    free(s);
}
