/* The listening socket, accepted on the libuv loop. libmicrohttpd's own
 * accept lets whichever polling thread wakes first take a whole burst of new
 * connections, and it keeps each connection on that thread for life: under a
 * client that opens its connections at once, one core served them all. We
 * accept here instead and hand every socket to libmicrohttpd, which spreads
 * them over its polling threads by descriptor number (consecutive
 * descriptors go to different threads). */
#ifndef MICRORM_SERVER_LISTENER_H
#define MICRORM_SERVER_LISTENER_H

#include <sys/socket.h>
#include <uv.h>

#include "core/error.h"

typedef struct listener listener;

/* Called on the loop thread with each accepted socket (non-blocking,
 * close-on-exec); the callee owns fd from then on. */
typedef void (*listener_accept_fn)(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Bind host:port (port 0 picks a free one), listen with the given backlog
 * and accept on loop. *bound_port receives the port. */
listener *listener_start(uv_loop_t *loop, const char *host, int port, int backlog,
                         listener_accept_fn on_accept, void *arg, int *bound_port, mr_error *e);

/* Stop accepting and close the socket (new connections are refused). Runs
 * on the loop thread; the listener is freed once the loop lets go of it. */
void listener_close(listener *l);

#endif
