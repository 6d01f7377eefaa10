/* The connection guard (see conn_guard.h): a locked list of connections and
 * a libuv timer that sweeps it. */
#include "server/conn_guard.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define TICK_MS 250

typedef struct conn_state {
    struct conn_state *prev, *next;
    int fd;
    uint64_t since_ms;
    guard_phase phase;
    bool cut;
} conn_state;

struct conn_guard {
    pthread_mutex_t lock;
    conn_state *head;
    uv_timer_t timer;
    bool ticking;
    uint64_t timeout_ms;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_tick(uv_timer_t *t)
{
    conn_guard *g = t->data;
    pthread_mutex_lock(&g->lock);
    /* read the clock under the lock: a worker may restart a connection's
     * clock just before, and since_ms must never be ahead of now */
    uint64_t now = now_ms();
    for (conn_state *cs = g->head; cs; cs = cs->next)
        if (cs->phase != GUARD_PROCESSING && !cs->cut && now > cs->since_ms &&
            now - cs->since_ms > g->timeout_ms) {
            cs->cut = true;
            shutdown(cs->fd, SHUT_RDWR);
        }
    pthread_mutex_unlock(&g->lock);
}

static void free_guard(uv_handle_t *h)
{
    conn_guard *g = h->data;
    pthread_mutex_destroy(&g->lock);
    free(g);
}

conn_guard *conn_guard_start(uv_loop_t *loop, uint64_t timeout_ms, mr_error *e)
{
    conn_guard *g = calloc(1, sizeof *g);
    if (!g || pthread_mutex_init(&g->lock, NULL) != 0) {
        free(g);
        mr_errorf(e, "out of memory for the connection guard");
        return NULL;
    }
    g->timeout_ms = timeout_ms;
    if (timeout_ms == 0)
        return g;
    int rc = uv_timer_init(loop, &g->timer);
    if (rc != 0) {
        mr_errorf(e, "cannot start the connection guard: %s", uv_strerror(rc));
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    g->timer.data = g;
    rc = uv_timer_start(&g->timer, on_tick, TICK_MS, TICK_MS);
    if (rc != 0) {
        mr_errorf(e, "cannot start the connection guard: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&g->timer, free_guard);   /* freed when the loop lets go */
        return NULL;
    }
    g->ticking = true;
    return g;
}

void conn_guard_stop(conn_guard *g)
{
    if (!g)
        return;
    if (g->ticking) {
        uv_close((uv_handle_t *)&g->timer, free_guard);
        return;
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void conn_guard_opened(conn_guard *g, int fd, void **slot)
{
    conn_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return;   /* unguarded: libmicrohttpd's own idle timeout still applies */
    cs->fd = fd;
    cs->since_ms = now_ms();
    pthread_mutex_lock(&g->lock);
    cs->next = g->head;
    if (g->head)
        g->head->prev = cs;
    g->head = cs;
    pthread_mutex_unlock(&g->lock);
    *slot = cs;
}

void conn_guard_closed(conn_guard *g, void **slot)
{
    conn_state *cs = *slot;
    if (!cs)
        return;
    pthread_mutex_lock(&g->lock);
    if (cs->prev)
        cs->prev->next = cs->next;
    else
        g->head = cs->next;
    if (cs->next)
        cs->next->prev = cs->prev;
    pthread_mutex_unlock(&g->lock);
    free(cs);
    *slot = NULL;
}

void conn_guard_enter(conn_guard *g, void *slot, guard_phase phase)
{
    conn_state *cs = slot;
    if (!cs)
        return;
    pthread_mutex_lock(&g->lock);
    if (phase != cs->phase)
        cs->since_ms = now_ms();
    cs->phase = phase;
    pthread_mutex_unlock(&g->lock);
}
