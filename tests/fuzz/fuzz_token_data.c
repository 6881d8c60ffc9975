/* Training data (an archive, fuzz_common.h): tokens.npy, a 1-D token file
 * checked against a vocabulary of 1024 ids with BOS 2, and when there is one
 * mask.npy, its loss mask; then training rows drawn from them (windows, or
 * whole examples packed when masked) and evaluation's packing, with every
 * id checked to lie in the vocabulary and every position in its row. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "griffin_train.h"

#define VOCAB 1024
#define BOS 2
#define B 2

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

/* packed: rows of whole documents, whose positions start at 0 in the row
 * (a window may start inside a document and keep its true positions) */
static void check_rows(const int32_t *in, const int32_t *tg, const int32_t *pos, size_t n, size_t T, int packed) {
    for (size_t i = 0; i < n; i++) {
        if (in[i] < 0 || in[i] >= VOCAB || tg[i] < -1 || tg[i] >= VOCAB || pos[i] < 0 ||
            (packed && (size_t)pos[i] > i % T))
            fz_fail("row %zu position %zu: input %d target %d segment position %d", i / T, i % T, in[i], tg[i], pos[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT || fz_unpack(data, size) != 0) return -1;
    char tokens[1024], mask[1024];
    fz_path(tokens, sizeof tokens, "tokens.npy");
    fz_path(mask, sizeof mask, "mask.npy");
    gf_error err;
    gf_token_data *d = gf_token_data_open(tokens, VOCAB, BOS, &err);
    if (!d) {
        fz_check_error(&err, "gf_token_data_open");
        return 0;
    }
    if (fz_archive_find(data, size, "mask.npy", &(size_t){0}) && gf_token_data_set_mask(d, mask, &err) != 0) {
        fz_check_error(&err, "gf_token_data_set_mask");
        gf_token_data_free(d);
        return 0;
    }
    size_t n = gf_token_data_len(d), longest = gf_token_data_longest_doc(d);
    for (size_t i = 0; i < n; i++)
        if (gf_token_data_at(d, i) < 0 || gf_token_data_at(d, i) >= VOCAB) fz_fail("token %zu outside the vocabulary", i);
    /* a short window and one that fits the longest document */
    size_t Ts[2] = {4, longest < 2 ? 1 : longest > 256 ? 256 : longest - 1};
    for (int k = 0; k < 2; k++) {
        size_t T = Ts[k];
        int32_t *rows = malloc(3 * B * T * sizeof *rows);
        if (!rows) fz_fail("out of memory");
        int32_t *in = rows, *tg = rows + B * T, *pos = rows + 2 * B * T;
        uint64_t rng[4];
        gf_rng_seed(rng, 1);
        if (gf_token_data_sample(d, rng, B, T, in, tg, pos, &err) == 0) check_rows(in, tg, pos, B * T, T, gf_token_data_masked(d));
        else fz_check_error(&err, "gf_token_data_sample");
        size_t docs = gf_token_data_num_docs(d);
        for (size_t doc = 0; doc < docs && doc < 4; doc++) {
            gf_token_data_pack(d, doc, T, in, tg, pos);
            check_rows(in, tg, pos, T, T, 1);
        }
        free(rows);
    }
    gf_token_data_free(d);
    return 0;
}
