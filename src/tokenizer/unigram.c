/* Unigram segmentation: the Viterbi path through the lattice of every piece
 * that occurs in the text, scoring a path by the sum of its pieces' log
 * probabilities, as SentencePiece's optimized unigram encoder does it:
 *
 *  - positions are byte offsets; the lattice is walked left to right, one
 *    character start at a time, keeping only the best path ending at each
 *    offset;
 *  - a user-defined symbol scores len * max_score - 0.1 so it always wins;
 *  - a character no piece covers becomes the unknown piece, scored
 *    min_score - 10;
 *  - UNUSED pieces are never chosen;
 *  - ties keep the first candidate found (earlier start, then shorter piece).
 *
 * The arithmetic mirrors the reference's types: a piece's candidate score is
 * summed in double and stored as float, the unknown candidate in float.
 * Matching those roundings is what makes near-tied paths come out the same. */
#include <string.h>

#include "tokenizer.h"
#include "util.h"

typedef struct {
    int32_t id;
    int32_t start; /* -1: no path ends here yet */
    float score;
} best_node;

int gf_unigram_segment(const gf_tokenizer *t, const char *s, size_t n, gf_tok_buf *b, gf_error *err) {
    b->n_seg = 0;
    if (n == 0) return 0;
    if (n > INT32_MAX - 1) return gf_fail(err, "tokenizer: a line of %zu bytes is too long", n);
    if (gf_tok_grow(&b->work, &b->work_cap, (n + 1) * sizeof(best_node), 1, err)) return -1;
    best_node *best = (best_node *)b->work;
    for (size_t i = 0; i <= n; i++) best[i] = (best_node){-1, -1, 0.0f};
    const float unk_score = t->min_score - 10.0f;
    const byte_trie *trie = &t->vocab;
    for (size_t start = 0; start < n;) {
        const float till_here = best[start].score;
        const size_t mblen = one_char_len(s + start, n - start);
        int has_single = 0;
        int32_t node = 0;
        for (size_t k = start; k < n; k++) {
            node = byte_trie_child(trie, node, (unsigned char)s[k]);
            if (node < 0) break;
            int32_t id = trie->value[node];
            if (id < 0 || t->type[id] == SPM_UNUSED) continue;
            size_t end = k + 1, length = end - start;
            double score = t->type[id] == SPM_USER_DEFINED
                               ? (double)((float)length * t->max_score) - 0.1
                               : (double)t->score[id];
            double cand = score + (double)till_here;
            best_node *target = &best[end];
            if (target->start == -1 || cand > (double)target->score) {
                target->score = (float)cand;
                target->start = (int32_t)start;
                target->id = id;
            }
            if (length == mblen) has_single = 1;
        }
        if (!has_single) {
            best_node *target = &best[start + mblen];
            float cand = unk_score + till_here;
            if (target->start == -1 || cand > target->score) {
                target->score = cand;
                target->start = (int32_t)start;
                target->id = t->unk_id;
            }
        }
        start += mblen;
    }
    /* Walk back from the end, then reverse into document order. */
    size_t count = 0;
    for (size_t end = n; end > 0; end = (size_t)best[end].start) {
        if (best[end].start < 0) return gf_fail(err, "tokenizer: internal error: broken lattice");
        count++;
    }
    if (gf_tok_grow((void **)&b->seg, &b->seg_cap, count, sizeof *b->seg, err)) return -1;
    size_t i = count;
    for (size_t end = n; end > 0; end = (size_t)best[end].start) {
        uint32_t st = (uint32_t)best[end].start;
        b->seg[--i] = (struct seg_piece){st, (uint32_t)(end - st), best[end].id};
    }
    b->n_seg = count;
    return 0;
}
