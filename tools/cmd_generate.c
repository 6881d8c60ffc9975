/* griffin generate: prefill a prompt, then sample token by token (the
 * library's generator, gf_generator_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "serve/util.h" /* sv_buf */

static const char *USAGE =
    "usage: griffin generate --model DIR (--prompt-ids 2,17,33 | --prompt TEXT) [options]\n"
    "  --prompt TEXT   text, encoded with DIR/tokenizer.model; BOS is prepended\n"
    "  --prompt-ids L  token ids, comma-separated, used as given (no BOS added)\n"
    "  With DIR/tokenizer.model the continuation is printed as text, streamed as it is\n"
    "  produced; --ids prints token ids instead. Generation stops at EOS and at\n"
    "  <end_of_turn> when the tokenizer has it.\n"
    "  -n N            tokens to generate per sequence (default 64)\n"
    "  --temp T        temperature; 0 = greedy (default 0.8)\n"
    "  --top-k K       keep the K most likely tokens; 0 = off (default 40)\n"
    "  --top-p P       keep the smallest set with probability >= P; 1 = off (default 0.95)\n"
    "  --seed S        random seed (default: from the clock, printed on stderr)\n"
    "  --batch B       B independent sequences from the same prompt (default 1)\n"
    "  --threads N     threads for the matrix products and the layers (default: measured,\n"
    "                  1 to all cores, whichever runs faster now)\n"
    "  --no-eos        keep going past the end-of-sequence token\n"
    "  --ids           print token ids even when the model has a tokenizer\n"
    "  --float-inputs  keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                  to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n"
    "  --mmap          keep the weights mapped from the files (default: F32 / BF16 / F16 ones\n"
    "                  are copied into memory in huge pages, which decodes faster)\n";

#define MAX_PROMPT (1 << 20)

static int parse_ids(const char *s, int32_t **out, size_t *n_out, int V) {
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return cli_error("out of memory");
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            free(ids);
            return cli_error("--prompt-ids: '%s' is not a comma-separated list of token ids", s);
        }
        if (v < 0 || v >= V) {
            free(ids);
            return cli_error("--prompt-ids: token id %ld is outside the vocabulary [0, %d)", v, V);
        }
        if (n == MAX_PROMPT) {
            free(ids);
            return cli_error("--prompt-ids: more than %d tokens", MAX_PROMPT);
        }
        if (n == cap) {
            int32_t *g = realloc(ids, 2 * cap * sizeof *ids);
            if (!g) { free(ids); return cli_error("out of memory"); }
            ids = g;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) {
        free(ids);
        return cli_error("--prompt-ids: the prompt is empty");
    }
    *out = ids;
    *n_out = n;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *model_dir = NULL, *ids_arg = NULL, *text = NULL;
    long n_gen = 64, top_k = 40, batch = 1, threads = 0;
    double temp = 0.8, top_p = 0.95;
    uint64_t seed = (uint64_t)time(NULL);
    int stop_at_eos = 1, want_ids = 0, float_inputs = 0, keep_mapped = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--no-eos")) { stop_at_eos = 0; continue; }
        if (!strcmp(a, "--ids")) { want_ids = 1; continue; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "generate", (const char *const[]){"--model", "-m", "--prompt-ids", "--prompt", "-p", "-n", "--n-predict", "--temp", "--top-k", "--top-p", "--seed", "-s", "--batch", "-b", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--prompt-ids")) ids_arg = v;
        else if (!strcmp(a, "--prompt") || !strcmp(a, "-p")) text = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (cli_int(a, v, 0, 1L << 30, &n_gen)) return 1; }
        else if (!strcmp(a, "--temp")) { if (cli_float(a, v, 0, 1e6, &temp)) return 1; }
        else if (!strcmp(a, "--top-k")) { if (cli_int(a, v, 0, 1L << 30, &top_k)) return 1; }
        else if (!strcmp(a, "--top-p")) { if (cli_float(a, v, 0, 1, &top_p)) return 1; }
        else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) { if (cli_u64(a, v, &seed)) return 1; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { if (cli_int(a, v, 1, 4096, &batch)) return 1; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (cli_int(a, v, 0, 1024, &threads)) return 1; }
        else return cli_error("generate: unknown option '%s' (see griffin generate --help)", a);
    }
    if (!model_dir || (!ids_arg && !text) || (ids_arg && text))
        return cli_error("generate needs --model and one of --prompt-ids or --prompt (see griffin generate --help)");
    cli_set_threads(threads);
    gf_error err;
    gf_tokenizer *tk = NULL;
    if (cli_model_tokenizer(model_dir, text != NULL, &tk)) return 1;
    gf_model *m = gf_model_load(model_dir, &err);
    if (!m) {
        gf_tokenizer_free(tk);
        return cli_error("%s", err.msg);
    }
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    cli_copy_weights(m, keep_mapped);
    const gf_config *c = gf_model_config(m);
    int V = c->vocab_size, B = (int)batch, rc = 1;
    int end_of_turn = tk ? gf_tokenizer_find(tk, "<end_of_turn>") : -1;
    int as_text = tk && !want_ids;
    int32_t *prompt = NULL, *toks = NULL, *out_ids = NULL;
    long *n_out = NULL;
    sv_buf *texts = NULL;
    gf_generator *g = NULL;
    size_t P = 0;
    if (tk && cli_check_vocab(tk, model_dir, c)) goto out;
    if (text ? cli_encode_prompt(tk, text, c->bos_id, &prompt, &P) : parse_ids(ids_arg, &prompt, &P, V))
        goto out;
    /* The generator samples only ids the tokenizer can print (a padded
     * vocabulary has more), and stops a sequence at EOS or <end_of_turn>. */
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = (float)temp;
    gp.top_k = (int)top_k;
    gp.top_p = (float)top_p;
    gp.seed = seed;
    gp.max_tokens = n_gen;
    int32_t stops[2];
    int n_stops = 0;
    if (stop_at_eos && c->eos_id >= 0 && c->eos_id < V) stops[n_stops++] = c->eos_id;
    if (stop_at_eos && end_of_turn >= 0 && end_of_turn < V) stops[n_stops++] = end_of_turn;
    gp.stop_ids = stops;
    gp.n_stop_ids = n_stops;
    if (!(g = gf_generator_new(m, tk, B, &gp, &err))) { cli_error("%s", err.msg); goto out; }
    if (threads > 0) gf_generator_set_threads(g, (int)threads, NULL); /* as asked; else measured */
    toks = malloc((size_t)B * sizeof *toks);
    n_out = calloc((size_t)B, sizeof *n_out);
    if (B > 1 && as_text) texts = calloc((size_t)B, sizeof *texts);
    else if (B > 1) out_ids = malloc(((size_t)B * (size_t)n_gen + 1) * sizeof *out_ids);
    if (!toks || !n_out || (B > 1 && !texts && !out_ids)) { cli_error("out of memory"); goto out; }
    fprintf(stderr, "griffin: seed %llu\n", (unsigned long long)seed);
    /* As the reference sampler: the prompt but its last token prefilled (once
     * for the batch), the last one fed as the first decode step. */
    double t0 = cli_now();
    if (gf_generator_feed(g, prompt, P, &err)) { cli_error("%s", err.msg); goto out; }
    double t1 = cli_now();
    for (;;) {
        int running = gf_generator_step(g, toks, &err);
        if (running < 0) { cli_error("%s", err.msg); goto out; }
        for (int b = 0; b < B; b++) {
            size_t len;
            const char *piece = gf_generator_text(g, b, &len);
            if (B == 1) {
                if (as_text) fwrite(piece, 1, len, stdout);
                else if (toks[0] >= 0) printf("%s%d", n_out[0] ? " " : "", toks[0]);
                if (len > 0 || toks[0] >= 0) fflush(stdout);
            } else if (as_text) {
                if (sv_buf_add(&texts[b], piece, len)) { cli_error("out of memory"); goto out; }
            } else if (toks[b] >= 0) {
                out_ids[(size_t)b * (size_t)n_gen + (size_t)n_out[b]] = toks[b];
            }
            n_out[b] += toks[b] >= 0;
        }
        if (running == 0) break;
    }
    double t2 = cli_now();
    if (B == 1) {
        printf("\n");
    } else if (as_text) {
        for (int b = 0; b < B; b++) {
            printf("--- sequence %d\n", b);
            fwrite(texts[b].p ? texts[b].p : "", 1, texts[b].len, stdout);
            printf("\n");
        }
    } else {
        for (int b = 0; b < B; b++) {
            printf("[%d]", b);
            for (long k = 0; k < n_out[b]; k++) printf(" %d", out_ids[(size_t)b * (size_t)n_gen + (size_t)k]);
            printf("\n");
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("stdout: write failed");
        goto out;
    }
    gf_gen_counts counts;
    gf_generator_counts(g, &counts);
    long produced = (long)counts.generated, decoded = (long)counts.decoded;
    fprintf(stderr, "griffin: prompt %zu tokens in %.1f ms (%.1f tokens/s); generated %ld tokens, "
            "decoding %ld in %.1f ms (%.1f tokens/s, batch %d)\n",
            P, 1e3 * (t1 - t0), (double)P / (t1 - t0), produced, decoded, 1e3 * (t2 - t1),
            decoded > 0 ? (double)decoded / (t2 - t1) : 0.0, B);
    rc = 0;
out:
    if (texts)
        for (int b = 0; b < B; b++) free(texts[b].p);
    free(texts);
    free(prompt); free(toks); free(out_ids); free(n_out);
    gf_generator_free(g);
    gf_model_free(m);
    gf_tokenizer_free(tk);
    return rc;
}
