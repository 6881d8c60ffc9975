/* griffin chat's conversation loop (tools/chat_repl.c), apart from its
 * option parsing (tools/cmd_chat.c). */
#ifndef GF_CHAT_REPL_H
#define GF_CHAT_REPL_H

#include <stdint.h>

#include "griffin.h"

typedef struct {
    const char *model_dir;
    const char *system;   /* --system text (turn mode only), or NULL */
    const char *log_path; /* --log-ids FILE, or NULL */
    int raw;              /* -i: the user's text continues the context as is (base models) */
    uint64_t seed;        /* shown in the banner */
    long threads;         /* --threads: the generator's team, fixed; 0: measured */
} chat_opts;

/* Reads messages from stdin and streams the replies to stdout until /quit,
 * end of input or a signal; gp holds the sampling settings, stop ids and
 * -n. Returns the process's exit status: 0; 1 after an error (or, reading
 * from a pipe, after a command failed); 130 after Ctrl-C twice within a
 * second; 143 / 129 after SIGTERM / SIGHUP. The --log-ids file is complete
 * and closed on every one of these paths. */
int chat_run(const gf_model *m, const gf_tokenizer *tk, const gf_gen_params *gp, const chat_opts *o);

#endif
