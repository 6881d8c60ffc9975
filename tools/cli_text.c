/* The command-line tool's text side: finding a model's tokenizer, turning a
 * prompt into ids, and collecting text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* The longest prompt accepted, in tokens: far past any context the models
 * were trained on, and small enough that a prompt's ids fit in memory. */

int cli_model_tokenizer(const char *dir, int required, gf_tokenizer **out) {
    char path[4096];
    struct stat sb;
    *out = NULL;
    /* A wrong --model is named as such, before anything is said about what
     * the directory lacks for a text prompt. */
    if (stat(dir, &sb) != 0) return cli_error("%s: no such model directory: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return cli_error("%s: not a directory (--model names a model directory)", dir);
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return cli_error("%s: path too long", dir);
    if (stat(path, &sb) != 0) return cli_error("%s: not a model directory: it has no config.json", dir);
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    if (stat(path, &sb) != 0) {
        if (!required) return 0;
        return cli_error("%s: not found: this model has no tokenizer, so give the prompt as --prompt-ids", path);
    }
    gf_error err;
    if (!(*out = gf_tokenizer_load(path, &err))) return cli_error("%s", err.msg);
    return 0;
}

int cli_check_vocab(const gf_tokenizer *tk, const char *dir, const gf_config *cfg) {
    int n = gf_tokenizer_vocab_size(tk);
    if (n > cfg->vocab_size)
        return cli_error("%s/tokenizer.model: %d pieces, but the model's vocabulary has only %d ids", dir, n,
                         cfg->vocab_size);
    /* config.json's ids are what the model was trained with, so they win;
     * a tokenizer that disagrees is worth a warning. */
    int tb = gf_tokenizer_bos_id(tk), te = gf_tokenizer_eos_id(tk);
    if ((tb >= 0 && tb != cfg->bos_id) || (te >= 0 && te != cfg->eos_id))
        fprintf(stderr, "griffin: warning: %s: tokenizer.model has BOS %d / EOS %d, config.json %d / %d; using config.json's\n",
                dir, tb, te, cfg->bos_id, cfg->eos_id);
    return 0;
}

int cli_encode_prompt(const gf_tokenizer *tk, const char *text, int bos, int32_t **ids_out, size_t *n_out) {
    gf_error err;
    gf_tok_buf *b = gf_tok_buf_new();
    if (!b) return cli_error("out of memory");
    const int32_t *ids;
    size_t n;
    if (gf_encode(tk, text, strlen(text), b, &ids, &n, &err)) {
        gf_tok_buf_free(b);
        return cli_error("prompt: %s", err.msg);
    }
    if (n + 1 > CLI_MAX_PROMPT_TOKENS) {
        gf_tok_buf_free(b);
        return cli_error("prompt: %zu tokens, more than the %d allowed", n, CLI_MAX_PROMPT_TOKENS);
    }
    int32_t *all = malloc((n + 1) * sizeof *all);
    if (!all) {
        gf_tok_buf_free(b);
        return cli_error("out of memory");
    }
    size_t k = 0;
    if (bos >= 0) all[k++] = bos;
    memcpy(all + k, ids, n * sizeof *ids);
    gf_tok_buf_free(b);
    if (k + n == 0) {
        free(all);
        return cli_error("prompt: empty, and the model has no BOS token to start from");
    }
    *ids_out = all;
    *n_out = k + n;
    return 0;
}

int cli_read_text(const char *path, const char *what, size_t max_bytes, char **text) {
    int from_stdin = !strcmp(path, "-");
    const char *name = from_stdin ? "stdin" : path;
    gf_error err;
    *text = NULL;
    /* a directory or a device is refused by name, not read as a prompt */
    if (!from_stdin && gf_check_regular(path, &err)) return cli_error("%s: %s", what, err.msg);
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) return cli_error("%s: %s: cannot open: %s", what, path, strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    int rc = gf_read_stream(f, max_bytes, &buf, &len);
    int read_errno = errno;
    if (!from_stdin) fclose(f);
    if (rc == GF_READ_TOO_LARGE) return cli_error("%s: %s: more than the %zu bytes allowed", what, name, max_bytes);
    if (rc == GF_READ_IO_ERROR) return cli_error("%s: %s: read error: %s", what, name, strerror(read_errno));
    if (rc) return cli_error("out of memory");
    if (memchr(buf, 0, len)) {
        free(buf);
        return cli_error("%s: %s: holds a NUL byte, so it is not text", what, name);
    }
    if (len > 0 && buf[len - 1] == '\n') len--;
    buf[len] = 0;
    *text = buf;
    return 0;
}
