/* Normalisation, as SentencePiece's Normalizer does it before segmentation:
 *
 *  - user-defined symbols pass through untouched (matched longest-first);
 *  - otherwise the longest character-map rule rewrites a prefix (nmt_nfkc),
 *    or one UTF-8 character is copied as is, an invalid byte becoming U+FFFD;
 *  - with remove_extra_whitespaces, leading spaces go, runs of spaces
 *    collapse to one and trailing spaces go;
 *  - with add_dummy_prefix, the text gets one leading space, so that a word
 *    is the same piece at the start of a line as after a space;
 *  - with escape_whitespaces, every space becomes U+2581 ("▁").
 *
 * "Space" here is what the rules produce: a tab or a no-break space becomes a
 * space only if the character map says so. */
#include <string.h>

#include "tokenizer.h"
#include "util.h"

static const char SPACE_SYMBOL[] = "\xE2\x96\x81";

/* One normalisation step at the start of s: the bytes it consumes (> 0) and
 * the text it yields. */
static size_t norm_prefix(const gf_tokenizer *t, const char *s, size_t n, const char **out,
                          size_t *out_len) {
    size_t m = gf_user_symbol_len(t, s, n);
    if (m) {
        *out = s;
        *out_len = m;
        return m;
    }
    if (t->has_norm) {
        const char *repl;
        m = gf_charsmap_match(&t->norm, s, n, &repl);
        if (m) {
            *out = repl;
            *out_len = strlen(repl);
            return m;
        }
    }
    if ((unsigned char)s[0] < 0x80) {
        *out = s;
        *out_len = 1;
        return 1;
    }
    m = gf_utf8_valid_len(s, n);
    if (m == 0) {
        *out = "\xEF\xBF\xBD"; /* U+FFFD for one invalid byte */
        *out_len = 3;
        return 1;
    }
    *out = s;
    *out_len = m;
    return m;
}

int gf_normalize(const gf_tokenizer *t, const char *in, size_t n, gf_tok_buf *b, size_t *out_len,
              gf_error *err) {
    *out_len = 0;
    const char *r;
    size_t rn;
    if (t->remove_extra_whitespaces) {
        while (n > 0) {
            size_t used = norm_prefix(t, in, n, &r, &rn);
            if (!(rn == 1 && r[0] == ' ')) break;
            in += used;
            n -= used;
        }
    }
    if (n == 0) return 0;
    /* The output is at most 3 bytes per input byte (U+FFFD or ▁ for one byte)
     * unless a rule expands further; grow on demand for that case. */
    if (gf_tok_grow((void **)&b->norm, &b->norm_cap, 3 * n + 4, 1, err)) return -1;
    const int escape = t->escape_whitespaces;
    size_t o = 0;
    char *w = b->norm;
    if (t->add_dummy_prefix) {
        if (escape) {
            memcpy(w, SPACE_SYMBOL, 3);
            o = 3;
        } else {
            w[o++] = ' ';
        }
    }
    int prev_space = t->remove_extra_whitespaces;
    while (n > 0) {
        size_t used = norm_prefix(t, in, n, &r, &rn);
        if (prev_space)
            while (rn > 0 && r[0] == ' ') r++, rn--;
        if (rn > 0) {
            if (o + 3 * rn + n * 3 + 4 > b->norm_cap) {
                if (gf_tok_grow((void **)&b->norm, &b->norm_cap, o + 3 * rn + 3 * n + 4, 1, err))
                    return -1;
                w = b->norm;
            }
            for (size_t k = 0; k < rn; k++) {
                if (escape && r[k] == ' ') {
                    memcpy(w + o, SPACE_SYMBOL, 3);
                    o += 3;
                } else {
                    w[o++] = r[k];
                }
            }
            prev_space = r[rn - 1] == ' ';
        }
        in += used;
        n -= used;
        if (!t->remove_extra_whitespaces) prev_space = 0;
    }
    if (t->remove_extra_whitespaces) {
        if (escape) {
            while (o >= 3 && !memcmp(w + o - 3, SPACE_SYMBOL, 3)) o -= 3;
        } else {
            while (o >= 1 && w[o - 1] == ' ') o--;
        }
    }
    *out_len = o;
    return 0;
}
