/* The error model of DESIGN §5: filling an api_error and serialising it. */
#include "api/errors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_fail(api_error *err, int status, const char *code, const char *field, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->status = status;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    size_t off = 0;
    if (err->field[0]) {
        int w = snprintf(err->message, sizeof err->message, "%s: ", err->field);
        off = w > 0 ? (size_t)w : 0;
        if (off >= sizeof err->message)
            off = sizeof err->message - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + off, sizeof err->message - off, fmt, ap);
    va_end(ap);
    return -1;
}

/* A message is cut at a fixed size and may end inside a UTF-8 sequence,
 * which jansson refuses; fall back to replacing non-ASCII bytes. */
static json_t *safe_string(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char buf[512];
    if (n > sizeof buf)
        n = sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    return json_stringn(buf, n);
}

char *api_error_json(const api_error *err)
{
    json_t *inner = json_object();
    json_t *root = json_object();
    if (!inner || !root)
        goto oom;
    /* The *_new setters steal the reference, also on failure. */
    if (json_object_set_new(inner, "code", json_string(err->code ? err->code : "internal")) ||
        json_object_set_new(inner, "message", safe_string(err->message, sizeof err->message)))
        goto oom;
    if (err->field[0] &&
        json_object_set_new(inner, "field", safe_string(err->field, sizeof err->field)))
        goto oom;
    if (json_object_set_new(root, "error", inner)) {
        inner = NULL;
        goto oom;
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
oom:
    json_decref(inner);
    json_decref(root);
    return NULL;
}
