/* Data-parallel training over MPI: see dist.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist.h"
#include "util.h"

/* ---- hashes (no MPI) ------------------------------------------------------- */

/* 64-bit FNV-1a over 8-byte words (then the tail bytes), with a final
 * mix: what the ranks compare is whether two files are the same, not
 * resistance to an adversary. */
uint64_t gf_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    const uint64_t prime = 0x100000001b3ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * prime;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * prime;
    h ^= (uint64_t)n * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    return h;
}

int gf_hash_file(const char *path, uint64_t *h, gf_error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return gf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return gf_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    *h = 0xcbf29ce484222325ull;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return gf_fail(err, "%s: cannot map: %s", path, strerror(errno));
        }
        *h = gf_hash_bytes(*h, m, (size_t)st.st_size);
        munmap(m, (size_t)st.st_size);
    }
    close(fd);
    return 0;
}

int gf_dist_launched(void) {
    /* OpenMPI's mpirun sets OMPI_COMM_WORLD_SIZE, PMI launchers PMI_SIZE:
     * one of more than one process. Anything else (a lone PMIX_RANK
     * inherited from a job script, a size of 1) is one process, as
     * without mpirun. */
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    if (!s) s = getenv("PMI_SIZE");
    return s && atoi(s) > 1;
}

#ifndef GF_HAVE_MPI

/* Built without MPI: one process only. */
gf_dist *gf_dist_start(int *argc, char ***argv, double timeout_s, gf_error *err) {
    gf_fail(err, "this griffin was built without MPI (install libopenmpi-dev and rebuild) but was started by mpirun");
    return NULL;
}
void gf_dist_end(gf_dist *d, int ok) {}
int gf_dist_rank(const gf_dist *d) { return 0; }
int gf_dist_size(const gf_dist *d) { return 1; }
int gf_dist_local_size(const gf_dist *d) { return 1; }
void gf_dist_watch(gf_dist *d, const char *resume_hint) {}
int gf_dist_first_failed(gf_dist *d, int ok, gf_error *err) { return ok ? -1 : 0; }
int gf_dist_agree(gf_dist *d, const char *what, uint64_t value, gf_error *err) { return 0; }
int gf_dist_sum(gf_dist *d, double *v, int n, gf_error *err) { return 0; }
gf_dp *gf_dp_new(gf_dist *d, gf_trainable *t, size_t bucket_floats, int overlap, gf_error *err) {
    gf_fail(err, "this griffin was built without MPI");
    return NULL;
}
void gf_dp_free(gf_dp *p) {}
void gf_dp_shard(const gf_dp *p, size_t *lo, size_t *hi) { *lo = *hi = 0; }
int gf_dp_begin(gf_dp *p, gf_error *err) { return gf_fail(err, "this griffin was built without MPI"); }
void gf_dp_ready(void *ctx, size_t offset, size_t count) {}
int gf_dp_reduce(gf_dp *p, gf_error *err) { return gf_fail(err, "this griffin was built without MPI"); }
int gf_dp_gather_params(gf_dp *p, gf_error *err) { return gf_fail(err, "this griffin was built without MPI"); }

#else

#include <mpi.h>

struct gf_dist {
    int rank, size, local_size;
    double timeout_s;
    int tag_ub;
    pid_t *pids;    /* [size] each rank's process id */
    char *same_host; /* [size] whether the rank runs on this machine */
};

/* What the SIGTERM handler reads (a handler has no other way in: global,
 * and only in the griffin binary, which links src/dist): set before it is
 * installed, cleared when MPI ends. silent: this rank is stopping the run
 * itself (MPI_Abort, after its own error line), so mpirun's SIGTERM to it
 * adds no second line. */
static struct {
    const gf_dist *volatile d;
    const char *volatile hint;
    volatile sig_atomic_t silent;
} watched;

static int mpi_fail(gf_error *err, int code, const char *what) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", code);
    return gf_fail(err, "%s: %s", what, s);
}

gf_dist *gf_dist_start(int *argc, char ***argv, double timeout_s, gf_error *err) {
    int provided, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, rc, "MPI_Init");
        return NULL;
    }
    /* errors come back as codes (reported in one line), not MPI's abort */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    gf_dist *d = gf_calloc(1, sizeof *d, "ranks", err);
    if (!d) goto fail;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->timeout_s = timeout_s;
    void *ub;
    int flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
    d->tag_ub = flag ? *(int *)ub : 32767;
    MPI_Comm local;
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local)) != MPI_SUCCESS) {
        mpi_fail(err, rc, "MPI_Comm_split_type");
        goto fail;
    }
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    /* who runs where, for naming a rank that dies */
    d->pids = gf_calloc((size_t)d->size, sizeof *d->pids, "rank ids", err);
    d->same_host = gf_calloc((size_t)d->size, 1, "rank hosts", err);
    char(*hosts)[MPI_MAX_PROCESSOR_NAME] = gf_calloc((size_t)d->size, sizeof *hosts, "rank hosts", err);
    long long me = (long long)getpid(), *all = gf_calloc((size_t)d->size, sizeof *all, "rank ids", err);
    char host[MPI_MAX_PROCESSOR_NAME] = {0};
    int hl;
    if (!d->pids || !d->same_host || !hosts || !all) {
        free(hosts);
        free(all);
        goto fail;
    }
    MPI_Get_processor_name(host, &hl);
    rc = MPI_Allgather(&me, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allgather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts, MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                           MPI_COMM_WORLD);
    for (int r = 0; r < d->size && rc == MPI_SUCCESS; r++) {
        d->pids[r] = (pid_t)all[r];
        d->same_host[r] = strncmp(hosts[r], host, MPI_MAX_PROCESSOR_NAME) == 0;
    }
    free(hosts);
    free(all);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, rc, "MPI_Allgather");
        goto fail;
    }
    return d;
fail:
    if (d) {
        free(d->pids);
        free(d->same_host);
        free(d);
    }
    /* MPI is up: leaving alone would leave the other ranks waiting, so
     * this rank says why and stops them all */
    fprintf(stderr, "griffin: error: %s\n", err->msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return NULL;
}

void gf_dist_end(gf_dist *d, int ok) {
    if (!d) return;
    if (!ok) {
        /* a rank that leaves alone would leave the others waiting */
        watched.silent = 1;
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Finalize();
    watched.d = NULL;
    watched.hint = NULL;
    free(d->pids);
    free(d->same_host);
    free(d);
}

int gf_dist_rank(const gf_dist *d) { return d ? d->rank : 0; }
int gf_dist_size(const gf_dist *d) { return d ? d->size : 1; }
int gf_dist_local_size(const gf_dist *d) { return d ? d->local_size : 1; }

/* ---- a rank that is gone --------------------------------------------------
 * When a rank dies, mpirun sends SIGTERM to the others. The handler names
 * the ranks of this machine whose processes no longer exist (a dead one is
 * reaped by mpirun's daemon before it signals), in one line, and exits:
 * only async-signal-safe calls (write, kill, _exit). */

static size_t put_str(char *b, size_t at, size_t cap, const char *s) {
    while (*s && at + 1 < cap) b[at++] = *s++;
    return at;
}

static size_t put_int(char *b, size_t at, size_t cap, long long v) {
    char t[24];
    int n = 0;
    if (v < 0) {
        at = put_str(b, at, cap, "-");
        v = -v;
    }
    do t[n++] = (char)('0' + v % 10), v /= 10;
    while (v && n < 23);
    while (n && at + 1 < cap) b[at++] = t[--n];
    return at;
}

static void on_sigterm(int sig) {
    (void)sig;
    if (watched.silent) _exit(1);
    const gf_dist *d = watched.d;
    char b[1024];
    size_t at = put_str(b, 0, sizeof b, "griffin: error: rank ");
    at = put_int(b, at, sizeof b, d ? d->rank : -1);
    at = put_str(b, at, sizeof b, " of ");
    at = put_int(b, at, sizeof b, d ? d->size : -1);
    int lost = 0;
    for (int r = 0; d && r < d->size; r++) {
        if (r == d->rank || !d->same_host[r]) continue;
        if (kill(d->pids[r], 0) == 0 || errno != ESRCH) continue;
        at = put_str(b, at, sizeof b, lost ? ", rank " : ": lost rank ");
        at = put_int(b, at, sizeof b, r);
        at = put_str(b, at, sizeof b, " (pid ");
        at = put_int(b, at, sizeof b, d->pids[r]);
        at = put_str(b, at, sizeof b, ")");
        lost++;
    }
    if (lost) at = put_str(b, at, sizeof b, ", so mpirun stopped the run");
    else at = put_str(b, at, sizeof b, ": stopped by mpirun (SIGTERM; no rank on this machine is gone: mpirun's message names the cause)");
    if (watched.hint) {
        at = put_str(b, at, sizeof b, "; ");
        at = put_str(b, at, sizeof b, watched.hint);
    }
    at = put_str(b, at, sizeof b, "\n");
    ssize_t w = write(2, b, at);
    (void)w;
    _exit(1);
}

void gf_dist_watch(gf_dist *d, const char *resume_hint) {
    watched.d = d;
    watched.hint = resume_hint;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- waiting with a deadline ---------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits for n requests; peer[i] is the rank request i talks to (-1: a
 * collective, any). Past the deadline (--rank-timeout) the first rank still
 * owed is named; patient waits have none: they follow work of uneven length
 * (loading, hashing the files, rank 0's evaluation and saves), and a rank
 * that dies meanwhile is noticed by mpirun (SIGTERM) all the same. Tests
 * rather than MPI_Waitall
 * (which could wait forever on a rank that hangs), sleeping briefly
 * between tests once the first spins found nothing: a waiting rank then
 * leaves its core to the threads of others sharing the machine. */
static int wait_all(const gf_dist *d, int n, MPI_Request *req, const int *peer, const char *what, int patient,
                    gf_error *err) {
    if (n == 0) return 0;
    double t0 = now_s();
    for (long spins = 0;; spins++) {
        int done = 0;
        int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, what);
        if (done) return 0;
        if (spins > 2000) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        if (!patient && (spins & 255) == 0 && now_s() - t0 > d->timeout_s) {
            int first = -1;
            for (int i = 0; i < n; i++) {
                int f = 0;
                MPI_Request_get_status(req[i], &f, MPI_STATUS_IGNORE);
                if (!f) {
                    first = peer[i];
                    break;
                }
            }
            if (first < 0)
                return gf_fail(err, "%s: another rank has not answered for %.0f s: it is stuck or gone (--rank-timeout)",
                               what, d->timeout_s);
            return gf_fail(err, "%s: rank %d has not answered for %.0f s: it is stuck or gone (--rank-timeout)", what,
                           first, d->timeout_s);
        }
    }
}

/* Every rank's n values of type (size bytes each) gathered, rank by rank,
 * into a new array; NULL with err set when MPI (or the allocation) fails.
 * patient: as wait_all's. */
static void *gather(const gf_dist *d, const void *mine, int n, MPI_Datatype type, size_t size, const char *what,
                    int patient, gf_error *err) {
    void *all = gf_calloc((size_t)d->size * (size_t)n, size, "values of the ranks", err);
    if (!all) return NULL;
    MPI_Request rq;
    int peer = -1, rc = MPI_Iallgather(mine, n, type, all, n, type, MPI_COMM_WORLD, &rq);
    if (rc != MPI_SUCCESS) mpi_fail(err, rc, "MPI_Iallgather");
    if (rc != MPI_SUCCESS || wait_all(d, 1, &rq, &peer, what, patient, err)) {
        free(all);
        return NULL;
    }
    return all;
}

int gf_dist_first_failed(gf_dist *d, int ok, gf_error *err) {
    int mine = ok != 0, first = -1;
    int *all = gather(d, &mine, 1, MPI_INT, sizeof *all, "status exchange", 1, err);
    if (!all) return -2;
    for (int r = 0; first == -1 && r < d->size; r++)
        if (!all[r]) first = r;
    free(all);
    return first;
}

int gf_dist_agree(gf_dist *d, const char *what, uint64_t value, gf_error *err) {
    uint64_t *all = gather(d, &value, 1, MPI_UINT64_T, sizeof *all, what, 1, err);
    if (!all) return -2;
    int out = 0;
    for (int r = 1; out == 0 && r < d->size; r++)
        if (all[r] != all[0]) out = gf_fail(err, "rank %d disagrees with rank 0 on %s", r, what);
    free(all);
    return out;
}

int gf_dist_sum(gf_dist *d, double *v, int n, gf_error *err) {
    double *all = gather(d, v, n, MPI_DOUBLE, sizeof *all, "sum over the ranks", 0, err);
    if (!all) return -1;
    for (int k = 0; k < n; k++) {
        double s = 0.0;
        for (int r = 0; r < d->size; r++) s += all[(size_t)r * (size_t)n + (size_t)k];
        v[k] = s;
    }
    free(all);
    return 0;
}

/* ---- the gradient exchange ------------------------------------------------ */

#define DEFAULT_BUCKET ((size_t)1 << 22) /* 16 MB of F32, as DDP's buckets */
#define GATHER_CHUNK ((size_t)1 << 28)   /* floats per message of the all-gather (MPI counts are int) */

struct gf_dp {
    gf_dist *d;
    gf_trainable *t;
    size_t n, lo, hi;        /* the parameters; this rank's shard */
    size_t *shard_lo;        /* [size + 1]: rank r's shard is [shard_lo[r], shard_lo[r + 1]) */
    size_t bucket, n_buckets;
    size_t *filled;          /* [n_buckets] floats of each bucket the backward has finished */
    int overlap;
    float *recv;             /* [size][hi - lo]: the other ranks' parts of this shard */
    MPI_Request *rreq, *sreq; /* receives, sends */
    int *rpeer, *speer;
    int n_r, n_s;
    int gather_tag0;
    int send_rc; /* the first failed send of the step */
};

void gf_dp_shard(const gf_dp *p, size_t *lo, size_t *hi) {
    *lo = p->lo;
    *hi = p->hi;
}

void gf_dp_free(gf_dp *p) {
    if (!p) return;
    free(p->shard_lo);
    free(p->filled);
    free(p->recv);
    free(p->rreq);
    free(p->sreq);
    free(p->rpeer);
    free(p->speer);
    free(p);
}

gf_dp *gf_dp_new(gf_dist *d, gf_trainable *t, size_t bucket_floats, int overlap, gf_error *err) {
    gf_dp *p = gf_calloc(1, sizeof *p, "gradient exchange", err);
    if (!p) return NULL;
    p->d = d;
    p->t = t;
    p->n = gf_trainable_num_params(t);
    p->overlap = overlap;
    p->bucket = bucket_floats ? bucket_floats : DEFAULT_BUCKET;
    if (p->bucket > ((size_t)1 << 30)) p->bucket = (size_t)1 << 30;
    p->n_buckets = (p->n + p->bucket - 1) / p->bucket;
    size_t chunks = 0;
    int S = d->size;
    p->shard_lo = gf_calloc((size_t)S + 1, sizeof *p->shard_lo, "shards", err);
    if (!p->shard_lo) goto fail;
    for (int r = 0; r < S; r++) {
        size_t a, b;
        gf_shard_range(p->n, r, S, &a, &b);
        p->shard_lo[r] = a;
        p->shard_lo[r + 1] = b;
        size_t c = (b - a + GATHER_CHUNK - 1) / GATHER_CHUNK;
        if (c > chunks) chunks = c;
    }
    p->lo = p->shard_lo[d->rank];
    p->hi = p->shard_lo[d->rank + 1];
    /* tags: a bucket's index, then the all-gather's chunks after them */
    p->gather_tag0 = (int)p->n_buckets;
    if (p->n_buckets + chunks > (size_t)d->tag_ub) {
        gf_fail(err, "%zu parameters make %zu buckets, more than this MPI's %d message tags", p->n, p->n_buckets,
                d->tag_ub);
        goto fail;
    }
    /* a message per (bucket, rank) pair at most, both ways, and per chunk */
    size_t max_msgs = (p->n_buckets + chunks) * (size_t)S;
    p->filled = gf_calloc(p->n_buckets, sizeof *p->filled, "buckets", err);
    p->recv = gf_calloc((size_t)S * (p->hi - p->lo) + 1, sizeof *p->recv, "gradient receive buffer", err);
    p->rreq = gf_calloc(max_msgs, sizeof *p->rreq, "requests", err);
    p->sreq = gf_calloc(max_msgs, sizeof *p->sreq, "requests", err);
    p->rpeer = gf_calloc(max_msgs, sizeof *p->rpeer, "requests", err);
    p->speer = gf_calloc(max_msgs, sizeof *p->speer, "requests", err);
    if (!p->filled || !p->recv || !p->rreq || !p->sreq || !p->rpeer || !p->speer) goto fail;
    return p;
fail:
    gf_dp_free(p);
    return NULL;
}

static size_t min_z(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

int gf_dp_begin(gf_dp *p, gf_error *err) {
    const gf_dist *d = p->d;
    p->n_r = p->n_s = 0;
    memset(p->filled, 0, p->n_buckets * sizeof *p->filled);
    /* every other rank's slice of this shard, bucket by bucket */
    for (size_t k = 0; k < p->n_buckets; k++) {
        size_t a = max_z(k * p->bucket, p->lo), b = min_z(min_z((k + 1) * p->bucket, p->n), p->hi);
        if (a >= b) continue;
        for (int r = 0; r < d->size; r++) {
            if (r == d->rank) continue;
            float *into = p->recv + (size_t)r * (p->hi - p->lo) + (a - p->lo);
            int rc = MPI_Irecv(into, (int)(b - a), MPI_FLOAT, r, (int)k, MPI_COMM_WORLD, &p->rreq[p->n_r]);
            if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Irecv");
            p->rpeer[p->n_r++] = r;
        }
    }
    return 0;
}

/* Sends bucket k's slices of the other ranks' shards. */
static void send_bucket(gf_dp *p, size_t k) {
    const gf_dist *d = p->d;
    const float *g = gf_trainable_grads(p->t);
    size_t k0 = k * p->bucket, k1 = min_z(k0 + p->bucket, p->n);
    for (int r = 0; r < d->size; r++) {
        if (r == d->rank) continue;
        size_t a = max_z(k0, p->shard_lo[r]), b = min_z(k1, p->shard_lo[r + 1]);
        if (a >= b) continue;
        /* called from the backward, which cannot fail: an error is kept
         * for gf_dp_reduce to report */
        int rc = MPI_Isend(g + a, (int)(b - a), MPI_FLOAT, r, (int)k, MPI_COMM_WORLD, &p->sreq[p->n_s]);
        if (rc == MPI_SUCCESS) p->speer[p->n_s++] = r;
        else if (p->send_rc == MPI_SUCCESS) p->send_rc = rc;
    }
}

void gf_dp_ready(void *ctx, size_t offset, size_t count) {
    gf_dp *p = ctx;
    if (!p->overlap) return;
    size_t end = offset + count;
    for (size_t k = offset / p->bucket; k < p->n_buckets && k * p->bucket < end; k++) {
        size_t k0 = k * p->bucket, k1 = min_z(k0 + p->bucket, p->n);
        p->filled[k] += min_z(k1, end) - max_z(k0, offset);
        if (p->filled[k] == k1 - k0) send_bucket(p, k);
    }
    /* MPI moves messages only inside its calls: one here lets the sends
     * posted so far progress while the next layer's backward runs */
    int flag;
    if (p->n_s) MPI_Testall(p->n_s, p->sreq, &flag, MPI_STATUSES_IGNORE);
}

int gf_dp_reduce(gf_dp *p, gf_error *err) {
    const gf_dist *d = p->d;
    /* what the backward did not send (all of it without overlap) */
    for (size_t k = 0; k < p->n_buckets; k++) {
        size_t k0 = k * p->bucket, k1 = min_z(k0 + p->bucket, p->n);
        if (!p->overlap || p->filled[k] != k1 - k0) send_bucket(p, k);
    }
    if (p->send_rc != MPI_SUCCESS) {
        int rc = p->send_rc;
        p->send_rc = MPI_SUCCESS;
        return mpi_fail(err, rc, "MPI_Isend");
    }
    if (wait_all(d, p->n_r, p->rreq, p->rpeer, "gradient exchange", 0, err) ||
        wait_all(d, p->n_s, p->sreq, p->speer, "gradient exchange", 0, err))
        return -1;
    /* the shard's sum, ranks added in order 0, 1, ... whatever the arrival
     * order: a block at a time, so this rank's own part is read before its
     * place is written */
    float *g = gf_trainable_grads(p->t) + p->lo;
    size_t len = p->hi - p->lo;
    int S = d->size, me = d->rank;
#pragma omp parallel for schedule(static) if (len >= ((size_t)1 << 16))
    for (size_t i0 = 0; i0 < len; i0 += 1024) {
        size_t m = min_z(1024, len - i0);
        float acc[1024];
        const float *c0 = me == 0 ? g + i0 : p->recv + i0;
        memcpy(acc, c0, m * sizeof *acc);
        for (int r = 1; r < S; r++) {
            const float *c = r == me ? g + i0 : p->recv + (size_t)r * len + i0;
            for (size_t i = 0; i < m; i++) acc[i] += c[i];
        }
        memcpy(g + i0, acc, m * sizeof *acc);
    }
    return 0;
}

int gf_dp_gather_params(gf_dp *p, gf_error *err) {
    const gf_dist *d = p->d;
    float *w = gf_trainable_params(p->t);
    int nr = 0, ns = 0;
    for (int r = 0; r < d->size; r++) {
        size_t a = p->shard_lo[r], b = p->shard_lo[r + 1];
        for (size_t c = 0; a + c * GATHER_CHUNK < b; c++) {
            size_t x = a + c * GATHER_CHUNK, len = min_z(GATHER_CHUNK, b - x);
            int tag = p->gather_tag0 + (int)c, rc;
            if (r == d->rank) {
                for (int q = 0; q < d->size; q++) {
                    if (q == d->rank) continue;
                    if ((rc = MPI_Isend(w + x, (int)len, MPI_FLOAT, q, tag, MPI_COMM_WORLD, &p->sreq[ns])) != MPI_SUCCESS)
                        return mpi_fail(err, rc, "MPI_Isend");
                    p->speer[ns++] = q;
                }
            } else {
                if ((rc = MPI_Irecv(w + x, (int)len, MPI_FLOAT, r, tag, MPI_COMM_WORLD, &p->rreq[nr])) != MPI_SUCCESS)
                    return mpi_fail(err, rc, "MPI_Irecv");
                p->rpeer[nr++] = r;
            }
        }
    }
    if (wait_all(d, nr, p->rreq, p->rpeer, "parameter exchange", 0, err) ||
        wait_all(d, ns, p->sreq, p->speer, "parameter exchange", 0, err))
        return -1;
    return 0;
}

#endif
