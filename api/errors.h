/* The error model of DESIGN §5: every failed request answers
 * {"error": {"code", "message", "field"?}} with one of these statuses. */
#ifndef MICRORM_API_ERRORS_H
#define MICRORM_API_ERRORS_H

#include <stdarg.h>

typedef struct {
    int status;          /* HTTP status: 400, 401, 404, 405, 413, 415, 422, 429, 500, 503 */
    const char *code;    /* stable machine-readable code, e.g. "bad_json", "dimension_mismatch" */
    char field[128];     /* offending field path, e.g. "responses[2]"; "" when none */
    char message[512];   /* human readable; starts with the field when there is one */
} api_error;

/* Fill err; the message is "FIELD: <fmt>" when field is non-empty.
 * Returns -1 so parsers can `return api_fail(...)`. */
int api_fail(api_error *err, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Serialise as the JSON error body (malloc'd, NUL-terminated). NULL on OOM. */
char *api_error_json(const api_error *err);

#endif
