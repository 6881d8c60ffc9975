/* Bad input to the tokenizer: truncated, garbage and hand-made hostile
 * tokenizer.model files, out-of-range ids and invalid UTF-8. Each must give
 * a clean refusal (one line naming the file and the problem) or the
 * documented replacement, never a crash; `make test` also runs this under
 * ASan + UBSan, which turns any stray read into a failure.
 *
 * Models are written here with a small protobuf writer, so every field can be
 * set to exactly the wrong value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostile.h"

/* ---- a protobuf writer ---------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} pbw;

static void w_bytes(pbw *w, const void *b, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
    }
    memcpy(w->p + w->n, b, n);
    w->n += n;
}

static void w_varint(pbw *w, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    w_bytes(w, b, n);
}

static void w_key(pbw *w, uint32_t field, uint32_t wt) { w_varint(w, (uint64_t)field << 3 | wt); }
static void w_int(pbw *w, uint32_t field, int64_t v) {
    w_key(w, field, 0);
    w_varint(w, (uint64_t)v);
}
static void w_len(pbw *w, uint32_t field, const void *b, size_t n) {
    w_key(w, field, 2);
    w_varint(w, n);
    w_bytes(w, b, n);
}
static void w_str(pbw *w, uint32_t field, const char *s) { w_len(w, field, s, strlen(s)); }
static void w_float(pbw *w, uint32_t field, float f) {
    w_key(w, field, 5);
    uint8_t b[4];
    memcpy(b, &f, 4); /* little-endian hosts only, as the library assumes */
    w_bytes(w, b, 4);
}
static void w_msg(pbw *w, uint32_t field, pbw *m) {
    w_len(w, field, m->p, m->n);
    free(m->p);
    memset(m, 0, sizeof *m);
}

static void w_piece(pbw *w, const char *piece, float score, int type) {
    pbw m = {0};
    w_str(&m, 1, piece);
    w_float(&m, 2, score);
    if (type) w_int(&m, 3, type);
    w_msg(w, 1, &m);
}

/* What a test can switch in the small model below. */
typedef struct {
    int model_type;     /* 2 = BPE */
    int byte_fallback;
    int n_unk;          /* unknown pieces */
    int bad_byte_piece; /* a BYTE piece that is not <0xNN> */
    int empty_piece;
    int duplicate;
    int bos_id;
    int missing_byte;   /* leave out the byte piece <0x41> */
    int user_nul;       /* a user-defined piece with a NUL byte inside */
    int control_char;   /* "~" as a CONTROL piece */
    const uint8_t *charsmap;
    size_t charsmap_len;
} spec;

static spec defaults(void) {
    spec s = {2, 1, 1, 0, 0, 0, 1, 0, 0, 0, NULL, 0};
    return s;
}

/* A BPE model: <unk>, <s>, </s>, ▁ a b ▁a ab ▁ab, <start_of_turn>, bytes. */
static pbw make_model(spec s) {
    pbw w = {0};
    for (int i = 0; i < s.n_unk; i++) w_piece(&w, i ? "<unk2>" : "<unk>", 0, 2);
    w_piece(&w, "<s>", 0, 3);
    w_piece(&w, "</s>", 0, 3);
    const char *normal[] = {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"};
    for (int i = 0; i < 6; i++) w_piece(&w, normal[i], -(float)i, 0);
    w_piece(&w, "<start_of_turn>", 0, 4);
    if (s.empty_piece) w_piece(&w, "", 0, 0);
    if (s.duplicate) w_piece(&w, "ab", -9, 0);
    if (s.bad_byte_piece) w_piece(&w, "<0xZZ>", 0, 6);
    if (s.control_char) w_piece(&w, "~", 0, 3);
    if (s.user_nul) {
        pbw m = {0};
        w_len(&m, 1, "x\0y", 3);
        w_float(&m, 2, 0);
        w_int(&m, 3, 4);
        w_msg(&w, 1, &m);
    }
    for (int b = 0; b < 256 && s.byte_fallback; b++) {
        if (s.missing_byte && b == 0x41) continue;
        char p[8];
        snprintf(p, sizeof p, "<0x%02X>", b);
        w_piece(&w, p, 0, 6);
    }
    pbw tr = {0};
    w_int(&tr, 3, s.model_type);
    w_int(&tr, 35, s.byte_fallback);
    w_int(&tr, 41, s.bos_id);
    w_msg(&w, 2, &tr);
    pbw no = {0};
    w_str(&no, 1, s.charsmap ? "nmt_nfkc" : "identity");
    if (s.charsmap) w_len(&no, 2, s.charsmap, s.charsmap_len);
    w_int(&no, 3, 0); /* no dummy prefix */
    w_int(&no, 4, 0); /* keep whitespace */
    w_msg(&w, 3, &no);
    return w;
}

static const char *write_tmp(const char *name, const void *b, size_t n) {
    static char path[4096];
    join(path, td_tmpdir(), name);
    td_write(path, b, n);
    return path;
}

static gf_tokenizer *load_spec(spec s, const char *name, gf_error *err) {
    pbw w = make_model(s);
    const char *path = write_tmp(name, w.p, w.n);
    free(w.p);
    return gf_tokenizer_load(path, err);
}

static gf_tokenizer *load_ok(void) {
    gf_error err;
    gf_tokenizer *t = load_spec(defaults(), "ok.model", &err);
    if (!t) fail_msg("%s", err.msg);
    return t;
}

static void encode_ids(const gf_tokenizer *t, const char *text, size_t n, int32_t *out, size_t *n_out) {
    gf_tok_buf *b = gf_tok_buf_new();
    const int32_t *ids;
    gf_error err;
    assert_int_equal(gf_encode(t, text, n, b, &ids, n_out, &err), 0);
    memcpy(out, ids, *n_out * sizeof *ids);
    gf_tok_buf_free(b);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_small_model_works(void **state) {
    (void)state;
    gf_tokenizer *t = load_ok();
    /* ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 ▁a, 7 ab, 8 ▁ab, 9 <start_of_turn>, 10.. bytes */
    int32_t ids[64];
    size_t n;
    encode_ids(t, " ab<start_of_turn>ab", 20, ids, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 8);
    assert_int_equal(ids[1], 9);
    assert_int_equal(ids[2], 7);
    assert_int_equal(gf_tokenizer_find(t, "<start_of_turn>"), 9);
    assert_int_equal(gf_tokenizer_find(t, "nope"), -1);
    assert_int_equal(gf_tokenizer_bos_id(t), 1);
    assert_int_equal(gf_tokenizer_eos_id(t), 2);
    assert_int_equal(gf_tokenizer_unk_id(t), 0);
    assert_string_equal(gf_tokenizer_piece(t, 7), "ab");
    assert_null(gf_tokenizer_piece(t, -1));
    assert_null(gf_tokenizer_piece(t, gf_tokenizer_vocab_size(t)));
    gf_tokenizer_free(t);
}

/* Invalid UTF-8 reads as U+FFFD per bad byte (SentencePiece's rule); with
 * byte fallback that character is then spelled as the bytes EF BF BD. */
static void test_invalid_utf8_input(void **state) {
    (void)state;
    gf_error err;
    gf_tokenizer *t = load_ok();
    int32_t ids[64];
    size_t n;
    encode_ids(t, "a\xff" "b\xc3", 4, ids, &n);
    const int32_t fffd[3] = {10 + 0xEF, 10 + 0xBF, 10 + 0xBD};
    assert_int_equal(n, 8);
    assert_int_equal(ids[0], 4);
    assert_memory_equal(ids + 1, fffd, sizeof fffd);
    assert_int_equal(ids[4], 5);
    assert_memory_equal(ids + 5, fffd, sizeof fffd);
    /* decoding the lone bytes of a broken character gives U+FFFD per byte */
    gf_tok_buf *b = gf_tok_buf_new();
    const int32_t broken[3] = {10 + 0xE3, 10 + 0x81, 4};
    const char *text;
    size_t len;
    assert_int_equal(gf_decode(t, broken, 3, b, &text, &len, &err), 0);
    assert_string_equal(text, "\xEF\xBF\xBD\xEF\xBF\xBD" "a");
    gf_tok_buf_free(b);
    gf_tokenizer_free(t);
}

/* Streaming holds a character's bytes back until it is complete; a run that
 * ends early flushes as U+FFFD per byte. */
static void test_stream_holds_back_split_characters(void **state) {
    (void)state;
    gf_tokenizer *t = load_ok();
    gf_error err;
    gf_detok_stream *s = gf_detok_stream_new(t, 0, &err);
    assert_non_null(s);
    const char *text;
    size_t len;
    /* "€" is E2 82 AC: nothing until the third byte */
    assert_int_equal(gf_detok_stream_push(s, 10 + 0xE2, &text, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_int_equal(gf_detok_stream_push(s, 10 + 0x82, &text, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_int_equal(gf_detok_stream_push(s, 10 + 0xAC, &text, &len, &err), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(text, "\xE2\x82\xAC", 3);
    /* a continuation, so the leading ▁ of "▁a" stays a space */
    assert_int_equal(gf_detok_stream_push(s, 6, &text, &len, &err), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(text, " a", 2);
    /* an unfinished character at the end */
    assert_int_equal(gf_detok_stream_push(s, 10 + 0xF0, &text, &len, &err), 0);
    assert_int_equal(gf_detok_stream_push(s, 10 + 0x9F, &text, &len, &err), 0);
    assert_int_equal(len, 0);
    gf_detok_stream_flush(s, &text, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(text, "\xEF\xBF\xBD\xEF\xBF\xBD", 6);
    gf_detok_stream_free(s);
    /* from memory, as from a file */
    pbw w = make_model(defaults());
    gf_tokenizer *m = gf_tokenizer_from_memory(w.p, w.n, "in-memory", &err);
    assert_non_null(m);
    assert_int_equal(gf_tokenizer_vocab_size(m), gf_tokenizer_vocab_size(t));
    gf_tokenizer_free(m);
    assert_null(gf_tokenizer_from_memory(w.p, w.n / 2, "half", &err));
    expect_msg(&err, "half", "");
    free(w.p);
    gf_tokenizer_free(t);
}

static void test_ids_outside_vocabulary(void **state) {
    (void)state;
    gf_error err;
    gf_tokenizer *t = load_ok();
    int V = gf_tokenizer_vocab_size(t);
    gf_tok_buf *b = gf_tok_buf_new();
    const char *text;
    size_t len;
    const int32_t bad[][2] = {{4, V}, {-1, 4}, {4, INT32_MAX}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gf_decode(t, bad[i], 2, b, &text, &len, &err), -1);
        assert_non_null(strstr(err.msg, "outside the vocabulary"));
    }
    gf_detok_stream *s = gf_detok_stream_new(t, 1, &err);
    assert_int_equal(gf_detok_stream_push(s, V + 5, &text, &len, &err), -1);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    gf_detok_stream_free(s);
    gf_tok_buf_free(b);
    gf_tokenizer_free(t);
}

typedef struct {
    const char *name, *word;
    spec s;
} bad_case;

/* Hand-made models, each wrong in one way. */
static void test_hostile_fields(void **state) {
    (void)state;
    bad_case cases[10];
    int n = 0;
    spec s;
    s = defaults(), s.n_unk = 0;
    cases[n++] = (bad_case){"no-unk.model", "no unknown piece", s};
    s = defaults(), s.n_unk = 2;
    cases[n++] = (bad_case){"two-unk.model", "more than one unknown", s};
    s = defaults(), s.empty_piece = 1;
    cases[n++] = (bad_case){"empty-piece.model", "empty", s};
    s = defaults(), s.duplicate = 1;
    cases[n++] = (bad_case){"dup.model", "defined twice", s};
    s = defaults(), s.bad_byte_piece = 1;
    cases[n++] = (bad_case){"bad-byte.model", "<0xNN>", s};
    s = defaults(), s.byte_fallback = 0, s.bad_byte_piece = 1;
    cases[n++] = (bad_case){"byte-no-fallback.model", "byte_fallback", s};
    s = defaults(), s.model_type = 3;
    cases[n++] = (bad_case){"word.model", "not supported", s};
    s = defaults(), s.missing_byte = 1;
    cases[n++] = (bad_case){"missing-byte.model", "<0x41> is missing", s};
    s = defaults(), s.user_nul = 1;
    cases[n++] = (bad_case){"user-nul.model", "NUL", s};
    const uint8_t short_map[8] = {0xff, 0xff, 0, 0, 1, 2, 3, 4};
    s = defaults(), s.charsmap = short_map, s.charsmap_len = sizeof short_map;
    cases[n++] = (bad_case){"charsmap.model", "precompiled_charsmap", s};
    for (int i = 0; i < n; i++) {
        gf_error err;
        gf_tokenizer *t = load_spec(cases[i].s, cases[i].name, &err);
        if (t) fail_msg("%s loaded", cases[i].name);
        expect_msg(&err, cases[i].name, cases[i].word);
    }
    /* A special id out of range is not an error: the model just has no BOS. */
    s = defaults(), s.bos_id = 1 << 30;
    gf_error err;
    gf_tokenizer *t = load_spec(s, "bos-out-of-range.model", &err);
    if (!t) fail_msg("%s", err.msg);
    assert_int_equal(gf_tokenizer_bos_id(t), -1);
    gf_tokenizer_free(t);
}

/* Wire-level garbage: each must be refused naming the file. */
static void test_wire_garbage(void **state) {
    (void)state;
    struct {
        const char *name;
        const char *bytes;
        size_t n;
        const char *word;
    } cases[] = {
        {"w0.model", "", 0, "no pieces"},
        {"w1.model", "hello, I am not a model\n", 24, "not a SentencePiece model"},
        {"w2.model", "\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "longer than 10 bytes"},
        {"w3.model", "\x0a\x7f\x0a\x01", 4, "past the end"},
        {"w4.model", "\x33\x34", 2, "unsupported wire type"},
        {"w5.model", "\x0a\x02\x10\x01", 4, "wrong wire type in a SentencePiece entry"},
        {"w6.model", "\x0a\x05\x0a\x01x\x18\x09", 7, "unknown piece type"},
        {"w7.model", "\x00\x00", 2, "invalid field number"},
        {"w8.model", "\x30\x80", 2, "truncated varint"},
        {"w9.model", "\x0a\x04\x0a\x01x\x15", 6, "truncated float"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_tmp(cases[i].name, cases[i].bytes, cases[i].n);
        gf_error err;
        gf_tokenizer *t = gf_tokenizer_load(path, &err);
        if (t) fail_msg("%s loaded", cases[i].name);
        expect_msg(&err, path, cases[i].word);
    }
    gf_error err;
    char dir[4096], fifo[4096];
    case_dir(dir, "no-tokenizer");
    assert_null(gf_tokenizer_load(dir, &err));
    expect_msg(&err, "no-tokenizer/tokenizer.model", "cannot open");
    join(fifo, td_tmpdir(), "fifo.model");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(gf_tokenizer_load(fifo, &err));
    expect_msg(&err, fifo, "regular");
}

/* Every truncation of a small model, and random mutants of it. */
static int read_tok(const char *path, const uint8_t *m, size_t len, gf_error *err, const void *ctx) {
    (void)m, (void)len, (void)ctx;
    gf_tokenizer *t = gf_tokenizer_load(path, err);
    if (!t) return -1;
    /* exercise what loaded: encode and decode something */
    int32_t ids[256];
    size_t n;
    encode_ids(t, " ab<start_of_turn>\xff xyz", 23, ids, &n);
    gf_tok_buf *b = gf_tok_buf_new();
    const char *text;
    size_t tl;
    assert_int_equal(gf_decode(t, ids, n, b, &text, &tl, err), 0);
    gf_tok_buf_free(b);
    gf_tokenizer_free(t);
    return 0;
}

static size_t mutate_bytes(uint8_t *m, size_t n, int it, const void *ctx) {
    (void)ctx;
    if (it % 4 == 0) return (size_t)(xrand() % n); /* truncate */
    int flips = 1 + (int)(xrand() % 8);
    for (int k = 0; k < flips; k++) m[xrand() % n] = (uint8_t)xrand();
    return n;
}

static void test_truncated_and_mutated(void **state) {
    (void)state;
    pbw w = make_model(defaults());
    char path[4096];
    join(path, td_tmpdir(), "cut.model");
    size_t refused = 0;
    for (size_t cut = 0; cut < w.n; cut++) {
        td_write(path, w.p, cut);
        gf_error err;
        if (read_tok(path, w.p, cut, &err, NULL) != 0) {
            expect_msg(&err, path, "");
            refused++;
        }
    }
    print_message("    %zu truncations, %zu refused\n", w.n, refused);
    assert_true(refused > w.n / 2);
    rng_state = 0x70C1;
    mutant_family fam = {"tokenizer.model", "loaded", w.p, w.n, mutate_bytes, read_tok, NULL};
    fuzz_reader(&fam, "mutant.model");
    free(w.p);
}

/* A real nmt_nfkc character map with random damage: whatever the trie says,
 * matching must stay inside the map. */
static void test_damaged_charsmap(void **state) {
    (void)state;
    char src[4096];
    snprintf(src, sizeof src, "%s/nfkc_bpe.model", td_spm_fixtures());
    FILE *f = fopen(src, "rb");
    if (!f) skip();
    fclose(f);
    size_t n;
    uint8_t *model = td_read(src, &n);
    /* Find the charsmap: NormalizerSpec (field 3) holds it as field 2. Scan
     * for the "nmt_nfkc" name and take the length-delimited field after it. */
    uint8_t *name = NULL;
    for (size_t i = 0; i + 8 <= n && !name; i++)
        if (!memcmp(model + i, "nmt_nfkc", 8)) name = model + i;
    assert_non_null(name);
    uint8_t *p = name + 8;
    assert_int_equal(*p, 0x12);
    p++;
    size_t len = 0;
    for (int shift = 0;; shift += 7) {
        len |= (size_t)(*p & 0x7f) << shift;
        if (!(*p++ & 0x80)) break;
    }
    const uint8_t *map = p;
    assert_true(map + len <= model + n);
    rng_state = 0xC4A5;
    uint8_t *dmg = malloc(len);
    const char *texts[] = {"ＡＢＣ ﬁ ① ㎏ e\xcc\x81 \t x", "plain ascii", "\xef\xbd\xb6\xef\xbe\x80 ½"};
    int loaded = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(dmg, map, len);
        int flips = 1 + (int)(xrand() % 64);
        /* hit the trie units most of the time: that is where offsets live */
        for (int k = 0; k < flips; k++) dmg[xrand() % (it % 2 ? len : len / 4 + 1)] = (uint8_t)xrand();
        spec s = defaults();
        s.charsmap = dmg;
        s.charsmap_len = len;
        gf_error err;
        gf_tokenizer *t = load_spec(s, "damaged.model", &err);
        if (!t) {
            expect_msg(&err, "damaged.model", "precompiled_charsmap");
            continue;
        }
        loaded++;
        for (int k = 0; k < 3; k++) {
            int32_t ids[1024];
            size_t m;
            encode_ids(t, texts[k], strlen(texts[k]), ids, &m);
        }
        gf_tokenizer_free(t);
    }
    print_message("    300 damaged character maps, %d loaded and encoded safely\n", loaded);
    free(dmg);
    free(model);
}

static size_t count_newlines(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

static void expect_cli_error(const char *cmd, const char *w1, const char *w2) {
    char err[4096];
    int rc = td_run(cmd, err, sizeof err);
    int lines = 0;
    for (const char *c = err; *c; c++) lines += *c == '\n';
    if (rc != 1 || lines != 1 || !strstr(err, w1) || (w2 && !strstr(err, w2)))
        fail_msg("`%s`: exit %d, stderr: %s (wanted exit 1, one line with '%s' %s)", cmd, rc, err, w1,
                 w2 ? w2 : "");
}

static void test_cli_refusals(void **state) {
    (void)state;
    pbw w = make_model(defaults());
    char ok[4096], cmd[8192];
    snprintf(ok, sizeof ok, "%s", write_tmp("cli-ok.model", w.p, w.n));
    free(w.p);
    snprintf(cmd, sizeof cmd, "printf '4 5\\n4 99999\\n' | %s detokenize --tokenizer %s", td_bin(), ok);
    expect_cli_error(cmd, "stdin:2", "outside the vocabulary");
    snprintf(cmd, sizeof cmd, "printf '4 -1\\n' | %s detokenize --tokenizer %s", td_bin(), ok);
    expect_cli_error(cmd, "stdin:1", "outside the vocabulary");
    snprintf(cmd, sizeof cmd, "printf '4 five\\n' | %s detokenize --tokenizer %s", td_bin(), ok);
    expect_cli_error(cmd, "stdin:1", "not a token id");
    const char *garbage = write_tmp("cli-garbage.model", "\x0a\x7f\x0a", 3);
    snprintf(cmd, sizeof cmd, "echo hi | %s tokenize --tokenizer %s", td_bin(), garbage);
    expect_cli_error(cmd, garbage, "past the end");
    snprintf(cmd, sizeof cmd, "echo hi | %s tokenize --tokenizer %s/missing.model", td_bin(), td_tmpdir());
    expect_cli_error(cmd, "missing.model", NULL);
    snprintf(cmd, sizeof cmd, "echo hi | %s tokenize --tokenizer %s --input %s/none.txt", td_bin(), ok, td_tmpdir());
    expect_cli_error(cmd, "none.txt", NULL);
}

/* A lone character that is a control piece: BPE ends on the control id,
 * which has no text. spm_encode stops with "all normalized characters are not
 * consumed"; we refuse the text with an error that names the character,
 * through the library and through `griffin tokenize` (naming the line). */
static void test_control_character_in_text(void **state) {
    (void)state;
    spec s = defaults();
    s.control_char = 1;
    gf_error err;
    gf_tokenizer *t = load_spec(s, "control-char.model", &err);
    if (!t) fail_msg("%s", err.msg);
    int32_t ids[8];
    size_t n;
    encode_ids(t, "ab", 2, ids, &n); /* text without it is fine */
    assert_int_equal(n, 1);
    gf_tok_buf *b = gf_tok_buf_new();
    const int32_t *got;
    assert_int_equal(gf_encode(t, "a~b", 3, b, &got, &n, &err), -1);
    if (!strstr(err.msg, "\"~\"") || !strstr(err.msg, "control piece"))
        fail_msg("unexpected message: %s", err.msg);
    gf_tok_buf_free(b);
    gf_tokenizer_free(t);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "printf 'ab\\na~b\\n' | %s tokenize --tokenizer %s/control-char.model", td_bin(),
             td_tmpdir());
    expect_cli_error(cmd, "stdin: line 2", "control piece");
}

/* At a terminal, tokenize answers line by line; a typed line may hold a NUL
 * byte, which must not cut it. tests/tokenizer/on_tty.py gives the command a
 * terminal for stdin; its output must equal the piped run's. */
static void test_tokenize_at_a_terminal(void **state) {
    (void)state;
    pbw w = make_model(defaults());
    char model[4096], cmd[12288], out_tty[4200], out_pipe[4200], err[4096];
    snprintf(model, sizeof model, "%s", write_tmp("tty.model", w.p, w.n));
    free(w.p);
    snprintf(out_tty, sizeof out_tty, "%s/tty.ids", td_tmpdir());
    snprintf(out_pipe, sizeof out_pipe, "%s/pipe.ids", td_tmpdir());
    const char *input = "printf 'ab a\\0b\\nba\\n\\n a\\n'";
    snprintf(cmd, sizeof cmd, "(%s | python3 tests/tokenizer/on_tty.py %s tokenize --tokenizer %s > %s)", input,
             td_bin(), model, out_tty);
    int rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
    snprintf(cmd, sizeof cmd, "(%s | %s tokenize --tokenizer %s > %s)", input, td_bin(), model, out_pipe);
    rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
    size_t n_tty, n_pipe;
    char *a = td_read(out_tty, &n_tty), *b = td_read(out_pipe, &n_pipe);
    /* 4 lines; the first holds the NUL's byte-fallback id (10 = <0x00>) */
    if (n_tty != n_pipe || memcmp(a, b, n_tty) != 0 || !strstr(b, " 10 ") || count_newlines(b, n_pipe) != 4)
        fail_msg("at a terminal: [%.*s], piped: [%.*s]", (int)n_tty, a, (int)n_pipe, b);
    free(a);
    free(b);
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_model_works),
        cmocka_unit_test(test_invalid_utf8_input),
        cmocka_unit_test(test_stream_holds_back_split_characters),
        cmocka_unit_test(test_ids_outside_vocabulary),
        cmocka_unit_test(test_hostile_fields),
        cmocka_unit_test(test_wire_garbage),
        cmocka_unit_test(test_truncated_and_mutated),
        cmocka_unit_test(test_damaged_charsmap),
        cmocka_unit_test(test_cli_refusals),
        cmocka_unit_test(test_control_character_in_text),
        cmocka_unit_test(test_tokenize_at_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
