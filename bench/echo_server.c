/* The yardstick of bench/score_bench.sh: a bare libmicrohttpd server with the
 * same polling threads and connection options as `microrm serve`'s HTTP side
 * (server/http.c: epoll internal thread, a pool of one thread per core, 64 KiB
 * connection memory) that reads each POST body whole, as microrm must, and
 * answers a fixed small JSON on the polling thread. microrm hands parsing and
 * scoring to its worker pool (suspend, resume): that hand-off is part of its
 * cost. What microrm reaches relative to this server is the cost of its
 * parsing, scoring and answer, not of HTTP itself.
 *
 *   echo_server [--port N] [--threads N]     (GET /readyz answers 200)
 *
 * Runs until SIGINT or SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include <microhttpd.h>

static const char answer[] =
    "{\"rewards\":[0.0,0.0,0.0,0.0],\"weights\":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]}";
static const char ready[] = "{\"status\":\"ready\"}";

/* The body so far of one POST, kept between calls of the handler. */
typedef struct {
    char *data;
    size_t len, cap;
} body;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)version;
    if (strcmp(method, "POST")) {
        if (!strcmp(url, "/readyz") || !strcmp(url, "/healthz"))
            return reply(conn, MHD_HTTP_OK, ready, sizeof ready - 1);
        return reply(conn, MHD_HTTP_NOT_FOUND, "{}", 2);
    }
    body *b = *state;
    if (!b) {
        if (!(b = calloc(1, sizeof *b)))
            return MHD_NO;
        *state = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (b->len + *upload_size > b->cap) {
            size_t cap = b->cap ? b->cap : 64 * 1024;
            while (cap < b->len + *upload_size)
                cap *= 2;
            char *bigger = realloc(b->data, cap);
            if (!bigger)
                return MHD_NO;
            b->data = bigger;
            b->cap = cap;
        }
        memcpy(b->data + b->len, upload_data, *upload_size);
        b->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    /* the whole body is in: answer */
    return reply(conn, b->len ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST, answer, sizeof answer - 1);
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)conn, (void)why;
    body *b = *state;
    if (b) {
        free(b->data);
        free(b);
        *state = NULL;
    }
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long port = 8090, threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 65535, &port)) {
                fprintf(stderr, "echo_server: --port: '%s' is not in [1, 65535]\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (parse_int(argv[++i], 0, 1024, &threads)) {
                fprintf(stderr, "echo_server: --threads: '%s' is not in [0, 1024]\n", argv[i]);
                return 2;
            }
            if (threads == 0)
                threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
        } else {
            fprintf(stderr, "usage: echo_server [--port N] [--threads N]\n");
            return 2;
        }
    }

    /* Block the stop signals before MHD starts its threads, so only sigwait sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    /* loopback only: this is a benchmark target, not a service */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "echo_server: cannot listen on port %ld\n", port);
        return 1;
    }
    fprintf(stderr, "echo_server: listening on 127.0.0.1:%ld with %ld threads\n", port, threads);
    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}
