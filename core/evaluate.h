/* Accuracy of a model on a preference dataset, per attribute (the paper's
 * Tables 2, 3, 7, 8): every head alone, the best head (an oracle that picks
 * per attribute), the static mixture (population-average weights), the
 * mixture routed on the prompt, and the mixture routed on the context. A pair
 * counts as correct when the predicted P(chosen > rejected) > 0.5 (a tie is
 * half right). */
#ifndef MICRORM_CORE_EVALUATE_H
#define MICRORM_CORE_EVALUATE_H

#include <stdint.h>

#include "core/dataset.h"
#include "core/error.h"
#include "core/model.h"

typedef struct {
    int K;
    int rows;            /* attributes + 1 (the last row is the summary) */
    int by_attribute;    /* 1 if the dataset has attributes; the summary is then their mean */
    int has_context;     /* 0: "routed" uses the prompt */
    const char *const *names; /* [rows - 1] borrowed from the dataset */
    int64_t *count;      /* [rows] pairs; the summary row counts all pairs */
    double *head;        /* [rows * K] */
    double *best_head;   /* [rows] max over heads per attribute (summary: mean of those) */
    int *best_index;     /* [rows] (summary: -1) */
    double *static_mix;  /* [rows] weights = mean of pi(prompt) over the dataset */
    double *prompt_routed; /* [rows] */
    double *routed;      /* [rows] router on the context (on the prompt without one) */
    double *static_weights; /* [K] */
    double nll_routed;   /* mean -log P(chosen > rejected), routed on the context */
} mr_eval_result;

int mr_evaluate(const mr_model *m, const mr_dataset *ds, mr_eval_result *r, mr_error *e);
void mr_eval_result_free(mr_eval_result *r);

#endif
