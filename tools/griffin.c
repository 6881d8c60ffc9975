/* griffin: the command-line tool. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The Makefile's VERSION (also griffin.pc's and the shared library's), so
 * the version is written in one place. */
#ifndef GRIFFIN_VERSION
#error "build with -DGRIFFIN_VERSION=\"x.y.z\" (the Makefile passes its VERSION)"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: griffin COMMAND [options]      (griffin --version: the version)\n"
            "\n"
            "commands:\n"
            "  forward   --model DIR --tokens T.npy [--segment-pos S.npy] [--prefill N]\n"
            "            [--threads N] --out LOGITS.npy\n"
            "            logits [B, T, V] of int32 tokens [B, T] (prefill, or prefill N then decode)\n"
            "  grad      --model DIR --tokens T.npy [--segment-pos S.npy] --out G.safetensors\n"
            "            next-token loss of int32 tokens [B, T] and every parameter's gradient\n"
            "  prepare   --tokenizer M --out DIR [--doc-per file|line] FILES...\n"
            "            text files -> train.npy / val.npy token files (BOS per document)\n"
            "  task      NAME --out PREFIX --examples N [--seq L] [--seed S]\n"
            "            synthetic tasks (selective-copy, induction-heads, phonebook) as\n"
            "            token files with a loss mask on the answers\n"
            "  train     (--config C | --model DIR | --resume OUT) --data F [--mask M] --out OUT ...\n"
            "            AdamW training with progress, CSV log, evaluation, checkpoints\n"
            "  eval      --model DIR --data F [--mask M] --seq T [--per-position]\n"
            "            held-out loss and perplexity (with a mask: answer accuracy)\n"
            "  generate  -m DIR (-p TEXT | -f FILE | --prompt-ids 2,17,33) [-n N] [--temp T]\n"
            "            [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty F] [--stop S]\n"
            "            [-s SEED] [-b BATCH] [-t THREADS]\n"
            "            sample a continuation; text (or ids) on stdout, speed on stderr\n"
            "  chat      -m DIR [--temp T] [--system TEXT] [-i] ...\n"
            "            talk to an instruction-tuned model (Gemma turn format; /help, /save,\n"
            "            /load); -i continues a base model's text\n"
            "  serve     --model DIR [--host H] [--port P] [--slots N] [--api-key KEY] ...\n"
            "            an OpenAI-compatible HTTP server (completions, chat, streaming)\n"
            "  tokenize  --tokenizer FILE [--threads N] [--pieces]\n"
            "            each stdin line's token ids (as spm_encode --output_format=id)\n"
            "  detokenize --tokenizer FILE\n"
            "            each stdin line of ids back to text (as spm_decode --input_format=id)\n"
            "  bench     [--model DIR] [--types f32,bf16,q8,q4] [--threads N] [--csv FILE] ...\n"
            "            this machine's limits (memory bandwidth, sgemm, FMA and dot-product\n"
            "            ceilings), then decode, prefill and training speed per weight type\n"
            "  quantize  --model IN --out OUT --type bf16|q8|q4\n"
            "            write a model directory with its weights in another type\n"
            "  info      [--model DIR | --config CONFIG.json]\n"
            "            the kernel set in use; a model's architecture, parameters, state size\n"
            "  init      --config CONFIG.json --out DIR [--seed S]\n"
            "            write a randomly initialised model directory\n"
            "\n"
            "Run 'griffin COMMAND --help' for a command's options. Every option also takes the\n"
            "form --option=VALUE; the short forms are -m (--model), -p (--prompt), -f (--file),\n"
            "-n (--n-predict), -s (--seed), -b (--batch), -t (--threads), -o (--out).\n"
            "GRIFFIN_ISA=NAME caps the kernel set (griffin info lists this CPU's).\n");
}

int main(int argc, char **argv) {
    /* A write past the file-size limit (ulimit -f) would otherwise kill the
     * process with SIGXFSZ before any message; ignored, the write fails with
     * EFBIG, which every writer reports by file name and exits non-zero
     * after removing its temporary file. */
    signal(SIGXFSZ, SIG_IGN);
    cli_tune_openmp(argv);
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("griffin %s\n", GRIFFIN_VERSION);
        return 0;
    }
    gf_error err;
    if (gf_kernels_init(&err) != 0) return cli_error("%s", err.msg);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "forward")) return cmd_forward(argc - 1, argv + 1);
    if (!strcmp(cmd, "grad")) return cmd_grad(argc - 1, argv + 1);
    if (!strcmp(cmd, "prepare")) return cmd_prepare(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 1, argv + 1);
    if (!strcmp(cmd, "init")) return cmd_init(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "detokenize")) return cmd_detokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "task")) return cmd_task(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    return cli_error("unknown command '%s' (griffin --help lists the commands)", cmd);
}
