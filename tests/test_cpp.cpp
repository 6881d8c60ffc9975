// The public headers from C++: both compile under g++ -std=c++17 -Wall -Wextra
// -Werror, and a program calling the inference API (kernel sets, config
// validation, a model's forward pass) and the training API (a trainable) links
// against the library with C linkage. Prints one line; exit status 1 on failure.
#include "griffin.h"
#include "griffin_train.h"

#include <cstdio>
#include <cstring>
#include <vector>

static int fail(const char *what, const gf_error &err) {
    std::printf("test_cpp: FAILED: %s: %s\n", what, err.msg);
    return 1;
}

int main() {
    gf_error err{};
    if (gf_kernels_init(&err) != 0) return fail("gf_kernels_init", err);

    // A tiny Griffin: recurrent, attention.
    gf_config cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = 64;
    cfg.width = 32;
    cfg.mlp_width = 48;
    cfg.num_layers = 2;
    cfg.num_heads = 2;
    cfg.head_dim = 16;
    cfg.lru_width = 32;
    cfg.window = 8;
    cfg.conv_width = 4;
    cfg.rms_eps = 1e-6f;
    cfg.rope_theta = 10000.0f;
    cfg.final_w_init_variance_scale = 1.0f;
    cfg.bos_id = 2;
    cfg.eos_id = 1;
    cfg.pad_id = 0;
    cfg.block_types[0] = GF_BLOCK_RECURRENT;
    cfg.block_types[1] = GF_BLOCK_ATTENTION;
    if (gf_config_validate(&cfg, "test_cpp", &err) != 0) return fail("gf_config_validate", err);

    gf_trainable *t = gf_trainable_new(&cfg, 1234, &err);
    if (!t) return fail("gf_trainable_new", err);
    const size_t n = gf_trainable_num_params(t);
    if (n != gf_config_num_params(&cfg)) {
        std::printf("test_cpp: FAILED: the trainable has %zu parameters, the config %zu\n", n,
                    gf_config_num_params(&cfg));
        gf_trainable_free(t);
        return 1;
    }
    // A forward pass over the trainable's model, and a greedy pick.
    const gf_model *m = gf_trainable_model(t);
    const int32_t tokens[3] = {2, 17, 33};
    std::vector<float> logits(3 * static_cast<size_t>(cfg.vocab_size));
    if (gf_prefill(m, 1, 3, tokens, nullptr, logits.data(), nullptr, nullptr, &err) != 0) {
        gf_trainable_free(t);
        return fail("gf_prefill", err);
    }
    gf_sampler s;
    gf_sampler_init(&s, 0.0f, 0, 1.0f, 1);
    std::vector<float> scratch_f(static_cast<size_t>(cfg.vocab_size));
    std::vector<int> scratch_i(static_cast<size_t>(cfg.vocab_size));
    const int next = gf_sample(&s, logits.data() + 2 * cfg.vocab_size, cfg.vocab_size,
                               scratch_f.data(), scratch_i.data());
    gf_trainable_free(t);
    if (next < 0 || next >= cfg.vocab_size) {
        std::printf("test_cpp: FAILED: gf_sample gave %d\n", next);
        return 1;
    }
    std::printf("test_cpp: OK: kernel set %s, %zu parameters, greedy next token %d\n",
                gf_kernels_name(), n, next);
    return 0;
}
