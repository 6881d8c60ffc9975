/* griffin chat's conversation: read a message, feed it, stream the reply,
 * until /quit, end of input or a signal.
 *
 * Turn mode (the default, for instruction-tuned Gemma):
 *
 *   <bos><start_of_turn>user\n{message}<end_of_turn>\n<start_of_turn>model\n
 *   {reply}<end_of_turn>\n<start_of_turn>user\n ...
 *
 * Raw mode (-i, for base models): each message's text is appended to the
 * context as typed (after one BOS) and the model continues it.
 *
 * The decode state is kept between turns: each new turn feeds only its own
 * tokens, so a turn costs the same however long the conversation is (the
 * recurrent state is fixed-size; local attention sees its window). The same
 * fixed size is what /save writes (gf_gen_snapshot_write) and /load reads.
 *
 * Signals only set a flag (sigaction, no SA_RESTART, so a blocked read
 * returns); the loop looks at the flags between decode steps and between
 * the chunks of a long message. Ctrl-C during a reply stops it: its text so
 * far stays the model's turn, and the next turn's leading <end_of_turn>
 * closes it, as it closes a reply that ended by -n. Ctrl-C while a message
 * is being read (prefilled) drops the message: the state goes back to the
 * snapshot taken before it. Every exit path closes the --log-ids file, which
 * is flushed after each line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "chat_repl.h"
#include "cli.h"

/* Messages of more ids than this are fed in chunks of CHUNK (so a Ctrl-C
 * is seen between them), with progress on stderr at a terminal. */
#define CHUNK 512
#define PROGRESS_FROM 2048
/* A second Ctrl-C within this many seconds of one that stopped a reply quits. */
#define QUIT_WINDOW_S 1.0

static volatile sig_atomic_t n_int;    /* SIGINTs so far (the loop remembers how many it has seen) */
static volatile sig_atomic_t got_quit; /* SIGTERM or SIGHUP: its number */

static void on_signal(int sig) {
    if (sig == SIGINT) n_int = n_int + 1; /* the handler does not interrupt itself: SIGINT is blocked in it */
    else got_quit = sig;
}

/* The handler, for SIGINT, SIGTERM and SIGHUP. While input is read, without
 * SA_RESTART, so that a signal ends a read blocked at the prompt; otherwise
 * with it, so that a write of the reply blocked on a full pipe or terminal
 * is not cut short (stdio would take the EINTR for a failed write). */
static void install(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

typedef struct {
    const chat_opts *o;
    const gf_model *m;
    const gf_tokenizer *tk;
    gf_generator *g;   /* batch 1: the conversation's state, sampler and text */
    gf_tok_buf *tb;
    int bos;
    int tty_in, tty_err;
    FILE *log;
    double t_feed, t_gen;
    sig_atomic_t seen_int; /* the SIGINTs the loop has acted on */
    double last_int;   /* when a Ctrl-C last stopped a reply (cli_now) */
    int exit_code;     /* what a signal that ends the chat makes the exit status */
    int cmd_failed;    /* a command failed (the exit status of a script) */
} chat;

/* What a step of the loop says happened (besides -1, an error). */
enum { GO_ON = 0, STOPPED = 1, QUIT = 2, REFUSED = 3 };

/* What the signals since the last look ask for: QUIT (SIGTERM, SIGHUP, or a
 * second Ctrl-C within QUIT_WINDOW_S of the one before), STOPPED (a Ctrl-C)
 * or GO_ON. */
static int poll_signals(chat *c) {
    if (got_quit) {
        c->exit_code = 128 + got_quit;
        return QUIT;
    }
    sig_atomic_t n = n_int;
    if (n == c->seen_int) return GO_ON;
    int twice = n - c->seen_int > 1;
    c->seen_int = n;
    double now = cli_now();
    if (twice || now - c->last_int < QUIT_WINDOW_S) {
        c->exit_code = 130;
        return QUIT;
    }
    c->last_int = now;
    return STOPPED;
}

static void log_ids(chat *c, const int32_t *ids, size_t n) {
    if (!c->log) return;
    for (size_t j = 0; j < n; j++) fprintf(c->log, "%s%d", j ? " " : "", ids[j]);
    fputc('\n', c->log);
    fflush(c->log);
}

/* Feeds ids [n] in chunks, checking the signals after each. Returns GO_ON
 * (fed and logged), STOPPED / QUIT (a signal came: the state is rolled back
 * to before the message, nothing logged) or -1 after an error. */
static int feed_ids(chat *c, const int32_t *ids, size_t n) {
    gf_error err;
    gf_gen_snapshot *before = gf_generator_save(c->g, 0, &err);
    if (!before) return -cli_error("%s", err.msg);
    int progress = n > PROGRESS_FROM && c->tty_err;
    double t0 = cli_now();
    int rc = GO_ON;
    for (size_t at = 0; at < n && rc == GO_ON;) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        if (gf_generator_feed(c->g, ids + at, k, &err)) {
            cli_error("%s", err.msg);
            rc = -1;
            break;
        }
        at += k;
        if (progress) {
            double dt = cli_now() - t0;
            fprintf(stderr, "\rgriffin: reading the message: %zu / %zu tokens (%.0f %%, %.0f tokens/s) ", at, n,
                    100.0 * (double)at / (double)n, dt > 0 ? (double)at / dt : 0.0);
        }
        rc = poll_signals(c);
    }
    if (progress) fputs("\r\033[K", stderr);
    c->t_feed += cli_now() - t0;
    if (rc != GO_ON && gf_generator_restore(c->g, 0, before, &err)) rc = -cli_error("%s", err.msg);
    if (rc == GO_ON) log_ids(c, ids, n);
    if (rc == STOPPED) fputs("griffin: message dropped (Ctrl-C while it was read)\n", stderr);
    gf_gen_snapshot_free(before);
    return rc;
}

/* Feeds text's tokens (after BOS when bos >= 0). Returns GO_ON, STOPPED,
 * QUIT or -1 as feed_ids; REFUSED with the state untouched for a message
 * the tokenizer refuses or one past CLI_MAX_PROMPT_TOKENS. */
static int feed(chat *c, const char *text, int bos) {
    gf_error err;
    const int32_t *ids;
    size_t n;
    if (gf_encode(c->tk, text, strlen(text), c->tb, &ids, &n, &err)) {
        cli_error("message: %s", err.msg);
        return REFUSED;
    }
    if (n + 1 > CLI_MAX_PROMPT_TOKENS) {
        cli_error("message: %zu tokens, more than the %d allowed", n, CLI_MAX_PROMPT_TOKENS);
        return REFUSED;
    }
    int32_t *all = malloc((n + 1) * sizeof *all);
    if (!all) return -cli_error("out of memory");
    size_t k = 0;
    if (bos >= 0) all[k++] = bos;
    memcpy(all + k, ids, n * sizeof *ids);
    int rc = feed_ids(c, all, n + k);
    free(all);
    return rc;
}

/* Samples the reply, streaming its text, until a stop id (<end_of_turn>,
 * EOS), -n tokens or a signal. The stopping id is not fed: the next turn's
 * text starts with <end_of_turn>, which closes the reply either way; the
 * others are, so the state holds the whole reply the next turn follows.
 * Returns GO_ON (ended, or stopped by a Ctrl-C), QUIT or -1. */
static int reply(chat *c) {
    gf_error err;
    double t0 = cli_now();
    int rc = GO_ON, stopped = 0;
    long i = 0;
    for (;;) {
        int sig = poll_signals(c);
        if (sig != GO_ON) {
            /* the held-back text is the reply's last */
            gf_generator_cancel(c->g, 0);
            size_t len;
            const char *text = gf_generator_text(c->g, 0, &len);
            fwrite(text, 1, len, stdout);
            if (sig == QUIT) rc = QUIT;
            else stopped = 1;
            break;
        }
        int32_t next;
        int running = gf_generator_step(c->g, &next, &err);
        if (running < 0) {
            rc = -cli_error("%s", err.msg);
            break;
        }
        if (next >= 0 && c->log) fprintf(c->log, "%s%d", i++ ? " " : "", next);
        size_t len;
        const char *text = gf_generator_text(c->g, 0, &len);
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        if (running == 0) break;
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (c->log) {
        fputc('\n', c->log);
        fflush(c->log);
    }
    c->t_gen += cli_now() - t0;
    if (stopped) fputs("griffin: reply stopped (Ctrl-C again within a second quits)\n", stderr);
    if (ferror(stdout)) return -cli_error("stdout: write failed: %s", strerror(errno));
    return rc;
}

/* One line without its newline (malloc'ed), or NULL at end of input or
 * when a signal interrupted the read. At a terminal through libedit (line
 * editing, history), the prompt on stderr so that stdout holds only
 * replies; otherwise getline. */
static char *read_line(chat *c, int more) {
    install(0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = 0;
    if (c->tty_in) line = readline(more ? "... " : "> ");
    else got = getline(&line, &cap, stdin);
    install(1);
    if (c->tty_in) return line;
    if (got < 0) {
        free(line);
        return NULL;
    }
    if (got > 0 && line[got - 1] == '\n') line[got - 1] = 0;
    return line;
}

/* One message: lines joined while they end in a backslash. NULL at end of
 * input or on a signal (n_int / got_quit say which). */
static char *read_message(chat *c) {
    char *msg = NULL;
    size_t msg_len = 0;
    for (;;) {
        char *line = read_line(c, msg != NULL);
        if (!line) {
            if (n_int != c->seen_int || got_quit) {
                free(msg);
                return NULL;
            }
            break; /* end of input: a message begun is still sent */
        }
        size_t got = strlen(line);
        int more = got > 0 && line[got - 1] == '\\';
        if (more) line[got - 1] = '\n';
        char *g = realloc(msg, msg_len + got + 1);
        if (!g) {
            free(line);
            break;
        }
        msg = g;
        memcpy(msg + msg_len, line, got);
        msg_len += got;
        msg[msg_len] = 0;
        free(line);
        if (!more) break;
    }
    if (msg && c->tty_in && *msg) add_history(msg);
    return msg;
}

static const char *HELP =
    "  /help        this list\n"
    "  /reset       forget the conversation (the next message starts a new one)\n"
    "  /save FILE   write the conversation's state to FILE (its size is fixed, however long the conversation)\n"
    "  /load FILE   continue the conversation FILE holds (saved with this model) instead of this one\n"
    "  /quit        end the chat (so do end of input and Ctrl-C at the prompt)\n"
    "  //text       send a message that starts with '/'\n"
    "  Ctrl-C during a reply stops it; twice within a second quits.\n";

static int command_error(chat *c, const char *fmt, const char *arg) {
    cli_error(fmt, arg);
    c->cmd_failed = 1;
    return GO_ON;
}

/* A line starting with '/'. Returns GO_ON, QUIT or -1. */
static int command(chat *c, char *line) {
    char *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = 0;
    arg += strspn(arg, " \t");
    size_t n = strlen(arg);
    while (n > 0 && (arg[n - 1] == ' ' || arg[n - 1] == '\t')) arg[--n] = 0;
    int takes_file = !strcmp(line, "/save") || !strcmp(line, "/load");
    int known = takes_file || !strcmp(line, "/help") || !strcmp(line, "/reset") || !strcmp(line, "/quit");
    if (!known)
        return command_error(c, "unknown command '%s' (/help lists them; start a message with // to send one "
                                "that begins with /)", line);
    if (takes_file && !*arg) return command_error(c, "%s needs a file name after it", line);
    if (!takes_file && *arg) return command_error(c, "%s takes no argument", line);
    gf_error err;
    if (!strcmp(line, "/quit")) return QUIT;
    if (!strcmp(line, "/help")) {
        fputs(HELP, stderr);
        return GO_ON;
    }
    if (!strcmp(line, "/reset")) {
        gf_generator_reset(c->g); /* the sampler carries on */
        fputs("griffin: conversation reset; the next message starts a new one\n", stderr);
        return GO_ON;
    }
    if (!strcmp(line, "/save")) {
        gf_gen_snapshot *s = gf_generator_save(c->g, 0, &err);
        if (!s || gf_gen_snapshot_write(s, arg, &err)) {
            gf_gen_snapshot_free(s);
            return command_error(c, "/save: %s", err.msg);
        }
        fprintf(stderr, "griffin: saved the conversation (%zu tokens) to %s\n", gf_gen_snapshot_context(s), arg);
        gf_gen_snapshot_free(s);
        return GO_ON;
    }
    /* /load: read and checked whole before the conversation is touched */
    gf_gen_snapshot *s = gf_gen_snapshot_read(c->m, arg, &err);
    if (!s || gf_generator_restore(c->g, 0, s, &err)) {
        gf_gen_snapshot_free(s);
        return command_error(c, "/load: %s (the conversation is as it was)", err.msg);
    }
    fprintf(stderr, "griffin: loaded the conversation (%zu tokens) from %s\n", gf_gen_snapshot_context(s), arg);
    gf_gen_snapshot_free(s);
    return GO_ON;
}

/* One message: its turn fed, the reply streamed. Returns GO_ON, QUIT, -1,
 * or REFUSED for a message refused before anything was fed. */
static int turn(chat *c, const char *msg) {
    int fresh = gf_generator_context(c->g, 0) == 0;
    int bos = fresh ? c->bos : -1;
    int r;
    if (c->o->raw) {
        r = feed(c, msg, bos);
    } else {
        const char *sys = fresh && c->o->system ? c->o->system : "";
        size_t need = strlen(msg) + strlen(sys) + 128;
        char *text = malloc(need);
        if (!text) return -cli_error("out of memory");
        snprintf(text, need, "%s<start_of_turn>user\n%s%s%s<end_of_turn>\n<start_of_turn>model\n",
                 fresh ? "" : "<end_of_turn>\n", sys, *sys ? "\n\n" : "", msg);
        r = feed(c, text, bos);
        free(text);
    }
    if (r == STOPPED) return GO_ON;
    if (r != GO_ON) return r;
    return reply(c);
}

static int blank(const char *s) {
    return s[strspn(s, " \t\r\n")] == 0;
}

int chat_run(const gf_model *m, const gf_tokenizer *tk, const gf_gen_params *gp, const chat_opts *o) {
    chat c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.m = m;
    c.tk = tk;
    c.bos = gf_model_config(m)->bos_id;
    c.last_int = -1e9;
    gf_error err;
    int rc = 1;
    struct sigaction old_int, old_term, old_hup;
    sigaction(SIGINT, NULL, &old_int);
    sigaction(SIGTERM, NULL, &old_term);
    sigaction(SIGHUP, NULL, &old_hup);
    got_quit = 0;
    c.seen_int = n_int;
    install(1);
    char *msg = NULL;
    if (!(c.g = gf_generator_new(m, tk, 1, gp, &err))) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (o->threads > 0) gf_generator_set_threads(c.g, (int)o->threads, NULL); /* as asked; else measured */
    if (!(c.tb = gf_tok_buf_new())) {
        cli_error("out of memory");
        goto out;
    }
    if (o->log_path && !(c.log = fopen(o->log_path, "a"))) {
        cli_error("%s: cannot open: %s", o->log_path, strerror(errno));
        goto out;
    }
    c.tty_in = isatty(0);
    c.tty_err = isatty(2);
    if (c.tty_in) {
        rl_readline_name = "griffin";
        rl_outstream = stderr;
        using_history();
        fprintf(stderr, "griffin: %s %s (seed %llu); /help lists the commands, Ctrl-C stops a reply, "
                        "Ctrl-D ends\n", o->raw ? "continuing text with" : "chatting with", o->model_dir,
                (unsigned long long)o->seed);
    }
    int r = GO_ON;
    while (r == GO_ON) {
        free(msg);
        if (!(msg = read_message(&c))) {
            /* Ctrl-C at the prompt ends the chat as end of input does (exit
             * status 0), unless it is the second of two in a second */
            poll_signals(&c);
            break;
        }
        if (blank(msg)) continue;
        if (msg[0] == '/' && msg[1] != '/') {
            r = command(&c, msg);
            continue;
        }
        r = turn(&c, msg[0] == '/' ? msg + 1 : msg);
        if (r == REFUSED) r = c.tty_in ? GO_ON : -1; /* a script's bad message is fatal */
    }
    if (r < 0) goto out;
    gf_gen_counts counts;
    gf_generator_counts(c.g, &counts);
    fprintf(stderr, "griffin: read %ld tokens in %.1f s, generated %ld in %.1f s (%.1f tokens/s)\n",
            (long)counts.fed, c.t_feed, (long)counts.generated, c.t_gen,
            c.t_gen > 0 ? (double)counts.generated / c.t_gen : 0.0);
    rc = c.exit_code ? c.exit_code : (c.cmd_failed && !c.tty_in);
out:
    free(msg);
    if (c.log && (ferror(c.log) | fclose(c.log))) rc = cli_error("%s: write failed", o->log_path);
    gf_generator_free(c.g);
    gf_tok_buf_free(c.tb);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return rc;
}
