/* griffin generate: prefill a prompt, then sample token by token (the
 * library's generator, gf_generator_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "serve/util.h" /* sv_buf */

static const char *USAGE_HEAD =
    "usage: griffin generate --model DIR (--prompt TEXT | -f FILE | --prompt-ids 2,17,33) [options]\n"
    "  -m, --model DIR      the model directory\n"
    "  -p, --prompt TEXT    text, encoded with DIR/tokenizer.model; BOS is prepended;\n"
    "                       '-' reads the text from stdin\n"
    "  -f, --file FILE      the prompt text from FILE ('-': stdin; one trailing newline dropped)\n"
    "  --prompt-ids L       token ids, comma-separated, used as given (no BOS added)\n"
    "  With DIR/tokenizer.model the continuation is printed as text, streamed as it is\n"
    "  produced; --ids prints token ids instead. Generation stops at EOS and at\n"
    "  <end_of_turn> when the tokenizer has it, and at -n tokens.\n";
static const char *USAGE_TAIL =
    "  -b, --batch B   B independent sequences from the same prompt (default 1)\n"
    "  -t, --threads N threads for the matrix products and the layers (default: measured,\n"
    "                  1 to all cores, whichever runs faster now)\n"
    "  --no-eos        keep going past the end-of-sequence token\n"
    "  --ids           print token ids even when the model has a tokenizer\n"
    "  --float-inputs  keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                  to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n"
    "  --mmap          keep the weights mapped from the files (default: F32 / BF16 / F16 ones\n"
    "                  are copied into memory in huge pages, which decodes faster)\n"
    "  Every option also takes the form --option=VALUE.\n";

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

static int generate(int argc, char **argv, cli_sampling *sp) {
    const char *model_dir = NULL, *ids_arg = NULL, *text_arg = NULL, *file_arg = NULL;
    long batch = 1, threads = 0;
    const cli_sampling defaults = *sp; /* for --help, whatever came before it */
    int stop_at_eos = 1, want_ids = 0, float_inputs = 0, keep_mapped = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE_HEAD, stdout);
            cli_sampling_help(stdout, &defaults);
            fputs(USAGE_TAIL, stdout);
            return 0;
        }
        if (!strcmp(a, "--no-eos")) { stop_at_eos = 0; continue; }
        if (!strcmp(a, "--ids")) { want_ids = 1; continue; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        int so = cli_sampling_option(sp, argc, argv, &i, "generate");
        if (so < 0) return 1;
        if (so > 0) continue;
        if (!(v = cli_value(argc, argv, &i, "generate", (const char *const[]){"--model", "-m", "--prompt-ids", "--prompt", "-p", "--file", "-f", "--batch", "-b", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--prompt-ids")) ids_arg = v;
        else if (!strcmp(a, "--prompt") || !strcmp(a, "-p")) text_arg = v;
        else if (!strcmp(a, "--file") || !strcmp(a, "-f")) file_arg = v;
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { if (cli_int(a, v, 1, 4096, &batch)) return 1; }
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    if (!model_dir) return cli_error("generate needs --model DIR (see griffin generate --help)");
    int n_sources = (ids_arg != NULL) + (text_arg != NULL) + (file_arg != NULL);
    if (n_sources == 0)
        return cli_error("generate needs a prompt: --prompt TEXT, -f FILE or --prompt-ids IDS (see griffin generate --help)");
    if (n_sources > 1)
        return cli_error("generate: %s and %s are mutually exclusive: give the prompt one way",
                         text_arg ? "--prompt" : "-f", ids_arg ? "--prompt-ids" : "-f");
    cli_set_threads(threads);
    gf_error err;
    gf_tokenizer *tk = NULL;
    gf_model *m = NULL;
    char *text = NULL;
    int B = (int)batch, rc = 1;
    int32_t *prompt = NULL, *toks = NULL;
    long *n_out = NULL;
    sv_buf *texts = NULL;
    gf_generator *g = NULL;
    size_t P = 0;
    /* the model directory is checked before a prompt is read from stdin */
    if (cli_model_tokenizer(model_dir, ids_arg == NULL, &tk)) goto out;
    if (file_arg && cli_read_text(file_arg, "-f", CLI_MAX_PROMPT_BYTES, &text)) goto out;
    if (text_arg && !strcmp(text_arg, "-") && cli_read_text("-", "--prompt", CLI_MAX_PROMPT_BYTES, &text)) goto out;
    if (text_arg && !text && !(text = strdup(text_arg))) { cli_error("out of memory"); goto out; }
    if (!(m = gf_model_load(model_dir, &err))) { cli_error("%s", err.msg); goto out; }
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    cli_copy_weights(m, keep_mapped);
    const gf_config *c = gf_model_config(m);
    int V = c->vocab_size;
    int end_of_turn = tk ? gf_tokenizer_find(tk, "<end_of_turn>") : -1;
    int as_text = tk && !want_ids;
    if (tk && cli_check_vocab(tk, model_dir, c)) goto out;
    if (text ? cli_encode_prompt(tk, text, c->bos_id, &prompt, &P) : parse_ids(ids_arg, &prompt, &P, V))
        goto out;
    /* The generator samples only ids the tokenizer can print (a padded
     * vocabulary has more), and stops a sequence at EOS or <end_of_turn>. */
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    cli_sampling_apply(sp, &gp);
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
    /* with several sequences, each one's text (or ids, as text) is kept
     * until the end: -n -1 has no bound to size them by */
    if (B > 1) texts = calloc((size_t)B, sizeof *texts);
    if (!toks || !n_out || (B > 1 && !texts)) { cli_error("out of memory"); goto out; }
    fprintf(stderr, "griffin: seed %llu\n", (unsigned long long)sp->seed);
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
                if (sv_buf_printf(&texts[b], " %d", toks[b])) { cli_error("out of memory"); goto out; }
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
        for (int b = 0; b < B; b++) printf("[%d]%s\n", b, texts[b].p ? texts[b].p : "");
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
    if (B == 1) fprintf(stderr, "griffin: stopped by %s\n", gf_gen_stop_name(gf_generator_stop_reason(g, 0)));
    rc = 0;
out:
    if (texts)
        for (int b = 0; b < B; b++) free(texts[b].p);
    free(texts);
    free(prompt); free(toks); free(n_out); free(text);
    gf_generator_free(g);
    gf_model_free(m);
    gf_tokenizer_free(tk);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    cli_sampling smp;
    cli_sampling_defaults(&smp, 0.8, 64, 0);
    int rc = generate(argc, argv, &smp);
    cli_sampling_free(&smp);
    return rc;
}
