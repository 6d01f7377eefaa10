/* `microrm adapt`: stage 2 (DESIGN §3, Algorithm 1): fit the router of a
 * trained model on examples with context, heads frozen. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/train_util.h"
#include "core/adapt.h"
#include "core/dataset.h"
#include "core/model.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: microrm adapt --model MODEL --data FILE --out MODEL [options]\n"
            "\n"
            "Stage 2 of MiCRo: refit the router on the dataset's 'context' rows. For each\n"
            "example the Hedge target omega_k ~ pi_k(u) exp(-L_k/tau) is recomputed at the\n"
            "start of every epoch; the router minimises -sum_k omega_k log pi_k(u).\n"
            "\n"
            "  --model MODEL      stage-1 model\n"
            "  --data FILE        dataset with a 'context' tensor (and 'attribute' for --budget)\n"
            "  --out MODEL        adapted model to write (atomically)\n"
            "  --budget B         B examples per attribute, drawn with --seed (default 0: all rows)\n"
            "  --tau T            Hedge temperature (default 1e-3)\n"
            "  --epochs E         (default 10)\n"
            "  --batch B          (default 32)\n"
            "  --lr LR            AdamW peak learning rate, cosine with 5%% warm-up\n"
            "                     (default 1e-3 for a linear router, 1e-2 for an MLP router)\n"
            "  --init FROM        uniform: start from uniform weights (the router's output layer\n"
            "                     zeroed; default) | stage1: start from the model's router\n"
            "  --weight-decay WD  (default 0)\n"
            "  --seed S           (default 0)\n"
            "  --quiet            no progress line\n");
}

int cmd_adapt(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *init = "uniform";
    int quiet = 0;
    mr_adapt_opts o;
    mr_adapt_opts_default(&o);
    o.lr = -1; /* unset: chosen by router kind below */
    cli_flag flags[] = {
        {"--model", FLAG_STR, &model},   {"--data", FLAG_STR, &data},       {"--out", FLAG_STR, &out},
        {"--budget", FLAG_INT, &o.budget}, {"--tau", FLAG_DOUBLE, &o.tau},   {"--epochs", FLAG_INT, &o.epochs},
        {"--batch", FLAG_INT, &o.batch}, {"--lr", FLAG_DOUBLE, &o.lr},      {"--seed", FLAG_U64, &o.seed},
        {"--init", FLAG_STR, &init},
        {"--quiet", FLAG_BOOL, &quiet},  {"--weight-decay", FLAG_DOUBLE, &o.weight_decay},
    };
    int rc = cli_parse("adapt", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!model || !data || !out) {
        fprintf(stderr, "microrm adapt: --model, --data and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (!strcmp(init, "uniform") || !strcmp(init, "stage1")) {
        o.init_uniform = init[0] == 'u';
    } else {
        fprintf(stderr, "microrm adapt: --init '%s': expected uniform or stage1\n", init);
        return 2;
    }
    if (o.budget < 0 || o.epochs < 1 || o.batch < 1 || (o.lr != -1 && !(o.lr > 0)) || !(o.tau > 0) || !(o.weight_decay >= 0)) {
        fprintf(stderr, "microrm adapt: need --budget >= 0, --epochs >= 1, --batch >= 1, --lr > 0, --tau > 0, "
                        "--weight-decay >= 0\n");
        return 2;
    }
    cli_blas_deterministic();
    mr_error err;
    mr_model *m = mr_model_load(model, &err);
    if (!m) {
        fprintf(stderr, "microrm adapt: %s\n", err.msg);
        return 2;
    }
    mr_dataset ds;
    if (mr_dataset_open(&ds, data, &err) < 0) {
        fprintf(stderr, "microrm adapt: %s\n", err.msg);
        mr_model_free(m);
        return 2;
    }
    if (!mr_dataset_has_context(&ds) || ds.d != m->d || ds.dc != m->dc || (o.budget > 0 && !ds.attribute)) {
        if (!mr_dataset_has_context(&ds))
            fprintf(stderr, "microrm adapt: %s: no 'context' tensor [n,dc] (stage 2 routes on the context)\n", data);
        else if (ds.d != m->d || ds.dc != m->dc)
            fprintf(stderr, "microrm adapt: %s has d=%d dc=%d but the model %s has d=%d dc=%d\n", data, ds.d, ds.dc,
                    model, m->d, m->dc);
        else
            fprintf(stderr, "microrm adapt: %s: --budget needs an 'attribute' tensor\n", data);
        mr_dataset_close(&ds);
        mr_model_free(m);
        return 2;
    }
    if (o.lr == -1)
        o.lr = m->router == MR_ROUTER_MLP ? 1e-2 : 1e-3;
    cli_progress prog;
    cli_progress_init(&prog, "adapt", quiet);
    o.progress = cli_progress_cb;
    o.progress_ud = &prog;
    mr_adapt_result res;
    rc = 0;
    if (mr_adapt(m, &ds, &o, &res, &err) < 0) {
        fprintf(stderr, "microrm adapt: %s\n", err.msg);
        rc = 1;
    } else {
        mr_model_fingerprint(m);
        if (mr_model_save(m, out, &err) < 0) {
            fprintf(stderr, "microrm adapt: %s\n", err.msg);
            rc = 1;
        } else {
            printf("adapted the %s router on %lld examples", mr_router_kind_name(m->router), (long long)res.examples);
            if (o.budget > 0)
                printf(" (%d per attribute)", o.budget);
            printf(", cross-entropy %.4f -> %.4f (first -> last epoch)\nwrote %s (fingerprint %.16s)\n", res.first_ce,
                   res.last_ce, out, m->fingerprint);
        }
    }
    mr_dataset_close(&ds);
    mr_model_free(m);
    return rc;
}
