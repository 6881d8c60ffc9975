/* griffin bench: the machine's limits, the ceilings every speed figure of
 * griffin is reported against. (Decode, prefill and training tables against
 * them are issue 5's next steps.) */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin bench [--buffer-mb N] [--threads N] [--csv FILE]\n"
    "  Measures this machine's memory read bandwidth (a buffer of N MiB, default 512,\n"
    "  streamed by all threads) and OpenBLAS sgemm throughput, and prints them.\n";

int cmd_bench(int argc, char **argv) {
    long mb = 512, threads = 0;
    const char *csv = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!(v = cli_value(argc, argv, &i, "bench", (const char *const[]){"--buffer-mb", "--threads", "-t", "--csv", NULL})))
            return 1;
        if (!strcmp(a, "--buffer-mb")) { if (cli_int(a, v, 1, 1 << 20, &mb)) return 1; }
        else if (!strcmp(a, "--csv")) csv = v;
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    cli_set_threads(threads);
    gf_limits lim;
    gf_error err;
    if (gf_measure_limits((size_t)mb << 20, (int)threads, &lim, &err)) return cli_error("%s", err.msg);
    printf("threads:          %d\n", lim.threads);
    printf("memory read:      %.1f GB/s (%ld MiB buffer)\n", lim.read_gb_s, mb);
    printf("sgemv F32 read:   %.1f GB/s (the same buffer as a matrix)\n", lim.sgemv_gb_s);
    printf("sgemm F32:        %.1f GFLOP/s (2048^3)\n", lim.sgemm_gflop_s);
    if (csv) {
        FILE *f = fopen(csv, "w");
        if (!f) return cli_error("%s: cannot write", csv);
        fprintf(f, "threads,read_gb_s,sgemv_gb_s,sgemm_gflop_s\n%d,%.2f,%.2f,%.2f\n", lim.threads, lim.read_gb_s,
                lim.sgemv_gb_s, lim.sgemm_gflop_s);
        if (fclose(f) != 0) return cli_error("%s: write failed", csv);
    }
    return 0;
}
