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

int td_run(const char *cmd, char *err_out, size_t err_cap) {
    char full[8192], errf[512];
    snprintf(errf, sizeof errf, "%s/stderr.txt", td_tmpdir());
    snprintf(full, sizeof full, "%s >/dev/null 2>%s", cmd, errf);
    int st = system(full);
    if (err_out && err_cap) {
        err_out[0] = 0;
        FILE *f = fopen(errf, "rb");
        if (f) {
            size_t n = fread(err_out, 1, err_cap - 1, f);
            err_out[n] = 0;
            fclose(f);
        }
    }
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
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
