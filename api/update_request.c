/* POST /route/update bodies -> mr_update_body, with the pull parser of
 * api/json_reader, like api/score_request.c. An item's form is known only
 * once the whole object is read ("chosen" may come before "event" or
 * "context"), so each field is read by its JSON type and the item is checked
 * at its closing brace; base64 vectors are decoded into their buffers as
 * they are read, and converted and checked after the body, because "dtype"
 * may come last (a string that is not clean base64 is decoded then by the
 * strict decoder, which names the error). */
#include "api/update_request.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_reader.h"
#include "core/alloc.h"
#include "api/user_id.h"
#include "core/vector.h"

#define ID_MAX 128
#define EVENT_MAX 128

typedef struct {
    const char *p;
    size_t len;
    char *owned;      /* unescaped copy when the JSON string had escapes */
    bool decoded;     /* already decoded into its buffer (nbytes), by jr_read_base64 */
    size_t nbytes;
    float *dst;       /* a buffer owned by an item (never moves) */
    int dim;
    int item;         /* -1: the top-level object */
    char path[128];
} pending_b64;

/* "chosen"/"rejected": absent, a vector (direct form) or an index (event form). */
typedef enum { SIDE_NONE = 0, SIDE_VEC, SIDE_IDX } side_kind;

/* What one feedback object held, beyond the mr_feedback fields. */
typedef struct {
    mr_feedback fb;
    side_kind side[2];   /* chosen, rejected */
    long long idx[2];    /* the raw integers, range-checked at the end */
    int dtype;           /* -1 when the object had none */
    bool has_event, has_context;
    char prefix[64];     /* "" or "feedback[3]." */
} item_state;

typedef struct {
    json_reader r;
    const mr_update_limits *lim;
    api_error *err;
    pending_b64 *pend;
    size_t npend, cap_pend;
    item_state top;
    item_state *items;
    int nitems, cap_items;
    char *user, *id;
    bool is_list;
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

static int fail_here(parser *P, int status, const char *code, const char *msg)
{
    char path[128];
    jr_path(&P->r, path, sizeof path);
    return api_fail(P->err, status, code, path, "%s", msg);
}

/* A field of the wrong JSON type, or broken JSON where a value should be
 * (then the reader says why, as bad_json). */
static int wrong_type(parser *P, const char *msg)
{
    jr_type t = jr_peek(&P->r);
    if (t == JR_END || t == JR_INVALID) {
        jr_skip(&P->r);
        return reader_error(P);
    }
    return fail_here(P, 400, "bad_type", msg);
}

static int oom(parser *P)
{
    return api_fail(P->err, 500, "internal", "", "out of memory");
}

static item_state *item_at(parser *P, int item)
{
    return item < 0 ? &P->top : &P->items[item];
}

/* ---- values ---- */

/* A base64 vector to finish once every dtype is known: either its text (s)
 * or, when jr_read_base64 already decoded it into dst, s = NULL and the byte
 * count. */
static int add_pending(parser *P, const jr_slice *s, size_t nbytes, char *owned, float *dst, int dim, int item)
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
    pb->dst = dst;
    pb->dim = dim;
    pb->item = item;
    jr_path(&P->r, pb->path, sizeof pb->path);
    return 0;
}

/* One vector of dim values into a new *dst: a number array now, base64 later. */
static int parse_vector(parser *P, float **dst, int dim, int item)
{
    jr_type t = jr_peek(&P->r);
    if (t != JR_ARRAY && t != JR_STRING)
        return wrong_type(P, "expected an array of numbers or a base64 string");
    *dst = mr_malloc((size_t)dim * sizeof(float));
    if (!*dst)
        return oom(P);
    if (t == JR_ARRAY) {
        size_t count = 0, bad = 0;
        if (jr_read_float_array(&P->r, *dst, (size_t)dim, &count, &bad))
            return reader_error(P);
        if (count != (size_t)dim) {
            char path[128];
            jr_path(&P->r, path, sizeof path);
            return api_fail(P->err, 400, "dimension_mismatch", path, "expected %d values, got %zu", dim, count);
        }
        return 0;
    }
    /* Decoded now whatever the dtype (its bytes fit), checked and converted
     * at the end; anything unusual takes the strict path. */
    size_t nbytes = 0;
    int fast = jr_read_base64(&P->r, *dst, (size_t)dim * sizeof(float), &nbytes);
    if (fast < 0)
        return reader_error(P);
    if (fast)
        return add_pending(P, NULL, nbytes, NULL, *dst, dim, item);
    jr_slice s;
    char *owned;
    if (jr_read_string(&P->r, &s, &owned))
        return reader_error(P);
    return add_pending(P, &s, 0, owned, *dst, dim, item);
}

/* "chosen" or "rejected": a vector or a response index, told apart later. */
static int parse_side(parser *P, int item, int which)
{
    item_state *it = item_at(P, item);
    if (jr_peek(&P->r) == JR_NUMBER) {
        it->side[which] = SIDE_IDX;
        return jr_read_int(&P->r, &it->idx[which]) ? reader_error(P) : 0;
    }
    jr_type t = jr_peek(&P->r);
    if (t != JR_ARRAY && t != JR_STRING)
        return wrong_type(P, "expected a vector (array or base64 string) or a response index (integer)");
    it->side[which] = SIDE_VEC;
    return parse_vector(P, which ? &it->fb.rejected : &it->fb.chosen, P->lim->d, item);
}

/* A string of 1..maxlen bytes, NUL-terminated copy in *dst (too short or
 * too long: status 400 with len_code). */
static int parse_string_field(parser *P, char **dst, size_t maxlen, const char *type_msg, const char *len_code)
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
        return api_fail(P->err, 400, len_code, path, "must be 1 to %zu bytes long, got %zu", maxlen, s.len);
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

static int parse_user(parser *P)
{
    if (jr_peek(&P->r) != JR_STRING)
        return wrong_type(P, "expected a user id string");
    jr_slice s;
    char *owned;
    if (jr_read_string(&P->r, &s, &owned))
        return reader_error(P);
    char why[160];
    if (!api_user_id_valid(s.p, s.len, why, sizeof why)) {
        free(owned);
        return fail_here(P, 400, "bad_user", why);
    }
    if (!owned) {
        owned = mr_malloc(s.len + 1);
        if (!owned)
            return oom(P);
        memcpy(owned, s.p, s.len);
        owned[s.len] = 0;
    }
    P->user = owned;
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

/* ---- feedback objects ---- */

static int parse_list(parser *P);

/* One member of a feedback object; item -1 is the top level. */
static int parse_member(parser *P, int item, const jr_slice *key)
{
#define IS(name) (key->len == sizeof(name) - 1 && memcmp(key->p, name, sizeof(name) - 1) == 0)
    bool top = item < 0;
    bool known = IS("context") || IS("chosen") || IS("rejected") || IS("event") || IS("dtype") || IS("feedback") ||
                 (top && (IS("user") || IS("id")));
    if (!known) /* unknown, or "user"/"id" inside a list item: ignored */
        return jr_skip(&P->r) ? reader_error(P) : 0;
    if (jr_peek(&P->r) == JR_NULL) /* an explicit null is an absent field */
        return jr_skip(&P->r) ? reader_error(P) : 0;

    item_state *it = item_at(P, item);
    if (IS("context")) {
        it->has_context = true;
        return parse_vector(P, &it->fb.context, P->lim->dc, item);
    }
    if (IS("chosen"))
        return parse_side(P, item, 0);
    if (IS("rejected"))
        return parse_side(P, item, 1);
    if (IS("event")) {
        it->has_event = true;
        return parse_string_field(P, &it->fb.event, EVENT_MAX, "expected an event id string", "bad_value");
    }
    if (IS("dtype"))
        return parse_dtype(P, &it->dtype);
    if (IS("user"))
        return parse_user(P);
    if (IS("id"))
        return parse_string_field(P, &P->id, ID_MAX, "expected an idempotency key string", "bad_id");
    /* "feedback" */
    if (!top)
        return fail_here(P, 400, "bad_value", "a feedback item cannot hold a feedback list");
    P->is_list = true;
    return parse_list(P);
#undef IS
}

/* After a feedback object: one form, complete, with sane indices. */
static int check_item(parser *P, item_state *it)
{
    static const char *const side_name[2] = { "chosen", "rejected" };
    char path[128];
    const char *pre = it->prefix;
    mr_feedback *fb = &it->fb;

    if (it->has_event) {
        fb->is_event = true;
        if (it->has_context) {
            snprintf(path, sizeof path, "%scontext", pre);
            return api_fail(P->err, 400, "bad_value", path,
                            "not allowed in an event item (the event already holds the context)");
        }
        for (int s = 0; s < 2; s++) {
            snprintf(path, sizeof path, "%s%s", pre, side_name[s]);
            if (it->side[s] == SIDE_NONE)
                return api_fail(P->err, 400, "missing_field", path, "missing required field");
            if (it->side[s] == SIDE_VEC)
                return api_fail(P->err, 400, "bad_type", path,
                                "expected a response index (integer) of the event, not a vector");
        }
        for (int s = 0; s < 2; s++) {
            snprintf(path, sizeof path, "%s%s", pre, side_name[s]);
            if (it->idx[s] < 0 || it->idx[s] > INT_MAX)
                return api_fail(P->err, 422, "bad_pair", path, "response index %lld is out of range",
                                it->idx[s]);
        }
        if (it->idx[0] == it->idx[1]) {
            snprintf(path, sizeof path, "%srejected", pre);
            return api_fail(P->err, 422, "bad_pair", path, "the same response as chosen (%lld)", it->idx[0]);
        }
        fb->chosen_idx = (int)it->idx[0];
        fb->rejected_idx = (int)it->idx[1];
        return 0;
    }

    /* Direct form. An index without an event names the event as missing. */
    if (!it->has_context && (it->side[0] == SIDE_IDX || it->side[1] == SIDE_IDX)) {
        snprintf(path, sizeof path, "%sevent", pre);
        return api_fail(P->err, 400, "missing_field", path,
                        "missing required field (an integer chosen/rejected indexes a scored event)");
    }
    if (!it->has_context) {
        snprintf(path, sizeof path, "%scontext", pre);
        return api_fail(P->err, 400, "missing_field", path, "missing required field");
    }
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s%s", pre, side_name[s]);
        if (it->side[s] == SIDE_NONE)
            return api_fail(P->err, 400, "missing_field", path, "missing required field");
        if (it->side[s] == SIDE_IDX)
            return api_fail(P->err, 400, "bad_type", path,
                            "expected a vector (array or base64 string); a response index needs \"event\"");
    }
    return 0;
}

static int parse_list(parser *P)
{
    if (jr_peek(&P->r) != JR_ARRAY)
        return wrong_type(P, "expected an array of feedback objects");
    if (jr_array_begin(&P->r))
        return reader_error(P);
    int k;
    while ((k = jr_array_next(&P->r)) > 0) {
        if (P->nitems >= P->lim->max_feedback) {
            char path[128];
            jr_path(&P->r, path, sizeof path);
            return api_fail(P->err, 422, "too_many", path, "more than %d feedback items", P->lim->max_feedback);
        }
        if (jr_peek(&P->r) != JR_OBJECT)
            return wrong_type(P, "expected a feedback object");
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
        snprintf(it->prefix, sizeof it->prefix, "feedback[%d].", idx);
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
        return api_fail(P->err, 422, "empty", "feedback", "no feedback items");
    return 0;
}

/* ---- base64, once every dtype is known ---- */

static int decode_pending(parser *P)
{
    for (size_t i = 0; i < P->npend; i++) {
        pending_b64 *pb = &P->pend[i];
        int dt = P->top.dtype;
        if (pb->item >= 0 && P->items[pb->item].dtype >= 0)
            dt = P->items[pb->item].dtype;
        if (dt < 0)
            dt = MR_DTYPE_F32;
        mr_error e;
        mr_vec_status st = pb->decoded ? mr_vec_from_decoded(pb->dst, pb->nbytes, (mr_vec_dtype)dt, pb->dim, &e)
                                       : mr_vec_decode_base64_kind(pb->p, pb->len, (mr_vec_dtype)dt, pb->dim,
                                                                   pb->dst, &e);
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

static void fb_free(mr_feedback *f)
{
    free(f->event);
    free(f->context);
    free(f->chosen);
    free(f->rejected);
    memset(f, 0, sizeof *f);
}

void mr_update_body_free(mr_update_body *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n; i++)
        fb_free(&b->items[i]);
    free(b->items);
    free(b->user);
    free(b->id);
    memset(b, 0, sizeof *b);
}

static int parse_all(parser *P, mr_update_body *out)
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
    bool any_direct = false;
    if (P->is_list) {
        const char *extra = top->has_event ? "event" : top->has_context ? "context" : top->side[0] ? "chosen"
                          : top->side[1] ? "rejected" : NULL;
        if (extra)
            return api_fail(P->err, 400, "bad_value", extra,
                            "not allowed beside \"feedback\" (put it in each feedback item)");
        for (int i = 0; i < P->nitems; i++)
            any_direct |= !P->items[i].fb.is_event;
    } else {
        if (!top->has_context && !top->has_event && !top->side[0] && !top->side[1])
            return api_fail(P->err, 400, "missing_field", "chosen",
                            "missing required field (or give \"feedback\": [...])");
        if (check_item(P, top))
            return -1;
        any_direct = !top->fb.is_event;
    }
    if (any_direct && !P->user)
        return api_fail(P->err, 400, "missing_field", "user", "missing required field (feedback in the direct form)");
    if (decode_pending(P))
        return -1;

    int n = P->is_list ? P->nitems : 1;
    out->items = mr_calloc((size_t)n, sizeof *out->items);
    if (!out->items)
        return oom(P);
    for (int i = 0; i < n; i++) {
        item_state *it = P->is_list ? &P->items[i] : top;
        out->items[i] = it->fb;
        memset(&it->fb, 0, sizeof it->fb);
    }
    out->n = n;
    out->is_list = P->is_list;
    out->user = P->user;
    out->id = P->id;
    P->user = P->id = NULL;
    return 0;
}

int mr_parse_update_body(const char *body, size_t len, const mr_update_limits *lim, mr_update_body *out,
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
    fb_free(&P.top.fb);
    for (int i = 0; i < P.nitems; i++)
        fb_free(&P.items[i].fb);
    free(P.items);
    free(P.user);
    free(P.id);
    if (rc)
        mr_update_body_free(out);
    return rc;
}
