/* Faults where data is written, and allocations that fail (issue 23, 4-5).
 *
 *  - Every writer of the CLI (init, quantize, prepare, task, a training
 *    checkpoint, chat's /save) made to fail half-way by a file-size limit
 *    (`ulimit -f`, the same failed write() as a full disk, with SIGXFSZ left
 *    at its default so that the CLI itself must ignore it): exit status 1,
 *    not death by a signal; one error line naming the file and strerror's
 *    reason; no temporary left; the previous output byte for byte as it was
 *    and still loading.
 *  - The same writers under tests/fault_shim.c (LD_PRELOAD; not under ASan),
 *    which fails the N-th write, fsync, close or rename on the output with
 *    ENOSPC or EIO, for every N the command reaches: the output afterwards is
 *    the previous one whole or (a failed fsync of the folder after the
 *    renames) the new one whole, never a mixture. A checkpoint whose save
 *    failed at the end of a run resumes to the uninterrupted run's weights.
 *  - gf_model_load (F32, BF16, Q8, Q4, sharded), gf_state_new,
 *    gf_generator_new, gf_tokenizer_load and gf_checkpoint_load with their
 *    1st, 2nd, ... allocation failing (tests/alloc_fail.c), until the call
 *    succeeds: NULL / -1 with one line in err, nothing left allocated or
 *    mapped (and, under ASan, its leak check at exit), no crash. */
#define _GNU_SOURCE /* setenv, mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alloc_fail.h"
#include "formats/safetensors.h"
#include "griffin_train.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static char cfg_path[512], model_dir[512], data_path[512], small_txt[512], big_txt[512], tok_path[512];

/* ---- the writers ------------------------------------------------------------ */

typedef struct {
    const char *name;
    char out[512];         /* the folder the command writes into (only it) */
    const char *files[6];  /* the output, relative to out */
    char first[8192];      /* makes the previous output */
    char second[8192];     /* replaces it: the command made to fail */
    char input[8192];      /* its standard input ("" for none) */
    int kib;               /* a file-size limit it goes past */
    void (*loads)(const char *out);
} writer;

static void model_loads(const char *out) {
    gf_error err;
    gf_model *m = gf_model_load(out, &err);
    if (!m) fail_msg("%s no longer loads: %s", out, err.msg);
    gf_model_free(m);
}

static void npy_loads(const char *path) {
    gf_npy a;
    td_npy(path, &a);
    assert_true(a.count > 0);
    gf_npy_free(&a);
}

static void data_loads(const char *out) {
    char p[8192];
    snprintf(p, sizeof p, "%s/train.npy", out);
    npy_loads(p);
    snprintf(p, sizeof p, "%s/val.npy", out);
    npy_loads(p);
}

static void task_loads(const char *out) {
    char p[8192];
    snprintf(p, sizeof p, "%s/copy.tokens.npy", out);
    npy_loads(p);
    snprintf(p, sizeof p, "%s/copy.mask.npy", out);
    npy_loads(p);
}

static void checkpoint_loads(const char *out) {
    gf_trainable *t;
    gf_adamw *o;
    gf_train_state s;
    gf_error err;
    if (gf_checkpoint_load(out, &t, &o, &s, &err)) fail_msg("%s no longer loads: %s", out, err.msg);
    assert_true(s.step == 2 || s.step == 3); /* the previous run's, or (fsync of the folder failing) the new */
    gf_trainable_free(t);
    gf_adamw_free(o);
}

static void snapshot_loads(const char *out) {
    char p[8192];
    gf_error err;
    snprintf(p, sizeof p, "%s/conv.snap", out);
    gf_model *m = gf_model_load(model_dir, &err);
    if (!m) fail_msg("%s", err.msg);
    gf_gen_snapshot *s = gf_gen_snapshot_read(m, p, &err);
    if (!s) fail_msg("%s no longer loads: %s", p, err.msg);
    gf_gen_snapshot_free(s);
    gf_model_free(m);
}

enum { W_INIT, W_QUANTIZE, W_PREPARE, W_TASK, W_TRAIN, W_CHAT, NW };
static writer W[NW];

static void make_writers(void) {
    const char *t = td_tmpdir(), *b = td_bin();
    writer *w = &W[W_INIT];
    w->name = "init";
    snprintf(w->out, sizeof w->out, "%s/init", t);
    w->files[0] = "model.safetensors", w->files[1] = "config.json";
    snprintf(w->first, sizeof w->first, "%s init --config %s --out %s --seed 1", b, cfg_path, w->out);
    snprintf(w->second, sizeof w->second, "%s init --config %s --out %s --seed 2", b, cfg_path, w->out);
    w->kib = 64, w->loads = model_loads;

    w = &W[W_QUANTIZE];
    w->name = "quantize";
    snprintf(w->out, sizeof w->out, "%s/quant", t);
    w->files[0] = "model.safetensors", w->files[1] = "config.json", w->files[2] = "tokenizer.model";
    snprintf(w->first, sizeof w->first, "%s quantize --model %s --out %s --type q8", b, model_dir, w->out);
    snprintf(w->second, sizeof w->second, "%s quantize --model %s --out %s --type q4", b, model_dir, w->out);
    w->kib = 64, w->loads = model_loads;

    w = &W[W_PREPARE];
    w->name = "prepare";
    snprintf(w->out, sizeof w->out, "%s/prep", t);
    w->files[0] = "train.npy", w->files[1] = "val.npy";
    snprintf(w->first, sizeof w->first, "%s prepare --tokenizer %s --out %s --doc-per line --val-fraction 0.25 %s",
             b, tok_path, w->out, small_txt);
    snprintf(w->second, sizeof w->second, "%s prepare --tokenizer %s --out %s --doc-per line --val-fraction 0.25 %s",
             b, tok_path, w->out, big_txt);
    w->kib = 8, w->loads = data_loads;

    w = &W[W_TASK];
    w->name = "task";
    snprintf(w->out, sizeof w->out, "%s/task", t);
    w->files[0] = "copy.tokens.npy", w->files[1] = "copy.mask.npy", w->files[2] = "copy.task.json";
    snprintf(w->first, sizeof w->first,
             "%s task selective-copy --out %s/copy --examples 20 --seq 24 --data-tokens 4 --symbols 5", b, w->out);
    snprintf(w->second, sizeof w->second,
             "%s task selective-copy --out %s/copy --examples 3000 --seq 24 --data-tokens 4 --symbols 5 --seed 9", b,
             w->out);
    w->kib = 16, w->loads = task_loads;

    w = &W[W_TRAIN];
    w->name = "train";
    snprintf(w->out, sizeof w->out, "%s/run", t);
    w->files[0] = "latest/model.safetensors", w->files[1] = "latest/optimizer.safetensors";
    w->files[2] = "latest/trainer_state.json", w->files[3] = "latest/config.json";
    const char *args = "--batch 2 --seq 16 --warmup 1 --threads 1";
    snprintf(w->first, sizeof w->first, "%s train --config %s --data %s --out %s --steps 2 %s", b, cfg_path,
             data_path, w->out, args);
    snprintf(w->second, sizeof w->second, "%s train --model %s/latest --data %s --out %s --steps 3 %s", b, w->out,
             data_path, w->out, args);
    w->kib = 64, w->loads = checkpoint_loads;

    w = &W[W_CHAT];
    w->name = "chat /save";
    snprintf(w->out, sizeof w->out, "%s/chat", t);
    w->files[0] = "conv.snap";
    snprintf(w->first, sizeof w->first, "mkdir -p %s && printf 'hello\\n/save %s/conv.snap\\n' | %s chat --model %s --temp 0 --seed 1 -n 4",
             w->out, w->out, b, model_dir);
    snprintf(w->second, sizeof w->second, "%s chat --model %s --temp 0 --seed 1 -n 4", b, model_dir);
    snprintf(w->input, sizeof w->input, "a second conversation\n/save %s/conv.snap\n", w->out);
    w->kib = 8, w->loads = snapshot_loads;
}

/* The output files' bytes (NULL where absent), concatenated with their
 * sizes into one buffer for comparison. */
typedef struct {
    char *bytes;
    size_t n;
} snap;

static snap take_snapshot(const writer *w) {
    snap s = {NULL, 0};
    for (int i = 0; w->files[i]; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", w->out, w->files[i]);
        size_t n = 0;
        char *d = NULL;
        FILE *f = fopen(p, "rb");
        if (f) {
            fclose(f);
            d = td_read(p, &n);
        }
        s.bytes = realloc(s.bytes, s.n + sizeof n + n);
        assert_non_null(s.bytes);
        memcpy(s.bytes + s.n, &n, sizeof n);
        if (n) memcpy(s.bytes + s.n + sizeof n, d, n);
        s.n += sizeof n + n;
        free(d);
    }
    return s;
}

static int same(snap a, snap b) { return a.n == b.n && !memcmp(a.bytes, b.bytes, a.n); }

/* A name a writer leaves behind on failure: a temporary, a backup, a
 * checkpoint's unfinished folder. */
static void expect_no_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strstr(e->d_name, ".tmp.") || strstr(e->d_name, ".old.") || strstr(e->d_name, ".partial-") ||
            strstr(e->d_name, ".latest.tmp"))
            fail_msg("%s/%s was left behind", dir, e->d_name);
        if (!strncmp(e->d_name, "step-", 5)) {
            char sub[8192];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            expect_no_leftovers(sub);
        }
    }
    closedir(d);
}

/* One error line holding every needle (NULL-terminated); other lines
 * (progress, "saved ...") may be there. */
static void expect_one_error_line(const char *what, const char *err, const char *const *needles) {
    int errors = 0;
    const char *line = NULL;
    for (const char *p = err; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (memmem(p, n, "error", 5)) {
            errors++;
            line = p;
        }
        p += n + (e != NULL);
    }
    if (errors != 1) fail_msg("%s: %d error lines in: %s", what, errors, err);
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    for (int i = 0; needles[i]; i++)
        if (!memmem(line, n, needles[i], strlen(needles[i])))
            fail_msg("%s: the error line lacks '%s': %.*s", what, needles[i], (int)n, line);
}

static int run_writer(const writer *w, const char *prefix, char *err, size_t cap) {
    char cmd[32768], in[8192];
    if (w->input[0]) {
        snprintf(in, sizeof in, "%s/input.txt", td_tmpdir());
        td_write(in, w->input, strlen(w->input));
        snprintf(cmd, sizeof cmd, "%s %s < %s", prefix, w->second, in);
    } else {
        snprintf(cmd, sizeof cmd, "%s %s", prefix, w->second);
    }
    return td_run(cmd, err, cap);
}

static void shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shell(const char *fmt, ...) {
    char cmd[32768], err[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (td_run(cmd, err, sizeof err) != 0) fail_msg("`%s` failed: %s", cmd, err);
}

/* ---- setup ------------------------------------------------------------------ */

static void write_text(const char *path, int lines) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and",
                                  "then", "sleeps", "under", "tree", "while", "birds", "sing", "softly"};
    unsigned x = 12345;
    for (int i = 0; i < lines; i++) {
        for (int k = 0; k < 12; k++) {
            x = x * 1103515245u + 12345u;
            fprintf(f, "%s%s", k ? " " : "", words[(x >> 16) % (sizeof words / sizeof *words)]);
        }
        fputc('\n', f);
    }
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    const char *t = td_tmpdir();
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", t);
    snprintf(model_dir, sizeof model_dir, "%s/model", t);
    snprintf(data_path, sizeof data_path, "%s/data.npy", t);
    snprintf(small_txt, sizeof small_txt, "%s/small.txt", t);
    snprintf(big_txt, sizeof big_txt, "%s/big.txt", t);
    snprintf(tok_path, sizeof tok_path, "%s/gemma_bpe.model", td_spm_fixtures());
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f, "{\"vocab_size\": 4000, \"hidden_size\": 64, \"intermediate_size\": 192,"
            " \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"lru_width\": 64,"
            " \"attention_window_size\": 16, \"conv1d_width\": 4, \"logits_soft_cap\": 30.0,"
            " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}\n");
    fclose(f);
    uint16_t ids[3000];
    for (int i = 0; i < 3000; i++) ids[i] = (uint16_t)((i * 7919 + i / 13) % 4000);
    gf_error err;
    if (gf_npy_write(data_path, GF_NPY_U16, (size_t[]){3000}, 1, ids, &err)) return -1;
    write_text(small_txt, 20);
    write_text(big_txt, 2000);
    char cmd[16384], e[4096];
    snprintf(cmd, sizeof cmd, "%s init --config %s --out %s --seed 7 && cp %s %s/tokenizer.model", td_bin(),
             cfg_path, model_dir, tok_path, model_dir);
    if (td_run(cmd, e, sizeof e) != 0) {
        print_message("setup failed: %s\n", e);
        return -1;
    }
    make_writers();
    return 0;
}

/* Makes w's previous output afresh (and a copy at OUT.orig to restore it). */
static snap make_previous(const writer *w) {
    shell("rm -rf %s %s.orig && mkdir -p %s", w->out, w->out, w->out);
    shell("%s", w->first);
    shell("cp -a %s %s.orig", w->out, w->out);
    return take_snapshot(w);
}

static void restore_previous(const writer *w) { shell("rm -rf %s && cp -a %s.orig %s", w->out, w->out, w->out); }

/* ---- a file-size limit ------------------------------------------------------ */

static void test_file_size_limit(void **state) {
    (void)state;
    static char err[1 << 16];
    for (int k = 0; k < NW; k++) {
        const writer *w = &W[k];
        snap before = make_previous(w);
        char prefix[256];
        /* SIGXFSZ at its default: the CLI must ignore it itself */
        snprintf(prefix, sizeof prefix, "bash -c 'trap - XFSZ; ulimit -f %d; exec \"$0\" \"$@\"'", w->kib);
        int rc = run_writer(w, prefix, err, sizeof err);
        print_message("    %-10s under ulimit -f %d: exit %d\n", w->name, w->kib, rc);
        if (rc != 1) fail_msg("%s: exit %d (want 1; 128 + 25 is SIGXFSZ): %s", w->name, rc, err);
        expect_one_error_line(w->name, err, (const char *const[]){w->out, "File too large", NULL});
        snap after = take_snapshot(w);
        if (!same(before, after)) fail_msg("%s: the previous output changed", w->name);
        expect_no_leftovers(w->out);
        w->loads(w->out);
        /* and the same command without the limit still works there */
        rc = run_writer(w, "", err, sizeof err);
        if (rc != 0) fail_msg("%s afterwards: exit %d: %s", w->name, rc, err);
        snap fresh = take_snapshot(w);
        assert_false(same(before, fresh));
        free(before.bytes);
        free(after.bytes);
        free(fresh.bytes);
    }
}

/* ---- the fault shim ---------------------------------------------------------- */

static const char *shim_path(void) {
    static char p[4096];
    const char *e = getenv("GRIFFIN_FAULT_SHIM");
    if (e) return e;
    snprintf(p, sizeof p, "%s", td_bin());
    char *slash = strrchr(p, '/');
    snprintf(slash ? slash + 1 : p, sizeof p - (size_t)(slash ? slash + 1 - p : 0), "tests/fault_shim.so");
    return p;
}

static long count_calls(const writer *w, const char *fn) {
    char prefix[16384], cfile[512], err[1 << 14];
    snprintf(cfile, sizeof cfile, "%s/count.txt", td_tmpdir());
    remove(cfile);
    snprintf(prefix, sizeof prefix, "LD_PRELOAD=%s FAULT_FN=%s FAULT_AT=0 FAULT_PATH=%s FAULT_COUNT=%s", shim_path(),
             fn, w->out, cfile);
    int rc = run_writer(w, prefix, err, sizeof err);
    if (rc != 0) fail_msg("%s under the shim, failing nothing: exit %d: %s", w->name, rc, err);
    size_t n;
    char *s = td_read(cfile, &n);
    long c = strtol(s, NULL, 10);
    free(s);
    return c;
}

static void test_fault_shim(void **state) {
    (void)state;
    if (UNDER_ASAN) skip();
    if (access(shim_path(), R_OK) != 0) fail_msg("%s is missing (make builds it)", shim_path());
    static char err[1 << 16];
    static const char *fns[] = {"write", "fsync", "close", "rename"};
    long runs = 0;
    for (int k = 0; k < NW; k++) {
        const writer *w = &W[k];
        snap before = make_previous(w);
        /* the new output, made once without faults */
        assert_int_equal(run_writer(w, "", err, sizeof err), 0);
        snap after_ok = take_snapshot(w);
        for (int f = 0; f < 4; f++) {
            restore_previous(w);
            long calls = count_calls(w, fns[f]);
            if (calls == 0) fail_msg("%s made no %s call on %s", w->name, fns[f], w->out);
            /* every call that can fail, at most ~12 spread over the range */
            long stride = calls > 12 ? calls / 12 : 1;
            for (long at = 1; at <= calls; at += (at + stride > calls && at != calls) ? calls - at : stride) {
                restore_previous(w);
                const char *eno = (at & 1) ? "ENOSPC" : "EIO";
                const char *reason = (at & 1) ? strerror(ENOSPC) : strerror(EIO);
                char prefix[8192], what[256];
                /* a full disk stays full; a failed rename is one event */
                snprintf(prefix, sizeof prefix, "LD_PRELOAD=%s FAULT_FN=%s FAULT_AT=%ld FAULT_ERRNO=%s FAULT_PATH=%s%s",
                         shim_path(), fns[f], at, eno, w->out, f == 3 ? " FAULT_ONCE=1" : "");
                snprintf(what, sizeof what, "%s, %s #%ld of %ld failing with %s", w->name, fns[f], at, calls, eno);
                int rc = run_writer(w, prefix, err, sizeof err);
                runs++;
                if (rc != 1) fail_msg("%s: exit %d: %s", what, rc, err);
                expect_one_error_line(what, err, (const char *const[]){w->out, reason, NULL});
                snap now = take_snapshot(w);
                /* new only when every file was in place and the folder's
                 * fsync failed after */
                if (!same(now, before) && !(f == 1 && same(now, after_ok)))
                    fail_msg("%s: the output is neither the previous one nor, whole, the new one", what);
                expect_no_leftovers(w->out);
                w->loads(w->out);
            }
        }
        free(before.bytes);
        free(after_ok.bytes);
    }
    print_message("    %ld failing runs\n", runs);
}

/* A run whose last checkpoint could not be written resumes from the one
 * before to the weights of a run that was never interrupted. */
static void test_failed_save_resumes(void **state) {
    (void)state;
    if (UNDER_ASAN) skip();
    const char *t = td_tmpdir();
    char err[1 << 14], cmd[16384];
    const char *args = "--steps 4 --save-every 2 --batch 2 --seq 16 --warmup 1 --threads 1";
    shell("rm -rf %s/whole %s/cut", t, t);
    shell("%s train --config %s --data %s --out %s/whole %s", td_bin(), cfg_path, data_path, t, args);
    snprintf(cmd, sizeof cmd, "LD_PRELOAD=%s FAULT_FN=write FAULT_ERRNO=ENOSPC FAULT_PATH=.partial-00000004 %s train "
             "--config %s --data %s --out %s/cut %s", shim_path(), td_bin(), cfg_path, data_path, t, args);
    int rc = td_run(cmd, err, sizeof err);
    if (rc != 1) fail_msg("exit %d: %s", rc, err);
    expect_one_error_line("the last save", err, (const char *const[]){"cut", strerror(ENOSPC), NULL});
    char p[8192];
    snprintf(p, sizeof p, "%s/cut", t);
    checkpoint_loads(p);
    snprintf(cmd, sizeof cmd, "%s train --resume %s/cut --data %s --threads 1", td_bin(), t, data_path);
    rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, err);
    size_t n1, n2;
    snprintf(p, sizeof p, "%s/whole/latest/model.safetensors", t);
    char *a = td_read(p, &n1);
    snprintf(p, sizeof p, "%s/cut/latest/model.safetensors", t);
    char *b = td_read(p, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

/* ---- failing allocations ------------------------------------------------------ */

/* Calls make(ctx) with its 1st, 2nd, ... allocation failing until it
 * succeeds; every failure must give NULL with one line in err and leave
 * nothing allocated. Returns the allocations of the successful call. */
typedef void *(*maker)(void *ctx, gf_error *err);
static long fail_each_allocation(const char *what, maker make, void (*destroy)(void *), void *ctx) {
    for (long n = 1;; n++) {
        gf_error err;
        memset(&err, 0, sizeof err);
        td_fail_alloc_start(n);
        void *obj = make(ctx, &err);
        td_alloc_report r = td_fail_alloc_stop();
        if (obj) {
            if (r.failed != 0) fail_msg("%s: allocation %ld failed, yet the call succeeded", what, n);
            destroy(obj);
            return n - 1;
        }
        if (r.failed == 0) fail_msg("%s: failed with no allocation failing: %s", what, err.msg);
        if (!err.msg[0] || strchr(err.msg, '\n')) fail_msg("%s: allocation %ld: error '%s'", what, n, err.msg);
        if (r.live != 0 || r.mappings != 0)
            fail_msg("%s: allocation %ld failing (%s) left %ld blocks and %ld mappings behind (the first made by "
                     "allocation %ld)", what, n, err.msg, r.live, r.mappings, r.first_left);
        if (n > 100000) fail_msg("%s: no success after %ld allocations", what, n);
    }
}

static void *load_model(void *dir, gf_error *err) { return gf_model_load(dir, err); }
static void free_model(void *m) { gf_model_free(m); }
static void *load_tokenizer(void *path, gf_error *err) { return gf_tokenizer_load(path, err); }
static void free_tokenizer(void *t) { gf_tokenizer_free(t); }
static void *new_state(void *m, gf_error *err) { return gf_state_new(m, 3, err); }
static void free_state(void *s) { gf_state_free(s); }
typedef struct {
    gf_model *m;
    gf_tokenizer *tk;
} gen_ctx;
static void *new_generator(void *c, gf_error *err) {
    gen_ctx *g = c;
    gf_gen_params p;
    gf_gen_params_default(&p);
    p.max_tokens = 4;
    static const char *const stops[] = {"fox"};
    p.stop_strings = stops, p.n_stop_strings = 1;
    return gf_generator_new(g->m, g->tk, 2, &p, err);
}
static void free_generator(void *g) { gf_generator_free(g); }
typedef struct {
    gf_trainable *t;
    gf_adamw *o;
} ckpt;
static void *load_checkpoint(void *dir, gf_error *err) {
    static ckpt c;
    gf_train_state s;
    return gf_checkpoint_load(dir, &c.t, &c.o, &s, err) ? NULL : &c;
}
static void free_checkpoint(void *p) {
    ckpt *c = p;
    gf_trainable_free(c->t);
    gf_adamw_free(c->o);
}

/* dir's model.safetensors split in two shards with an index, into out. */
static void write_sharded(const char *dir, const char *out) {
    char p[8192];
    gf_error err;
    gf_st_file f;
    shell("mkdir -p %s && cp %s/config.json %s/", out, dir, out);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (gf_st_open(p, &f, &err)) fail_msg("%s", err.msg);
    gf_st_entry *e = calloc(f.count, sizeof *e);
    assert_non_null(e);
    for (size_t i = 0; i < f.count; i++) {
        const gf_st_tensor *t = &f.tensors[i];
        e[i] = (gf_st_entry){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(e[i].shape, t->shape, sizeof t->shape);
    }
    size_t half = f.count / 2;
    static const char *const shard[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s", out, shard[s]);
        if (gf_st_write(p, e + (s ? half : 0), s ? f.count - half : half, &err)) fail_msg("%s", err.msg);
    }
    cJSON *idx = cJSON_CreateObject(), *wm = cJSON_AddObjectToObject(idx, "weight_map");
    for (size_t i = 0; i < f.count; i++) cJSON_AddStringToObject(wm, e[i].name, shard[i >= half]);
    char *text = cJSON_Print(idx);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", out);
    td_write(p, text, strlen(text));
    free(text);
    cJSON_Delete(idx);
    free(e);
    gf_st_close(&f);
}

static void test_failing_allocations(void **state) {
    (void)state;
    const char *t = td_tmpdir();
    gf_error err;
    td_fail_alloc_hook_cjson();
    /* the weight types and a sharded model */
    char q[4][512];
    static const gf_quant_type types[] = {GF_QUANT_BF16, GF_QUANT_Q8, GF_QUANT_Q4};
    for (int i = 0; i < 3; i++) {
        snprintf(q[i], sizeof q[i], "%s/alloc-%d", t, i);
        if (gf_model_quantize(model_dir, q[i], types[i], NULL, NULL, &err)) fail_msg("%s", err.msg);
    }
    snprintf(q[3], sizeof q[3], "%s/alloc-sharded", t);
    write_sharded(model_dir, q[3]);
    const char *dirs[] = {model_dir, q[0], q[1], q[2], q[3]};
    const char *names[] = {"F32", "BF16", "Q8", "Q4", "sharded"};
    for (int i = 0; i < 5; i++) {
        char what[64];
        snprintf(what, sizeof what, "gf_model_load (%s)", names[i]);
        long n = fail_each_allocation(what, load_model, free_model, (void *)dirs[i]);
        print_message("    %-24s %ld allocations, each failed in turn\n", what, n);
    }
    gf_model *m = gf_model_load(model_dir, &err);
    if (!m) fail_msg("%s", err.msg);
    long n = fail_each_allocation("gf_state_new", new_state, free_state, m);
    print_message("    %-24s %ld allocations, each failed in turn\n", "gf_state_new", n);
    n = fail_each_allocation("gf_tokenizer_load", load_tokenizer, free_tokenizer, tok_path);
    print_message("    %-24s %ld allocations, each failed in turn\n", "gf_tokenizer_load", n);
    gen_ctx g = {m, gf_tokenizer_load(tok_path, &err)};
    if (!g.tk) fail_msg("%s", err.msg);
    n = fail_each_allocation("gf_generator_new", new_generator, free_generator, &g);
    print_message("    %-24s %ld allocations, each failed in turn\n", "gf_generator_new", n);
    gf_tokenizer_free(g.tk);
    gf_model_free(m);
    char run[512];
    snprintf(run, sizeof run, "%s/alloc-run", t);
    shell("rm -rf %s && %s train --config %s --data %s --out %s --steps 2 --batch 2 --seq 16 --threads 1", run,
          td_bin(), cfg_path, data_path, run);
    n = fail_each_allocation("gf_checkpoint_load", load_checkpoint, free_checkpoint, run);
    print_message("    %-24s %ld allocations, each failed in turn\n", "gf_checkpoint_load", n);
}

int main(void) {
    atexit(td_remove_tmpdir);
    /* GRIFFIN_TEST_FILTER=test_file_size_limit: one test (a glob) */
    if (getenv("GRIFFIN_TEST_FILTER")) cmocka_set_test_filter(getenv("GRIFFIN_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failing_allocations),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_fault_shim),
        cmocka_unit_test(test_failed_save_resumes),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, NULL);
}
