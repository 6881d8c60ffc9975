/* The normaliser's precompiled character map. spm_train compiles its rules
 * (nmt_nfkc by default: NFKC plus some whitespace and control-character
 * clean-up) into NormalizerSpec.precompiled_charsmap:
 *
 *   uint32 LE  trie_size          bytes of the trie that follows
 *   trie       trie_size bytes     a Darts-clone double array of uint32 units
 *   strings    the rest            NUL-terminated replacement strings; a
 *                                  trie value is an offset into them
 *
 * A Darts-clone unit packs: bit 8 "has a leaf child", the label in bits 0..7
 * (bit 31 set on leaves so they never match a label), the value in bits
 * 0..30 of a leaf, and the child offset in bits 10..31, scaled by 2^8 when
 * bit 9 is set. Every index and offset read here is bounds-checked, since
 * the map comes from the model file. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "util.h"

static inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
static inline int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }

int gf_charsmap_load(charsmap *cm, const uint8_t *blob, size_t n, const char *file, gf_error *err) {
    memset(cm, 0, sizeof *cm);
    if (n <= 4) return gf_fail(err, "%s: precompiled_charsmap is truncated (%zu bytes)", file, n);
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                         (uint32_t)blob[3] << 24;
    if (trie_size >= n - 4 + 1 || trie_size < 4)
        return gf_fail(err, "%s: precompiled_charsmap: trie size %u does not fit its %zu bytes", file,
                       trie_size, n);
    size_t n_units = trie_size / 4;
    size_t repl_len = n - 4 - trie_size;
    /* Units are copied to aligned host-order memory; the strings get a
     * terminating NUL so a value pointing at the last string stays inside. */
    uint32_t *units = malloc(n_units * 4 + repl_len + 1);
    if (!units) return gf_fail(err, "%s: out of memory for the character map", file);
    for (size_t i = 0; i < n_units; i++) {
        const uint8_t *b = blob + 4 + 4 * i;
        units[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    char *repl = (char *)(units + n_units);
    memcpy(repl, blob + 4 + trie_size, repl_len);
    repl[repl_len] = 0;
    cm->units = units;
    cm->n_units = (uint32_t)n_units;
    cm->repl = repl;
    cm->repl_len = (uint32_t)repl_len;
    cm->owned = units;
    return 0;
}

void gf_charsmap_free(charsmap *cm) {
    free(cm->owned);
    memset(cm, 0, sizeof *cm);
}

/* SentencePiece asks for at most 32 matches and keeps the longest of them;
 * the cap is part of its behaviour, so it is kept here too. */
enum { MAX_MATCHES = 32 };

size_t gf_charsmap_match(const charsmap *cm, const char *s, size_t n, const char **repl) {
    const uint32_t *a = cm->units;
    uint32_t n_units = cm->n_units;
    size_t best_len = 0;
    uint32_t best_value = 0;
    int found = 0;
    uint32_t id = unit_offset(a[0]);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        id ^= c;
        if (id >= n_units) break;
        uint32_t u = a[id];
        if (unit_label(u) != c) break;
        id ^= unit_offset(u);
        if (id >= n_units) break;
        if (unit_has_leaf(u)) {
            if (found < MAX_MATCHES) {
                best_len = i + 1;
                best_value = unit_value(a[id]);
            }
            found++;
        }
    }
    if (best_len == 0) return 0;
    if (best_value >= cm->repl_len) {
        /* A value pointing outside the strings: treat as no rule rather than
         * read out of bounds (a well-formed map never does this). */
        return 0;
    }
    *repl = cm->repl + best_value;
    return best_len;
}
