/* griffin train: AdamW on next-token loss over random windows of a token
 * file (or, with a loss mask, rows of whole examples where only the answers
 * count), with a progress line per step, a CSV log, held-out evaluation and
 * crash-safe checkpoints that resume bit for bit. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "dist/dist.h"

static const char *USAGE =
    "usage: griffin train (--config CONFIG.json | --model DIR | --resume OUT) --data TRAIN.npy\n"
    "                     --out OUT [options]\n"
    "  --config C      train a new model of this config (initialised as `griffin init` does)\n"
    "  --model DIR     fine-tune an existing model directory\n"
    "  --resume OUT    continue the run whose checkpoints are in OUT (OUT/latest); its\n"
    "                  hyper-parameters are kept, so the losses match an unbroken run's\n"
    "                  (and its --save-every / --eval-every / --eval-windows unless given);\n"
    "                  with --steps N it runs to step N instead (N above the steps done: a\n"
    "                  finished run is extended), the cosine stretched to end at N\n"
    "  --data F        training tokens (1-D .npy of uint16/int32; `griffin prepare` makes it)\n"
    "  --mask M        a loss mask for --data (uint8, one value per token; `griffin task`\n"
    "                  writes one): rows are whole examples from their BOS, packed while\n"
    "                  they fit --seq + 1 tokens, and only tokens marked 1 are targets\n"
    "                  (a --resume of a masked run needs it again)\n"
    "  --val F         held-out tokens for --eval-every\n"
    "  --val-mask M    the mask of --val (needed with --mask): the held-out loss, token\n"
    "                  accuracy and exact match of the answers\n"
    "  --tokenizer F   a tokenizer.model to put in every checkpoint (default: the resumed\n"
    "                  run's, or --model DIR's), so checkpoints serve generate and chat;\n"
    "                  with --config its BOS / EOS ids go into the model's config.json\n"
    "                  (a config that sets other ones is refused)\n"
    "  --out OUT       checkpoints go to OUT/step-N, OUT/latest links to the newest\n"
    "                  (with --resume: default the resumed folder);\n"
    "                  OUT/log.csv gets a line per step\n"
    "  --steps N       optimiser updates in all (default 1000)\n"
    "  --batch B       rows per micro-batch (default 8); under mpirun -np N, per rank:\n"
    "                  the batch is N x B rows, the one a single process of --batch N x B\n"
    "                  draws, each rank taking its B rows of it\n"
    "  --seq T         tokens per row (default 256)\n"
    "  --accum A       micro-batches per update (default 1)\n"
    "  --lr LR         peak learning rate (default 1e-3)\n"
    "  --min-lr R      the cosine ends at LR x R (default 0.1)\n"
    "  --warmup N      linear warm-up steps (default 100, at most --steps)\n"
    "  --wd W          decoupled weight decay (default 0.1; not on norms, biases, a_param)\n"
    "  --clip C        global gradient-norm bound (default 1.0; 0 = none)\n"
    "  --beta2 B2      AdamW beta2 (default 0.95; beta1 is 0.9)\n"
    "  --eval-every N  held-out loss every N steps and at the end (default 100)\n"
    "  --eval-windows N  windows of --val to evaluate (default 64)\n"
    "  --save-every N  checkpoint every N steps and at the end (default 500)\n"
    "  --seed S        initialisation and batch order (default 1)\n"
    "  --threads N     threads for the matrix products and the layers (default: all cores;\n"
    "                  under mpirun, the cores shared among the ranks of each machine)\n"
    "  --rank-timeout S  under mpirun: stop when another rank has not answered for S s\n"
    "                  (default 600; a rank that dies stops the run at once)\n"
    "data parallel: mpirun -np N griffin train ... (docs/distributed.md): the same losses\n"
    "and model as one process with --batch N x B; one checkpoint with the optimizer state\n"
    "in N shards; --resume on any number of ranks\n";

typedef struct {
    const char *config, *model, *resume, *data, *val, *out, *tokenizer, *mask, *val_mask;
    long steps, batch, seq, accum, warmup, eval_every, eval_windows, save_every, threads;
    double lr, min_lr, wd, clip, beta2, rank_timeout;
    uint64_t seed;
    int given_hparams; /* a hyper-parameter was set on the command line */
    int given_save, given_eval, given_windows, given_steps;
} opts;

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.steps = 1000, .batch = 8, .seq = 256, .accum = 1, .warmup = 100, .eval_every = 100,
                .eval_windows = 64, .save_every = 500, .lr = 1e-3, .min_lr = 0.1, .wd = 0.1, .clip = 1.0,
                .beta2 = 0.95, .seed = 1, .rank_timeout = 600};
    static const char *const names[] = {"--config", "--model", "-m", "--resume", "--data", "--val", "--out", "-o",
                                        "--mask", "--val-mask", "--steps", "--batch", "-b", "--seq", "--accum", "--lr", "--min-lr",
                                        "--warmup", "--wd", "--clip", "--beta2", "--eval-every",
                                        "--eval-windows", "--save-every", "--seed", "--threads", "-t", "--tokenizer",
                                        "--rank-timeout", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 2;
        }
        if (!(v = cli_value(argc, argv, &i, "train", names))) return 1;
        int hp = 1;
        if (!strcmp(a, "--config")) o->config = v, hp = 0;
        else if (!strcmp(a, "--model") || !strcmp(a, "-m")) o->model = v, hp = 0;
        else if (!strcmp(a, "--resume")) o->resume = v, hp = 0;
        else if (!strcmp(a, "--data")) o->data = v, hp = 0;
        else if (!strcmp(a, "--val")) o->val = v, hp = 0;
        else if (!strcmp(a, "--mask")) o->mask = v, hp = 0;
        else if (!strcmp(a, "--val-mask")) o->val_mask = v, hp = 0;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) o->out = v, hp = 0;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v, hp = 0;
        else if (!strcmp(a, "--steps")) { if (cli_int(a, v, 1, 1L << 40, &o->steps)) return 1; hp = 0, o->given_steps = 1; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { if (cli_int(a, v, 1, 1 << 16, &o->batch)) return 1; }
        else if (!strcmp(a, "--seq")) { if (cli_int(a, v, 1, 1 << 20, &o->seq)) return 1; }
        else if (!strcmp(a, "--accum")) { if (cli_int(a, v, 1, 1 << 16, &o->accum)) return 1; }
        else if (!strcmp(a, "--lr")) { if (cli_float(a, v, 0, 10, &o->lr)) return 1; }
        else if (!strcmp(a, "--min-lr")) { if (cli_float(a, v, 0, 1, &o->min_lr)) return 1; }
        else if (!strcmp(a, "--warmup")) { if (cli_int(a, v, 0, 1L << 40, &o->warmup)) return 1; }
        else if (!strcmp(a, "--wd")) { if (cli_float(a, v, 0, 100, &o->wd)) return 1; }
        else if (!strcmp(a, "--clip")) { if (cli_float(a, v, 0, 1e9, &o->clip)) return 1; }
        else if (!strcmp(a, "--beta2")) { if (cli_float(a, v, 0, 0.999999, &o->beta2)) return 1; }
        else if (!strcmp(a, "--eval-every")) { if (cli_int(a, v, 0, 1L << 40, &o->eval_every)) return 1; hp = 0, o->given_eval = 1; }
        else if (!strcmp(a, "--eval-windows")) { if (cli_int(a, v, 1, 1L << 30, &o->eval_windows)) return 1; hp = 0, o->given_windows = 1; }
        else if (!strcmp(a, "--save-every")) { if (cli_int(a, v, 0, 1L << 40, &o->save_every)) return 1; hp = 0, o->given_save = 1; }
        else if (!strcmp(a, "--seed")) { if (cli_u64(a, v, &o->seed)) return 1; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (cli_int(a, v, 0, 1024, &o->threads)) return 1; hp = 0; }
        else if (!strcmp(a, "--rank-timeout")) { if (cli_float(a, v, 1, 1e6, &o->rank_timeout)) return 1; hp = 0; }
        o->given_hparams |= hp;
    }
    if (!o->out && o->resume) o->out = o->resume;
    int sources = (o->config != NULL) + (o->model != NULL) + (o->resume != NULL);
    if (sources != 1) return cli_error("train needs exactly one of --config, --model, --resume (see griffin train --help)");
    /* name what is missing: with --resume, --out is optional */
    if (!o->data && !o->out) return cli_error("train needs --data and --out (see griffin train --help)");
    if (!o->data)
        return cli_error("train needs --data TRAIN.npy%s (see griffin train --help)",
                         o->resume ? ", the training tokens, again to resume" : "");
    if (!o->out) return cli_error("train needs --out DIR for the checkpoints (see griffin train --help)");
    if (o->resume && o->given_hparams)
        return cli_error("train: --resume keeps the run's hyper-parameters; drop --lr, --batch ... (they are in %s/latest/trainer_state.json; --steps may change)", o->resume);
    /* a masked run's log has accuracy columns, so its held-out data is masked too */
    if (o->val_mask && !o->val) return cli_error("train: --val-mask goes with --val");
    if (o->val_mask && !o->mask) return cli_error("train: --val-mask goes with --mask (the training data's mask)");
    if (o->mask && o->val && !o->val_mask)
        return cli_error("train: with --mask, --val needs its own --val-mask (the held-out answers)");
    if (!o->resume && o->warmup > o->steps) o->warmup = o->steps;
    return 0;
}

/* Whether the config file gives key a value itself (gf_config_load fills
 * in defaults, which a tokenizer may override). */
static int config_sets(const char *path, const char *key) {
    gf_error err;
    size_t len;
    char *text = gf_read_text_file(path, 1 << 20, &len, &err);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *j = root ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
    int set = j && !cJSON_IsNull(j);
    cJSON_Delete(root);
    free(text);
    return set;
}

/* The special ids of --tokenizer go into the new model's config (so its
 * config.json, which generate and chat trust, agrees with the tokenizer that
 * made the data): where the config leaves an id to the default it takes the
 * tokenizer's, and where it sets another one the run is refused. A
 * tokenizer without BOS or EOS leaves the config's. (pad_token_id is left
 * as it is: neither training nor generation reads it.) */
static int ids_from_tokenizer(const opts *o, gf_config *cfg, gf_error *err) {
    gf_tokenizer *tk = gf_tokenizer_load(o->tokenizer, err);
    if (!tk) return -1;
    int rc = 0, n = gf_tokenizer_vocab_size(tk);
    if (n > cfg->vocab_size) {
        rc = gf_fail(err, "%s: %d pieces, more than the vocab_size %d of %s", o->tokenizer, n, cfg->vocab_size,
                     o->config);
        goto out;
    }
    const struct {
        const char *key;
        int tok;
        int *id;
    } ids[2] = {{"bos_token_id", gf_tokenizer_bos_id(tk), &cfg->bos_id},
                {"eos_token_id", gf_tokenizer_eos_id(tk), &cfg->eos_id}};
    for (int i = 0; i < 2; i++) {
        if (ids[i].tok < 0 || ids[i].tok == *ids[i].id) continue;
        if (config_sets(o->config, ids[i].key)) {
            rc = gf_fail(err, "%s: %s is %d, but the tokenizer %s has %d; make them agree (or leave it out of the config)",
                         o->config, ids[i].key, *ids[i].id, o->tokenizer, ids[i].tok);
            goto out;
        }
        *ids[i].id = ids[i].tok;
    }
    rc = gf_config_validate(cfg, o->config, err);
out:
    gf_tokenizer_free(tk);
    return rc;
}

/* A new model of the config, initialised as `griffin init` does. */
static gf_trainable *new_model(const opts *o, gf_error *err) {
    gf_config cfg;
    if (gf_config_load(o->config, &cfg, err)) return NULL;
    if (o->tokenizer && ids_from_tokenizer(o, &cfg, err)) return NULL;
    return gf_trainable_new(&cfg, o->seed, err);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* Data parallel: the threads of each rank. Unbound ranks on one machine
 * (mpirun --bind-to none, or oversubscribed) share its cores; ranks
 * mpirun bound to cores of their own (its default for a few ranks) see only
 * those in their affinity mask already. */
static void dp_threads(const opts *o, const gf_dist *d) {
    long n = o->threads;
    int local = gf_dist_local_size(d);
    if (n == 0 && !getenv("OMP_NUM_THREADS") && local > 1 && cli_cores() >= (int)sysconf(_SC_NPROCESSORS_ONLN)) {
        n = cli_cores() / local;
        if (n < 1) n = 1;
    }
    cli_set_threads(n);
}

/* Data parallel: what every rank must share, checked before the first step
 * (a rank with other flags, another config or other data would silently
 * train another model). Returns 0; -1 after a verdict every rank shares
 * (rank 0 says it; a file a rank cannot read, that rank says why); -2
 * after an error of this rank's own exchange (said here). */
static int dp_agree(gf_dist *d, int argc, char **argv, const opts *o, gf_trainable *t, const gf_train_state *st,
                    const char *prefix) {
    gf_error err;
    int me = gf_dist_rank(d), rc = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 1; i < argc; i++) h = gf_hash_bytes(h, argv[i], strlen(argv[i]) + 1);
    if ((rc = gf_dist_agree(d, "the command line (every rank must be given the same flags)", h, &err))) goto said;
    h = gf_hash_bytes(0, gf_trainable_params(t), gf_trainable_num_params(t) * sizeof(float));
    if ((rc = gf_dist_agree(d, "the model's weights (config, --model or --resume checkpoint)", h, &err))) goto said;
    /* field by field: a struct's padding holds no defined bytes */
    const gf_adamw_config *c = &st->opt;
    double sv[19] = {(double)st->step, (double)st->tokens, (double)st->rng[0], (double)st->rng[1],
                     (double)st->rng[2], (double)st->rng[3], (double)st->seed, st->batch, st->seq, st->accum,
                     c->lr, c->min_lr_ratio, (double)c->warmup, (double)c->total_steps, c->beta1, c->beta2, c->eps,
                     c->weight_decay, c->clip};
    h = gf_hash_bytes(0, sv, sizeof sv);
    h = gf_hash_bytes(h, st->rng, sizeof st->rng);
    if ((rc = gf_dist_agree(d, "the trainer state (step, batch order, hyper-parameters)", h, &err))) goto said;
    const struct {
        const char *path, *what;
    } files[] = {{o->data, "the training data (--data)"}, {o->mask, "the loss mask (--mask)"},
                 {o->val, "the held-out data (--val)"}, {o->val_mask, "the held-out mask (--val-mask)"},
                 {o->tokenizer, "the tokenizer"}};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (!files[i].path) continue;
        int ok = gf_hash_file(files[i].path, &h, &err) == 0;
        /* a file one rank cannot read: that rank says why */
        if (!ok) cli_error("%s", err.msg);
        int bad = gf_dist_first_failed(d, ok, &err);
        if (bad == -2) {
            rc = -2;
            goto said;
        }
        if (bad >= 0) return -1;
        if ((rc = gf_dist_agree(d, files[i].what, h, &err))) goto said;
    }
    return 0;
said:
    /* a verdict of all the ranks is not rank 0's own: no prefix */
    if (rc == -1 && me == 0) cli_error_style(0, NULL);
    if (rc == -2 || me == 0) cli_error("%s", err.msg);
    cli_error_style(0, prefix);
    return rc;
}

/* Data parallel: one checkpoint from every rank's part (rank 0: the model,
 * state and manifest, every rank: its optimizer shard), committed by rank 0
 * only once every part is written. Returns 0; -1 after the failing ranks
 * have reported (every rank returns -1 alike); -2 when this rank's
 * exchange failed (said here). */
static int dp_save(gf_dist *d, const opts *o, gf_trainable *t, gf_adamw *opt, const gf_train_state *st) {
    gf_error err;
    int me = gf_dist_rank(d), R = gf_dist_size(d), bad;
    int ok = me != 0 || gf_checkpoint_begin(o->out, st->step, &err) == 0;
    if (!ok) cli_error("checkpoint: %s", err.msg);
    if ((bad = gf_dist_first_failed(d, ok, &err)) != -1) goto failed;
    ok = (me != 0 || gf_checkpoint_write_model(o->out, t, st, o->tokenizer, R, &err) == 0) &&
         gf_checkpoint_write_optimizer(o->out, st->step, opt, me, R, &err) == 0;
    if (!ok) cli_error("checkpoint: %s", err.msg);
    if ((bad = gf_dist_first_failed(d, ok, &err)) != -1) goto failed;
    ok = me != 0 || gf_checkpoint_commit(o->out, st->step, &err) == 0;
    if (!ok) cli_error("checkpoint: %s", err.msg);
    if ((bad = gf_dist_first_failed(d, ok, &err)) != -1) goto failed;
    return 0;
failed:
    if (bad == -2) cli_error("checkpoint: %s", err.msg);
    if (me == 0) gf_checkpoint_abandon(o->out, st->step);
    return bad == -2 ? -2 : -1;
}

int cmd_train(int argc, char **argv) {
    opts o;
    /* under mpirun every rank parses the same flags: rank 0 alone reports */
    const char *env_rank = getenv("OMPI_COMM_WORLD_RANK");
    int launched = gf_dist_launched();
    if (launched && env_rank && atoi(env_rank) > 0) cli_error_style(1, NULL);
    int pr = parse(argc, argv, &o);
    if (pr) return pr == 2 ? 0 : 1;
    gf_error err;
    gf_dist *dist = NULL;
    char hint[4300];
    if (launched) {
        cli_error_style(0, NULL);
        if (!(dist = gf_dist_start(&argc, &argv, o.rank_timeout, &err))) return cli_error("%s", err.msg);
        /* from now on a rank that dies is named, while loading too */
        snprintf(hint, sizeof hint, "resume from the last checkpoint with --resume %s", o.out);
        gf_dist_watch(dist, hint);
    }
    int R = gf_dist_size(dist), me = gf_dist_rank(dist);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rank %d of %d: ", me, R);
    if (dist) cli_error_style(0, prefix);
    dp_threads(&o, dist);
    gf_trainable *t = NULL;
    gf_adamw *opt = NULL;
    gf_token_data *train = NULL, *val = NULL;
    gf_dp *dp = NULL;
    int32_t *batch = NULL;
    FILE *csv = NULL;
    /* started: past the ranks' start-up exchange; together: every rank
     * stops at the same point (so MPI can end in order, not by abort) */
    int rc = 1, started = 0, together = 0;
    char csv_path[4200];
    gf_train_state st = {0};
    size_t shard_lo = 0, shard_hi = 0;
    if (o.resume) {
        if (gf_checkpoint_load_shard(o.resume, me, R, &t, &opt, &st, &err)) { cli_error("%s", err.msg); goto out; }
    } else {
        if (gf_mkdir_p(o.out, &err)) { cli_error("%s", err.msg); goto out; }
        if (o.model) {
            gf_model *m = gf_model_load(o.model, &err);
            t = m ? gf_trainable_from_model(m, &err) : NULL;
            gf_model_free(m);
        } else {
            t = new_model(&o, &err);
        }
        if (t) gf_shard_range(gf_trainable_num_params(t), me, R, &shard_lo, &shard_hi);
        if (!t || !(opt = gf_adamw_new_range(t, shard_lo, shard_hi, &err))) { cli_error("%s", err.msg); goto out; }
        st.seed = o.seed;
        /* the run's batch is the whole one, N x --batch rows under mpirun
         * (within what a checkpoint's trainer state may hold, 2^20) */
        if ((size_t)o.batch * (size_t)R > ((size_t)1 << 20)) {
            cli_error("train: a batch of %d x %ld rows is more than 2^20", R, o.batch);
            goto out;
        }
        st.batch = (int)(o.batch * R);
        st.seq = (int)o.seq;
        st.accum = (int)o.accum;
        st.masked = o.mask != NULL;
        st.opt = (gf_adamw_config){(float)o.lr, (float)o.min_lr, o.warmup, o.steps, 0.9f, (float)o.beta2,
                                   1e-8f, (float)o.wd, (float)o.clip};
        /* the batch order has its own stream, apart from the initialisation's */
        gf_rng_seed(st.rng, o.seed ^ 0x9E3779B97F4A7C15ull);
    }
    if (st.batch % R != 0) {
        cli_error("%s: the run's batch of %d rows does not split over %d ranks; resume it on a number of ranks that divides %d",
                  o.resume, st.batch, R, st.batch);
        goto out;
    }
    /* the tokenizer travels with the checkpoints */
    char tok_from[4200];
    if (!o.tokenizer && (o.resume || o.model)) {
        snprintf(tok_from, sizeof tok_from, o.resume ? "%s/latest/tokenizer.model" : "%s/tokenizer.model",
                 o.resume ? o.resume : o.model);
        if (access(tok_from, R_OK) == 0) o.tokenizer = tok_from;
    }
    /* cadence: what was given now, else what the run had */
    if (!o.resume || o.given_save) st.save_every = o.save_every;
    if (!o.resume || o.given_eval) st.eval_every = o.eval_every;
    if (!o.resume || o.given_windows) st.eval_windows = o.eval_windows;
    if (o.resume && st.masked != (o.mask != NULL)) {
        cli_error(st.masked ? "%s: this run trained on a loss mask; give --mask again to resume it"
                            : "%s: this run trained without a loss mask; drop --mask to resume it", o.resume);
        goto out;
    }
    /* --steps N on a resume: the run's length becomes N, so the cosine
     * (whose length is total_steps - warmup) is stretched to end at the new
     * N; the steps done keep their learning rates, and the next ones follow
     * the new curve. The warm-up stays as it was. */
    if (o.resume && o.given_steps) {
        if (o.steps <= st.step) {
            cli_error("train: --steps %ld: %s has done %" PRId64 " steps already; give more to extend it", o.steps,
                      o.resume, st.step);
            goto out;
        }
        st.opt.total_steps = o.steps;
    } else if (o.resume && st.step >= st.opt.total_steps) {
        cli_error("train: %s finished at step %" PRId64 " of %" PRId64 "; give --steps N (more than %" PRId64
                  ") to extend it",
                  o.resume, st.step, st.opt.total_steps, st.step);
        goto out;
    }
    const gf_model *m = gf_trainable_model(t);
    const gf_config *cfg = gf_model_config(m);
    /* B: this process's rows of the batch of Bg */
    size_t Bg = (size_t)st.batch, B = Bg / (size_t)R, T = (size_t)st.seq;
    /* every token is checked before any step runs */
    if (!(train = gf_token_data_open(o.data, cfg->vocab_size, cfg->bos_id, &err)) ||
        (o.mask && gf_token_data_set_mask(train, o.mask, &err)) ||
        (o.val && !(val = gf_token_data_open(o.val, cfg->vocab_size, cfg->bos_id, &err))) ||
        (o.val_mask && gf_token_data_set_mask(val, o.val_mask, &err))) {
        cli_error("%s", err.msg);
        goto out;
    }
    /* with masks, rows are whole examples: each must fit one */
    const char *long_file = NULL;
    size_t longest = 0;
    if (o.mask && (longest = gf_token_data_longest_doc(train)) > T + 1) long_file = o.data;
    else if (o.val_mask && (longest = gf_token_data_longest_doc(val)) > T + 1) long_file = o.val;
    if (long_file) {
        cli_error("%s: an example of %zu tokens does not fit a window of --seq + 1 = %zu; use --seq %zu or more",
                  long_file, longest, T + 1, longest - 1);
        goto out;
    }
    if (!o.mask && gf_token_data_len(train) < T + 1) {
        cli_error("%s: %zu tokens, fewer than one window of --seq + 1 = %zu", o.data, gf_token_data_len(train), T + 1);
        goto out;
    }
    if (val && !o.val_mask && gf_token_data_len(val) < T + 1) {
        cli_error("%s: %zu tokens, fewer than one window of --seq + 1 = %zu", o.val, gf_token_data_len(val), T + 1);
        goto out;
    }
    batch = malloc(3 * B * T * sizeof *batch);
    if (!batch) { cli_error("out of memory"); goto out; }
    /* GRIFFIN_DP_BUCKET (floats) and GRIFFIN_DP_OVERLAP=0: for measuring, and
     * for the tests' runs of many buckets on a small model */
    const char *bucket_env = getenv("GRIFFIN_DP_BUCKET"), *overlap_env = getenv("GRIFFIN_DP_OVERLAP");
    if (dist && !(dp = gf_dp_new(dist, t, bucket_env ? strtoull(bucket_env, NULL, 10) : 0,
                                 overlap_env ? atoi(overlap_env) : 1, &err))) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (dp) gf_dp_shard(dp, &shard_lo, &shard_hi); /* this rank's parameters, resumed runs' too */
    snprintf(csv_path, sizeof csv_path, "%s/log.csv", o.out);
    /* one rank keeps the log */
    int csv_new = access(csv_path, F_OK) != 0 || st.step == 0;
    if (me == 0 && !(csv = fopen(csv_path, csv_new ? "w" : "a"))) {
        cli_error("%s: cannot write: %s", csv_path, strerror(errno));
        goto out;
    }
    if (dist) {
        /* every rank ready, or every rank stops (the one that failed said why) */
        int bad = gf_dist_first_failed(dist, 1, &err);
        started = 1;
        if (bad != -1) {
            /* -2: this rank's exchange failed, the others may not know */
            if (bad == -2) cli_error("%s", err.msg);
            else together = 1;
            goto out;
        }
        int ag = dp_agree(dist, argc, argv, &o, t, &st, prefix);
        if (ag) {
            together = ag == -1;
            goto out;
        }
    }
    if (csv && csv_new)
        fprintf(csv, "step,loss,lr,grad_norm,tokens,tokens_per_s,elapsed_s,val_loss%s\n",
                st.masked ? ",val_token_acc,val_exact_acc" : "");
    if (me == 0) {
        fprintf(stderr, "griffin: training %zu parameters (%d layers, width %d, vocab %d) on %zu tokens; "
                "%d x %d tokens x %d per step, steps %" PRId64 "..%" PRId64 "\n",
                gf_trainable_num_params(t), cfg->num_layers, cfg->width, cfg->vocab_size, gf_token_data_len(train),
                st.batch, st.seq, st.accum, st.step + 1, st.opt.total_steps);
        if (dist)
            fprintf(stderr, "griffin: data parallel over %d ranks, %zu rows each; optimizer state %.1f MiB per rank "
                    "(1/%d of %.1f MiB)\n", R, B, 8.0 * (double)gf_adamw_num_params(opt) / 1048576.0, R,
                    8.0 * (double)gf_trainable_num_params(t) / 1048576.0);
    }
    if (o.mask && me == 0)
        fprintf(stderr, "griffin: loss on the %zu answer tokens of %zu examples (%s); rows are whole examples\n",
                gf_token_data_num_answers(train), gf_token_data_num_docs(train), o.mask);
    int32_t *in = batch, *tg = batch + B * T, *pos = tg + B * T;
    double t0 = cli_now(), loss_ema = -1;
    int64_t first = st.step;
    /* what is summed over the ranks, in one exchange a step: per micro-batch
     * this rank's summed loss, then the shard's sum of squares; after them
     * each micro-batch's count of targets (the whole batch's: the same on
     * every rank, so it does not travel) */
    double *parts = calloc(2 * (size_t)st.accum + 1, sizeof *parts);
    if (!parts) { cli_error("out of memory"); goto out; }
    while (st.step < st.opt.total_steps) {
        gf_trainable_zero_grads(t);
        double loss = 0, norm;
        float lr = gf_lr_at(&st.opt, st.step);
        if (!dist) {
            for (int a = 0; a < st.accum; a++) {
                double l;
                if (gf_token_data_sample(train, st.rng, B, T, in, tg, pos, &err) ||
                    gf_train_loss_grad(t, (int)B, (int)T, in, tg, pos, 1.0f / (float)st.accum, &l, &err)) {
                    cli_error("step %" PRId64 ": %s", st.step + 1, err.msg);
                    goto out_parts;
                }
                loss += l / st.accum;
            }
            norm = gf_adamw_update(opt, t, &st.opt, lr);
        } else {
            for (int a = 0; a < st.accum; a++) {
                size_t all;
                int last_mb = a == st.accum - 1;
                if (gf_token_data_sample_part(train, st.rng, Bg, (size_t)me * B, B, T, in, tg, pos, &all, &err) ||
                    (last_mb && gf_dp_begin(dp, &err)) ||
                    gf_train_loss_grad_part(t, (int)B, (int)T, in, tg, pos, 1.0f / (float)st.accum, all, &parts[a],
                                            last_mb ? gf_dp_ready : NULL, dp, &err)) {
                    cli_error("step %" PRId64 ": %s", st.step + 1, err.msg);
                    goto out_parts;
                }
                parts[st.accum + 1 + a] = (double)all;
            }
            /* this rank's shard of the summed gradient; then the losses and
             * the shards' squares summed over the ranks, in rank order */
            if (gf_dp_reduce(dp, &err)) {
                cli_error("step %" PRId64 ": %s", st.step + 1, err.msg);
                goto out_parts;
            }
            parts[st.accum] = gf_grad_sumsq(t, shard_lo, shard_hi);
            /* the counts are the same on every rank: only the sums travel */
            if (gf_dist_sum(dist, parts, st.accum + 1, &err)) {
                cli_error("step %" PRId64 ": %s", st.step + 1, err.msg);
                goto out_parts;
            }
            for (int a = 0; a < st.accum; a++) loss += parts[a] / parts[st.accum + 1 + a] / st.accum;
            norm = sqrt(parts[st.accum]);
            gf_adamw_apply(opt, t, &st.opt, lr, norm);
            if (isfinite(norm) && gf_dp_gather_params(dp, &err)) {
                cli_error("step %" PRId64 ": %s", st.step + 1, err.msg);
                goto out_parts;
            }
        }
        st.step++;
        st.tokens += (int64_t)(Bg * T) * st.accum;
        /* stopped, not skipped (docs/training.md): nothing of this step is
         * saved (gf_adamw_apply leaves a non-finite gradient unapplied); every
         * rank sees the same sums, so all stop here, rank 0 saying why */
        if (!isfinite(loss) || !isfinite(norm)) {
            if (me == 0)
                cli_error("step %" PRId64 ": non-finite %s (%g); try a lower --lr (the last checkpoint is intact)",
                          st.step, !isfinite(loss) ? "loss" : "gradient norm", !isfinite(loss) ? loss : norm);
            together = 1;
            goto out_parts;
        }
        double el = cli_now() - t0, tps = (double)((st.step - first) * (int64_t)(Bg * T) * st.accum) / el;
        double eta = el / (double)(st.step - first) * (double)(st.opt.total_steps - st.step);
        loss_ema = loss_ema < 0 ? loss : 0.9 * loss_ema + 0.1 * loss;
        char eta_s[32];
        fmt_eta(eta_s, sizeof eta_s, eta);
        double vloss = NAN, vacc = NAN, vexact = NAN;
        int last = st.step == st.opt.total_steps;
        /* the held-out loss: rank 0's (every rank holds the same weights),
         * B rows a prefill (the same windows whatever the rows: a rank's
         * memory does not grow with the ranks) */
        if (val && st.eval_every > 0 && (st.step % st.eval_every == 0 || last)) {
            int ok = 1;
            if (me == 0) {
                gf_eval_stats es = {0};
                if (gf_eval_data_stats(m, val, (int)B, (int)T, (size_t)st.eval_windows, &es, &err)) {
                    cli_error("evaluation: %s: %s", o.val, err.msg);
                    ok = 0;
                } else {
                    vloss = es.loss;
                    if (o.val_mask) {
                        vacc = (double)es.correct / (double)es.targets;
                        vexact = es.examples ? (double)es.examples_correct / (double)es.examples : 0.0;
                    }
                }
            }
            /* the others wait here, without a deadline, and stop with rank 0 */
            if (dist) {
                int bad = gf_dist_first_failed(dist, ok, &err);
                if (bad == -2) cli_error("%s", err.msg);
                if (bad != -1) {
                    together = bad >= 0;
                    goto out_parts;
                }
            }
            if (!ok) goto out_parts;
        }
        if (me == 0) {
            fprintf(stderr, "step %6" PRId64 "/%" PRId64 " | loss %.4f (avg %.4f) | lr %.2e | grad norm %6.3f | %.0f tok/s | ETA %s",
                    st.step, st.opt.total_steps, loss, loss_ema, lr, norm, tps, eta_s);
            if (!isnan(vloss)) fprintf(stderr, " | val %.4f", vloss);
            if (!isnan(vacc)) fprintf(stderr, " acc %.4f exact %.4f", vacc, vexact);
            fputc('\n', stderr);
            fprintf(csv, "%" PRId64 ",%.6f,%.6e,%.6f,%" PRId64 ",%.1f,%.2f,", st.step, loss, lr, norm, st.tokens, tps, el);
            if (!isnan(vloss)) fprintf(csv, "%.6f", vloss);
            if (st.masked) {
                fputc(',', csv);
                if (!isnan(vacc)) fprintf(csv, "%.6f", vacc);
                fputc(',', csv);
                if (!isnan(vexact)) fprintf(csv, "%.6f", vexact);
            }
            fputc('\n', csv);
            /* a full disk shows here first (the log grows every step) */
            if (fflush(csv) != 0 || ferror(csv)) {
                cli_error("%s: write failed: %s (the last checkpoint is intact)", csv_path, strerror(errno));
                goto out_parts;
            }
        }
        if ((st.save_every > 0 && st.step % st.save_every == 0) || last) {
            if (!dist && gf_checkpoint_save(o.out, t, opt, &st, o.tokenizer, &err)) {
                cli_error("checkpoint: %s", err.msg);
                goto out_parts;
            }
            int sv = dist ? dp_save(dist, &o, t, opt, &st) : 0;
            if (sv) {
                together = sv == -1;
                goto out_parts;
            }
            if (me == 0) fprintf(stderr, "griffin: saved %s/step-%08" PRId64 " (%s/latest)\n", o.out, st.step, o.out);
        }
    }
    rc = 0;
out_parts:
    free(parts);
out:
    if (csv && fclose(csv) != 0 && rc == 0) rc = cli_error("%s: write failed: %s", csv_path, strerror(errno));
    free(batch);
    gf_dp_free(dp);
    gf_token_data_free(train);
    gf_token_data_free(val);
    gf_adamw_free(opt);
    gf_trainable_free(t);
    /* a rank that failed before the start-up exchange still takes part in
     * it, so the others learn of it there rather than wait for it */
    if (dist && !started) {
        gf_dist_first_failed(dist, 0, &err);
        together = 1;
    }
    gf_dist_end(dist, rc == 0 || together);
    return rc;
}
