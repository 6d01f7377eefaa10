/* `microrm eval`: accuracy per attribute of every head, the best head, the
 * static mixture, and the routed mixture; a markdown table (the layout of
 * the paper's Tables 2, 3, 7, 8) or JSON. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/train_util.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/model.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: microrm eval --model MODEL --data FILE [--json] [--no-heads]\n"
            "\n"
            "Accuracy (%% of pairs whose chosen response is preferred) per attribute:\n"
            "  head k         each head alone\n"
            "  best head      the best single head for that attribute (an oracle choice)\n"
            "  static         mixture with input-independent weights (the router's mean over the data)\n"
            "  prompt-routed  mixture P = sum_k pi_k(prompt) sigmoid(s_k)\n"
            "  routed         mixture routed on the 'context' tensor (the prompt when absent)\n"
            "The last row averages over attributes (all pairs when there are none).\n"
            "  --json         machine-readable output\n"
            "  --no-heads     leave the per-head columns out of the table\n");
}

static const char *row_name(const mr_eval_result *r, int i)
{
    if (i == r->rows - 1)
        return r->by_attribute ? "average" : "all";
    return r->names[i];
}

static int print_json(const mr_model *m, const char *model, const char *data, const mr_eval_result *r)
{
    json_t *root = json_object(), *rows = json_array(), *sw = json_array();
    if (!root || !rows || !sw)
        return -1;
    json_object_set_new(root, "model", json_string(model));
    json_object_set_new(root, "fingerprint", json_string(m->fingerprint));
    json_object_set_new(root, "data", json_string(data));
    json_object_set_new(root, "K", json_integer(r->K));
    json_object_set_new(root, "router", json_string(mr_router_kind_name(m->router)));
    json_object_set_new(root, "context", json_boolean(r->has_context));
    json_object_set_new(root, "nll_routed", json_real(r->nll_routed));
    for (int k = 0; k < r->K; k++)
        json_array_append_new(sw, json_real(r->static_weights[k]));
    json_object_set_new(root, "static_weights", sw);
    for (int i = 0; i < r->rows; i++) {
        json_t *heads = json_array(), *o = json_object();
        for (int k = 0; k < r->K; k++)
            json_array_append_new(heads, json_real(r->head[(size_t)i * r->K + k]));
        json_object_set_new(o, "attribute", json_string(row_name(r, i)));
        json_object_set_new(o, "summary", json_boolean(i == r->rows - 1));
        json_object_set_new(o, "n", json_integer(r->count[i]));
        json_object_set_new(o, "heads", heads);
        json_object_set_new(o, "best_head", json_real(r->best_head[i]));
        json_object_set_new(o, "best_head_index", json_integer(r->best_index[i]));
        json_object_set_new(o, "static", json_real(r->static_mix[i]));
        json_object_set_new(o, "prompt_routed", json_real(r->prompt_routed[i]));
        json_object_set_new(o, "routed", json_real(r->routed[i]));
        json_array_append_new(rows, o);
    }
    json_object_set_new(root, "rows", rows);
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("\n");
    json_decref(root);
    return rc;
}

static void print_table(const mr_model *m, const mr_eval_result *r, int heads)
{
    printf("| attribute | n |");
    if (heads)
        for (int k = 0; k < r->K; k++)
            printf(" %s |", m->head_names[k]);
    printf(" best head | static | prompt-routed | routed |\n|---|---:|");
    if (heads)
        for (int k = 0; k < r->K; k++)
            printf("---:|");
    printf("---:|---:|---:|---:|\n");
    for (int i = 0; i < r->rows; i++) {
        int last = i == r->rows - 1;
        printf(last && r->by_attribute ? "| **%s** | %lld |" : "| %s | %lld |", row_name(r, i), (long long)r->count[i]);
        if (heads)
            for (int k = 0; k < r->K; k++)
                printf(" %.1f |", 100.0 * r->head[(size_t)i * r->K + k]);
        if (r->best_index[i] >= 0)
            printf(" %.1f (%s) |", 100.0 * r->best_head[i], m->head_names[r->best_index[i]]);
        else
            printf(" %.1f |", 100.0 * r->best_head[i]);
        printf(" %.1f | %.1f | %.1f |\n", 100.0 * r->static_mix[i], 100.0 * r->prompt_routed[i], 100.0 * r->routed[i]);
    }
    if (!r->has_context)
        printf("\n(no 'context' tensor: 'routed' uses the prompt)\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int json = 0, no_heads = 0;
    cli_flag flags[] = {
        {"--model", FLAG_STR, &model}, {"--data", FLAG_STR, &data},
        {"--json", FLAG_BOOL, &json},  {"--no-heads", FLAG_BOOL, &no_heads},
    };
    int rc = cli_parse("eval", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!model || !data) {
        fprintf(stderr, "microrm eval: --model and --data are required\n");
        usage(stderr);
        return 2;
    }
    cli_blas_deterministic();
    mr_error err;
    mr_model *m = mr_model_load(model, &err);
    if (!m) {
        fprintf(stderr, "microrm eval: %s\n", err.msg);
        return 2;
    }
    mr_dataset ds;
    if (mr_dataset_open(&ds, data, &err) < 0) {
        fprintf(stderr, "microrm eval: %s\n", err.msg);
        mr_model_free(m);
        return 2;
    }
    mr_eval_result r;
    if (mr_evaluate(m, &ds, &r, &err) < 0) {
        fprintf(stderr, "microrm eval: %s\n", err.msg);
        mr_dataset_close(&ds);
        mr_model_free(m);
        return 2;
    }
    rc = 0;
    if (json) {
        if (print_json(m, model, data, &r) < 0) {
            fprintf(stderr, "microrm eval: out of memory\n");
            rc = 1;
        }
    } else {
        print_table(m, &r, !no_heads);
    }
    if (fflush(stdout) != 0)
        rc = 1;
    mr_eval_result_free(&r);
    mr_dataset_close(&ds);
    mr_model_free(m);
    return rc;
}
