/* Shared helpers of the bench/ programs; see bench_common.h. */
#include "bench_common.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_prog = "bench";

void bench_set_prog(const char *prog) { g_prog = prog; }

/* "PROG: KIND: message" on stderr, one line. */
static void say(const char *kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s: ", g_prog, kind);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static const char *ARCH_NAMES[BENCH_NARCH] = {"mqa", "hawk", "griffin"};

const char *bench_arch_name(bench_arch a) { return a >= 0 && a < BENCH_NARCH ? ARCH_NAMES[a] : "?"; }

int bench_parse_archs(const char *s, int want[BENCH_NARCH]) {
    for (int a = 0; a < BENCH_NARCH; a++) want[a] = 0;
    const char *p = s;
    int any = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int a = 0; a < BENCH_NARCH; a++)
            if (n == strlen(ARCH_NAMES[a]) && !strncmp(p, ARCH_NAMES[a], n)) want[a] = found = any = 1;
        if (!found) return -1;
        p += n;
        if (*p == ',') p++;
    }
    return any ? 0 : -1;
}

int bench_config(bench_arch a, const bench_shape *s, int window, gf_config *c, gf_error *err) {
    memset(c, 0, sizeof *c);
    c->vocab_size = s->vocab;
    c->width = s->width;
    c->mlp_width = s->mlp_width;
    c->num_layers = s->layers;
    c->num_heads = s->heads;
    c->head_dim = s->heads > 0 ? s->width / s->heads : 0;
    c->lru_width = s->width;
    c->window = window;
    c->conv_width = 4;
    c->logits_soft_cap = 30.0f;
    c->rms_eps = 1e-6f;
    c->rope_theta = 10000.0f;
    c->embed_scale = 1;
    c->final_w_init_variance_scale = s->layers > 0 ? 2.0f / (float)s->layers : 0;
    c->bos_id = 2;
    c->eos_id = 1;
    c->pad_id = 0;
    if (s->layers <= 0 || s->layers > GF_MAX_LAYERS) {
        snprintf(err->msg, sizeof err->msg, "%s: %d layers is outside 1..%d", bench_arch_name(a), s->layers,
                 GF_MAX_LAYERS);
        return -1;
    }
    for (int i = 0; i < s->layers; i++) {
        if (a == BENCH_MQA) c->block_types[i] = GF_BLOCK_ATTENTION;
        else if (a == BENCH_HAWK) c->block_types[i] = GF_BLOCK_RECURRENT;
        else c->block_types[i] = i % 3 == 2 ? GF_BLOCK_ATTENTION : GF_BLOCK_RECURRENT;
    }
    return gf_config_validate(c, bench_arch_name(a), err);
}

static size_t absdiff(size_t x, size_t y) { return x > y ? x - y : y - x; }

void bench_match_params(gf_config *cfg, size_t target) {
    /* params are affine in mlp_width (3 D E + E per layer... ): scan the
     * multiples of 16 around the solution of that line. */
    gf_config t = *cfg;
    t.mlp_width = 16;
    size_t p16 = gf_config_num_params(&t);
    t.mlp_width = 32;
    size_t p32 = gf_config_num_params(&t);
    double per16 = (double)(p32 - p16); /* params per 16 MLP units */
    double k = 1.0 + ((double)target - (double)p16) / per16;
    long best = 16;
    size_t best_d = (size_t)-1;
    for (long e = ((long)k - 2) * 16; e <= ((long)k + 2) * 16; e += 16) {
        if (e < 16 || e > 1 << 20) continue;
        t.mlp_width = (int)e;
        size_t d = absdiff(gf_config_num_params(&t), target);
        if (d < best_d) best_d = d, best = e;
    }
    cfg->mlp_width = (int)best;
}

int bench_configs_matched(const bench_shape *s, const int windows[BENCH_NARCH], gf_config out[BENCH_NARCH],
                          gf_error *err) {
    for (int a = 0; a < BENCH_NARCH; a++)
        if (bench_config((bench_arch)a, s, windows[a], &out[a], err) != 0) return -1;
    size_t target = gf_config_num_params(&out[BENCH_GRIFFIN]);
    bench_match_params(&out[BENCH_MQA], target);
    bench_match_params(&out[BENCH_HAWK], target);
    for (int a = 0; a < BENCH_NARCH; a++)
        if (gf_config_validate(&out[a], bench_arch_name((bench_arch)a), err) != 0) return -1;
    return 0;
}

int bench_tmpdir(const char *base, char *path, size_t n, gf_error *err) {
    if (!base) base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    int k = snprintf(path, n, "%s/griffin-figure-XXXXXX", base);
    if (k < 0 || (size_t)k >= n) {
        snprintf(err->msg, sizeof err->msg, "%s: temporary directory name too long", base);
        return -1;
    }
    if (!mkdtemp(path)) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot create a temporary directory: %s", base, strerror(errno));
        return -1;
    }
    return 0;
}

void bench_rm_model_dir(const char *dir) {
    static const char *files[] = {"config.json", "model.safetensors"};
    char p[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (snprintf(p, sizeof p, "%s/%s", dir, files[i]) < (int)sizeof p) (void)unlink(p);
    }
    if (rmdir(dir) != 0 && errno != ENOENT)
        say("warning", "%s: not removed: %s\n", dir, strerror(errno));
}

gf_model *bench_model_load(const char *dir, gf_error *err) {
    gf_model *m = gf_model_load(dir, err);
    gf_error e;
    if (m && gf_model_copy_weights(m, &e) != 0) say("note", "%s: weights left mapped: %s\n", dir, e.msg);
    return m;
}

gf_model *bench_model_write_load(const gf_config *cfg, uint64_t seed, const char *base, char *dir, size_t ndir,
                                 gf_error *err) {
    if (bench_tmpdir(base, dir, ndir, err) != 0) return NULL;
    if (gf_model_init_write(cfg, seed, dir, err) != 0) {
        bench_rm_model_dir(dir);
        return NULL;
    }
    gf_model *m = bench_model_load(dir, err);
    if (!m) bench_rm_model_dir(dir);
    return m;
}

void bench_set_threads(int n) {
    if (n <= 0) return;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int bench_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const char *bench_value(const char *prog, int argc, char **argv, int *i, const char *const *names) {
    int known = 0;
    for (const char *const *n = names; *n && !known; n++) known = !strcmp(*n, argv[*i]);
    if (!known) {
        bench_error(prog, "unknown option '%s' (see --help)", argv[*i]);
        return NULL;
    }
    if (*i + 1 >= argc) {
        bench_error(prog, "option '%s' needs a value (see --help)", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int bench_parse_long(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        say("error", "%s '%s': expected an integer in %ld..%ld\n", opt, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int bench_parse_list(const char *opt, const char *v, long lo, long hi, long **out, int *n) {
    *out = NULL;
    *n = 0;
    char buf[4096];
    if (strlen(v) >= sizeof buf) {
        say("error", "%s: list too long\n", opt);
        return -1;
    }
    strcpy(buf, v);
    if (strchr(buf, ':')) { /* start:stop:step */
        long a[3];
        char *p = buf;
        for (int k = 0; k < 3; k++) {
            char *q = strchr(p, ':');
            if (k < 2 && !q) goto bad;
            if (q) *q = 0;
            if (bench_parse_long(opt, p, k == 2 ? 1 : lo, k == 2 ? LONG_MAX / 2 : hi, &a[k])) return -1;
            p = q ? q + 1 : p + strlen(p);
            if (k == 2 && q) goto bad;
        }
        if (a[1] < a[0]) goto bad;
        long cnt = (a[1] - a[0]) / a[2] + 1;
        if (cnt > 100000) goto bad;
        *out = malloc((size_t)cnt * sizeof **out);
        if (!*out) {
            say("error", "%s: out of memory\n", opt);
            return -1;
        }
        for (long k = 0; k < cnt; k++) (*out)[k] = a[0] + k * a[2];
        *n = (int)cnt;
        return 0;
    }
    int cnt = 1;
    for (const char *p = buf; *p; p++) cnt += *p == ',';
    *out = malloc((size_t)cnt * sizeof **out);
    if (!*out) {
        say("error", "%s: out of memory\n", opt);
        return -1;
    }
    char *save = NULL;
    int k = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (bench_parse_long(opt, tok, lo, hi, &(*out)[k])) {
            free(*out);
            *out = NULL;
            return -1;
        }
        k++;
    }
    if (k == 0) {
        free(*out);
        *out = NULL;
        goto bad;
    }
    *n = k;
    return 0;
bad:
    say("error", "%s '%s': expected a list a,b,c or a range start:stop:step\n", opt, v);
    return -1;
}

int bench_parse_bytes(const char *opt, const char *v, size_t *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'B') end++;
    if (*end == 'B') end++;
    if (errno || end == v || *end || !(x > 0) || x * mul > 1e15) {
        say("error", "%s '%s': expected a size such as 2G, 512M, 1.5G\n", opt, v);
        return -1;
    }
    *out = (size_t)(x * mul);
    return 0;
}

void bench_argmax_rows(const float *logits, int B, int V, int32_t *tokens) {
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * (size_t)V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (l[v] > l[best]) best = v;
        tokens[b] = best;
    }
}

/* splitmix64: a fast stream for filling large states (quality is
 * irrelevant here, speed is not: an MQA cache can be gigabytes). */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_random(float *p, size_t n, uint64_t *s, float scale) {
    for (size_t i = 0; i < n; i++) p[i] = scale * ((float)(splitmix(s) >> 40) * (1.0f / 16777216.0f) - 0.5f);
}

/* Why this gives the decode cost of a real state at position pos: a decode
 * step's work depends on the state only through the number of tokens each
 * sequence has seen (attention reads min(pos, window) ring slots; the
 * recurrent layers read fixed-size h and conv tails), never on the values.
 * A real prefill of pos tokens costs O(pos^2) for global attention with the
 * current scalar attention (minutes at 8K), so we prefill only the last few
 * tokens with segment positions ending at pos - 1 (the state then counts pos
 * tokens, as the official cache does) and overwrite every state value with
 * random numbers of the size real keys and values have, so that every slot
 * the step reads is a real, touched page of ordinary floats.
 * decode_latency --check-prefill compares this with a real prefill. */
int bench_state_at(const gf_model *m, gf_state *st, int pos, uint64_t seed, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    int B = gf_state_batch(st);
    gf_state_reset(st);
    if (pos > 0) {
        int k = pos < 4 ? pos : 4;
        size_t M = (size_t)B * (size_t)k;
        int32_t *tok = malloc(M * sizeof *tok), *sp = malloc(M * sizeof *sp);
        if (!tok || !sp) {
            free(tok);
            free(sp);
            snprintf(err->msg, sizeof err->msg, "state at position %d: out of memory", pos);
            return -1;
        }
        for (size_t i = 0; i < M; i++) {
            tok[i] = (int32_t)(3 + (i * 7919) % (size_t)(c->vocab_size - 3));
            sp[i] = (int32_t)(pos - k + (int)(i % (size_t)k));
        }
        int rc = gf_prefill(m, B, k, tok, sp, NULL, NULL, st, err);
        free(tok);
        free(sp);
        if (rc != 0) return -1;
    }
    uint64_t s = seed ^ ((uint64_t)pos << 20);
    for (int i = 0; i < c->num_layers; i++) {
        for (int b = 0; b < B; b++) {
            gf_layer_state ls;
            if (gf_state_layer(st, i, b, &ls) != 0) {
                snprintf(err->msg, sizeof err->msg, "state view of layer %d, sequence %d failed", i, b);
                return -1;
            }
            size_t wh = (size_t)c->window * (size_t)c->head_dim;
            if (ls.keys) fill_random(ls.keys, wh, &s, 2.0f);
            if (ls.values) fill_random(ls.values, wh, &s, 2.0f);
            if (ls.rg_lru) fill_random(ls.rg_lru, (size_t)c->lru_width, &s, 1.0f);
            if (ls.conv) fill_random(ls.conv, (size_t)(c->conv_width - 1) * (size_t)c->lru_width, &s, 1.0f);
        }
    }
    for (int b = 0; b < B; b++) {
        if (gf_state_num_tokens(st, b) != pos) {
            snprintf(err->msg, sizeof err->msg, "state at position %d: sequence %d counts %lld tokens", pos, b,
                     (long long)gf_state_num_tokens(st, b));
            return -1;
        }
    }
    return 0;
}

void bench_models_init(bench_models *b, bench_shape shape) {
    memset(b, 0, sizeof *b);
    for (int a = 0; a < BENCH_NARCH; a++) b->want[a] = 1;
    b->shape = shape;
    b->griffin_window = 1024;
    b->seed = 1;
}

int bench_models_option(bench_models *b, const char *a, const char *v) {
    long x;
    int rc = 0;
    if (!strcmp(a, "--archs")) {
        if (bench_parse_archs(v, b->want))
            return bench_error(g_prog, "--archs '%s': expected names from mqa,hawk,griffin", v), -1;
        return 1;
    }
    if (!strcmp(a, "--width")) { if (!(rc = bench_parse_long(a, v, 8, 16384, &x))) b->shape.width = (int)x; }
    else if (!strcmp(a, "--layers")) { if (!(rc = bench_parse_long(a, v, 1, GF_MAX_LAYERS, &x))) b->shape.layers = (int)x; }
    else if (!strcmp(a, "--heads")) { if (!(rc = bench_parse_long(a, v, 1, 1024, &x))) b->shape.heads = (int)x; }
    else if (!strcmp(a, "--vocab")) { if (!(rc = bench_parse_long(a, v, 16, 1 << 20, &x))) b->shape.vocab = (int)x; }
    else if (!strcmp(a, "--mlp-width")) rc = bench_parse_long(a, v, 1, 1 << 20, &b->mlp);
    else if (!strcmp(a, "--griffin-window")) rc = bench_parse_long(a, v, 1, 1 << 24, &b->griffin_window);
    else if (!strcmp(a, "--mqa-window")) rc = bench_parse_long(a, v, 1, 1 << 24, &b->mqa_window);
    else if (!strcmp(a, "--threads")) rc = bench_parse_long(a, v, 0, 1024, &b->threads);
    else if (!strcmp(a, "--seed")) { if (!(rc = bench_parse_long(a, v, 0, 1L << 62, &x))) b->seed = (uint64_t)x; }
    else if (!strcmp(a, "--tmp")) b->tmp = v;
    else return 0;
    return rc ? -1 : 1;
}

void bench_models_done(bench_models *b) {
    b->shape.mlp_width = b->mlp > 0 ? (int)b->mlp : 3 * b->shape.width;
}

int bench_models_load(const bench_models *b, const gf_config cfg[BENCH_NARCH], gf_model *m[BENCH_NARCH],
                      char dir[BENCH_NARCH][4096]) {
    gf_error err;
    for (int a = 0; a < BENCH_NARCH; a++) {
        if (!b->want[a]) continue;
        double t0 = bench_now();
        if (!(m[a] = bench_model_write_load(&cfg[a], b->seed, b->tmp, dir[a], 4096, &err)))
            return bench_error(g_prog, "%s", err.msg);
        fprintf(stderr, "%s: %s: %zu params (MLP %d, window %d), %.1f MB weights, %.2f MB state/seq, written in %.1f s\n",
                g_prog, bench_arch_name((bench_arch)a), gf_config_num_params(&cfg[a]), cfg[a].mlp_width,
                gf_config_num_attention_layers(&cfg[a]) ? cfg[a].window : 0, gf_model_weight_bytes(m[a]) / 1e6,
                gf_state_bytes_per_seq(&cfg[a]) / 1e6, bench_now() - t0);
    }
    return 0;
}
