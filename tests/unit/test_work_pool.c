/* The request worker pool (server/work_pool.h): one worker runs items in
 * the order they were queued; many workers fed by many submitters run every
 * item exactly once; stop runs what is still queued before it returns, and
 * is safe on a pool that never started or already stopped. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/work_pool.h"
#include "tests/unit/run_suite.h"

typedef struct {
    work_item item;          /* first: the pool hands this pointer back */
    int id;
    atomic_int runs;
    int *order;              /* where to record the run order (one worker) */
    atomic_int *next_slot;
    int sleep_us;
} job;

static void run_job(work_item *it)
{
    job *j = (job *)it;
    if (j->sleep_us)
        usleep((useconds_t)j->sleep_us);
    atomic_fetch_add(&j->runs, 1);
    if (j->order)
        j->order[atomic_fetch_add(j->next_slot, 1)] = j->id;
}

START_TEST(one_worker_runs_in_queue_order)
{
    enum { N = 200 };
    static job jobs[N];
    static int order[N];
    atomic_int slot = 0;
    work_pool p;
    mr_error e = {{0}};
    ck_assert_int_eq(work_pool_start(&p, 1, &e), 0);
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.item.run = run_job, .id = i, .order = order, .next_slot = &slot,
                        .sleep_us = i == 0 ? 20000 : 0};   /* the rest queue up behind the first */
        atomic_init(&jobs[i].runs, 0);
        work_pool_submit(&p, &jobs[i].item);
    }
    work_pool_stop(&p);
    int ran = atomic_load(&slot);
    ck_assert_int_eq(ran, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(order[i], i);
}
END_TEST

typedef struct {
    work_pool *pool;
    job *jobs;
    int n;
} submitter;

static void *submit_all(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->n; i++)
        work_pool_submit(s->pool, &s->jobs[i].item);
    return NULL;
}

START_TEST(many_workers_run_every_item_once)
{
    enum { SUBMITTERS = 4, PER = 5000 };
    static job jobs[SUBMITTERS][PER];
    work_pool p;
    mr_error e = {{0}};
    ck_assert_int_eq(work_pool_start(&p, 4, &e), 0);
    pthread_t t[SUBMITTERS];
    submitter s[SUBMITTERS];
    for (int k = 0; k < SUBMITTERS; k++) {
        for (int i = 0; i < PER; i++) {
            jobs[k][i] = (job){.item.run = run_job, .id = i};
            atomic_init(&jobs[k][i].runs, 0);
        }
        s[k] = (submitter){&p, jobs[k], PER};
        ck_assert_int_eq(pthread_create(&t[k], NULL, submit_all, &s[k]), 0);
    }
    for (int k = 0; k < SUBMITTERS; k++)
        pthread_join(t[k], NULL);
    work_pool_stop(&p);   /* everything queued has run when it returns */
    for (int k = 0; k < SUBMITTERS; k++)
        for (int i = 0; i < PER; i++)
            ck_assert_msg(atomic_load(&jobs[k][i].runs) == 1, "submitter %d item %d ran %d times", k, i,
                          atomic_load(&jobs[k][i].runs));
}
END_TEST

START_TEST(stop_is_safe_twice_and_before_start)
{
    work_pool never = {0};
    work_pool_stop(&never);
    work_pool p;
    mr_error e = {{0}};
    ck_assert_int_eq(work_pool_start(&p, 0, &e), 0);   /* 0 is taken as 1 */
    ck_assert_uint_eq(p.n_threads, 1);
    job j = {.item.run = run_job};
    atomic_init(&j.runs, 0);
    work_pool_submit(&p, &j.item);
    work_pool_stop(&p);
    work_pool_stop(&p);
    int runs = atomic_load(&j.runs);
    ck_assert_int_eq(runs, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("work_pool");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, one_worker_runs_in_queue_order);
    tcase_add_test(tc, many_workers_run_every_item_once);
    tcase_add_test(tc, stop_is_safe_twice_and_before_start);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
