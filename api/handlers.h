/* Every endpoint's handler. Each reads only its request and the context and
 * fills the response; errors go through api_respond_error. */
#ifndef MICRORM_API_HANDLERS_H
#define MICRORM_API_HANDLERS_H

#include "api/api.h"

int api_handle_score(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_route_update(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_route_get(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_route_delete(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_model(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_healthz(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_readyz(const api_ctx *ctx, const api_request *req, api_response *res);
int api_handle_metrics(const api_ctx *ctx, const api_request *req, api_response *res);

#endif
