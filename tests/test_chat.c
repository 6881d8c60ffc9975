/* griffin chat as a user drives it, through pipes: a model made with
 * `griffin init` and the spm_train-made Gemma-like tokenizer (and, for -i,
 * a tokenizer without the turn pieces).
 *
 *  - commands: /help lists them, /reset confirms and starts afresh (the
 *    same greedy reply again), an unknown /foo is an error and not a
 *    message, empty lines are skipped, /quit ends;
 *  - /save in one process and /load in another give the sampled
 *    continuation the uninterrupted conversation gives, feeding only the
 *    new turn; a corrupt, truncated or other model's file is one error line
 *    and the conversation goes on as if the /load had not been there;
 *  - signals: SIGINT during a reply stops it and the chat goes on (the next
 *    reply is what generate gives for the whole logged history), twice
 *    quickly exits 130, SIGTERM 143, and --log-ids is complete each time;
 *  - -i continues a base model's text: its replies are generate's. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char model_dir[4096], base_dir[4096], other_dir[4096];

static void write_config(const char *path, int width) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"vocab_size\": 4000, \"hidden_size\": %d, \"intermediate_size\": 192,"
            " \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"lru_width\": 64,"
            " \"attention_window_size\": 16, \"conv1d_width\": 4, \"logits_soft_cap\": 30.0,"
            " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}\n", width);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    static char cmd[1 << 16];
    char err[4096], cfg[4096], cfg2[4096];
    snprintf(model_dir, sizeof model_dir, "%s/model", td_tmpdir());
    snprintf(base_dir, sizeof base_dir, "%s/base", td_tmpdir());
    snprintf(other_dir, sizeof other_dir, "%s/other", td_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/config.json", td_tmpdir());
    snprintf(cfg2, sizeof cfg2, "%s/config2.json", td_tmpdir());
    write_config(cfg, 64);
    write_config(cfg2, 32);
    /* base: the same weights with a tokenizer that has no turn pieces */
    snprintf(cmd, sizeof cmd,
             "%s init --config %s --out %s --seed 7 && cp %s/gemma_bpe.model %s/tokenizer.model && "
             "%s init --config %s --out %s --seed 8 && cp %s/gemma_bpe.model %s/tokenizer.model && "
             "cp -r %s %s && cp %s/nfkc_bpe.model %s/tokenizer.model",
             td_bin(), cfg, model_dir, td_spm_fixtures(), model_dir, td_bin(), cfg2, other_dir, td_spm_fixtures(),
             other_dir, model_dir, base_dir, td_spm_fixtures(), base_dir);
    if (td_run(cmd, err, sizeof err) != 0) {
        print_message("setup failed: %s\n", err);
        return -1;
    }
    return 0;
}

/* Runs `printf INPUT | griffin chat ARGS`: stdout into out, stderr into
 * err; returns the exit status. */
static int chat(const char *input, const char *args, char *out, size_t cap, char *err, size_t err_cap) {
    char cmd[16384], in[4096], path[4096];
    snprintf(in, sizeof in, "%s/in.txt", td_tmpdir());
    td_write(in, input, strlen(input));
    snprintf(path, sizeof path, "%s/out.txt", td_tmpdir());
    snprintf(cmd, sizeof cmd, "((%s chat %s < %s) > %s)", td_bin(), args, in, path);
    int rc = td_run(cmd, err, err_cap);
    size_t n;
    char *s = td_read(path, &n);
    assert_true(n < cap);
    memcpy(out, s, n);
    out[n] = 0;
    free(s);
    return rc;
}

/* The lines of a --log-ids file (each must end with a newline): up to max,
 * into a malloc'ed buffer *buf; returns the count. */
static int log_lines(const char *path, char **line, int max, char **buf) {
    size_t n;
    char *s = td_read(path, &n);
    *buf = s;
    if (n == 0) return 0;
    if (s[n - 1] != '\n') fail_msg("%s: the last line is incomplete", path);
    int k = 0;
    for (char *p = s; p < s + n && k < max;) {
        line[k++] = p;
        p = strchr(p, '\n');
        *p++ = 0;
    }
    return k;
}

static size_t count_ids(const char *s) {
    static int32_t ids[1 << 16];
    return td_parse_ids(s, ids, 1 << 16);
}

static int count(const char *hay, const char *needle) {
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) k++;
    return k;
}

static void test_commands(void **state) {
    (void)state;
    static char out[1 << 16], err[1 << 14], out2[1 << 16];
    char args[16384], log[4096];
    snprintf(log, sizeof log, "%s/cmd.log", td_tmpdir());
    remove(log);
    snprintf(args, sizeof args, "--model %s --temp 0 -n 8 --log-ids %s", model_dir, log);
    int rc = chat("hello\n\n   \n/help\n/foo bar\n/reset\nhello\n/quit\nnever read\n", args, out, sizeof out, err,
                  sizeof err);
    print_message("    stderr: %s", err);
    assert_int_equal(rc, 1); /* a command failed in a script */
    assert_non_null(strstr(err, "/save FILE"));
    assert_non_null(strstr(err, "/load FILE"));
    assert_non_null(strstr(err, "griffin: error: unknown command '/foo'"));
    assert_int_equal(count(err, "griffin: error:"), 1);
    assert_non_null(strstr(err, "conversation reset"));
    /* two turns only (the empty lines, /foo and what follows /quit were not sent);
     * after /reset the same message starts afresh: the same ids, the same reply */
    char *line[8], *buf;
    assert_int_equal(log_lines(log, line, 8, &buf), 4);
    assert_string_equal(line[0], line[2]);
    assert_string_equal(line[1], line[3]);
    assert_int_equal(strtol(line[0], NULL, 10), 2); /* BOS */
    free(buf);
    /* the two replies on stdout are alike too, and equal a run of that message alone */
    snprintf(args, sizeof args, "--model %s --temp 0 -n 8", model_dir);
    assert_int_equal(chat("hello\n", args, out2, sizeof out2, err, sizeof err), 0);
    size_t n1 = strlen(out2);
    assert_int_equal(strlen(out), 2 * n1);
    assert_memory_equal(out, out2, n1);
    assert_memory_equal(out + n1, out2, n1);
    /* //text sends "/text"; a clean script exits 0 */
    assert_int_equal(chat("//hello\n/quit\n", args, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(count(err, "error"), 0);
    /* commands' arguments are checked */
    assert_int_equal(chat("/save\n/reset now\n", args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "/save needs a file name after it"));
    assert_non_null(strstr(err, "/reset takes no argument"));
}

/* The conversation of three messages sampled at temperature 1 (so the
 * sampler's random state must travel too), whole and split by /save and
 * /load across two processes. */
static void test_save_load(void **state) {
    (void)state;
    static char full[1 << 16], p1[1 << 16], p2[1 << 16], err[1 << 14], both[1 << 17];
    char args[16384], input[8192], snap[4096], log[4096];
    snprintf(snap, sizeof snap, "%s/conv.snap", td_tmpdir());
    snprintf(log, sizeof log, "%s/load.log", td_tmpdir());
    remove(log);
    snprintf(args, sizeof args, "--model %s --temp 1 --seed 3 -n 15", model_dir);
    assert_int_equal(chat("hello\nsecond one\nthe third message\n", args, full, sizeof full, err, sizeof err), 0);
    snprintf(input, sizeof input, "hello\nsecond one\n/save %s\n", snap);
    assert_int_equal(chat(input, args, p1, sizeof p1, err, sizeof err), 0);
    assert_non_null(strstr(err, "saved the conversation"));
    snprintf(args, sizeof args, "--model %s --temp 1 --seed 3 -n 15 --log-ids %s", model_dir, log);
    snprintf(input, sizeof input, "/load %s\nthe third message\n", snap);
    assert_int_equal(chat(input, args, p2, sizeof p2, err, sizeof err), 0);
    snprintf(both, sizeof both, "%s%s", p1, p2);
    print_message("    whole: %zu bytes of replies; split: %zu + %zu\n", strlen(full), strlen(p1), strlen(p2));
    assert_true(strlen(p2) > 1);
    assert_string_equal(both, full);
    /* the loaded process fed only the new turn (closing the last reply first) */
    char *line[4], *buf;
    assert_int_equal(log_lines(log, line, 4, &buf), 2);
    assert_int_equal(strtol(line[0], NULL, 10), 5); /* <end_of_turn> */
    char needle[64];
    snprintf(needle, sizeof needle, "read %zu tokens", count_ids(line[0]));
    if (!strstr(err, needle)) fail_msg("wanted '%s' in: %s", needle, err);
    free(buf);
}

/* /load of a bad file: one error line, and the conversation goes on as if
 * the line had not been there. */
static void test_load_bad(void **state) {
    (void)state;
    static char want[1 << 16], out[1 << 16], err[1 << 14];
    char args[16384], input[8192], good[4096], bad[4096];
    snprintf(args, sizeof args, "--model %s --temp 0 -n 6", model_dir);
    assert_int_equal(chat("hello\nsecond\n", args, want, sizeof want, err, sizeof err), 0);
    /* a good file of this model, and one of another model */
    snprintf(good, sizeof good, "%s/good.snap", td_tmpdir());
    snprintf(input, sizeof input, "hello\nmore words\n/save %s\n", good);
    assert_int_equal(chat(input, args, out, sizeof out, err, sizeof err), 0);
    size_t n;
    uint8_t *g = td_read(good, &n);
    struct {
        const char *name, *needle;
    } cases[] = {{"flipped", "checksum"}, {"truncated", "truncated"}, {"other", "another model"},
                 {"text", "not a griffin snapshot"}, {"missing", "missing"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(bad, sizeof bad, "%s/%s.snap", td_tmpdir(), cases[i].name);
        if (!strcmp(cases[i].name, "flipped")) {
            g[n / 2] ^= 1;
            td_write(bad, g, n);
            g[n / 2] ^= 1;
        } else if (!strcmp(cases[i].name, "truncated")) {
            td_write(bad, g, n - 100);
        } else if (!strcmp(cases[i].name, "other")) {
            char a2[8192];
            snprintf(a2, sizeof a2, "--model %s --temp 0 -n 3", other_dir);
            snprintf(input, sizeof input, "hi\n/save %s\n", bad);
            assert_int_equal(chat(input, a2, out, sizeof out, err, sizeof err), 0);
        } else if (!strcmp(cases[i].name, "text")) {
            td_write(bad, "hello\n", 6);
        }
        snprintf(input, sizeof input, "hello\n/load %s\nsecond\n", bad);
        int rc = chat(input, args, out, sizeof out, err, sizeof err);
        print_message("    %s: %s", cases[i].name, err);
        assert_int_equal(rc, 1);
        assert_int_equal(count(err, "griffin: error: /load: "), 1);
        assert_int_equal(count(err, "\n"), 2); /* the error, the closing speed line */
        assert_non_null(strstr(err, cases[i].needle));
        assert_string_equal(out, want);
    }
    free(g);
}

/* ---- signals ------------------------------------------------------------------ */

typedef struct {
    pid_t pid;
    int in, out;
    char err_path[4096];
    char *buf; /* stdout so far */
    size_t n, cap;
} child;

static void spawn(child *c, const char *log) {
    int pin[2], pout[2];
    assert_int_equal(pipe(pin), 0);
    assert_int_equal(pipe(pout), 0);
    snprintf(c->err_path, sizeof c->err_path, "%s/sig.err", td_tmpdir());
    remove(log);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        int e = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        close(pin[1]);
        close(pout[0]);
        /* a reply that never ends by itself: greedy, and -n far away */
        execl(td_bin(), td_bin(), "chat", "--model", model_dir, "--temp", "0", "-n", "100000000", "--log-ids", log,
              (char *)NULL);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    c->in = pin[1];
    c->out = pout[0];
    c->cap = 1 << 20;
    c->n = 0;
    c->buf = malloc(c->cap);
    assert_non_null(c->buf);
}

/* Reads the child's stdout (keeping what fits) for up to ms milliseconds or
 * until it has `want` bytes in all; returns 0 at end of file. */
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int drain(child *c, size_t want, int ms) {
    double end = now_s() + ms / 1000.0;
    while (c->n < want && now_s() < end) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(c->out, &r);
        struct timeval tv = {0, 10000};
        if (select(c->out + 1, &r, NULL, NULL, &tv) <= 0) continue;
        char tmp[65536];
        ssize_t got = read(c->out, tmp, sizeof tmp);
        if (got == 0) return 0;
        if (got < 0) {
            if (errno == EINTR) continue;
            fail_msg("read: %s", strerror(errno));
        }
        size_t keep = c->n + (size_t)got <= c->cap ? (size_t)got : c->cap - c->n;
        memcpy(c->buf + c->n, tmp, keep);
        c->n += keep;
        if (c->n == c->cap) c->n = c->cap / 2; /* keep reading; the start no longer matters */
    }
    return 1;
}

/* Waits (draining stdout) until the child's stderr holds needle k times. */
static void wait_stderr(child *c, const char *needle, int k) {
    for (int i = 0; i < 3000; i++) {
        size_t n;
        char *s = td_read(c->err_path, &n);
        char *z = realloc(s, n + 1);
        z[n] = 0;
        int found = count(z, needle) >= k;
        free(z);
        if (found) return;
        drain(c, (size_t)-1, 10);
    }
    fail_msg("no '%s' (x%d) on the chat's stderr", needle, k);
}

static void say(child *c, const char *text) {
    assert_int_equal(write(c->in, text, strlen(text)), (ssize_t)strlen(text));
}

/* Closes stdin, reads stdout to its end, returns the exit status. */
static int finish(child *c) {
    close(c->in);
    while (drain(c, (size_t)-1, 100)) {
    }
    close(c->out);
    int st;
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    free(c->buf);
    if (!WIFEXITED(st)) fail_msg("chat died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    return WEXITSTATUS(st);
}

static void test_sigint_stops_reply(void **state) {
    (void)state;
    char log[4096];
    snprintf(log, sizeof log, "%s/sig.log", td_tmpdir());
    child c;
    spawn(&c, log);
    say(&c, "hello\n");
    drain(&c, 200, 60000);
    assert_true(c.n >= 200);
    kill(c.pid, SIGINT);
    wait_stderr(&c, "reply stopped", 1);
    double t0 = now_s();
    say(&c, "again\n");
    size_t before = c.n;
    drain(&c, before + 200, 60000);
    assert_true(c.n >= before + 200);
    /* more than a second after the first, so this one stops the reply too */
    while (now_s() - t0 < 1.3) drain(&c, (size_t)-1, 50);
    kill(c.pid, SIGINT);
    wait_stderr(&c, "reply stopped", 2);
    say(&c, "/quit\n");
    assert_int_equal(finish(&c), 0);
    /* every turn logged, the partial replies included; the second reply is
     * what generate makes of the whole history (so the state after the stop
     * held exactly the logged ids) */
    char *line[8], *buf;
    assert_int_equal(log_lines(log, line, 8, &buf), 4);
    assert_int_equal(strtol(line[2], NULL, 10), 5); /* <end_of_turn> closes the stopped reply */
    size_t nh = 0, nr = count_ids(line[3]);
    assert_true(count_ids(line[1]) > 0 && nr > 0);
    size_t cap = strlen(line[0]) + strlen(line[1]) + strlen(line[2]) + 8192;
    char *cmd = malloc(cap);
    assert_non_null(cmd);
    int w = snprintf(cmd, cap, "%s generate --model %s -n %zu --temp 0 --ids --prompt-ids ", td_bin(), model_dir, nr);
    for (int i = 0; i < 3; i++) {
        for (char *p = line[i]; *p; p++) cmd[w++] = *p == ' ' ? ',' : *p;
        cmd[w++] = i < 2 ? ',' : 0;
        nh += count_ids(line[i]);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/gen.txt", td_tmpdir());
    strcat(cmd, " > ");
    strcat(cmd, path);
    char err[4096];
    if (td_run(cmd, err, sizeof err)) fail_msg("generate: %s", err);
    size_t n;
    char *gen = td_read(path, &n);
    static int32_t a[1 << 16], b[1 << 16];
    size_t na = td_parse_ids(gen, a, 1 << 16), nb = td_parse_ids(line[3], b, 1 << 16);
    print_message("    history %zu ids; second reply stopped after %zu ids\n", nh, nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    free(gen);
    free(cmd);
    free(buf);
}

/* Ctrl-C twice quickly during a reply, or SIGTERM: the chat ends with the
 * shell's status for the signal, the log's lines complete. */
static void expect_signal_exit(int sig, int twice, int status) {
    char log[4096];
    snprintf(log, sizeof log, "%s/sig2.log", td_tmpdir());
    child c;
    spawn(&c, log);
    say(&c, "hello\n");
    drain(&c, 200, 60000);
    kill(c.pid, sig);
    if (twice) {
        drain(&c, (size_t)-1, 50);
        kill(c.pid, sig);
    }
    assert_int_equal(finish(&c), status);
    char *line[4], *buf;
    assert_int_equal(log_lines(log, line, 4, &buf), 2); /* the message and the stopped reply */
    assert_true(count_ids(line[1]) > 0);
    free(buf);
}

static void test_sigint_twice_quits(void **state) {
    (void)state;
    expect_signal_exit(SIGINT, 1, 130);
}

static void test_sigterm(void **state) {
    (void)state;
    expect_signal_exit(SIGTERM, 0, 143);
}

/* -i: a base model's text continued; each reply is generate's for the
 * whole context so far. */
static void test_interactive_base_model(void **state) {
    (void)state;
    static char out[1 << 16], err[1 << 14];
    static char cmd[1 << 16];
    char args[16384], log[4096], path[4096];
    snprintf(log, sizeof log, "%s/raw.log", td_tmpdir());
    remove(log);
    snprintf(args, sizeof args, "--model %s --temp 0 -n 5", base_dir);
    assert_int_equal(chat("hi\n", args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "-i continues"));
    snprintf(args, sizeof args, "--model %s -i --temp 0 -n 5 --log-ids %s", base_dir, log);
    assert_int_equal(chat("The quick brown\n fox jumps\n", args, out, sizeof out, err, sizeof err), 0);
    char *line[4], *buf;
    assert_int_equal(log_lines(log, line, 4, &buf), 4);
    snprintf(path, sizeof path, "%s/gen.txt", td_tmpdir());
    for (int turn = 0; turn < 2; turn++) {
        char ids[8192] = "";
        for (int i = 0; i <= 2 * turn; i++) {
            char t[4096];
            snprintf(t, sizeof t, "%s%s", *ids ? "," : "", line[i]);
            for (char *p = t; *p; p++) if (*p == ' ') *p = ',';
            strcat(ids, t);
        }
        snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids %s -n 5 --temp 0 --ids > %s", td_bin(),
                 base_dir, ids, path);
        if (td_run(cmd, err, sizeof err)) fail_msg("generate: %s", err);
        size_t n;
        char *gen = td_read(path, &n);
        static int32_t a[512], b[512];
        size_t na = td_parse_ids(gen, a, 512), nb = td_parse_ids(line[2 * turn + 1], b, 512);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        free(gen);
    }
    /* one BOS, at the start only: the second message is its raw text */
    assert_int_equal(strtol(line[0], NULL, 10), 2);
    assert_int_not_equal(strtol(line[2], NULL, 10), 2);
    free(buf);
}

int main(void) {
    atexit(td_remove_tmpdir);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_bad),
        cmocka_unit_test(test_sigint_stops_reply),
        cmocka_unit_test(test_sigint_twice_quits),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_interactive_base_model),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
