/* griffin tokenize / detokenize: line-wise text <-> ids, the same as
 * spm_encode --output_format=id and spm_decode --input_format=id.
 *
 * tokenize reads its input in large blocks and encodes the lines of a block
 * in parallel (one contiguous share of lines per thread, each thread with its
 * own output buffer), then writes the shares in order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"

typedef struct {
    char *p;
    size_t len, cap;
} obuf;

static int ob_reserve(obuf *o, size_t extra) {
    if (o->len + extra <= o->cap) return 0;
    size_t c = o->cap ? o->cap : 1 << 16;
    while (c < o->len + extra) c *= 2;
    char *g = realloc(o->p, c);
    if (!g) return -1;
    o->p = g;
    o->cap = c;
    return 0;
}

/* Decimal of a non-negative id, written backwards then reversed: faster than
 * printf for the millions of ids a large file gives. */
static size_t put_id(char *w, int32_t v) {
    char tmp[12];
    size_t n = 0;
    uint32_t u = (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    for (size_t i = 0; i < n; i++) w[i] = tmp[n - 1 - i];
    return n;
}

static int oom(gf_error *err) {
    snprintf(err->msg, sizeof err->msg, "out of memory");
    return -1;
}

typedef struct {
    const gf_tokenizer *tok;
    int pieces; /* print piece strings rather than ids */
} tok_opts;

/* Encodes lines [first, last) of the block into o; line0 is the input line
 * number of the block's first line, for error messages. */
static int encode_lines(const tok_opts *op, char **line, size_t *len, size_t first, size_t last,
                        size_t line0, gf_tok_buf *b, obuf *o, gf_error *err) {
    for (size_t i = first; i < last; i++) {
        const int32_t *ids;
        size_t n;
        if (gf_encode(op->tok, line[i], len[i], b, &ids, &n, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "line %zu: %.990s", line0 + i, msg);
            return -1;
        }
        for (size_t k = 0; k < n; k++) {
            const char *piece = op->pieces ? gf_tokenizer_piece(op->tok, ids[k]) : NULL;
            size_t pl = piece ? strlen(piece) : 0;
            if (ob_reserve(o, 13 + pl)) return oom(err);
            if (k) o->p[o->len++] = ' ';
            if (piece) {
                memcpy(o->p + o->len, piece, pl);
                o->len += pl;
            } else {
                o->len += put_id(o->p + o->len, ids[k]);
            }
        }
        if (ob_reserve(o, 1)) return oom(err);
        o->p[o->len++] = '\n';
    }
    return 0;
}

static const char *TOK_USAGE =
    "usage: griffin tokenize --tokenizer FILE|DIR [--threads N] [--pieces] [--input FILE]\n"
    "  Reads text (stdin, or --input) and prints each line's token ids, space-separated,\n"
    "  one output line per input line, without BOS/EOS: the same as\n"
    "  spm_encode --output_format=id. --pieces prints piece strings instead.\n"
    "  --threads N   encode with N threads (default 1; 0 = all cores)\n";

#define BLOCK_BYTES ((size_t)8 << 20)

int cmd_tokenize(int argc, char **argv) {
    const char *tok_path = NULL, *in_path = NULL;
    long threads = 1;
    tok_opts op = {NULL, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(TOK_USAGE, stdout); return 0; }
        if (!strcmp(a, "--pieces")) { op.pieces = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "tokenize", (const char *const[]){"--tokenizer", "--model", "--input", "-i", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--model")) tok_path = v;
        else if (!strcmp(a, "--input") || !strcmp(a, "-i")) in_path = v;
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (cli_int(a, v, 0, 1024, &threads)) return 1; }
        else return cli_error("tokenize: unknown option '%s' (see griffin tokenize --help)", a);
    }
    if (!tok_path) return cli_error("tokenize needs --tokenizer FILE (see griffin tokenize --help)");
    gf_error err;
    gf_tokenizer *tok = gf_tokenizer_load(tok_path, &err);
    if (!tok) return cli_error("%s", err.msg);
    op.tok = tok;
    FILE *in = in_path ? fopen(in_path, "rb") : stdin;
    const char *in_name = in_path ? in_path : "stdin";
    if (!in) {
        gf_tokenizer_free(tok);
        return cli_error("%s: cannot open: %s", in_path, strerror(errno));
    }
#ifdef _OPENMP
    int T = threads == 0 ? omp_get_max_threads() : (int)threads;
#else
    int T = 1;
#endif
    int rc = 1;
    char *buf = NULL, **line = NULL, *typed = NULL;
    size_t *len = NULL, cap = 0, have = 0, line_cap = 0, typed_cap = 0, lines_done = 0;
    obuf *out = calloc((size_t)T, sizeof *out);
    gf_tok_buf **tb = calloc((size_t)T, sizeof *tb);
    if (!out || !tb) { cli_error("out of memory"); goto done; }
    for (int t = 0; t < T; t++)
        if (!(tb[t] = gf_tok_buf_new())) { cli_error("out of memory"); goto done; }
    /* At a terminal, answer each line as it is typed rather than waiting
     * for a full block. */
    int eof = 0, interactive = isatty(fileno(in));
    while (!eof || have > 0) {
        /* Fill the block; a line longer than the block grows it. */
        if (!eof) {
            if (cap - have < BLOCK_BYTES / 2) {
                size_t nc = cap ? 2 * cap : BLOCK_BYTES;
                char *g = realloc(buf, nc);
                if (!g) { cli_error("out of memory"); goto done; }
                buf = g;
                cap = nc;
            }
            size_t got;
            if (interactive) {
                /* getline, not fgets: a typed line may hold NUL bytes */
                ssize_t r = getline(&typed, &typed_cap, in);
                got = r > 0 ? (size_t)r : 0;
                if (got > cap - have) {
                    char *g = realloc(buf, have + got);
                    if (!g) { cli_error("out of memory"); goto done; }
                    buf = g;
                    cap = have + got;
                }
                if (got) memcpy(buf + have, typed, got);
            } else {
                got = fread(buf + have, 1, cap - have, in);
            }
            have += got;
            if (got == 0) {
                if (ferror(in)) { cli_error("%s: read failed: %s", in_name, strerror(errno)); goto done; }
                eof = 1;
            }
        }
        /* Complete lines in the block (at EOF, a last unterminated line too). */
        size_t n_lines = 0, pos = 0;
        for (;;) {
            char *nl = memchr(buf + pos, '\n', have - pos);
            if (!nl && !(eof && pos < have)) break;
            size_t end = nl ? (size_t)(nl - buf) : have;
            if (n_lines == line_cap) {
                size_t lc = line_cap ? 2 * line_cap : 1 << 16;
                char **gl = realloc(line, lc * sizeof *gl);
                if (gl) line = gl;
                size_t *gn = gl ? realloc(len, lc * sizeof *gn) : NULL;
                if (!gl || !gn) { cli_error("out of memory"); goto done; }
                len = gn;
                line_cap = lc;
            }
            line[n_lines] = buf + pos;
            len[n_lines++] = end - pos;
            pos = nl ? end + 1 : have;
        }
        if (n_lines == 0 && !eof) continue;
        int failed = 0;
        char msg[sizeof err.msg] = "";
#pragma omp parallel for num_threads(T) schedule(static, 1) if (T > 1 && n_lines > 256)
        for (int t = 0; t < T; t++) {
            gf_error e;
            size_t a = n_lines * (size_t)t / (size_t)T, z = n_lines * (size_t)(t + 1) / (size_t)T;
            out[t].len = 0;
            if (encode_lines(&op, line, len, a, z, lines_done + 1, tb[t], &out[t], &e)) {
#pragma omp critical
                /* report the earliest line: the lowest thread's share */
                if (!failed || t + 1 < failed) {
                    failed = t + 1;
                    snprintf(msg, sizeof msg, "%s", e.msg);
                }
            }
        }
        if (failed) { cli_error("%s: %s", in_name, msg); goto done; }
        lines_done += n_lines;
        for (int t = 0; t < T; t++)
            if (out[t].len && fwrite(out[t].p, 1, out[t].len, stdout) != out[t].len) {
                cli_error("stdout: write failed: %s", strerror(errno));
                goto done;
            }
        if (interactive) fflush(stdout);
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { cli_error("stdout: write failed"); goto done; }
    rc = 0;
done:
    if (in && in != stdin) fclose(in);
    if (out)
        for (int t = 0; t < T; t++) free(out[t].p);
    if (tb)
        for (int t = 0; t < T; t++) gf_tok_buf_free(tb[t]);
    free(out);
    free(tb);
    free(buf);
    free(typed);
    free(line);
    free(len);
    gf_tokenizer_free(tok);
    return rc;
}

static const char *DETOK_USAGE =
    "usage: griffin detokenize --tokenizer FILE|DIR [--input FILE]\n"
    "  Reads lines of token ids (separated by spaces or tabs) and prints each line's text:\n"
    "  the same as spm_decode --input_format=id. A token that is not an integer, or an id\n"
    "  outside the vocabulary, is an error naming the line.\n";

int cmd_detokenize(int argc, char **argv) {
    const char *tok_path = NULL, *in_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(DETOK_USAGE, stdout); return 0; }
        if (!(v = cli_value(argc, argv, &i, "detokenize", (const char *const[]){"--tokenizer", "--model", "--input", "-i", NULL}))) return 1;
        if (!strcmp(a, "--tokenizer") || !strcmp(a, "--model")) tok_path = v;
        else if (!strcmp(a, "--input") || !strcmp(a, "-i")) in_path = v;
        else return cli_error("detokenize: unknown option '%s' (see griffin detokenize --help)", a);
    }
    if (!tok_path) return cli_error("detokenize needs --tokenizer FILE (see griffin detokenize --help)");
    gf_error err;
    gf_tokenizer *tok = gf_tokenizer_load(tok_path, &err);
    if (!tok) return cli_error("%s", err.msg);
    FILE *in = in_path ? fopen(in_path, "rb") : stdin;
    const char *in_name = in_path ? in_path : "stdin";
    if (!in) {
        gf_tokenizer_free(tok);
        return cli_error("%s: cannot open: %s", in_path, strerror(errno));
    }
    int rc = 1;
    char *line = NULL;
    size_t line_cap = 0, id_cap = 0, lineno = 0;
    int32_t *ids = NULL;
    gf_tok_buf *b = gf_tok_buf_new();
    if (!b) { cli_error("out of memory"); goto done; }
    ssize_t got;
    while ((got = getline(&line, &line_cap, in)) >= 0) {
        lineno++;
        size_t n = 0;
        char *p = line, *end = line + got;
        if (got > 0 && end[-1] == '\n') *--end = 0;
        while (p < end) {
            if (*p == ' ' || *p == '\t' || *p == '\r') { p++; continue; }
            char *e;
            errno = 0;
            long v = strtol(p, &e, 10);
            if (e == p || errno || (e < end && *e != ' ' && *e != '\t' && *e != '\r')) {
                cli_error("%s:%zu: '%.*s' is not a token id", in_name, lineno,
                          (int)strcspn(p, " \t\r"), p);
                goto done;
            }
            if (v < 0 || v >= gf_tokenizer_vocab_size(tok)) {
                cli_error("%s:%zu: id %ld is outside the vocabulary [0, %d)", in_name, lineno, v,
                          gf_tokenizer_vocab_size(tok));
                goto done;
            }
            if (n == id_cap) {
                size_t c = id_cap ? 2 * id_cap : 1024;
                int32_t *g = realloc(ids, c * sizeof *g);
                if (!g) { cli_error("out of memory"); goto done; }
                ids = g;
                id_cap = c;
            }
            ids[n++] = (int32_t)v;
            p = e;
        }
        const char *text;
        size_t tl;
        if (gf_decode(tok, ids, n, b, &text, &tl, &err)) {
            cli_error("%s:%zu: %s", in_name, lineno, err.msg);
            goto done;
        }
        if (fwrite(text, 1, tl, stdout) != tl || putchar('\n') == EOF) {
            cli_error("stdout: write failed: %s", strerror(errno));
            goto done;
        }
    }
    if (ferror(in)) { cli_error("%s: read failed: %s", in_name, strerror(errno)); goto done; }
    if (fflush(stdout) != 0 || ferror(stdout)) { cli_error("stdout: write failed"); goto done; }
    rc = 0;
done:
    if (in != stdin) fclose(in);
    free(line);
    free(ids);
    gf_tok_buf_free(b);
    gf_tokenizer_free(tok);
    return rc;
}
