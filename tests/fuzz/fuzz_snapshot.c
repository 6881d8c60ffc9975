/* A generator snapshot file (`griffin chat`'s /save and /load) for the
 * fixture model (tests/fuzz/data/model): gf_gen_snapshot_read checks the
 * header against the model, every length against the file, the checksum
 * and the values; a snapshot it accepts is restored into a generator that
 * then takes two steps, and joined into a slot that decodes a round.
 *
 * The file ends with an FNV-1a checksum of the bytes before it, which a
 * mutation almost never keeps right: this target writes the right one over
 * the input's last 8 bytes, so that the checks after it see the mutations
 * (the checksum's own check is a comparison of two numbers). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static gf_model *g_model;
static gf_tokenizer *g_tk;
static gf_generator *g_batch, *g_slots;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    char dir[1024];
    gf_error err;
    fz_data_path(dir, sizeof dir, "model");
    if (!(g_model = gf_model_load(dir, &err)) || !(g_tk = gf_tokenizer_load(dir, &err)))
        fz_fail("the fixture model: %s (run from the repository's root, or set GRIFFIN_FUZZ_DATA)", err.msg);
    gf_gen_params p;
    gf_gen_params_default(&p);
    p.max_tokens = 2;
    const char *stop = "\n\n";
    p.stop_strings = &stop;
    p.n_stop_strings = 1;
    if (!(g_batch = gf_generator_new(g_model, g_tk, 1, &p, &err)) ||
        !(g_slots = gf_generator_new(g_model, g_tk, 1, &p, &err)) || gf_generator_set_threads(g_batch, 1, &err) ||
        gf_generator_set_threads(g_slots, 1, &err))
        fz_fail("%s", err.msg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT) return -1;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) fz_fail("out of memory");
    if (size) memcpy(copy, data, size);
    if (size >= 16) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < size - 8; i++) h = (h ^ copy[i]) * 0x100000001b3ull;
        for (int i = 0; i < 8; i++) copy[size - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
    }
    fz_write_one("chat.snap", copy, size);
    free(copy);
    char path[1024];
    fz_path(path, sizeof path, "chat.snap");
    gf_error err;
    gf_gen_snapshot *s = gf_gen_snapshot_read(g_model, path, &err);
    if (!s) {
        fz_check_error(&err, "gf_gen_snapshot_read");
        return 0;
    }
    (void)gf_gen_snapshot_bytes(s);
    size_t ctx = gf_gen_snapshot_context(s);
    gf_generator_reset(g_batch);
    if (gf_generator_restore(g_batch, 0, s, &err) == 0) {
        int32_t tok;
        int r = 1;
        for (int i = 0; i < 2 && r > 0; i++) r = gf_generator_step(g_batch, &tok, &err);
        if (r < 0) fz_check_error(&err, "gf_generator_step");
    } else {
        fz_check_error(&err, "gf_generator_restore");
    }
    gf_generator_reset(g_slots);
    const int32_t more = 5;
    int slot = gf_generator_join_from(g_slots, s, &more, 1, NULL, &err);
    if (slot >= 0) {
        gf_gen_event ev[1];
        int n_ev;
        /* a state of finite values that no model could reach may still
         * overflow in the step: an error, in one line */
        if (gf_generator_round(g_slots, ev, &n_ev, &err) < 0) fz_check_error(&err, "gf_generator_round");
        else if ((n_ev == 0 || !ev[0].finished) && gf_generator_context(g_slots, slot) < (int64_t)ctx)
            fz_fail("a slot joined from a snapshot lost context");
    } else {
        fz_check_error(&err, "gf_generator_join_from");
    }
    gf_gen_snapshot_free(s);
    return 0;
}
