/* The small GET endpoints: /model, /healthz, /readyz, /metrics. */
#include <string.h>

#include "api/handlers.h"

int api_handle_model(const api_ctx *ctx, const api_request *req, api_response *res)
{
    const mr_model *m = ctx->model;
    api_error err;
    if (!m) {
        api_fail(&err, 503, "not_ready", "", "no model is loaded yet");
        api_respond_error(res, &err);
        return 0;
    }
    json_t *heads = json_array(), *masked = json_array();
    for (int k = 0; k < m->K && heads && masked; k++) {
        if (json_array_append_new(heads, json_string(m->head_names[k])) ||
            (m->mask[k] && json_array_append_new(masked, json_integer(k)))) {
            json_decref(heads);
            heads = NULL;
        }
    }
    json_t *root = json_pack("{s:i, s:i, s:i, s:o*, s:{s:s, s:i}, s:o*, s:s, s:s, s:s, s:s}",
                             "K", m->K, "d", m->d, "dc", m->dc, "heads", heads,
                             "router", "kind", mr_router_kind_name(m->router), "hidden", m->H,
                             "masked_heads", masked,
                             "score_mode", mr_score_mode_name(m->score_mode),
                             "fingerprint", m->fingerprint,
                             "backbone", m->backbone ? m->backbone : "",
                             "dtype", m->source_dtype);
    if (!root) {
        api_fail(&err, 500, "internal", "", "out of memory while building the answer");
        api_respond_error(res, &err);
        return 0;
    }
    api_respond_json(res, 200, root);
    return 0;
}

int api_handle_healthz(const api_ctx *ctx, const api_request *req, api_response *res)
{
    api_respond_json(res, 200, json_pack("{s:s}", "status", "ok"));
    return 0;
}

int api_handle_readyz(const api_ctx *ctx, const api_request *req, api_response *res)
{
    const char *state = ctx->ready        ? "ready"
                        : ctx->draining   ? "draining"
                        : ctx->store_down ? "store_unavailable"
                                          : "starting";
    api_respond_json(res, ctx->ready ? 200 : 503, json_pack("{s:s}", "status", state));
    return 0;
}

int api_handle_metrics(const api_ctx *ctx, const api_request *req, api_response *res)
{
    char *text = ctx->render_metrics ? ctx->render_metrics(ctx->server) : NULL;
    api_respond_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    return 0;
}
