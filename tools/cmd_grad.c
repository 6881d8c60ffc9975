/* griffin grad: the loss of a token batch and the gradient of every
 * parameter, written as safetensors under the Hugging Face names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin grad --model DIR --tokens T.npy [--segment-pos S.npy] [--threads N]\n"
    "                    --out GRADS.safetensors\n"
    "  Writes `loss` (F32 [1]) and d loss / d parameter for every parameter, where\n"
    "  loss = mean over rows b and positions t < T-1 of\n"
    "         cross_entropy(logits[b, t], tokens[b, t+1]).\n"
    "  --tokens       int32 [B, T] token ids (T >= 2)\n"
    "  --segment-pos  int32 [B, T] positions; 0 starts a document (default 0..T-1)\n";

int cmd_grad(int argc, char **argv) {
    const char *model_dir = NULL, *tok_path = NULL, *pos_path = NULL, *out_path = NULL;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!(v = cli_value(argc, argv, &i, "grad",
                            (const char *const[]){"--model", "-m", "--tokens", "--segment-pos", "--out", "-o",
                                                  "--threads", "-t", NULL})))
            return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--tokens")) tok_path = v;
        else if (!strcmp(a, "--segment-pos")) pos_path = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out_path = v;
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    if (!model_dir || !tok_path || !out_path)
        return cli_error("grad needs --model, --tokens and --out (see griffin grad --help)");
    cli_set_threads(threads);
    gf_error err;
    gf_npy tok = {0}, pos = {0};
    gf_model *m = NULL;
    gf_trainable *t = NULL;
    int32_t *targets = NULL;
    int rc = 1;
    if (cli_load_ids(tok_path, "tokens", &tok)) goto out;
    size_t B = tok.shape[0], T = tok.shape[1];
    if (T < 2) {
        cli_error("%s: tokens need at least 2 positions per row to have a next token (got %zu)", tok_path, T);
        goto out;
    }
    if (pos_path) {
        if (cli_load_ids(pos_path, "segment positions", &pos)) goto out;
        if (pos.shape[0] != B || pos.shape[1] != T) {
            cli_error("%s: segment positions have shape [%zu, %zu] but tokens are [%zu, %zu]", pos_path,
                      pos.shape[0], pos.shape[1], B, T);
            goto out;
        }
    }
    if (!(m = gf_model_load(model_dir, &err)) || !(t = gf_trainable_from_model(m, &err))) {
        cli_error("%s", err.msg);
        goto out;
    }
    const int32_t *ids = tok.data;
    int V = gf_model_config(m)->vocab_size;
    for (size_t i = 0; i < B * T; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            cli_error("%s: token id %d at [%zu, %zu] is outside the vocabulary [0, %d)", tok_path, ids[i],
                      i / T, i % T, V);
            goto out;
        }
    gf_model_free(m); /* the trainable holds its own F32 copy */
    m = NULL;
    targets = malloc(B * T * sizeof *targets);
    if (!targets) { cli_error("out of memory"); goto out; }
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < T; i++) targets[b * T + i] = i + 1 < T ? ids[b * T + i + 1] : -1;
    double loss;
    if (gf_train_loss_grad(t, (int)B, (int)T, ids, targets, pos_path ? pos.data : NULL, 1.0f, &loss, &err) ||
        gf_trainable_save_grads(t, (float)loss, out_path, &err)) {
        cli_error("%s", err.msg);
        goto out;
    }
    printf("loss %.7g over %zu x %zu tokens\n", loss, B, T - 1);
    rc = 0;
out:
    free(targets);
    gf_trainable_free(t);
    gf_model_free(m);
    gf_npy_free(&tok);
    gf_npy_free(&pos);
    return rc;
}
