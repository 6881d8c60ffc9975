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

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    const char *sets[16];
    int nsets = gf_kernels_available(sets, 16);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kernel-sets")) { /* for scripts: one name a line, lowest first */
            for (int k = 0; k < nsets && k < 16; k++) puts(sets[k]);
            if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
            return 0;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: griffin info [--model DIR | --kernel-sets]\n"
                 "  the kernel set in use and those this CPU can run (GRIFFIN_ISA=NAME picks one);\n"
                 "  with --model, what the model directory holds and what running it costs;\n"
                 "  --kernel-sets: only the names of the sets this CPU can run, one a line");
            return 0;
        }
        const char *v = cli_value(argc, argv, &i, "info", (const char *const[]){"--model", "-m", NULL});
        if (!v) return 1;
        if (!strcmp(argv[i - 1], "--model") || !strcmp(argv[i - 1], "-m")) dir = v;
        else return cli_error("info: unknown option '%s'", argv[i - 1]);
    }
    printf("kernels:          %s\n", gf_kernels_name());
    printf("kernel sets:     ");
    for (int i = 0; i < nsets && i < 16; i++) printf(" %s", sets[i]);
    printf(" (this CPU; GRIFFIN_ISA=NAME picks one)\n");
    if (!dir) {
        if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
        return 0;
    }
    gf_error err;
    gf_model *m = gf_model_load(dir, &err);
    if (!m) return cli_error("%s", err.msg);
    const gf_config *c = gf_model_config(m);
    size_t params = gf_config_num_params(c);
    size_t emb = (size_t)c->vocab_size * (size_t)c->width;
    char pattern[GF_MAX_LAYERS * 2 + 1];
    for (int i = 0; i < c->num_layers; i++) pattern[i] = c->block_types[i] == GF_BLOCK_ATTENTION ? 'A' : 'R';
    pattern[c->num_layers] = 0;
    char wb[32], sb[32];
    human(wb, sizeof wb, (double)gf_model_weight_bytes(m));
    human(sb, sizeof sb, (double)gf_state_bytes_per_seq(c));
    printf("model:            %s\n", dir);
    printf("architecture:     %s\n", arch_name(c));
    printf("layers:           %d  %s\n", c->num_layers, pattern);
    printf("width:            %d (MLP %d, RG-LRU %d)\n", c->width, c->mlp_width, c->lru_width);
    printf("heads:            %d x %d, 1 key/value head, window %d (+1)\n", c->num_heads, c->head_dim, c->window);
    printf("vocabulary:       %d (tied embedding, scale %g)\n", c->vocab_size, (double)gf_config_embed_multiplier(c));
    printf("logits soft cap:  %g\n", (double)c->logits_soft_cap);
    printf("parameters:       %zu (%.3f M; non-embedding %.3f M)\n", params, params / 1e6, (params - emb) / 1e6);
    printf("weights:          %s, %s mapped\n", gf_model_weight_dtype(m), wb);
    printf("decode state:     %s per sequence (%zu bytes)\n", sb, gf_state_bytes_per_seq(c));
    gf_model_free(m);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_error("stdout: write failed");
    return 0;
}
