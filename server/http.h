/* libmicrohttpd glue: accepts connections on its own polling threads
 * (`io_threads`), reads bodies within the limits, checks auth and content
 * type, dispatches through the api route table (requests with a body run on
 * the worker pool of `threads`, the connection suspended meanwhile), and
 * writes answers with X-Request-Id and X-Compute-Time. */
#ifndef MICRORM_SERVER_HTTP_H
#define MICRORM_SERVER_HTTP_H

#include "server/server.h"

/* Start listening on cfg->host:cfg->port; sets s->mhd and s->port. */
int http_start(server *s, mr_error *e);

/* Stop accepting new connections (requests in flight go on). */
void http_quiesce(server *s);

/* Close every connection and join the threads. */
void http_stop(server *s);

#endif
