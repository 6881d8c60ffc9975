/* A test-only LD_PRELOAD library that makes a chosen file-system call fail
 * the way a full disk or a failing device does, so that tests/test_faults.c
 * can check every writer's error path through the real binary:
 *
 *   FAULT_FN     the call: write, fsync, close or rename (nothing fails
 *                when unset)
 *   FAULT_AT     the first matching call that fails (1-based; default 1;
 *                0: none fails, the calls are only counted); it and every
 *                later matching call fail, as a disk once full stays full
 *   FAULT_ONCE   set: only the FAULT_AT-th call fails (a passing I/O
 *                error rather than a full disk)
 *   FAULT_ERRNO  ENOSPC (default), EIO, EDQUOT or EFBIG
 *   FAULT_PATH   only calls on a path holding this text count (the file a
 *                descriptor names, read from /proc/self/fd; rename's either
 *                path); default every path
 *   FAULT_COUNT  a file that receives, at exit, the number of matching
 *                calls: the test's bound for FAULT_AT
 *
 * Descriptors 0-2 never match, nor does the close of one opened read-only (the error message itself must get out).
 * A failing close still closes the descriptor, as the kernel's close does
 * when it reports a failed write-back. Built with the Makefile into
 * BUILD/tests/fault_shim.so; it cannot run under AddressSanitizer (whose
 * runtime must come first in the process), so the ASan build's tests skip
 * it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_long matched;

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int chosen(const char *fn) {
    const char *f = env("FAULT_FN");
    return f && !strcmp(f, fn);
}

static int path_matches(const char *path) {
    const char *want = env("FAULT_PATH");
    return !want || (path && strstr(path, want));
}

static int fd_matches(int fd) {
    if (fd <= 2) return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    if (path[0] != '/') return 0; /* pipes, sockets */
    return path_matches(path);
}

/* Counts a matching call; whether it is to fail (errno set). */
static int fail_now(void) {
    long n = atomic_fetch_add(&matched, 1) + 1;
    const char *at = env("FAULT_AT");
    long from = at ? strtol(at, NULL, 10) : 1;
    if (from <= 0 || n < from || (env("FAULT_ONCE") && n != from)) return 0;
    const char *e = env("FAULT_ERRNO");
    errno = !e || !strcmp(e, "ENOSPC") ? ENOSPC : !strcmp(e, "EIO") ? EIO : !strcmp(e, "EDQUOT") ? EDQUOT : EFBIG;
    return 1;
}

static void *next(const char *name) {
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) abort();
    return p;
}

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))next("write");
    if (chosen("write") && fd_matches(fd) && fail_now()) return -1;
    return real(fd, buf, n);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))next("fsync");
    if (chosen("fsync") && fd_matches(fd) && fail_now()) return -1;
    return real(fd);
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))next("close");
    /* only a descriptor written through reports a failed write-back */
    int fl = chosen("close") ? fcntl(fd, F_GETFL) : -1;
    if (fl != -1 && (fl & O_ACCMODE) != O_RDONLY && fd_matches(fd) && fail_now()) {
        int e = errno;
        real(fd);
        errno = e;
        return -1;
    }
    return real(fd);
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))next("rename");
    if (chosen("rename") && (path_matches(from) || path_matches(to)) && fail_now()) return -1;
    return real(from, to);
}

__attribute__((destructor)) static void report(void) {
    const char *path = env("FAULT_COUNT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%ld\n", atomic_load(&matched));
    fclose(f);
}
