/* griffin init: a randomly initialised model of any shape, no download. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_init(int argc, char **argv) {
    const char *cfg_path = NULL, *out = NULL;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: griffin init --config CONFIG.json --out DIR [--seed S]\n"
                 "  CONFIG.json: a Hugging Face RecurrentGemma config (docs/formats.md)\n"
                 "  writes DIR/config.json and DIR/model.safetensors (F32)");
            return 0;
        }
        if (!(v = cli_value(argc, argv, &i, "init", (const char *const[]){"--config", "--out", "-o", "--seed", NULL}))) return 1;
        if (!strcmp(a, "--config")) cfg_path = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--seed")) { if (cli_u64(a, v, &seed)) return 1; }
        else return cli_error("init: unknown option '%s'", a);
    }
    if (!cfg_path || !out) return cli_error("init needs --config and --out");
    gf_error err;
    gf_config cfg;
    if (gf_config_load(cfg_path, &cfg, &err) != 0) return cli_error("%s", err.msg);
    if (gf_model_init_write(&cfg, seed, out, &err) != 0) return cli_error("%s", err.msg);
    fprintf(stderr, "griffin: wrote %s (%zu parameters, seed %llu)\n", out, gf_config_num_params(&cfg),
            (unsigned long long)seed);
    return 0;
}
