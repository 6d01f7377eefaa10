/* Field-level helpers shared by the request-body parsers (api/score_request.c,
 * api/update_request.c): the error answers for the reader's state, strings,
 * dtype, and vectors whose base64 form is finished once the body is read
 * (the "dtype" that converts them may come after them). Each parser embeds a
 * body_fields and keeps to what its endpoint means. */
#ifndef MICRORM_API_BODY_FIELDS_H
#define MICRORM_API_BODY_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/errors.h"
#include "api/json_reader.h"

/* A base64 vector to finish once every dtype is known: either its text
 * (p, len) or, when jr_read_base64 already decoded it into its buffer,
 * decoded = true and the byte count. */
typedef struct {
    const char *p;
    size_t len;
    char *owned;      /* unescaped copy when the JSON string had escapes */
    bool decoded;
    size_t nbytes;
    float *dst;       /* the buffer it went into (the parser may re-find it by item/row if that moved) */
    int dim;
    int item;         /* -1: the top-level object */
    int row;          /* the parser's tag for which vector of the item */
    char path[128];
} bf_pending;

typedef struct {
    json_reader r;
    api_error *err;
    bf_pending *pend;
    size_t npend, cap_pend;
    char path[128];   /* bf_path's answer */
} body_fields;

/* Start reading body (len bytes) into err; bf_free releases what it took. */
void bf_init(body_fields *b, const char *body, size_t len, api_error *err);
void bf_free(body_fields *b);

/* ---- errors (all return -1) ---- */

/* The reader failed: its status as bad_type, non_finite, internal or bad_json. */
int bf_reader_error(body_fields *b);
/* A field of the wrong JSON type, or broken JSON where a value should be
 * (then the reader says why, as bad_json). */
int bf_wrong_type(body_fields *b, const char *msg);
int bf_oom(body_fields *b);

/* A full array of *cap elements of elem bytes grown to twice that (first
 * when empty; at most `most` unless 0). Returns the new array and sets
 * *cap, or NULL with the out-of-memory error set (arr is then untouched). */
void *bf_grow(body_fields *b, void *arr, int *cap, size_t elem, int first, int most);
/* The reader's current path ("batch[2].responses[0]"), for api_fail: kept
 * in b until the next call. */
const char *bf_path(body_fields *b);

/* ---- the body ---- */

/* A member of object item (-1: the top level) read by the parser; 0 or -1. */
typedef int (*bf_member_fn)(void *ctx, int item, const jr_slice *key);

/* The object at the reader: its members one by one to member(ctx, item, key). */
int bf_read_object(body_fields *b, bf_member_fn member, void *ctx, int item);

/* An array of objects (a /score "batch", a /route/update "feedback" list):
 * every element must be an `object` object, at most max of them (422
 * too_many, "more than MAX <items>"), at least one (422 empty: `empty_msg`).
 * item(ctx, idx) reads element idx, the reader at its '{'; 0 or -1. */
typedef int (*bf_item_fn)(void *ctx, int idx);
int bf_read_object_array(body_fields *b, int max, const char *field, const char *object,
                         const char *items, const char *empty_msg, bf_item_fn item, void *ctx);
/* The top-level object (item -1), then the end of input. Empty body,
 * non-object and broken JSON are answered. */
int bf_read_body(body_fields *b, bf_member_fn member, void *ctx);

/* ---- values ---- */

/* A string value into s (owned: the unescaped copy, or NULL); wrong type:
 * bad_type with type_msg. */
int bf_read_string(body_fields *b, jr_slice *s, char **owned, const char *type_msg);
/* A string of 1..maxlen bytes as a NUL-terminated copy in *dst; wrong type:
 * bad_type with type_msg; too short or too long: bad_value. */
int bf_string(body_fields *b, char **dst, size_t maxlen, const char *type_msg);
/* The string just read (s, owned from jr_read_string) as a NUL-terminated
 * copy in *dst (owned is taken). */
int bf_own_string(body_fields *b, const jr_slice *s, char *owned, char **dst);
/* "dtype": one of float32, bfloat16, float16 into *dtype (an mr_vec_dtype). */
int bf_dtype(body_fields *b, int *dtype);

/* One vector of dim values into dst: a number array now, a base64 string
 * recorded as pending (tagged item, row) and finished by bf_finish_vector. */
int bf_vector(body_fields *b, float *dst, int dim, int item, int row);
/* The same into a new buffer *dst (allocated once the type is right). */
int bf_vector_new(body_fields *b, float **dst, int dim, int item, int row);
/* Convert and check one pending vector into dst with its dtype (-1: float32). */
int bf_finish_vector(body_fields *b, const bf_pending *pb, float *dst, int dim, int dtype);

#endif
