/* Turning results and errors into response bodies. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* When even the error body cannot be allocated: a 500 without a body, for
 * which the server sends its static out-of-memory answer. */
static void respond_oom(api_response *res)
{
    res->status = 500;
    res->content_type = "application/json";
    res->body = NULL;
    res->body_len = 0;
}

void api_respond_text(api_response *res, int status, const char *content_type, char *text)
{
    if (!text) {
        respond_oom(res);
        return;
    }
    res->status = status;
    res->content_type = content_type;
    res->body = text;
    res->body_len = strlen(text);
}

void api_respond_error(api_response *res, const api_error *err)
{
    char *body = api_error_json(err);
    if (!body) {
        respond_oom(res);
        return;
    }
    api_respond_text(res, err->status, "application/json", body);
}

void api_respond_json(api_response *res, int status, json_t *root)
{
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(root);
    api_respond_text(res, status, "application/json", text);
}
