/* Synthetic preference data with a known ground truth (a mixture of
 * Bradley-Terry subpopulations), shaped like the paper's RPR setting:
 *
 *  - K true reward directions v_z (orthonormal when K <= d);
 *  - prompts u = c_t + noise around T topic centres; each topic has its own
 *    distribution over A named attributes, so the mixture depends on the prompt;
 *  - attribute a belongs to subpopulation z(a) = a mod K;
 *  - a pair (phi_a, phi_b) is labelled by sigmoid(margin * v_z . (phi_a - phi_b)),
 *    then flipped with probability label_noise;
 *  - responses differ most along what they are judged on: the difference
 *    along the judging attribute's direction is scaled by `focus`;
 *  - with probability `reversal` a pair comes as a twin: the same prompt and
 *    responses judged under two attributes whose directions disagree on it
 *    (a reasonable preference reversal), one row each;
 *  - context = u + strength * e_a + context_noise * noise reveals the attribute.
 *
 * Every row carries prompt, chosen, rejected, context and attribute. */
#ifndef MICRORM_CORE_SYNTH_H
#define MICRORM_CORE_SYNTH_H

#include <stdint.h>

#include "core/error.h"
#include "core/safetensors.h"

#define MR_SYNTH_MAX_ATTR 64

typedef struct {
    int64_t n_train, n_test;
    int d, dc;
    int K;                 /* true subpopulations */
    int A;                 /* attributes */
    int topics;
    double margin;         /* scale of the true reward differences */
    double label_noise;    /* probability a label is flipped */
    double context_strength, context_noise;
    double reversal;       /* probability a pair comes as a reversed twin */
    double topic_concentration; /* spread of each topic's attribute logits */
    double focus;          /* pair difference along the judged direction, relative to the others */
    uint64_t seed;
    st_dtype dtype;        /* of the written embeddings */
} mr_synth_opts;

/* 20000 train / 5000 test, d = dc = 64, K = 4, A = 8, 8 topics, margin 3,
 * label noise 0.05, context strength 1 and noise 1, reversal 0.3,
 * concentration 1.5, focus 2, seed 0, F32. */
void mr_synth_opts_default(mr_synth_opts *o);

typedef struct {
    /* expected accuracy on the test split of the generating model's Bayes
     * decision: knowing the attribute, and knowing only the prompt's topic */
    double bayes_context, bayes_prompt;
    double bayes_attr[MR_SYNTH_MAX_ATTR];   /* knowing the attribute, per attribute */
    int64_t count_attr[MR_SYNTH_MAX_ATTR];  /* test rows per attribute */
    double empirical_context;  /* fraction of test labels that agree with that decision */
    int64_t twins_train;       /* reversed twins in the training split */
} mr_synth_report;

/* Attribute name i (a fixed list of criteria, then "attrN"); buf >= 32 bytes. */
const char *mr_synth_attribute_name(int i, char *buf, int len);

/* The planted directions v [K * d] for these options (the same the writer uses). */
int mr_synth_directions(const mr_synth_opts *o, float *v, mr_error *e);

/* Write the train and test splits (atomically). */
int mr_synth(const mr_synth_opts *o, const char *train_path, const char *test_path, mr_synth_report *rep,
             mr_error *e);

#endif
