/* The SentencePiece tokenizer's internals: the parsed model, the lookup
 * structures built from it, and the per-call work space.
 *
 * Encoding is normalise -> segment (BPE merges or unigram Viterbi) -> map
 * unknown pieces to bytes when the model has byte fallback; decoding maps ids
 * back to surface text. Each stage lives in its own file; they share this
 * header. Everything here is read-only after gf_tokenizer_load, so several
 * threads may encode with one tokenizer as long as each has its own
 * gf_tok_buf. */
#ifndef GF_TOKENIZER_H
#define GF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"

/* SentencePiece's piece types (ModelProto.SentencePiece.Type). */
enum {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6,
};

/* TrainerSpec.ModelType. */
enum { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

/* ---- byte-string -> id map (open addressing) ---------------------------- */

/* A slot keeps 32 bits of the key's hash beside the id, so a probe that
 * misses is settled without touching the piece strings (most BPE lookups
 * miss: most adjacent pairs are not pieces). */
typedef struct {
    int32_t id; /* -1: empty */
    uint32_t tag;
} str_slot;

typedef struct {
    const char *const *keys; /* the tokenizer's piece strings, by id */
    const uint32_t *lens;
    str_slot *slots;
    uint32_t mask;           /* slot count - 1 (a power of two) */
} str_map;

uint64_t gf_str_hash(const char *s, size_t n);
/* Builds a map over the ids for which want[id] is non-zero. */
int gf_str_map_build(str_map *m, const char *const *keys, const uint32_t *lens, int n_keys,
                  const uint8_t *want, gf_error *err);
int32_t gf_str_map_find(const str_map *m, const char *s, size_t n); /* -1 when absent */
void gf_str_map_free(str_map *m);

/* ---- byte trie (hashed edges) -------------------------------------------- */

/* Node 0 is the root; value[node] is the id of the piece ending there or -1.
 * Edges are kept in a hash table keyed by (node, byte), with the root's edges
 * in a direct table since every walk starts there. */
typedef struct {
    int32_t root[256];
    int32_t *value;
    int32_t n_nodes, cap_nodes;
    uint64_t *edge_key; /* (node << 8 | byte) + 1; 0 = empty */
    int32_t *edge_child;
    uint64_t edge_mask;
    uint64_t n_edges;
} byte_trie;

int gf_byte_trie_init(byte_trie *t, gf_error *err);
int gf_byte_trie_insert(byte_trie *t, const char *s, size_t n, int32_t id, gf_error *err);
void gf_byte_trie_free(byte_trie *t);
static inline int32_t byte_trie_child(const byte_trie *t, int32_t node, unsigned char c) {
    if (node == 0) return t->root[c];
    uint64_t key = (((uint64_t)node << 8) | c) + 1;
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 17;
    for (uint64_t i = h & t->edge_mask;; i = (i + 1) & t->edge_mask) {
        if (t->edge_key[i] == key) return t->edge_child[i];
        if (t->edge_key[i] == 0) return -1;
    }
}

/* ---- the precompiled character map (normaliser rules) ------------------- */

/* A Darts-clone double array of uint32 units plus the NUL-separated
 * replacement strings it points into, as spm_train stores them in
 * NormalizerSpec.precompiled_charsmap. */
typedef struct {
    const uint32_t *units; /* little-endian on disk; copied to host order */
    uint32_t n_units;
    const char *repl;      /* replacement strings; repl[repl_len] == 0 */
    uint32_t repl_len;
    void *owned;
} charsmap;

int gf_charsmap_load(charsmap *cm, const uint8_t *blob, size_t n, const char *file, gf_error *err);
void gf_charsmap_free(charsmap *cm);
/* Longest rule matching a prefix of s[0..n): returns the matched length (0 =
 * none) and sets *repl to the NUL-terminated replacement. */
size_t gf_charsmap_match(const charsmap *cm, const char *s, size_t n, const char **repl);

/* ---- the model ------------------------------------------------------------ */

struct gf_tokenizer {
    char path[4096];
    int n_pieces;
    char **piece;       /* NUL-terminated copies, one arena */
    uint32_t *piece_len;
    float *score;
    uint8_t *type;
    int model_type;     /* SPM_BPE or SPM_UNIGRAM */
    int byte_fallback;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    char *unk_surface;
    int unk_id, bos_id, eos_id, pad_id;
    int32_t byte_id[256]; /* id of <0xNN>, or unk_id when the model lacks it */
    float min_score, max_score; /* over NORMAL pieces, as the unigram model uses */
    str_map pieces;     /* NORMAL, USER_DEFINED, UNUSED: what segmentation may produce */
    str_map reserved;   /* CONTROL, UNKNOWN, BYTE */
    byte_trie user;     /* user-defined symbols, matched before anything else */
    int has_user;
    byte_trie vocab;    /* unigram only: every piece of `pieces` */
    charsmap norm;
    int has_norm;
    char *arena;
};

/* Per-call work space and results, reused across calls so encoding a line
 * allocates nothing once the buffers have grown. */
struct gf_tok_buf {
    char *norm;          /* normalised text */
    size_t norm_cap;
    int32_t *ids;        /* encode result */
    size_t n_ids, ids_cap;
    char *text;          /* decode result */
    size_t text_len, text_cap;
    void *work;          /* segmentation scratch (symbols, heap, lattice) */
    size_t work_cap;
    struct seg_piece *seg; /* segmentation output: spans of norm with ids */
    size_t n_seg, seg_cap;
};

struct seg_piece {
    uint32_t start, len;
    int32_t id;
};

/* Grows *p (of *cap elements of size elt) to hold at least n. */
int gf_tok_grow(void **p, size_t *cap, size_t n, size_t elt, gf_error *err);

/* Parses a serialized ModelProto into t (fields set, no lookup structures). */
int gf_spm_proto_parse(gf_tokenizer *t, const uint8_t *data, size_t n, gf_error *err);

/* The stages. Each returns 0 or -1 with err set (only on out-of-memory). */
int gf_normalize(const gf_tokenizer *t, const char *in, size_t n, gf_tok_buf *b, size_t *out_len,
              gf_error *err);
int gf_bpe_segment(const gf_tokenizer *t, const char *s, size_t n, gf_tok_buf *b, gf_error *err);
int gf_unigram_segment(const gf_tokenizer *t, const char *s, size_t n, gf_tok_buf *b, gf_error *err);

/* Length of the longest user-defined symbol starting at s, or 0. Both the
 * normaliser (which leaves such symbols alone) and BPE (which keeps them
 * whole) match them first. */
size_t gf_user_symbol_len(const gf_tokenizer *t, const char *s, size_t n);

/* SentencePiece's id of a piece string: reserved pieces first, then ordinary
 * ones, else the unknown id. */
int32_t gf_tok_piece_to_id(const gf_tokenizer *t, const char *s, size_t n);

/* Length of the UTF-8 character starting at s, as SentencePiece's
 * OneCharLen reads a lead byte (no validation), clamped to n. */
static inline size_t one_char_len(const char *s, size_t n) {
    static const unsigned char len_of_hi[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t l = len_of_hi[(unsigned char)s[0] >> 4];
    return l < n ? l : n;
}

/* Decodes one UTF-8 character exactly as SentencePiece validates it:
 * returns its length, or 0 when s does not start with a valid character
 * (U+FFFD itself counts as valid). */
size_t gf_utf8_valid_len(const char *s, size_t n);

#endif
