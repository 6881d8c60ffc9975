/* A model directory (an archive, as fuzz_model's) loaded and run: a prefill
 * of a few tokens, then a decode step from the state it left, with the
 * products' inputs narrowed (the integer and bfloat16 kernels where the
 * weights and the CPU have them) and again in float. The tokens are the
 * archive's file "tokens" (a byte per token, modulo the vocabulary), else a
 * fixed few.
 *
 * A config may ask for any attention window up to the library's bound of
 * 2^24 with weights of a few bytes (the window sizes no tensor), and the
 * decode state then takes what it asks: the window's keys and values of
 * every attention layer (gf_state_bytes_per_seq). gf_state_new refuses a
 * state past the memory available (found while bounding this target);
 * below that it is the config's size, not a fault, so models whose state
 * per sequence passes 16 MiB are skipped here, to keep a run to milliseconds. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_STATE_BYTES ((size_t)16 << 20)
#define MAX_T 8

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

static void run(const gf_model *m, const int32_t *tokens, int T, float *logits) {
    const gf_config *c = gf_model_config(m);
    gf_error err;
    gf_state *s = gf_state_new(m, 1, &err);
    if (!s) fz_fail("gf_state_new: %s", err.msg);
    if (gf_prefill(m, 1, T, tokens, NULL, logits, NULL, s, &err) != 0) fz_fail("gf_prefill: %s", err.msg);
    if (gf_state_num_tokens(s, 0) != T) fz_fail("the state counts %lld tokens after a prefill of %d",
                                                 (long long)gf_state_num_tokens(s, 0), T);
    int32_t next = tokens[T - 1] == 0 ? c->vocab_size - 1 : tokens[T - 1] - 1;
    if (gf_decode_step(m, s, &next, NULL, logits, &err) != 0) fz_fail("gf_decode_step: %s", err.msg);
    gf_state_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT || fz_unpack(data, size) != 0) return -1;
    gf_error err;
    gf_model *m = gf_model_load(fz_dir(), &err);
    if (!m) {
        fz_check_error(&err, "gf_model_load");
        return 0;
    }
    const gf_config *c = gf_model_config(m);
    if (gf_state_bytes_per_seq(c) > MAX_STATE_BYTES) {
        gf_model_free(m);
        return 0;
    }
    size_t nt = 0;
    const uint8_t *tk = fz_archive_find(data, size, "tokens", &nt);
    int32_t tokens[MAX_T];
    int T = 0;
    if (tk && nt > 0)
        for (; T < MAX_T && (size_t)T < nt; T++) tokens[T] = (int32_t)(tk[T] % (unsigned)c->vocab_size);
    else
        for (; T < 4; T++) tokens[T] = (int32_t)((T == 0 ? c->bos_id : 3 * T) % c->vocab_size);
    float *logits = malloc((size_t)MAX_T * (size_t)c->vocab_size * sizeof *logits);
    if (!logits) fz_fail("out of memory for the logits");
    run(m, tokens, T, logits);
    gf_model_set_narrow_inputs(m, 0);
    run(m, tokens, T, logits);
    free(logits);
    gf_model_free(m);
    return 0;
}
