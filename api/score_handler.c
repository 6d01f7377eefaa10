/* POST /score: parse, run core scoring for each request of the body, answer
 * rewards, weights, optional per-head rewards and pairwise preferences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/score_request.h"
#include "api/user_id.h"
#include "core/alloc.h"
#include "core/json_writer.h"
#include "core/score.h"

/* Scratch for one scored request, sized for the largest request of a body. */
typedef struct {
    float *feat;     /* [F] router features */
    double *pi;      /* [K] */
    float *heads;    /* [n * K] */
} score_scratch;

static int scratch_alloc(score_scratch *s, const mr_model *m, int max_n)
{
    s->feat = mr_malloc(sizeof(float) * (size_t)mr_router_features(m));
    s->pi = mr_malloc(sizeof(double) * (size_t)m->K);
    s->heads = mr_malloc(sizeof(float) * (size_t)m->K * (size_t)max_n);
    return s->feat && s->pi && s->heads ? 0 : -1;
}

static void scratch_free(score_scratch *s)
{
    free(s->feat);
    free(s->pi);
    free(s->heads);
}

/* Keep what feedback on this scoring will need; event_id receives its id.
 * pop holds the population router's logits when they are already known
 * (else NULL: computed here if hedge needs them). */
static int keep_event(const api_ctx *ctx, const mr_score_req *q, const score_scratch *s, double *pop,
                      char *event_id, size_t cap, api_error *err)
{
    const mr_model *m = ctx->model;
    api_event ev = {.n = q->n, .K = m->K, .heads = s->heads};
    double own[MR_MAX_HEADS];
    if (ctx->state->adapt->mode == MR_ADAPT_HEDGE) {   /* K numbers instead of F */
        if (!pop) {
            mr_router_logits(m, s->feat, NULL, NULL, own);
            pop = own;
        }
        ev.pop = pop;
    } else {
        ev.F = mr_router_features(m);
        ev.feat = s->feat;
    }
    if (q->event)
        snprintf(ev.id, sizeof ev.id, "%s", q->event);
    else
        ctx->state->event_new_id(ctx->state->impl, ev.id, sizeof ev.id);
    snprintf(ev.user, sizeof ev.user, "%s", q->user ? q->user : "");
    memcpy(ev.fingerprint, m->fingerprint, sizeof ev.fingerprint);
    snprintf(event_id, cap, "%s", ev.id);
    return ctx->state->event_put(ctx->state->impl, &ev, err);
}

/* Score one request and write its answer object; -1 with err set when it
 * cannot be kept (store or event memory). */
static int score_one(const api_ctx *ctx, const mr_score_req *q, score_scratch *s, json_writer *w,
                     api_error *err)
{
    const mr_model *m = ctx->model;
    int K = m->K, known = 0;
    uint64_t version = 0, updates = 0;
    char event_id[160] = "";
    mr_router_features_of(m, q->context, s->feat);
    if (q->user && ctx->state) {
        known = ctx->state->user_weights(ctx->state->impl, q->user, m, s->feat, s->pi, &version, &updates, err);
        if (known < 0)
            return -1;
    }
    double pop[MR_MAX_HEADS];
    if (!known) {   /* the population router; its logits serve the event too */
        mr_router_logits(m, s->feat, NULL, NULL, pop);
        mr_router_weights_from_logits(m, pop, NULL, s->pi);
    }
    mr_head_rewards(m, q->responses, q->n, s->heads);
    if (ctx->state && keep_event(ctx, q, s, known ? NULL : pop, event_id, sizeof event_id, err) != 0)
        return -1;

    jw_object_begin(w);
    jw_key(w, "rewards");
    jw_array_begin(w);
    for (int i = 0; i < q->n; i++)
        jw_real(w, mr_reward(m, s->pi, s->heads + (size_t)i * K));
    jw_array_end(w);
    jw_key(w, "weights");
    jw_array_begin(w);
    for (int k = 0; k < K; k++)
        jw_real(w, s->pi[k]);
    jw_array_end(w);
    if (q->include_heads) {
        jw_key(w, "heads");
        jw_array_begin(w);
        for (int i = 0; i < q->n; i++) {
            jw_array_begin(w);
            for (int k = 0; k < K; k++)
                jw_real(w, s->heads[(size_t)i * K + k]);
            jw_array_end(w);
        }
        jw_array_end(w);
    }
    if (q->n_pairs > 0) {
        jw_key(w, "preferences");
        jw_array_begin(w);
        for (int p = 0; p < q->n_pairs; p++) {
            const float *hi = s->heads + (size_t)q->pairs[p][0] * K;
            const float *hj = s->heads + (size_t)q->pairs[p][1] * K;
            jw_real(w, mr_preference(m, s->pi, hi, hj));
        }
        jw_array_end(w);
    }
    if (q->user) {
        jw_key(w, "user");
        jw_object_begin(w);
        jw_key(w, "id");
        jw_string(w, q->user);
        jw_key(w, "known");
        jw_bool(w, known);
        if (known) {
            jw_key(w, "version");
            jw_int(w, (long long)version);
            jw_key(w, "updates");
            jw_int(w, (long long)updates);
        }
        jw_object_end(w);
    }
    if (event_id[0]) {
        jw_key(w, "event");
        jw_string(w, event_id);
    }
    jw_key(w, "model");
    jw_string(w, m->fingerprint);
    jw_object_end(w);
    return 0;
}

int api_handle_score(const api_ctx *ctx, const api_request *req, api_response *res)
{
    api_error err;
    const mr_model *m = ctx->model;
    if (!m) {
        api_fail(&err, 503, "not_ready", "", "no model is loaded yet");
        api_respond_error(res, &err);
        return 0;
    }
    mr_score_limits lim = {
        .d = m->d, .dc = m->dc,
        .max_responses = ctx->cfg->max_responses,
        .max_batch = ctx->cfg->max_batch,
        .max_pairs = ctx->cfg->max_pairs,
    };
    mr_score_body body;
    if (mr_parse_score_body(req->body ? req->body : "", req->body_len, &lim, &body, &err)) {
        api_respond_error(res, &err);
        return 0;
    }
    /* the same user-id policy as every other endpoint */
    for (int i = 0; i < body.n; i++) {
        const char *u = body.items[i].user;
        char why[160], field[48] = "user";
        if (!u || api_user_id_valid(u, strlen(u), why, sizeof why))
            continue;
        if (body.is_batch)
            snprintf(field, sizeof field, "batch[%d].user", i);
        api_fail(&err, 400, "bad_user", field, "%s", why);
        api_respond_error(res, &err);
        mr_score_body_free(&body);
        return 0;
    }

    int max_n = 0;
    for (int i = 0; i < body.n; i++)
        if (body.items[i].n > max_n)
            max_n = body.items[i].n;
    score_scratch s = {0};
    json_writer w;
    jw_init(&w);
    int failed = scratch_alloc(&s, m, max_n);
    if (failed)
        api_fail(&err, 500, "internal", "", "out of memory for the scores");
    if (!failed && body.is_batch) {
        jw_object_begin(&w);
        jw_key(&w, "results");
        jw_array_begin(&w);
    }
    for (int i = 0; i < body.n && !failed; i++)
        failed = score_one(ctx, &body.items[i], &s, &w, &err);
    if (!failed && body.is_batch) {
        jw_array_end(&w);
        jw_object_end(&w);
    }
    scratch_free(&s);
    mr_score_body_free(&body);
    if (!failed && w.non_finite) {
        failed = 1;
        api_fail(&err, 400, "non_finite", "",
                 "the scores overflow to infinity or NaN: the input values are too large for this model");
    }
    char *text = jw_finish(&w, NULL);
    if (!failed && !text) {
        failed = 1;
        api_fail(&err, 500, "internal", "", "out of memory while building the answer");
    }
    if (failed) {
        free(text);
        api_respond_error(res, &err);
        return 0;
    }
    api_respond_text(res, 200, "application/json", text);
    return 0;
}
