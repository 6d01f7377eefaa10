/* The connection guard. libmicrohttpd's connection timeout restarts with
 * every byte, so a client sending headers (or a body) one byte a second
 * would hold a connection forever (slowloris). The guard gives each
 * connection `timeout_ms` from its start, or from the end of its last
 * request, to deliver a whole request, and shuts the socket of any that does
 * not; libmicrohttpd then sees the end and closes it. Requests being
 * processed (scoring, waiting for their commit) are never cut. */
#ifndef MICRORM_SERVER_CONN_GUARD_H
#define MICRORM_SERVER_CONN_GUARD_H

#include <stdint.h>
#include <uv.h>

#include "core/error.h"

typedef enum { GUARD_HEADERS, GUARD_BODY, GUARD_PROCESSING } guard_phase;

typedef struct conn_guard conn_guard;

/* A guard ticking on loop (no ticking when timeout_ms is 0). */
conn_guard *conn_guard_start(uv_loop_t *loop, uint64_t timeout_ms, mr_error *e);
/* Stop ticking; the guard is freed once the loop has let go of its timer.
 * Every connection must be closed already. */
void conn_guard_stop(conn_guard *g);

/* Connection life, from libmicrohttpd's connection notifications (any
 * thread): *slot receives the connection's guard state. */
void conn_guard_opened(conn_guard *g, int fd, void **slot);
void conn_guard_closed(conn_guard *g, void **slot);
/* The connection whose state is in slot moves to phase (its clock restarts). */
void conn_guard_enter(conn_guard *g, void *slot, guard_phase phase);

#endif
