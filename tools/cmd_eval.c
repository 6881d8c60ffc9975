/* griffin eval: held-out next-token loss and perplexity of a model on a
 * token file, optionally by position within the window. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin eval --model DIR --data TOKENS.npy --seq T [--batch B] [--windows N]\n"
    "                    [--per-position] [--buckets K] [--threads N]\n"
    "  Mean next-token cross-entropy over consecutive windows of T + 1 tokens (window k\n"
    "  starts at token kT; documents inside a window are reset as in training).\n"
    "  --windows N      at most N windows (default: all that fit)\n"
    "  --per-position   also the mean loss in K equal buckets of positions (default K = 8)\n";

int cmd_eval(int argc, char **argv) {
    const char *model_dir = NULL, *data = NULL;
    long T = 0, B = 4, windows = 0, buckets = 8, threads = 0;
    int per_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--per-position")) { per_pos = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "eval",
                            (const char *const[]){"--model", "-m", "--data", "--seq", "--batch", "-b", "--windows",
                                                  "--buckets", "--threads", "-t", NULL})))
            return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--data")) data = v;
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
    const gf_config *c = gf_model_config(m);
    gf_token_data *d = gf_token_data_open(data, c->vocab_size, c->bos_id, &err);
    double *pos = per_pos ? calloc((size_t)T, sizeof *pos) : NULL;
    int rc = 1;
    double loss;
    size_t n;
    if (!d) { cli_error("%s", err.msg); goto out; }
    if (per_pos && !pos) { cli_error("out of memory"); goto out; }
    if (gf_eval_data(m, d, (int)B, (int)T, (size_t)windows, &loss, pos, &n, &err)) {
        cli_error("%s: %s", data, err.msg);
        goto out;
    }
    printf("loss %.4f nats/token, perplexity %.3f, over %zu windows of %ld tokens\n", loss, exp(loss), n, T);
    if (per_pos) {
        if (buckets > T) buckets = T;
        for (long k = 0; k < buckets; k++) {
            long a = T * k / buckets, z = T * (k + 1) / buckets;
            double s = 0;
            for (long t = a; t < z; t++) s += pos[t];
            printf("positions %6ld-%-6ld loss %.4f\n", a, z - 1, s / (double)(z - a));
        }
    }
    rc = 0;
out:
    free(pos);
    gf_token_data_free(d);
    gf_model_free(m);
    return rc;
}
