/* A SentencePiece tokenizer.model (a serialized ModelProto: pieces, scores
 * and types, the trainer and normaliser specs, a precompiled character
 * map). A model it accepts encodes a few texts (ASCII, other scripts,
 * invalid UTF-8, its own pieces), decodes what it encoded and every id of
 * a stretch of its vocabulary, and streams them through the incremental
 * detokenizer, which must give gf_decode's text. */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

static const char *const TEXTS[] = {
    "Hello, world! 1234 <start_of_turn>user\n  tabs\tand  spaces ",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 \xef\xbc\xa1\xe2\x84\x83",
    "bad \xff\xfe utf-8 \xc3( \xe2\x82 \xf0\x9f\x98",
};

/* Streams ids through the incremental detokenizer; its text must be
 * gf_decode's. */
static void check_stream(const gf_tokenizer *t, const int32_t *ids, size_t n, const char *want, size_t want_len) {
    gf_error err;
    gf_detok_stream *s = gf_detok_stream_new(t, 1, &err);
    if (!s) fz_fail("gf_detok_stream_new: %s", err.msg);
    char got[1 << 14];
    size_t k = 0;
    const char *p;
    size_t len;
    for (size_t i = 0; i < n; i++) {
        if (gf_detok_stream_push(s, ids[i], &p, &len, &err) != 0) fz_fail("gf_detok_stream_push: %s", err.msg);
        if (k + len > sizeof got) goto out;
        memcpy(got + k, p, len);
        k += len;
    }
    gf_detok_stream_flush(s, &p, &len);
    if (k + len > sizeof got) goto out;
    memcpy(got + k, p, len);
    k += len;
    if (k != want_len || memcmp(got, want, k) != 0)
        fz_fail("the streamed text (%zu bytes) is not gf_decode's (%zu bytes)", k, want_len);
out:
    gf_detok_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT) return -1;
    gf_error err;
    gf_tokenizer *t = gf_tokenizer_from_memory(data, size, "tokenizer.model", &err);
    if (!t) {
        fz_check_error(&err, "gf_tokenizer_from_memory");
        return 0;
    }
    int V = gf_tokenizer_vocab_size(t);
    gf_tok_buf *b = gf_tok_buf_new(), *b2 = gf_tok_buf_new();
    if (!b || !b2) fz_fail("out of memory");
    /* the fixed texts, then the pieces themselves (a stretch of the vocabulary) */
    char text[4096];
    size_t texts = sizeof TEXTS / sizeof *TEXTS;
    for (size_t k = 0; k <= texts; k++) {
        size_t n = 0;
        if (k < texts) {
            n = strlen(TEXTS[k]);
            memcpy(text, TEXTS[k], n);
        } else {
            for (int id = 0; id < V && id < 64; id++) {
                const char *piece = gf_tokenizer_piece(t, id);
                size_t pl = piece ? strlen(piece) : 0;
                if (n + pl + 1 > sizeof text) break;
                memcpy(text + n, piece, pl);
                n += pl;
                text[n++] = ' ';
            }
        }
        const int32_t *ids;
        size_t n_ids;
        if (gf_encode(t, text, n, b, &ids, &n_ids, &err) != 0) {
            fz_check_error(&err, "gf_encode");
            continue;
        }
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] < 0 || ids[i] >= V) fz_fail("gf_encode gave id %d of a vocabulary of %d", ids[i], V);
        const char *out;
        size_t len;
        if (gf_decode(t, ids, n_ids, b2, &out, &len, &err) != 0) fz_fail("gf_decode of encoded ids: %s", err.msg);
        check_stream(t, ids, n_ids, out, len);
    }
    /* ids in order from the start, and from the end, of the vocabulary */
    int32_t ids[256];
    size_t n = 0;
    for (int id = 0; id < V && n < 128; id++) ids[n++] = id;
    for (int id = V - 1; id >= 128 && n < 256; id--) ids[n++] = id;
    const char *out;
    size_t len;
    if (gf_decode(t, ids, n, b2, &out, &len, &err) != 0) fz_fail("gf_decode of ids in the vocabulary: %s", err.msg);
    check_stream(t, ids, n, out, len);
    int32_t bad = V;
    if (gf_decode(t, &bad, 1, b2, &out, &len, &err) == 0) fz_fail("gf_decode took id %d of a vocabulary of %d", V, V);
    fz_check_error(&err, "gf_decode");
    (void)gf_tokenizer_find(t, "<start_of_turn>");
    (void)gf_tokenizer_bos_id(t);
    (void)gf_tokenizer_eos_id(t);
    (void)gf_tokenizer_unk_id(t);
    gf_tok_buf_free(b);
    gf_tok_buf_free(b2);
    gf_tokenizer_free(t);
    return 0;
}
