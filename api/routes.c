/* The route table of DESIGN §5 and its lookup. */
#include "api/routes.h"

#include <stdio.h>
#include <string.h>

#include "api/handlers.h"

const api_route api_routes[] = {
    /* method  path  prefix  handler  body  public  endpoint label */
    {"POST", "/score",    false, api_handle_score,   true,  false, "/score"},
    {"POST", "/route/update", false, api_handle_route_update, true, false, "/route/update"},
    {"GET",  "/route/",   true,  api_handle_route_get,    false, false, "/route/{user}"},
    {"DELETE", "/route/", true,  api_handle_route_delete, false, false, "/route/{user}"},
    {"GET",  "/model",    false, api_handle_model,   false, false, "/model"},
    {"GET",  "/healthz",  false, api_handle_healthz, false, true,  "/healthz"},
    {"GET",  "/readyz",   false, api_handle_readyz,  false, true,  "/readyz"},
    {"GET",  "/metrics",  false, api_handle_metrics, false, true,  "/metrics"},
};
const int api_n_routes = (int)(sizeof api_routes / sizeof api_routes[0]);

static bool path_matches(const api_route *r, const char *path, const char **arg)
{
    if (!r->prefix) {
        *arg = NULL;
        return strcmp(path, r->path) == 0;
    }
    size_t n = strlen(r->path);
    if (strncmp(path, r->path, n) != 0 || path[n] == '\0' || strchr(path + n, '/'))
        return false;
    *arg = path + n;
    return true;
}

const api_route *api_route_find(const char *method, const char *path, const char **path_arg,
                                int *status, char *allow, size_t allow_len)
{
    const char *arg = NULL;
    size_t used = 0;
    allow[0] = '\0';
    for (int i = 0; i < api_n_routes; i++) {
        const api_route *r = &api_routes[i];
        if (!path_matches(r, path, &arg))
            continue;
        if (strcmp(method, r->method) == 0 || (!strcmp(method, "HEAD") && !strcmp(r->method, "GET"))) {
            *path_arg = arg;
            return r;
        }
        /* Collect the methods this path does accept, for the Allow header. */
        int w = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", r->method);
        if (w > 0 && (size_t)w < allow_len - used)
            used += (size_t)w;
    }
    *status = used ? 405 : 404;
    return NULL;
}

int api_route_index(const api_route *r)
{
    return (int)(r - api_routes);
}
