/* The tokenizer's lookup structures: a hash map from piece strings to ids
 * (BPE asks it "is left+right a piece?" once per candidate merge) and a byte
 * trie (longest-match of user-defined symbols, and the unigram lattice's
 * "which pieces start here?"). Both are built once at load and only read
 * afterwards. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

int gf_tok_grow(void **p, size_t *cap, size_t n, size_t elt, gf_error *err) {
    if (n <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < n) {
        if (c > SIZE_MAX / 2 / elt) return gf_fail(err, "tokenizer: input too large");
        c *= 2;
    }
    void *g = realloc(*p, c * elt);
    if (!g) return gf_fail(err, "tokenizer: out of memory (%zu bytes)", c * elt);
    *p = g;
    *cap = c;
    return 0;
}

/* 8 bytes at a time with a multiply-xorshift mix: pieces are short, and the
 * BPE loop hashes every candidate merge. */
uint64_t gf_str_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        /* the last 1..7 bytes without a byte loop: two overlapping 4-byte
         * loads, or first/middle/last byte for 1..3 */
        uint64_t w;
        if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, s, 4);
            memcpy(&b, s + n - 4, 4);
            w = (uint64_t)a | (uint64_t)b << 32;
        } else {
            w = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
                (uint64_t)(unsigned char)s[n - 1] << 16;
        }
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
    }
    h *= 0xFF51AFD7ED558CCDull;
    return h ^ (h >> 32);
}

int gf_str_map_build(str_map *m, const char *const *keys, const uint32_t *lens, int n_keys,
                  const uint8_t *want, gf_error *err) {
    size_t cap = 16;
    while (cap < 2 * (size_t)n_keys) cap *= 2;
    m->keys = keys;
    m->lens = lens;
    m->mask = (uint32_t)(cap - 1);
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return gf_fail(err, "tokenizer: out of memory for the piece table");
    for (size_t i = 0; i < cap; i++) m->slots[i] = (str_slot){-1, 0};
    for (int id = 0; id < n_keys; id++) {
        if (!want[id]) continue;
        uint64_t h = gf_str_hash(keys[id], lens[id]);
        uint32_t tag = (uint32_t)(h >> 32);
        uint32_t i = (uint32_t)h & m->mask;
        while (m->slots[i].id >= 0) {
            int32_t o = m->slots[i].id;
            if (lens[o] == lens[id] && !memcmp(keys[o], keys[id], lens[id]))
                return gf_fail(err, "piece '%s' is defined twice (ids %d and %d)", keys[id], o, id);
            i = (i + 1) & m->mask;
        }
        m->slots[i] = (str_slot){id, tag};
    }
    return 0;
}

int32_t gf_str_map_find(const str_map *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint64_t h = gf_str_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        str_slot sl = m->slots[i];
        if (sl.id < 0) return -1;
        if (sl.tag == tag && m->lens[sl.id] == n && !memcmp(m->keys[sl.id], s, n)) return sl.id;
    }
}

void gf_str_map_free(str_map *m) {
    free(m->slots);
    m->slots = NULL;
}

/* ---- byte trie ----------------------------------------------------------- */

int gf_byte_trie_init(byte_trie *t, gf_error *err) {
    memset(t, 0, sizeof *t);
    for (int c = 0; c < 256; c++) t->root[c] = -1;
    t->cap_nodes = 1024;
    t->value = malloc((size_t)t->cap_nodes * sizeof *t->value);
    t->edge_mask = 2047;
    t->edge_key = calloc(t->edge_mask + 1, sizeof *t->edge_key);
    t->edge_child = malloc((t->edge_mask + 1) * sizeof *t->edge_child);
    if (!t->value || !t->edge_key || !t->edge_child) {
        /* a trie that failed to start is its caller's to forget, not to free
         * (the user-defined pieces' trie is freed only once started) */
        gf_byte_trie_free(t);
        return gf_fail(err, "tokenizer: out of memory");
    }
    t->value[0] = -1;
    t->n_nodes = 1;
    return 0;
}

static void edge_put(uint64_t *keys, int32_t *child, uint64_t mask, uint64_t key, int32_t c) {
    uint64_t i = ((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
    while (keys[i] != 0) i = (i + 1) & mask;
    keys[i] = key;
    child[i] = c;
}

static int edge_grow(byte_trie *t, gf_error *err) {
    uint64_t cap = 2 * (t->edge_mask + 1);
    uint64_t *keys = calloc(cap, sizeof *keys);
    int32_t *child = malloc(cap * sizeof *child);
    if (!keys || !child) {
        free(keys);
        free(child);
        return gf_fail(err, "tokenizer: out of memory for the trie");
    }
    for (uint64_t i = 0; i <= t->edge_mask; i++)
        if (t->edge_key[i]) edge_put(keys, child, cap - 1, t->edge_key[i], t->edge_child[i]);
    free(t->edge_key);
    free(t->edge_child);
    t->edge_key = keys;
    t->edge_child = child;
    t->edge_mask = cap - 1;
    return 0;
}

static int32_t new_node(byte_trie *t, gf_error *err) {
    if (t->n_nodes == t->cap_nodes) {
        if (t->cap_nodes > INT32_MAX / 2) return gf_fail(err, "tokenizer: trie too large");
        int32_t *g = realloc(t->value, 2 * (size_t)t->cap_nodes * sizeof *g);
        if (!g) return gf_fail(err, "tokenizer: out of memory for the trie");
        t->value = g;
        t->cap_nodes *= 2;
    }
    t->value[t->n_nodes] = -1;
    return t->n_nodes++;
}

int gf_byte_trie_insert(byte_trie *t, const char *s, size_t n, int32_t id, gf_error *err) {
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int32_t next = byte_trie_child(t, node, c);
        if (next < 0) {
            if ((next = new_node(t, err)) < 0) return -1;
            if (node == 0) {
                t->root[c] = next;
            } else {
                if (2 * (t->n_edges + 1) > t->edge_mask + 1 && edge_grow(t, err)) return -1;
                edge_put(t->edge_key, t->edge_child, t->edge_mask, (((uint64_t)node << 8) | c) + 1, next);
                t->n_edges++;
            }
        }
        node = next;
    }
    t->value[node] = id;
    return 0;
}

void gf_byte_trie_free(byte_trie *t) {
    free(t->value);
    free(t->edge_key);
    free(t->edge_child);
    memset(t, 0, sizeof *t);
}

size_t gf_user_symbol_len(const gf_tokenizer *t, const char *s, size_t n) {
    if (!t->has_user) return 0;
    size_t best = 0;
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        node = byte_trie_child(&t->user, node, (unsigned char)s[i]);
        if (node < 0) break;
        if (t->user.value[node] >= 0) best = i + 1;
    }
    return best;
}

/* ---- UTF-8 as SentencePiece validates it --------------------------------- */

size_t gf_utf8_valid_len(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    uint32_t cp;
    size_t len;
    if (n >= 2 && (s[0] & 0xE0) == 0xC0) {
        cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        len = 2;
        if ((s[1] & 0xC0) != 0x80 || cp < 0x80) return 0;
    } else if (n >= 3 && (s[0] & 0xF0) == 0xE0) {
        cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        len = 3;
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || cp < 0x800) return 0;
    } else if (n >= 4 && (s[0] & 0xF8) == 0xF0) {
        cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
             (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        len = 4;
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80 || cp < 0x10000)
            return 0;
    } else {
        return 0;
    }
    if ((cp >= 0xD800 && cp < 0xE000) || cp > 0x10FFFF) return 0;
    return len;
}

int32_t gf_tok_piece_to_id(const gf_tokenizer *t, const char *s, size_t n) {
    int32_t id = gf_str_map_find(&t->reserved, s, n);
    if (id >= 0) return id;
    id = gf_str_map_find(&t->pieces, s, n);
    return id >= 0 ? id : t->unk_id;
}
