/* griffin task: the synthetic copy and retrieval tasks as a token file, a
 * loss mask and a description, ready for `train --mask` / `eval --mask`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin task NAME --out PREFIX --examples N [--seq L] [--seed S] [options]\n"
    "  NAME:\n"
    "    selective-copy   BOS, blanks with K data tokens at random places, the delimiter,\n"
    "                     then the K data tokens in order (the answers)\n"
    "    induction-heads  BOS, random tokens holding the trigger once and the token Y after\n"
    "                     it, then the trigger again and Y (the answer)\n"
    "    phonebook        BOS, entries 'NAME : NUMBER ;' with distinct names, then\n"
    "                     '? NAME :' for one of them and its NUMBER (the answers)\n"
    "  Writes PREFIX.tokens.npy (uint16, 1-D: the examples one after another, each from\n"
    "  BOS), PREFIX.mask.npy (uint8, the same length: 1 on the answer tokens) and\n"
    "  PREFIX.task.json (the options and the ids), and prints the vocab_size a model\n"
    "  needs. train and eval take the mask with --mask.\n"
    "  --examples N      examples to write (required)\n"
    "  --seq L           tokens per example, BOS included (default 256); phonebook: the most\n"
    "                    an example may have (default: what --entries needs)\n"
    "  --seed S          the random stream (default 1); the same seed gives the same files,\n"
    "                    and the first k examples of N are those of k\n"
    "  --symbols S       content tokens: the data, the random tokens, or the letters of\n"
    "                    names (default 16; phonebook 26)\n"
    "  selective-copy:\n"
    "  --data-tokens K   tokens to copy (default 16; L >= 2K + 2)\n"
    "  phonebook:\n"
    "  --entries E       entries per book (default 20, or as many as --seq holds)\n"
    "  --min-entries E0  each book has E0..E entries, uniformly (default E)\n"
    "  --name-len N      letters per name (default 3)\n"
    "  --number-len N    digits per number (default 4)\n";

/* Names an option that the task does not take. */
static int not_for(gf_task_kind kind, const char *opt, const char *owner) {
    return cli_error("task %s: %s is an option of %s", gf_task_name(kind), opt, owner);
}

int cmd_task(int argc, char **argv) {
    const char *name = NULL, *out = NULL;
    long examples = 0, seq = -1, symbols = -1, data_tokens = -1, entries = -1, min_entries = -1, name_len = -1,
         number_len = -1;
    uint64_t seed = 1;
    static const char *const names[] = {"--out", "-o", "--examples", "--seq", "--seed", "--symbols", "--data-tokens",
                                        "--entries", "--min-entries", "--name-len", "--number-len", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (a[0] != '-' && !name) {
            name = a;
            continue;
        }
        if (a[0] != '-') return cli_error("task: one task at a time ('%s' and '%s'; see griffin task --help)", name, a);
        if (!(v = cli_value(argc, argv, &i, "task", names))) return 1;
        if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--examples")) { if (cli_int(a, v, 1, 1L << 30, &examples)) return 1; }
        else if (!strcmp(a, "--seq")) { if (cli_int(a, v, 1, 1L << 24, &seq)) return 1; }
        else if (!strcmp(a, "--seed")) { if (cli_u64(a, v, &seed)) return 1; }
        else if (!strcmp(a, "--symbols")) { if (cli_int(a, v, 1, 65536, &symbols)) return 1; }
        else if (!strcmp(a, "--data-tokens")) { if (cli_int(a, v, 1, 1 << 20, &data_tokens)) return 1; }
        else if (!strcmp(a, "--entries")) { if (cli_int(a, v, 1, 1 << 20, &entries)) return 1; }
        else if (!strcmp(a, "--min-entries")) { if (cli_int(a, v, 1, 1 << 20, &min_entries)) return 1; }
        else if (!strcmp(a, "--name-len")) { if (cli_int(a, v, 1, 16, &name_len)) return 1; }
        else if (cli_int(a, v, 1, 64, &number_len)) return 1;
    }
    if (!name || !out || examples == 0)
        return cli_error("task needs NAME, --out and --examples (see griffin task --help)");
    gf_error err;
    gf_task_config c;
    gf_task_kind kind;
    if (gf_task_from_name(name, &kind, &err)) return cli_error("task: %s", err.msg);
    gf_task_defaults(kind, &c);
    if (kind != GF_TASK_SELECTIVE_COPY && data_tokens >= 0) return not_for(kind, "--data-tokens", "selective-copy");
    if (kind != GF_TASK_PHONEBOOK) {
        const char *po = entries >= 0 ? "--entries" : min_entries >= 0 ? "--min-entries"
                       : name_len >= 0 ? "--name-len" : number_len >= 0 ? "--number-len" : NULL;
        if (po) return not_for(kind, po, "phonebook");
    }
    if (seq >= 0) c.seq = (size_t)seq;
    if (symbols >= 0) c.symbols = (int)symbols;
    if (data_tokens >= 0) c.data_tokens = (int)data_tokens;
    if (kind == GF_TASK_PHONEBOOK) {
        /* --seq alone: as many entries as it holds */
        c.entries = entries >= 0 ? (int)entries : seq >= 0 ? 0 : c.entries;
        if (min_entries >= 0) c.min_entries = (int)min_entries;
        if (name_len >= 0) c.name_len = (int)name_len;
        if (number_len >= 0) c.number_len = (int)number_len;
    }
    gf_task_summary s;
    if (gf_task_write(&c, (size_t)examples, seed, out, &s, &err)) return cli_error("%s", err.msg);
    gf_task_vocab v;
    gf_task_vocab_of(&c, &v);
    printf("%s: %ld examples of ", gf_task_name(kind), examples);
    if (s.shortest == s.longest) printf("%zu tokens", s.longest);
    else printf("%zu-%zu tokens", s.shortest, s.longest);
    printf(", %zu tokens with %zu answer tokens, seed %llu\n", s.tokens, s.answers, (unsigned long long)seed);
    printf("wrote %s.tokens.npy, %s.mask.npy, %s.task.json\n", out, out, out);
    /* what a config needs, and where each id lies */
    printf("vocab_size %d (0 pad, 1 eos, %d bos", v.vocab_size, v.bos);
    if (v.noise >= 0) printf(", %d noise", v.noise);
    if (v.sep >= 0) printf(", %d separator, %d end", v.sep, v.end);
    printf(", %d %s", v.marker,
           kind == GF_TASK_SELECTIVE_COPY ? "delimiter" : kind == GF_TASK_INDUCTION_HEADS ? "trigger" : "query");
    if (v.first_digit >= 0) printf(", %d-%d digits", v.first_digit, v.first_digit + 9);
    printf(", %d-%d %s)\n", v.first_symbol, v.first_symbol + v.n_symbols - 1,
           kind == GF_TASK_PHONEBOOK ? "letters" : kind == GF_TASK_SELECTIVE_COPY ? "data" : "symbols");
    return 0;
}
