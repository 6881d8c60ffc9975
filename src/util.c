#define _DEFAULT_SOURCE /* madvise */
#include <cjson/cJSON.h>

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int gf_fail(gf_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        char raw[sizeof err->msg];
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        /* One printable line, always: messages may quote file contents or
         * input text, so control bytes are written as \xNN. */
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < sizeof err->msg; p++) {
            if (*p < 0x20 || *p == 0x7f)
                o += (size_t)snprintf(err->msg + o, sizeof err->msg - o, "\\x%02X", *p);
            else
                err->msg[o++] = (char)*p;
        }
        err->msg[o] = 0;
    }
    return -1;
}

void *gf_calloc(size_t n, size_t size, const char *what, gf_error *err) {
    if (n == 0 || size == 0) n = size = 1;
    if (gf_mul_sat(n, size) == SIZE_MAX) {
        gf_fail(err, "%s: size %zu x %zu overflows", what, n, size);
        return NULL;
    }
    void *p = calloc(n, size);
    if (!p) gf_fail(err, "%s: out of memory allocating %zu bytes", what, n * size);
    return p;
}

size_t gf_mul_sat(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) return SIZE_MAX;
    return a * b;
}

int gf_check_regular(const char *path, gf_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return gf_fail(err, "%s: not a regular file", path);
    return 0;
}

int gf_read_stream(FILE *f, size_t max_bytes, char **out, size_t *len_out) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return GF_READ_NO_MEMORY;
    for (;;) {
        if (len == cap) {
            if (cap > max_bytes) {
                free(buf);
                return GF_READ_TOO_LARGE;
            }
            /* one past the bound at most: a stream of exactly max_bytes fits */
            size_t want = 2 * cap > max_bytes + 1 ? max_bytes + 1 : 2 * cap;
            char *g = realloc(buf, want + 1);
            if (!g) {
                free(buf);
                return GF_READ_NO_MEMORY;
            }
            buf = g;
            cap = want;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int rc = ferror(f) ? GF_READ_IO_ERROR : len > max_bytes ? GF_READ_TOO_LARGE : 0;
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = 0;
    *out = buf;
    *len_out = len;
    return 0;
}

char *gf_read_text_file(const char *path, size_t max_bytes, size_t *len_out, gf_error *err) {
    if (gf_check_regular(path, err) != 0) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    /* a file of max_bytes is refused too, as it always was here */
    int rc = gf_read_stream(f, max_bytes > 0 ? max_bytes - 1 : 0, &buf, &len);
    fclose(f);
    if (rc == GF_READ_TOO_LARGE) gf_fail(err, "%s: larger than the %zu bytes allowed", path, max_bytes);
    else if (rc == GF_READ_IO_ERROR) gf_fail(err, "%s: read error", path);
    else if (rc) gf_fail(err, "%s: out of memory", path);
    if (rc) return NULL;
    if (len_out) *len_out = len;
    return buf;
}

int gf_map_file(const char *path, gf_mapping *map, gf_error *err) {
    map->data = NULL;
    map->size = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return gf_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return gf_fail(err, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return gf_fail(err, "%s: file is empty", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return gf_fail(err, "%s: cannot map: %s", path, strerror(e));
    map->data = p;
    map->size = (size_t)st.st_size;
    return 0;
}

void gf_unmap_file(gf_mapping *map) {
    if (map->data) munmap(map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

void gf_release_pages(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || n == 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t b = ((uintptr_t)p + n) / (uintptr_t)page * (uintptr_t)page;
    /* advice only: a failure leaves the pages mapped, which is harmless */
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

void gf_copy_parallel(void *dst, const void *src, size_t n) {
    const size_t piece = (size_t)2 << 20;
    size_t pieces = (n + piece - 1) / piece;
#pragma omp parallel for schedule(static) if (pieces >= 4)
    for (size_t i = 0; i < pieces; i++) {
        size_t o = i * piece, len = n - o < piece ? n - o : piece;
        memcpy((unsigned char *)dst + o, (const unsigned char *)src + o, len);
    }
}

void *gf_alloc_huge(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes > SIZE_MAX - huge) return NULL;
    size_t n = (bytes + huge - 1) / huge * huge; /* aligned_alloc wants a multiple of the alignment */
    void *p = aligned_alloc(huge, n ? n : huge);
#ifdef MADV_HUGEPAGE
    /* advice only: without it (or with huge pages off) the memory is the same, in small pages */
    if (p) (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

/* The value of `key` in a "key value" file (memory.stat), or of its first
 * line when key is NULL (memory.max, where "max" reads as unlimited);
 * returns 0 when there is none. */
static int read_cgroup_value(const char *path, const char *key, unsigned long long *v) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256], name[128];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (!key) {
            found = sscanf(line, "%llu", v) == 1;
            if (!found && !strncmp(line, "max", 3)) *v = ULLONG_MAX, found = 1;
            break;
        }
        found = sscanf(line, "%127s %llu", name, v) == 2 && !strcmp(name, key);
    }
    fclose(f);
    return found;
}

/* What the memory cgroups this process is in (v1's memory controller, or
 * v2) still let it take: for each level from its own group up, the limit
 * less the group's anonymous memory (its page cache can be reclaimed), the
 * smallest; SIZE_MAX when no limit applies. Inside a container this is the
 * container's limit, which /proc/meminfo does not show. */
static size_t cgroup_room(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return SIZE_MAX;
    char line[2048], v1[2048] = "", v2[2048] = "";
    int have_v1 = 0, have_v2 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c = strstr(line, ":memory:");
        if (c) have_v1 = snprintf(v1, sizeof v1, "%s", c + 8) >= 0;
        else if (!strncmp(line, "0::", 3)) have_v2 = snprintf(v2, sizeof v2, "%s", line + 3) >= 0;
    }
    fclose(f);
    const char *base = have_v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup";
    char *path = have_v1 ? v1 : v2;
    if (!have_v1 && !have_v2) return SIZE_MAX;
    size_t room = SIZE_MAX;
    for (;;) {
        char p[2300];
        unsigned long long lim = 0, used = 0;
        snprintf(p, sizeof p, "%s%s/%s", base, path, have_v1 ? "memory.limit_in_bytes" : "memory.max");
        if (read_cgroup_value(p, NULL, &lim) && lim < (unsigned long long)SIZE_MAX / 2) {
            snprintf(p, sizeof p, "%s%s/memory.stat", base, path);
            if (!read_cgroup_value(p, have_v1 ? "total_rss" : "anon", &used)) used = 0;
            size_t r = lim > used ? (size_t)(lim - used) : 0;
            if (r < room) room = r;
        }
        char *slash = strrchr(path, '/');
        if (!slash || !*path || !strcmp(path, "/")) break;
        *slash = 0; /* the parent group ("" is the root) */
    }
    return room;
}

size_t gf_mem_available(void) {
    size_t avail = 0, room = cgroup_room();
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb = 0;
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
        fclose(f);
        if (found) avail = kb > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)kb * 1024;
    }
    if (!avail) {
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) avail = (size_t)pages > SIZE_MAX / (size_t)page ? SIZE_MAX : (size_t)pages * (size_t)page;
    }
    if (!avail) return room == SIZE_MAX ? 0 : room;
    return room < avail ? room : avail;
}

int gf_mem_fits(size_t bytes, size_t available) {
    const size_t margin = (size_t)1 << 30;
    return available == 0 || (bytes <= available && available - bytes >= margin);
}

/* Writes the parts to a new temporary beside path, fsync'ed and closed;
 * on failure the temporary is gone. */
static int stage_file(const char *path, const void *const *parts, const size_t *lens, int nparts, char *tmp,
                      size_t tmp_cap, gf_error *err) {
    int n = snprintf(tmp, tmp_cap, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= tmp_cap) return gf_fail(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return gf_fail(err, "%s: cannot write: %s", path, strerror(errno));
    const char *what = "write";
    int e = 0;
    for (int i = 0; i < nparts && !e; i++) {
        const char *p = parts[i];
        size_t left = lens[i];
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { /* 0 for a non-empty write: no progress, never loop on it */
                e = w < 0 ? errno : EIO;
                break;
            }
            p += w;
            left -= (size_t)w;
        }
    }
    if (!e && fsync(fd) != 0) what = "fsync", e = errno;
    /* close's error counts too (NFS reports a failed write-back there) */
    if (close(fd) != 0 && !e) what = "close", e = errno;
    if (!e) return 0;
    unlink(tmp);
    return gf_fail(err, "%s: %s failed: %s", path, what, strerror(e));
}

/* fsync of the folder holding path, so that a rename into it survives a
 * crash. File systems that cannot sync a folder (EINVAL) are let be. */
static int fsync_parent(const char *path, gf_error *err) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir) return gf_fail(err, "%s: path too long", path);
    if (slash && n == 0) n = 1; /* "/name" */
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? n : 1] = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return gf_fail(err, "%s: cannot open its folder %s: %s", path, dir, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return gf_fail(err, "%s: fsync of its folder failed: %s", path, strerror(e));
    return 0;
}

void gf_file_set_discard(gf_file_set *set) {
    for (int i = 0; i < set->n; i++) {
        unlink(set->tmp[i]);
        free(set->tmp[i]);
        free(set->dst[i]);
    }
    set->n = 0;
}

int gf_file_set_add(gf_file_set *set, const char *path, const void *const *parts, const size_t *lens,
                    int nparts, gf_error *err) {
    char tmp[4096];
    if (set->n == GF_FILE_SET_MAX) {
        gf_file_set_discard(set);
        return gf_fail(err, "%s: more than %d files written together", path, GF_FILE_SET_MAX);
    }
    if (stage_file(path, parts, lens, nparts, tmp, sizeof tmp, err)) {
        gf_file_set_discard(set);
        return -1;
    }
    char *t = strdup(tmp), *d = strdup(path);
    if (!t || !d) {
        unlink(tmp);
        free(t);
        free(d);
        gf_file_set_discard(set);
        return gf_fail(err, "%s: out of memory", path);
    }
    set->tmp[set->n] = t;
    set->dst[set->n++] = d;
    return 0;
}

int gf_file_set_commit(gf_file_set *set, gf_error *err) {
    /* Each file a set replaces is first hard-linked to PATH.old.PID, so that
     * if a later rename fails the earlier ones can be undone: the set is
     * then old as a whole, not part new. (Where the file system has no hard
     * links the undo is not possible, and such a failure leaves part new,
     * each file whole.) */
    int rc = 0, i = 0;
    char bak[GF_FILE_SET_MAX][4096];
    int has_bak[GF_FILE_SET_MAX] = {0}, absent[GF_FILE_SET_MAX] = {0};
    for (; i < set->n; i++) {
        int k = snprintf(bak[i], sizeof bak[i], "%s.old.%ld", set->dst[i], (long)getpid());
        if (set->n > 1 && k > 0 && (size_t)k < sizeof bak[i]) {
            unlink(bak[i]);
            has_bak[i] = link(set->dst[i], bak[i]) == 0;
            absent[i] = !has_bak[i] && errno == ENOENT;
        }
        if (rename(set->tmp[i], set->dst[i]) != 0) {
            rc = gf_fail(err, "%s: rename of %s over it failed: %s", set->dst[i], set->tmp[i], strerror(errno));
            break;
        }
    }
    if (rc) /* undo, newest first */
        for (int j = i - 1; j >= 0; j--) {
            if (has_bak[j] && rename(bak[j], set->dst[j]) == 0) has_bak[j] = 0;
            else if (absent[j]) unlink(set->dst[j]); /* the set had no such file */
        }
    for (int j = 0; j < set->n; j++) {
        if (rc == 0 && fsync_parent(set->dst[j], err)) rc = -1;
        if (has_bak[j]) unlink(bak[j]);
        if (j >= i) unlink(set->tmp[j]);
        free(set->tmp[j]);
        free(set->dst[j]);
    }
    set->n = 0;
    return rc;
}

int gf_write_file_atomic(const char *path, const void *const *parts, const size_t *lens,
                         int nparts, gf_error *err) {
    gf_file_set set = {0};
    if (gf_file_set_add(&set, path, parts, lens, nparts, err)) return -1;
    return gf_file_set_commit(&set, err);
}

int gf_mkdir_p(const char *dir, gf_error *err) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return gf_fail(err, "%s: bad directory name", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return gf_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return gf_fail(err, "%s: not a directory", dir);
    return 0;
}

int gf_path_join(char *out, size_t n, const char *dir, const char *name, gf_error *err) {
    int k = snprintf(out, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n) return gf_fail(err, "%s/%s: path too long", dir, name);
    return 0;
}

float gf_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gf_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float gf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400u)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ffu;
            u = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gf_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);        /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);       /* rounds past 65504 */
    if (a < 0x38800000u) { /* below 2^-14: an f16 subnormal, in units of 2^-24 */
        if (a < 0x33000000u) return sign; /* at most half the smallest: rounds to zero */
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 2^(e-127) * man / 2^23 in units of 2^-24 */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u; /* rebias 127 -> 15, round even */
    return (uint16_t)(sign | (r >> 13));
}

int gf_write_json_set(gf_file_set *set, const char *path, cJSON *root, gf_error *err) {
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        if (set) gf_file_set_discard(set);
        return gf_fail(err, "%s: out of memory", path);
    }
    const void *parts[2] = {text, "\n"};
    size_t lens[2] = {strlen(text), 1};
    int rc = set ? gf_file_set_add(set, path, parts, lens, 2, err) : gf_write_file_atomic(path, parts, lens, 2, err);
    free(text);
    return rc;
}

int gf_write_json_atomic(const char *path, cJSON *root, gf_error *err) {
    return gf_write_json_set(NULL, path, root, err);
}
