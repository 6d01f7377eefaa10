/* `microrm train`: stage 1 (DESIGN §2) and its baselines, from a dataset file
 * to a model file `microrm serve` loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/train_util.h"
#include "core/dataset.h"
#include "core/model.h"
#include "core/train.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: microrm train --data FILE --out MODEL [options]\n"
            "\n"
            "Stage 1 of MiCRo: K reward heads and a router over the prompt, trained on\n"
            "(prompt, chosen, rejected) pairs with the mixture NLL + alpha * negative entropy.\n"
            "\n"
            "  --data FILE        dataset (safetensors: prompt [n,dc], chosen [n,d], rejected [n,d])\n"
            "  --out MODEL        model file to write (atomically)\n"
            "  --heads K          number of heads (default 10)\n"
            "  --router KIND      linear | mlp (default linear)\n"
            "  --hidden H         MLP router hidden size (default 128)\n"
            "  --epochs E         passes over the data (default 1)\n"
            "  --batch B          pairs per step (default 32)\n"
            "  --lr LR            peak learning rate, AdamW, cosine with 5%% warm-up (default 2e-3)\n"
            "  --alpha A          weight of the router's negative entropy (default 0.5)\n"
            "  --reg WHERE        example: alpha * sum_k pi_k log pi_k per example (DESIGN, default);\n"
            "                     batch: on the batch-mean weights (load balancing, sharp routing)\n"
            "  --weight-decay WD  AdamW decoupled weight decay (default 0)\n"
            "  --seed S           initialisation and shuffling seed (default 0)\n"
            "  --baseline NAME    single (K=1 BT) | static (input-independent mixture) |\n"
            "                     shared-base (uniform weights, per-head BT losses)\n"
            "  --backbone NAME    recorded in the model's metadata\n"
            "  --quiet            no progress line\n"
            "\n"
            "Training is single-threaded and deterministic: the same data, flags and seed\n"
            "give the same model file, byte for byte, on the same machine.\n");
}

int cmd_train(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *router = "linear", *baseline = NULL, *backbone = NULL, *reg = "example";
    int K = 10, H = 128, quiet = 0, heads_given = 0;
    mr_train_opts o;
    mr_train_opts_default(&o);
    cli_flag flags[] = {
        {"--data", FLAG_STR, &data},       {"--out", FLAG_STR, &out},           {"--heads", FLAG_INT, &K},
        {"--router", FLAG_STR, &router},   {"--hidden", FLAG_INT, &H},          {"--epochs", FLAG_INT, &o.epochs},
        {"--batch", FLAG_INT, &o.batch},   {"--lr", FLAG_DOUBLE, &o.lr},        {"--alpha", FLAG_DOUBLE, &o.alpha},
        {"--seed", FLAG_U64, &o.seed},     {"--baseline", FLAG_STR, &baseline}, {"--backbone", FLAG_STR, &backbone},
        {"--quiet", FLAG_BOOL, &quiet},    {"--weight-decay", FLAG_DOUBLE, &o.weight_decay},
        {"--reg", FLAG_STR, &reg},
    };
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--heads") || !strncmp(argv[i], "--heads=", 8))
            heads_given = 1;
    int rc = cli_parse("train", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!data || !out) {
        fprintf(stderr, "microrm train: --data and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (!strcmp(reg, "example"))
        o.reg = MR_REG_EXAMPLE;
    else if (!strcmp(reg, "batch"))
        o.reg = MR_REG_BATCH;
    else {
        fprintf(stderr, "microrm train: --reg '%s': expected example or batch\n", reg);
        return 2;
    }
    mr_router_kind kind;
    if (!strcmp(router, "linear"))
        kind = MR_ROUTER_LINEAR;
    else if (!strcmp(router, "mlp"))
        kind = MR_ROUTER_MLP;
    else {
        fprintf(stderr, "microrm train: --router '%s': expected linear or mlp\n", router);
        return 2;
    }
    if (baseline) {
        if (mr_objective_parse(baseline, &o.objective) < 0 || o.objective == MR_OBJ_MICRO) {
            fprintf(stderr, "microrm train: --baseline '%s': expected single, static or shared-base\n", baseline);
            return 2;
        }
        if (kind != MR_ROUTER_LINEAR) {
            fprintf(stderr, "microrm train: --baseline %s has an input-independent router; drop --router mlp\n",
                    baseline);
            return 2;
        }
        if (o.objective == MR_OBJ_SINGLE) {
            if (heads_given && K != 1) {
                fprintf(stderr, "microrm train: --baseline single is one head; drop --heads %d\n", K);
                return 2;
            }
            K = 1;
        }
    }
    if (K < 1 || K > MR_MAX_HEADS || o.epochs < 1 || o.batch < 1 || !(o.lr > 0) || !(o.alpha >= 0) ||
        !(o.weight_decay >= 0) || (kind == MR_ROUTER_MLP && H < 1)) {
        fprintf(stderr, "microrm train: need 1 <= --heads <= %d, --epochs >= 1, --batch >= 1, --lr > 0, "
                        "--alpha >= 0, --weight-decay >= 0, --hidden >= 1\n", MR_MAX_HEADS);
        return 2;
    }

    cli_blas_deterministic();
    mr_error err;
    mr_dataset ds;
    if (mr_dataset_open(&ds, data, &err) < 0) {
        fprintf(stderr, "microrm train: %s\n", err.msg);
        return 2;
    }
    mr_model *m = mr_model_new(K, ds.d, ds.dc, kind, H, &err);
    if (!m) {
        fprintf(stderr, "microrm train: %s\n", err.msg);
        mr_dataset_close(&ds);
        return 2;
    }
    if (backbone) {
        char *b = strdup(backbone);
        if (!b) {
            fprintf(stderr, "microrm train: out of memory\n");
            mr_model_free(m);
            mr_dataset_close(&ds);
            return 1;
        }
        free(m->backbone);
        m->backbone = b;
    }
    cli_progress prog;
    cli_progress_init(&prog, "train", quiet);
    o.progress = cli_progress_cb;
    o.progress_ud = &prog;
    o.progress_every = 1;
    if (!quiet)
        fprintf(stderr, "train: %s, K=%d, %s router%s, d=%d dc=%d, %lld pairs, %d epochs, batch %d, lr %g, seed %llu\n",
                mr_objective_name(o.objective), K, router, kind == MR_ROUTER_MLP ? " (MLP)" : "", ds.d, ds.dc,
                (long long)ds.n, o.epochs, o.batch, o.lr, (unsigned long long)o.seed);
    mr_train_result res;
    double t0 = cli_now();
    rc = 0;
    if (mr_train(m, &ds, &o, &res, &err) < 0) {
        fprintf(stderr, "\nmicrorm train: %s\n", err.msg);
        rc = 1;
    } else {
        mr_model_fingerprint(m);
        if (mr_model_save(m, out, &err) < 0) {
            fprintf(stderr, "microrm train: %s\n", err.msg);
            rc = 1;
        } else {
            double el = cli_now() - t0;
            printf("trained %s model: K=%d, %lld steps, loss %.4f -> %.4f (first -> last epoch), %.1f s, %.0f pairs/s\n"
                   "wrote %s (fingerprint %.16s)\n",
                   mr_objective_name(o.objective), K, (long long)res.steps, res.first_epoch_loss,
                   res.last_epoch_loss, el, el > 0 ? (double)ds.n * o.epochs / el : 0.0, out, m->fingerprint);
        }
    }
    mr_model_free(m);
    mr_dataset_close(&ds);
    return rc;
}
