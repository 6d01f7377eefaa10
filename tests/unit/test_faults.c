/* Out-of-memory discipline (SQLite style): make the Nth allocation fail, for
 * N = 1, 2, ... until the operation runs without meeting a failure. Every
 * failure must end in a clean error (a 500 JSON answer, or NULL with a
 * message) and leak nothing: built only with -Dfault_injection=true, and run
 * under ASan in scripts/test so LeakSanitizer checks every round. jansson's
 * allocations go through the same counter. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/update_request.h"
#include "core/alloc.h"
#include "core/model.h"
#include "core/score.h"
#include "core/user_state.h"
#include "tests/unit/run_suite.h"

#define MAX_ROUNDS 100000

static char model_path[1024];

static void setup(void)
{
    const char *root = getenv("MICRORM_SOURCE_ROOT");
    snprintf(model_path, sizeof model_path, "%s/models/demo.safetensors", root ? root : ".");
    json_set_alloc_funcs(mr_malloc, free);
}

static char *demo_body(int n, int b64)
{
    /* context + n responses of 64 values (the demo model) */
    size_t cap = 65536, len = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    len += (size_t)snprintf(s + len, cap - len, "{\"user\": \"u1\", \"include_heads\": true, \"pairs\": [[0,1]], ");
    if (b64) {
        /* 64 float32 zeros in base64: 256 bytes = 85 quanta of "AAAA" and "AA==" */
        char zeros[345];
        memset(zeros, 'A', 342);
        memcpy(zeros + 342, "==", 3);
        len += (size_t)snprintf(s + len, cap - len, "\"context\": \"%s\", \"responses\": [", zeros);
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(s + len, cap - len, "%s\"%s\"", i ? "," : "", zeros);
    } else {
        len += (size_t)snprintf(s + len, cap - len, "\"context\": [");
        for (int j = 0; j < 64; j++)
            len += (size_t)snprintf(s + len, cap - len, "%s%.3f", j ? "," : "", 0.01 * j);
        len += (size_t)snprintf(s + len, cap - len, "], \"responses\": [");
        for (int i = 0; i < n; i++) {
            len += (size_t)snprintf(s + len, cap - len, "%s[", i ? "," : "");
            for (int j = 0; j < 64; j++)
                len += (size_t)snprintf(s + len, cap - len, "%s%.3f", j ? "," : "", 0.02 * (j - i));
            len += (size_t)snprintf(s + len, cap - len, "]");
        }
    }
    snprintf(s + len, cap - len, "]}");
    return s;
}

/* Runs one handler call per round; returns the rounds it took. */
static long score_rounds(const mr_model *m, const char *body, const char *batch_or_null)
{
    mr_config cfg;
    mr_error e;
    ck_assert_int_eq(mr_config_defaults(&cfg, &e), 0);
    api_ctx ctx = {.model = m, .cfg = &cfg, .ready = true};
    api_request req = {.method = "POST", .path = "/score", .body = body, .body_len = strlen(body)};
    long n;
    for (n = 1; n < MAX_ROUNDS; n++) {
        api_response res = {0};
        mr_alloc_fail_at(n, 0);
        api_handle_score(&ctx, &req, &res);
        long failures = mr_alloc_failures();
        mr_alloc_fail_at(0, 0);
        if (failures == 0) {
            ck_assert_int_eq(res.status, 200);
            free(res.body);
            break;
        }
        /* a clean error, or a success that did not need that allocation */
        ck_assert_msg(res.status == 500 || res.status == 200, "round %ld: status %d: %s", n, res.status,
                      res.body ? res.body : "");
        if (res.status == 500 && res.body)
            ck_assert_ptr_nonnull(strstr(res.body, "\"internal\""));
        free(res.body);
    }
    mr_config_free(&cfg);
    (void)batch_or_null;
    return n;
}

START_TEST(score_handler_survives_every_allocation_failure)
{
    mr_error e;
    mr_model *m = mr_model_load(model_path, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    for (int b64 = 0; b64 <= 1; b64++) {
        char *body = demo_body(3, b64);
        long rounds = score_rounds(m, body, NULL);
        ck_assert_int_gt(rounds, 5);   /* the loop did inject failures */
        ck_assert_int_lt(rounds, MAX_ROUNDS);
        free(body);
    }
    mr_model_free(m);
}
END_TEST

START_TEST(model_handler_survives_every_allocation_failure)
{
    mr_error e;
    mr_model *m = mr_model_load(model_path, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    mr_config cfg;
    ck_assert_int_eq(mr_config_defaults(&cfg, &e), 0);
    api_ctx ctx = {.model = m, .cfg = &cfg, .ready = true};
    api_request req = {.method = "GET", .path = "/model"};
    long n;
    for (n = 1; n < MAX_ROUNDS; n++) {
        api_response res = {0};
        mr_alloc_fail_at(n, 0);
        api_handle_model(&ctx, &req, &res);
        long failures = mr_alloc_failures();
        mr_alloc_fail_at(0, 0);
        free(res.body);
        if (failures == 0) {
            ck_assert_int_eq(res.status, 200);
            break;
        }
        ck_assert(res.status == 500 || res.status == 200);
    }
    ck_assert_int_gt(n, 3);
    mr_config_free(&cfg);
    mr_model_free(m);
}
END_TEST

START_TEST(model_loader_survives_every_allocation_failure)
{
    long n;
    for (n = 1; n < MAX_ROUNDS; n++) {
        mr_error e = {{0}};
        mr_alloc_fail_at(n, 0);
        mr_model *m = mr_model_load(model_path, &e);
        long failures = mr_alloc_failures();
        mr_alloc_fail_at(0, 0);
        if (m) {
            mr_model_free(m);
            if (failures == 0)
                break;
        } else {
            ck_assert_msg(e.msg[0] != '\0', "round %ld: NULL without a message", n);
        }
    }
    ck_assert_int_gt(n, 5);
    ck_assert_int_lt(n, MAX_ROUNDS);
}
END_TEST

START_TEST(update_parser_survives_every_allocation_failure)
{
    const char *body = "{\"user\": \"u\", \"id\": \"k1\", \"feedback\": ["
                       "{\"event\": \"e1\", \"chosen\": 0, \"rejected\": 1},"
                       "{\"context\": [1, 2], \"chosen\": [3, 4], \"rejected\": \"AAAAAAAAAAA=\"}]}";
    mr_update_limits lim = {.d = 2, .dc = 2, .max_feedback = 8};
    long n;
    for (n = 1; n < MAX_ROUNDS; n++) {
        mr_update_body b;
        api_error err;
        mr_alloc_fail_at(n, 0);
        int rc = mr_parse_update_body(body, strlen(body), &lim, &b, &err);
        long failures = mr_alloc_failures();
        mr_alloc_fail_at(0, 0);
        if (rc == 0) {
            ck_assert_int_eq(b.n, 2);
            mr_update_body_free(&b);
            if (failures == 0)
                break;
        } else {
            ck_assert_int_eq(err.status, 500);
        }
    }
    ck_assert_int_gt(n, 3);
}
END_TEST

START_TEST(user_state_survives_every_allocation_failure)
{
    mr_error e;
    mr_model *m = mr_model_load(model_path, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    for (int mode = 0; mode <= 1; mode++) {
        mr_adapt_params ap = {.mode = mode, .eta = 0.5, .gamma = 0.1, .lr = 0.1, .epochs = 2, .buffer = 4, .tau = 1e-3};
        mr_user_state st;
        ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
        float feat[64] = {0}, hc[4] = {1, 0, 0, 0}, hr[4] = {0, 1, 0, 0};
        for (int i = 0; i < 16; i++)
            feat[i] = 0.1f * (float)i;
        size_t len = mr_user_serialized_size(&st);
        uint8_t *buf = malloc(len);
        ck_assert_ptr_nonnull(buf);
        mr_user_serialize(&st, buf);
        long n;
        for (n = 1; n < MAX_ROUNDS; n++) {
            mr_user_state copy;
            mr_before before;
            mr_alloc_fail_at(n, 0);
            int rc = mr_user_deserialize(&copy, buf, len, &e);
            if (rc == 0) {
                uint64_t updates = copy.updates;
                if (mr_user_update(&copy, m, &ap, feat, hc, hr, &before, &e) != 0)
                    ck_assert_uint_eq(copy.updates, updates);   /* unchanged on failure */
                mr_user_free(&copy);
            }
            long failures = mr_alloc_failures();
            mr_alloc_fail_at(0, 0);
            if (failures == 0)
                break;
        }
        ck_assert_int_gt(n, 1);
        free(buf);
        mr_user_free(&st);
    }
    mr_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, score_handler_survives_every_allocation_failure);
    tcase_add_test(tc, model_handler_survives_every_allocation_failure);
    tcase_add_test(tc, model_loader_survives_every_allocation_failure);
    tcase_add_test(tc, update_parser_survives_every_allocation_failure);
    tcase_add_test(tc, user_state_survives_every_allocation_failure);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
