/* The tokenizer against SentencePiece itself. tests/tokenizer/build_fixtures.sh
 * (run by `make test`) trains four models with Debian's spm_train on a
 * generated corpus and records what spm_encode and spm_decode make of a set
 * of hard test lines and of random id sequences. Here the library and the
 * `griffin tokenize` / `griffin detokenize` commands must reproduce every
 * line exactly.
 *
 * The fixtures folder comes from GRIFFIN_SPM_FIXTURES (default
 * build/spm-fixtures). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *MODELS[] = {"gemma_bpe",     "nfkc_bpe",   "nfkc_unigram",
                               "unigram_bytes", "bpe_unused", "unigram_unused"};
enum { N_MODELS = 6 };

static const char *fx(const char *fmt, const char *a, const char *b) {
    static char buf[4][4096];
    static int slot;
    char name[1024];
    snprintf(name, sizeof name, fmt, a, b);
    char *out = buf[slot++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", td_spm_fixtures(), name);
    return out;
}

/* A file split into lines (the '\n's replaced by NULs; lengths kept, since
 * lines may hold NUL bytes). */
typedef struct {
    char *data;
    char **line;
    size_t *len;
    size_t n;
} lines;

static void read_lines(const char *path, lines *L) {
    size_t n;
    L->data = td_read(path, &n);
    size_t cap = 1024;
    L->line = malloc(cap * sizeof *L->line);
    L->len = malloc(cap * sizeof *L->len);
    L->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && L->data[i] != '\n') continue;
        if (i == n && start == n) break; /* no unterminated last line */
        if (L->n == cap) {
            cap *= 2;
            L->line = realloc(L->line, cap * sizeof *L->line);
            L->len = realloc(L->len, cap * sizeof *L->len);
        }
        L->line[L->n] = L->data + start;
        L->len[L->n++] = i - start;
        if (i < n) L->data[i] = 0;
        start = i + 1;
    }
}

static void free_lines(lines *L) {
    free(L->data);
    free(L->line);
    free(L->len);
}

static void print_bytes(const char *what, const char *s, size_t n) {
    print_message("      %s: \"", what);
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"') print_message("%c", c);
        else print_message("\\x%02x", c);
    }
    print_message("\"\n");
}

/* Library encode of every line of text_file against spm_encode's ids. */
static size_t check_encode(const gf_tokenizer *t, const char *model, const char *set) {
    lines text, want;
    read_lines(fx("%s.txt", set, ""), &text);
    read_lines(fx("%s.%s.ids", model, set), &want);
    assert_int_equal(text.n, want.n);
    gf_tok_buf *b = gf_tok_buf_new();
    size_t longest = 0; /* ids of a line: at most one per two characters of spm's output */
    for (size_t i = 0; i < want.n; i++) longest = want.len[i] > longest ? want.len[i] : longest;
    size_t cap = longest / 2 + 1;
    int32_t *expect = malloc(cap * sizeof *expect);
    size_t bad = 0;
    for (size_t i = 0; i < text.n; i++) {
        const int32_t *ids;
        size_t n;
        gf_error err;
        assert_int_equal(gf_encode(t, text.line[i], text.len[i], b, &ids, &n, &err), 0);
        size_t m = td_parse_ids(want.line[i], expect, cap);
        if (n != m || memcmp(ids, expect, n * sizeof *ids) != 0) {
            if (bad++ < 3) {
                print_message("    %s %s line %zu differs\n", model, set, i + 1);
                print_bytes("text", text.line[i], text.len[i]);
                print_message("      spm:     %s\n      griffin:", want.line[i]);
                for (size_t k = 0; k < n; k++) print_message(" %d", ids[k]);
                print_message("\n");
            }
        }
    }
    print_message("    %-14s %-13s encode: %zu lines, %zu differ\n", model, set, text.n, bad);
    assert_int_equal(bad, 0);
    size_t count = text.n;
    free(expect);
    gf_tok_buf_free(b);
    free_lines(&text);
    free_lines(&want);
    return count;
}

/* Library decode (whole and streamed) of every id line against spm_decode. */
static size_t check_decode(const gf_tokenizer *t, const char *model, const char *set) {
    lines ids_l, want;
    read_lines(fx("%s.%s.ids", model, set), &ids_l);
    read_lines(fx("%s.%s.decoded", model, set), &want);
    assert_int_equal(ids_l.n, want.n);
    gf_tok_buf *b = gf_tok_buf_new();
    size_t id_cap = 1, text_cap = 1;
    for (size_t i = 0; i < ids_l.n; i++) {
        id_cap = ids_l.len[i] / 2 + 1 > id_cap ? ids_l.len[i] / 2 + 1 : id_cap;
        text_cap = want.len[i] + 1 > text_cap ? want.len[i] + 1 : text_cap;
    }
    int32_t *ids = malloc(id_cap * sizeof *ids);
    char *streamed = malloc(text_cap);
    size_t bad = 0;
    for (size_t i = 0; i < ids_l.n; i++) {
        size_t n = td_parse_ids(ids_l.line[i], ids, id_cap);
        const char *text;
        size_t len;
        gf_error err;
        assert_int_equal(gf_decode(t, ids, n, b, &text, &len, &err), 0);
        /* The stream, fed one id at a time, must give the same bytes. */
        gf_detok_stream *s = gf_detok_stream_new(t, 1, &err);
        assert_non_null(s);
        size_t sl = 0;
        for (size_t k = 0; k <= n; k++) {
            const char *piece;
            size_t pl;
            if (k < n) assert_int_equal(gf_detok_stream_push(s, ids[k], &piece, &pl, &err), 0);
            else gf_detok_stream_flush(s, &piece, &pl);
            assert_true(sl + pl < text_cap); /* streamed text longer than spm's: a failure */
            memcpy(streamed + sl, piece, pl);
            sl += pl;
        }
        gf_detok_stream_free(s);
        int differs = len != want.len[i] || memcmp(text, want.line[i], len) != 0;
        int stream_differs = sl != len || memcmp(streamed, text, len) != 0;
        if (differs || stream_differs) {
            if (bad++ < 3) {
                print_message("    %s %s line %zu: %s\n", model, set, i + 1,
                              differs ? "decode differs from spm_decode" : "streamed text differs from decode");
                print_message("      ids: %s\n", ids_l.line[i]);
                print_bytes("spm", want.line[i], want.len[i]);
                print_bytes("griffin", text, len);
                print_bytes("streamed", streamed, sl);
            }
        }
    }
    print_message("    %-14s %-13s decode: %zu lines, %zu differ\n", model, set, ids_l.n, bad);
    assert_int_equal(bad, 0);
    size_t count = ids_l.n;
    free(ids);
    free(streamed);
    gf_tok_buf_free(b);
    free_lines(&ids_l);
    free_lines(&want);
    return count;
}

static void test_library_matches_sentencepiece(void **state) {
    (void)state;
    size_t lines_checked = 0;
    for (int i = 0; i < N_MODELS; i++) {
        gf_error err;
        gf_tokenizer *t = gf_tokenizer_load(fx("%s.model", MODELS[i], ""), &err);
        if (!t) fail_msg("%s", err.msg);
        lines_checked += check_encode(t, MODELS[i], "lines");
        check_encode(t, MODELS[i], "lines_invalid");
        check_encode(t, MODELS[i], "long");
        check_decode(t, MODELS[i], "lines");
        check_decode(t, MODELS[i], "lines_invalid");
        check_decode(t, MODELS[i], "long");
        check_decode(t, MODELS[i], "random");
        gf_tokenizer_free(t);
    }
    /* the issue asks for >= 500 varied lines per model */
    assert_true(lines_checked >= 500 * N_MODELS);
}

/* The commands later checks call: byte-for-byte the spm tools' output. */
static void same_file(const char *got, const char *want) {
    size_t ng, nw;
    char *g = td_read(got, &ng), *w = td_read(want, &nw);
    if (ng != nw || memcmp(g, w, ng) != 0) {
        size_t i = 0, line = 1;
        while (i < ng && i < nw && g[i] == w[i]) line += g[i++] == '\n';
        fail_msg("%s differs from %s at byte %zu (line %zu)", got, want, i, line);
    }
    free(g);
    free(w);
}

static void run_ok(const char *cmd) {
    char err[4096], sub[9000];
    /* a subshell, so td_run's own stdout redirection does not override ours */
    snprintf(sub, sizeof sub, "(%s)", cmd);
    int rc = td_run(sub, err, sizeof err);
    if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
}

static void test_cli_matches_spm_tools(void **state) {
    (void)state;
    char cmd[8192], out[1024];
    const char *sets[] = {"lines", "lines_invalid", "long"};
    for (int i = 0; i < N_MODELS; i++) {
        const char *m = MODELS[i];
        for (int s = 0; s < 3; s++) {
            for (int threads = 1; threads <= 2; threads++) {
                snprintf(out, sizeof out, "%s/%s.%s.ids", td_tmpdir(), m, sets[s]);
                snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer %s --threads %d < %s > %s", td_bin(),
                         fx("%s.model", m, ""), threads, fx("%s.txt", sets[s], ""), out);
                run_ok(cmd);
                same_file(out, fx("%s.%s.ids", m, sets[s]));
            }
        }
        const char *dsets[] = {"lines", "lines_invalid", "long", "random"};
        for (int s = 0; s < 4; s++) {
            snprintf(out, sizeof out, "%s/%s.%s.decoded", td_tmpdir(), m, dsets[s]);
            snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer %s < %s > %s", td_bin(), fx("%s.model", m, ""),
                     fx("%s.%s.ids", m, dsets[s]), out);
            run_ok(cmd);
            same_file(out, fx("%s.%s.decoded", m, dsets[s]));
        }
        print_message("    %-14s griffin tokenize/detokenize == spm_encode/spm_decode\n", m);
    }
}

int main(void) {
    atexit(td_remove_tmpdir);
    char stamp[4096];
    snprintf(stamp, sizeof stamp, "%s/.stamp", td_spm_fixtures());
    FILE *f = fopen(stamp, "r");
    if (!f) {
        fprintf(stderr, "test_tokenizer_spm: %s missing: run `make spm-fixtures` (make test does)\n", stamp);
        return 1;
    }
    fclose(f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_matches_sentencepiece),
        cmocka_unit_test(test_cli_matches_spm_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
