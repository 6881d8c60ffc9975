/* Loading a tokenizer.model and encoding text with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer.h"
#include "util.h"

/* Gemma's tokenizer.model is 4 MB; anything past this is not a tokenizer. */
#define MAX_MODEL_BYTES ((size_t)1 << 30)

static int build_lookups(gf_tokenizer *t, gf_error *err) {
    int n = t->n_pieces;
    uint8_t *want = calloc((size_t)n + 1, 1);
    if (!want) return gf_fail(err, "%s: out of memory", t->path);
    int rc = -1;
    const char *const *keys = (const char *const *)t->piece;
    for (int i = 0; i < n; i++)
        want[i] = t->type[i] == SPM_NORMAL || t->type[i] == SPM_USER_DEFINED || t->type[i] == SPM_UNUSED;
    if (gf_str_map_build(&t->pieces, keys, t->piece_len, n, want, err)) goto out;
    for (int i = 0; i < n; i++) want[i] = !want[i];
    if (gf_str_map_build(&t->reserved, keys, t->piece_len, n, want, err)) goto out;
    for (int i = 0; i < n; i++) {
        if (t->type[i] != SPM_USER_DEFINED) continue;
        if (!t->has_user) {
            if (gf_byte_trie_init(&t->user, err)) goto out;
            t->has_user = 1;
        }
        if (gf_byte_trie_insert(&t->user, t->piece[i], t->piece_len[i], i, err)) goto out;
    }
    if (t->model_type == SPM_UNIGRAM) {
        if (gf_byte_trie_init(&t->vocab, err)) goto out;
        for (int i = 0; i < n; i++)
            if (t->type[i] == SPM_NORMAL || t->type[i] == SPM_USER_DEFINED || t->type[i] == SPM_UNUSED)
                if (gf_byte_trie_insert(&t->vocab, t->piece[i], t->piece_len[i], i, err)) goto out;
    }
    rc = 0;
out:
    free(want);
    if (rc) {
        /* name the file: gf_str_map_build's duplicate message lacks it */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        if (strncmp(msg, t->path, strlen(t->path)) != 0) gf_fail(err, "%s: %s", t->path, msg);
    }
    return rc;
}

gf_tokenizer *gf_tokenizer_from_memory(const void *data, size_t n, const char *name, gf_error *err) {
    gf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        gf_fail(err, "%s: out of memory", name);
        return NULL;
    }
    snprintf(t->path, sizeof t->path, "%s", name);
    if (gf_spm_proto_parse(t, data, n, err) || build_lookups(t, err)) {
        gf_tokenizer_free(t);
        return NULL;
    }
    return t;
}

gf_tokenizer *gf_tokenizer_load(const char *path, gf_error *err) {
    char file[4096];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (gf_path_join(file, sizeof file, path, "tokenizer.model", err)) return NULL;
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    size_t n;
    char *data = gf_read_text_file(file, MAX_MODEL_BYTES, &n, err);
    if (!data) return NULL;
    gf_tokenizer *t = gf_tokenizer_from_memory(data, n, file, err);
    free(data);
    return t;
}

void gf_tokenizer_free(gf_tokenizer *t) {
    if (!t) return;
    gf_str_map_free(&t->pieces);
    gf_str_map_free(&t->reserved);
    if (t->has_user) gf_byte_trie_free(&t->user);
    gf_byte_trie_free(&t->vocab);
    gf_charsmap_free(&t->norm);
    free(t->piece);
    free(t->piece_len);
    free(t->score);
    free(t->type);
    free(t->arena);
    free(t->unk_surface);
    free(t);
}

int gf_tokenizer_vocab_size(const gf_tokenizer *t) { return t->n_pieces; }

const char *gf_tokenizer_piece(const gf_tokenizer *t, int id) {
    return id >= 0 && id < t->n_pieces ? t->piece[id] : NULL;
}

int gf_tokenizer_find(const gf_tokenizer *t, const char *piece) {
    size_t n = strlen(piece);
    int32_t id = gf_str_map_find(&t->reserved, piece, n);
    return id >= 0 ? id : gf_str_map_find(&t->pieces, piece, n);
}

int gf_tokenizer_bos_id(const gf_tokenizer *t) { return t->bos_id; }
int gf_tokenizer_eos_id(const gf_tokenizer *t) { return t->eos_id; }
int gf_tokenizer_unk_id(const gf_tokenizer *t) { return t->unk_id; }

gf_tok_buf *gf_tok_buf_new(void) { return calloc(1, sizeof(gf_tok_buf)); }

void gf_tok_buf_free(gf_tok_buf *b) {
    if (!b) return;
    free(b->norm);
    free(b->ids);
    free(b->text);
    free(b->work);
    free(b->seg);
    free(b);
}

int gf_encode(const gf_tokenizer *t, const char *text, size_t n, gf_tok_buf *b,
              const int32_t **ids, size_t *n_ids, gf_error *err) {
    b->n_ids = 0;
    *ids = b->ids;
    *n_ids = 0;
    size_t len;
    if (gf_normalize(t, text, n, b, &len, err)) return -1;
    int rc = t->model_type == SPM_BPE ? gf_bpe_segment(t, b->norm, len, b, err)
                                      : gf_unigram_segment(t, b->norm, len, b, err);
    if (rc) return -1;
    /* An unknown piece becomes its UTF-8 bytes when the model has byte
     * fallback (so at most len ids); without it, a run of unknown pieces is
     * one unknown id, as SentencePiece merges them. */
    if (gf_tok_grow((void **)&b->ids, &b->ids_cap, len + 1, sizeof *b->ids, err)) return -1;
    size_t o = 0;
    int prev_unk = 0;
    for (size_t i = 0; i < b->n_seg; i++) {
        const struct seg_piece *p = &b->seg[i];
        /* A lone character that is a control piece (spm_train's
         * --control_symbols=x) ends BPE as that control id, which has no
         * text; SentencePiece fails on such input, and so do we. */
        if (t->type[p->id] == SPM_CONTROL)
            return gf_fail(err, "the text contains \"%.*s\", which this tokenizer reserves as control piece %d",
                           (int)p->len, b->norm + p->start, p->id);
        int unk = p->id == t->unk_id;
        if (unk && t->byte_fallback) {
            for (uint32_t k = 0; k < p->len; k++) b->ids[o++] = t->byte_id[(unsigned char)b->norm[p->start + k]];
        } else if (!(unk && prev_unk)) {
            b->ids[o++] = p->id;
        }
        prev_unk = unk;
    }
    b->n_ids = o;
    *ids = b->ids;
    *n_ids = o;
    return 0;
}
