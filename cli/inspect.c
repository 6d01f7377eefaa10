/* `microrm inspect MODEL`: load a model exactly as the server would (same
 * loader, same validation) and print what an operator needs to check before
 * serving it: shapes, router, score mode, fingerprint, the heads. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/model.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: microrm inspect MODEL [--mask-heads SPEC] [--score-mode linear|logsigmoid]\n"
            "\n"
            "MODEL is a safetensors file, a directory holding model.safetensors or a\n"
            "sharded checkpoint, or a model.safetensors.index.json. --mask-heads and\n"
            "--score-mode show the model as the server would serve it with those settings.\n");
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *mask = NULL, *mode = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--mask-heads") || !strcmp(a, "--score-mode")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "microrm inspect: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--mask-heads"))
                mask = argv[++i];
            else
                mode = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "microrm inspect: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "microrm inspect: one MODEL only ('%s' and '%s')\n", path, a);
            return 2;
        } else
            path = a;
    }
    if (!path) {
        usage(stderr);
        return 2;
    }

    mr_error err;
    mr_model *m = mr_model_load(path, &err);
    if (!m) {
        fprintf(stderr, "microrm inspect: %s\n", err.msg);
        return 2;
    }
    if (mode && mr_score_mode_parse(mode, &m->score_mode)) {
        fprintf(stderr, "microrm inspect: --score-mode '%s': expected linear or logsigmoid\n", mode);
        mr_model_free(m);
        return 2;
    }
    if (mask && mr_model_set_mask(m, mask, &err)) {
        fprintf(stderr, "microrm inspect: %s\n", err.msg);
        mr_model_free(m);
        return 2;
    }

    printf("model        %s\n", path);
    printf("heads (K)    %d\n", m->K);
    printf("d            %d\n", m->d);
    printf("dc           %d\n", m->dc);
    if (m->router == MR_ROUTER_MLP)
        printf("router       mlp (hidden H=%d)\n", m->H);
    else
        printf("router       linear\n");
    printf("score mode   %s\n", mr_score_mode_name(m->score_mode));
    printf("backbone     %s\n", m->backbone[0] ? m->backbone : "(unknown)");
    printf("dtype        %s\n", m->source_dtype);
    printf("parameters   %zu\n", m->n_params);
    printf("fingerprint  %s\n", m->fingerprint);
    printf("\n  #  name                             masked\n");
    for (int k = 0; k < m->K; k++)
        printf("%3d  %-32s %s\n", k, m->head_names[k], m->mask[k] ? "yes" : "no");
    int rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    mr_model_free(m);
    return rc;
}
