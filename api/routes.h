/* The route table: method, path, handler, body limit, whether it sits outside
 * authentication. The server dispatches through it; the tests walk it. */
#ifndef MICRORM_API_ROUTES_H
#define MICRORM_API_ROUTES_H

#include "api/api.h"

typedef int (*api_handler)(const api_ctx *ctx, const api_request *req, api_response *res);

typedef struct {
    const char *method;
    const char *path;        /* exact path, or a prefix when prefix is true */
    bool prefix;             /* "/route/" matches "/route/<arg>" */
    api_handler handler;
    bool takes_body;         /* POST routes: body read and limited by max_body_bytes */
    bool public;             /* reachable without the bearer token (probes, metrics) */
    const char *endpoint;    /* label in metrics, e.g. "/score", "/route/{user}" */
} api_route;

extern const api_route api_routes[];
extern const int api_n_routes;

/* Find the route for method+path. On success returns it and sets *path_arg.
 * Otherwise returns NULL and sets *status to 404 (no such path) or 405 (path
 * exists for other methods; allow[] then lists them, e.g. "GET, DELETE"). */
const api_route *api_route_find(const char *method, const char *path, const char **path_arg,
                                int *status, char *allow, size_t allow_len);

/* Index of a route in api_routes (for metrics arrays). */
int api_route_index(const api_route *r);

#endif
