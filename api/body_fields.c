/* Field-level helpers shared by the request-body parsers: error answers,
 * strings, dtype and vectors (see api/body_fields.h). */
#include "api/body_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/vector.h"

void bf_init(body_fields *b, const char *body, size_t len, api_error *err)
{
    memset(b, 0, sizeof *b);
    jr_init(&b->r, body, len);
    b->err = err;
}

void bf_free(body_fields *b)
{
    jr_free(&b->r);
    for (size_t i = 0; i < b->npend; i++)
        free(b->pend[i].owned);
    free(b->pend);
    b->pend = NULL;
    b->npend = b->cap_pend = 0;
}

/* ---- errors ---- */

int bf_reader_error(body_fields *b)
{
    const char *path = bf_path(b);
    const json_reader *r = &b->r;
    switch (r->status) {
    case JR_E_TYPE:
        return api_fail(b->err, 400, "bad_type", path, "%s", r->err_msg);
    case JR_E_RANGE:
        return api_fail(b->err, 400, "non_finite", path, "%s", r->err_msg);
    case JR_E_NOMEM:
        return api_fail(b->err, 500, "internal", path, "out of memory");
    default:
        return api_fail(b->err, 400, "bad_json", path, "invalid JSON at byte %zu: %s", r->err_off, r->err_msg);
    }
}

const char *bf_path(body_fields *b)
{
    jr_path(&b->r, b->path, sizeof b->path);
    return b->path;
}

int bf_wrong_type(body_fields *b, const char *msg)
{
    jr_type t = jr_peek(&b->r);
    if (t == JR_END || t == JR_INVALID) {
        jr_skip(&b->r);
        return bf_reader_error(b);
    }
    return api_fail(b->err, 400, "bad_type", bf_path(b), "%s", msg);
}

int bf_oom(body_fields *b)
{
    return api_fail(b->err, 500, "internal", "", "out of memory");
}

void *bf_grow(body_fields *b, void *arr, int *cap, size_t elem, int first, int most)
{
    int nc = *cap ? *cap * 2 : first;
    if (most > 0 && nc > most)
        nc = most;
    void *grown = mr_realloc(arr, (size_t)nc * elem);
    if (!grown) {
        bf_oom(b);
        return NULL;
    }
    *cap = nc;
    return grown;
}

/* ---- the body ---- */

int bf_read_object(body_fields *b, bf_member_fn member, void *ctx, int item)
{
    if (jr_object_begin(&b->r))
        return bf_reader_error(b);
    jr_slice key;
    int k;
    while ((k = jr_object_next(&b->r, &key)) > 0)
        if (member(ctx, item, &key))
            return -1;
    return k < 0 ? bf_reader_error(b) : 0;
}

int bf_read_object_array(body_fields *b, int max, const char *field, const char *object,
                         const char *items, const char *empty_msg, bf_item_fn item, void *ctx)
{
    char msg[64];
    snprintf(msg, sizeof msg, "expected an array of %s objects", object);
    if (jr_peek(&b->r) != JR_ARRAY)
        return bf_wrong_type(b, msg);
    if (jr_array_begin(&b->r))
        return bf_reader_error(b);
    int k, n = 0;
    while ((k = jr_array_next(&b->r)) > 0) {
        if (n >= max)
            return api_fail(b->err, 422, "too_many", bf_path(b), "more than %d %s", max, items);
        if (jr_peek(&b->r) != JR_OBJECT) {
            snprintf(msg, sizeof msg, "expected a %s object", object);
            return bf_wrong_type(b, msg);
        }
        if (item(ctx, n++))
            return -1;
    }
    if (k < 0)
        return bf_reader_error(b);
    if (n == 0)
        return api_fail(b->err, 422, "empty", field, "%s", empty_msg);
    return 0;
}

int bf_read_body(body_fields *b, bf_member_fn member, void *ctx)
{
    json_reader *r = &b->r;
    jr_type t = jr_peek(r);
    if (t == JR_END)
        return api_fail(b->err, 400, "bad_json", "", "empty body");
    if (t != JR_OBJECT) {
        if (jr_skip(r) == 0 && jr_finish(r) == 0)
            return api_fail(b->err, 400, "bad_type", "", "the body must be a JSON object");
        return bf_reader_error(b);
    }
    if (bf_read_object(b, member, ctx, -1))
        return -1;
    return jr_finish(r) ? bf_reader_error(b) : 0;
}

/* ---- strings ---- */

int bf_own_string(body_fields *b, const jr_slice *s, char *owned, char **dst)
{
    if (!owned) {
        owned = mr_malloc(s->len + 1);
        if (!owned)
            return bf_oom(b);
        memcpy(owned, s->p, s->len);
        owned[s->len] = 0;
    }
    *dst = owned;
    return 0;
}

int bf_read_string(body_fields *b, jr_slice *s, char **owned, const char *type_msg)
{
    if (jr_peek(&b->r) != JR_STRING)
        return bf_wrong_type(b, type_msg);
    return jr_read_string(&b->r, s, owned) ? bf_reader_error(b) : 0;
}

int bf_string(body_fields *b, char **dst, size_t maxlen, const char *type_msg)
{
    jr_slice s;
    char *owned;
    if (bf_read_string(b, &s, &owned, type_msg))
        return -1;
    if (s.len == 0 || s.len > maxlen) {
        free(owned);
        return api_fail(b->err, 400, "bad_value", bf_path(b), "must be 1 to %zu bytes long, got %zu", maxlen,
                        s.len);
    }
    return bf_own_string(b, &s, owned, dst);
}

int bf_dtype(body_fields *b, int *dtype)
{
    jr_slice s;
    char *owned;
    if (bf_read_string(b, &s, &owned, "expected a string"))
        return -1;
    mr_vec_dtype dt;
    int rc = mr_vec_dtype_parse(s.p, s.len, &dt);
    if (rc < 0)
        api_fail(b->err, 400, "bad_dtype", bf_path(b),
                 "unknown dtype \"%.*s\" (expected float32, bfloat16 or float16)",
                 (int)(s.len > 32 ? 32 : s.len), s.p);
    else
        *dtype = (int)dt;
    free(owned);
    return rc;
}

/* ---- vectors ---- */

static int add_pending(body_fields *b, const jr_slice *s, size_t nbytes, char *owned, float *dst, int dim,
                       int item, int row)
{
    if (b->npend == b->cap_pend) {
        size_t nc = b->cap_pend ? b->cap_pend * 2 : 8;
        bf_pending *np = mr_realloc(b->pend, nc * sizeof *np);
        if (!np) {
            free(owned);
            return bf_oom(b);
        }
        b->pend = np;
        b->cap_pend = nc;
    }
    bf_pending *pb = &b->pend[b->npend++];
    pb->p = s ? s->p : NULL;
    pb->len = s ? s->len : 0;
    pb->decoded = !s;
    pb->nbytes = nbytes;
    pb->owned = owned;
    pb->dst = dst;
    pb->dim = dim;
    pb->item = item;
    pb->row = row;
    jr_path(&b->r, pb->path, sizeof pb->path);
    return 0;
}

int bf_vector(body_fields *b, float *dst, int dim, int item, int row)
{
    jr_type t = jr_peek(&b->r);
    if (t == JR_ARRAY) {
        size_t count = 0, bad = 0;
        if (jr_read_float_array(&b->r, dst, (size_t)dim, &count, &bad))
            return bf_reader_error(b);
        if (count != (size_t)dim)
            return api_fail(b->err, 400, "dimension_mismatch", bf_path(b), "expected %d values, got %zu", dim,
                            count);
        return 0;
    }
    if (t == JR_STRING) {
        /* Decoded now into dst whatever the dtype (its bytes fit), checked
         * and converted at the end; anything unusual takes the strict path. */
        size_t nbytes = 0;
        int fast = jr_read_base64(&b->r, dst, (size_t)dim * sizeof(float), &nbytes);
        if (fast < 0)
            return bf_reader_error(b);
        if (fast)
            return add_pending(b, NULL, nbytes, NULL, dst, dim, item, row);
        jr_slice s;
        char *owned;
        if (jr_read_string(&b->r, &s, &owned))
            return bf_reader_error(b);
        return add_pending(b, &s, 0, owned, dst, dim, item, row);
    }
    return bf_wrong_type(b, "expected an array of numbers or a base64 string");
}

int bf_vector_new(body_fields *b, float **dst, int dim, int item, int row)
{
    jr_type t = jr_peek(&b->r);
    if (t != JR_ARRAY && t != JR_STRING)
        return bf_wrong_type(b, "expected an array of numbers or a base64 string");
    *dst = mr_malloc((size_t)dim * sizeof(float));
    if (!*dst)
        return bf_oom(b);
    return bf_vector(b, *dst, dim, item, row);
}

int bf_finish_vector(body_fields *b, const bf_pending *pb, float *dst, int dim, int dtype)
{
    mr_vec_dtype dt = dtype < 0 ? MR_DTYPE_F32 : (mr_vec_dtype)dtype;
    mr_error e;
    mr_vec_status st = pb->decoded ? mr_vec_from_decoded(dst, pb->nbytes, dt, dim, &e)
                                   : mr_vec_decode_base64_kind(pb->p, pb->len, dt, dim, dst, &e);
    switch (st) {
    case MR_VEC_OK: return 0;
    case MR_VEC_BAD_BASE64: return api_fail(b->err, 400, "bad_base64", pb->path, "%s", e.msg);
    case MR_VEC_BAD_SIZE: return api_fail(b->err, 400, "dimension_mismatch", pb->path, "%s", e.msg);
    case MR_VEC_NON_FINITE: return api_fail(b->err, 400, "non_finite", pb->path, "%s", e.msg);
    default: return bf_oom(b);
    }
}
