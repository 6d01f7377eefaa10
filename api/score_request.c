/* POST /score bodies -> mr_score_body, with the pull parser of
 * api/json_reader: JSON number arrays are parsed straight into the float
 * buffers; base64 vectors are decoded into them too, in the pass that finds
 * the string's end, and converted and checked once the whole body is read,
 * because "dtype" may come after them (decoding bytes does not depend on it).
 * A string that is not clean base64 is kept as a slice and decoded at the
 * end by the strict decoder, which names the error. */
#include "api/score_request.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/body_fields.h"
#include "core/alloc.h"

/* What one request object held, beyond the mr_score_req fields. */
typedef struct {
    mr_score_req req;
    int dtype;        /* -1 when the object had none */
    int resp_cap;     /* rows allocated in req.responses */
    int pairs_cap;
    bool has_context, has_responses, has_pairs, has_user, has_event, has_heads;
    char prefix[64];  /* "" or "batch[3]." */
} item_state;

typedef struct {
    body_fields f;    /* the reader, the error and the pending base64 vectors */
    const mr_score_limits *lim;
    item_state top;
    item_state *items;
    int nitems, cap_items;
    bool is_batch;
} parser;

/* ---- vectors ---- */

static item_state *item_at(parser *P, int item)
{
    return item < 0 ? &P->top : &P->items[item];
}

static int parse_responses(parser *P, int item)
{
    item_state *it = item_at(P, item);
    if (jr_peek(&P->f.r) != JR_ARRAY)
        return bf_wrong_type(&P->f, "expected an array of vectors");
    if (jr_array_begin(&P->f.r))
        return bf_reader_error(&P->f);
    int d = P->lim->d, k;
    while ((k = jr_array_next(&P->f.r)) > 0) {
        it = item_at(P, item);
        if (it->req.n >= P->lim->max_responses)
            return api_fail(P->f.err, 422, "too_many", bf_path(&P->f), "more than %d responses",
                            P->lim->max_responses);
        if (it->req.n == it->resp_cap) {
            float *nr = bf_grow(&P->f, it->req.responses, &it->resp_cap, (size_t)d * sizeof(float), 4,
                                P->lim->max_responses);
            if (!nr)
                return -1;
            it->req.responses = nr;
        }
        if (bf_vector(&P->f, it->req.responses + (size_t)it->req.n * (size_t)d, d, item, it->req.n))
            return -1;
        it->req.n++;
    }
    if (k < 0)
        return bf_reader_error(&P->f);
    it = item_at(P, item);
    if (it->req.n == 0)
        return api_fail(P->f.err, 422, "empty", bf_path(&P->f), "no responses to score");
    return 0;
}

/* ---- pairs ---- */

static int parse_pairs(parser *P, item_state *it)
{
    if (jr_peek(&P->f.r) != JR_ARRAY)
        return bf_wrong_type(&P->f, "expected an array of [i, j] pairs");
    if (jr_array_begin(&P->f.r))
        return bf_reader_error(&P->f);
    int k;
    while ((k = jr_array_next(&P->f.r)) > 0) {
        if (it->req.n_pairs >= P->lim->max_pairs)
            return api_fail(P->f.err, 422, "too_many", bf_path(&P->f), "more than %d pairs", P->lim->max_pairs);
        if (jr_peek(&P->f.r) != JR_ARRAY)
            return bf_wrong_type(&P->f, "expected a pair [i, j] of response indices");
        if (it->req.n_pairs == it->pairs_cap) {
            int (*np)[2] = bf_grow(&P->f, it->req.pairs, &it->pairs_cap, sizeof *np, 8, 0);
            if (!np)
                return -1;
            it->req.pairs = np;
        }
        if (jr_array_begin(&P->f.r))
            return bf_reader_error(&P->f);
        long long v[2];
        int got = 0, m;
        while ((m = jr_array_next(&P->f.r)) > 0) {
            if (got == 2)
                return api_fail(P->f.err, 400, "bad_type", bf_path(&P->f), "a pair has exactly 2 indices");
            if (jr_read_int(&P->f.r, &v[got]))
                return bf_reader_error(&P->f);
            got++;
        }
        if (m < 0)
            return bf_reader_error(&P->f);
        if (got != 2)
            return api_fail(P->f.err, 400, "bad_type", bf_path(&P->f), "a pair has exactly 2 indices");
        for (int i = 0; i < 2; i++)
            it->req.pairs[it->req.n_pairs][i] = v[i] < -1 ? -1 : v[i] > INT_MAX ? INT_MAX : (int)v[i];
        it->req.n_pairs++;
    }
    return k < 0 ? bf_reader_error(&P->f) : 0;
}

/* ---- request objects ---- */

static int parse_batch(parser *P);

/* One member of a request object; item -1 is the top level. */
static int parse_member(void *ctx, int item, const jr_slice *key)
{
    parser *P = ctx;
#define IS(name) (key->len == sizeof(name) - 1 && memcmp(key->p, name, sizeof(name) - 1) == 0)
    item_state *it = item_at(P, item);
    if (!(IS("context") || IS("responses") || IS("pairs") || IS("user") || IS("event") ||
          IS("include_heads") || IS("dtype") || IS("batch")))
        return jr_skip(&P->f.r) ? bf_reader_error(&P->f) : 0;
    if (jr_peek(&P->f.r) == JR_NULL) /* an explicit null is an absent field */
        return jr_skip(&P->f.r) ? bf_reader_error(&P->f) : 0;

    if (IS("context")) {
        it->has_context = true;
        it->req.context = mr_malloc((size_t)P->lim->dc * sizeof(float));
        if (!it->req.context)
            return bf_oom(&P->f);
        return bf_vector(&P->f, it->req.context, P->lim->dc, item, -1);
    }
    if (IS("responses")) {
        it->has_responses = true;
        return parse_responses(P, item);
    }
    if (IS("pairs")) {
        it->has_pairs = true;
        return parse_pairs(P, it);
    }
    if (IS("user")) {
        it->has_user = true;
        return bf_string(&P->f, &it->req.user, 256, "expected a user id string");
    }
    if (IS("event")) {
        it->has_event = true;
        return bf_string(&P->f, &it->req.event, 128, "expected an event id string");
    }
    if (IS("include_heads")) {
        it->has_heads = true;
        return jr_read_bool(&P->f.r, &it->req.include_heads) ? bf_reader_error(&P->f) : 0;
    }
    if (IS("dtype"))
        return bf_dtype(&P->f, &it->dtype);
    /* "batch" */
    if (item >= 0)
        return api_fail(P->f.err, 400, "bad_value", bf_path(&P->f), "a batch item cannot hold a batch");
    P->is_batch = true;
    return parse_batch(P);
#undef IS
}

/* After a request object: required fields present, pairs within range. */
static int check_item(parser *P, item_state *it)
{
    char path[128];
    if (!it->has_context || !it->has_responses) {
        snprintf(path, sizeof path, "%s%s", it->prefix, !it->has_context ? "context" : "responses");
        return api_fail(P->f.err, 400, "missing_field", path, "missing required field");
    }
    for (int k = 0; k < it->req.n_pairs; k++) {
        int i = it->req.pairs[k][0], j = it->req.pairs[k][1];
        if (i >= 0 && i < it->req.n && j >= 0 && j < it->req.n && i != j)
            continue;
        snprintf(path, sizeof path, "%spairs[%d]", it->prefix, k);
        if (i < 0 || i >= it->req.n || j < 0 || j >= it->req.n)
            return api_fail(P->f.err, 422, "bad_pair", path, "index out of range (%d responses)", it->req.n);
        if (i == j)
            return api_fail(P->f.err, 422, "bad_pair", path, "compares response %d with itself", i);
    }
    return 0;
}

static int read_batch_item(void *ctx, int idx)
{
    parser *P = ctx;
    if (P->nitems == P->cap_items) {
        item_state *ni = bf_grow(&P->f, P->items, &P->cap_items, sizeof *ni, 4, 0);
        if (!ni)
            return -1;
        P->items = ni;
    }
    item_state *it = &P->items[P->nitems++];   /* P->nitems was idx */
    memset(it, 0, sizeof *it);
    it->dtype = -1;
    snprintf(it->prefix, sizeof it->prefix, "batch[%d].", idx);
    if (bf_read_object(&P->f, parse_member, P, idx) || check_item(P, &P->items[idx]))
        return -1;
    return 0;
}

static int parse_batch(parser *P)
{
    return bf_read_object_array(&P->f, P->lim->max_batch, "batch", "request", "batch items",
                                "no requests in the batch", read_batch_item, P);
}

/* ---- base64, once every dtype is known ---- */

static int decode_pending(parser *P, mr_score_body *out)
{
    for (size_t i = 0; i < P->f.npend; i++) {
        const bf_pending *pb = &P->f.pend[i];
        int dt = P->top.dtype;
        if (pb->item >= 0 && P->items[pb->item].dtype >= 0)
            dt = P->items[pb->item].dtype;
        /* pb->dst may have moved with a grown responses buffer: found again by row. */
        mr_score_req *q = &out->items[pb->item < 0 ? 0 : pb->item];
        int dim = pb->row < 0 ? P->lim->dc : P->lim->d;
        float *dst = pb->row < 0 ? q->context : q->responses + (size_t)pb->row * (size_t)P->lim->d;
        if (bf_finish_vector(&P->f, pb, dst, dim, dt))
            return -1;
    }
    return 0;
}

static void req_free(mr_score_req *q)
{
    free(q->user);
    free(q->event);
    free(q->context);
    free(q->responses);
    free(q->pairs);
    memset(q, 0, sizeof *q);
}

void mr_score_body_free(mr_score_body *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n; i++)
        req_free(&b->items[i]);
    free(b->items);
    memset(b, 0, sizeof *b);
}

static int parse_all(parser *P, mr_score_body *out)
{
    if (bf_read_body(&P->f, parse_member, P))
        return -1;

    item_state *top = &P->top;
    if (P->is_batch) {
        const char *extra = top->has_context ? "context" : top->has_responses ? "responses"
                          : top->has_pairs ? "pairs" : top->has_user ? "user" : top->has_event ? "event"
                          : top->has_heads ? "include_heads" : NULL;
        if (extra)
            return api_fail(P->f.err, 400, "bad_value", extra,
                            "not allowed beside \"batch\" (put it in each batch item)");
        out->items = P->nitems ? mr_calloc((size_t)P->nitems, sizeof *out->items) : NULL;
        if (!out->items)
            return bf_oom(&P->f);
        for (int i = 0; i < P->nitems; i++) {
            out->items[i] = P->items[i].req;
            memset(&P->items[i].req, 0, sizeof P->items[i].req);
        }
        out->n = P->nitems;
        out->is_batch = true;
    } else {
        if (check_item(P, top))
            return -1;
        out->items = mr_calloc(1, sizeof *out->items);
        if (!out->items)
            return bf_oom(&P->f);
        out->items[0] = top->req;
        memset(&top->req, 0, sizeof top->req);
        out->n = 1;
    }
    return decode_pending(P, out);
}

int mr_parse_score_body(const char *body, size_t len, const mr_score_limits *lim, mr_score_body *out,
                        api_error *err)
{
    memset(out, 0, sizeof *out);
    parser P;
    memset(&P, 0, sizeof P);
    bf_init(&P.f, body, len, err);
    P.lim = lim;
    P.top.dtype = -1;

    int rc = parse_all(&P, out);

    bf_free(&P.f);
    req_free(&P.top.req);
    for (int i = 0; i < P.nitems; i++)
        req_free(&P.items[i].req);
    free(P.items);
    if (rc)
        mr_score_body_free(out);
    return rc;
}
