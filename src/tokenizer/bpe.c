/* BPE segmentation as SentencePiece's bpe::Model does it: start from
 * characters (user-defined symbols as single frozen symbols), then keep
 * merging the adjacent pair whose concatenation is the highest-scoring piece
 * (ties: the leftmost pair) until no adjacent pair forms a piece. Candidate
 * pairs sit in a max-heap; a pair whose symbols changed since it was pushed
 * is recognised by its length and skipped.
 *
 * A merge that lands on an UNUSED piece is undone at the end by splitting it
 * back into the two symbols it was made of, recursively. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

typedef struct {
    int32_t prev, next;
    uint32_t start, len; /* len 0: merged away */
    int32_t freeze;
} sym;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;
} pair;

/* Heap order: higher score first, then the smaller left index. */
static inline int pair_before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(pair *h, size_t *n, pair p) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = p;
}

static pair heap_pop(pair *h, size_t *n) {
    pair top = h[0];
    pair last = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && pair_before(&h[c + 1], &h[c])) c++;
        if (!pair_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

/* Remembers how an UNUSED piece was formed, for resegmentation. Such pieces
 * are rare, so a short list searched linearly does; later entries for the
 * same text replace earlier ones, as SentencePiece's map assignment does. */
typedef struct {
    uint32_t start, len_left, len_right;
} unused_merge;

static int emit(gf_tok_buf *b, uint32_t start, uint32_t len, int32_t id, gf_error *err) {
    if (tok_grow((void **)&b->seg, &b->seg_cap, b->n_seg + 1, sizeof *b->seg, err)) return -1;
    b->seg[b->n_seg++] = (struct seg_piece){start, len, id};
    return 0;
}

static int resegment(const gf_tokenizer *t, const char *s, const unused_merge *um, size_t n_um,
                     uint32_t start, uint32_t len, gf_tok_buf *b, int depth, gf_error *err) {
    int32_t id = tok_piece_to_id(t, s + start, len);
    if (t->type[id] != SPM_UNUSED || depth > 4096) return emit(b, start, len, id, err);
    const unused_merge *found = NULL;
    for (size_t i = n_um; i-- > 0;) {
        const unused_merge *u = &um[i];
        if (u->len_left + u->len_right == len && !memcmp(s + u->start, s + start, len)) {
            found = u;
            break;
        }
    }
    if (!found) return emit(b, start, len, id, err);
    /* The split is by length: the recorded occurrence has the same text. */
    uint32_t l = found->len_left;
    if (resegment(t, s, um, n_um, start, l, b, depth + 1, err)) return -1;
    return resegment(t, s, um, n_um, start + l, len - l, b, depth + 1, err);
}

int bpe_segment(const gf_tokenizer *t, const char *s, size_t n, gf_tok_buf *b, gf_error *err) {
    b->n_seg = 0;
    if (n == 0) return 0;
    if (n > INT32_MAX / 4) return gf_fail(err, "tokenizer: a line of %zu bytes is too long", n);
    /* One work block: n symbols, and at most 2 pushes per merge plus the
     * n - 1 initial pairs, so 3n heap entries. */
    size_t need = n * sizeof(sym) + 3 * n * sizeof(pair) + 64;
    if (tok_grow(&b->work, &b->work_cap, need, 1, err)) return -1;
    sym *sy = (sym *)b->work;
    pair *heap = (pair *)(sy + n);
    size_t n_heap = 0;
    unused_merge *um = NULL;
    size_t n_um = 0, cap_um = 0;

    int32_t n_sym = 0;
    for (size_t i = 0; i < n;) {
        size_t l = user_symbol_len(t, s + i, n - i);
        int freeze = l > 0;
        if (!l) l = one_char_len(s + i, n - i);
        sy[n_sym] = (sym){n_sym - 1, i + l < n ? n_sym + 1 : -1, (uint32_t)i, (uint32_t)l, freeze};
        n_sym++;
        i += l;
    }
    int rc = -1;
#define TRY_PAIR(L, R)                                                                        \
    do {                                                                                      \
        int32_t l_ = (L), r_ = (R);                                                           \
        if (l_ >= 0 && r_ >= 0 && !sy[l_].freeze && !sy[r_].freeze) {                        \
            uint32_t sz_ = sy[l_].len + sy[r_].len;                                           \
            int32_t id_ = str_map_find(&t->pieces, s + sy[l_].start, sz_);                    \
            if (id_ >= 0) {                                                                   \
                heap_push(heap, &n_heap, (pair){t->score[id_], l_, r_, sz_});                 \
                if (t->type[id_] == SPM_UNUSED) {                                             \
                    if (tok_grow((void **)&um, &cap_um, n_um + 1, sizeof *um, err)) goto out; \
                    um[n_um++] = (unused_merge){sy[l_].start, sy[l_].len, sy[r_].len};        \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    } while (0)
    for (int32_t i = 1; i < n_sym; i++) TRY_PAIR(i - 1, i);
    while (n_heap > 0) {
        pair top = heap_pop(heap, &n_heap);
        sym *l = &sy[top.left], *r = &sy[top.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != top.size) continue;
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = top.left;
        r->len = 0;
        TRY_PAIR(l->prev, top.left);
        TRY_PAIR(top.left, l->next);
    }
#undef TRY_PAIR
    for (int32_t i = 0; i != -1 && n_sym > 0; i = sy[i].next) {
        if (n_um == 0) {
            if (emit(b, sy[i].start, sy[i].len, tok_piece_to_id(t, s + sy[i].start, sy[i].len), err))
                goto out;
        } else if (resegment(t, s, um, n_um, sy[i].start, sy[i].len, b, 0, err)) {
            goto out;
        }
    }
    rc = 0;
out:
    free(um);
    return rc;
}
