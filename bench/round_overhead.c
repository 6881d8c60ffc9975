/* The generator's own cost: a round of B decoding slots (gf_generator_round:
 * sampling, stop checks, text, the batched decode step through
 * gf_decode_step_n) against the bare batched decode step (gf_decode_step) of
 * the same model and batch, interleaved in blocks so a busy spell falls on
 * both. What `griffin serve` adds beyond it is HTTP and the clients
 * (bench/serve_load.py).
 *
 *   build/bench/round_overhead MODEL_DIR [--batch 16] [--steps 200] [--threads N] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "griffin.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int die(const char *what, const gf_error *err) {
    fprintf(stderr, "round_overhead: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: round_overhead MODEL_DIR [--batch B] [--steps N] [--threads N]\n");
        return argc < 2;
    }
    int B = 16, steps = 200;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) omp_set_num_threads(atoi(argv[i + 1]));
        else {
            fprintf(stderr, "round_overhead: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    if (B < 1 || B > 4096 || steps < 10) {
        fprintf(stderr, "round_overhead: --batch must be in 1..4096 and --steps at least 10\n");
        return 1;
    }
    gf_error err;
    if (gf_kernels_init(&err)) return die("GRIFFIN_ISA", &err);
    gf_model *m = gf_model_load(argv[1], &err);
    if (!m) return die(argv[1], &err);
    (void)gf_model_copy_weights(m, &err); /* as the CLI holds them; stays mapped if it cannot */
    int V = gf_model_config(m)->vocab_size;
    gf_state *st = gf_state_new(m, B, &err);
    float *logits = malloc(sizeof(float) * (size_t)B * (size_t)V);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)B);
    if (!st || !logits || !tok) return die("state", &err);
    for (int b = 0; b < B; b++) tok[b] = (b * 7 + 5) % V;
    gf_gen_params p;
    gf_gen_params_default(&p);
    p.temperature = 0.0f;
    p.max_tokens = -1;
    gf_generator *g = gf_generator_new(m, NULL, B, &p, &err);
    if (!g) return die("generator", &err);
    int32_t prompt[16];
    for (int i = 0; i < 16; i++) prompt[i] = (i * 13 + 3) % V;
    for (int b = 0; b < B; b++)
        if (gf_generator_join(g, prompt, 16, &p, &err) < 0) return die("join", &err);
    gf_gen_event *ev = malloc(sizeof *ev * (size_t)B);
    int n_ev;
    for (int i = 0; i < 4 * B + 10; i++) /* prompts in, then warm */
        if (gf_generator_round(g, ev, &n_ev, &err) < 0) return die("round", &err);
    for (int i = 0; i < 10; i++) gf_decode_step(m, st, tok, NULL, logits, &err);
    double t_step = 0, t_round = 0;
    int block = 10;
    for (int done = 0; done < steps; done += block) {
        double t0 = now();
        for (int i = 0; i < block; i++)
            if (gf_decode_step(m, st, tok, NULL, logits, &err)) return die("decode", &err);
        double t1 = now();
        for (int i = 0; i < block; i++)
            if (gf_generator_round(g, ev, &n_ev, &err) < 0) return die("round", &err);
        t_step += t1 - t0;
        t_round += now() - t1;
    }
    if (gf_generator_slots_in_use(g) != B) {
        fprintf(stderr, "round_overhead: a slot stopped decoding (%d of %d in use)\n", gf_generator_slots_in_use(g), B);
        return 1;
    }
    printf("batch %d, %d steps each, kernels %s: decode step %.3f ms, generator round %.3f ms: the round is x%.3f the step\n",
           B, steps, gf_kernels_name(), 1e3 * t_step / steps, 1e3 * t_round / steps, t_round / t_step);
    gf_generator_free(g);
    free(ev);
    free(tok);
    free(logits);
    gf_state_free(st);
    gf_model_free(m);
    return 0;
}
