/* The online-routing endpoints: POST /route/update (direct, event and list
 * forms), GET /route/{user}, DELETE /route/{user}. The math is core's
 * (mr_user_update); locking, storage and durability are the server's,
 * reached through api_state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/update_request.h"
#include "api/user_id.h"
#include "core/alloc.h"
#include "core/score.h"
#include "core/user_state.h"

/* One feedback reduced to what the update needs. */
typedef struct {
    float *feat;    /* [F] router features of the context */
    double *pop;    /* [K] or, from a hedge event, the population logits there (else NULL) */
    float *hc;      /* [K] head rewards of the chosen response */
    float *hr;      /* [K] of the rejected one */
} resolved;

typedef struct {
    const mr_model *m;
    const mr_adapt_params *ap;
    resolved *items;
    int n;
    uint64_t key_hash;       /* 0: no idempotency key */
    /* results */
    mr_before *before;       /* [n] */
    bool replay;
    mr_idem_entry replayed;
    uint64_t version, updates;
    double *pi;              /* [K] weights after, at the last feedback's context */
} update_job;

static int no_state(api_response *res)
{
    api_error err;
    api_fail(&err, 503, "not_ready", "", "the user store is not open");
    api_respond_error(res, &err);
    return 0;
}

static int fail(api_response *res, api_error *err)
{
    api_respond_error(res, err);
    return 0;
}

/* Look an event up for feedback item i; the user must be the event's own. */
static int resolve_event(const api_ctx *ctx, const mr_feedback *f, int i, const char **user,
                         resolved *out, char *user_buf, api_error *err)
{
    const mr_model *m = ctx->model;
    char field[64] = "event";
    if (i >= 0)
        snprintf(field, sizeof field, "feedback[%d].event", i);
    api_event ev;
    int rc = ctx->state->event_get(ctx->state->impl, f->event, &ev);
    if (rc < 0)
        return api_fail(err, 500, "internal", field, "out of memory reading the event");
    if (rc == 0)
        return api_fail(err, 404, "event_not_found", field,
                        "event '%s' is unknown or expired (events are kept %d s)", f->event, ctx->cfg->event_ttl);
    int status = 0;
    if (ev.user[0] && *user && strcmp(ev.user, *user) != 0)
        status = api_fail(err, 404, "event_not_found", field, "event '%s' is not an event of user '%s'",
                          f->event, *user);
    else if (strcmp(ev.fingerprint, m->fingerprint) != 0)
        status = api_fail(err, 409, "model_changed", field,
                          "event '%s' was scored by another model; send the embeddings instead", f->event);
    else if (f->chosen_idx >= ev.n || f->rejected_idx >= ev.n)
        status = api_fail(err, 422, "bad_pair", field, "the event has %d responses; chosen %d / rejected %d is out of range",
                          ev.n, f->chosen_idx, f->rejected_idx);
    if (status == 0) {
        if (!*user && ev.user[0]) {
            memcpy(user_buf, ev.user, strlen(ev.user) + 1);
            *user = user_buf;
        }
        if (ev.pop) {
            memcpy(out->pop, ev.pop, sizeof(double) * (size_t)m->K);
        } else {
            memcpy(out->feat, ev.feat, sizeof(float) * (size_t)ev.F);
            out->pop = NULL;
        }
        memcpy(out->hc, ev.heads + (size_t)f->chosen_idx * m->K, sizeof(float) * (size_t)m->K);
        memcpy(out->hr, ev.heads + (size_t)f->rejected_idx * m->K, sizeof(float) * (size_t)m->K);
    }
    free(ev.heads);
    free(ev.feat);
    free(ev.pop);
    return status;
}

/* The answer's weights: the user's at the last feedback's context. */
static void weights_after(const mr_user_state *st, update_job *job)
{
    const resolved *last = &job->items[job->n - 1];
    if (last->pop)
        mr_user_weights_pop(st, job->m, last->pop, job->pi);
    else
        mr_user_weights(st, job->m, last->feat, job->pi);
}

static int apply_update(mr_user_state *st, void *arg, api_error *err)
{
    update_job *job = arg;
    if (job->key_hash) {
        const mr_idem_entry *hit = mr_user_find_key(st, job->key_hash);
        if (hit) {
            job->replay = true;
            job->replayed = *hit;
            job->version = hit->version;
            job->updates = hit->updates;
            weights_after(st, job);
            return 1;
        }
    }
    for (int i = 0; i < job->n; i++) {
        mr_error e = {{0}};
        const resolved *r = &job->items[i];
        int rc = r->pop ? mr_user_update_pop(st, job->m, job->ap, r->pop, r->hc, r->hr, &job->before[i], &e)
                        : mr_user_update(st, job->m, job->ap, r->feat, r->hc, r->hr, &job->before[i], &e);
        if (rc != 0)
            return api_fail(err, 500, "internal", "", "%s", e.msg);
    }
    st->version++;
    if (job->key_hash) {
        mr_idem_entry ent = {
            .key_hash = job->key_hash, .version = st->version, .updates = st->updates,
            .p_chosen = (float)job->before[0].p_chosen, .correct = job->before[0].correct,
        };
        mr_user_remember_key(st, &ent);
    }
    job->version = st->version;
    job->updates = st->updates;
    weights_after(st, job);
    return 0;
}

/* float precision, as an idempotent replay keeps it: both answers agree */
static json_t *before_json(double p, bool correct)
{
    return json_pack("{s:f, s:b}", "p_chosen", (double)(float)p, "correct", correct);
}

static json_t *update_answer(const char *user, const update_job *job, const mr_model *m, bool is_list)
{
    json_t *weights = json_array();
    for (int k = 0; k < m->K && weights; k++)
        if (json_array_append_new(weights, json_real(job->pi[k]))) {
            json_decref(weights);
            weights = NULL;
        }
    json_t *before;
    if (job->replay) {
        before = before_json(job->replayed.p_chosen, job->replayed.correct);
    } else if (!is_list) {
        before = before_json(job->before[0].p_chosen, job->before[0].correct);
    } else {
        before = json_array();
        for (int i = 0; i < job->n && before; i++)
            if (json_array_append_new(before, before_json(job->before[i].p_chosen, job->before[i].correct))) {
                json_decref(before);
                before = NULL;
            }
    }
    return json_pack("{s:s, s:I, s:I, s:o*, s:o*, s:b}", "user", user, "version", (json_int_t)job->version,
                     "updates", (json_int_t)job->updates, "weights", weights, "before", before,
                     "replayed", job->replay);
}

int api_handle_route_update(const api_ctx *ctx, const api_request *req, api_response *res)
{
    const mr_model *m = ctx->model;
    api_error err;
    if (!m)
        return no_state(res);
    if (!ctx->state)
        return no_state(res);
    mr_update_limits lim = {.d = m->d, .dc = m->dc, .max_feedback = ctx->cfg->max_batch};
    mr_update_body body;
    if (mr_parse_update_body(req->body ? req->body : "", req->body_len, &lim, &body, &err) != 0)
        return fail(res, &err);

    int K = m->K, F = mr_router_features(m), n = body.n;
    float *buf = mr_malloc(sizeof(float) * (size_t)n * (size_t)(F + 2 * K));
    double *pops = mr_malloc(sizeof(double) * (size_t)n * (size_t)K);
    resolved *items = mr_calloc((size_t)n, sizeof *items);
    mr_before *before = mr_calloc((size_t)n, sizeof *before);
    double *pi = mr_calloc((size_t)K, sizeof *pi);
    int status = 0;
    if (!buf || !pops || !items || !before || !pi)
        status = api_fail(&err, 500, "internal", "", "out of memory");

    const char *user = body.user;
    char user_buf[API_USER_ID_MAX + 1];
    for (int i = 0; i < n && !status; i++) {
        resolved *r = &items[i];
        r->feat = buf + (size_t)i * (size_t)(F + 2 * K);
        r->hc = r->feat + F;
        r->hr = r->hc + K;
        const mr_feedback *f = &body.items[i];
        if (f->is_event) {
            r->pop = pops + (size_t)i * (size_t)K;
            status = resolve_event(ctx, f, body.is_list ? i : -1, &user, r, user_buf, &err);
        } else {
            mr_router_features_of(m, f->context, r->feat);
            mr_head_rewards(m, f->chosen, 1, r->hc);
            mr_head_rewards(m, f->rejected, 1, r->hr);
        }
    }
    if (!status && !user)
        status = api_fail(&err, 400, "missing_field", "user",
                          "a user is required (the events named were scored without one)");

    update_job job = {
        .m = m, .ap = ctx->state->adapt, .items = items, .n = n, .before = before, .pi = pi,
        .key_hash = body.id ? mr_idem_hash(body.id, strlen(body.id)) : 0,
    };
    api_commit *commit = NULL;
    if (!status)
        status = ctx->state->user_update(ctx->state->impl, user, m, apply_update, &job, &commit, &err);
    if (!status) {
        api_respond_json(res, 200, update_answer(user, &job, m, body.is_list));
        res->commit = commit;
        if (!job.replay) {
            res->feedback.n = (unsigned)n;
            for (int i = 0; i < n; i++) {
                res->feedback.correct += before[i].correct;
                res->feedback.logloss += before[i].logloss;
            }
        }
    } else {
        api_respond_error(res, &err);
    }
    free(buf);
    free(pops);
    free(items);
    free(before);
    free(pi);
    mr_update_body_free(&body);
    return 0;
}

static int check_user_arg(const api_request *req, api_response *res)
{
    char why[160];
    const char *u = req->path_arg ? req->path_arg : "";
    if (api_user_id_valid(u, strlen(u), why, sizeof why))
        return 0;
    api_error err;
    api_fail(&err, 400, "bad_user", "user", "%s", why);
    api_respond_error(res, &err);
    return -1;
}

int api_handle_route_get(const api_ctx *ctx, const api_request *req, api_response *res)
{
    const mr_model *m = ctx->model;
    api_error err;
    if (!m || !ctx->state)
        return no_state(res);
    if (check_user_arg(req, res) != 0)
        return 0;
    mr_user_state st;
    int rc = ctx->state->user_get(ctx->state->impl, req->path_arg, m, &st, &err);
    if (rc < 0)
        return fail(res, &err);
    if (rc == 0) {
        api_fail(&err, 404, "user_not_found", "", "user '%s' is not known", req->path_arg);
        return fail(res, &err);
    }
    double pi[MR_MAX_HEADS];
    mr_user_prior(&st, m, pi);
    json_t *weights = json_array();
    for (int k = 0; k < m->K && weights; k++)
        if (json_array_append_new(weights, json_real(pi[k]))) {
            json_decref(weights);
            weights = NULL;
        }
    double acc = st.scored ? (double)st.correct / (double)st.scored : 0.0;
    double ll = st.scored ? st.logloss_sum / (double)st.scored : 0.0;
    json_t *root = json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:f, s:f}, s:o*, s:I, s:I, s:s}",
                             "user", req->path_arg,
                             "mode", st.mode == MR_ADAPT_ROUTER ? "router" : "hedge",
                             "version", (json_int_t)st.version, "updates", (json_int_t)st.updates,
                             "prequential", "scored", (json_int_t)st.scored, "correct", (json_int_t)st.correct,
                             "accuracy", acc, "mean_logloss", ll,
                             "weights", weights,
                             "created_ms", (json_int_t)st.created_ms, "updated_ms", (json_int_t)st.updated_ms,
                             "model", st.fingerprint);
    mr_user_free(&st);
    api_respond_json(res, 200, root);
    return 0;
}

int api_handle_route_delete(const api_ctx *ctx, const api_request *req, api_response *res)
{
    api_error err;
    if (!ctx->state)
        return no_state(res);
    if (check_user_arg(req, res) != 0)
        return 0;
    api_commit *commit = NULL;
    if (ctx->state->user_delete(ctx->state->impl, req->path_arg, &commit, &err) < 0)
        return fail(res, &err);
    /* 204 whether or not the user existed: afterwards it does not */
    res->status = 204;
    res->body = NULL;
    res->body_len = 0;
    res->content_type = "application/json";
    res->commit = commit;
    return 0;
}
