/* A model directory (an archive, fuzz_common.h): config.json with
 * model.safetensors, or with model.safetensors.index.json and the shards it
 * names; F32 / BF16 / F16 weights or Q8 / Q4 codes with their F16 scales.
 * gf_model_load checks every tensor against the config; a model it accepts
 * is queried and its packed integer copy dropped and made again. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
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
    if (gf_config_validate(c, "loaded", &err) != 0) fz_fail("a loaded model's config is refused: %s", err.msg);
    if (gf_model_tensor_bytes(m) > gf_model_weight_bytes(m)) fz_fail("more tensor bytes than bytes mapped");
    (void)gf_model_decode_bytes(m);
    (void)gf_model_weight_dtype(m);
    (void)gf_model_amx_from(m);
    gf_model_set_narrow_inputs(m, 0);
    gf_model_set_narrow_inputs(m, 1);
    gf_model_free(m);
    return 0;
}
