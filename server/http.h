/* libmicrohttpd glue: takes the connections the listener accepts onto its
 * polling threads (`io_threads`), reads bodies within the limits, checks
 * auth and content type, dispatches through the api route table, and writes
 * answers with X-Request-Id and X-Compute-Time. A request is computed on its
 * connection's polling thread, except one whose body is over
 * `offload_bytes`: that one runs on the worker pool of `threads`, the
 * connection suspended meanwhile. */
#ifndef MICRORM_SERVER_HTTP_H
#define MICRORM_SERVER_HTTP_H

#include "server/server.h"

/* Start the daemon and listen on cfg->host:cfg->port; sets s->mhd,
 * s->listener and s->port. */
int http_start(server *s, mr_error *e);

/* Stop accepting new connections (requests in flight go on). */
void http_quiesce(server *s);

/* Close every connection and join the threads. */
void http_stop(server *s);

#endif
