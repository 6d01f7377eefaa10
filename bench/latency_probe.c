/* Fixed-rate HTTP load generator for latency percentiles (what `wrk -R` of
 * wrk2 does; Debian's wrk has no rate limit). It POSTs one body file over C
 * keep-alive HTTP/1.1 connections, starting request i at t0 + i / rate
 * whether or not the server kept up, and measures each latency from that
 * scheduled start (so a stalled server is charged for the requests that
 * queued behind it: no "coordinated omission").
 *
 *   latency_probe --port P --body FILE --rate R [--duration S] [--warmup S]
 *                 [--connections C] [--path /score] [--host 127.0.0.1]
 *
 * Prints `key value` lines: target_rps, achieved_rps, requests, errors,
 * unfinished, p50_ms, p90_ms, p99_ms, p999_ms, max_ms. Exit 1 if nothing completed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;          /* a request is in flight */
    size_t sent;       /* bytes of the request written */
    long idx;          /* index of the request in flight */
    char *in;          /* the response so far */
    size_t in_len, in_cap;
    long need;         /* full response length once the headers are read, else -1 */
    int chunked, close_after;
    int status;
} conn;

typedef struct {
    const char *host, *path, *body_path;
    int port, conns;
    double rate, duration, warmup;
} options;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_conn(const options *o, conn *c, int ep)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &a.sin_addr) != 1) {
        fprintf(stderr, "latency_probe: --host '%s' is not an IPv4 address\n", o->host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "latency_probe: connect %s:%d: %s\n", o->host, o->port, strerror(errno));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->busy = 0;
    c->in_len = 0;
    return 0;
}

static void close_conn(conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* closing removes it from the epoll set */
    c->fd = -1;
    c->busy = 0;
}

/* Write what the socket takes; watch for writability while some is left. */
static int push(conn *c, const char *req, size_t req_len, int ep)
{
    while (c->sent < req_len) {
        ssize_t w = send(c->fd, req + c->sent, req_len - c->sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0)
            return -1;
        c->sent += (size_t)w;
    }
    struct epoll_event ev = {.events = EPOLLIN | (c->sent < req_len ? EPOLLOUT : 0), .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Once the headers are in: status, Content-Length or chunked, Connection: close. */
static int parse_head(conn *c)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->in) + 4;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7))
        return -1;
    c->status = atoi(c->in + 9);
    c->chunked = 0;
    c->close_after = 0;
    long length = -1;
    for (char *line = memchr(c->in, '\n', head); line && line < end; line = memchr(line, '\n', (size_t)(end - line))) {
        line++;
        if (!strncasecmp(line, "content-length:", 15))
            length = strtol(line + 15, NULL, 10);
        else if (!strncasecmp(line, "transfer-encoding:", 18) && strstr(line, "chunked") < end)
            c->chunked = 1;
        else if (!strncasecmp(line, "connection:", 11) && !strncasecmp(line + 11 + strspn(line + 11, " "), "close", 5))
            c->close_after = 1;
    }
    if (c->chunked)
        c->need = -2; /* ends at the 0-size chunk */
    else if (length >= 0)
        c->need = (long)head + length;
    else
        return -1;
    return 1;
}

static int response_complete(conn *c)
{
    if (c->need == -1 && parse_head(c) < 0)
        return -1;
    if (c->need == -1)
        return 0;
    if (c->need == -2)
        return c->in_len >= 5 && !memcmp(c->in + c->in_len - 5, "0\r\n\r\n", 5);
    return c->in_len >= (size_t)c->need;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *v, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            if (*len != (size_t)n) {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    return buf;
}

static int usage(void)
{
    fprintf(stderr, "usage: latency_probe --port P --body FILE --rate R [--duration S] [--warmup S]\n"
                    "                     [--connections C] [--path /score] [--host 127.0.0.1]\n");
    return 2;
}

int main(int argc, char **argv)
{
    options o = {.host = "127.0.0.1", .path = "/score", .conns = 16, .duration = 10, .warmup = 1};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (!strcmp(a, "--host")) o.host = v;
        else if (!strcmp(a, "--path")) o.path = v;
        else if (!strcmp(a, "--body")) o.body_path = v;
        else if (!strcmp(a, "--port")) o.port = atoi(v);
        else if (!strcmp(a, "--connections")) o.conns = atoi(v);
        else if (!strcmp(a, "--rate")) o.rate = atof(v);
        else if (!strcmp(a, "--duration")) o.duration = atof(v);
        else if (!strcmp(a, "--warmup")) o.warmup = atof(v);
        else return usage();
    }
    if (!o.body_path || o.port < 1 || o.port > 65535 || o.conns < 1 || o.conns > 4096 ||
        !(o.rate > 0) || o.rate > 1e6 || !(o.duration > 0) || o.duration > 3600 ||
        o.warmup < 0 || o.warmup > 600)
        return usage();

    size_t body_len = 0;
    char *body = read_file(o.body_path, &body_len);
    if (!body) {
        fprintf(stderr, "latency_probe: cannot read %s: %s\n", o.body_path, strerror(errno));
        return 1;
    }
    size_t cap = body_len + 512;
    char *req = malloc(cap);
    if (!req) {
        free(body);
        return 1;
    }
    int hl = snprintf(req, cap,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n", o.path, o.host, o.port, body_len);
    if (hl < 0 || (size_t)hl + body_len > cap) {
        free(body);
        free(req);
        return 1;
    }
    memcpy(req + hl, body, body_len);
    size_t req_len = (size_t)hl + body_len;
    free(body);

    long warm = (long)llround(o.warmup * o.rate);
    long total = warm + (long)llround(o.duration * o.rate);
    double *lat = malloc(sizeof(double) * (size_t)(total + 1));
    conn *cs = calloc((size_t)o.conns, sizeof *cs);
    int *idle = malloc(sizeof(int) * (size_t)o.conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    int status = 1, n_idle = 0;
    if (cs)
        for (int i = 0; i < o.conns; i++)
            cs[i].fd = -1;
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    if (!lat || !cs || !idle || ep < 0 || tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) < 0) {
        fprintf(stderr, "latency_probe: out of resources\n");
        goto out;
    }
    for (int i = 0; i < o.conns; i++) {
        if (open_conn(&o, &cs[i], ep))
            goto out;
        idle[n_idle++] = i;
    }

    double period_ns = 1e9 / o.rate;
    uint64_t t0 = now_ns() + 1000000, t_end = t0 + (uint64_t)((double)total * period_ns);
    uint64_t deadline = t_end + 5000000000u; /* 5 s for the stragglers */
    long next = 0, n_lat = 0, errors = 0, done = 0, in_flight = 0;
    struct epoll_event evs[64];

    for (;;) {
        uint64_t now = now_ns();
        long due = now < t0 ? 0 : (long)((double)(now - t0) / period_ns) + 1;
        if (due > total)
            due = total;
        /* start every due request an idle connection can take */
        while (next < due && n_idle > 0) {
            conn *c = &cs[idle[--n_idle]];
            if (c->fd < 0 && open_conn(&o, c, ep)) {
                errors++;
                next++;
                idle[n_idle++] = (int)(c - cs);
                continue;
            }
            c->busy = 1;
            c->sent = 0;
            c->idx = next++;
            c->in_len = 0;
            c->need = -1;
            in_flight++;
            if (push(c, req, req_len, ep)) {
                errors++;
                in_flight--;
                close_conn(c);
                idle[n_idle++] = (int)(c - cs);
            }
        }
        if ((next == total && in_flight == 0) || now > deadline)
            break;
        if (next < total) {
            /* wake at the next request's start (if it is not already due) */
            uint64_t at = t0 + (uint64_t)((double)due * period_ns);
            struct itimerspec its = {.it_value = {.tv_sec = (time_t)(at / 1000000000u),
                                                  .tv_nsec = (long)(at % 1000000000u)}};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        int n = epoll_wait(ep, evs, 64, 100);
        if (n < 0 && errno != EINTR) {
            perror("latency_probe: epoll_wait");
            goto out;
        }
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            if (!c) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                    perror("latency_probe: timerfd");
                continue;
            }
            if (c->fd < 0)
                continue;
            int failed = 0;
            if ((evs[k].events & EPOLLOUT) && c->busy && push(c, req, req_len, ep))
                failed = 1;
            if (!failed && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    if (c->in_cap - c->in_len < 65536) {
                        size_t ncap = c->in_cap ? c->in_cap * 2 : 131072;
                        char *bigger = realloc(c->in, ncap);
                        if (!bigger) {
                            failed = 1;
                            break;
                        }
                        c->in = bigger;
                        c->in_cap = ncap;
                    }
                    ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
                    if (r < 0 && errno == EINTR)
                        continue;
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                    if (r <= 0) {
                        failed = 1;
                        break;
                    }
                    c->in_len += (size_t)r;
                }
                if (!c->busy)
                    c->in_len = 0; /* nothing asked: drop it */
                int complete = c->busy ? response_complete(c) : 0;
                if (complete < 0)
                    failed = 1;
                if (complete > 0) {
                    uint64_t sched = t0 + (uint64_t)((double)c->idx * period_ns);
                    if (c->idx >= warm)
                        lat[n_lat++] = (double)(now_ns() - sched) / 1e6;
                    if (c->status < 200 || c->status > 299)
                        errors++;
                    done++;
                    in_flight--;
                    c->busy = 0;
                    c->in_len = 0;
                    if (c->close_after)
                        close_conn(c);
                    idle[n_idle++] = (int)(c - cs);
                    continue;
                }
            }
            if (failed) {
                if (c->busy) {
                    errors++;
                    in_flight--;
                }
                close_conn(c);
                idle[n_idle++] = (int)(c - cs);
            }
        }
    }

    double secs = (double)(now_ns() - t0) / 1e9;
    qsort(lat, (size_t)n_lat, sizeof *lat, cmp_double);
    printf("target_rps %.1f\n", o.rate);
    printf("achieved_rps %.1f\n", secs > 0 ? (double)done / secs : 0.0);
    printf("requests %ld\n", n_lat);
    printf("errors %ld\n", errors);
    printf("unfinished %ld\n", total - next + in_flight);
    if (n_lat > 0) {
        printf("p50_ms %.3f\n", quantile(lat, (size_t)n_lat, 0.50));
        printf("p90_ms %.3f\n", quantile(lat, (size_t)n_lat, 0.90));
        printf("p99_ms %.3f\n", quantile(lat, (size_t)n_lat, 0.99));
        printf("p999_ms %.3f\n", quantile(lat, (size_t)n_lat, 0.999));
        printf("max_ms %.3f\n", lat[n_lat - 1]);
    }
    status = n_lat > 0 ? 0 : 1;
out:
    for (int i = 0; cs && i < o.conns; i++) {
        close_conn(&cs[i]);
        free(cs[i].in);
    }
    free(cs);
    free(idle);
    free(lat);
    free(req);
    if (tfd >= 0)
        close(tfd);
    if (ep >= 0)
        close(ep);
    return status;
}
