/* A small pull parser over one JSON text in memory: no DOM, no copies unless
 * a string holds escapes. Callers walk the document (object keys, array
 * elements, scalars) and skip what they do not need; number arrays go
 * straight into float buffers through core/float_parse.
 *
 * What it accepts is what jansson 2.14 accepts with
 *   json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, ...)
 * (RFC 8259: strict numbers, UTF-8 checked, no "\u0000", surrogate pairs
 * matched, whitespace only around tokens, nothing after the top value,
 * numbers beyond the double range rejected), except that nesting deeper than
 * JR_MAX_DEPTH (jansson: 2048) is rejected, and so is every NUL byte
 * (jansson 2.14 silently drops some between tokens: "[1\0]" loads). tests/unit/test_json_reader.c and
 * tests/fuzz/fuzz_json_reader.c check this against jansson.
 *
 * Errors are sticky: after the first failure every call returns -1, and
 * r->status, r->err_off (byte offset), r->err_msg and jr_path() say what and
 * where. */
#ifndef MICRORM_API_JSON_READER_H
#define MICRORM_API_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JR_MAX_DEPTH 64

typedef enum {
    JR_END = 0,   /* no more input */
    JR_OBJECT,
    JR_ARRAY,
    JR_STRING,
    JR_NUMBER,
    JR_TRUE,
    JR_FALSE,
    JR_NULL,
    JR_INVALID,   /* the next byte cannot start a value */
} jr_type;

typedef enum {
    JR_OK = 0,
    JR_E_SYNTAX,  /* not valid JSON */
    JR_E_DEPTH,   /* nesting deeper than JR_MAX_DEPTH */
    JR_E_DUPKEY,  /* an object repeats a key */
    JR_E_TYPE,    /* valid JSON, but not the type asked for */
    JR_E_RANGE,   /* a number beyond the float32 range (jr_read_float_array) */
    JR_E_NOMEM,
} jr_status;

typedef struct {
    const char *p;
    size_t len;
} jr_slice;

typedef struct {
    bool is_array;
    bool first;          /* no member / element read yet */
    long index;          /* current element (arrays) */
    jr_slice key;        /* current key, raw (escapes not undone) (objects) */
    uint32_t obj_id;
} jr_frame;

struct jr_keyent;

typedef struct {
    const char *buf, *p, *end;
    int depth;
    jr_frame frames[JR_MAX_DEPTH];
    jr_status status;
    size_t err_off;
    char err_msg[200];
    /* duplicate-key detection: one hash set over (object id, key) */
    struct jr_keyent *keys;
    size_t keys_cap, keys_n;
    uint32_t next_obj;
} json_reader;

void jr_init(json_reader *r, const char *buf, size_t len);
void jr_free(json_reader *r);

/* Type of the next value from its first byte (skips whitespace; no error). */
jr_type jr_peek(json_reader *r);

/* Objects: jr_object_begin consumes '{'; jr_object_next returns 1 with the
 * next key (and consumes the ':'), 0 after consuming '}', -1 on error. The
 * key is unescaped; it stays valid until the next jr_object_next. */
int jr_object_begin(json_reader *r);
int jr_object_next(json_reader *r, jr_slice *key);

/* Arrays: jr_array_next returns 1 when an element follows (read or skip it
 * next), 0 after consuming ']', -1 on error. */
int jr_array_begin(json_reader *r);
int jr_array_next(json_reader *r);

/* A string value. Without escapes *out points into the buffer and *owned is
 * NULL; with escapes *out is an unescaped malloc'd copy also stored in *owned
 * (the caller frees it). Not NUL-terminated in the first case. */
int jr_read_string(json_reader *r, jr_slice *out, char **owned);
/* A string of base64, decoded into dst (at most cap bytes) in the pass that
 * finds its end. 1: done, *nbytes decoded. 0: the string is anything but
 * clean strict base64 of at most cap bytes (escapes, a stray character, bad
 * padding, too long...); nothing is consumed (dst may have been written):
 * read it with jr_read_string and let the strict decoder name the error.
 * -1: not a string, or an earlier error. */
int jr_read_base64(json_reader *r, void *dst, size_t cap, size_t *nbytes);
int jr_read_bool(json_reader *r, bool *v);
/* An integer (no fraction, no exponent: else JR_E_TYPE), saturated to the
 * long long range. */
int jr_read_int(json_reader *r, long long *v);
/* An array of numbers: the first `cap` go to dst, the rest are only counted;
 * *count is the total. A non-number element is JR_E_TYPE and a number beyond
 * float32 JR_E_RANGE, with *bad_index its position. */
int jr_read_float_array(json_reader *r, float *dst, size_t cap, size_t *count, size_t *bad_index);
/* Skip any value, validating it completely. */
int jr_skip(json_reader *r);
/* After the top-level value: only whitespace may follow. */
int jr_finish(json_reader *r);

/* The path of the current position, e.g. "batch[3].responses[2]" ("" at the
 * top). Returns the length written (truncated to cap-1). */
size_t jr_path(const json_reader *r, char *buf, size_t cap);

/* Fail with a caller-side type error at the current position (sticky like
 * the reader's own errors). Returns -1. */
int jr_fail_type(json_reader *r, const char *msg);

#endif
