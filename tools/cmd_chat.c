/* griffin chat: a conversation with an instruction-tuned model in the Gemma
 * turn format
 *
 *   <bos><start_of_turn>user\n{message}<end_of_turn>\n<start_of_turn>model\n
 *   {reply}<end_of_turn>\n<start_of_turn>user\n ...
 *
 * The decode state is kept between turns: each new turn feeds only its own
 * tokens, so a turn costs the same however long the conversation is (the
 * recurrent state is fixed-size; local attention sees its window). The
 * first turn is prefilled; later turns extend the state through
 * gf_prefill_extend (the generator's gf_generator_feed does both). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin chat --model DIR [options]\n"
    "  Reads your messages from stdin, one per line (end a line with '\\' to continue the\n"
    "  message on the next), and streams the model's replies to stdout. DIR needs a\n"
    "  tokenizer.model with the <start_of_turn> and <end_of_turn> pieces.\n"
    "  Lines starting with '/': /reset forgets the conversation, /quit ends it.\n"
    "  -n N            most tokens per reply (default 1024)\n"
    "  --temp T        temperature; 0 = greedy (default 0.7)\n"
    "  --top-k K       (default 40)\n"
    "  --top-p P       (default 0.95)\n"
    "  --seed S        random seed (default: from the clock)\n"
    "  --system TEXT   instructions put before the first message (Gemma has no system turn)\n"
    "  --log-ids FILE  append every token id fed or generated, one turn per line\n"
    "  --threads N     threads for the matrix products and the layers (default: measured,\n"
    "                  1 to all cores, whichever runs faster now)\n"
    "  --float-inputs  keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                  to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n"
    "  --mmap          keep the weights mapped from the files (default: F32 / BF16 / F16 ones\n"
    "                  are copied into memory in huge pages, which decodes faster)\n";

typedef struct {
    const gf_tokenizer *tk;
    gf_generator *g;  /* batch 1: the conversation's state, sampler and text */
    gf_tok_buf *tb;
    int bos;
    FILE *log;
    double t_feed, t_gen;
} chat;

/* Feeds text's tokens (after BOS when bos >= 0); logits then predict the
 * next token. An empty state is prefilled; a used one extended. Returns 1,
 * with the state untouched, for a message the tokenizer refuses or one past
 * CLI_MAX_PROMPT_TOKENS, so the user may type another; -1 on failure. */
static int feed(chat *c, const char *text, int bos) {
    gf_error err;
    const int32_t *ids;
    size_t n;
    if (gf_encode(c->tk, text, strlen(text), c->tb, &ids, &n, &err)) {
        cli_error("message: %s", err.msg);
        return 1;
    }
    if (n + 1 > CLI_MAX_PROMPT_TOKENS) {
        cli_error("message: %zu tokens, more than the %d allowed", n, CLI_MAX_PROMPT_TOKENS);
        return 1;
    }
    int32_t *all = malloc((n + 1) * sizeof *all);
    if (!all) return -cli_error("out of memory");
    size_t k = 0;
    if (bos >= 0) all[k++] = bos;
    memcpy(all + k, ids, n * sizeof *ids);
    n += k;
    double t0 = cli_now();
    int rc = 0;
    if (gf_generator_feed(c->g, all, n, &err)) rc = -cli_error("%s", err.msg);
    if (!rc && c->log) {
        for (size_t j = 0; j < n; j++) fprintf(c->log, "%s%d", j ? " " : "", all[j]);
        fputc('\n', c->log);
    }
    c->t_feed += cli_now() - t0;
    free(all);
    return rc;
}

/* Samples the reply, streaming its text, until <end_of_turn>, EOS or -n
 * tokens (the generator's stop ids and max_tokens). The stopping token is
 * not fed: the next turn's text starts with <end_of_turn>, which closes the
 * reply either way; the others are, so the state holds the whole reply the
 * next turn follows. */
static int reply(chat *c) {
    gf_error err;
    double t0 = cli_now();
    int rc = 0;
    long i = 0;
    for (;;) {
        int32_t next;
        int running = gf_generator_step(c->g, &next, &err);
        if (running < 0) {
            rc = cli_error("%s", err.msg);
            break;
        }
        if (next >= 0 && c->log) fprintf(c->log, "%s%d", i++ ? " " : "", next);
        size_t len;
        const char *text = gf_generator_text(c->g, 0, &len);
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        if (running == 0) break;
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (c->log) fputc('\n', c->log);
    c->t_gen += cli_now() - t0;
    if (ferror(stdout)) return cli_error("stdout: write failed: %s", strerror(errno));
    return rc;
}

/* One message: lines joined while they end in a backslash. NULL at EOF. */
static char *read_message(int interactive) {
    char *msg = NULL, *line = NULL;
    size_t msg_len = 0, cap = 0;
    for (;;) {
        if (interactive) fputs(msg ? "... " : "> ", stderr);
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0) break;
        if (got > 0 && line[got - 1] == '\n') line[--got] = 0;
        int more = got > 0 && line[got - 1] == '\\';
        if (more) line[--got] = '\n';
        char *g = realloc(msg, msg_len + (size_t)got + 1);
        if (!g) break;
        msg = g;
        memcpy(msg + msg_len, line, (size_t)got);
        msg_len += (size_t)got;
        msg[msg_len] = 0;
        if (!more) break;
    }
    free(line);
    return msg;
}

int cmd_chat(int argc, char **argv) {
    const char *model_dir = NULL, *system = NULL, *log_path = NULL;
    long n_max = 1024, top_k = 40, threads = 0;
    int float_inputs = 0, keep_mapped = 0;
    double temp = 0.7, top_p = 0.95;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "chat", (const char *const[]){"--model", "-m", "--system", "--log-ids", "-n", "--n-predict", "--temp", "--top-k", "--top-p", "--seed", "-s", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--system")) system = v;
        else if (!strcmp(a, "--log-ids")) log_path = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (cli_int(a, v, 1, 1L << 30, &n_max)) return 1; }
        else if (!strcmp(a, "--temp")) { if (cli_float(a, v, 0, 1e6, &temp)) return 1; }
        else if (!strcmp(a, "--top-k")) { if (cli_int(a, v, 0, 1L << 30, &top_k)) return 1; }
        else if (!strcmp(a, "--top-p")) { if (cli_float(a, v, 0, 1, &top_p)) return 1; }
        else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) { if (cli_u64(a, v, &seed)) return 1; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (cli_int(a, v, 0, 1024, &threads)) return 1; }
        else return cli_error("chat: unknown option '%s' (see griffin chat --help)", a);
    }
    if (!model_dir) return cli_error("chat needs --model DIR (see griffin chat --help)");
    cli_set_threads(threads);
    chat c;
    memset(&c, 0, sizeof c);
    gf_tokenizer *tk = NULL;
    if (cli_model_tokenizer(model_dir, 1, &tk)) return 1;
    c.tk = tk;
    gf_error err;
    gf_model *m = gf_model_load(model_dir, &err);
    int rc = 1;
    char *msg = NULL, *turn = NULL;
    if (!m) { cli_error("%s", err.msg); goto out; }
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    cli_copy_weights(m, keep_mapped);
    const gf_config *cfg = gf_model_config(m);
    c.bos = cfg->bos_id;
    if (cli_check_vocab(tk, model_dir, cfg)) goto out;
    int32_t stops[2] = {gf_tokenizer_find(tk, "<end_of_turn>"), cfg->eos_id};
    if (stops[0] < 0 || gf_tokenizer_find(tk, "<start_of_turn>") < 0) {
        cli_error("%s/tokenizer.model: no <start_of_turn>/<end_of_turn> pieces, so this is not an "
                  "instruction-tuned Gemma tokenizer; use griffin generate --prompt", model_dir);
        goto out;
    }
    if (log_path && !(c.log = fopen(log_path, "a"))) {
        cli_error("%s: cannot open: %s", log_path, strerror(errno));
        goto out;
    }
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = (float)temp;
    gp.top_k = (int)top_k;
    gp.top_p = (float)top_p;
    gp.seed = seed;
    gp.max_tokens = n_max;
    gp.stop_ids = stops;
    gp.n_stop_ids = cfg->eos_id >= 0 && cfg->eos_id < cfg->vocab_size ? 2 : 1;
    c.g = gf_generator_new(m, tk, 1, &gp, &err);
    c.tb = gf_tok_buf_new();
    if (!c.g) { cli_error("%s", err.msg); goto out; }
    if (threads > 0) gf_generator_set_threads(c.g, (int)threads, NULL); /* as asked; else measured */
    if (!c.tb) { cli_error("out of memory"); goto out; }
    int interactive = isatty(0);
    if (interactive)
        fprintf(stderr, "griffin: chatting with %s (seed %llu); /reset, /quit, Ctrl-D to end\n", model_dir,
                (unsigned long long)seed);
    while ((msg = read_message(interactive)) != NULL) {
        if (!strcmp(msg, "/quit")) break;
        if (!strcmp(msg, "/reset")) {
            gf_generator_reset(c.g); /* the sampler carries on */
            free(msg);
            msg = NULL;
            continue;
        }
        int fresh = gf_generator_context(c.g, 0) == 0;
        const char *sys = fresh && system ? system : "";
        size_t need = strlen(msg) + strlen(sys) + 128;
        free(turn);
        if (!(turn = malloc(need))) { cli_error("out of memory"); goto out; }
        snprintf(turn, need, "%s<start_of_turn>user\n%s%s%s<end_of_turn>\n<start_of_turn>model\n",
                 fresh ? "" : "<end_of_turn>\n", sys, *sys ? "\n\n" : "", msg);
        int r = feed(&c, turn, fresh ? c.bos : -1);
        if (r < 0 || (r > 0 && !interactive)) goto out; /* a script's bad message is fatal */
        if (r > 0) {
            free(msg);
            msg = NULL;
            continue;
        }
        if (reply(&c)) goto out;
        free(msg);
        msg = NULL;
    }
    gf_gen_counts counts;
    gf_generator_counts(c.g, &counts);
    fprintf(stderr, "griffin: read %ld tokens in %.1f s, generated %ld in %.1f s (%.1f tokens/s)\n",
            (long)counts.fed, c.t_feed, (long)counts.generated, c.t_gen,
            c.t_gen > 0 ? (double)counts.generated / c.t_gen : 0.0);
    rc = 0;
out:
    free(msg);
    free(turn);
    if (c.log) fclose(c.log);
    gf_generator_free(c.g);
    gf_tok_buf_free(c.tb);
    gf_model_free(m);
    gf_tokenizer_free(tk);
    return rc;
}
