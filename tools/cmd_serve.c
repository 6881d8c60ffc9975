/* griffin serve: an OpenAI-compatible HTTP server (src/serve/: HTTP on
 * libmicrohttpd, the OpenAI shapes, the scheduler that steps every slot
 * together, the state cache, the metrics). This file reads the options,
 * loads the model, sizes the slots, starts the server, and on SIGTERM or
 * SIGINT stops it: no new connections, queued requests refused (503),
 * running ones given --drain seconds to finish, then cancelled; exit 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "serve/http.h"
#include "serve/metrics.h"
#include "serve/replies.h"
#include "serve/scheduler.h"

static const char *USAGE =
    "usage: griffin serve --model DIR [options]\n"
    "  An OpenAI-compatible HTTP server: POST /v1/completions, /v1/chat/completions\n"
    "  (Gemma turn format; \"stream\": true for server-sent events), GET /v1/models,\n"
    "  /health, /metrics (Prometheus). DIR needs a tokenizer.model. Prints one line\n"
    "  with the address it listens on and the slots it has; SIGTERM / SIGINT stop it.\n"
    "  --host H        address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port P        port; 0 = any free one, printed (default 8080)\n"
    "  --slots N       sequences decoded together (default: as many as a 2 GiB state\n"
    "                  budget holds, at most 16; never more than a quarter of free memory)\n"
    "  --ctx N         most tokens of prompt + reply per request (default 8192)\n"
    "  --queue N       requests that may wait for a slot; more get 503 (default 64)\n"
    "  --chunk N       prompt tokens a joining request is fed per round (default 256)\n"
    "  --cache-mb N    memory for states kept after each request, so a conversation's\n"
    "                  next turn prefills only its new tokens; 0 = off (default 256)\n"
    "  --api-key KEY   require 'Authorization: Bearer KEY' (but for /health)\n"
    "  --max-body B    largest request body in bytes; larger get 413 (default 4194304)\n"
    "  --drain S       seconds running requests may take to finish on SIGTERM (default 5)\n"
    "  --threads N     threads for the matrix products and the layers (default: measured,\n"
    "                  1 to all cores, whichever runs faster now)\n"
    "  --float-inputs  keep the products' inputs in float (see griffin generate --help)\n"
    "  --mmap          keep the weights mapped from the files\n";

#define DEFAULT_BUDGET ((size_t)2 << 30)
#define DEFAULT_MAX_SLOTS 16
#define MAX_SLOTS 4096

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
    snprintf(buf, n, "%.*f %s", i ? 2 : 0, bytes, u[i]);
}

/* MemAvailable from /proc/meminfo, in bytes (0 when unknown). */
static size_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (size_t)kb * 1024;
}

/* What one slot's state is, by architecture, into buf. */
static void describe_state(const gf_config *c, char *buf, size_t n) {
    size_t na = gf_config_num_attention_layers(c), total = gf_state_bytes_per_seq(c);
    size_t attn = na * 2 * (size_t)c->window * (size_t)c->head_dim * sizeof(float);
    char t[32], r[32], a[32];
    human(t, sizeof t, (double)total);
    human(r, sizeof r, (double)(total - attn));
    human(a, sizeof a, (double)attn);
    if (na == 0)
        snprintf(buf, n, "Hawk: %s of recurrent state per slot, fixed whatever the length", t);
    else if (na == (size_t)c->num_layers)
        snprintf(buf, n, "MQA Transformer: a key/value cache of %s per slot, %d positions (the attention window) "
                 "in %zu layer%s", t, c->window, na, na == 1 ? "" : "s");
    else
        snprintf(buf, n, "Griffin: %s per slot, %s of recurrent state + %s of local-attention rings (%d positions "
                 "in %zu layer%s), fixed whatever the length", t, r, a, c->window, na, na == 1 ? "" : "s");
}

static const char *model_name(const char *dir, char *buf, size_t n) {
    snprintf(buf, n, "%s", dir);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread), then stops taking
 * connections and asks the scheduler to drain. */
typedef struct {
    sigset_t sigs;
    serve_http *http;
    serve_sched *sched;
    double drain;
} stopper;

static void *stop_on_signal(void *arg) {
    stopper *sp = arg;
    int sig = 0;
    while (sigwait(&sp->sigs, &sig) != 0) {}
    fprintf(stderr, "griffin serve: %s: stopping (running requests get %g s to finish)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", sp->drain);
    serve_http_quiesce(sp->http);
    serve_sched_stop(sp->sched, sp->drain);
    return NULL;
}

int cmd_serve(int argc, char **argv) {
    const char *model_dir = NULL, *host = "127.0.0.1", *api_key = NULL;
    long port = 8080, slots = 0, ctx = 8192, queue = 64, chunk = 256, cache_mb = 256, threads = 0;
    long max_body = 4L << 20;
    double drain = 5;
    int float_inputs = 0, keep_mapped = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "serve", (const char *const[]){"--model", "-m", "--host", "--port", "--slots", "--ctx", "--queue", "--chunk", "--cache-mb", "--api-key", "--max-body", "--drain", "--threads", "-t", NULL}))) return 1;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--api-key")) api_key = v;
        else if (!strcmp(a, "--port")) { if (cli_int(a, v, 0, 65535, &port)) return 1; }
        else if (!strcmp(a, "--slots")) { if (cli_int(a, v, 1, MAX_SLOTS, &slots)) return 1; }
        else if (!strcmp(a, "--ctx")) { if (cli_int(a, v, 2, CLI_MAX_PROMPT_TOKENS, &ctx)) return 1; }
        else if (!strcmp(a, "--queue")) { if (cli_int(a, v, 0, 1 << 20, &queue)) return 1; }
        else if (!strcmp(a, "--chunk")) { if (cli_int(a, v, 1, 1 << 20, &chunk)) return 1; }
        else if (!strcmp(a, "--cache-mb")) { if (cli_int(a, v, 0, 1L << 24, &cache_mb)) return 1; }
        else if (!strcmp(a, "--max-body")) { if (cli_int(a, v, 1024, 1L << 30, &max_body)) return 1; }
        else if (!strcmp(a, "--drain")) { if (cli_float(a, v, 0, 3600, &drain)) return 1; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (cli_int(a, v, 0, 1024, &threads)) return 1; }
    }
    if (!model_dir) return cli_error("serve needs --model DIR (see griffin serve --help)");
    if (api_key && !*api_key) return cli_error("--api-key: the key is empty");
    cli_set_threads(threads);
    gf_tokenizer *tk = NULL;
    if (cli_model_tokenizer(model_dir, 1, &tk)) return 1;
    gf_error err;
    gf_model *m = gf_model_load(model_dir, &err);
    serve_metrics *metrics = NULL;
    serve_replies *replies = NULL;
    serve_sched *sched = NULL;
    serve_http *http = NULL;
    int rc = 1;
    if (!m) { cli_error("%s", err.msg); goto out; }
    if (float_inputs) gf_model_set_narrow_inputs(m, 0);
    cli_copy_weights(m, keep_mapped);
    const gf_config *cfg = gf_model_config(m);
    if (cli_check_vocab(tk, model_dir, cfg)) goto out;

    /* slots: what a state budget holds (a slot is its state and its logits) */
    size_t per_slot = gf_state_bytes_per_seq(cfg) + (size_t)cfg->vocab_size * sizeof(float);
    size_t avail = mem_available(), budget = DEFAULT_BUDGET;
    if (avail > 0 && avail / 4 < budget) budget = avail / 4;
    char sizing[256], b1[32], b2[32];
    human(b1, sizeof b1, (double)budget);
    human(b2, sizeof b2, (double)per_slot);
    if (slots == 0) {
        size_t fit = budget / per_slot;
        slots = fit < 1 ? 1 : fit > DEFAULT_MAX_SLOTS ? DEFAULT_MAX_SLOTS : (long)fit;
        snprintf(sizing, sizeof sizing, "a %s budget / %s a slot (state + logits) holds %zu%s", b1, b2, fit,
                 fit > DEFAULT_MAX_SLOTS ? ", capped at 16" : fit < 1 ? ", but one is the least" : "");
    } else {
        snprintf(sizing, sizeof sizing, "as --slots asked; %s a slot (state + logits)", b2);
    }

    int end_of_turn = gf_tokenizer_find(tk, "<end_of_turn>");
    int chat_ok = end_of_turn >= 0 && gf_tokenizer_find(tk, "<start_of_turn>") >= 0;
    if (!(metrics = serve_metrics_new((int)slots)) || !(replies = serve_replies_new(1024))) {
        cli_error("out of memory");
        goto out;
    }
    serve_sched_config sc = {m, tk, (int)slots, (int)queue, (int)chunk, threads,
                             (size_t)cache_mb << 20, metrics, replies};
    /* SIGTERM and SIGINT are taken by sigwait below: blocked here, before
     * any thread starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!(sched = serve_sched_start(&sc, &err))) { cli_error("%s", err.msg); goto out; }
    char name_buf[4096];
    const char *name = model_name(model_dir, name_buf, sizeof name_buf);
    serve_http_config hc = {host, (int)port, api_key, (size_t)max_body, (int)ctx, (int)(slots + queue + 64),
                            name, tk, cfg->vocab_size, cfg->bos_id, cfg->eos_id, end_of_turn, chat_ok,
                            sched, metrics, replies};
    char why[512];
    if (!(http = serve_http_start(&hc, why, sizeof why))) { cli_error("serve: %s", why); goto out; }
    char state[512], cache[32];
    describe_state(cfg, state, sizeof state);
    human(cache, sizeof cache, (double)((size_t)cache_mb << 20));
    printf("griffin serve: listening on http://%s%s%s:%d; model %s; %ld slots (%s); %s; ctx %ld, queue %ld, "
           "chunk %ld, state cache %s%s%s\n",
           strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", serve_http_port(http), name, slots,
           sizing, state, ctx, queue, chunk, cache_mb ? cache : "off", api_key ? ", API key required" : "",
           chat_ok ? "" : "; no Gemma turn pieces: /v1/chat/completions refused");
    fflush(stdout);

    /* The scheduler's loop runs here, on the thread that loaded the model
     * (serve_sched_run says why); a second thread waits for the signal. */
    stopper sp = {sigs, http, sched, drain};
    pthread_t stop_thread;
    int e = pthread_create(&stop_thread, NULL, stop_on_signal, &sp);
    if (e) { cli_error("serve: cannot start the signal thread: %s", strerror(e)); goto out; }
    serve_sched_run(sched);
    pthread_join(stop_thread, NULL);
    serve_http_wait_idle(http, 2.0); /* the streams' last events, to clients that still read */
    serve_http_stop(http);
    http = NULL;
    rc = 0;
out:
    serve_http_stop(http);
    serve_sched_free(sched);
    serve_replies_free(replies);
    serve_metrics_free(metrics);
    gf_model_free(m);
    gf_tokenizer_free(tk);
    return rc;
}
