/* config.json: parsed and validated; an accepted config is sized
 * (parameters, bytes per weight type, decode state) and must come back the
 * same through gf_config_save and gf_config_load. */
#include <string.h>

#include "fuzz_common.h"

/* Field by field: floats by value (a soft cap of -0 comes back as 0). */
static int same(const gf_config *a, const gf_config *b) {
    return a->vocab_size == b->vocab_size && a->width == b->width && a->mlp_width == b->mlp_width &&
           a->num_layers == b->num_layers && a->num_heads == b->num_heads && a->head_dim == b->head_dim &&
           a->lru_width == b->lru_width && a->window == b->window && a->conv_width == b->conv_width &&
           a->logits_soft_cap == b->logits_soft_cap && a->rms_eps == b->rms_eps && a->rope_theta == b->rope_theta &&
           a->embed_scale == b->embed_scale && a->final_w_init_variance_scale == b->final_w_init_variance_scale &&
           a->bos_id == b->bos_id && a->eos_id == b->eos_id && a->pad_id == b->pad_id &&
           !memcmp(a->block_types, b->block_types, sizeof a->block_types);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FZ_MAX_INPUT) return -1;
    fz_write_one("config.json", data, size);
    char path[1024], again_path[1024];
    fz_path(path, sizeof path, "config.json");
    fz_path(again_path, sizeof again_path, "saved.json");
    gf_config c, again;
    gf_error err;
    if (gf_config_load(path, &c, &err) != 0) {
        fz_check_error(&err, "gf_config_load");
        return 0;
    }
    gf_model_sizes sz;
    gf_config_sizes(&c, &sz);
    if (sz.params_embedding + sz.params_recurrent + sz.params_attention + sz.params_mlp != gf_config_num_params(&c))
        fz_fail("the parameters by part do not sum to gf_config_num_params");
    (void)gf_state_bytes_per_seq(&c);
    (void)gf_config_num_attention_layers(&c);
    (void)gf_config_embed_multiplier(&c);
    if (gf_config_save(&c, again_path, &err) != 0) fz_fail("gf_config_save: %s", err.msg);
    if (gf_config_load(again_path, &again, &err) != 0) fz_fail("a saved config does not load: %s", err.msg);
    if (!same(&c, &again)) fz_fail("a config changed through gf_config_save and gf_config_load");
    return 0;
}
