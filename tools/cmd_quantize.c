/* griffin quantize: a model directory in another weight type. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin quantize --model IN --out OUT --type bf16|q8|q4 [--threads N]\n"
    "  Writes OUT/model.safetensors with IN's weights in the given type and copies\n"
    "  config.json and the tokenizer files. bf16: every float tensor in bfloat16.\n"
    "  q8 / q4: every matrix (embedding, projections) as 8-bit / 4-bit codes with one\n"
    "  F16 scale per 32 weights (tensor NAME holds the codes, NAME_scale the scales);\n"
    "  norms, biases, the conv and the RG-LRU gates stay as they are.\n";

static void progress(void *ctx, size_t done, size_t total) {
    double *last = ctx, t = cli_now();
    if (!isatty(2)) return; /* the closing line says it all in a log */
    if (done == total || t - *last > 0.5) {
        fprintf(stderr, "\rquantize: %zu / %zu tensors", done, total);
        if (done == total) fputc('\n', stderr);
        *last = t;
    }
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!(v = cli_value(argc, argv, &i, "quantize", (const char *const[]){"--model", "-m", "--out", "--type", "--threads", "-t", NULL})))
            return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) in = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--type")) type = v;
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    if (!in || !out || !type) return cli_error("quantize needs --model IN --out OUT --type bf16|q8|q4");
    gf_quant_type t;
    if (!strcmp(type, "bf16")) t = GF_QUANT_BF16;
    else if (!strcmp(type, "q8")) t = GF_QUANT_Q8;
    else if (!strcmp(type, "q4")) t = GF_QUANT_Q4;
    else return cli_error("quantize: --type must be bf16, q8 or q4, not '%s'", type);
    cli_set_threads(threads);
    gf_error err;
    double t0 = cli_now(), last = 0;
    if (gf_model_quantize(in, out, t, progress, &last, &err)) return cli_error("%s", err.msg);
    gf_model *m = gf_model_load(out, &err);
    if (!m) return cli_error("%s: the written model does not load: %s", out, err.msg);
    fprintf(stderr, "quantize: %s -> %s (%s, %.1f MiB of weights) in %.1f s\n", in, out,
            gf_model_weight_dtype(m), (double)gf_model_weight_bytes(m) / (1 << 20), cli_now() - t0);
    gf_model_free(m);
    return 0;
}
