/* The Redis store's contract (server/store.h) against a real redis-server
 * started here on a free loopback port: compare-and-set per write, a key's
 * writes applied in order and refused after the first refusal, deletes, the
 * user counter, the NOSCRIPT fallback, and what happens when Redis dies or
 * stops answering (failures, not hangs; healthy() follows). */
#include <check.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/store.h"
#include "tests/unit/run_suite.h"

extern char **environ;

static pid_t redis_pid;
static int redis_port;
static char redis_dir[64];
static store *st;
static mr_error err;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *direct(void)
{
    struct timeval tv = {1, 0};
    return redisConnectWithTimeout("127.0.0.1", redis_port, tv);
}

static void redis_start(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", redis_port);
    char *argv[] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", redis_dir, "--logfile", "/dev/null", NULL};
    ck_assert_int_eq(posix_spawnp(&redis_pid, "redis-server", NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 200; i++) {
        redisContext *c = direct();
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        int up = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (c)
            redisFree(c);
        if (up)
            return;
        usleep(25000);
    }
    ck_abort_msg("redis-server did not start (is it installed?)");
}

static void redis_kill(void)
{
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
}

/* One command on a direct connection; the reply as text ("" for nil). */
static void cmd(char *out, size_t cap, const char *fmt, const char *arg)
{
    redisContext *c = direct();
    ck_assert(c && !c->err);
    redisReply *r = redisCommand(c, fmt, arg);
    ck_assert_ptr_nonnull(r);
    if (r->type == REDIS_REPLY_INTEGER)
        snprintf(out, cap, "%lld", r->integer);
    else
        snprintf(out, cap, "%s", r->str ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

static void setup(void)
{
    snprintf(redis_dir, sizeof redis_dir, "/tmp/microrm-test-redis-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(redis_dir));
    redis_port = free_port();
    redis_start();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis_port);
    st = store_redis_open(url, &err);
}

static void teardown(void)
{
    if (st)
        st->close(st);
    redis_kill();
    rmdir(redis_dir);
}

static store_write wr(const char *key, const char *val, int64_t expect, int64_t version)
{
    return (store_write){key, strlen(key), (const uint8_t *)val, val ? strlen(val) : 0, expect, version};
}

/* commit n writes; returns the store's return value, results in res */
static int commit(store_write *w, size_t n, int *res)
{
    memset(&err, 0, sizeof err);
    return st->commit(st, w, n, res, &err);
}

static void expect_value(const char *key, const char *want)
{
    uint8_t *val = NULL;
    size_t vlen = 0;
    int rc = st->get(st, key, strlen(key), &val, &vlen, &err);
    if (!want) {
        ck_assert_int_eq(rc, 0);
        return;
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_uint_eq(vlen, strlen(want));
    ck_assert(memcmp(val, want, vlen) == 0);
    free(val);
}

START_TEST(compare_and_set)
{
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(store_healthy(st), 1);
    expect_value("ann", NULL);
    int res[4];
    store_write w[4] = {wr("ann", "rec1", 0, 1)};
    ck_assert_int_eq(commit(w, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_OK);
    expect_value("ann", "rec1");

    /* derived from an older version: refused, a conflict is not an error */
    w[0] = wr("ann", "other", 0, 1);
    ck_assert_int_eq(commit(w, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_CONFLICT);
    expect_value("ann", "rec1");
    w[0] = wr("ann", "never", STORE_EXPECT_NEVER, 2);
    ck_assert_int_eq(commit(w, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_CONFLICT);

    /* binary values round-trip */
    char bin[] = {'a', 0, 'b', (char)0xff, 0};
    store_write b = {"ann", 3, (const uint8_t *)bin, 4, 1, 2};
    ck_assert_int_eq(commit(&b, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_OK);
    uint8_t *val;
    size_t vlen;
    ck_assert_int_eq(st->get(st, "ann", 3, &val, &vlen, &err), 1);
    ck_assert_uint_eq(vlen, 4);
    ck_assert(memcmp(val, bin, 4) == 0);
    free(val);

    /* unconditional */
    w[0] = wr("ann", "forced", -1, 7);
    ck_assert_int_eq(commit(w, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_OK);
    char v[64];
    cmd(v, sizeof v, "HGET %s v", "microrm:user:ann");
    ck_assert_str_eq(v, "7");
}
END_TEST

START_TEST(a_keys_writes_apply_in_order_until_one_is_refused)
{
    int res[6];
    store_write w[6] = {
        wr("bo", "b1", 0, 1), wr("cy", "c1", 0, 1), wr("bo", "b2", 1, 2),
        wr("bo", "b3", 2, 3), wr("cy", "c2", 5, 6), wr("cy", "c3", 6, 7),
    };
    ck_assert_int_eq(commit(w, 6, res), 0);
    int want[6] = {STORE_OK, STORE_OK, STORE_OK, STORE_OK, STORE_CONFLICT, STORE_CONFLICT};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(res[i], want[i]);
    expect_value("bo", "b3");
    expect_value("cy", "c1");

    /* refused once, refused after, even when a later one would match */
    store_write x[3] = {wr("bo", "x", 9, 10), wr("bo", "y", 3, 4), wr("bo", "z", -1, 5)};
    ck_assert_int_eq(commit(x, 3, res), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(res[i], STORE_CONFLICT);
    expect_value("bo", "b3");
}
END_TEST

START_TEST(deletes_and_the_user_counter)
{
    int res[4];
    store_write w[3] = {wr("d1", "a", 0, 1), wr("d2", "b", 0, 1), wr("d3", "c", 0, 1)};
    ck_assert_int_eq(commit(w, 3, res), 0);
    ck_assert_uint_eq(st->count(st), 3);
    /* an update of an existing user leaves the count alone */
    w[0] = wr("d1", "a2", 1, 2);
    ck_assert_int_eq(commit(w, 1, res), 0);
    ck_assert_uint_eq(st->count(st), 3);
    store_write del = wr("d2", NULL, -1, 0);
    ck_assert_int_eq(commit(&del, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_OK);
    expect_value("d2", NULL);
    ck_assert_uint_eq(st->count(st), 2);
    /* deleting the absent, and delete + create in one commit */
    ck_assert_int_eq(commit(&del, 1, res), 0);
    ck_assert_uint_eq(st->count(st), 2);
    store_write dc[2] = {wr("d3", NULL, -1, 0), wr("d3", "new", 0, 1)};
    ck_assert_int_eq(commit(dc, 2, res), 0);
    ck_assert_int_eq(res[0] | res[1], STORE_OK);
    expect_value("d3", "new");
    ck_assert_uint_eq(st->count(st), 2);
    ck_assert_int_eq(st->sync(st, &err), 0);
}
END_TEST

START_TEST(noscript_falls_back_to_eval)
{
    char v[64];
    cmd(v, sizeof v, "SCRIPT %s", "FLUSH");
    ck_assert_str_eq(v, "OK");
    int res[2];
    store_write w[2] = {wr("eve", "e1", 0, 1), wr("eve", "e2", 1, 2)};
    ck_assert_int_eq(commit(w, 2, res), 0);
    ck_assert_int_eq(res[0], STORE_OK);
    ck_assert_int_eq(res[1], STORE_OK);
    expect_value("eve", "e2");
}
END_TEST

START_TEST(redis_gone_fails_fast_and_comes_back)
{
    int res[1];
    store_write w = wr("fay", "f1", 0, 1);
    ck_assert_int_eq(commit(&w, 1, res), 0);
    uint64_t before = st->count(st);
    redis_kill();
    /* the first command after the kill may be what finds out */
    for (int i = 0; i < 100 && store_healthy(st); i++) {
        commit(&w, 1, res);
        usleep(10000);
    }
    ck_assert_int_eq(store_healthy(st), 0);
    w = wr("fay", "f2", 1, 2);
    ck_assert_int_eq(commit(&w, 1, res), -1);
    ck_assert_int_eq(res[0], STORE_FAILED);
    ck_assert_ptr_nonnull(strstr(err.msg, "unreachable"));
    uint8_t *val;
    size_t vlen;
    ck_assert_int_eq(st->get(st, "fay", 3, &val, &vlen, &err), -1);
    ck_assert_uint_eq(st->count(st), before);   /* the last known count */

    redis_start();   /* empty: no persistence in this test */
    for (int i = 0; i < 300 && !store_healthy(st); i++)
        usleep(10000);   /* backoff: well under 3 s by now */
    ck_assert_int_eq(store_healthy(st), 1);
    w = wr("fay", "f3", 0, 1);
    ck_assert_int_eq(commit(&w, 1, res), 0);
    ck_assert_int_eq(res[0], STORE_OK);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(a_silent_redis_times_out)
{
    kill(redis_pid, SIGSTOP);
    double t0 = now_s();
    uint8_t *val;
    size_t vlen;
    int rc = st->get(st, "gus", 3, &val, &vlen, &err);
    double waited = now_s() - t0;
    kill(redis_pid, SIGCONT);
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no reply within the timeout"));
    ck_assert(waited > 1.9 && waited < 4.0);
    for (int i = 0; i < 300 && !store_healthy(st); i++)
        usleep(10000);
    ck_assert_int_eq(store_healthy(st), 1);
    ck_assert_int_eq(st->get(st, "gus", 3, &val, &vlen, &err), 0);
}
END_TEST

START_TEST(urls)
{
    const char *bad[][2] = {
        {"redis://", "no host"},
        {"redis://h:0", "port"},
        {"redis://h:70000", "port"},
        {"redis://h:12x", "port"},
        {"redis://h:1/x", "database"},
        {"redis://h:1/-1", "database"},
        {"redis://h:1?x", "port"},
        {"redis://h:1/2/3", "database"},
        {"redis://[::1", "unclosed"},
        {"redis://secret@h:1", "credentials"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mr_error e = {{0}};
        store *s = store_redis_open(bad[i][0], &e);
        ck_assert_msg(s == NULL, "%s opened", bad[i][0]);
        ck_assert_msg(strstr(e.msg, bad[i][1]), "%s: %s", bad[i][0], e.msg);
        ck_assert_ptr_null(strstr(e.msg, "secret"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_redis");
    TCase *tc = tcase_create("live");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, compare_and_set);
    tcase_add_test(tc, a_keys_writes_apply_in_order_until_one_is_refused);
    tcase_add_test(tc, deletes_and_the_user_counter);
    tcase_add_test(tc, noscript_falls_back_to_eval);
    tcase_add_test(tc, redis_gone_fails_fast_and_comes_back);
    tcase_add_test(tc, a_silent_redis_times_out);
    suite_add_tcase(s, tc);
    TCase *tu = tcase_create("urls");
    tcase_add_test(tu, urls);
    suite_add_tcase(s, tu);
    return run_suite(s);
}
