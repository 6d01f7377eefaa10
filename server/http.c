/* libmicrohttpd glue (see http.h). Scoring runs on libmicrohttpd's polling
 * threads or on the worker pool, never on the libuv loop thread. */
#include "server/http.h"

#include <microhttpd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/routes.h"
#include "server/committer.h"
#include "server/conn_guard.h"
#include "server/listener.h"
#include "server/log.h"

/* Per-request state, from the first call of the access handler to the
 * completion callback. */
typedef struct {
    const api_route *route;
    char *path_arg;
    char allow[64];
    int early_status;          /* answer decided before the body: 401/404/405/413/415 */
    const char *early_code;
    char early_message[160];
    char *body;
    size_t len, cap;
    uint64_t t_start_ns;
    int status;                /* what was answered, for metrics */
    char request_id[48];
    /* an answer held while the connection is suspended: until a worker has
     * computed it (ready), or until its write is durable (commit) */
    api_commit *commit;
    api_response held;
    bool ready;
    uint64_t compute_us;
    struct MHD_Connection *conn;
    int attempts;              /* re-runs after a version conflict (shared stores) */
    /* the handler's run on the worker pool */
    work_item job;
    server *s;
    const char *url, *method;  /* libmicrohttpd's, valid until the request completes */
} request_state;

#define MAX_CONFLICT_RETRIES 8
#define LISTEN_BACKLOG 1024

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The guard state libmicrohttpd keeps for the connection. */
static void guard_enter(server *s, struct MHD_Connection *c, guard_phase phase)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info && s->guard)
        conn_guard_enter(s->guard, info->socket_context, phase);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info)
            conn_guard_opened(s->guard, info->connect_fd, socket_context);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_guard_closed(s->guard, socket_context);
    }
}

/* Compare without an early exit, so the time taken says nothing of where a
 * guessed token first differs. */
static bool equal_constant_time(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)((i < alen ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

static bool authorized(const server *s, struct MHD_Connection *c)
{
    const char *token = s->cfg->auth_token;
    if (!token || !token[0])
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    return equal_constant_time(h + 7, strlen(h + 7), token, strlen(token));
}

/* A client's X-Request-Id is kept when it is short and plain; otherwise we
 * make one, unique in this process. */
static void set_request_id(server *s, struct MHD_Connection *c, request_state *r)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (h) {
        size_t n = strlen(h);
        bool plain = n > 0 && n < sizeof r->request_id;
        for (size_t i = 0; plain && i < n; i++)
            plain = (h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
                    (h[i] >= '0' && h[i] <= '9') || h[i] == '-' || h[i] == '_' || h[i] == '.';
        if (plain) {
            memcpy(r->request_id, h, n + 1);
            return;
        }
    }
    uint64_t n = atomic_fetch_add(&s->next_request_id, 1);
    snprintf(r->request_id, sizeof r->request_id, "%016llx%08llx",
             (unsigned long long)s->request_id_salt, (unsigned long long)n);
}

static bool json_content_type(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct)
        return true;   /* a body without a type is taken as JSON */
    size_t n = strcspn(ct, "; \t");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static void fail_early(request_state *r, int status, const char *code, const char *fmt, const char *arg)
{
    r->early_status = status;
    r->early_code = code;
    snprintf(r->early_message, sizeof r->early_message, fmt, arg);
}

/* Decide on everything known from the request line and headers. */
static void check_headers(server *s, struct MHD_Connection *c, request_state *r,
                          const char *url, const char *method)
{
    const char *arg = NULL;
    int status = 0;
    r->route = api_route_find(method, url, &arg, &status, r->allow, sizeof r->allow);
    if (!r->route) {
        if (status == 405)
            fail_early(r, 405, "method_not_allowed", "method not allowed here; allowed: %s", r->allow);
        else
            fail_early(r, 404, "not_found", "%s", "no such endpoint");
        return;
    }
    if (arg && !(r->path_arg = strdup(arg))) {
        fail_early(r, 500, "internal", "%s", "out of memory");
        return;
    }
    if (!r->route->public && !authorized(s, c)) {
        fail_early(r, 401, "unauthorized", "%s", "missing or wrong bearer token");
        return;
    }
    /* shed load instead of queueing without bound; probes stay answerable */
    if (!r->route->public && atomic_load(&s->metrics.in_flight) > s->cfg->max_in_flight) {
        atomic_fetch_add(&s->metrics.shed, 1);
        fail_early(r, 503, "overloaded", "%s", "too many requests in flight; retry shortly");
        return;
    }
    if (!r->route->takes_body)
        return;
    if (!json_content_type(c)) {
        fail_early(r, 415, "unsupported_media_type", "%s", "Content-Type must be application/json");
        return;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (n > (unsigned long long)s->cfg->max_body_bytes) {
            char limit[32];
            snprintf(limit, sizeof limit, "%ld", s->cfg->max_body_bytes);
            fail_early(r, 413, "body_too_large", "body is over the limit of %s bytes", limit);
        } else if (n > 0) {
            r->body = malloc(n + 1);
            r->cap = r->body ? n + 1 : 0;
        }
    }
}

static bool append_body(server *s, request_state *r, const char *data, size_t n)
{
    if (r->len + n > (size_t)s->cfg->max_body_bytes) {
        char limit[32];
        snprintf(limit, sizeof limit, "%ld", s->cfg->max_body_bytes);
        fail_early(r, 413, "body_too_large", "body is over the limit of %s bytes", limit);
        return false;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->cap ? r->cap * 2 : 16384);
        while (cap < r->len + n + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p) {
            fail_early(r, 500, "internal", "%s", "out of memory reading the body");
            return false;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return true;
}

static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

static enum MHD_Result send_answer(server *s, struct MHD_Connection *c, request_state *r,
                                   api_response *res, uint64_t compute_us)
{
    struct MHD_Response *resp;
    if (!res->body && res->status >= 500)
        resp = MHD_create_response_from_buffer(sizeof oom_body - 1, (void *)oom_body, MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(res->body);
        return MHD_NO;
    }
    char us[32];
    snprintf(us, sizeof us, "%llu", (unsigned long long)compute_us);
    int bad = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type) != MHD_YES;
    bad |= MHD_add_response_header(resp, "X-Request-Id", r->request_id) != MHD_YES;
    bad |= MHD_add_response_header(resp, "X-Compute-Time", us) != MHD_YES;
    if (res->status == 405)
        bad |= MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) != MHD_YES;
    if (res->status == 401)
        bad |= MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer") != MHD_YES;
    if (res->status == 503 || res->status == 429)
        bad |= MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES;
    if (atomic_load(&s->draining))
        bad |= MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES;
    if (bad)
        log_msg(LOG_WARN, "request %s: could not add a response header", r->request_id);
    r->status = res->status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)res->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result answer_early(server *s, struct MHD_Connection *c, request_state *r)
{
    api_error err;
    api_fail(&err, r->early_status, r->early_code, "", "%s", r->early_message);
    api_response res = {0};
    api_respond_error(&res, &err);
    return send_answer(s, c, r, &res, 0);
}

/* Runs on the committer thread (or right away): wake the parked connection. */
static void on_commit_settled(api_commit *c, void *arg)
{
    request_state *r = arg;
    MHD_resume_connection(r->conn);
}

/* GET /metrics: the text comes from the server, which owns the counters. */
static char *render_metrics(void *cls)
{
    server *s = cls;
    metrics_gauges g;
    server_gauges(s, &g);
    model_ref *ref = model_slot_acquire(&s->models);
    char *text = metrics_render(&s->metrics, model_ref_get(ref), &g);
    model_slot_release(ref);
    return text;
}

/* Run the route's handler. The answer is either in res, or (res->commit set)
 * held until its write is durable. */
static void run_handler(server *s, request_state *r, api_response *res)
{
    uint64_t t0 = now_ns();
    /* the request holds the model it started with, whatever a reload does */
    model_ref *ref = model_slot_acquire(&s->models);
    api_ctx ctx = {
        .model = model_ref_get(ref),
        .cfg = s->cfg,
        .ready = atomic_load(&s->ready) && state_service_healthy(s),
        .store_down = atomic_load(&s->ready) && !state_service_healthy(s),
        .draining = atomic_load(&s->draining),
        .render_metrics = render_metrics,
        .server = s,
        .state = s->state_open ? &s->state : NULL,
    };
    api_request req = {
        .method = r->method, .path = r->url, .path_arg = r->path_arg,
        .body = r->body, .body_len = r->len,
    };
    *res = (api_response){0};
    r->route->handler(&ctx, &req, res);
    model_slot_release(ref);
    r->compute_us = (now_ns() - t0) / 1000;
}

/* Park the connection until its write is durable; the committer resumes it.
 * The connection is already suspended. */
static void hold_for_commit(request_state *r, const api_response *res)
{
    r->held = *res;
    r->commit = res->commit;
    commit_wait(res->commit, on_commit_settled, r);
}

/* On a worker: compute the answer, then wake the parked connection, whose
 * next call of on_request sends it. */
static void run_on_worker(work_item *job)
{
    request_state *r = (request_state *)((char *)job - offsetof(request_state, job));
    api_response res;
    run_handler(r->s, r, &res);
    if (res.commit) {
        hold_for_commit(r, &res);
        return;
    }
    r->held = res;
    r->ready = true;
    MHD_resume_connection(r->conn);
}

static enum MHD_Result dispatch(server *s, struct MHD_Connection *c, request_state *r)
{
    r->conn = c;
    if (r->route->takes_body && r->len > (size_t)s->cfg->offload_bytes) {
        /* a large body: on the pool, so that the other connections of
         * this polling thread are not held up meanwhile */
        MHD_suspend_connection(c);
        work_pool_submit(&s->workers, &r->job);
        return MHD_YES;
    }
    api_response res;
    run_handler(s, r, &res);
    if (res.commit) {
        MHD_suspend_connection(c);
        hold_for_commit(r, &res);
        return MHD_YES;
    }
    return send_answer(s, c, r, &res, r->compute_us);
}

/* The held answer goes out if the write is durable; a 503 otherwise, so no
 * update is ever acknowledged that the store did not take. */
static enum MHD_Result answer_after_commit(server *s, struct MHD_Connection *c, request_state *r)
{
    api_response res = r->held;
    api_commit *commit = r->commit;
    r->commit = NULL;
    if (commit->status == STORE_CONFLICT && r->attempts < MAX_CONFLICT_RETRIES) {
        /* another replica updated the user first and nothing of ours was
         * written: run the request again on the fresh state */
        free(res.body);
        commit_free(commit);
        r->attempts++;
        return dispatch(s, c, r);
    }
    if (commit->status != STORE_OK) {
        free(res.body);
        api_error err;
        api_fail(&err, 503, "store_unavailable", "", "the update was not stored: %s", commit->error);
        res = (api_response){0};
        api_respond_error(&res, &err);
    } else if (res.feedback.n) {
        metrics_record_feedback(&s->metrics, res.feedback.n, res.feedback.correct, res.feedback.logloss);
    }
    commit_free(commit);
    return send_answer(s, c, r, &res, (now_ns() - r->t_start_ns) / 1000);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    server *s = cls;
    request_state *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->t_start_ns = now_ns();
        r->s = s;
        r->url = url;
        r->method = method;
        r->job.run = run_on_worker;
        atomic_fetch_add(&s->metrics.in_flight, 1);
        *con_cls = r;
        guard_enter(s, c, GUARD_BODY);
        set_request_id(s, c, r);
        check_headers(s, c, r, url, method);
        /* An early answer is sent at once: a body over the limit is not read. */
        return r->early_status ? answer_early(s, c, r) : MHD_YES;
    }
    if (*upload_size) {
        /* a body where the route takes none is read and dropped */
        if (!r->early_status && r->route->takes_body)
            append_body(s, r, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    guard_enter(s, c, GUARD_PROCESSING);
    if (r->ready) {
        r->ready = false;
        return send_answer(s, c, r, &r->held, r->compute_us);
    }
    if (r->commit)
        return answer_after_commit(s, c, r);
    if (r->early_status)
        return answer_early(s, c, r);
    return dispatch(s, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    request_state *r = *con_cls;
    if (!r)
        return;
    guard_enter(s, c, GUARD_HEADERS);   /* the next request's clock starts now */
    int endpoint = r->route ? api_route_index(r->route) : -1;
    metrics_record(&s->metrics, endpoint, r->status ? r->status : 0, (now_ns() - r->t_start_ns) / 1000);
    atomic_fetch_sub(&s->metrics.in_flight, 1);
    if (r->status >= 500 || (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status))
        log_msg(LOG_WARN, "request %s: status %d, termination %d", r->request_id, r->status, (int)toe);
    if (r->commit) {
        /* closed while parked: the write still lands, nobody is told */
        free(r->held.body);
        commit_abandon(r->commit);
    } else if (r->ready) {
        free(r->held.body);   /* computed, never sent */
    }
    free(r->path_arg);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_msg(LOG_DEBUG, "http: %s", line);
}

/* On the loop thread: a new connection goes to libmicrohttpd, which picks
 * its polling thread and applies the connection limits (closing the socket
 * when one is reached). */
static void on_accept(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    server *s = arg;
    if (MHD_add_connection(s->mhd, fd, addr, addrlen) != MHD_YES)
        log_msg(LOG_DEBUG, "http: a new connection was refused (a connection limit, or out of memory)");
}

int http_start(server *s, mr_error *e)
{
    const mr_config *cfg = s->cfg;
    s->guard = conn_guard_start(&s->loop, (uint64_t)cfg->connection_timeout_ms, e);
    if (!s->guard)
        return -1;

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    unsigned io_threads = cfg->io_threads > 0 ? (unsigned)cfg->io_threads : (unsigned)(cores > 0 ? cores : 1);
    if (work_pool_start(&s->workers, threads, e) != 0)
        return -1;   /* http_stop releases the guard */
    unsigned timeout_s = (unsigned)((cfg->connection_timeout_ms + 999) / 1000);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_THREAD_POOL_SIZE, io_threads,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                              MHD_OPTION_END);
    if (!s->mhd)   /* http_stop releases the pool and the guard */
        return mr_errorf(e, "cannot start the HTTP daemon");
    s->listener = listener_start(&s->loop, cfg->host, cfg->port, LISTEN_BACKLOG, on_accept, s, &s->port, e);
    return s->listener ? 0 : -1;
}

void http_quiesce(server *s)
{
    listener_close(s->listener);
    s->listener = NULL;
}

void http_stop(server *s)
{
    http_quiesce(s);
    /* queued requests are computed and their connections resumed while the
     * daemon still runs: nothing refers to a worker after this */
    work_pool_stop(&s->workers);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);   /* every connection is closed: nothing left to guard */
    s->mhd = NULL;
    conn_guard_stop(s->guard);
    s->guard = NULL;
}
