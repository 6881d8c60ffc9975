/* Hostile .npy files: gf_npy_read must refuse the wrong dtype, Fortran order,
 * a shape that disagrees with the data, a bad magic or version and a header
 * length past the end, with -1 / NULL and one line that names the file and
 * the problem, without crashing or reading out of bounds (run under ASan +
 * UBSan by `make test`); what gf_npy_write writes reads back unchanged; random
 * mutations of the golden tokens.npy read cleanly or fail cleanly.
 *
 * Every file is made at test time in td_tmpdir(); nothing generated is
 * committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "testutil.h"

/* ---- 21-25: .npy -------------------------------------------------------- */

/* An .npy image: magic, version `major`, the dict padded to 64 bytes, data. */
static uint8_t *npy_image(int major, const char *dict, const void *data, size_t dlen, size_t *n) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    uint8_t *b = malloc(total + dlen + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hlen - dl - 1);
    b[total - 1] = '\n';
    if (dlen) memcpy(b + total, data, dlen);
    *n = total + dlen;
    return b;
}

static void check_bad_npy_bytes(const char *name, const void *bytes, size_t n, const char *word) {
    char p[4096], file[128];
    snprintf(file, sizeof file, "%s.npy", name);
    join(p, td_tmpdir(), file);
    td_write(p, bytes, n);
    gf_npy a;
    gf_error err = {0};
    int rc = gf_npy_read(p, &a, &err);
    if (rc == 0) gf_npy_free(&a);
    expect_refused(rc, &err, p, word);
    assert_null(a.data);
}

static void check_bad_npy(const char *name, int major, const char *dict, size_t dlen, const char *word) {
    uint8_t data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    assert_true(dlen <= sizeof data);
    size_t n;
    uint8_t *b = npy_image(major, dict, data, dlen, &n);
    check_bad_npy_bytes(name, b, n, word);
    free(b);
}

static void test_npy_dtype(void **state) {
    (void)state;
    /* Control: the same layout with a supported dtype reads. */
    size_t n;
    int32_t v[3] = {1, 2, 3};
    uint8_t *b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", v, 12, &n);
    char p[4096];
    join(p, td_tmpdir(), "npy_ok.npy");
    td_write(p, b, n);
    free(b);
    gf_npy a;
    gf_error err;
    if (gf_npy_read(p, &a, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(a.count, 3);
    assert_int_equal(((int32_t *)a.data)[2], 3);
    gf_npy_free(&a);

    check_bad_npy("npy_f8", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24, "'<f8' is not supported");
    check_bad_npy("npy_be", 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", 12, "'>i4' is not supported");
    check_bad_npy("npy_bool", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 3, "'|b1' is not supported");
    check_bad_npy("npy_no_descr", 1, "{'fortran_order': False, 'shape': (3,), }", 12, "no 'descr'");
    check_bad_npy("npy_long_descr", 1, "{'descr': '<f4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'fortran_order': False, 'shape': (3,), }", 12, "'descr' is malformed");
    check_bad_npy("npy_open_descr", 1, "{'descr': '<f4", 0, "'descr' is malformed");
}

static void test_npy_fortran(void **state) {
    (void)state;
    check_bad_npy("npy_fortran", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran order");
    check_bad_npy("npy_no_order", 1, "{'descr': '<f4', 'shape': (2, 3), }", 24, "no 'fortran_order'");
}

static void test_npy_shape_lies(void **state) {
    (void)state;
    check_bad_npy("npy_more", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 12,
                  "promises 16 data bytes but the file holds 12");
    check_bad_npy("npy_less", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 20,
                  "promises 16 data bytes but the file holds 20");
    check_bad_npy("npy_more_2d", 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }", 10,
                  "promises 12 data bytes but the file holds 10");
    check_bad_npy("npy_overflow", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 16,
                  "promises");
    check_bad_npy("npy_entry_big", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 16,
                  "too large");
    check_bad_npy("npy_shape_neg", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", 16, "'shape' is malformed");
    check_bad_npy("npy_shape_open", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,", 16, "'shape' is malformed");
    check_bad_npy("npy_shape_list", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", 16, "no 'shape' tuple");
    check_bad_npy("npy_rank9", 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 2, "more than 8 dimensions");
}

static void test_npy_bad_magic(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[5] = 'Z';
    check_bad_npy_bytes("npy_magic", b, n, "bad magic");
    check_bad_npy_bytes("npy_short", "\x93NUM", 4, "bad magic");
    check_bad_npy_bytes("npy_empty", "", 0, "bad magic");
    b[5] = 'Y';
    b[6] = 7;
    check_bad_npy_bytes("npy_version", b, n, "unsupported .npy version 7");
    free(b);
    check_bad_npy_bytes("npy_text", "descr,shape\nf4,3\n", 17, "bad magic");
}

static void test_npy_header_past_end(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[8] = 0xe8; /* 1000 */
    b[9] = 0x03;
    check_bad_npy_bytes("npy_hlen_v1", b, n, "runs past the end");
    b[8] = 0;
    b[9] = 0;
    check_bad_npy_bytes("npy_hlen_zero", b, n, "not plausible");
    free(b);
    b = npy_image(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[8] = 0x60; /* 60000 */
    b[9] = 0xea;
    check_bad_npy_bytes("npy_hlen_v2", b, n, "runs past the end");
    b[10] = 0xff;
    b[11] = 0xff;
    check_bad_npy_bytes("npy_hlen_v2_huge", b, n, "not plausible");
    check_bad_npy_bytes("npy_v2_cut", b, 11, "truncated .npy header");
    free(b);
    /* A NUL inside the header. */
    b = npy_image(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4, &n);
    b[20] = 0;
    check_bad_npy_bytes("npy_hdr_nul", b, n, "NUL");
    free(b);
}

/* ---- random mutations: open cleanly or fail cleanly ---------------------- */

/* Mutates header bytes (ctx: where the header ends); every fifth mutant is
 * also cut short. */
static size_t mutate_npy(uint8_t *nm, size_t nn, int it, const void *ctx) {
    size_t hdr_end = *(const size_t *)ctx;
    int edits = 1 + (int)(xrand() % 3);
    for (int j = 0; j < edits; j++) {
        size_t at = xrand() % hdr_end; /* the place is drawn before the value */
        nm[at] = mutant_byte();
    }
    return it % 5 == 0 ? xrand() % nn : nn;
}

static int read_npy_mutant(const char *p, const uint8_t *nm, size_t len, gf_error *err, const void *ctx) {
    gf_npy a;
    int rc = gf_npy_read(p, &a, err);
    if (rc == 0) {
        size_t es = a.dtype == GF_NPY_U8 ? 1 : a.dtype == GF_NPY_U16 ? 2 : 4, c = 1;
        for (int i = 0; i < a.ndim; i++) c *= a.shape[i];
        assert_int_equal(c, a.count);
        assert_true(a.count * es <= len);
        gf_npy_free(&a);
    }
    return rc;
}

static void test_npy_fuzz_mutations(void **state) {
    (void)state;
    /* Seed 2024 advanced past the 400 safetensors and 400 config.json mutants
     * (test_safetensors_io, test_model_load): the .npy mutants are the ones
     * tried when the three ran as one test. */
    rng_state = 0x44fe5464f65c6261ull;
    /* Mutants of tokens.npy. */
    size_t nn;
    uint8_t *nb = td_read(td_path("golden/griffin/tokens.npy"), &nn);
    size_t hdr_end = 10 + (size_t)nb[8] + ((size_t)nb[9] << 8);
    assert_true(hdr_end < nn);
    const mutant_family fam = {".npy", "read", nb, nn, mutate_npy, read_npy_mutant, &hdr_end};
    fuzz_reader(&fam, "fuzz.npy");
    free(nb);
}

/* ---- writing and reading back ------------------------------------------ */

static void test_npy_round_trip(void **state) {
    (void)state;
    const size_t shapes[3][3] = {{7, 0, 0}, {3, 5, 0}, {2, 3, 4}};
    const gf_npy_dtype dts[4] = {GF_NPY_I32, GF_NPY_F32, GF_NPY_U16, GF_NPY_U8};
    const size_t esz[4] = {4, 4, 2, 1};
    rng_state = 4242;
    for (int d = 0; d < 4; d++)
        for (int r = 1; r <= 3; r++) {
            size_t count = 1;
            for (int i = 0; i < r; i++) count *= shapes[r - 1][i];
            uint8_t *data = malloc(count * esz[d]);
            assert_non_null(data);
            for (size_t i = 0; i < count; i++) {
                if (dts[d] == GF_NPY_I32) ((int32_t *)data)[i] = (int32_t)(uint32_t)xrand();
                else if (dts[d] == GF_NPY_F32) ((float *)data)[i] = (float)((double)(int64_t)xrand() / 1e15);
                else if (dts[d] == GF_NPY_U16) ((uint16_t *)data)[i] = (uint16_t)xrand();
                else data[i] = (uint8_t)xrand();
            }
            char p[4096], file[64];
            snprintf(file, sizeof file, "rt_%d_%d.npy", d, r);
            join(p, td_tmpdir(), file);
            gf_error err;
            if (gf_npy_write(p, dts[d], shapes[r - 1], r, data, &err) != 0) fail_msg("%s", err.msg);
            gf_npy a;
            if (gf_npy_read(p, &a, &err) != 0) fail_msg("%s", err.msg);
            assert_int_equal(a.dtype, dts[d]);
            assert_int_equal(a.ndim, r);
            for (int i = 0; i < r; i++) assert_int_equal(a.shape[i], shapes[r - 1][i]);
            assert_int_equal(a.count, count);
            assert_memory_equal(a.data, data, count * esz[d]);
            /* The header is 64-byte aligned, as NumPy writes it. */
            size_t fn;
            uint8_t *raw = td_read(p, &fn);
            assert_int_equal(fn % 64, (count * esz[d]) % 64);
            assert_int_equal(raw[fn - count * esz[d] - 1], '\n');
            free(raw);
            gf_npy_free(&a);
            free(data);
        }
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_dtype),
        cmocka_unit_test(test_npy_fortran),
        cmocka_unit_test(test_npy_shape_lies),
        cmocka_unit_test(test_npy_bad_magic),
        cmocka_unit_test(test_npy_header_past_end),
        cmocka_unit_test(test_npy_round_trip),
        cmocka_unit_test(test_npy_fuzz_mutations),
    };
    return cmocka_run_group_tests_name("npy_io", tests, NULL, NULL);
}
