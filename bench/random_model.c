/* A random-weight BF16 model of any shape, written without holding it in
 * memory: for timing models too large for `griffin init`, which draws every
 * tensor in F32 in one arena (34 GB for RecurrentGemma-9B, on a machine of
 * 23 GiB).
 *
 *   build/bench/random_model CONFIG.json OUT_DIR [--seed S]
 *
 * Every tensor of the config (the library's tensor table, so the names and
 * shapes are those `griffin init` writes) points at the same block of
 * random bfloat16 values, N(0, 0.02^2) by Box-Muller, as large as the
 * largest tensor: speed does not depend on the values, and a decode step
 * streams each matrix from memory once whichever bytes it holds. The norms
 * then scale by 1 + w, the RG-LRU's a lands near 0.5: nothing overflows.
 * Not a model to read text with. Then `griffin quantize` gives its Q8 / Q4
 * forms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "griffin.h"
#include "kernels/kernels.h"
#include "model/tensors.h"
#include "util.h"

static uint64_t next(uint64_t *s) {
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: random_model CONFIG.json OUT_DIR [--seed S]\n");
        return 1;
    }
    uint64_t seed = 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "random_model: unknown option '%s'\n", argv[i]);
            return 1;
        }
    }
    gf_error err;
    gf_config c;
    if (gf_config_load(argv[1], &c, &err)) {
        fprintf(stderr, "random_model: %s\n", err.msg);
        return 1;
    }
    int n = gf_tensor_slots(&c, NULL);
    gf_tensor_slot *slots = calloc((size_t)n, sizeof *slots);
    gf_st_entry *es = calloc((size_t)n, sizeof *es);
    if (!slots || !es) return 1;
    gf_tensor_slots(&c, slots);
    size_t most = 0;
    for (int i = 0; i < n; i++)
        if (slots[i].numel > most) most = slots[i].numel;
    uint16_t *block = malloc(most * sizeof *block);
    if (!block) {
        fprintf(stderr, "random_model: out of memory for %zu values\n", most);
        return 1;
    }
    uint64_t s = seed;
    for (size_t i = 0; i < most; i += 2) {
        double u1 = ((double)(next(&s) >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(next(&s) >> 11) / 9007199254740992.0;
        double r = 0.02 * sqrt(-2.0 * log(u1));
        block[i] = gf_f32_to_bf16((float)(r * cos(6.283185307179586 * u2)));
        if (i + 1 < most) block[i + 1] = gf_f32_to_bf16((float)(r * sin(6.283185307179586 * u2)));
    }
    for (int i = 0; i < n; i++) {
        es[i].name = slots[i].name;
        es[i].dtype = GF_DT_BF16;
        es[i].ndim = slots[i].ndim;
        for (int d = 0; d < slots[i].ndim; d++) es[i].shape[d] = slots[i].shape[d];
        es[i].data = block;
    }
    char path[4096];
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    if (gf_mkdir_p(argv[2], &err) || gf_path_join(path, sizeof path, argv[2], "config.json", &err) ||
        gf_config_save(&c, path, &err) || gf_path_join(path, sizeof path, argv[2], "model.safetensors", &err) ||
        gf_st_write_meta(path, es, (size_t)n, keys, vals, 1, &err)) {
        fprintf(stderr, "random_model: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "random_model: wrote %s (%zu parameters, BF16)\n", argv[2], gf_config_num_params(&c));
    free(block);
    free(es);
    free(slots);
    return 0;
}
