/* `microrm synth`: synthetic preference datasets with a known ground truth (a
 * mixture of Bradley-Terry subpopulations, see core/synth.h), written as
 * DIR/train.safetensors and DIR/test.safetensors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/train_util.h"
#include "core/synth.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: microrm synth --out DIR [options]\n"
            "\n"
            "Writes DIR/train.safetensors and DIR/test.safetensors (prompt, chosen, rejected,\n"
            "context, attribute) drawn from a mixture of K* Bradley-Terry subpopulations, and\n"
            "prints the Bayes-optimal accuracy of the generating model on the test split.\n"
            "\n"
            "  --n N                training pairs (default 20000)\n"
            "  --test-n N           test pairs (default n/4)\n"
            "  --d D                response embedding size (default 64)\n"
            "  --dc DC              context embedding size (default d)\n"
            "  --heads K*           true subpopulations / reward directions (default 4)\n"
            "  --attributes A       named attributes, attribute a -> subpopulation a mod K* (default 2 K*)\n"
            "  --topics T           prompt clusters, each with its own attribute mix (default 8)\n"
            "  --margin M           scale of true reward differences (default 3)\n"
            "  --label-noise P      probability a label is flipped (default 0.05)\n"
            "  --reversal P         probability a pair is a reversed twin (default 0.3)\n"
            "  --context-noise S    noise on the context's attribute signal (default 1)\n"
            "  --context-strength S size of the attribute signal in the context (default 1)\n"
            "  --concentration C    spread of each topic's attribute logits (default 1.5)\n"
            "  --focus F            pair difference along the judged attribute's direction,\n"
            "                       relative to the other directions (default 2)\n"
            "  --dtype T            f32 | bf16 | f16 (default f32)\n"
            "  --seed S             (default 0)\n");
}

int cmd_synth(int argc, char **argv)
{
    const char *dir = NULL, *dtype = "f32";
    mr_synth_opts o;
    mr_synth_opts_default(&o);
    int64_t test_n = -1;
    int dc = -1, A = -1;
    cli_flag flags[] = {
        {"--out", FLAG_STR, &dir},
        {"--n", FLAG_I64, &o.n_train},
        {"--test-n", FLAG_I64, &test_n},
        {"--d", FLAG_INT, &o.d},
        {"--dc", FLAG_INT, &dc},
        {"--heads", FLAG_INT, &o.K},
        {"--attributes", FLAG_INT, &A},
        {"--topics", FLAG_INT, &o.topics},
        {"--margin", FLAG_DOUBLE, &o.margin},
        {"--label-noise", FLAG_DOUBLE, &o.label_noise},
        {"--reversal", FLAG_DOUBLE, &o.reversal},
        {"--context-noise", FLAG_DOUBLE, &o.context_noise},
        {"--context-strength", FLAG_DOUBLE, &o.context_strength},
        {"--concentration", FLAG_DOUBLE, &o.topic_concentration},
        {"--focus", FLAG_DOUBLE, &o.focus},
        {"--dtype", FLAG_STR, &dtype},
        {"--seed", FLAG_U64, &o.seed},
    };
    int rc = cli_parse("synth", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!dir) {
        fprintf(stderr, "microrm synth: --out DIR is required\n");
        usage(stderr);
        return 2;
    }
    o.dc = dc > 0 ? dc : o.d;
    o.A = A > 0 ? A : 2 * o.K;
    o.n_test = test_n > 0 ? test_n : (o.n_train / 4 > 0 ? o.n_train / 4 : 1);
    if (!strcmp(dtype, "f32"))
        o.dtype = ST_F32;
    else if (!strcmp(dtype, "bf16"))
        o.dtype = ST_BF16;
    else if (!strcmp(dtype, "f16"))
        o.dtype = ST_F16;
    else {
        fprintf(stderr, "microrm synth: --dtype '%s': expected f32, bf16 or f16\n", dtype);
        return 2;
    }
    if (dc == 0 || A == 0 || test_n == 0) {
        fprintf(stderr, "microrm synth: --dc, --attributes and --test-n must be >= 1\n");
        return 2;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "microrm synth: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    size_t len = strlen(dir) + 32;
    char *train = malloc(len), *test = malloc(len);
    if (!train || !test) {
        free(train);
        free(test);
        fprintf(stderr, "microrm synth: out of memory\n");
        return 1;
    }
    snprintf(train, len, "%s/train.safetensors", dir);
    snprintf(test, len, "%s/test.safetensors", dir);
    mr_error err;
    mr_synth_report rep;
    double t0 = cli_now();
    if (mr_synth(&o, train, test, &rep, &err) < 0) {
        fprintf(stderr, "microrm synth: %s\n", err.msg);
        free(train);
        free(test);
        /* option ranges are checked in core; those are usage errors */
        return strstr(err.msg, "synth: ") == err.msg && !strstr(err.msg, "memory") ? 2 : 1;
    }
    printf("wrote %s (%lld pairs, %lld reversed twins) and %s (%lld pairs) in %.1f s\n", train,
           (long long)o.n_train, (long long)rep.twins_train, test, (long long)o.n_test, cli_now() - t0);
    printf("d=%d dc=%d, K*=%d subpopulations, %d attributes, %d topics, margin %g, label noise %g, seed %llu\n", o.d,
           o.dc, o.K, o.A, o.topics, o.margin, o.label_noise, (unsigned long long)o.seed);
    printf("Bayes-optimal test accuracy: %.4f knowing the attribute (context), %.4f knowing only the prompt\n",
           rep.bayes_context, rep.bayes_prompt);
    printf("(labels drawn on the test split agree with the attribute-aware Bayes decision on %.4f of pairs)\n",
           rep.empirical_context);
    printf("per attribute (knowing it):");
    for (int a = 0; a < o.A; a++) {
        char buf[32];
        printf(" %s=%.3f", mr_synth_attribute_name(a, buf, sizeof buf), rep.bayes_attr[a]);
    }
    printf("\n");
    free(train);
    free(test);
    return 0;
}
