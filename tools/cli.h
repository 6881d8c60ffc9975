/* Shared pieces of the command-line tool: argument parsing and reporting. */
#ifndef GF_CLI_H
#define GF_CLI_H

#include <stdint.h>

#include "griffin.h"

/* Prints "griffin: error: ..." as one line on stderr and returns 1. */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Strict numeric parsing of an option's value; returns 0 or reports. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *opt, const char *s, double lo, double hi, double *out);
int cli_u64(const char *opt, const char *s, uint64_t *out);
/* The value of argv[i]'s option, or an error when it is missing. */
const char *cli_value(int argc, char **argv, int *i);
/* Applies --threads to OpenBLAS (0 = its default). */
void cli_set_threads(long n);
double cli_now(void);

int cmd_forward(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_init(int argc, char **argv);

#endif
