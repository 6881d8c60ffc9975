/* Text through fixed tokenizers (what `prepare`, `tokenize`, prompts and
 * chat messages feed them): the Gemma-like BPE of the fixture model
 * (identity normaliser, byte fallback, turn pieces), a unigram model with
 * byte fallback, user-defined and control pieces and a dummy prefix, and a
 * unigram model with a small custom normaliser (a precompiled character
 * map). Every id must lie in the vocabulary, decode, and stream as
 * gf_decode gives it; and the Gemma-like model, which neither normalises
 * nor adds anything, must give back the text it encoded when that is valid
 * UTF-8, but for U+2581: SentencePiece's sign for a space, which the
 * decoder writes as one (as spm_decode does). */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

static const char *const NAMES[] = {"model/tokenizer.model", "tokenizers/unigram_bytes.model",
                                    "tokenizers/custom_norm.model"};
#define N_TK (sizeof NAMES / sizeof *NAMES)
static gf_tokenizer *g_tk[N_TK];
static gf_tok_buf *g_enc, *g_dec;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    gf_error err;
    for (size_t i = 0; i < N_TK; i++) {
        char path[1024];
        fz_data_path(path, sizeof path, NAMES[i]);
        if (!(g_tk[i] = gf_tokenizer_load(path, &err)))
            fz_fail("%s (run from the repository's root, or set GRIFFIN_FUZZ_DATA)", err.msg);
    }
    if (!(g_enc = gf_tok_buf_new()) || !(g_dec = gf_tok_buf_new())) fz_fail("out of memory");
    return 0;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = gf_utf8_valid_len(s + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

/* text with every U+2581 as a space: what decoding its ids gives */
static size_t spaces(const char *text, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (n - i >= 3 && !memcmp(text + i, "\xe2\x96\x81", 3)) {
            out[k++] = ' ';
            i += 2;
        } else {
            out[k++] = text[i];
        }
    }
    return k;
}

#define MAX_TEXT 65536
static char g_want[MAX_TEXT];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_TEXT) return -1; /* encoding cost grows with the text; long texts find nothing short ones do not */
    const char *text = (const char *)data;
    int valid = valid_utf8(text, size);
    size_t want = valid ? spaces(text, size, g_want) : 0;
    for (size_t k = 0; k < N_TK; k++) {
        const gf_tokenizer *t = g_tk[k];
        gf_error err;
        const int32_t *ids;
        size_t n;
        if (gf_encode(t, text, size, g_enc, &ids, &n, &err)) fz_fail("gf_encode: %s", err.msg);
        int V = gf_tokenizer_vocab_size(t);
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= V) fz_fail("%s gave id %d of a vocabulary of %d", NAMES[k], ids[i], V);
        const char *out;
        size_t len;
        if (gf_decode(t, ids, n, g_dec, &out, &len, &err)) fz_fail("gf_decode of encoded ids: %s", err.msg);
        if (k == 0 && valid && (len != want || memcmp(out, g_want, want) != 0))
            fz_fail("the Gemma-like tokenizer did not give back the text it encoded (%zu bytes, %zu back)", want, len);
        gf_detok_stream *s = gf_detok_stream_new(t, 1, &err);
        if (!s) fz_fail("gf_detok_stream_new: %s", err.msg);
        size_t at = 0;
        const char *p;
        size_t pl;
        for (size_t i = 0; i <= n; i++) {
            if (i < n) {
                if (gf_detok_stream_push(s, ids[i], &p, &pl, &err)) fz_fail("gf_detok_stream_push: %s", err.msg);
            } else {
                gf_detok_stream_flush(s, &p, &pl);
            }
            if (pl > len - at || memcmp(p, out + at, pl) != 0) fz_fail("%s: the streamed text is not gf_decode's", NAMES[k]);
            at += pl;
        }
        if (at != len) fz_fail("%s: the stream gave %zu bytes of gf_decode's %zu", NAMES[k], at, len);
        gf_detok_stream_free(s);
    }
    return 0;
}
