/* BPE segmentation as SentencePiece's bpe::Model does it: start from
 * characters (user-defined symbols as single frozen symbols), then keep
 * merging the adjacent pair whose concatenation is the highest-scoring piece
 * (ties: the leftmost pair) until no adjacent pair forms a piece. Candidate
 * pairs sit in a max-heap; a pair whose symbols changed since it was pushed
 * is recognised by its length and skipped.
 *
 * A merge that lands on an UNUSED piece is undone at the end by splitting it
 * back into the two symbols it was made of, and so on down. */
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

/* How an UNUSED piece was formed: the length of its left part. Merges are
 * recorded as their pairs are pushed, and a later record for the same piece
 * replaces an earlier one, as SentencePiece's map assignment does. Pieces are
 * unique strings, so the piece id is the key; the split is by length, since
 * every occurrence of the piece has the same text. */
typedef struct {
    int32_t id;
    uint32_t len_left;
} unused_merge;

/* The records, last one per id wins, in an open-addressing table of
 * 2^k >= 2 n slots (slot id -1 = empty). */
static unused_merge *unused_table(const unused_merge *rec, size_t n, uint32_t *mask, gf_error *err) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    unused_merge *tab = malloc(cap * sizeof *tab);
    if (!tab) {
        gf_fail(err, "tokenizer: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cap; i++) tab[i].id = -1;
    *mask = (uint32_t)(cap - 1);
    for (size_t i = 0; i < n; i++) {
        size_t h = ((uint32_t)rec[i].id * 0x9E3779B1u) & *mask;
        while (tab[h].id != -1 && tab[h].id != rec[i].id) h = (h + 1) & *mask;
        tab[h] = rec[i];
    }
    return tab;
}

static const unused_merge *unused_find(const unused_merge *tab, uint32_t mask, int32_t id) {
    for (size_t h = ((uint32_t)id * 0x9E3779B1u) & mask;; h = (h + 1) & mask) {
        if (tab[h].id == id) return &tab[h];
        if (tab[h].id == -1) return NULL;
    }
}

static int emit(gf_tok_buf *b, uint32_t start, uint32_t len, int32_t id, gf_error *err) {
    if (gf_tok_grow((void **)&b->seg, &b->seg_cap, b->n_seg + 1, sizeof *b->seg, err)) return -1;
    b->seg[b->n_seg++] = (struct seg_piece){start, len, id};
    return 0;
}

/* Splits an UNUSED piece back into the two symbols it was merged from, and
 * those again while they are UNUSED, emitting the leaves left to right. The
 * pending spans sit on an explicit stack: each split replaces one span by two
 * strictly shorter ones, so it never holds more than len + 1 spans, however
 * long the piece. */
static int resegment(const gf_tokenizer *t, const char *s, const unused_merge *tab, uint32_t mask,
                     uint32_t start, uint32_t len, gf_tok_buf *b, uint32_t **stack, size_t *cap,
                     gf_error *err) {
    size_t top = 0;
    if (gf_tok_grow((void **)stack, cap, 2, sizeof **stack, err)) return -1;
    (*stack)[top++] = start, (*stack)[top++] = len;
    while (top > 0) {
        uint32_t l = (*stack)[--top], st = (*stack)[--top];
        int32_t id = gf_tok_piece_to_id(t, s + st, l);
        const unused_merge *u = t->type[id] == SPM_UNUSED ? unused_find(tab, mask, id) : NULL;
        if (!u) {
            if (emit(b, st, l, id, err)) return -1;
            continue;
        }
        if (gf_tok_grow((void **)stack, cap, top + 4, sizeof **stack, err)) return -1;
        (*stack)[top++] = st + u->len_left, (*stack)[top++] = l - u->len_left; /* right, later */
        (*stack)[top++] = st, (*stack)[top++] = u->len_left;
    }
    return 0;
}

int gf_bpe_segment(const gf_tokenizer *t, const char *s, size_t n, gf_tok_buf *b, gf_error *err) {
    b->n_seg = 0;
    if (n == 0) return 0;
    if (n > INT32_MAX / 4) return gf_fail(err, "tokenizer: a line of %zu bytes is too long", n);
    /* One work block: n symbols, and at most 2 pushes per merge plus the
     * n - 1 initial pairs, so 3n heap entries. */
    size_t need = n * sizeof(sym) + 3 * n * sizeof(pair) + 64;
    if (gf_tok_grow(&b->work, &b->work_cap, need, 1, err)) return -1;
    sym *sy = (sym *)b->work;
    pair *heap = (pair *)(sy + n);
    size_t n_heap = 0;
    unused_merge *um = NULL, *tab = NULL;
    size_t n_um = 0, cap_um = 0, cap_stack = 0;
    uint32_t mask = 0, *stack = NULL;

    int32_t n_sym = 0;
    for (size_t i = 0; i < n;) {
        size_t l = gf_user_symbol_len(t, s + i, n - i);
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
            int32_t id_ = gf_str_map_find(&t->pieces, s + sy[l_].start, sz_);                    \
            if (id_ >= 0) {                                                                   \
                heap_push(heap, &n_heap, (pair){t->score[id_], l_, r_, sz_});                 \
                if (t->type[id_] == SPM_UNUSED) {                                             \
                    if (gf_tok_grow((void **)&um, &cap_um, n_um + 1, sizeof *um, err)) goto out; \
                    um[n_um++] = (unused_merge){id_, sy[l_].len};                             \
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
    if (n_um > 0 && !(tab = unused_table(um, n_um, &mask, err))) goto out;
    for (int32_t i = 0; i != -1 && n_sym > 0; i = sy[i].next) {
        if (!tab) {
            if (emit(b, sy[i].start, sy[i].len, gf_tok_piece_to_id(t, s + sy[i].start, sy[i].len), err))
                goto out;
        } else if (resegment(t, s, tab, mask, sy[i].start, sy[i].len, b, &stack, &cap_stack, err)) {
            goto out;
        }
    }
    rc = 0;
out:
    free(um);
    free(tab);
    free(stack);
    return rc;
}
