/* The targets' shared pieces (fuzz_common.h). */
#include "fuzz_common.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

/* rm -r of what lies under path (the scratch folder holds files, links and
 * one level of folders), and of path itself when `self`. */
static void remove_under(const char *path, int self) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char p[1024];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_under(p, 1);
            else unlink(p);
        }
        closedir(d);
    }
    if (self) rmdir(path);
}

static void remove_dir(void) {
    if (g_dir[0]) remove_under(g_dir, 1);
}

const char *fz_dir(void) {
    if (!g_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(g_dir, sizeof g_dir, "%s/griffin-fuzz-XXXXXX", base);
        if (!mkdtemp(g_dir)) fz_fail("cannot make a scratch folder %s: %s", g_dir, strerror(errno));
        atexit(remove_dir);
    }
    return g_dir;
}

void fz_path(char *out, size_t cap, const char *name) {
    if (snprintf(out, cap, "%s%s%s", fz_dir(), *name ? "/" : "", name) >= (int)cap) fz_fail("path too long");
}

void fz_clear(void) { remove_under(fz_dir(), 0); }

static int write_file(const char *name, const void *data, size_t n) {
    char p[1024];
    fz_path(p, sizeof p, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    const char *c = data;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return close(fd);
}

void fz_write_one(const char *name, const void *data, size_t n) {
    fz_clear();
    if (write_file(name, data, n)) fz_fail("cannot write %s in %s: %s", name, fz_dir(), strerror(errno));
}

/* ---- archives --------------------------------------------------------------- */

#define SEP "--8<-- "
#define SEP_N (sizeof SEP - 1)
#define MAX_FILES 16

/* The next separator line at or after `from`: at the input's start or just
 * after a newline; n when there is none. */
static size_t next_sep(const uint8_t *d, size_t n, size_t from) {
    size_t i = from;
    while (i < n) {
        if ((i == 0 || d[i - 1] == '\n') && n - i >= SEP_N && !memcmp(d + i, SEP, SEP_N)) return i;
        const uint8_t *nl = memchr(d + i, '\n', n - i);
        if (!nl) return n;
        i = (size_t)(nl - d) + 1;
    }
    return n;
}

/* One archive entry: name [name_at, name_end), bytes [at, end). */
typedef struct {
    size_t name_at, name_end, at, end;
} entry;

/* Splits an archive into up to MAX_FILES entries; -1 when it is not one. */
static int split(const uint8_t *d, size_t n, entry *e, int *count) {
    if (n < SEP_N || next_sep(d, n, 0) != 0) return -1;
    int k = 0;
    for (size_t pos = 0; pos < n;) {
        if (k == MAX_FILES) return -1;
        size_t name_at = pos + SEP_N;
        const uint8_t *nl = memchr(d + name_at, '\n', n - name_at);
        size_t name_end = nl ? (size_t)(nl - d) : n;
        size_t body = nl ? name_end + 1 : n;
        size_t next = next_sep(d, n, body);
        e[k++] = (entry){name_at, name_end, body, next > body ? (next < n ? next - 1 : n) : body};
        pos = next;
    }
    *count = k;
    return 0;
}

static int plain_component(const char *s, size_t n) {
    if (n == 0 || n > 100 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int fz_unpack(const uint8_t *d, size_t n) {
    entry e[MAX_FILES];
    int count;
    if (split(d, n, e, &count)) return -1;
    fz_clear();
    for (int i = 0; i < count; i++) {
        char name[256], target[256] = "";
        size_t len = e[i].name_end - e[i].name_at;
        if (len >= sizeof name) return -1;
        memcpy(name, d + e[i].name_at, len);
        name[len] = 0;
        char *arrow = strstr(name, " -> ");
        if (arrow) { /* a symbolic link to a plain name */
            *arrow = 0;
            snprintf(target, sizeof target, "%s", arrow + 4);
            if (!plain_component(target, strlen(target))) return -1;
        }
        char *slash = strchr(name, '/');
        if (slash) {
            if (strchr(slash + 1, '/') || !plain_component(name, (size_t)(slash - name)) ||
                !plain_component(slash + 1, strlen(slash + 1)))
                return -1;
            char sub[1024];
            *slash = 0;
            fz_path(sub, sizeof sub, name);
            *slash = '/';
            if (mkdir(sub, 0755) != 0 && errno != EEXIST) return -1;
        } else if (!plain_component(name, strlen(name))) {
            return -1;
        }
        if (target[0]) {
            char p[1024];
            fz_path(p, sizeof p, name);
            unlink(p);
            if (symlink(target, p) != 0) return -1;
        } else if (write_file(name, d + e[i].at, e[i].end - e[i].at)) {
            return -1;
        }
    }
    return 0;
}

const uint8_t *fz_archive_find(const uint8_t *d, size_t n, const char *name, size_t *len) {
    entry e[MAX_FILES];
    int count;
    if (split(d, n, e, &count)) return NULL;
    size_t want = strlen(name);
    for (int i = count - 1; i >= 0; i--) /* the last of a name wins, as in fz_unpack */
        if (e[i].name_end - e[i].name_at == want && !memcmp(d + e[i].name_at, name, want)) {
            *len = e[i].end - e[i].at;
            return d + e[i].at;
        }
    return NULL;
}

/* ---- checks ------------------------------------------------------------------ */

void fz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

void fz_check_error(const gf_error *e, const char *what) {
    size_t n = strnlen(e->msg, sizeof e->msg);
    if (n == 0 || n == sizeof e->msg) fz_fail("%s failed with %s message", what, n ? "an unterminated" : "an empty");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e->msg[i] < 0x20 || e->msg[i] == 0x7f)
            fz_fail("%s failed with a message of more than one printable line: %s", what, e->msg);
}

void fz_init(void) {
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    gf_error err;
    if (gf_kernels_init(&err)) fz_fail("%s", err.msg);
    (void)fz_dir();
}

void fz_data_path(char *out, size_t cap, const char *name) {
    const char *base = getenv("GRIFFIN_FUZZ_DATA");
    if (snprintf(out, cap, "%s/%s", base && *base ? base : "tests/fuzz/data", name) >= (int)cap) fz_fail("path too long");
}
