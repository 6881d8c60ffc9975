/* Phonebook lookup (Jelassi et al. 2024, the retrieval test of the paper's
 * section 6.2): a book of "NAME : NUMBER ;" entries with distinct names, then
 * "? NAME :" for one of them; the answer is that name's number. A fixed-size
 * state has to keep every number it may be asked for, attention can look the
 * name up, so accuracy against the book's length separates the two. */
#include <string.h>

#include "util.h"
#include "tasks.h"

enum { SEP = TASK_FIRST_MARK, END, QUERY, FIRST_DIGIT, FIRST_SYMBOL = FIRST_DIGIT + 10 };

static void defaults(gf_task_config *c) {
    c->seq = 0; /* from the entries */
    c->symbols = 26;
    c->entries = 20;
    c->min_entries = 0;
    c->name_len = 3;
    c->number_len = 4;
}

/* Tokens of an entry, and of the query with its answer. */
static size_t entry_len(const gf_task_config *c) { return (size_t)c->name_len + (size_t)c->number_len + 2; }

static int check(gf_task_config *c, gf_error *err) {
    if (c->name_len < 1 || c->name_len > 16) return gf_fail(err, "phonebook: name_len %d must be in 1..16", c->name_len);
    if (c->number_len < 1 || c->number_len > 64)
        return gf_fail(err, "phonebook: number_len %d must be in 1..64", c->number_len);
    if (c->entries < 0 || c->entries > (1 << 20))
        return gf_fail(err, "phonebook: entries %d must be in 0..%d (0: as many as seq holds)", c->entries, 1 << 20);
    size_t w = entry_len(c);
    if (c->entries == 0) {
        if (c->seq == 0) return gf_fail(err, "phonebook: give the entries or the sequence length");
        /* as many entries as fit beside BOS and the query */
        size_t e = (c->seq - 1) / w;
        if (e < 2)
            return gf_fail(err, "phonebook: an example of %zu tokens cannot hold BOS, an entry and the query "
                           "(%zu tokens each): seq >= %zu", c->seq, w, 1 + 2 * w);
        c->entries = (int)(e - 1 > (1 << 20) ? (1 << 20) : e - 1);
    }
    size_t need = 1 + ((size_t)c->entries + 1) * w;
    if (c->seq == 0) c->seq = need;
    if (need > c->seq)
        return gf_fail(err, "phonebook: %d entries of %zu tokens, BOS and the query need %zu tokens, more than seq %zu",
                       c->entries, w, need, c->seq);
    if (c->min_entries == 0) c->min_entries = c->entries;
    if (c->min_entries < 1 || c->min_entries > c->entries)
        return gf_fail(err, "phonebook: min_entries %d must be in 1..entries (%d)", c->min_entries, c->entries);
    /* twice the names a book needs keeps redrawing a taken name rare */
    size_t names = 1;
    for (int i = 0; i < c->name_len; i++) names = gf_mul_sat(names, (size_t)c->symbols);
    if (names < 2 * (size_t)c->entries)
        return gf_fail(err, "phonebook: %d letters make %zu names of %d, too few for %d distinct names per book "
                       "(at least twice as many wanted: more symbols or a longer name_len)", c->symbols, names,
                       c->name_len, c->entries);
    return 0;
}

static void vocab(const gf_task_config *c, gf_task_vocab *v) {
    *v = gf_task_vocab_base();
    v->marker = QUERY;
    v->sep = SEP;
    v->end = END;
    v->first_digit = FIRST_DIGIT;
    v->first_symbol = FIRST_SYMBOL;
    v->n_symbols = c->symbols;
    v->vocab_size = FIRST_SYMBOL + c->symbols;
}

/* The set of a book's names: an open-addressing table of (offset + 1) of
 * each name in tok, a power of two at least twice the entries. */
static size_t work_slots(const gf_task_config *c) {
    size_t n = 2;
    while (n < 2 * (size_t)c->entries) n *= 2;
    return n;
}

/* Adds the name at tok + off unless the book has it; 1 when added. */
static int add_name(uint32_t *set, size_t slots, const int32_t *tok, size_t off, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the ids */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint32_t)tok[off + i]) * 1099511628211ull;
    for (size_t k = (size_t)h & (slots - 1);; k = (k + 1) & (slots - 1)) {
        if (set[k] == 0) {
            set[k] = (uint32_t)off + 1;
            return 1;
        }
        if (!memcmp(tok + set[k] - 1, tok + off, len * sizeof *tok)) return 0;
    }
}

static size_t example(const gf_task_config *c, const gf_task_vocab *v, uint64_t rng[4], uint32_t *set,
                      int32_t *tok, uint8_t *mask) {
    size_t nl = (size_t)c->name_len, ml = (size_t)c->number_len, w = entry_len(c), slots = work_slots(c);
    size_t E = (size_t)c->min_entries + (size_t)task_below(rng, (uint64_t)(c->entries - c->min_entries + 1));
    size_t L = 1 + (E + 1) * w;
    memset(set, 0, slots * sizeof *set);
    memset(mask, 0, L);
    tok[0] = v->bos;
    for (size_t e = 0; e < E; e++) {
        size_t off = 1 + e * w;
        do
            for (size_t i = 0; i < nl; i++) tok[off + i] = v->first_symbol + (int32_t)task_below(rng, (uint64_t)v->n_symbols);
        while (!add_name(set, slots, tok, off, nl));
        tok[off + nl] = v->sep;
        for (size_t i = 0; i < ml; i++) tok[off + nl + 1 + i] = v->first_digit + (int32_t)task_below(rng, 10);
        tok[off + w - 1] = v->end;
    }
    size_t q = 1 + (size_t)task_below(rng, E) * w, o = 1 + E * w;
    tok[o] = v->marker;
    memcpy(tok + o + 1, tok + q, nl * sizeof *tok);
    tok[o + 1 + nl] = v->sep;
    memcpy(tok + o + 2 + nl, tok + q + nl + 1, ml * sizeof *tok);
    memset(mask + o + 2 + nl, 1, ml);
    return L;
}

const task_ops gf_task_phonebook = {GF_TASK_PHONEBOOK, "phonebook", "query", defaults, check, vocab, work_slots, example};
