/* griffin prepare: text files -> train.npy / val.npy token files, a BOS at
 * every document start, and the unigram baseline a model must beat. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/npy.h"

static const char *USAGE =
    "usage: griffin prepare --tokenizer FILE|DIR --out DIR [--doc-per file|line]\n"
    "                       [--val-fraction F] [--bos ID] FILES...\n"
    "  Tokenizes the text files into DIR/train.npy and DIR/val.npy (1-D, uint16 when the\n"
    "  vocabulary fits, else int32), each document as BOS + its tokens.\n"
    "  --doc-per file   each file is one document (default)\n"
    "  --doc-per line   each non-empty line is one document\n"
    "  --val-fraction F every round(1/F)-th document goes to val.npy (default 0.01; 0 = none)\n"
    "  --bos ID         the BOS id (default: the tokenizer's)\n"
    "  Prints the counts and the unigram baseline: the cross-entropy of val.npy under\n"
    "  train.npy's token frequencies (add-one smoothed), in nats per token.\n";

typedef struct {
    int32_t *p;
    size_t n, cap;
} ivec;

static int push(ivec *v, const int32_t *x, size_t n) {
    if (v->n + n > v->cap) {
        size_t c = v->cap ? v->cap : 1 << 20;
        while (c < v->n + n) c *= 2;
        int32_t *g = realloc(v->p, c * sizeof *g);
        if (!g) return -1;
        v->p = g;
        v->cap = c;
    }
    memcpy(v->p + v->n, x, n * sizeof *x);
    v->n += n;
    return 0;
}

typedef struct {
    const gf_tokenizer *tok;
    gf_tok_buf *buf;
    int32_t bos;
    size_t every, n_docs;
    ivec train, val;
} prep;

static int add_doc(prep *p, const char *text, size_t len, const char *where) {
    const int32_t *ids;
    size_t n;
    gf_error err;
    if (gf_encode(p->tok, text, len, p->buf, &ids, &n, &err)) return cli_error("%s: %s", where, err.msg);
    if (n == 0) return 0; /* an empty file is no document */
    ivec *v = p->every && p->n_docs % p->every == p->every - 1 ? &p->val : &p->train;
    p->n_docs++;
    if (push(v, &p->bos, 1) || push(v, ids, n)) return cli_error("out of memory");
    return 0;
}

/* Stages dir/name in set (replaced with the other file of the run only when
 * both are on disk). */
static int write_tokens(gf_file_set *set, const char *dir, const char *name, const ivec *v, int vocab) {
    char path[4200];
    gf_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t shape[1] = {v->n};
    int rc;
    if (vocab <= 65536) {
        uint16_t *u = malloc((v->n ? v->n : 1) * sizeof *u);
        if (!u) {
            gf_file_set_discard(set);
            return cli_error("out of memory");
        }
        for (size_t i = 0; i < v->n; i++) u[i] = (uint16_t)v->p[i];
        rc = gf_npy_write_set(set, path, GF_NPY_U16, shape, 1, u, &err);
        free(u);
    } else {
        rc = gf_npy_write_set(set, path, GF_NPY_I32, shape, 1, v->p, &err);
    }
    return rc ? cli_error("%s", err.msg) : 0;
}

/* Cross-entropy of val under train's add-one-smoothed unigram distribution. */
static double unigram_baseline(const ivec *train, const ivec *val, int vocab, double *train_entropy) {
    double *cnt = calloc((size_t)vocab, sizeof *cnt);
    if (!cnt) return NAN;
    for (size_t i = 0; i < train->n; i++) cnt[train->p[i]] += 1;
    double total = (double)train->n + vocab, h = 0, ce = 0;
    for (int v = 0; v < vocab; v++)
        if (cnt[v] > 0) h -= cnt[v] / (double)train->n * log(cnt[v] / (double)train->n);
    for (size_t i = 0; i < val->n; i++) ce -= log((cnt[val->p[i]] + 1) / total);
    free(cnt);
    *train_entropy = h;
    return val->n ? ce / (double)val->n : NAN;
}

int cmd_prepare(int argc, char **argv) {
    const char *tok_path = NULL, *out = NULL, *doc_per = "file";
    double frac = 0.01;
    long bos = -1;
    int first_file = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (a[0] != '-') { first_file = i; break; }
        if (!(v = cli_value(argc, argv, &i, "prepare",
                            (const char *const[]){"--tokenizer", "--out", "-o", "--doc-per", "--val-fraction", "--bos", NULL})))
            return 1;
        if (!strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--doc-per")) doc_per = v;
        else if (!strcmp(a, "--val-fraction")) { if (cli_float(a, v, 0, 0.5, &frac)) return 1; }
        else if (cli_int(a, v, 0, 1L << 30, &bos)) return 1;
    }
    if (!tok_path || !out || first_file == argc)
        return cli_error("prepare needs --tokenizer, --out and text files (see griffin prepare --help)");
    if (strcmp(doc_per, "file") && strcmp(doc_per, "line"))
        return cli_error("prepare: --doc-per is 'file' or 'line', not '%s'", doc_per);
    gf_error err;
    gf_tokenizer *tok = gf_tokenizer_load(tok_path, &err);
    if (!tok) return cli_error("%s", err.msg);
    int vocab = gf_tokenizer_vocab_size(tok), rc = 1;
    if (bos < 0) bos = gf_tokenizer_bos_id(tok);
    if (bos < 0 || bos >= vocab) {
        gf_tokenizer_free(tok);
        return cli_error("%s: the tokenizer has no BOS piece; give --bos ID", tok_path);
    }
    prep p = {tok, gf_tok_buf_new(), (int32_t)bos, frac > 0 ? (size_t)lround(1.0 / frac) : 0, 0, {0}, {0}};
    char *line = NULL;
    size_t line_cap = 0;
    double t0 = cli_now();
    size_t bytes = 0;
    if (!p.buf) { cli_error("out of memory"); goto done; }
    if (gf_mkdir_p(out, &err)) { cli_error("%s", err.msg); goto done; }
    for (int f = first_file; f < argc; f++) {
        const char *path = argv[f];
        FILE *in = fopen(path, "rb");
        if (!in) { cli_error("%s: cannot open: %s", path, strerror(errno)); goto done; }
        if (!strcmp(doc_per, "line")) {
            ssize_t n;
            size_t ln = 0;
            char where[4200];
            while ((n = getline(&line, &line_cap, in)) > 0) {
                ln++;
                bytes += (size_t)n;
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
                if (n == 0) continue;
                snprintf(where, sizeof where, "%s:%zu", path, ln);
                if (add_doc(&p, line, (size_t)n, where)) { fclose(in); goto done; }
            }
        } else {
            size_t len = 0, cap = 1 << 16, got;
            char *text = malloc(cap);
            while (text && (got = fread(text + len, 1, cap - len, in)) > 0) {
                len += got;
                if (len == cap) {
                    char *g = realloc(text, cap *= 2);
                    if (!g) { free(text); text = NULL; }
                    text = g;
                }
            }
            if (!text) { fclose(in); cli_error("out of memory"); goto done; }
            bytes += len;
            int bad = add_doc(&p, text, len, path);
            free(text);
            if (bad) { fclose(in); goto done; }
        }
        if (ferror(in)) { fclose(in); cli_error("%s: read failed", path); goto done; }
        fclose(in);
        fprintf(stderr, "griffin: %s: %zu documents, %zu tokens so far (%.1f s)\n", path, p.n_docs,
                p.train.n + p.val.n, cli_now() - t0);
    }
    if (p.train.n == 0) { cli_error("prepare: no text in the given files"); goto done; }
    gf_file_set set = {0};
    if (write_tokens(&set, out, "train.npy", &p.train, vocab) ||
        (p.every && write_tokens(&set, out, "val.npy", &p.val, vocab)))
        goto done;
    if (gf_file_set_commit(&set, &err)) { cli_error("%s", err.msg); goto done; }
    if (p.every && p.val.n == 0)
        fprintf(stderr, "griffin: warning: val.npy is empty: %zu documents, and only every %zu-th is held out "
                "(use --doc-per line or a larger --val-fraction)\n", p.n_docs, p.every);
    double h_train = NAN, base = unigram_baseline(&p.train, &p.val, vocab, &h_train);
    printf("documents %zu (every %zu-th to val); bytes %zu; tokens: train %zu, val %zu (%.2f bytes/token)\n",
           p.n_docs, p.every, bytes, p.train.n, p.val.n, (double)bytes / (double)(p.train.n + p.val.n));
    if (p.val.n) printf("unigram entropy of train %.4f nats/token; unigram baseline on val %.4f nats/token\n", h_train, base);
    else printf("unigram entropy of train %.4f nats/token; no held-out tokens for a baseline\n", h_train);
    rc = 0;
done:
    free(line);
    free(p.train.p);
    free(p.val.p);
    gf_tok_buf_free(p.buf);
    gf_tokenizer_free(tok);
    return rc;
}
