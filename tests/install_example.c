/* A program built against an installed griffin (tests/check_install.sh builds
 * it with pkg-config, against the shared and against the static library):
 * loads a model, prefills a prompt and greedily decodes N tokens, printing their
 * ids on one line as `griffin generate --ids --temp 0` does.
 *
 * usage: install_example MODEL_DIR N ID [ID ...] */
#include <griffin.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL_DIR N ID [ID ...]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int n_gen = atoi(argv[2]);
    int P = argc - 3;
    gf_error err;
    if (gf_kernels_init(&err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    gf_model *m = gf_model_load(dir, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int V = gf_model_config(m)->vocab_size;
    int rc = 1;
    int32_t *prompt = malloc((size_t)P * sizeof *prompt);
    float *logits = malloc((size_t)V * sizeof *logits);
    float *scratch_f = malloc((size_t)V * sizeof *scratch_f);
    int *scratch_i = malloc((size_t)V * sizeof *scratch_i);
    gf_state *st = gf_state_new(m, 1, &err);
    if (!st) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    if (!prompt || !logits || !scratch_f || !scratch_i) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    for (int i = 0; i < P; i++) prompt[i] = (int32_t)atoi(argv[3 + i]);
    /* As griffin generate: prefill all but the last prompt token, then feed the
     * last one as the first decode step (positions continue from the state). */
    if (P > 1 && gf_prefill(m, 1, P - 1, prompt, NULL, NULL, NULL, st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    int32_t tok = prompt[P - 1];
    gf_sampler s;
    gf_sampler_init(&s, 0.0f, 0, 1.0f, 0);
    for (int i = 0; i < n_gen; i++) {
        if (gf_decode_step(m, st, &tok, NULL, logits, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            goto out;
        }
        tok = gf_sample(&s, logits, V, scratch_f, scratch_i);
        printf("%s%d", i ? " " : "", (int)tok);
    }
    printf("\n");
    rc = 0;
out:
    gf_state_free(st);
    gf_model_free(m);
    free(prompt);
    free(logits);
    free(scratch_f);
    free(scratch_i);
    return rc;
}
