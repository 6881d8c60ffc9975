/* griffin chat: its options; the conversation itself (turn format, -i,
 * commands, signals, line editing) is tools/chat_repl.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_repl.h"
#include "cli.h"

static const char *USAGE =
    "usage: griffin chat --model DIR [options]\n"
    "  Reads your messages from stdin, one per line (end a line with '\\' to continue the\n"
    "  message on the next; at a terminal with line editing and history), and streams the\n"
    "  model's replies to stdout. DIR needs a tokenizer.model with the <start_of_turn> and\n"
    "  <end_of_turn> pieces, unless -i. Commands: /help, /reset, /save FILE, /load FILE\n"
    "  (the conversation's state, fixed in size), /quit; //text sends '/text'. Ctrl-C stops\n"
    "  a reply, twice within a second (or at the prompt) ends the chat.\n"
    "  -i, --interactive\n"
    "                  continue text with a base model: each message is appended to the\n"
    "                  context as typed, and the model continues it (no turn format)\n"
    "  Sampling (-n is the most tokens per reply):\n";
static const char *USAGE_TAIL =
    "  --system TEXT   instructions put before the first message (Gemma has no system turn)\n"
    "  --log-ids FILE  append every token id fed or generated, one turn per line\n"
    "  -t, --threads N threads for the matrix products and the layers (default: measured,\n"
    "                  1 to all cores, whichever runs faster now)\n"
    "  --float-inputs  keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                  to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n"
    "  --mmap          keep the weights mapped from the files (default: F32 / BF16 / F16 ones\n"
    "                  are copied into memory in huge pages, which decodes faster)\n";

static int chat_main(int argc, char **argv, cli_sampling *smp);

int cmd_chat(int argc, char **argv) {
    cli_sampling smp;
    cli_sampling_defaults(&smp, 0.7, 1024, 1);
    int rc = chat_main(argc, argv, &smp);
    cli_sampling_free(&smp);
    return rc;
}

static int chat_main(int argc, char **argv, cli_sampling *smp) {
    const char *model_dir = NULL, *system = NULL, *log_path = NULL;
    long threads = 0;
    int float_inputs = 0, keep_mapped = 0, raw = 0;
    const cli_sampling defaults = *smp;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            cli_sampling_help(stdout, &defaults);
            fputs(USAGE_TAIL, stdout);
            return 0;
        }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!strcmp(a, "-i") || !strcmp(a, "--interactive")) { raw = 1; continue; }
        int so = cli_sampling_option(smp, argc, argv, &i, "chat");
        if (so < 0) return 1;
        if (so > 0) continue;
        if (!(v = cli_value(argc, argv, &i, "chat", (const char *const[]){"--model", "-m", "--system", "--log-ids", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--system")) system = v;
        else if (!strcmp(a, "--log-ids")) log_path = v;
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    if (!model_dir) return cli_error("chat needs --model DIR (see griffin chat --help)");
    cli_set_threads(threads);
    gf_tokenizer *tk = NULL;
    if (cli_model_tokenizer(model_dir, 1, &tk)) return 1;
    gf_error err;
    gf_model *m = gf_model_load(model_dir, &err);
    int rc = 1;
    if (!m) { cli_error("%s", err.msg); goto out; }
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    cli_copy_weights(m, keep_mapped);
    const gf_config *cfg = gf_model_config(m);
    if (cli_check_vocab(tk, model_dir, cfg)) goto out;
    /* turn mode stops at <end_of_turn> or EOS; -i at EOS only */
    int32_t stops[2] = {gf_tokenizer_find(tk, "<end_of_turn>"), cfg->eos_id};
    if (!raw && (stops[0] < 0 || gf_tokenizer_find(tk, "<start_of_turn>") < 0)) {
        cli_error("%s/tokenizer.model: no <start_of_turn>/<end_of_turn> pieces, so this is not an "
                  "instruction-tuned Gemma tokenizer; -i continues your text with a base model", model_dir);
        goto out;
    }
    int has_eos = cfg->eos_id >= 0 && cfg->eos_id < cfg->vocab_size;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    cli_sampling_apply(smp, &gp);
    gp.stop_ids = raw ? stops + 1 : stops;
    gp.n_stop_ids = raw ? has_eos : 1 + has_eos;
    chat_opts o = {model_dir, system, log_path, raw, smp->seed, threads};
    rc = chat_run(m, tk, &gp, &o);
out:
    gf_model_free(m);
    gf_tokenizer_free(tk);
    return rc;
}
