/* Training checkpoints. OUT/step-NNNNNNNN/ is a model directory (config.json,
 * model.safetensors) plus optimizer.safetensors (the AdamW moments `adam_m`,
 * `adam_v`, F32 [parameters], in the trainable's parameter order) and
 * trainer_state.json (step, tokens seen, the batch sampler's RNG state, the
 * run's hyper-parameters). OUT/latest is a symbolic link to the newest one.
 *
 * Crash safety: a checkpoint is written into OUT/.partial-NNNNNNNN, every
 * file fsync'ed, the folder renamed to its final name, then a new link
 * renamed over OUT/latest, and only then are older checkpoints removed. A
 * crash at any moment leaves OUT/latest naming a complete checkpoint: the old
 * one until the link's rename, the new one after. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainable.h"
#include "formats/safetensors.h"
#include "util.h"

#define STATE_FORMAT "griffin-trainer-state-1"
#define SHARDS_FORMAT "griffin-optimizer-shards-1"

static int fsync_dir(const char *dir, gf_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return gf_fail(err, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : gf_fail(err, "%s: fsync failed: %s", dir, strerror(e));
}

/* rm -r of one checkpoint folder (plain files only, as we write them). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int write_state_json(const char *path, const gf_train_state *s, int ranks, gf_error *err) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return gf_fail(err, "%s: out of memory", path);
    char rng[4][17];
    cJSON_AddStringToObject(r, "format", STATE_FORMAT);
    cJSON_AddNumberToObject(r, "step", (double)s->step);
    cJSON_AddNumberToObject(r, "tokens", (double)s->tokens);
    cJSON *a = cJSON_AddArrayToObject(r, "rng");
    for (int i = 0; i < 4; i++) {
        snprintf(rng[i], sizeof rng[i], "%016" PRIx64, s->rng[i]);
        cJSON_AddItemToArray(a, cJSON_CreateString(rng[i]));
    }
    char seed[17];
    snprintf(seed, sizeof seed, "%016" PRIx64, s->seed);
    cJSON_AddStringToObject(r, "seed", seed);
    cJSON_AddNumberToObject(r, "batch", s->batch);
    cJSON_AddNumberToObject(r, "seq", s->seq);
    cJSON_AddNumberToObject(r, "accum", s->accum);
    cJSON_AddNumberToObject(r, "save_every", (double)s->save_every);
    cJSON_AddNumberToObject(r, "eval_every", (double)s->eval_every);
    cJSON_AddNumberToObject(r, "eval_windows", (double)s->eval_windows);
    cJSON_AddBoolToObject(r, "mask", s->masked != 0);
    /* the processes that trained it (data parallel: the optimiser's shards) */
    cJSON_AddNumberToObject(r, "ranks", ranks);
    cJSON *o = cJSON_AddObjectToObject(r, "adamw");
    cJSON_AddNumberToObject(o, "lr", s->opt.lr);
    cJSON_AddNumberToObject(o, "min_lr_ratio", s->opt.min_lr_ratio);
    cJSON_AddNumberToObject(o, "warmup", (double)s->opt.warmup);
    cJSON_AddNumberToObject(o, "total_steps", (double)s->opt.total_steps);
    cJSON_AddNumberToObject(o, "beta1", s->opt.beta1);
    cJSON_AddNumberToObject(o, "beta2", s->opt.beta2);
    cJSON_AddNumberToObject(o, "eps", s->opt.eps);
    cJSON_AddNumberToObject(o, "weight_decay", s->opt.weight_decay);
    cJSON_AddNumberToObject(o, "clip", s->opt.clip);
    return gf_write_json_atomic(path, r, err);
}

/* Copies a (small) file into the checkpoint, fsync'ed like the rest. */
static int copy_file(const char *from, const char *to, gf_error *err) {
    size_t n;
    char *data = gf_read_text_file(from, (size_t)1 << 30, &n, err);
    if (!data) return -1;
    const void *parts[1] = {data};
    int rc = gf_write_file_atomic(to, parts, &n, 1, err);
    free(data);
    return rc;
}

/* The folders of the save of `step`: OUT/.partial-N while it is written,
 * OUT/step-N once complete, and the link's names. */
typedef struct {
    char part[4096], final[4096], link_tmp[4096], latest[4096], name[64];
} save_paths;

static int paths_of(const char *out_dir, int64_t step, save_paths *p, gf_error *err) {
    snprintf(p->name, sizeof p->name, "step-%08" PRId64, step);
    if (snprintf(p->part, sizeof p->part, "%s/.partial-%08" PRId64, out_dir, step) >= (int)sizeof p->part ||
        snprintf(p->final, sizeof p->final, "%s/%s", out_dir, p->name) >= (int)sizeof p->final ||
        snprintf(p->link_tmp, sizeof p->link_tmp, "%s/.latest.tmp", out_dir) >= (int)sizeof p->link_tmp ||
        snprintf(p->latest, sizeof p->latest, "%s/latest", out_dir) >= (int)sizeof p->latest)
        return gf_fail(err, "%s: path too long", out_dir);
    return 0;
}

/* Whether OUT/latest names this step's folder already (a resumed run
 * saving the step it resumed from): saving it again would remove the
 * checkpoint latest names before the new one is in place, so it is refused. */
static int is_latest(const save_paths *p) {
    char cur[4096];
    ssize_t cl = readlink(p->latest, cur, sizeof cur - 1);
    cur[cl > 0 ? cl : 0] = 0;
    return strcmp(cur, p->name) == 0;
}

int gf_checkpoint_begin(const char *out_dir, int64_t step, gf_error *err) {
    save_paths p;
    if (gf_mkdir_p(out_dir, err) || paths_of(out_dir, step, &p, err)) return -1;
    if (is_latest(&p)) return gf_fail(err, "%s: step %" PRId64 " is already the latest checkpoint", out_dir, step);
    remove_tree(p.part); /* a crashed earlier attempt */
    if (mkdir(p.part, 0755) != 0) return gf_fail(err, "%s: cannot create: %s", p.part, strerror(errno));
    return 0;
}

void gf_checkpoint_abandon(const char *out_dir, int64_t step) {
    save_paths p;
    gf_error err;
    if (paths_of(out_dir, step, &p, &err) == 0) remove_tree(p.part);
}

/* The optimiser shard file of shard k of n (n > 1). */
static void shard_name(char *buf, size_t len, int k, int n) {
    snprintf(buf, len, "optimizer-%05d-of-%05d.safetensors", k + 1, n);
}

/* optimizer_shards.json: the manifest of a sharded optimiser state, each
 * non-empty shard's file and the parameters [offset, offset + count) its
 * moments cover (gf_shard_range's split). */
static int write_manifest(const char *path, size_t n, int shards, gf_error *err) {
    cJSON *r = cJSON_CreateObject(), *a = r ? cJSON_AddArrayToObject(r, "shards") : NULL;
    int ok = a && cJSON_AddStringToObject(r, "format", SHARDS_FORMAT) &&
             cJSON_AddNumberToObject(r, "parameters", (double)n);
    for (int k = 0; ok && k < shards; k++) {
        size_t lo, hi;
        char file[64];
        gf_shard_range(n, k, shards, &lo, &hi);
        if (lo == hi) continue;
        shard_name(file, sizeof file, k, shards);
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(a, e) && cJSON_AddStringToObject(e, "file", file) &&
             cJSON_AddNumberToObject(e, "offset", (double)lo) && cJSON_AddNumberToObject(e, "count", (double)(hi - lo));
    }
    if (!ok) {
        cJSON_Delete(r);
        return gf_fail(err, "%s: out of memory", path);
    }
    return gf_write_json_atomic(path, r, err);
}

int gf_checkpoint_write_model(const char *out_dir, const gf_trainable *t, const gf_train_state *s,
                              const char *tokenizer, int shards, gf_error *err) {
    save_paths p;
    char path[4096];
    if (paths_of(out_dir, s->step, &p, err)) return -1;
    /* A run gone non-finite is never saved: the last checkpoint stays the
     * latest, and one pass over the weights is little next to writing them. */
    for (int k = 0; k < t->n_info; k++) {
        const gf_tensor_info *ti = &t->info[k];
        const float *w = t->params + ti->offset;
        size_t i = gf_first_nonfinite(w, GF_DT_F32, ti->numel);
        if (i < ti->numel)
            return gf_fail(err, "step %" PRId64 ": tensor '%s' holds %s at element %zu; not saved (the last checkpoint is intact)",
                           s->step, ti->name, w[i] != w[i] ? "NaN" : w[i] > 0 ? "+Inf" : "-Inf", i);
    }
    if (gf_trainable_save(t, p.part, err) || gf_path_join(path, sizeof path, p.part, "trainer_state.json", err) ||
        write_state_json(path, s, shards, err) ||
        (tokenizer && (gf_path_join(path, sizeof path, p.part, "tokenizer.model", err) || copy_file(tokenizer, path, err))))
        return -1;
    if (shards > 1 && (gf_path_join(path, sizeof path, p.part, "optimizer_shards.json", err) ||
                       write_manifest(path, t->n_params, shards, err)))
        return -1;
    return 0;
}

int gf_checkpoint_write_optimizer(const char *out_dir, int64_t step, gf_adamw *o, int shard, int shards,
                                  gf_error *err) {
    save_paths p;
    char path[4096], file[64];
    if (paths_of(out_dir, step, &p, err)) return -1;
    size_t n = gf_adamw_num_params(o);
    if (shards > 1 && n == 0) return 0; /* an empty shard has no file */
    const float *mv = gf_adamw_moments(o);
    size_t bad = gf_first_nonfinite(mv, GF_DT_F32, 2 * n);
    if (bad < 2 * n)
        return gf_fail(err, "step %" PRId64 ": the optimizer's %s holds a non-finite value at element %zu; not saved (the last checkpoint is intact)",
                       step, bad < n ? "adam_m" : "adam_v", gf_adamw_offset(o) + bad % n);
    if (shards > 1) shard_name(file, sizeof file, shard, shards);
    else snprintf(file, sizeof file, "optimizer.safetensors");
    gf_st_entry e[2] = {{"adam_m", GF_DT_F32, 1, {n}, mv}, {"adam_v", GF_DT_F32, 1, {n}, mv + n}};
    if (gf_path_join(path, sizeof path, p.part, file, err) || gf_st_write(path, e, 2, err)) return -1;
    return 0;
}

int gf_checkpoint_commit(const char *out_dir, int64_t step, gf_error *err) {
    save_paths p;
    if (paths_of(out_dir, step, &p, err) || fsync_dir(p.part, err)) return -1;
    /* checked at the start too; again, as latest may have moved since */
    if (is_latest(&p)) return gf_fail(err, "%s: step %" PRId64 " is already the latest checkpoint", out_dir, step);
    remove_tree(p.final);
    if (rename(p.part, p.final) != 0)
        return gf_fail(err, "%s: cannot rename to %s: %s", p.part, p.final, strerror(errno));
    unlink(p.link_tmp);
    if (symlink(p.name, p.link_tmp) != 0 || rename(p.link_tmp, p.latest) != 0) {
        gf_fail(err, "%s: cannot point to %s: %s", p.latest, p.name, strerror(errno));
        unlink(p.link_tmp);
        return -1; /* the new checkpoint is complete; latest still names the old */
    }
    if (fsync_dir(out_dir, err)) return -1;
    /* only now may the older checkpoints go */
    DIR *d = opendir(out_dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            /* older steps, and folders of saves a crash cut short */
            int stale = !strncmp(de->d_name, "step-", 5) || !strncmp(de->d_name, ".partial-", 9);
            if (!stale || !strcmp(de->d_name, p.name)) continue;
            char old[4096];
            if (snprintf(old, sizeof old, "%s/%s", out_dir, de->d_name) < (int)sizeof old) remove_tree(old);
        }
        closedir(d);
    }
    return 0;
}

int gf_checkpoint_save(const char *out_dir, const gf_trainable *t, gf_adamw *o,
                       const gf_train_state *s, const char *tokenizer, gf_error *err) {
    if (gf_checkpoint_begin(out_dir, s->step, err)) return -1;
    if (gf_checkpoint_write_model(out_dir, t, s, tokenizer, 1, err) ||
        gf_checkpoint_write_optimizer(out_dir, s->step, o, 0, 1, err) || gf_checkpoint_commit(out_dir, s->step, err)) {
        /* a complete step folder that only lacks the link stays (commit
         * says so); a partial one goes */
        gf_checkpoint_abandon(out_dir, s->step);
        return -1;
    }
    return 0;
}

/* ---- loading ------------------------------------------------------------- */

static int get_num(const cJSON *o, const char *key, double lo, double hi, double *out, const char *path,
                   gf_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return gf_fail(err, "%s: '%s' is missing or not a number in [%g, %g]", path, key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int get_hex(const cJSON *v, uint64_t *out, const char *path, const char *what, gf_error *err) {
    char *end;
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 16)
        return gf_fail(err, "%s: '%s' must be 16 hex digits", path, what);
    errno = 0;
    unsigned long long x = strtoull(v->valuestring, &end, 16);
    if (errno || *end) return gf_fail(err, "%s: '%s' must be 16 hex digits", path, what);
    *out = (uint64_t)x;
    return 0;
}

static int read_state_json(const char *path, gf_train_state *s, gf_error *err) {
    size_t len;
    char *text = gf_read_text_file(path, 1 << 20, &len, err);
    if (!text) return -1;
    cJSON *r = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    double v = 0;
    const cJSON *fmt = r ? cJSON_GetObjectItemCaseSensitive(r, "format") : NULL;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, STATE_FORMAT) != 0) {
        gf_fail(err, "%s: not a griffin trainer state ('format' is not \"%s\")", path, STATE_FORMAT);
        goto out;
    }
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(r, "rng");
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4) {
        gf_fail(err, "%s: 'rng' must be 4 hex strings", path);
        goto out;
    }
    for (int i = 0; i < 4; i++)
        if (get_hex(cJSON_GetArrayItem(rng, i), &s->rng[i], path, "rng", err)) goto out;
    if (get_hex(cJSON_GetObjectItemCaseSensitive(r, "seed"), &s->seed, path, "seed", err)) goto out;
    if (get_num(r, "step", 0, 9e15, &v, path, err)) goto out;
    s->step = (int64_t)v;
    if (get_num(r, "tokens", 0, 9e15, &v, path, err)) goto out;
    s->tokens = (int64_t)v;
    if (get_num(r, "batch", 1, 1 << 20, &v, path, err)) goto out;
    s->batch = (int)v;
    if (get_num(r, "seq", 1, 1 << 24, &v, path, err)) goto out;
    s->seq = (int)v;
    if (get_num(r, "accum", 1, 1 << 20, &v, path, err)) goto out;
    s->accum = (int)v;
    if (get_num(r, "save_every", 0, 9e15, &v, path, err)) goto out;
    s->save_every = (int64_t)v;
    if (get_num(r, "eval_every", 0, 9e15, &v, path, err)) goto out;
    s->eval_every = (int64_t)v;
    if (get_num(r, "eval_windows", 1, 9e15, &v, path, err)) goto out;
    s->eval_windows = (int64_t)v;
    /* absent in the states of runs from before masks: none was used */
    const cJSON *mk = cJSON_GetObjectItemCaseSensitive(r, "mask");
    if (mk && !cJSON_IsBool(mk)) {
        gf_fail(err, "%s: 'mask' must be true or false", path);
        goto out;
    }
    s->masked = cJSON_IsTrue(mk);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "adamw");
    if (!cJSON_IsObject(o)) {
        gf_fail(err, "%s: 'adamw' is missing", path);
        goto out;
    }
    struct { const char *k; float *f; double lo, hi; } fs[] = {
        {"lr", &s->opt.lr, 0, 1e3}, {"min_lr_ratio", &s->opt.min_lr_ratio, 0, 1},
        {"beta1", &s->opt.beta1, 0, 1}, {"beta2", &s->opt.beta2, 0, 1}, {"eps", &s->opt.eps, 0, 1},
        {"weight_decay", &s->opt.weight_decay, 0, 1e3}, {"clip", &s->opt.clip, 0, 1e12}};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) {
        if (get_num(o, fs[i].k, fs[i].lo, fs[i].hi, &v, path, err)) goto out;
        *fs[i].f = (float)v;
    }
    if (get_num(o, "warmup", 0, 9e15, &v, path, err)) goto out;
    s->opt.warmup = (int64_t)v;
    if (get_num(o, "total_steps", 0, 9e15, &v, path, err)) goto out;
    s->opt.total_steps = (int64_t)v;
    rc = 0;
out:
    cJSON_Delete(r);
    return rc;
}

/* Copies the moments of the parameters [a, a + cnt) held by the optimiser
 * file `path` (which covers [off, off + count)) into o, for the part that
 * falls in o's range. */
static int load_moments(const char *path, size_t off, size_t count, gf_adamw *o, gf_error *err) {
    size_t lo = gf_adamw_offset(o), n = gf_adamw_num_params(o), hi = lo + n;
    size_t a = off > lo ? off : lo, b = off + count < hi ? off + count : hi;
    if (a >= b) return 0;
    gf_st_file f = {0};
    if (gf_st_open(path, &f, err)) return -1;
    float *mv = gf_adamw_moments(o);
    const char *names[2] = {"adam_m", "adam_v"};
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        const gf_st_tensor *x = gf_st_find(&f, names[k]);
        if (!x || x->dtype != GF_DT_F32 || x->ndim != 1 || x->numel != count)
            rc = gf_fail(err, "%s: '%s' must be F32 [%zu]%s", path, names[k], count,
                         off == 0 ? " (the model's parameter count)" : " (as the manifest says)");
        else {
            float *dst = mv + (size_t)k * n + (a - lo);
            memcpy(dst, (const float *)x->data + (a - off), (b - a) * sizeof *mv);
            /* as a save never writes them: a NaN or infinity, or a negative
             * second moment (a mean of squares, under a square root), would
             * make the first update after the resume NaN */
            size_t bad = gf_first_nonfinite(dst, GF_DT_F32, b - a);
            for (size_t i = 0; k == 1 && bad == b - a && i < b - a; i++)
                if (dst[i] < 0) bad = i;
            if (bad < b - a)
                rc = gf_fail(err, "%s: '%s' holds %g at element %zu (moments are finite, and adam_v is not negative)",
                             path, names[k], dst[bad], a - off + bad);
        }
    }
    gf_st_close(&f);
    return rc;
}

/* The moments of o's range from a sharded state: the manifest's shards must
 * tile [0, n) in order, each file a plain name in the checkpoint's folder. */
static int load_sharded(const char *step_dir, const char *manifest, size_t n, gf_adamw *o, gf_error *err) {
    size_t len;
    char *text = gf_read_text_file(manifest, 1 << 24, &len, err);
    if (!text) return -1;
    cJSON *r = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    const cJSON *fmt = r ? cJSON_GetObjectItemCaseSensitive(r, "format") : NULL;
    const cJSON *sh = r ? cJSON_GetObjectItemCaseSensitive(r, "shards") : NULL;
    double v = 0;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SHARDS_FORMAT) != 0) {
        gf_fail(err, "%s: not a griffin optimizer manifest ('format' is not \"%s\")", manifest, SHARDS_FORMAT);
        goto out;
    }
    if (get_num(r, "parameters", 0, 9e15, &v, manifest, err)) goto out;
    if ((size_t)v != n) {
        gf_fail(err, "%s: %zu parameters, but the model has %zu", manifest, (size_t)v, n);
        goto out;
    }
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) < 1) {
        gf_fail(err, "%s: 'shards' must be a list of files", manifest);
        goto out;
    }
    size_t next = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sh) {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(e, "file");
        double off = 0, cnt = 0;
        if (!cJSON_IsString(file) || !file->valuestring[0] || strchr(file->valuestring, '/') ||
            file->valuestring[0] == '.') {
            gf_fail(err, "%s: a shard's 'file' must be a file name in the checkpoint's folder", manifest);
            goto out;
        }
        if (get_num(e, "offset", 0, 9e15, &off, manifest, err) || get_num(e, "count", 1, 9e15, &cnt, manifest, err))
            goto out;
        if (off != floor(off) || cnt != floor(cnt)) {
            gf_fail(err, "%s: a shard's 'offset' and 'count' must be whole numbers", manifest);
            goto out;
        }
        if ((size_t)off != next || (size_t)cnt > n - next) {
            gf_fail(err, "%s: the shards must cover the %zu parameters in order (%s: [%.0f, %.0f))", manifest, n,
                    file->valuestring, off, off + cnt);
            goto out;
        }
        char path[4096];
        if (gf_path_join(path, sizeof path, step_dir, file->valuestring, err) ||
            load_moments(path, next, (size_t)cnt, o, err))
            goto out;
        next += (size_t)cnt;
    }
    if (next != n) {
        gf_fail(err, "%s: the shards cover %zu of the %zu parameters", manifest, next, n);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(r);
    return rc;
}

int gf_checkpoint_load_shard(const char *dir, int shard, int shards, gf_trainable **t_out, gf_adamw **o_out,
                             gf_train_state *s, gf_error *err) {
    char step_dir[4096], path[4096];
    struct stat st;
    *t_out = NULL;
    *o_out = NULL;
    if (shards < 1 || shard < 0 || shard >= shards)
        return gf_fail(err, "optimiser shard %d of %d does not exist", shard, shards);
    /* OUT (follow OUT/latest) or a checkpoint folder itself */
    if (gf_path_join(path, sizeof path, dir, "trainer_state.json", err)) return -1;
    if (stat(path, &st) == 0) snprintf(step_dir, sizeof step_dir, "%s", dir);
    else if (gf_path_join(step_dir, sizeof step_dir, dir, "latest", err)) return -1;
    gf_model *m = NULL;
    gf_trainable *t = NULL;
    gf_adamw *o = NULL;
    if (gf_path_join(path, sizeof path, step_dir, "trainer_state.json", err)) goto fail;
    if (stat(path, &st) != 0) {
        gf_fail(err, "%s: no checkpoint here (no trainer_state.json, no latest)", dir);
        goto fail;
    }
    if (read_state_json(path, s, err)) goto fail;
    if (!(m = gf_model_load(step_dir, err)) || !(t = gf_trainable_from_model(m, err))) goto fail;
    gf_model_free(m);
    m = NULL;
    size_t lo, hi, n = t->n_params;
    gf_shard_range(n, shard, shards, &lo, &hi);
    if (!(o = gf_adamw_new_range(t, lo, hi, err))) goto fail;
    /* a sharded state (a data-parallel run's) has a manifest; one process
     * writes optimizer.safetensors. Either serves any number of shards. */
    if (gf_path_join(path, sizeof path, step_dir, "optimizer_shards.json", err)) goto fail;
    if (stat(path, &st) == 0) {
        if (load_sharded(step_dir, path, n, o, err)) goto fail;
    } else {
        if (gf_path_join(path, sizeof path, step_dir, "optimizer.safetensors", err) || load_moments(path, 0, n, o, err))
            goto fail;
    }
    gf_adamw_set_step_count(o, s->step);
    *t_out = t;
    *o_out = o;
    return 0;
fail:
    gf_model_free(m);
    gf_trainable_free(t);
    gf_adamw_free(o);
    return -1;
}

int gf_checkpoint_load(const char *dir, gf_trainable **t, gf_adamw **o, gf_train_state *s, gf_error *err) {
    return gf_checkpoint_load_shard(dir, 0, 1, t, o, s, err);
}
