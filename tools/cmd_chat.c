/* griffin chat: its options; the conversation itself (turn format, -i,
 * commands, signals, line editing) is tools/chat_repl.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    "  -n N            most tokens per reply (default 1024)\n"
    "  --temp T        temperature; 0 = greedy (default 0.7)\n"
    "  --top-k K       (default 40)\n"
    "  --top-p P       (default 0.95)\n"
    "  --seed S        random seed (default: from the clock)\n"
    "  --system TEXT   instructions put before the first message (Gemma has no system turn)\n"
    "  --log-ids FILE  append every token id fed or generated, one turn per line\n"
    "  --threads N     threads for the matrix products and the layers (default: all cores)\n"
    "  --float-inputs  keep the products' inputs in float (default: Q8 / Q4 round them\n"
    "                  to int8 on AVX512-VNNI or AVX2 CPUs, BF16 to bfloat16 on AVX512-BF16 ones)\n"
    "  --mmap          keep the weights mapped from the files (default: F32 / BF16 / F16 ones\n"
    "                  are copied into memory in huge pages, which decodes faster)\n";

int cmd_chat(int argc, char **argv) {
    const char *model_dir = NULL, *system = NULL, *log_path = NULL;
    long n_max = 1024, top_k = 40, threads = 0;
    int float_inputs = 0, keep_mapped = 0, raw = 0;
    double temp = 0.7, top_p = 0.95;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!strcmp(a, "-i") || !strcmp(a, "--interactive")) { raw = 1; continue; }
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
    gp.temperature = (float)temp;
    gp.top_k = (int)top_k;
    gp.top_p = (float)top_p;
    gp.seed = seed;
    gp.max_tokens = n_max;
    gp.stop_ids = raw ? stops + 1 : stops;
    gp.n_stop_ids = raw ? has_eos : 1 + has_eos;
    chat_opts o = {model_dir, system, log_path, raw, seed};
    rc = chat_run(m, tk, &gp, &o);
out:
    gf_model_free(m);
    gf_tokenizer_free(tk);
    return rc;
}
