/* A streaming JSON writer for answers on the hot path (/score). jansson
 * builds a tree of allocated values and then prints each real with printf:
 * for a /score answer of ~60 numbers that was as costly as the scoring
 * itself. This writes compact JSON, byte for byte what
 * json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(9)) writes for the same
 * values, into one growing buffer.
 *
 * Errors are sticky: after a failed allocation, a non-finite real or
 * nesting past JW_MAX_DEPTH, every call does nothing and jw_finish returns
 * NULL. */
#ifndef MICRORM_CORE_JSON_WRITER_H
#define MICRORM_CORE_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#define JW_MAX_DEPTH 16

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
    bool non_finite;             /* the failure was a NaN or an infinity */
    bool after_key;              /* the next value follows "key": */
    int depth;
    bool has_items[JW_MAX_DEPTH];  /* per open container: a comma goes before the next */
} json_writer;

void jw_init(json_writer *w);
void jw_object_begin(json_writer *w);
void jw_object_end(json_writer *w);
void jw_array_begin(json_writer *w);
void jw_array_end(json_writer *w);
/* A member's key inside an object; the next call writes its value. */
void jw_key(json_writer *w, const char *key);
void jw_real(json_writer *w, double v);
void jw_int(json_writer *w, long long v);
void jw_bool(json_writer *w, bool v);
/* s must be valid UTF-8 (it is written as is, with quotes, backslashes
 * and control characters escaped as jansson escapes them). */
void jw_string(json_writer *w, const char *s);

/* The text (zero-terminated, its length in *len unless len is NULL; the
 * caller frees it), or NULL after any failure. Read non_finite first: the
 * writer is empty again either way. */
char *jw_finish(json_writer *w, size_t *len);

#endif
