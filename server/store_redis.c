/* The shared store: user states in Redis, so that several replicas serve the
 * same users. One hash per user, microrm:user:<id> = {v: version (decimal),
 * s: the record}, and a counter microrm:users of the hashes (for /metrics).
 *
 * A commit is one pipelined EVALSHA of a compare-and-set script per user:
 * a write lands only if the stored v is the version it was derived from, so
 * two replicas updating one user never lose an update (the loser's request is
 * re-run on the fresh state). Durability is Redis's own: run it with
 * `appendonly yes` and `appendfsync always` for what `strict` promises.
 *
 * hiredis's async API is not thread-safe, so the connection lives on a libuv
 * loop of its own thread. Callers (HTTP workers for get, the committer for
 * commit) hand it an op through a locked queue and uv_async_send, then sleep
 * on the op's condition variable until the loop thread completes it. hiredis
 * 0.14 has no async timeouts: a tick timer drops the connection when the
 * oldest op waits too long, which fails every op in flight; the connection is
 * then re-made with backoff. While it is down, ops fail at once and
 * healthy() says 0.
 *
 * Why a loop of its own rather than the server's: the committer flushes its
 * last writes after the server's loop has stopped (state_service_close), and
 * a store needing that loop would deadlock there. */
#include "server/store.h"

#include <errno.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "server/log.h"

#define TIMEOUT_MS 2000       /* a command (or a connect) not answered by then fails */
#define TICK_MS 50
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define KEY_PREFIX "microrm:user:"
#define COUNT_KEY "microrm:users"

/* KEYS[1] the user, KEYS[2] the counter; ARGV: (expect, version, record)
 * per write, in order; record "" deletes; expect -1 writes unconditionally.
 * Applies writes until one's expectation fails; returns how many applied. */
static const char CAS_SCRIPT[] =
    "local cur = redis.call('HGET', KEYS[1], 'v')\n"
    "local had = cur ~= false\n"
    "local present = had\n"
    "cur = cur or '0'\n"
    "local done = 0\n"
    "for i = 1, #ARGV, 3 do\n"
    "  if ARGV[i] ~= '-1' and ARGV[i] ~= cur then break end\n"
    "  if ARGV[i + 2] == '' then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    cur, present = '0', false\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], 'v', ARGV[i + 1], 's', ARGV[i + 2])\n"
    "    cur, present = ARGV[i + 1], true\n"
    "  end\n"
    "  done = done + 1\n"
    "end\n"
    "if present ~= had then redis.call('INCRBY', KEYS[2], present and 1 or -1) end\n"
    "return done\n";

typedef enum { OP_GET, OP_COMMIT, OP_COUNT } op_kind;

typedef struct rd_op rd_op;

/* The writes of one user in one commit: one script call. */
typedef struct {
    rd_op *op;
    size_t *idx;              /* indices into op->w, in order */
    size_t n;
} rd_group;

/* One request from another thread; lives on the caller's stack. */
struct rd_op {
    rd_op *next;              /* submit queue, then in-flight list */
    op_kind kind;
    const char *key;          /* get */
    size_t klen;
    const store_write *w;     /* commit */
    size_t n;
    int *results;
    /* loop thread's bookkeeping */
    rd_group *groups;
    size_t *order;
    int replies_left;
    uint64_t deadline;
    /* outcome */
    uint8_t *val;
    size_t vlen;
    int found;
    long long count;
    bool failed;
    char err[200];
    bool done;
    pthread_cond_t cv;
};

typedef struct {
    store base;
    char *host;
    int port, db;
    char *user, *password;    /* from the url; NULL: no AUTH */

    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick, retry;

    pthread_mutex_t lock;     /* guards queue, stopping, first_done and ops' done */
    pthread_cond_t opened;
    rd_op *queue, *queue_tail;
    bool stopping, first_done;

    /* loop thread only */
    bool closing;
    redisAsyncContext *ac;
    bool ready;               /* connected, db selected, script loaded */
    uint64_t connect_deadline;
    uint64_t backoff_ms;
    bool down_logged;
    char sha[41];
    rd_op *inflight;
    char last_error[160];

    atomic_int healthy;
    atomic_llong count;       /* last known number of users */
} redis_store;

static void schedule_reconnect(redis_store *s);
static void send_group(redis_store *s, rd_group *g, bool eval);

/* ---- completing ops (loop thread) ---- */

static void op_fail(rd_op *op, const char *fmt, const char *arg)
{
    if (!op->failed) {
        op->failed = true;
        snprintf(op->err, sizeof op->err, fmt, arg);
    }
}

static void op_complete(redis_store *s, rd_op *op)
{
    for (rd_op **p = &s->inflight; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    if (op->groups)
        for (size_t g = 0; op->groups[g].op; g++)
            free(op->groups[g].idx);
    free(op->groups);
    free(op->order);
    pthread_mutex_lock(&s->lock);
    op->done = true;
    pthread_cond_signal(&op->cv);
    pthread_mutex_unlock(&s->lock);   /* the caller may free op from here on */
}

static void reply_done(redis_store *s, rd_op *op)
{
    if (--op->replies_left == 0)
        op_complete(s, op);
}

/* Why a reply is missing: the connection's error, or why we dropped it. */
static const char *lost_reason(redis_store *s, redisAsyncContext *c)
{
    return c && c->err ? c->errstr : s->last_error[0] ? s->last_error : "connection lost";
}

/* ---- connection (loop thread) ---- */

static void set_down(redis_store *s, const char *why)
{
    s->ready = false;
    atomic_store(&s->healthy, 0);
    snprintf(s->last_error, sizeof s->last_error, "%s", why);
    if (!s->down_logged && !s->closing) {
        log_msg(LOG_WARN, "redis %s:%d unavailable: %s (reconnecting with backoff)", s->host, s->port, why);
        s->down_logged = true;
    }
}

/* Drop the connection: hiredis runs every pending callback with a NULL
 * reply, which fails the ops in flight. */
static void drop(redis_store *s, const char *why)
{
    redisAsyncContext *ac = s->ac;
    if (!ac)
        return;
    s->ac = NULL;   /* so that our disconnect callback ignores it */
    set_down(s, why);
    redisAsyncFree(ac);
    schedule_reconnect(s);
}

static void first_attempt_over(redis_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->first_done = true;
    pthread_cond_broadcast(&s->opened);
    pthread_mutex_unlock(&s->lock);
}

static void on_script_loaded(redisAsyncContext *c, void *r, void *priv)
{
    redis_store *s = c->data;
    redisReply *reply = r;
    if (c != s->ac || !reply)
        return;   /* a dropped connection: already handled */
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        char why[160];
        snprintf(why, sizeof why, "SCRIPT LOAD: %s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        drop(s, why);
        first_attempt_over(s);
        return;
    }
    memcpy(s->sha, reply->str, 40);
    s->sha[40] = '\0';
    s->ready = true;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->last_error[0] = '\0';
    atomic_store(&s->healthy, 1);
    log_msg(LOG_INFO, "redis %s:%d db %d connected", s->host, s->port, s->db);
    s->down_logged = false;
    first_attempt_over(s);
}

/* AUTH and SELECT: only an error matters (priv names the command). */
static void on_setup_reply(redisAsyncContext *c, void *r, void *priv)
{
    redis_store *s = c->data;
    redisReply *reply = r;
    if (c != s->ac || !reply || reply->type != REDIS_REPLY_ERROR)
        return;
    char why[160];
    snprintf(why, sizeof why, "%s: %s", (const char *)priv, reply->str);
    drop(s, why);
    first_attempt_over(s);
}

static void on_connected(const redisAsyncContext *c, int status)
{
    redis_store *s = c->data;
    if (status == REDIS_OK || c != s->ac)
        return;
    s->ac = NULL;   /* hiredis frees it after this callback */
    set_down(s, c->errstr);
    schedule_reconnect(s);
    first_attempt_over(s);
}

static void on_disconnected(const redisAsyncContext *c, int status)
{
    redis_store *s = c->data;
    if (c != s->ac)
        return;   /* dropped by us */
    s->ac = NULL;
    set_down(s, c->err ? c->errstr : "connection closed");
    schedule_reconnect(s);
}

static void connect_now(redis_store *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    const char *why = !ac ? "out of memory" : ac->err ? ac->errstr : NULL;
    if (!why && redisLibuvAttach(ac, &s->loop) != REDIS_OK)
        why = "cannot attach to the event loop";
    if (why) {
        set_down(s, why);
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(s);
        first_attempt_over(s);
        return;
    }
    ac->data = s;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    s->ac = ac;
    s->connect_deadline = uv_now(&s->loop) + TIMEOUT_MS;
    /* pipelined behind the connect; the first error drops the connection */
    int rc = REDIS_OK;
    if (s->password && s->user)
        rc = redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s %s", s->user, s->password);
    else if (s->password)
        rc = redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s", s->password);
    if (rc == REDIS_OK && s->db != 0)
        rc = redisAsyncCommand(ac, on_setup_reply, "SELECT", "SELECT %d", s->db);
    if (rc == REDIS_OK)
        rc = redisAsyncCommand(ac, on_script_loaded, NULL, "SCRIPT LOAD %s", CAS_SCRIPT);
    if (rc != REDIS_OK) {
        drop(s, "cannot queue the connection's first commands");
        first_attempt_over(s);
    }
}

static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

static void schedule_reconnect(redis_store *s)
{
    if (s->closing)
        return;
    uv_timer_start(&s->retry, on_retry, s->backoff_ms, 0);
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* The timeouts hiredis 0.14 lacks: replies come in order, so the oldest op
 * in flight is the one to watch. */
static void on_tick(uv_timer_t *t)
{
    redis_store *s = t->data;
    uint64_t now = uv_now(&s->loop);
    if (s->ac && !s->ready && now >= s->connect_deadline) {
        drop(s, "connect timed out");
        first_attempt_over(s);
    } else if (s->ac && s->inflight && now >= s->inflight->deadline) {
        drop(s, "no reply within the timeout");
    }
}

/* ---- issuing ops (loop thread) ---- */

static char *user_key(const char *id, size_t len, size_t *out_len)
{
    size_t p = sizeof KEY_PREFIX - 1;
    char *k = malloc(p + len + 1);
    if (k) {
        memcpy(k, KEY_PREFIX, p);
        memcpy(k + p, id, len);
        k[p + len] = '\0';
        *out_len = p + len;
    }
    return k;
}

static void on_get_reply(redisAsyncContext *c, void *r, void *priv)
{
    redis_store *s = c->data;
    rd_op *op = priv;
    redisReply *reply = r;
    if (!reply) {
        op_fail(op, "%s", lost_reason(s, c));
    } else if (reply->type == REDIS_REPLY_STRING) {
        op->val = malloc(reply->len ? reply->len : 1);
        if (!op->val) {
            op_fail(op, "%s", "out of memory reading a user state");
        } else {
            memcpy(op->val, reply->str, reply->len);
            op->vlen = reply->len;
            op->found = 1;
        }
    } else if (reply->type == REDIS_REPLY_ERROR) {
        op_fail(op, "%s", reply->str);
    } else if (reply->type != REDIS_REPLY_NIL) {
        op_fail(op, "%s", "unexpected reply to HGET");
    }
    reply_done(s, op);
}

static void on_count_reply(redisAsyncContext *c, void *r, void *priv)
{
    redis_store *s = c->data;
    rd_op *op = priv;
    redisReply *reply = r;
    if (!reply)
        op_fail(op, "%s", lost_reason(s, c));
    else if (reply->type == REDIS_REPLY_STRING)
        op->count = strtoll(reply->str, NULL, 10);
    else if (reply->type != REDIS_REPLY_NIL)
        op_fail(op, "%s", reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply to GET");
    reply_done(s, op);
}

static void on_cas_reply(redisAsyncContext *c, void *r, void *priv)
{
    redis_store *s = c->data;
    rd_group *g = priv;
    rd_op *op = g->op;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8) && c == s->ac) {
        send_group(s, g, true);   /* the script cache was flushed: send it whole */
        return;
    }
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        for (size_t i = 0; i < g->n; i++)
            op->results[g->idx[i]] = (long long)i < reply->integer ? STORE_OK : STORE_CONFLICT;
    } else {
        for (size_t i = 0; i < g->n; i++)
            op->results[g->idx[i]] = STORE_FAILED;
        op_fail(op, "%s", !reply ? lost_reason(s, c)
                          : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply to the script");
    }
    reply_done(s, op);
}

/* EVALSHA sha 2 user counter (expect version record)... — or EVAL with the
 * script's text after a NOSCRIPT. A failure to queue counts as a reply. */
static void send_group(redis_store *s, rd_group *g, bool eval)
{
    rd_op *op = g->op;
    size_t argc = 5 + 3 * g->n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *argl = malloc(argc * sizeof *argl);
    char *nums = malloc(g->n * 2 * 24);
    size_t klen = 0;
    const store_write *first = &op->w[g->idx[0]];
    char *key = user_key(first->key, first->klen, &klen);
    int rc = REDIS_ERR;
    if (argv && argl && nums && key) {
        argv[0] = eval ? "EVAL" : "EVALSHA";
        argv[1] = eval ? CAS_SCRIPT : s->sha;
        argv[2] = "2";
        argv[3] = key;
        argv[4] = COUNT_KEY;
        argl[0] = strlen(argv[0]);
        argl[1] = strlen(argv[1]);
        argl[2] = 1;
        argl[3] = klen;
        argl[4] = sizeof COUNT_KEY - 1;
        for (size_t i = 0; i < g->n; i++) {
            const store_write *w = &op->w[g->idx[i]];
            char *expect = nums + i * 48, *version = expect + 24;
            size_t a = 5 + 3 * i;
            argl[a] = (size_t)snprintf(expect, 24, "%lld", (long long)w->expect_version);
            argl[a + 1] = (size_t)snprintf(version, 24, "%lld", (long long)w->new_version);
            argv[a] = expect;
            argv[a + 1] = version;
            argv[a + 2] = w->val ? (const char *)w->val : "";
            argl[a + 2] = w->val ? w->vlen : 0;
        }
        /* hiredis copies the command into its buffer: argv may go now */
        rc = redisAsyncCommandArgv(s->ac, on_cas_reply, g, (int)argc, argv, argl);
    }
    free(argv);
    free(argl);
    free(nums);
    free(key);
    if (rc != REDIS_OK) {
        for (size_t i = 0; i < g->n; i++)
            op->results[g->idx[i]] = STORE_FAILED;
        op_fail(op, "%s", "cannot queue the write");
        reply_done(s, op);
    }
}

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

/* Split a commit into one group per user, writes in their order. */
static int group_writes(rd_op *op)
{
    size_t n = op->n, cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot);          /* open addressing: group index + 1 */
    size_t *first = malloc(n * sizeof *first);         /* each group's first write */
    size_t *group_of = malloc(n * sizeof *group_of);
    size_t *sizes = calloc(n, sizeof *sizes);
    op->groups = calloc(n + 1, sizeof *op->groups);    /* ends with an entry whose op is NULL */
    int rc = -1;
    if (!slot || !first || !group_of || !sizes || !op->groups)
        goto out;
    size_t ngroups = 0;
    for (size_t i = 0; i < n; i++) {
        const store_write *w = &op->w[i];
        size_t h = (size_t)hash_key(w->key, w->klen) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            if (!slot[h]) {
                first[ngroups] = i;
                slot[h] = ++ngroups;
                break;
            }
            const store_write *f = &op->w[first[slot[h] - 1]];
            if (f->klen == w->klen && !memcmp(f->key, w->key, w->klen))
                break;
        }
        group_of[i] = slot[h] - 1;
        sizes[group_of[i]]++;
    }
    for (size_t g = 0; g < ngroups; g++) {
        if (!(op->groups[g].idx = malloc(sizes[g] * sizeof(size_t))))
            goto out;   /* op_complete frees the groups before this one */
        op->groups[g].op = op;
    }
    for (size_t i = 0; i < n; i++) {
        rd_group *g = &op->groups[group_of[i]];
        g->idx[g->n++] = i;
    }
    rc = 0;
out:
    free(slot);
    free(first);
    free(group_of);
    free(sizes);
    return rc;
}

static void issue(redis_store *s, rd_op *op)
{
    if (!s->ready) {
        if (op->kind == OP_COMMIT)
            for (size_t i = 0; i < op->n; i++)
                op->results[i] = STORE_FAILED;
        op_fail(op, "unreachable: %s", s->last_error[0] ? s->last_error : "not connected yet");
        op_complete(s, op);
        return;
    }
    op->deadline = uv_now(&s->loop) + TIMEOUT_MS;
    /* in flight before sending: a send may complete it at once */
    rd_op **tail = &s->inflight;
    while (*tail)
        tail = &(*tail)->next;
    op->next = NULL;
    *tail = op;
    op->replies_left = 1;
    if (op->kind == OP_GET) {
        size_t klen = 0;
        char *key = user_key(op->key, op->klen, &klen);
        const char *argv[] = {"HGET", key, "s"};
        size_t argl[] = {4, klen, 1};
        if (!key || redisAsyncCommandArgv(s->ac, on_get_reply, op, 3, argv, argl) != REDIS_OK) {
            op_fail(op, "%s", "cannot queue the read");
            reply_done(s, op);
        }
        free(key);
    } else if (op->kind == OP_COUNT) {
        if (redisAsyncCommand(s->ac, on_count_reply, op, "GET %s", COUNT_KEY) != REDIS_OK) {
            op_fail(op, "%s", "cannot queue the count");
            reply_done(s, op);
        }
    } else if (op->n == 0) {
        reply_done(s, op);
    } else if (group_writes(op) != 0) {
        for (size_t i = 0; i < op->n; i++)
            op->results[i] = STORE_FAILED;
        op_fail(op, "%s", "out of memory");
        reply_done(s, op);
    } else {
        size_t ngroups = 0;
        while (op->groups[ngroups].op)
            ngroups++;
        op->replies_left = (int)ngroups + 1;   /* +1 until every group is sent */
        for (size_t g = 0; g < ngroups; g++)
            send_group(s, &op->groups[g], false);
        reply_done(s, op);
    }
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_wake(uv_async_t *a)
{
    redis_store *s = a->data;
    pthread_mutex_lock(&s->lock);
    rd_op *op = s->queue;
    s->queue = s->queue_tail = NULL;
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) {
        s->closing = true;
        drop(s, "the store is closing");
        uv_timer_stop(&s->retry);
    }
    while (op) {
        rd_op *next = op->next;
        issue(s, op);
        op = next;
    }
    if (stopping) {
        close_handle((uv_handle_t *)&s->wake);
        close_handle((uv_handle_t *)&s->tick);
        close_handle((uv_handle_t *)&s->retry);
    }
}

static void *loop_main(void *arg)
{
    redis_store *s = arg;
    connect_now(s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- the store interface (any thread) ---- */

/* Queue op for the loop thread and wait for its outcome. */
static int run_op(redis_store *s, rd_op *op)
{
    pthread_cond_init(&op->cv, NULL);
    op->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        pthread_cond_destroy(&op->cv);
        snprintf(op->err, sizeof op->err, "the store is closed");
        return -1;
    }
    if (s->queue_tail)
        s->queue_tail->next = op;
    else
        s->queue = op;
    s->queue_tail = op;
    /* under the lock: once stopping is seen, the loop thread may close it */
    uv_async_send(&s->wake);
    while (!op->done)
        pthread_cond_wait(&op->cv, &s->lock);
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&op->cv);
    return op->failed ? -1 : 0;
}

static int rd_get(store *base, const char *key, size_t klen, uint8_t **val, size_t *vlen, mr_error *e)
{
    redis_store *s = (redis_store *)base;
    rd_op op = {.kind = OP_GET, .key = key, .klen = klen};
    if (run_op(s, &op) != 0) {
        free(op.val);
        return mr_errorf(e, "redis %s:%d: %s", s->host, s->port, op.err);
    }
    if (!op.found)
        return 0;
    *val = op.val;
    *vlen = op.vlen;
    return 1;
}

static int rd_commit(store *base, const store_write *w, size_t n, int *results, mr_error *e)
{
    redis_store *s = (redis_store *)base;
    rd_op op = {.kind = OP_COMMIT, .w = w, .n = n, .results = results};
    for (size_t i = 0; i < n; i++)
        results[i] = STORE_FAILED;
    if (run_op(s, &op) != 0)
        return mr_errorf(e, "redis %s:%d: %s", s->host, s->port, op.err);
    return 0;
}

static int rd_sync(store *base, mr_error *e)
{
    return 0;   /* Redis persists on its own (appendfsync) */
}

static uint64_t rd_count(store *base)
{
    redis_store *s = (redis_store *)base;
    rd_op op = {.kind = OP_COUNT};
    if (run_op(s, &op) == 0)
        atomic_store(&s->count, op.count > 0 ? op.count : 0);
    return (uint64_t)atomic_load(&s->count);
}

static int rd_healthy(store *base)
{
    return atomic_load(&((redis_store *)base)->healthy);
}

static void free_url(redis_store *s)
{
    free(s->host);
    free(s->user);
    free(s->password);
}

static void rd_close(store *base)
{
    redis_store *s = (redis_store *)base;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    uv_async_send(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    if (uv_loop_close(&s->loop) != 0)
        log_msg(LOG_WARN, "redis store: its event loop still had handles at exit");
    pthread_cond_destroy(&s->opened);
    pthread_mutex_destroy(&s->lock);
    free_url(s);
    free(s);
}

/* redis://[[user]:password@]host[:port][/db]; host may be [v6 address]. */
static int parse_url(const char *url, redis_store *s, mr_error *e)
{
    const char *p = url + 8, *end;
    size_t hlen;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return mr_errorf(e, "store: a Redis url's credentials are [user]:password@");
        if (colon > p && !(s->user = strndup(p, (size_t)(colon - p))))
            return mr_errorf(e, "out of memory");
        if (!(s->password = strndup(colon + 1, (size_t)(at - colon - 1))))
            return mr_errorf(e, "out of memory");
        p = at + 1;
        url = "redis://[[user]:password@]host:port[/db]";   /* never echo a password */
    }
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end)
            return mr_errorf(e, "store '%s': unclosed [ in the host", url);
        hlen = (size_t)(end - p - 1);
        p++;
        end++;
    } else {
        end = p + strcspn(p, ":/");
        hlen = (size_t)(end - p);
    }
    if (hlen == 0)
        return mr_errorf(e, "store '%s': no host; expected redis://host:port[/db]", url);
    if (!(s->host = strndup(p, hlen)))
        return mr_errorf(e, "out of memory");
    s->port = 6379;
    if (*end == ':') {
        char *q;
        errno = 0;
        long port = strtol(end + 1, &q, 10);
        if (q == end + 1 || errno || port < 1 || port > 65535 || (*q && *q != '/'))
            return mr_errorf(e, "store '%s': the port must be 1..65535", url);
        s->port = (int)port;
        end = q;
    }
    if (*end == '/' && end[1]) {
        char *q;
        errno = 0;
        long db = strtol(end + 1, &q, 10);
        if (q == end + 1 || *q || errno || db < 0 || db > 1000000)
            return mr_errorf(e, "store '%s': the database must be a number", url);
        s->db = (int)db;
    } else if (*end && strcmp(end, "/")) {
        return mr_errorf(e, "store '%s': expected redis://host:port[/db]", url);
    }
    return 0;
}

store *store_redis_open(const char *url, mr_error *e)
{
    redis_store *s = calloc(1, sizeof *s);
    if (!s) {
        mr_errorf(e, "out of memory");
        return NULL;
    }
    if (parse_url(url, s, e) != 0) {
        free_url(s);
        free(s);
        return NULL;
    }
    s->base = (store){"redis", rd_get, rd_commit, rd_sync, rd_count, rd_close, rd_healthy};
    s->backoff_ms = BACKOFF_MIN_MS;
    int rc = uv_loop_init(&s->loop);
    if (rc == 0 && (rc = uv_async_init(&s->loop, &s->wake, on_wake)) == 0) {
        uv_timer_init(&s->loop, &s->tick);
        uv_timer_init(&s->loop, &s->retry);
        s->wake.data = s->tick.data = s->retry.data = s;
        uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    }
    if (rc != 0) {
        mr_errorf(e, "redis store: cannot set up its event loop: %s", uv_strerror(rc));
        free_url(s);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->opened, NULL);
    if ((rc = pthread_create(&s->thread, NULL, loop_main, s)) != 0) {
        mr_errorf(e, "redis store: cannot start its thread: %s", strerror(rc));
        uv_close((uv_handle_t *)&s->wake, NULL);
        uv_close((uv_handle_t *)&s->tick, NULL);
        uv_close((uv_handle_t *)&s->retry, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        pthread_cond_destroy(&s->opened);
        pthread_mutex_destroy(&s->lock);
        free_url(s);
        free(s);
        return NULL;
    }
    /* Give the first connection a chance, so that a healthy start is ready at
     * once; if Redis is not there, serve anyway (not ready) and keep trying. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += TIMEOUT_MS / 1000 + 1;
    pthread_mutex_lock(&s->lock);
    while (!s->first_done && pthread_cond_timedwait(&s->opened, &s->lock, &until) == 0) {
    }
    pthread_mutex_unlock(&s->lock);
    return &s->base;
}
