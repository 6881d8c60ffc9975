/* The synthetic tasks: every task's examples parsed back and their answers
 * recomputed from the prompt, the masks covering exactly the answers,
 * lengths, seeds, the files, refusals; and `griffin task` end to end. (Loss
 * masks in training and evaluation are test_masks.c's.) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

/* Command lines here are built from short temporary paths into large
 * buffers; gcc cannot see that they fit. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif


/* ---- helpers ----------------------------------------------------------------- */

typedef struct {
    int32_t *tok;
    uint8_t *mask;
    size_t n;
} task_set;

static task_set generate(gf_task_config *c, size_t examples, uint64_t seed) {
    task_set s;
    gf_error err;
    if (gf_task_generate(c, examples, seed, &s.tok, &s.mask, &s.n, &err)) fail_msg("%s", err.msg);
    return s;
}

static void set_free(task_set *s) {
    free(s->tok);
    free(s->mask);
}

/* The examples of a set: starts[k] is example k's BOS; returns the count. */
static size_t split(const task_set *s, int bos, size_t *starts, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->tok[i] == bos) {
            assert_true(k < cap);
            starts[k++] = i;
        }
    assert_true(k > 0);
    assert_int_equal(starts[0], 0);
    return k;
}

static size_t example_len(const task_set *s, const size_t *starts, size_t k, size_t n_ex) {
    return (k + 1 < n_ex ? starts[k + 1] : s->n) - starts[k];
}

static int is_symbol(const gf_task_vocab *v, int32_t t) { return t >= v->first_symbol && t < v->first_symbol + v->n_symbols; }

static void expect_check_error(gf_task_config *c, const char *needle) {
    gf_error err;
    if (gf_task_check(c, &err) == 0) fail_msg("config accepted; wanted '%s'", needle);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

/* ---- the tasks ---------------------------------------------------------------- */

static void check_selective_copy(size_t L, int K, int S, size_t N) {
    gf_task_config c;
    gf_task_defaults(GF_TASK_SELECTIVE_COPY, &c);
    c.seq = L, c.data_tokens = K, c.symbols = S;
    task_set s = generate(&c, N, 7);
    gf_task_vocab v;
    gf_task_vocab_of(&c, &v);
    assert_int_equal(v.vocab_size, 5 + S);
    assert_int_equal(v.bos, 2);
    assert_int_equal(s.n, N * L);
    size_t *starts = malloc(N * sizeof *starts), seen_first = SIZE_MAX, first_varies = 0;
    assert_int_equal(split(&s, v.bos, starts, N), N);
    size_t C = L - (size_t)K - 2;
    int *sym_seen = calloc((size_t)S, sizeof *sym_seen);
    for (size_t k = 0; k < N; k++) {
        const int32_t *t = s.tok + starts[k];
        const uint8_t *m = s.mask + starts[k];
        assert_int_equal(example_len(&s, starts, k, N), L);
        int32_t data[1 << 10];
        size_t nd = 0, first = SIZE_MAX;
        for (size_t j = 1; j <= C; j++) {
            if (t[j] == v.noise) continue;
            assert_true(is_symbol(&v, t[j]));
            if (first == SIZE_MAX) first = j;
            data[nd++] = t[j];
            sym_seen[t[j] - v.first_symbol] = 1;
        }
        assert_int_equal(nd, K); /* recomputed from the prompt: the data in order */
        assert_int_equal(t[C + 1], v.marker);
        for (size_t j = 0; j < L; j++) {
            assert_int_equal(m[j], j >= L - (size_t)K);
            if (j > C + 1) assert_int_equal(t[j], data[j - (C + 2)]);
        }
        if (seen_first != SIZE_MAX && first != seen_first) first_varies = 1;
        seen_first = first;
    }
    /* the data's places and values are drawn, not fixed */
    if (C > (size_t)K) assert_true(first_varies);
    for (int i = 0; i < S; i++) assert_true(sym_seen[i]);
    free(sym_seen);
    free(starts);
    set_free(&s);
}

static void test_selective_copy(void **state) {
    (void)state;
    check_selective_copy(24, 4, 5, 60);
    check_selective_copy(256, 16, 16, 40); /* the defaults */
    check_selective_copy(10, 4, 3, 20);    /* the shortest: no noise at all */
}

static void check_induction_heads(size_t L, int S, size_t N) {
    gf_task_config c;
    gf_task_defaults(GF_TASK_INDUCTION_HEADS, &c);
    c.seq = L, c.symbols = S;
    task_set s = generate(&c, N, 3);
    gf_task_vocab v;
    gf_task_vocab_of(&c, &v);
    assert_int_equal(v.vocab_size, 4 + S);
    size_t *starts = malloc(N * sizeof *starts);
    assert_int_equal(split(&s, v.bos, starts, N), N);
    int where_varies = 0;
    size_t last_p = 0;
    for (size_t k = 0; k < N; k++) {
        const int32_t *t = s.tok + starts[k];
        const uint8_t *m = s.mask + starts[k];
        assert_int_equal(example_len(&s, starts, k, N), L);
        size_t p = 0, triggers = 0;
        for (size_t j = 1; j + 2 < L; j++) {
            if (t[j] == v.marker) p = j, triggers++;
            else assert_true(is_symbol(&v, t[j]));
        }
        assert_int_equal(triggers, 1);
        assert_true(p >= 1 && p + 1 <= L - 3); /* its token is in the context */
        assert_int_equal(t[L - 2], v.marker);
        assert_int_equal(t[L - 1], t[p + 1]); /* the answer: what followed the trigger */
        for (size_t j = 0; j < L; j++) assert_int_equal(m[j], j == L - 1);
        if (k && p != last_p) where_varies = 1;
        last_p = p;
    }
    if (L > 5) assert_true(where_varies);
    free(starts);
    set_free(&s);
}

static void test_induction_heads(void **state) {
    (void)state;
    check_induction_heads(12, 4, 60);
    check_induction_heads(256, 16, 20);
    check_induction_heads(5, 2, 10); /* the shortest: BOS X Y X Y */
}

/* Parses every book back: distinct names, the query one of them, the answer
 * its number, the mask on the answer only, sizes in range. */
static void check_phonebook(gf_task_config *c, size_t N, int want_min, int want_max) {
    task_set s = generate(c, N, 11);
    assert_int_equal(c->entries, want_max);
    assert_int_equal(c->min_entries, want_min);
    gf_task_vocab v;
    gf_task_vocab_of(c, &v);
    assert_int_equal(v.vocab_size, 16 + c->symbols);
    size_t *starts = malloc(N * sizeof *starts);
    assert_int_equal(split(&s, v.bos, starts, N), N);
    size_t nl = (size_t)c->name_len, ml = (size_t)c->number_len, w = nl + ml + 2;
    int saw_min = 0, saw_max = 0;
    for (size_t k = 0; k < N; k++) {
        const int32_t *t = s.tok + starts[k];
        const uint8_t *m = s.mask + starts[k];
        size_t L = example_len(&s, starts, k, N);
        assert_true(L <= c->seq);
        assert_int_equal((L - 1) % w, 0);
        size_t E = (L - 1) / w - 1;
        assert_true(E >= (size_t)want_min && E <= (size_t)want_max);
        saw_min |= E == (size_t)want_min;
        saw_max |= E == (size_t)want_max;
        for (size_t e = 0; e < E; e++) {
            const int32_t *en = t + 1 + e * w;
            for (size_t i = 0; i < nl; i++) assert_true(is_symbol(&v, en[i]));
            assert_int_equal(en[nl], v.sep);
            for (size_t i = 0; i < ml; i++) assert_true(en[nl + 1 + i] >= v.first_digit && en[nl + 1 + i] < v.first_digit + 10);
            assert_int_equal(en[w - 1], v.end);
            for (size_t f = 0; f < e; f++) assert_memory_not_equal(t + 1 + f * w, en, nl * sizeof *en);
        }
        const int32_t *q = t + 1 + E * w;
        assert_int_equal(q[0], v.marker);
        assert_int_equal(q[1 + nl], v.sep);
        size_t hits = 0, at = 0;
        for (size_t e = 0; e < E; e++)
            if (!memcmp(t + 1 + e * w, q + 1, nl * sizeof *q)) hits++, at = e;
        assert_int_equal(hits, 1);
        assert_memory_equal(q + 2 + nl, t + 1 + at * w + nl + 1, ml * sizeof *q); /* the number looked up */
        for (size_t j = 0; j < L; j++) assert_int_equal(m[j], j >= L - ml);
    }
    assert_true(saw_min && saw_max);
    free(starts);
    set_free(&s);
}

static void test_phonebook(void **state) {
    (void)state;
    gf_task_config c;
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    check_phonebook(&c, 10, 20, 20); /* 20 entries of 3 letters and 4 digits */
    assert_int_equal(c.seq, 1 + 21 * 9);
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.entries = 6, c.min_entries = 1;
    check_phonebook(&c, 80, 1, 6);
    /* a name space only twice the book: taken names are drawn again */
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.symbols = 2, c.name_len = 3, c.entries = 4, c.number_len = 2;
    check_phonebook(&c, 40, 4, 4);
    /* the sequence length alone: as many entries as fit */
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.seq = 100, c.entries = 0, c.number_len = 6;
    check_phonebook(&c, 5, 8, 8); /* blocks of 11 tokens: 1 + (8 + 1) x 11 <= 100 < 1 + (9 + 1) x 11 */
}

/* The same seed gives the same examples, another seed others, and the first
 * k examples of a set of N are the set of k. */
static void test_seeds(void **state) {
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        gf_task_config c;
        gf_task_defaults((gf_task_kind)kind, &c);
        if (kind == GF_TASK_PHONEBOOK) c.min_entries = 5;
        task_set a = generate(&c, 30, 42), b = generate(&c, 30, 42), d = generate(&c, 30, 43), p = generate(&c, 7, 42);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.tok, b.tok, a.n * sizeof *a.tok);
        assert_memory_equal(a.mask, b.mask, a.n);
        size_t same = d.n == a.n && !memcmp(a.tok, d.tok, a.n * sizeof *a.tok);
        assert_false(same);
        assert_true(p.n < a.n);
        assert_memory_equal(p.tok, a.tok, p.n * sizeof *p.tok);
        assert_memory_equal(p.mask, a.mask, p.n);
        set_free(&a), set_free(&b), set_free(&d), set_free(&p);
    }
}

/* The files: the generated ids as uint16, the mask as uint8, and a
 * description whose vocab_size and counts are the library's. */
static void test_write_files(void **state) {
    (void)state;
    gf_task_config c;
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.entries = 5, c.min_entries = 2;
    char prefix[4096], p[4200];
    snprintf(prefix, sizeof prefix, "%s/new/folder/pb", td_tmpdir());
    gf_task_summary sum;
    gf_error err;
    if (gf_task_write(&c, 25, 9, prefix, &sum, &err)) fail_msg("%s", err.msg);
    task_set s = generate(&c, 25, 9);
    gf_npy t, m;
    snprintf(p, sizeof p, "%s.tokens.npy", prefix);
    td_npy(p, &t);
    snprintf(p, sizeof p, "%s.mask.npy", prefix);
    td_npy(p, &m);
    assert_int_equal(t.dtype, GF_NPY_U16);
    assert_int_equal(m.dtype, GF_NPY_U8);
    assert_int_equal(t.ndim, 1);
    assert_int_equal(m.ndim, 1);
    assert_int_equal(t.count, s.n);
    assert_int_equal(m.count, s.n);
    size_t answers = 0;
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(((uint16_t *)t.data)[i], s.tok[i]);
        answers += s.mask[i];
    }
    assert_memory_equal(m.data, s.mask, s.n);
    assert_int_equal(sum.tokens, s.n);
    assert_int_equal(sum.answers, answers);
    assert_int_equal(sum.shortest, 1 + 3 * 9);
    assert_int_equal(sum.longest, 1 + 6 * 9);
    snprintf(p, sizeof p, "%s.task.json", prefix);
    size_t n;
    char *text = td_read(p, &n);
    cJSON *j = cJSON_ParseWithLength(text, n);
    assert_non_null(j);
    gf_task_vocab v;
    gf_task_vocab_of(&c, &v);
    assert_string_equal(cJSON_GetObjectItem(j, "task")->valuestring, "phonebook");
    assert_int_equal(cJSON_GetObjectItem(j, "vocab_size")->valueint, v.vocab_size);
    assert_int_equal(cJSON_GetObjectItem(j, "answers")->valueint, (int)answers);
    assert_string_equal(cJSON_GetObjectItem(j, "seed")->valuestring, "9");
    const cJSON *ids = cJSON_GetObjectItem(j, "ids");
    assert_int_equal(cJSON_GetObjectItem(ids, "query")->valueint, v.marker);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(ids, "digits"), 0)->valueint, v.first_digit);
    cJSON_Delete(j);
    free(text);
    gf_npy_free(&t);
    gf_npy_free(&m);
    set_free(&s);
    /* an unwritable place is one message naming it */
    snprintf(prefix, sizeof prefix, "%s/new/folder/pb.tokens.npy/x", td_tmpdir());
    assert_int_equal(gf_task_write(&c, 2, 1, prefix, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "pb.tokens.npy"));
}

static void test_bad_configs(void **state) {
    (void)state;
    gf_task_config c;
    gf_error err;
    gf_task_kind k;
    assert_int_equal(gf_task_from_name("copy", &k, &err), -1);
    assert_non_null(strstr(err.msg, "unknown task 'copy'"));
    assert_int_equal(gf_task_from_name("induction-heads", &k, &err), 0);
    assert_int_equal(k, GF_TASK_INDUCTION_HEADS);
    gf_task_defaults(GF_TASK_SELECTIVE_COPY, &c);
    c.data_tokens = 0;
    expect_check_error(&c, "data_tokens 0");
    gf_task_defaults(GF_TASK_SELECTIVE_COPY, &c);
    c.seq = 33;
    expect_check_error(&c, "seq >= 34");
    c.seq = 34;
    assert_int_equal(gf_task_check(&c, &err), 0);
    c.symbols = 0;
    expect_check_error(&c, "symbols 0");
    c.symbols = 65536;
    expect_check_error(&c, "uint16");
    c.symbols = 65536 - 5;
    assert_int_equal(gf_task_check(&c, &err), 0);
    c.seq = (1 << 24) + 1;
    expect_check_error(&c, "seq 16777217");
    gf_task_defaults(GF_TASK_INDUCTION_HEADS, &c);
    c.seq = 4;
    expect_check_error(&c, "seq >= 5");
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.symbols = 2, c.name_len = 2, c.entries = 3;
    expect_check_error(&c, "too few");
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.seq = 50, c.entries = 10;
    expect_check_error(&c, "more than seq 50");
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.min_entries = 21;
    expect_check_error(&c, "min_entries 21");
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.seq = 18, c.entries = 0;
    expect_check_error(&c, "seq >= 19");
    c.seq = 0;
    expect_check_error(&c, "give the entries");
    gf_task_defaults(GF_TASK_PHONEBOOK, &c);
    c.name_len = 17;
    expect_check_error(&c, "name_len 17");
    /* generation: no examples, too many tokens */
    int32_t *tok;
    uint8_t *m;
    size_t n;
    gf_task_defaults(GF_TASK_INDUCTION_HEADS, &c);
    assert_int_equal(gf_task_generate(&c, 0, 1, &tok, &m, &n, &err), -1);
    assert_non_null(strstr(err.msg, "no examples"));
    assert_int_equal(gf_task_generate(&c, (size_t)1 << 30, 1, &tok, &m, &n, &err), -1);
    assert_non_null(strstr(err.msg, "more than the"));
    assert_null(tok);
}

/* ---- the command line ---------------------------------------------------------- */

static void test_task_command(void **state) {
    (void)state;
    char cmd[8192], out[8192], args[4096];
    const char *tmp = td_tmpdir();
    snprintf(cmd, sizeof cmd, "%s task selective-copy --out %s/cli/copy --examples 20 --seq 24 --data-tokens 4 --symbols 5",
             td_bin(), tmp);
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "selective-copy: 20 examples of 24 tokens, 480 tokens with 80 answer tokens, seed 1"));
    assert_non_null(strstr(out, "vocab_size 10 (0 pad, 1 eos, 2 bos, 3 noise, 4 delimiter, 5-9 data)"));
    /* the library's examples */
    gf_task_config c;
    gf_task_defaults(GF_TASK_SELECTIVE_COPY, &c);
    c.seq = 24, c.data_tokens = 4, c.symbols = 5;
    task_set s = generate(&c, 20, 1);
    gf_npy t;
    snprintf(cmd, sizeof cmd, "%s/cli/copy.tokens.npy", tmp);
    td_npy(cmd, &t);
    assert_int_equal(t.count, s.n);
    for (size_t i = 0; i < s.n; i++) assert_int_equal(((uint16_t *)t.data)[i], s.tok[i]);
    gf_npy_free(&t);
    set_free(&s);
    snprintf(cmd, sizeof cmd, "%s task phonebook --out %s/cli/pb --examples 3 --seq 100 --seed 4", td_bin(), tmp);
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "phonebook: 3 examples of 100 tokens"));
    assert_non_null(strstr(out, "6-15 digits, 16-41 letters"));
    snprintf(cmd, sizeof cmd, "%s task --help", td_bin());
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "induction-heads"));
    /* refusals */
    snprintf(args, sizeof args, "task copy --out %s/x --examples 3", tmp);
    td_expect_cli_error(args, "unknown task 'copy'", NULL);
    snprintf(args, sizeof args, "task phonebook --out %s/x --examples 3 --data-tokens 4", tmp);
    td_expect_cli_error(args, "--data-tokens is an option of selective-copy", NULL);
    snprintf(args, sizeof args, "task induction-heads --out %s/x --examples 3 --entries 4", tmp);
    td_expect_cli_error(args, "--entries is an option of phonebook", NULL);
    snprintf(args, sizeof args, "task induction-heads --out %s/x", tmp);
    td_expect_cli_error(args, "--examples", NULL);
    snprintf(args, sizeof args, "task selective-copy --out %s/x --examples 3 --seq 20 --data-tokens 10", tmp);
    td_expect_cli_error(args, "seq >= 22", NULL);
    snprintf(args, sizeof args, "task selective-copy phonebook --out %s/x --examples 3", tmp);
    td_expect_cli_error(args, "one task at a time", NULL);
    snprintf(args, sizeof args, "task induction-heads --out %s/x --examples 0", tmp);
    td_expect_cli_error(args, "--examples", "'0'");
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selective_copy),
        cmocka_unit_test(test_induction_heads),
        cmocka_unit_test(test_phonebook),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_write_files),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_task_command),
    };
    return cmocka_run_group_tests_name("tasks", tests, NULL, NULL);
}
