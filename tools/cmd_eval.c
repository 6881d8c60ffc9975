/* griffin eval: held-out next-token loss and perplexity of a model on a
 * token file, optionally by position within the window; with a loss mask,
 * the loss and accuracy of the answer tokens and the examples' exact match. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin eval --model DIR --data TOKENS.npy [--mask MASK.npy] --seq T [--batch B]\n"
    "                    [--windows N] [--per-position] [--buckets K] [--threads N]\n"
    "                    [--float-inputs] [--mmap]\n"
    "  Mean next-token cross-entropy over consecutive windows of T + 1 tokens (window k\n"
    "  starts at token kT; documents inside a window are reset as in training).\n"
    "  --mask M         a loss mask (uint8, one value per token; `griffin task` writes one):\n"
    "                   rows are whole examples packed in order, as in training (each must\n"
    "                   fit T + 1 tokens); only the answer tokens count, and their accuracy\n"
    "                   (argmax = target) and the examples' exact match are reported\n"
    "  --windows N      at most N windows (default: all that fit)\n"
    "  --per-position   also the mean loss in K equal buckets of positions (default K = 8;\n"
    "                   with a mask, also the accuracy there)\n"
    "  --float-inputs   keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                   to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n"
    "  --mmap           keep the weights mapped from the files (default: F32 / BF16 / F16 ones\n"
    "                   are copied into memory in huge pages, which runs faster)\n";

int cmd_eval(int argc, char **argv) {
    const char *model_dir = NULL, *data = NULL, *mask = NULL;
    long T = 0, B = 4, windows = 0, buckets = 8, threads = 0;
    int per_pos = 0, float_inputs = 0, keep_mapped = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--per-position")) { per_pos = 1; continue; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "eval",
                            (const char *const[]){"--model", "-m", "--data", "--mask", "--seq", "--batch", "-b",
                                                  "--windows", "--buckets", "--threads", "-t", NULL})))
            return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--mask")) mask = v;
        else if (!strcmp(a, "--seq")) { if (cli_int(a, v, 1, 1 << 24, &T)) return 1; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { if (cli_int(a, v, 1, 4096, &B)) return 1; }
        else if (!strcmp(a, "--windows")) { if (cli_int(a, v, 1, 1L << 40, &windows)) return 1; }
        else if (!strcmp(a, "--buckets")) { if (cli_int(a, v, 1, 1 << 20, &buckets)) return 1; }
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    if (!model_dir || !data || T == 0)
        return cli_error("eval needs --model, --data and --seq (see griffin eval --help)");
    cli_set_threads(threads);
    gf_error err;
    gf_model *m = gf_model_load(model_dir, &err);
    if (!m) return cli_error("%s", err.msg);
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    cli_copy_weights(m, keep_mapped);
    const gf_config *c = gf_model_config(m);
    gf_token_data *d = gf_token_data_open(data, c->vocab_size, c->bos_id, &err);
    gf_eval_stats st = {0};
    int rc = 1;
    if (!d || (mask && gf_token_data_set_mask(d, mask, &err))) { cli_error("%s", err.msg); goto out; }
    if (per_pos) {
        st.pos_loss = calloc((size_t)T, sizeof *st.pos_loss);
        st.pos_count = calloc((size_t)T, sizeof *st.pos_count);
        st.pos_correct = calloc((size_t)T, sizeof *st.pos_correct);
        if (!st.pos_loss || !st.pos_count || !st.pos_correct) { cli_error("out of memory"); goto out; }
    }
    if (gf_eval_data_stats(m, d, (int)B, (int)T, (size_t)windows, &st, &err)) {
        cli_error("%s: %s", data, err.msg);
        goto out;
    }
    if (mask)
        printf("loss %.4f nats/token on %zu answer tokens, token accuracy %.4f (%zu/%zu), exact match %.4f "
               "(%zu/%zu examples), over %zu windows of %ld tokens\n",
               st.loss, st.targets, (double)st.correct / (double)st.targets, st.correct, st.targets,
               st.examples ? (double)st.examples_correct / (double)st.examples : 0.0, st.examples_correct,
               st.examples, st.windows, T);
    else
        printf("loss %.4f nats/token, perplexity %.3f, over %zu windows of %ld tokens\n", st.loss, exp(st.loss),
               st.windows, T);
    if (per_pos) {
        if (buckets > T) buckets = T;
        for (long k = 0; k < buckets; k++) {
            long a = T * k / buckets, z = T * (k + 1) / buckets;
            double sum = 0;
            size_t n = 0, right = 0;
            for (long t = a; t < z; t++) sum += st.pos_loss[t], n += st.pos_count[t], right += st.pos_correct[t];
            printf("positions %6ld-%-6ld ", a, z - 1);
            if (n == 0) printf("no target counted\n");
            else if (mask)
                printf("loss %.4f accuracy %.4f (%zu answer tokens)\n", sum / (double)n, (double)right / (double)n, n);
            else printf("loss %.4f\n", sum / (double)n);
        }
    }
    rc = 0;
out:
    free(st.pos_loss);
    free(st.pos_count);
    free(st.pos_correct);
    gf_token_data_free(d);
    gf_model_free(m);
    return rc;
}
