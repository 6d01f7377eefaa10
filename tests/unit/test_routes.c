/* The route table: exact and prefix paths, 404 against 405 with the Allow
 * list, HEAD served by GET routes, and which routes sit outside auth. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "tests/unit/run_suite.h"

static const api_route *find(const char *method, const char *path, const char **arg, int *status,
                             char *allow)
{
    *status = 0;
    return api_route_find(method, path, arg, status, allow, 64);
}

START_TEST(exact_paths)
{
    const char *arg = "x";
    int status;
    char allow[64];
    const api_route *r = find("POST", "/score", &arg, &status, allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->endpoint, "/score");
    ck_assert(r->takes_body);
    ck_assert(!r->public);
    ck_assert_ptr_null(arg);
    r = find("POST", "/route/update", &arg, &status, allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->endpoint, "/route/update");
    ck_assert_ptr_null(find("POST", "/score/", &arg, &status, allow));
    ck_assert_int_eq(status, 404);
    ck_assert_ptr_null(find("POST", "/scores", &arg, &status, allow));
    ck_assert_int_eq(status, 404);
}
END_TEST

START_TEST(prefix_paths_take_the_user)
{
    const char *arg = NULL;
    int status;
    char allow[64];
    const api_route *r = find("GET", "/route/alice", &arg, &status, allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->endpoint, "/route/{user}");
    ck_assert_str_eq(r->method, "GET");
    ck_assert_str_eq(arg, "alice");
    r = find("DELETE", "/route/bob", &arg, &status, allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->method, "DELETE");
    ck_assert_str_eq(arg, "bob");
    /* no empty user, no deeper path */
    ck_assert_ptr_null(find("GET", "/route/", &arg, &status, allow));
    ck_assert_int_eq(status, 404);
    ck_assert_ptr_null(find("GET", "/route/a/b", &arg, &status, allow));
    ck_assert_int_eq(status, 404);
}
END_TEST

START_TEST(wrong_method_is_405_with_allow)
{
    const char *arg;
    int status;
    char allow[64];
    ck_assert_ptr_null(find("GET", "/score", &arg, &status, allow));
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "POST");
    ck_assert_ptr_null(find("PUT", "/route/alice", &arg, &status, allow));
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET, DELETE");
    ck_assert_ptr_null(find("POST", "/healthz", &arg, &status, allow));
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET");
}
END_TEST

START_TEST(head_is_served_by_get)
{
    const char *arg;
    int status;
    char allow[64];
    const api_route *r = find("HEAD", "/healthz", &arg, &status, allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->method, "GET");
}
END_TEST

START_TEST(only_probes_and_metrics_are_public)
{
    for (int i = 0; i < api_n_routes; i++) {
        const api_route *r = &api_routes[i];
        int probe = !strcmp(r->path, "/healthz") || !strcmp(r->path, "/readyz") || !strcmp(r->path, "/metrics");
        ck_assert_msg(r->public == probe, "%s %s public=%d", r->method, r->path, r->public);
        ck_assert_int_eq(api_route_index(r), i);
        /* bodies only where a request has one */
        ck_assert_int_eq(r->takes_body, !strcmp(r->method, "POST"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("routes");
    tcase_add_test(tc, exact_paths);
    tcase_add_test(tc, prefix_paths_take_the_user);
    tcase_add_test(tc, wrong_method_is_405_with_allow);
    tcase_add_test(tc, head_is_served_by_get);
    tcase_add_test(tc, only_probes_and_metrics_are_public);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
