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

#include "api/body_fields.h"
#include "api/user_id.h"
#include "core/alloc.h"

#define ID_MAX 128
#define EVENT_MAX 128

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
    body_fields f;       /* the reader, the error and the pending base64 vectors */
    const mr_update_limits *lim;
    item_state top;
    item_state *items;
    int nitems, cap_items;
    char *user, *id;
    bool is_list;
} parser;

static item_state *item_at(parser *P, int item)
{
    return item < 0 ? &P->top : &P->items[item];
}

/* ---- values ---- */

/* "chosen" or "rejected": a vector or a response index, told apart later. */
static int parse_side(parser *P, int item, int which)
{
    item_state *it = item_at(P, item);
    if (jr_peek(&P->f.r) == JR_NUMBER) {
        it->side[which] = SIDE_IDX;
        return jr_read_int(&P->f.r, &it->idx[which]) ? bf_reader_error(&P->f) : 0;
    }
    jr_type t = jr_peek(&P->f.r);
    if (t != JR_ARRAY && t != JR_STRING)
        return bf_wrong_type(&P->f, "expected a vector (array or base64 string) or a response index (integer)");
    it->side[which] = SIDE_VEC;
    return bf_vector_new(&P->f, which ? &it->fb.rejected : &it->fb.chosen, P->lim->d, item, which + 1);
}

static int parse_user(parser *P)
{
    jr_slice s;
    char *owned;
    if (bf_read_string(&P->f, &s, &owned, "expected a user id string"))
        return -1;
    char why[160];
    if (!api_user_id_valid(s.p, s.len, why, sizeof why)) {
        free(owned);
        return api_fail(P->f.err, 400, "bad_user", bf_path(&P->f), "%s", why);
    }
    return bf_own_string(&P->f, &s, owned, &P->user);
}

/* The idempotency key: 1..ID_MAX bytes, else bad_id. */
static int parse_id(parser *P)
{
    jr_slice s;
    char *owned;
    if (bf_read_string(&P->f, &s, &owned, "expected an idempotency key string"))
        return -1;
    if (s.len == 0 || s.len > ID_MAX) {
        free(owned);
        return api_fail(P->f.err, 400, "bad_id", bf_path(&P->f), "must be 1 to %zu bytes long, got %zu",
                        (size_t)ID_MAX, s.len);
    }
    return bf_own_string(&P->f, &s, owned, &P->id);
}

/* ---- feedback objects ---- */

static int parse_list(parser *P);

/* One member of a feedback object; item -1 is the top level. */
static int parse_member(void *ctx, int item, const jr_slice *key)
{
    parser *P = ctx;
#define IS(name) (key->len == sizeof(name) - 1 && memcmp(key->p, name, sizeof(name) - 1) == 0)
    bool top = item < 0;
    bool known = IS("context") || IS("chosen") || IS("rejected") || IS("event") || IS("dtype") || IS("feedback") ||
                 (top && (IS("user") || IS("id")));
    if (!known) /* unknown, or "user"/"id" inside a list item: ignored */
        return jr_skip(&P->f.r) ? bf_reader_error(&P->f) : 0;
    if (jr_peek(&P->f.r) == JR_NULL) /* an explicit null is an absent field */
        return jr_skip(&P->f.r) ? bf_reader_error(&P->f) : 0;

    item_state *it = item_at(P, item);
    if (IS("context")) {
        it->has_context = true;
        return bf_vector_new(&P->f, &it->fb.context, P->lim->dc, item, 0);
    }
    if (IS("chosen"))
        return parse_side(P, item, 0);
    if (IS("rejected"))
        return parse_side(P, item, 1);
    if (IS("event")) {
        it->has_event = true;
        return bf_string(&P->f, &it->fb.event, EVENT_MAX, "expected an event id string");
    }
    if (IS("dtype"))
        return bf_dtype(&P->f, &it->dtype);
    if (IS("user"))
        return parse_user(P);
    if (IS("id"))
        return parse_id(P);
    /* "feedback" */
    if (!top)
        return api_fail(P->f.err, 400, "bad_value", bf_path(&P->f), "a feedback item cannot hold a feedback list");
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
            return api_fail(P->f.err, 400, "bad_value", path,
                            "not allowed in an event item (the event already holds the context)");
        }
        for (int s = 0; s < 2; s++) {
            snprintf(path, sizeof path, "%s%s", pre, side_name[s]);
            if (it->side[s] == SIDE_NONE)
                return api_fail(P->f.err, 400, "missing_field", path, "missing required field");
            if (it->side[s] == SIDE_VEC)
                return api_fail(P->f.err, 400, "bad_type", path,
                                "expected a response index (integer) of the event, not a vector");
        }
        for (int s = 0; s < 2; s++) {
            snprintf(path, sizeof path, "%s%s", pre, side_name[s]);
            if (it->idx[s] < 0 || it->idx[s] > INT_MAX)
                return api_fail(P->f.err, 422, "bad_pair", path, "response index %lld is out of range",
                                it->idx[s]);
        }
        if (it->idx[0] == it->idx[1]) {
            snprintf(path, sizeof path, "%srejected", pre);
            return api_fail(P->f.err, 422, "bad_pair", path, "the same response as chosen (%lld)", it->idx[0]);
        }
        fb->chosen_idx = (int)it->idx[0];
        fb->rejected_idx = (int)it->idx[1];
        return 0;
    }

    /* Direct form. An index without an event names the event as missing. */
    if (!it->has_context && (it->side[0] == SIDE_IDX || it->side[1] == SIDE_IDX)) {
        snprintf(path, sizeof path, "%sevent", pre);
        return api_fail(P->f.err, 400, "missing_field", path,
                        "missing required field (an integer chosen/rejected indexes a scored event)");
    }
    if (!it->has_context) {
        snprintf(path, sizeof path, "%scontext", pre);
        return api_fail(P->f.err, 400, "missing_field", path, "missing required field");
    }
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s%s", pre, side_name[s]);
        if (it->side[s] == SIDE_NONE)
            return api_fail(P->f.err, 400, "missing_field", path, "missing required field");
        if (it->side[s] == SIDE_IDX)
            return api_fail(P->f.err, 400, "bad_type", path,
                            "expected a vector (array or base64 string); a response index needs \"event\"");
    }
    return 0;
}

static int read_feedback_item(void *ctx, int idx)
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
    snprintf(it->prefix, sizeof it->prefix, "feedback[%d].", idx);
    if (bf_read_object(&P->f, parse_member, P, idx) || check_item(P, &P->items[idx]))
        return -1;
    return 0;
}

static int parse_list(parser *P)
{
    return bf_read_object_array(&P->f, P->lim->max_feedback, "feedback", "feedback", "feedback items",
                                "no feedback items", read_feedback_item, P);
}

/* ---- base64, once every dtype is known ---- */

static int decode_pending(parser *P)
{
    for (size_t i = 0; i < P->f.npend; i++) {
        const bf_pending *pb = &P->f.pend[i];
        int dt = P->top.dtype;
        if (pb->item >= 0 && P->items[pb->item].dtype >= 0)
            dt = P->items[pb->item].dtype;
        if (bf_finish_vector(&P->f, pb, pb->dst, pb->dim, dt))
            return -1;
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
    if (bf_read_body(&P->f, parse_member, P))
        return -1;

    item_state *top = &P->top;
    bool any_direct = false;
    if (P->is_list) {
        const char *extra = top->has_event ? "event" : top->has_context ? "context" : top->side[0] ? "chosen"
                          : top->side[1] ? "rejected" : NULL;
        if (extra)
            return api_fail(P->f.err, 400, "bad_value", extra,
                            "not allowed beside \"feedback\" (put it in each feedback item)");
        for (int i = 0; i < P->nitems; i++)
            any_direct |= !P->items[i].fb.is_event;
    } else {
        if (!top->has_context && !top->has_event && !top->side[0] && !top->side[1])
            return api_fail(P->f.err, 400, "missing_field", "chosen",
                            "missing required field (or give \"feedback\": [...])");
        if (check_item(P, top))
            return -1;
        any_direct = !top->fb.is_event;
    }
    if (any_direct && !P->user)
        return api_fail(P->f.err, 400, "missing_field", "user",
                        "missing required field (feedback in the direct form)");
    if (decode_pending(P))
        return -1;

    int n = P->is_list ? P->nitems : 1;
    out->items = mr_calloc((size_t)n, sizeof *out->items);
    if (!out->items)
        return bf_oom(&P->f);
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
    bf_init(&P.f, body, len, err);
    P.lim = lim;
    P.top.dtype = -1;

    int rc = parse_all(&P, out);

    bf_free(&P.f);
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
