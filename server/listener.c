/* The listening socket (see listener.h): a uv_poll on a non-blocking socket,
 * drained with accept4 each time it turns readable. */
#include "server/listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"

/* Out of descriptors (or kernel memory), the socket stays readable and the
 * loop would spin on it: stop accepting for a moment instead. The waiting
 * clients sit in the backlog meanwhile. */
#define PAUSE_MS 100
/* Accept at most this many per wake-up, so the loop's timers and signals
 * are not held up by a flood of connections. */
#define ACCEPT_BATCH 64
/* While out of descriptors the pause repeats ten times a second: say so
 * once in a while, not each time. */
#define WARN_EVERY_MS 10000

struct listener {
    uv_poll_t poll;
    uv_timer_t pause;
    int fd;
    int open_handles;           /* poll and pause, until their close callbacks */
    uint64_t last_warn_ms;
    listener_accept_fn on_accept;
    void *arg;
};

static void on_readable(uv_poll_t *h, int status, int events);

static void resume_accepting(uv_timer_t *t)
{
    listener *l = t->data;
    int rc = uv_poll_start(&l->poll, UV_READABLE, on_readable);
    if (rc != 0)
        log_msg(LOG_ERROR, "cannot accept connections again: %s", uv_strerror(rc));
}

static void pause_accepting(listener *l, int err)
{
    uint64_t now = uv_now(l->pause.loop);
    if (l->last_warn_ms == 0 || now - l->last_warn_ms >= WARN_EVERY_MS) {
        log_msg(LOG_WARN, "cannot accept a connection: %s; pausing accepts for %d ms at a time "
                "(raise the descriptor limit, ulimit -n, or lower max_connections)", strerror(err), PAUSE_MS);
        l->last_warn_ms = now;
    }
    uv_poll_stop(&l->poll);
    int rc = uv_timer_start(&l->pause, resume_accepting, PAUSE_MS, 0);
    if (rc != 0)
        log_msg(LOG_ERROR, "cannot schedule accepting again: %s", uv_strerror(rc));
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    listener *l = h->data;
    if (status < 0) {
        log_msg(LOG_WARN, "listening socket: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(l->fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            l->on_accept(l->arg, fd, (struct sockaddr *)&addr, len);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;   /* that client gave up: take the next */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            pause_accepting(l, errno);
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_msg(LOG_WARN, "accept: %s", strerror(errno));
        return;
    }
}

static int bind_and_listen(const char *host, int port, int backlog, int *bound_port, mr_error *e)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0)
        return mr_errorf(e, "host '%s': %s", host, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mr_errorf(e, "cannot open a socket for %s:%d: %s", host, port, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int on = 1;
    /* a restarted server can bind while old connections are in TIME_WAIT */
    bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0;
    /* an IPv6 address means IPv6 only: "::" does not take IPv4 too */
    if (ok && ai->ai_family == AF_INET6)
        ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0;
    ok = ok && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0;
    freeaddrinfo(ai);
    if (!ok) {
        mr_errorf(e, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        mr_errorf(e, "cannot read the bound port: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *bound_port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    return fd;
}

static void on_handle_closed(uv_handle_t *h)
{
    listener *l = h->data;
    if (--l->open_handles > 0)
        return;
    close(l->fd);
    free(l);
}

listener *listener_start(uv_loop_t *loop, const char *host, int port, int backlog,
                         listener_accept_fn on_accept, void *arg, int *bound_port, mr_error *e)
{
    listener *l = calloc(1, sizeof *l);
    if (!l) {
        mr_errorf(e, "out of memory for the listening socket");
        return NULL;
    }
    l->on_accept = on_accept;
    l->arg = arg;
    l->fd = bind_and_listen(host, port, backlog, bound_port, e);
    if (l->fd < 0) {
        free(l);
        return NULL;
    }
    int rc = uv_timer_init(loop, &l->pause);
    if (rc == 0) {
        l->pause.data = l;
        l->open_handles++;
        rc = uv_poll_init_socket(loop, &l->poll, l->fd);
    }
    if (rc == 0) {
        l->poll.data = l;
        l->open_handles++;
        rc = uv_poll_start(&l->poll, UV_READABLE, on_readable);
    }
    if (rc != 0) {
        mr_errorf(e, "cannot watch the listening socket: %s", uv_strerror(rc));
        if (l->open_handles == 0) {
            close(l->fd);
            free(l);
        } else {
            listener_close(l);   /* freed when the loop lets go */
        }
        return NULL;
    }
    return l;
}

void listener_close(listener *l)
{
    if (!l)
        return;
    /* open_handles says which of the two were initialised */
    if (l->open_handles >= 1)
        uv_close((uv_handle_t *)&l->pause, on_handle_closed);
    if (l->open_handles >= 2)
        uv_close((uv_handle_t *)&l->poll, on_handle_closed);
}
