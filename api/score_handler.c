/* POST /score: parse, run core scoring for each request of the body, answer
 * rewards, weights, optional per-head rewards and pairwise preferences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/score_request.h"
#include "api/user_id.h"
#include "core/alloc.h"
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

/* jansson returns NULL (and append returns -1) on OOM or a non-finite real:
 * every append is checked, and one failure fails the answer. */
static int append_real(json_t *arr, double v)
{
    return json_array_append_new(arr, json_real(v));
}

/* Keep what feedback on this scoring will need; event_id receives its id. */
static int keep_event(const api_ctx *ctx, const mr_score_req *q, const score_scratch *s, char *event_id,
                      size_t cap, api_error *err)
{
    const mr_model *m = ctx->model;
    api_event ev = {.n = q->n, .K = m->K, .F = mr_router_features(m), .heads = s->heads, .feat = s->feat};
    if (q->event)
        snprintf(ev.id, sizeof ev.id, "%s", q->event);
    else
        ctx->state->event_new_id(ctx->state->impl, ev.id, sizeof ev.id);
    snprintf(ev.user, sizeof ev.user, "%s", q->user ? q->user : "");
    memcpy(ev.fingerprint, m->fingerprint, sizeof ev.fingerprint);
    snprintf(event_id, cap, "%s", ev.id);
    return ctx->state->event_put(ctx->state->impl, &ev, err);
}

static json_t *score_one(const api_ctx *ctx, const mr_score_req *q, score_scratch *s, api_error *err)
{
    const mr_model *m = ctx->model;
    int K = m->K, ok = 0, known = 0;
    uint64_t version = 0, updates = 0;
    char event_id[160] = "";
    mr_router_features_of(m, q->context, s->feat);
    if (q->user && ctx->state) {
        known = ctx->state->user_weights(ctx->state->impl, q->user, m, s->feat, s->pi, &version, &updates, err);
        if (known < 0)
            return NULL;
    }
    if (!known)   /* the population router */
        mr_router_weights(m, s->feat, NULL, NULL, NULL, s->pi);
    mr_head_rewards(m, q->responses, q->n, s->heads);
    if (ctx->state && keep_event(ctx, q, s, event_id, sizeof event_id, err) != 0)
        return NULL;

    json_t *out = json_object(), *rewards = json_array(), *weights = json_array();
    if (!out || !rewards || !weights) {
        json_decref(rewards);
        json_decref(weights);
        json_decref(out);
        return NULL;
    }
    ok |= json_object_set_new(out, "rewards", rewards);
    ok |= json_object_set_new(out, "weights", weights);
    for (int i = 0; i < q->n; i++)
        ok |= append_real(rewards, mr_reward(m, s->pi, s->heads + (size_t)i * K));
    for (int k = 0; k < K; k++)
        ok |= append_real(weights, s->pi[k]);

    if (q->include_heads) {
        json_t *heads = json_array();
        ok |= json_object_set_new(out, "heads", heads);
        for (int i = 0; i < q->n && heads; i++) {
            json_t *row = json_array();
            ok |= json_array_append_new(heads, row);
            for (int k = 0; k < K && row; k++)
                ok |= append_real(row, s->heads[(size_t)i * K + k]);
        }
    }
    if (q->n_pairs > 0) {
        json_t *prefs = json_array();
        ok |= json_object_set_new(out, "preferences", prefs);
        for (int p = 0; p < q->n_pairs && prefs; p++) {
            const float *hi = s->heads + (size_t)q->pairs[p][0] * K;
            const float *hj = s->heads + (size_t)q->pairs[p][1] * K;
            ok |= append_real(prefs, mr_preference(m, s->pi, hi, hj));
        }
    }
    if (q->user && known)
        ok |= json_object_set_new(out, "user", json_pack("{s:s, s:b, s:I, s:I}", "id", q->user, "known", 1,
                                                         "version", (json_int_t)version,
                                                         "updates", (json_int_t)updates));
    else if (q->user)
        ok |= json_object_set_new(out, "user", json_pack("{s:s, s:b}", "id", q->user, "known", 0));
    if (event_id[0])
        ok |= json_object_set_new(out, "event", json_string(event_id));
    ok |= json_object_set_new(out, "model", json_string(m->fingerprint));
    if (ok) {
        json_decref(out);
        api_fail(err, 500, "internal", "", "out of memory while building the answer");
        return NULL;
    }
    return out;
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
    json_t *root = NULL;
    api_fail(&err, 500, "internal", "", "out of memory while building the answer");
    if (scratch_alloc(&s, m, max_n) == 0) {
        if (!body.is_batch) {
            root = score_one(ctx, &body.items[0], &s, &err);
        } else {
            json_t *results = json_array();
            root = json_object();
            /* set_new releases results itself when root is NULL or on failure */
            int failed = json_object_set_new(root, "results", results);
            for (int i = 0; i < body.n && !failed; i++)
                failed = json_array_append_new(results, score_one(ctx, &body.items[i], &s, &err));
            if (failed) {
                json_decref(root);
                root = NULL;
            }
        }
    }
    scratch_free(&s);
    mr_score_body_free(&body);
    if (!root) {
        api_respond_error(res, &err);
        return 0;
    }
    api_respond_json(res, 200, root);
    return 0;
}
