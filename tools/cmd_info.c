/* griffin info: what a model directory holds and what running it costs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *arch_name(const gf_config *c) {
    size_t na = gf_config_num_attention_layers(c);
    if (na == 0) return "Hawk (all recurrent)";
    if (na == (size_t)c->num_layers) return "MQA Transformer (all local attention)";
    return "Griffin (recurrent + local attention)";
}

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) { bytes /= 1024; i++; }
    snprintf(buf, n, "%.2f %s", bytes, u[i]);
}

static void print_bytes(const char *label, size_t bytes, const char *tail) {
    char b[32];
    human(b, sizeof b, (double)bytes);
    printf("%-18s%s (%zu bytes)%s\n", label, b, bytes, tail);
}

/* What the config alone says: the shape, the parameters by part, the
 * decode state; with the weight files' bytes in every type when there are
 * no weights to look at. */
static void print_config(const gf_config *c, int all_types) {
    gf_model_sizes z;
    gf_config_sizes(c, &z);
    size_t params = gf_config_num_params(c);
    char pattern[GF_MAX_LAYERS * 2 + 1];
    for (int i = 0; i < c->num_layers; i++) pattern[i] = c->block_types[i] == GF_BLOCK_ATTENTION ? 'A' : 'R';
    pattern[c->num_layers] = 0;
    printf("architecture:     %s\n", arch_name(c));
    printf("layers:           %d  %s\n", c->num_layers, pattern);
    printf("width:            %d (MLP %d, RG-LRU %d)\n", c->width, c->mlp_width, c->lru_width);
    printf("heads:            %d x %d, 1 key/value head, window %d (+1)\n", c->num_heads, c->head_dim, c->window);
    printf("vocabulary:       %d (tied embedding, scale %g)\n", c->vocab_size, (double)gf_config_embed_multiplier(c));
    printf("logits soft cap:  %g\n", (double)c->logits_soft_cap);
    printf("parameters:       %zu (%.3f M; non-embedding %.3f M)\n", params, params / 1e6,
           (params - z.params_embedding) / 1e6);
    printf("  embedding:      %zu (%.3f M)\n", z.params_embedding, z.params_embedding / 1e6);
    printf("  recurrent:      %zu (%.3f M)\n", z.params_recurrent, z.params_recurrent / 1e6);
    printf("  attention:      %zu (%.3f M)\n", z.params_attention, z.params_attention / 1e6);
    printf("  MLP:            %zu (%.3f M)\n", z.params_mlp, z.params_mlp / 1e6);
    if (all_types) {
        /* the files' tensor data; loaded, the F32 / BF16 ones are copied
         * into memory and the Q8 / Q4 ones repacked, about as large */
        print_bytes("weights F32:", z.bytes_f32, "");
        print_bytes("weights BF16:", z.bytes_bf16, "");
        print_bytes("weights Q8:", z.bytes_q8, "");
        print_bytes("weights Q4:", z.bytes_q4, "");
    }
    print_bytes("decode state:", gf_state_bytes_per_seq(c), " per sequence, at any context");
}

int cmd_info(int argc, char **argv) {
    const char *dir = NULL, *cfg_path = NULL;
    const char *sets[16];
    int nsets = gf_kernels_available(sets, 16);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kernel-sets")) { /* for scripts: one name a line, lowest first */
            for (int k = 0; k < nsets && k < 16; k++) puts(sets[k]);
            if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
            return 0;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: griffin info [--model DIR | --config CONFIG.json | --kernel-sets]\n"
                 "  the kernel set in use and those this CPU can run (GRIFFIN_ISA=NAME picks one);\n"
                 "  with --model, what the model directory holds and what running it costs;\n"
                 "  with --config, a model's size from its config.json alone (Hugging Face\n"
                 "  RecurrentGemma or griffin's): parameters by part, its weight files' bytes\n"
                 "  in F32, BF16, Q8 and Q4, and the decode state per sequence;\n"
                 "  --kernel-sets: only the names of the sets this CPU can run, one a line");
            return 0;
        }
        const char *a = argv[i]; /* cli_value cuts "--config=F" to "--config" in place */
        const char *v = cli_value(argc, argv, &i, "info", (const char *const[]){"--model", "-m", "--config", NULL});
        if (!v) return 1;
        if (!strcmp(a, "--config")) cfg_path = v;
        else dir = v;
    }
    if (dir && cfg_path) return cli_error("info: give --model or --config, not both");
    gf_error err;
    if (cfg_path) {
        gf_config c;
        if (gf_config_load(cfg_path, &c, &err) != 0) return cli_error("%s", err.msg);
        printf("config:           %s\n", cfg_path);
        print_config(&c, 1);
        if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
        return 0;
    }
    printf("kernels:          %s\n", gf_kernels_name());
    printf("kernel sets:     ");
    for (int i = 0; i < nsets && i < 16; i++) printf(" %s", sets[i]);
    printf(" (this CPU; GRIFFIN_ISA=NAME picks one)\n");
    if (!dir) {
        if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
        return 0;
    }
    gf_model *m = gf_model_load(dir, &err);
    if (!m) return cli_error("%s", err.msg);
    char wb[32];
    human(wb, sizeof wb, (double)gf_model_weight_bytes(m));
    printf("model:            %s\n", dir);
    print_config(gf_model_config(m), 0);
    printf("weights:          %s, %s mapped\n", gf_model_weight_dtype(m), wb);
    print_bytes("tensor data:", gf_model_tensor_bytes(m), "");
    gf_model_free(m);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
    return 0;
}
