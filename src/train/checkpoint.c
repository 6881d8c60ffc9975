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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainable.h"
#include "formats/safetensors.h"
#include "util.h"

#define STATE_FORMAT "griffin-trainer-state-1"

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

static int write_state_json(const char *path, const gf_train_state *s, gf_error *err) {
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

int gf_checkpoint_save(const char *out_dir, const gf_trainable *t, gf_adamw *o,
                       const gf_train_state *s, const char *tokenizer, gf_error *err) {
    char part[4096], final[4096], path[4096], link_tmp[4096], latest[4096], name[64];
    if (gf_mkdir_p(out_dir, err)) return -1;
    snprintf(name, sizeof name, "step-%08" PRId64, s->step);
    if (snprintf(part, sizeof part, "%s/.partial-%08" PRId64, out_dir, s->step) >= (int)sizeof part ||
        snprintf(final, sizeof final, "%s/%s", out_dir, name) >= (int)sizeof final ||
        snprintf(link_tmp, sizeof link_tmp, "%s/.latest.tmp", out_dir) >= (int)sizeof link_tmp ||
        snprintf(latest, sizeof latest, "%s/latest", out_dir) >= (int)sizeof latest)
        return gf_fail(err, "%s: path too long", out_dir);
    /* A run gone non-finite is never saved: the last checkpoint stays the
     * latest, and one pass over the weights and moments is little next to
     * writing them. */
    size_t n = gf_adamw_num_params(o);
    const float *mv = gf_adamw_moments(o);
    for (int k = 0; k < t->n_info; k++) {
        const gf_tensor_info *ti = &t->info[k];
        const float *p = t->params + ti->offset;
        size_t i = gf_first_nonfinite(p, GF_DT_F32, ti->numel);
        if (i < ti->numel)
            return gf_fail(err, "step %" PRId64 ": tensor '%s' holds %s at element %zu; not saved (the last checkpoint is intact)",
                           s->step, ti->name, p[i] != p[i] ? "NaN" : p[i] > 0 ? "+Inf" : "-Inf", i);
    }
    size_t bad = gf_first_nonfinite(mv, GF_DT_F32, 2 * n);
    if (bad < 2 * n)
        return gf_fail(err, "step %" PRId64 ": the optimizer's %s holds a non-finite value at element %zu; not saved (the last checkpoint is intact)",
                       s->step, bad < n ? "adam_m" : "adam_v", bad % n);
    remove_tree(part); /* a crashed earlier attempt */
    if (mkdir(part, 0755) != 0) return gf_fail(err, "%s: cannot create: %s", part, strerror(errno));
    gf_st_entry e[2] = {{"adam_m", GF_DT_F32, 1, {n}, mv}, {"adam_v", GF_DT_F32, 1, {n}, mv + n}};
    if (gf_trainable_save(t, part, err) || gf_path_join(path, sizeof path, part, "optimizer.safetensors", err) ||
        gf_st_write(path, e, 2, err) || gf_path_join(path, sizeof path, part, "trainer_state.json", err) ||
        write_state_json(path, s, err) ||
        (tokenizer && (gf_path_join(path, sizeof path, part, "tokenizer.model", err) || copy_file(tokenizer, path, err))) ||
        fsync_dir(part, err))
        goto fail;
    /* the same step saved again (a resumed run): the new one replaces it */
    char cur[4096];
    ssize_t cl = readlink(latest, cur, sizeof cur - 1);
    cur[cl > 0 ? cl : 0] = 0;
    if (!strcmp(cur, name)) {
        gf_fail(err, "%s: step %" PRId64 " is already the latest checkpoint", out_dir, s->step);
        goto fail;
    }
    remove_tree(final);
    if (rename(part, final) != 0) {
        gf_fail(err, "%s: cannot rename to %s: %s", part, final, strerror(errno));
        goto fail;
    }
    unlink(link_tmp);
    if (symlink(name, link_tmp) != 0 || rename(link_tmp, latest) != 0) {
        gf_fail(err, "%s: cannot point to %s: %s", latest, name, strerror(errno));
        unlink(link_tmp);
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
            if (!stale || !strcmp(de->d_name, name)) continue;
            char old[4096];
            if (snprintf(old, sizeof old, "%s/%s", out_dir, de->d_name) < (int)sizeof old) remove_tree(old);
        }
        closedir(d);
    }
    return 0;
fail:
    remove_tree(part);
    return -1;
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

int gf_checkpoint_load(const char *dir, gf_trainable **t_out, gf_adamw **o_out, gf_train_state *s,
                       gf_error *err) {
    char step_dir[4096], path[4096];
    struct stat st;
    *t_out = NULL;
    *o_out = NULL;
    /* OUT (follow OUT/latest) or a checkpoint folder itself */
    if (gf_path_join(path, sizeof path, dir, "trainer_state.json", err)) return -1;
    if (stat(path, &st) == 0) snprintf(step_dir, sizeof step_dir, "%s", dir);
    else if (gf_path_join(step_dir, sizeof step_dir, dir, "latest", err)) return -1;
    gf_model *m = NULL;
    gf_trainable *t = NULL;
    gf_adamw *o = NULL;
    gf_st_file f = {0};
    int opened = 0;
    if (gf_path_join(path, sizeof path, step_dir, "trainer_state.json", err)) goto fail;
    if (stat(path, &st) != 0) {
        gf_fail(err, "%s: no checkpoint here (no trainer_state.json, no latest)", dir);
        goto fail;
    }
    if (read_state_json(path, s, err)) goto fail;
    if (!(m = gf_model_load(step_dir, err)) || !(t = gf_trainable_from_model(m, err)) || !(o = gf_adamw_new(t, err)))
        goto fail;
    gf_model_free(m);
    m = NULL;
    if (gf_path_join(path, sizeof path, step_dir, "optimizer.safetensors", err) || gf_st_open(path, &f, err)) goto fail;
    opened = 1;
    size_t n = t->n_params;
    float *mv = gf_adamw_moments(o);
    const char *names[2] = {"adam_m", "adam_v"};
    for (int k = 0; k < 2; k++) {
        const gf_st_tensor *x = gf_st_find(&f, names[k]);
        if (!x || x->dtype != GF_DT_F32 || x->ndim != 1 || x->numel != n) {
            gf_fail(err, "%s: '%s' must be F32 [%zu] (the model's parameter count)", path, names[k], n);
            goto fail;
        }
        memcpy(mv + (size_t)k * n, x->data, n * sizeof *mv);
        /* as a save never writes them: a NaN or infinity, or a negative
         * second moment (a mean of squares, under a square root), would
         * make the first update after the resume NaN */
        const float *a = mv + (size_t)k * n;
        size_t bad = gf_first_nonfinite(a, GF_DT_F32, n);
        for (size_t i = 0; k == 1 && bad == n && i < n; i++)
            if (a[i] < 0) bad = i;
        if (bad < n) {
            gf_fail(err, "%s: '%s' holds %g at element %zu (moments are finite, and adam_v is not negative)", path,
                    names[k], a[bad], bad);
            goto fail;
        }
    }
    gf_st_close(&f);
    gf_adamw_set_step_count(o, s->step);
    *t_out = t;
    *o_out = o;
    return 0;
fail:
    if (opened) gf_st_close(&f);
    gf_model_free(m);
    gf_trainable_free(t);
    gf_adamw_free(o);
    return -1;
}
