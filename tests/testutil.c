#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *td_root(void) {
    const char *r = getenv("GRIFFIN_TEST_DATA");
    return r && *r ? r : "tests/data";
}

const char *td_path(const char *fmt, ...) {
    static char slots[8][4096];
    static int k;
    char *out = slots[k++ % 8];
    char rel[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(out, 4096, "%s/%s", td_root(), rel);
    return out;
}

const char *td_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/griffin-test-XXXXXX");
        if (!mkdtemp(dir)) fail_msg("mkdtemp failed");
    }
    return dir;
}

void td_npy(const char *path, gf_npy *out) {
    gf_error err;
    if (gf_npy_read(path, out, &err) != 0) fail_msg("%s", err.msg);
}

double td_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        if (d < 0) d = -d;
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

double td_max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] < 0 ? -(double)a[i] : a[i];
        if (d > m) m = d;
    }
    return m;
}

void td_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    if (n && fwrite(data, 1, n, f) != n) fail_msg("short write %s", path);
    fclose(f);
}

void *td_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) fail_msg("cannot read %s", path);
    fclose(f);
    buf[sz] = 0;
    *n = (size_t)sz;
    return buf;
}

const char *td_bin(void) {
    const char *b = getenv("GRIFFIN_BIN");
    return b && *b ? b : "build/griffin";
}

const char *td_spm_fixtures(void) {
    const char *d = getenv("GRIFFIN_SPM_FIXTURES");
    return d && *d ? d : "build/spm-fixtures";
}

size_t td_parse_ids(const char *s, int32_t *ids, size_t cap) {
    size_t n = 0;
    char *end;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        long v = strtol(s, &end, 10);
        if (end == s) break;
        assert_true(n < cap);
        ids[n++] = (int32_t)v;
        s = end;
    }
    return n;
}

/* Runs cmd with its streams sent as redirect says ("%s" is the file), the
 * file's bytes into out (cap > 0); the exit status. */
static int run_capture(const char *cmd, const char *redirect, char *out, size_t cap) {
    char full[16384], file[512], red[1024];
    snprintf(file, sizeof file, "%s/captured.txt", td_tmpdir());
    snprintf(red, sizeof red, redirect, file);
    snprintf(full, sizeof full, "(%s) %s", cmd, red);
    int st = system(full);
    if (out && cap) {
        out[0] = 0;
        FILE *f = fopen(file, "rb");
        if (f) {
            size_t n = fread(out, 1, cap - 1, f);
            out[n] = 0;
            fclose(f);
        }
    }
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int td_run(const char *cmd, char *err_out, size_t err_cap) {
    return run_capture(cmd, ">/dev/null 2>%s", err_out, err_cap);
}

int td_run_all(const char *cmd, char *out, size_t cap) { return run_capture(cmd, ">%s 2>&1", out, cap); }

void td_expect_cli_error(const char *args, const char *needle1, const char *needle2) {
    char cmd[16384], err[4096];
    snprintf(cmd, sizeof cmd, "%s %s", td_bin(), args);
    int rc = td_run(cmd, err, sizeof err);
    int lines = 0;
    for (const char *c = err; *c; c++) lines += *c == '\n';
    if (rc != 1 || lines != 1 || !strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("`griffin %s`: exit %d, stderr: %s (wanted exit 1 and one line with '%s'%s%s)", args, rc, err,
                 needle1, needle2 ? " and " : "", needle2 ? needle2 : "");
}

void td_write_npy(const char *name, gf_npy_dtype dt, const size_t *shape, int nd, const void *data,
                  char *path) {
    char p[512];
    gf_error err;
    snprintf(p, sizeof p, "%s/%s", td_tmpdir(), name);
    if (gf_npy_write(p, dt, shape, nd, data, &err)) fail_msg("%s", err.msg);
    if (path) strcpy(path, p);
}

static void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                char sub[4096];
                if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < (int)sizeof sub) remove_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void td_remove_tmpdir(void) { remove_tree(td_tmpdir()); }

gf_trainable *td_golden_trainable(const char *name) {
    gf_error err;
    gf_model *m = gf_model_load(td_path("golden/%s", name), &err);
    if (!m) fail_msg("%s", err.msg);
    gf_trainable *t = gf_trainable_from_model(m, &err);
    gf_model_free(m);
    if (!t) fail_msg("%s", err.msg);
    return t;
}

gf_model *td_golden_model(const char *name) {
    gf_error err;
    gf_model *m = gf_model_load(td_path("golden/%s", name), &err);
    if (!m) fail_msg("%s", err.msg);
    return m;
}

gf_tokenizer *td_gemma_tokenizer(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/gemma_bpe.model", td_spm_fixtures());
    gf_error err;
    gf_tokenizer *t = gf_tokenizer_load(path, &err);
    if (!t) fail_msg("%s (run make spm-fixtures)", err.msg);
    return t;
}

gf_trainable *td_random_trainable(const char *shape, int V, uint64_t seed) {
    gf_config cfg;
    gf_error err;
    if (gf_config_load(td_path("golden/%s/config.json", shape), &cfg, &err)) fail_msg("%s", err.msg);
    cfg.vocab_size = V;
    gf_trainable *t = gf_trainable_new(&cfg, seed, &err);
    if (!t) fail_msg("%s", err.msg);
    return t;
}

void td_expect_one_line(const gf_error *err, const char *needle) {
    if (!strstr(err->msg, needle)) fail_msg("wanted '%s' in: %s", needle, err->msg);
    assert_null(strchr(err->msg, '\n'));
}

void td_log_losses(const char *run, char out[][32], int max) {
    char p[8192];
    size_t n;
    snprintf(p, sizeof p, "%s/log.csv", run);
    char *csv = td_read(p, &n), *save, *line = strtok_r(csv, "\n", &save);
    for (int i = 0; i < max; i++) out[i][0] = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        int step;
        char loss[32];
        if (sscanf(line, "%d,%31[^,]", &step, loss) == 2 && step > 0 && step < max) snprintf(out[step], 32, "%s", loss);
    }
    free(csv);
}
