/* Turning results and errors into response bodies. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

/* Used when even the error body cannot be allocated. */
static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

static void respond_oom(api_response *res)
{
    res->status = 500;
    res->content_type = "application/json";
    res->body = strdup(oom_body);
    res->body_len = res->body ? strlen(res->body) : 0;
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
