/* What the HTTP layer hands a handler and what it gets back. api/ knows
 * nothing of sockets or threads: the server fills an api_ctx per request
 * (holding a reference on the current model for the request's lifetime)
 * and turns the api_response into bytes on the wire. */
#ifndef MICRORM_API_API_H
#define MICRORM_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api/errors.h"
#include "api/state.h"
#include "config/config.h"
#include "core/model.h"

typedef struct {
    const mr_model *model;   /* NULL while no model is loaded */
    const mr_config *cfg;
    bool ready;              /* model loaded, store open, not draining */
    bool draining;
    bool store_down;         /* started, but the user store cannot be reached */
    const api_state *state;  /* users and events; NULL when the store is not open */
    /* Prometheus text of the server's metrics (malloc'd), for GET /metrics. */
    char *(*render_metrics)(void *server);
    void *server;
} api_ctx;

typedef struct {
    const char *method;
    const char *path;        /* without the query string */
    const char *path_arg;    /* the part after a route's prefix, e.g. the user of /route/{user} */
    const char *body;        /* NULL when empty */
    size_t body_len;
} api_request;

typedef struct {
    int status;
    char *body;              /* malloc'd; the server frees it. NULL with 500:
                                out of memory, the server sends a static body */
    size_t body_len;
    const char *content_type;
    api_commit *commit;      /* when set, answer only once this write is durable */
    struct {                 /* prequential verdicts to count once acknowledged */
        unsigned n, correct;
        double logloss;
    } feedback;
} api_response;

/* Set res to the JSON error for err (falls back to a static 500 body on OOM). */
void api_respond_error(api_response *res, const api_error *err);

/* Take ownership of text (malloc'd) as the body; NULL text answers a 500. */
void api_respond_text(api_response *res, int status, const char *content_type, char *text);

/* Serialise and release root (floats with 9 significant digits, enough to
 * round-trip a float32) as a JSON body. */
void api_respond_json(api_response *res, int status, json_t *root);

#endif
