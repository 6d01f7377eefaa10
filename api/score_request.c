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

#include "api/json_reader.h"
#include "core/alloc.h"
#include "core/vector.h"

typedef struct {
    const char *p;
    size_t len;
    char *owned;      /* unescaped copy when the JSON string had escapes */
    bool decoded;     /* already decoded into its buffer (nbytes), by jr_read_base64 */
    size_t nbytes;
    int item;         /* -1: the top-level request */
    int row;          /* -1: the context, else the response index */
    char path[128];
} pending_b64;

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
    json_reader r;
    const mr_score_limits *lim;
    api_error *err;
    pending_b64 *pend;
    size_t npend, cap_pend;
    item_state top;
    item_state *items;
    int nitems, cap_items;
    bool is_batch;
} parser;

/* ---- errors ---- */

static int reader_error(parser *P)
{
    char path[128];
    jr_path(&P->r, path, sizeof path);
    const json_reader *r = &P->r;
    switch (r->status) {
    case JR_E_TYPE:
        return api_fail(P->err, 400, "bad_type", path, "%s", r->err_msg);
    case JR_E_RANGE:
        return api_fail(P->err, 400, "non_finite", path, "%s", r->err_msg);
    case JR_E_NOMEM:
        return api_fail(P->err, 500, "internal", path, "out of memory");
    default:
        return api_fail(P->err, 400, "bad_json", path, "invalid JSON at byte %zu: %s", r->err_off, r->err_msg);
    }
}

static int fail_here(parser *P, int status, const char *code, const char *fmt, const char *arg)
{
    char path[128];
    jr_path(&P->r, path, sizeof path);
    return api_fail(P->err, status, code, path, fmt, arg);
}

/* The next token starts no value: let the reader say why, as bad_json. */
static int not_a_value(parser *P)
{
    jr_skip(&P->r);
    return reader_error(P);
}

/* A field of the wrong JSON type (or broken JSON where a value should be). */
static int wrong_type(parser *P, const char *msg)
{
    jr_type t = jr_peek(&P->r);
    if (t == JR_END || t == JR_INVALID)
        return not_a_value(P);
    return fail_here(P, 400, "bad_type", "%s", msg);
}

static int oom(parser *P)
{
    return api_fail(P->err, 500, "internal", "", "out of memory");
}

/* ---- vectors ---- */

/* A base64 vector to finish once every dtype is known: either its text (s)
 * or, when jr_read_base64 already decoded it into its row, s = NULL and the
 * byte count. */
static int add_pending(parser *P, const jr_slice *s, size_t nbytes, char *owned, int item, int row)
{
    if (P->npend == P->cap_pend) {
        size_t nc = P->cap_pend ? P->cap_pend * 2 : 8;
        pending_b64 *np = mr_realloc(P->pend, nc * sizeof *np);
        if (!np) {
            free(owned);
            return oom(P);
        }
        P->pend = np;
        P->cap_pend = nc;
    }
    pending_b64 *pb = &P->pend[P->npend++];
    pb->p = s ? s->p : NULL;
    pb->len = s ? s->len : 0;
    pb->decoded = !s;
    pb->nbytes = nbytes;
    pb->owned = owned;
    pb->item = item;
    pb->row = row;
    jr_path(&P->r, pb->path, sizeof pb->path);
    return 0;
}

/* One vector of dim values into dst: a number array now, base64 later. */
static int parse_vector(parser *P, float *dst, int dim, int item, int row)
{
    jr_type t = jr_peek(&P->r);
    if (t == JR_ARRAY) {
        size_t count = 0, bad = 0;
        if (jr_read_float_array(&P->r, dst, (size_t)dim, &count, &bad))
            return reader_error(P);
        if (count != (size_t)dim) {
            char path[128];
            jr_path(&P->r, path, sizeof path);
            return api_fail(P->err, 400, "dimension_mismatch", path, "expected %d values, got %zu", dim, count);
        }
        return 0;
    }
    if (t == JR_STRING) {
        /* Decoded now into dst whatever the dtype (its bytes fit), checked
         * and converted at the end; anything unusual takes the strict path. */
        size_t nbytes = 0;
        int fast = jr_read_base64(&P->r, dst, (size_t)dim * sizeof(float), &nbytes);
        if (fast < 0)
            return reader_error(P);
        if (fast)
            return add_pending(P, NULL, nbytes, NULL, item, row);
        jr_slice s;
        char *owned;
        if (jr_read_string(&P->r, &s, &owned))
            return reader_error(P);
        return add_pending(P, &s, 0, owned, item, row);
    }
    return wrong_type(P, "expected an array of numbers or a base64 string");
}

static item_state *item_at(parser *P, int item)
{
    return item < 0 ? &P->top : &P->items[item];
}

static int parse_responses(parser *P, int item)
{
    item_state *it = item_at(P, item);
    if (jr_peek(&P->r) != JR_ARRAY)
        return wrong_type(P, "expected an array of vectors");
    if (jr_array_begin(&P->r))
        return reader_error(P);
    int d = P->lim->d, k;
    while ((k = jr_array_next(&P->r)) > 0) {
        it = item_at(P, item);
        if (it->req.n >= P->lim->max_responses) {
            char path[128];
            jr_path(&P->r, path, sizeof path);
            return api_fail(P->err, 422, "too_many", path, "more than %d responses", P->lim->max_responses);
        }
        if (it->req.n == it->resp_cap) {
            int nc = it->resp_cap ? it->resp_cap * 2 : 4;
            if (nc > P->lim->max_responses)
                nc = P->lim->max_responses;
            float *nr = mr_realloc(it->req.responses, (size_t)nc * (size_t)d * sizeof(float));
            if (!nr)
                return oom(P);
            it->req.responses = nr;
            it->resp_cap = nc;
        }
        if (parse_vector(P, it->req.responses + (size_t)it->req.n * (size_t)d, d, item, it->req.n))
            return -1;
        it->req.n++;
    }
    if (k < 0)
        return reader_error(P);
    it = item_at(P, item);
    if (it->req.n == 0) {
        char path[128];
        jr_path(&P->r, path, sizeof path);
        return api_fail(P->err, 422, "empty", path, "no responses to score");
    }
    return 0;
}

/* ---- pairs ---- */

static int parse_pairs(parser *P, item_state *it)
{
    if (jr_peek(&P->r) != JR_ARRAY)
        return wrong_type(P, "expected an array of [i, j] pairs");
    if (jr_array_begin(&P->r))
        return reader_error(P);
    int k;
    while ((k = jr_array_next(&P->r)) > 0) {
        if (it->req.n_pairs >= P->lim->max_pairs) {
            char path[128];
            jr_path(&P->r, path, sizeof path);
            return api_fail(P->err, 422, "too_many", path, "more than %d pairs", P->lim->max_pairs);
        }
        if (jr_peek(&P->r) != JR_ARRAY)
            return wrong_type(P, "expected a pair [i, j] of response indices");
        if (it->req.n_pairs == it->pairs_cap) {
            int nc = it->pairs_cap ? it->pairs_cap * 2 : 8;
            int (*np)[2] = mr_realloc(it->req.pairs, (size_t)nc * sizeof *np);
            if (!np)
                return oom(P);
            it->req.pairs = np;
            it->pairs_cap = nc;
        }
        if (jr_array_begin(&P->r))
            return reader_error(P);
        long long v[2];
        int got = 0, m;
        while ((m = jr_array_next(&P->r)) > 0) {
            if (got == 2)
                return fail_here(P, 400, "bad_type", "%s", "a pair has exactly 2 indices");
            if (jr_read_int(&P->r, &v[got]))
                return reader_error(P);
            got++;
        }
        if (m < 0)
            return reader_error(P);
        if (got != 2)
            return fail_here(P, 400, "bad_type", "%s", "a pair has exactly 2 indices");
        for (int i = 0; i < 2; i++)
            it->req.pairs[it->req.n_pairs][i] = v[i] < -1 ? -1 : v[i] > INT_MAX ? INT_MAX : (int)v[i];
        it->req.n_pairs++;
    }
    return k < 0 ? reader_error(P) : 0;
}

/* ---- strings ---- */

static int parse_string_field(parser *P, char **dst, size_t maxlen, const char *type_msg)
{
    if (jr_peek(&P->r) != JR_STRING)
        return wrong_type(P, type_msg);
    jr_slice s;
    char *owned;
    if (jr_read_string(&P->r, &s, &owned))
        return reader_error(P);
    if (s.len == 0 || s.len > maxlen) {
        free(owned);
        char path[128];
        jr_path(&P->r, path, sizeof path);
        return api_fail(P->err, 400, "bad_value", path, "must be 1 to %zu bytes long, got %zu", maxlen, s.len);
    }
    if (!owned) {
        owned = mr_malloc(s.len + 1);
        if (!owned)
            return oom(P);
        memcpy(owned, s.p, s.len);
        owned[s.len] = 0;
    }
    *dst = owned;
    return 0;
}

static int parse_dtype(parser *P, int *dtype)
{
    if (jr_peek(&P->r) != JR_STRING)
        return wrong_type(P, "expected a string");
    jr_slice s;
    char *owned;
    if (jr_read_string(&P->r, &s, &owned))
        return reader_error(P);
    mr_vec_dtype dt;
    int rc = mr_vec_dtype_parse(s.p, s.len, &dt);
    if (rc < 0) {
        char path[128];
        jr_path(&P->r, path, sizeof path);
        api_fail(P->err, 400, "bad_dtype", path, "unknown dtype \"%.*s\" (expected float32, bfloat16 or float16)",
                 (int)(s.len > 32 ? 32 : s.len), s.p);
    } else {
        *dtype = (int)dt;
    }
    free(owned);
    return rc;
}

/* ---- request objects ---- */

static int parse_batch(parser *P);

/* One member of a request object; item -1 is the top level. */
static int parse_member(parser *P, int item, const jr_slice *key)
{
#define IS(name) (key->len == sizeof(name) - 1 && memcmp(key->p, name, sizeof(name) - 1) == 0)
    item_state *it = item_at(P, item);
    if (!(IS("context") || IS("responses") || IS("pairs") || IS("user") || IS("event") ||
          IS("include_heads") || IS("dtype") || IS("batch")))
        return jr_skip(&P->r) ? reader_error(P) : 0;
    if (jr_peek(&P->r) == JR_NULL) /* an explicit null is an absent field */
        return jr_skip(&P->r) ? reader_error(P) : 0;

    if (IS("context")) {
        it->has_context = true;
        it->req.context = mr_malloc((size_t)P->lim->dc * sizeof(float));
        if (!it->req.context)
            return oom(P);
        return parse_vector(P, it->req.context, P->lim->dc, item, -1);
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
        return parse_string_field(P, &it->req.user, 256, "expected a user id string");
    }
    if (IS("event")) {
        it->has_event = true;
        return parse_string_field(P, &it->req.event, 128, "expected an event id string");
    }
    if (IS("include_heads")) {
        it->has_heads = true;
        return jr_read_bool(&P->r, &it->req.include_heads) ? reader_error(P) : 0;
    }
    if (IS("dtype"))
        return parse_dtype(P, &it->dtype);
    /* "batch" */
    if (item >= 0)
        return fail_here(P, 400, "bad_value", "%s", "a batch item cannot hold a batch");
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
        return api_fail(P->err, 400, "missing_field", path, "missing required field");
    }
    for (int k = 0; k < it->req.n_pairs; k++) {
        int i = it->req.pairs[k][0], j = it->req.pairs[k][1];
        snprintf(path, sizeof path, "%spairs[%d]", it->prefix, k);
        if (i < 0 || i >= it->req.n || j < 0 || j >= it->req.n)
            return api_fail(P->err, 422, "bad_pair", path, "index out of range (%d responses)", it->req.n);
        if (i == j)
            return api_fail(P->err, 422, "bad_pair", path, "compares response %d with itself", i);
    }
    return 0;
}

static int parse_batch(parser *P)
{
    if (jr_peek(&P->r) != JR_ARRAY)
        return wrong_type(P, "expected an array of request objects");
    if (jr_array_begin(&P->r))
        return reader_error(P);
    int k;
    while ((k = jr_array_next(&P->r)) > 0) {
        if (P->nitems >= P->lim->max_batch) {
            char path[128];
            jr_path(&P->r, path, sizeof path);
            return api_fail(P->err, 422, "too_many", path, "more than %d batch items", P->lim->max_batch);
        }
        if (jr_peek(&P->r) != JR_OBJECT)
            return wrong_type(P, "expected a request object");
        if (P->nitems == P->cap_items) {
            int nc = P->cap_items ? P->cap_items * 2 : 4;
            item_state *ni = mr_realloc(P->items, (size_t)nc * sizeof *ni);
            if (!ni)
                return oom(P);
            P->items = ni;
            P->cap_items = nc;
        }
        int idx = P->nitems++;
        item_state *it = &P->items[idx];
        memset(it, 0, sizeof *it);
        it->dtype = -1;
        snprintf(it->prefix, sizeof it->prefix, "batch[%d].", idx);
        if (jr_object_begin(&P->r))
            return reader_error(P);
        jr_slice key;
        int m;
        while ((m = jr_object_next(&P->r, &key)) > 0)
            if (parse_member(P, idx, &key))
                return -1;
        if (m < 0)
            return reader_error(P);
        if (check_item(P, &P->items[idx]))
            return -1;
    }
    if (k < 0)
        return reader_error(P);
    if (P->nitems == 0)
        return api_fail(P->err, 422, "empty", "batch", "no requests in the batch");
    return 0;
}

/* ---- base64, once every dtype is known ---- */

static int decode_pending(parser *P, mr_score_body *out)
{
    for (size_t i = 0; i < P->npend; i++) {
        pending_b64 *pb = &P->pend[i];
        int dt = P->top.dtype;
        if (pb->item >= 0 && P->items[pb->item].dtype >= 0)
            dt = P->items[pb->item].dtype;
        if (dt < 0)
            dt = MR_DTYPE_F32;
        mr_score_req *q = &out->items[pb->item < 0 ? 0 : pb->item];
        int dim = pb->row < 0 ? P->lim->dc : P->lim->d;
        float *dst = pb->row < 0 ? q->context : q->responses + (size_t)pb->row * (size_t)P->lim->d;
        mr_error e;
        mr_vec_status st = pb->decoded ? mr_vec_from_decoded(dst, pb->nbytes, (mr_vec_dtype)dt, dim, &e)
                                       : mr_vec_decode_base64_kind(pb->p, pb->len, (mr_vec_dtype)dt, dim, dst, &e);
        switch (st) {
        case MR_VEC_OK: break;
        case MR_VEC_BAD_BASE64: return api_fail(P->err, 400, "bad_base64", pb->path, "%s", e.msg);
        case MR_VEC_BAD_SIZE: return api_fail(P->err, 400, "dimension_mismatch", pb->path, "%s", e.msg);
        case MR_VEC_NON_FINITE: return api_fail(P->err, 400, "non_finite", pb->path, "%s", e.msg);
        default: return oom(P);
        }
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
    json_reader *r = &P->r;
    jr_type t = jr_peek(r);
    if (t == JR_END)
        return api_fail(P->err, 400, "bad_json", "", "empty body");
    if (t != JR_OBJECT) {
        if (jr_skip(r) == 0 && jr_finish(r) == 0)
            return api_fail(P->err, 400, "bad_type", "", "the body must be a JSON object");
        return reader_error(P);
    }
    if (jr_object_begin(r))
        return reader_error(P);
    jr_slice key;
    int k;
    while ((k = jr_object_next(r, &key)) > 0)
        if (parse_member(P, -1, &key))
            return -1;
    if (k < 0 || jr_finish(r))
        return reader_error(P);

    item_state *top = &P->top;
    if (P->is_batch) {
        const char *extra = top->has_context ? "context" : top->has_responses ? "responses"
                          : top->has_pairs ? "pairs" : top->has_user ? "user" : top->has_event ? "event"
                          : top->has_heads ? "include_heads" : NULL;
        if (extra)
            return api_fail(P->err, 400, "bad_value", extra,
                            "not allowed beside \"batch\" (put it in each batch item)");
        out->items = P->nitems ? mr_calloc((size_t)P->nitems, sizeof *out->items) : NULL;
        if (!out->items)
            return oom(P);
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
            return oom(P);
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
    jr_init(&P.r, body, len);
    P.lim = lim;
    P.err = err;
    P.top.dtype = -1;

    int rc = parse_all(&P, out);

    jr_free(&P.r);
    for (size_t i = 0; i < P.npend; i++)
        free(P.pend[i].owned);
    free(P.pend);
    req_free(&P.top.req);
    for (int i = 0; i < P.nitems; i++)
        req_free(&P.items[i].req);
    free(P.items);
    if (rc)
        mr_score_body_free(out);
    return rc;
}
