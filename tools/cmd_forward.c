/* griffin forward: logits of a token batch, by one prefill or prefill + decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin forward --model DIR --tokens T.npy [--segment-pos S.npy] [--prefill N]\n"
    "                       [--threads N] [--float-inputs] --out LOGITS.npy\n"
    "  --tokens       int32 [B, T] token ids\n"
    "  --segment-pos  int32 [B, T] positions; 0 starts a document (default 0..T-1)\n"
    "  --prefill N    prefill the first N tokens, then decode the rest one at a time\n"
    "                 (0 = decode every token from an empty state; default: prefill all)\n"
    "  --out          float32 [B, T, V] logits\n"
    "  --float-inputs keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                 to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n";

int cmd_forward(int argc, char **argv) {
    const char *model_dir = NULL, *tok_path = NULL, *pos_path = NULL, *out_path = NULL;
    long prefill = -1, threads = 0;
    int float_inputs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "forward", (const char *const[]){"--model", "-m", "--tokens", "--segment-pos", "--out", "-o", "--prefill", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--tokens")) tok_path = v;
        else if (!strcmp(a, "--segment-pos")) pos_path = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out_path = v;
        else if (!strcmp(a, "--prefill")) { if (cli_int(a, v, 0, 1L << 30, &prefill)) return 1; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (cli_int(a, v, 0, 1024, &threads)) return 1; }
        else return cli_error("forward: unknown option '%s' (see griffin forward --help)", a);
    }
    if (!model_dir || !tok_path || !out_path)
        return cli_error("forward needs --model, --tokens and --out (see griffin forward --help)");
    cli_set_threads(threads);

    gf_error err;
    gf_npy tok = {0}, pos = {0};
    gf_model *m = NULL;
    gf_state *st = NULL;
    float *logits = NULL, *part = NULL;
    int32_t *sub_tok = NULL, *sub_pos = NULL;
    int rc = 1;
    if (cli_load_ids(tok_path, "tokens", &tok)) goto out;
    size_t B = tok.shape[0], T = tok.shape[1];
    if (pos_path) {
        if (cli_load_ids(pos_path, "segment positions", &pos)) goto out;
        if (pos.shape[0] != B || pos.shape[1] != T) {
            cli_error("%s: segment positions have shape [%zu, %zu] but tokens are [%zu, %zu]", pos_path, pos.shape[0], pos.shape[1], B, T);
            goto out;
        }
    } else {
        pos.data = malloc(B * T * sizeof(int32_t));
        if (!pos.data) { cli_error("out of memory"); goto out; }
        for (size_t i = 0; i < B * T; i++) ((int32_t *)pos.data)[i] = (int32_t)(i % T);
    }
    if (prefill > (long)T) {
        cli_error("--prefill %ld is more than the %zu tokens of %s", prefill, T, tok_path);
        goto out;
    }
    if (!(m = gf_model_load(model_dir, &err))) { cli_error("%s", err.msg); goto out; }
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    size_t V = (size_t)gf_model_config(m)->vocab_size;
    const int32_t *ids = tok.data, *sp = pos.data;
    for (size_t i = 0; i < B * T; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= V) {
            cli_error("%s: token id %d at [%zu, %zu] is outside the vocabulary [0, %zu)", tok_path, ids[i], i / T, i % T, V);
            goto out;
        }
    logits = malloc(B * T * V * sizeof(float));
    if (!logits) { cli_error("out of memory for logits [%zu, %zu, %zu]", B, T, V); goto out; }
    if (prefill < 0) {
        if (gf_prefill(m, (int)B, (int)T, ids, sp, logits, NULL, NULL, &err)) { cli_error("%s", err.msg); goto out; }
    } else {
        size_t N = (size_t)prefill;
        if (!(st = gf_state_new(m, (int)B, &err))) { cli_error("%s", err.msg); goto out; }
        sub_tok = malloc((B * (N > 0 ? N : 1)) * sizeof *sub_tok);
        sub_pos = malloc((B * (N > 0 ? N : 1)) * sizeof *sub_pos);
        part = malloc(B * (N > 0 ? N : 1) * V * sizeof *part);
        if (!sub_tok || !sub_pos || !part) { cli_error("out of memory"); goto out; }
        if (N > 0) {
            for (size_t b = 0; b < B; b++) {
                memcpy(sub_tok + b * N, ids + b * T, N * sizeof *sub_tok);
                memcpy(sub_pos + b * N, sp + b * T, N * sizeof *sub_pos);
            }
            if (gf_prefill(m, (int)B, (int)N, sub_tok, sub_pos, part, NULL, st, &err)) { cli_error("%s", err.msg); goto out; }
            for (size_t b = 0; b < B; b++)
                memcpy(logits + b * T * V, part + b * N * V, N * V * sizeof *logits);
        }
        for (size_t t = N; t < T; t++) {
            for (size_t b = 0; b < B; b++) {
                sub_tok[b] = ids[b * T + t];
                sub_pos[b] = sp[b * T + t];
            }
            if (gf_decode_step(m, st, sub_tok, sub_pos, part, &err)) { cli_error("%s", err.msg); goto out; }
            for (size_t b = 0; b < B; b++) memcpy(logits + (b * T + t) * V, part + b * V, V * sizeof *logits);
        }
    }
    size_t shape[3] = {B, T, V};
    if (gf_npy_write(out_path, GF_NPY_F32, shape, 3, logits, &err)) { cli_error("%s", err.msg); goto out; }
    rc = 0;
out:
    free(logits);
    free(part);
    free(sub_tok);
    free(sub_pos);
    gf_state_free(st);
    gf_model_free(m);
    gf_npy_free(&tok);
    gf_npy_free(&pos);
    return rc;
}
