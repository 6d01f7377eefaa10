/* api/update_request: the direct, event and list forms of POST /route/update
 * with both vector encodings and the half dtypes, and every error with its
 * status, code and field path. Run under ASan, every error path is also a
 * leak check (CK_FORK=no lets LeakSanitizer see the whole run). */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_reader.h"
#include "api/update_request.h"
#include "core/alloc.h"
#include "tests/unit/body_text.h"
#include "tests/unit/run_suite.h"

/* d != dc so that a context/response mix-up cannot pass. */
static const mr_update_limits LIM = { .d = 8, .dc = 4, .max_feedback = 3 };

static void check_base(const float *v, int dim, float base)
{
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < dim; i++)
        ck_assert_float_eq(v[i], base + (float)i / 8);
}

static void expect_err_lim(const char *body, const mr_update_limits *lim, int status, const char *code,
                           const char *field, const char *message)
{
    mr_update_body out;
    api_error err;
    memset(&err, 0, sizeof err);
    int rc = mr_parse_update_body(body, strlen(body), lim, &out, &err);
    ck_assert_msg(rc == -1, "accepted: %.300s", body);
    ck_assert_int_eq(out.n, 0);
    ck_assert_ptr_null(out.items);
    ck_assert_ptr_null(out.user);
    ck_assert_ptr_null(out.id);
    ck_assert_msg(err.status == status && err.code && strcmp(err.code, code) == 0 && strcmp(err.field, field) == 0,
                  "%.300s\n -> %d %s [%s] %s\n want %d %s [%s]", body, err.status, err.code, err.field, err.message,
                  status, code, field);
    if (message)
        ck_assert_str_eq(err.message, message);
    else if (field[0]) /* the message starts with the path */
        ck_assert_msg(strncmp(err.message, field, strlen(field)) == 0 && err.message[strlen(field)] == ':',
                      "message \"%s\" does not start with \"%s:\"", err.message, field);
}

static void expect_err(const char *body, int status, const char *code, const char *field, const char *message)
{
    expect_err_lim(body, &LIM, status, code, field, message);
}

static void ok_body(const char *body, mr_update_body *out)
{
    api_error err;
    memset(&err, 0, sizeof err);
    int rc = mr_parse_update_body(body, strlen(body), &LIM, out, &err);
    ck_assert_msg(rc == 0, "%.300s\n -> %d %s %s", body, err.status, err.code, err.message);
}

#define V4 "[1,2,3,4]"
#define V8 "[1,2,3,4,5,6,7,8]"
#define V7 "[1,2,3,4,5,6,7]"
#define DIRECT "\"context\":" V4 ",\"chosen\":" V8 ",\"rejected\":" V8
#define EVENT "\"event\":\"ev-1\",\"chosen\":1,\"rejected\":0"

START_TEST(direct_form)
{
    sbuf s = { 0 };
    /* Fields in an unusual order, an unknown field of every kind. */
    add(&s, "{\"rejected\":");
    arr(&s, 8, -1.0f);
    add(&s, ",\"extra\":{\"x\":[1,{\"y\":null},\"s\",true]},\"user\":\"alice@example.com\",\"chosen\":");
    arr(&s, 8, 2.0f);
    add(&s, ",\"id\":\"req-\\u00e9\",\"context\":");
    arr(&s, 4, 0.5f);
    add(&s, "}");
    mr_update_body b;
    ok_body(s.b, &b);
    ck_assert(!b.is_list);
    ck_assert_int_eq(b.n, 1);
    ck_assert_str_eq(b.user, "alice@example.com");
    ck_assert_str_eq(b.id, "req-\xc3\xa9");
    mr_feedback *f = &b.items[0];
    ck_assert(!f->is_event);
    ck_assert_ptr_null(f->event);
    check_base(f->context, 4, 0.5f);
    check_base(f->chosen, 8, 2.0f);
    check_base(f->rejected, 8, -1.0f);
    mr_update_body_free(&b);
    ck_assert_ptr_null(b.items);
    ck_assert_int_eq(b.n, 0);

    /* Optional fields null are absent. */
    s.n = 0;
    add(&s, "{\"user\":\"u\",\"id\":null,\"event\":null,\"dtype\":null," DIRECT "}");
    ok_body(s.b, &b);
    ck_assert_ptr_null(b.id);
    ck_assert(!b.items[0].is_event);
    ck_assert_float_eq(b.items[0].context[3], 4.0f);
    ck_assert_float_eq(b.items[0].rejected[7], 8.0f);
    mr_update_body_free(&b);
    free(s.b);
}
END_TEST

START_TEST(base64_equals_array)
{
    /* Random bit patterns (non-finite ones flipped finite), printed with 9
     * significant digits: each names one float exactly. */
    uint64_t st = 987654321;
    for (int it = 0; it < 100; it++) {
        float v[3][8];
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < 8; i++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                uint32_t u = (uint32_t)(st >> 32);
                if ((u & 0x7F800000u) == 0x7F800000u)
                    u ^= 0x40000000u;
                memcpy(&v[r][i], &u, 4);
            }
        static const char *const names[3] = { "context", "chosen", "rejected" };
        sbuf a = { 0 }, c = { 0 };
        for (int form = 0; form < 2; form++) {
            sbuf *s = form ? &c : &a;
            add(s, "{\"user\":\"u\"");
            for (int r = 0; r < 3; r++) {
                int dim = r ? 8 : 4;
                add(s, ",\"%s\":", names[r]);
                if (form) {
                    b64(s, v[r], (size_t)dim * 4);
                } else {
                    add(s, "[");
                    for (int i = 0; i < dim; i++)
                        add(s, "%s%.9g", i ? "," : "", (double)v[r][i]);
                    add(s, "]");
                }
            }
            add(s, "}");
        }
        mr_update_body x, y;
        ok_body(a.b, &x);
        ok_body(c.b, &y);
        mr_update_body *bs[2] = { &x, &y };
        for (int k = 0; k < 2; k++) {
            ck_assert_mem_eq(bs[k]->items[0].context, v[0], 4 * sizeof(float));
            ck_assert_mem_eq(bs[k]->items[0].chosen, v[1], sizeof v[1]);
            ck_assert_mem_eq(bs[k]->items[0].rejected, v[2], sizeof v[2]);
        }
        mr_update_body_free(&x);
        mr_update_body_free(&y);
        free(a.b);
        free(c.b);
    }
}
END_TEST

START_TEST(half_dtypes)
{
    /* Hand-encoded: bf16 0x3F80 = 1, 0xC000 = -2, 0x3E80 = 0.25, 0x4049 = 3.140625;
     * f16 0x3C00 = 1, 0xC000 = -2, 0x3400 = 0.25, 0x4248 = 3.140625. */
    static const uint16_t bf[8] = { 0x3F80, 0xC000, 0x3E80, 0x4049, 0x0000, 0x8000, 0x3F80, 0x4049 };
    static const uint16_t hf[8] = { 0x3C00, 0xC000, 0x3400, 0x4248, 0x0000, 0x8000, 0x3C00, 0x4248 };
    static const float want[8] = { 1.0f, -2.0f, 0.25f, 3.140625f, 0.0f, -0.0f, 1.0f, 3.140625f };
    sbuf s = { 0 };
    /* dtype after the vectors; the array-form context is unaffected by it. */
    add(&s, "{\"user\":\"u\",\"context\":" V4 ",\"chosen\":");
    b64(&s, bf, 16);
    add(&s, ",\"rejected\":");
    b64(&s, bf + 4, 8); /* only 4 bf16 values: 8 wanted */
    add(&s, ",\"dtype\":\"bfloat16\"}");
    expect_err(s.b, 400, "dimension_mismatch", "rejected", NULL);

    s.n = 0;
    add(&s, "{\"user\":\"u\",\"context\":" V4 ",\"chosen\":");
    b64(&s, bf, 16);
    add(&s, ",\"rejected\":");
    b64(&s, bf, 16);
    add(&s, ",\"dtype\":\"bfloat16\"}");
    mr_update_body b;
    ok_body(s.b, &b);
    ck_assert_mem_eq(b.items[0].chosen, want, sizeof want);
    ck_assert_mem_eq(b.items[0].rejected, want, sizeof want);
    ck_assert_float_eq(b.items[0].context[1], 2.0f);
    mr_update_body_free(&b);

    /* List: outer float16, the second item overrides with bfloat16. */
    s.n = 0;
    add(&s, "{\"user\":\"u\",\"dtype\":\"float16\",\"feedback\":[{\"context\":");
    b64(&s, hf, 8);
    add(&s, ",\"chosen\":");
    b64(&s, hf, 16);
    add(&s, ",\"rejected\":" V8 "},{\"dtype\":\"bfloat16\",\"context\":" V4 ",\"chosen\":" V8 ",\"rejected\":");
    b64(&s, bf, 16);
    add(&s, "}]}");
    ok_body(s.b, &b);
    ck_assert_int_eq(b.n, 2);
    ck_assert_mem_eq(b.items[0].context, want, 4 * sizeof(float));
    ck_assert_mem_eq(b.items[0].chosen, want, sizeof want);
    ck_assert_float_eq(b.items[0].rejected[7], 8.0f);
    ck_assert_mem_eq(b.items[1].rejected, want, sizeof want);
    mr_update_body_free(&b);

    /* float32 text read as bfloat16 holds twice the values. */
    s.n = 0;
    add(&s, "{\"user\":\"u\",\"dtype\":\"bfloat16\",\"context\":" V4 ",\"chosen\":");
    float f8[8] = { 0 };
    b64(&s, f8, sizeof f8);
    add(&s, ",\"rejected\":" V8 "}");
    expect_err(s.b, 400, "dimension_mismatch", "chosen", "chosen: expected 8 values, got 16");
    free(s.b);
}
END_TEST

START_TEST(event_form)
{
    mr_update_body b;
    /* No user: the event knows it. */
    ok_body("{\"chosen\":2,\"rejected\":0,\"event\":\"ev-\\\"7\\\"\"}", &b);
    ck_assert(!b.is_list);
    ck_assert_int_eq(b.n, 1);
    ck_assert_ptr_null(b.user);
    ck_assert_ptr_null(b.id);
    ck_assert(b.items[0].is_event);
    ck_assert_str_eq(b.items[0].event, "ev-\"7\"");
    ck_assert_int_eq(b.items[0].chosen_idx, 2);
    ck_assert_int_eq(b.items[0].rejected_idx, 0);
    ck_assert_ptr_null(b.items[0].context);
    ck_assert_ptr_null(b.items[0].chosen);
    ck_assert_ptr_null(b.items[0].rejected);
    mr_update_body_free(&b);

    /* A user may be given (the server checks it owns the event); the largest index. */
    ok_body("{\"user\":\"bob\",\"id\":\"k1\",\"event\":\"e\",\"chosen\":0,\"rejected\":2147483647}", &b);
    ck_assert_str_eq(b.user, "bob");
    ck_assert_str_eq(b.id, "k1");
    ck_assert_int_eq(b.items[0].chosen_idx, 0);
    ck_assert_int_eq(b.items[0].rejected_idx, 2147483647);
    mr_update_body_free(&b);
}
END_TEST

START_TEST(list_form)
{
    sbuf s = { 0 };
    add(&s, "{\"id\":\"batch-9\",\"feedback\":[{" EVENT "},{\"user\":\"ignored\",\"id\":12,\"context\":");
    arr(&s, 4, 10.0f);
    add(&s, ",\"chosen\":");
    arr(&s, 8, 20.0f);
    add(&s, ",\"rejected\":");
    arr(&s, 8, 30.0f);
    add(&s, "},{\"rejected\":5,\"chosen\":3,\"event\":\"ev-2\"}],\"user\":\"carol\"}");
    mr_update_body b;
    ok_body(s.b, &b);
    ck_assert(b.is_list);
    ck_assert_int_eq(b.n, 3);
    ck_assert_str_eq(b.user, "carol");
    ck_assert_str_eq(b.id, "batch-9");
    ck_assert(b.items[0].is_event);
    ck_assert_str_eq(b.items[0].event, "ev-1");
    ck_assert_int_eq(b.items[0].chosen_idx, 1);
    ck_assert_int_eq(b.items[0].rejected_idx, 0);
    ck_assert(!b.items[1].is_event);
    ck_assert_ptr_null(b.items[1].event);
    check_base(b.items[1].context, 4, 10.0f);
    check_base(b.items[1].chosen, 8, 20.0f);
    check_base(b.items[1].rejected, 8, 30.0f);
    ck_assert(b.items[2].is_event);
    ck_assert_str_eq(b.items[2].event, "ev-2");
    ck_assert_int_eq(b.items[2].chosen_idx, 3);
    ck_assert_int_eq(b.items[2].rejected_idx, 5);
    mr_update_body_free(&b);

    /* Event items only: no user needed; one item is a list of one. */
    ok_body("{\"feedback\":[{" EVENT "}]}", &b);
    ck_assert(b.is_list);
    ck_assert_int_eq(b.n, 1);
    ck_assert_ptr_null(b.user);
    mr_update_body_free(&b);

    /* Exactly max_feedback items. */
    ok_body("{\"feedback\":[{" EVENT "},{" EVENT "},{" EVENT "}]}", &b);
    ck_assert_int_eq(b.n, 3);
    mr_update_body_free(&b);
    free(s.b);
}
END_TEST

START_TEST(user_errors)
{
    expect_err("{" DIRECT "}", 400, "missing_field", "user", NULL);
    expect_err("{\"user\":null," DIRECT "}", 400, "missing_field", "user", NULL);
    expect_err("{\"feedback\":[{" EVENT "},{" DIRECT "}]}", 400, "missing_field", "user", NULL);
    expect_err("{\"user\":\"a b\"," DIRECT "}", 400, "bad_user", "user",
               "user: a user id may hold only letters, digits and - _ . : @ + = (byte 1 is not one of them)");
    expect_err("{\"user\":\"caf\\u00e9\"," DIRECT "}", 400, "bad_user", "user", NULL);
    expect_err("{\"user\":\"a/b\"," EVENT "}", 400, "bad_user", "user", NULL);
    expect_err("{\"user\":\"\"," DIRECT "}", 400, "bad_user", "user", NULL);
    expect_err("{\"user\":42," DIRECT "}", 400, "bad_type", "user", NULL);
    expect_err("{\"user\":[\"u\"]," DIRECT "}", 400, "bad_type", "user", NULL);

    char name[200], body[400];
    memset(name, 'u', 129);
    name[129] = 0;
    snprintf(body, sizeof body, "{\"user\":\"%s\"," EVENT "}", name);
    expect_err(body, 400, "bad_user", "user", "user: a user id is at most 128 bytes, this one has 129");
    name[128] = 0;
    snprintf(body, sizeof body, "{\"user\":\"%s\"," EVENT "}", name);
    mr_update_body b;
    ok_body(body, &b);
    ck_assert_uint_eq(strlen(b.user), 128);
    mr_update_body_free(&b);
}
END_TEST

START_TEST(vector_errors)
{
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":" V7 ",\"rejected\":" V8 "}", 400, "dimension_mismatch",
               "chosen", "chosen: expected 8 values, got 7");
    expect_err("{\"user\":\"u\",\"context\":" V8 ",\"chosen\":" V8 ",\"rejected\":" V8 "}", 400, "dimension_mismatch",
               "context", "context: expected 4 values, got 8");
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":" V8 ",\"rejected\":[]}", 400, "dimension_mismatch",
               "rejected", "rejected: expected 8 values, got 0");
    expect_err("{\"user\":\"u\",\"feedback\":[{" EVENT "},{" EVENT "},{\"context\":" V4 ",\"chosen\":" V7
               ",\"rejected\":" V8 "}]}",
               400, "dimension_mismatch", "feedback[2].chosen", "feedback[2].chosen: expected 8 values, got 7");
    /* NaN is no JSON; 1e39 is beyond float32. */
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":[1,NaN,3,4,5,6,7,8],\"rejected\":" V8 "}", 400,
               "bad_json", "chosen", NULL);
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":" V8 ",\"rejected\":[1,2,1e39,4,5,6,7,8]}", 400,
               "non_finite", "rejected", "rejected: value 2 is out of the float32 range");
    expect_err("{\"user\":\"u\",\"context\":[1,2,3,-1e39]," "\"chosen\":" V8 ",\"rejected\":" V8 "}", 400,
               "non_finite", "context", NULL);
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":[1,2,3,\"4\",5,6,7,8],\"rejected\":" V8 "}", 400,
               "bad_type", "chosen", "chosen: value 3 is a string, not a number");
    expect_err("{\"user\":\"u\",\"context\":{}," "\"chosen\":" V8 ",\"rejected\":" V8 "}", 400, "bad_type",
               "context", NULL);
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":true,\"rejected\":" V8 "}", 400, "bad_type", "chosen",
               NULL);
    /* base64: "AACAPw==" is 1.0f, "AACAfw==" +Inf. */
    expect_err("{\"user\":\"u\",\"context\":\"AAC*PwAAgD8AAIA/AACAPw==\",\"chosen\":" V8 ",\"rejected\":" V8 "}", 400,
               "bad_base64", "context", "context: invalid base64 character at offset 3");
    expect_err("{\"user\":\"u\",\"feedback\":[{\"context\":\"AACAPwAAgD8AAIA/AACAfw==\",\"chosen\":" V8
               ",\"rejected\":" V8 "}]}",
               400, "non_finite", "feedback[0].context", "feedback[0].context: value 3 is not finite");
    expect_err("{\"user\":\"u\",\"context\":\"AACAPw==\",\"chosen\":" V8 ",\"rejected\":" V8 "}", 400,
               "dimension_mismatch", "context", "context: expected 4 values, got 1");
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":" V8 ",\"rejected\":" V8 ",\"dtype\":\"fp8\"}", 400,
               "bad_dtype", "dtype", NULL);
    expect_err("{\"user\":\"u\",\"feedback\":[{\"dtype\":16," DIRECT "}]}", 400, "bad_type", "feedback[0].dtype", NULL);
}
END_TEST

START_TEST(form_errors)
{
    /* An event item takes indices, a direct item vectors; no mixing. */
    expect_err("{\"event\":\"e\",\"chosen\":" V8 ",\"rejected\":0}", 400, "bad_type", "chosen", NULL);
    expect_err("{\"user\":\"u\",\"feedback\":[{" EVENT "},{\"event\":\"e\",\"chosen\":1,\"rejected\":\"AACAPw==\"}]}",
               400, "bad_type", "feedback[1].rejected", NULL);
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"chosen\":1,\"rejected\":" V8 "}", 400, "bad_type", "chosen",
               NULL);
    expect_err("{\"user\":\"u\",\"feedback\":[{\"context\":" V4 ",\"chosen\":" V8 ",\"rejected\":0}]}", 400,
               "bad_type", "feedback[0].rejected", NULL);
    expect_err("{\"user\":\"u\",\"chosen\":1,\"rejected\":0}", 400, "missing_field", "event", NULL);
    expect_err("{\"user\":\"u\"," EVENT ",\"context\":" V4 "}", 400, "bad_value", "context", NULL);
    expect_err("{\"event\":\"e\",\"chosen\":1}", 400, "missing_field", "rejected", "rejected: missing required field");
    expect_err("{\"user\":\"u\",\"context\":" V4 ",\"rejected\":" V8 "}", 400, "missing_field", "chosen", NULL);
    expect_err("{\"user\":\"u\",\"chosen\":" V8 ",\"rejected\":" V8 "}", 400, "missing_field", "context", NULL);
    expect_err("{\"user\":\"u\"}", 400, "missing_field", "chosen", NULL);
    expect_err("{}", 400, "missing_field", "chosen", NULL);
    expect_err("{\"user\":\"u\",\"feedback\":[{\"user\":\"u\"}]}", 400, "missing_field", "feedback[0].context", NULL);

    /* Indices: distinct, >= 0, < 2^31, integers. */
    expect_err("{\"event\":\"e\",\"chosen\":3,\"rejected\":3}", 422, "bad_pair", "rejected",
               "rejected: the same response as chosen (3)");
    expect_err("{\"event\":\"e\",\"chosen\":-1,\"rejected\":3}", 422, "bad_pair", "chosen", NULL);
    expect_err("{\"feedback\":[{" EVENT "},{\"event\":\"e\",\"chosen\":1,\"rejected\":-2}]}", 422, "bad_pair",
               "feedback[1].rejected", NULL);
    expect_err("{\"event\":\"e\",\"chosen\":0,\"rejected\":2147483648}", 422, "bad_pair", "rejected", NULL);
    expect_err("{\"event\":\"e\",\"chosen\":0,\"rejected\":99999999999999999999999}", 422, "bad_pair", "rejected",
               NULL);
    expect_err("{\"event\":\"e\",\"chosen\":1.5,\"rejected\":0}", 400, "bad_type", "chosen", NULL);
    expect_err("{\"event\":\"e\",\"chosen\":1.0,\"rejected\":0}", 400, "bad_type", "chosen", NULL);
    expect_err("{\"event\":\"e\",\"chosen\":1,\"rejected\":1e2}", 400, "bad_type", "rejected", NULL);
    expect_err("{\"event\":\"e\",\"chosen\":\"1\",\"rejected\":0}", 400, "bad_type", "chosen", NULL);

    /* Event ids. */
    expect_err("{\"event\":7,\"chosen\":1,\"rejected\":0}", 400, "bad_type", "event", NULL);
    expect_err("{\"event\":\"\",\"chosen\":1,\"rejected\":0}", 400, "bad_value", "event", NULL);

    /* Lists. */
    expect_err("{\"user\":\"u\",\"feedback\":[]}", 422, "empty", "feedback", NULL);
    expect_err("{\"feedback\":[{" EVENT "},{" EVENT "},{" EVENT "},{" EVENT "}]}", 422, "too_many", "feedback[3]",
               "feedback[3]: more than 3 feedback items");
    expect_err("{\"feedback\":{}}", 400, "bad_type", "feedback", NULL);
    expect_err("{\"feedback\":[{" EVENT "},[]]}", 400, "bad_type", "feedback[1]", NULL);
    expect_err("{\"feedback\":[{" EVENT "}]," EVENT "}", 400, "bad_value", "event", NULL);
    expect_err("{\"user\":\"u\"," DIRECT ",\"feedback\":[{" EVENT "}]}", 400, "bad_value", "context", NULL);
    expect_err("{\"feedback\":[{\"feedback\":[{" EVENT "}]}]}", 400, "bad_value", "feedback[0].feedback", NULL);
}
END_TEST

START_TEST(id_errors)
{
    expect_err("{" EVENT ",\"id\":5}", 400, "bad_type", "id", NULL);
    expect_err("{" EVENT ",\"id\":[\"k\"]}", 400, "bad_type", "id", NULL);
    expect_err("{" EVENT ",\"id\":{}}", 400, "bad_type", "id", NULL);
    expect_err("{" EVENT ",\"id\":true}", 400, "bad_type", "id", NULL);
    expect_err("{\"feedback\":[{" EVENT "}],\"id\":1.5}", 400, "bad_type", "id", NULL);
    expect_err("{" EVENT ",\"id\":\"\"}", 400, "bad_id", "id", "id: must be 1 to 128 bytes long, got 0");
    char key[200], body[400];
    memset(key, 'k', 129);
    key[129] = 0;
    snprintf(body, sizeof body, "{" EVENT ",\"id\":\"%s\"}", key);
    expect_err(body, 400, "bad_id", "id", "id: must be 1 to 128 bytes long, got 129");
    key[128] = 0;
    snprintf(body, sizeof body, "{" EVENT ",\"id\":\"%s\"}", key);
    mr_update_body b;
    ok_body(body, &b);
    ck_assert_uint_eq(strlen(b.id), 128);
    mr_update_body_free(&b);
}
END_TEST

START_TEST(json_errors)
{
    expect_err("", 400, "bad_json", "", "empty body");
    expect_err(" [1]", 400, "bad_type", "", "the body must be a JSON object");
    expect_err("\"x\"", 400, "bad_type", "", NULL);
    expect_err("{", 400, "bad_json", "", NULL);
    expect_err("{" EVENT "} {}", 400, "bad_json", "", NULL);
    expect_err("{" EVENT ",\"x\":tru}", 400, "bad_json", "x", NULL);
    expect_err("{" EVENT ",\"x\":[1,2,]}", 400, "bad_json", "x[2]", NULL);
    /* Duplicate keys, also when spelled with an escape and inside an item. */
    expect_err("{" EVENT ",\"chosen\":2}", 400, "bad_json", "chosen", NULL);
    expect_err("{\"user\":\"u\"," DIRECT ",\"ch\\u006fsen\":" V8 "}", 400, "bad_json", "ch\\u006fsen", NULL);
    expect_err("{\"user\":\"u\",\"user\":\"v\"," DIRECT "}", 400, "bad_json", "user", NULL);
    expect_err("{\"feedback\":[{" EVENT ",\"event\":\"f\"}]}", 400, "bad_json", "feedback[0].event", NULL);
    /* Unknown fields are validated too. */
    expect_err("{" EVENT ",\"x\":\"\\ud800\"}", 400, "bad_json", "x", NULL);
    expect_err("{" EVENT ",\"x\":01}", 400, "bad_json", "x", NULL);
    expect_err("{\"feedback\":[{" EVENT ",\"y\":{\"a\":1,\"a\":2}}]}", 400, "bad_json", "feedback[0].y.a", NULL);
}
END_TEST

/* Every strict prefix of a valid body is malformed JSON: a 400 bad_json,
 * nothing handed out, and (under ASan) nothing leaked from the half-built
 * items, pending base64 slices and escaped strings. */
START_TEST(truncated_bodies)
{
    static const uint16_t bf[8] = { 0x3F80, 0xC000, 0x3E80, 0x4049, 0x0000, 0x8000, 0x3F80, 0x4049 };
    sbuf s = { 0 };
    add(&s, "{\"user\":\"u-1\",\"id\":\"k\\u00e9\",\"dtype\":\"bfloat16\",\"feedback\":[{" EVENT
            ",\"x\":[1,{\"y\":null}]},{\"context\":" V4 ",\"chosen\":");
    b64(&s, bf, 16);
    add(&s, ",\"rejected\":[0.5, -1e-3, 2E2, 3, 4, 5, 6, 7.25]},{\"event\":\"e\\/2\",\"chosen\":0,\"rejected\":12}]}");
    mr_update_body b;
    ok_body(s.b, &b);
    ck_assert_int_eq(b.n, 3);
    ck_assert_float_eq(b.items[1].chosen[3], 3.140625f);
    ck_assert_float_eq(b.items[1].rejected[2], 200.0f);
    ck_assert_str_eq(b.items[2].event, "e/2");
    mr_update_body_free(&b);
    for (size_t n = 0; n < s.n; n++) {
        api_error err;
        memset(&err, 0, sizeof err);
        ck_assert_int_eq(mr_parse_update_body(s.b, n, &LIM, &b, &err), -1);
        ck_assert_msg(err.status == 400 && strcmp(err.code, "bad_json") == 0, "prefix %zu: %d %s %s", n, err.status,
                      err.code, err.message);
        ck_assert_int_eq(b.n, 0);
        ck_assert_ptr_null(b.items);
        ck_assert_ptr_null(b.user);
        ck_assert_ptr_null(b.id);
    }
    free(s.b);
}
END_TEST

/* {"event":..., "x": [[[...]]]} with `depth` arrays in the unknown field. */
static char *nested(int depth, bool closed)
{
    sbuf s = { 0 };
    add(&s, "{" EVENT ",\"x\":");
    for (int i = 0; i < depth; i++)
        add(&s, "[");
    if (closed) {
        for (int i = 0; i < depth; i++)
            add(&s, "]");
        add(&s, "}");
    }
    return s.b;
}

static void expect_too_deep(const char *body)
{
    mr_update_body b;
    api_error err;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(mr_parse_update_body(body, strlen(body), &LIM, &b, &err), -1);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "bad_json");
    ck_assert_msg(strstr(err.message, "nesting deeper than") != NULL, "%s", err.message);
    ck_assert_msg(strncmp(err.field, "x[0][0]", 7) == 0, "%s", err.field);
    ck_assert_ptr_null(b.items);
}

START_TEST(nesting)
{
    /* The top object takes one level of the reader's JR_MAX_DEPTH. */
    mr_update_body b;
    char *deep = nested(JR_MAX_DEPTH - 1, true);
    ok_body(deep, &b);
    ck_assert(b.items[0].is_event);
    mr_update_body_free(&b);
    free(deep);
    deep = nested(JR_MAX_DEPTH, true);
    expect_too_deep(deep);
    free(deep);

    /* 100 levels: accepted when the reader allows them (JR_MAX_DEPTH > 100). */
    deep = nested(100, true);
    if (JR_MAX_DEPTH > 100) {
        ok_body(deep, &b);
        mr_update_body_free(&b);
    } else {
        expect_too_deep(deep);
    }
    free(deep);

    /* 10,000 levels: a clean 400, no stack overflow. */
    for (int closed = 0; closed < 2; closed++) {
        deep = nested(10000, closed);
        expect_too_deep(deep);
        free(deep);
    }
}
END_TEST

START_TEST(full_size_message)
{
    /* The example of the contract, at d = 64. */
    mr_update_limits lim = { .d = 64, .dc = 64, .max_feedback = 16 };
    sbuf s = { 0 };
    add(&s, "{\"user\":\"u\",\"feedback\":[");
    for (int i = 0; i < 3; i++) {
        add(&s, "%s{\"context\":", i ? "," : "");
        arr(&s, 64, 0.0f);
        add(&s, ",\"chosen\":");
        arr(&s, i == 2 ? 63 : 64, 1.0f);
        add(&s, ",\"rejected\":");
        arr(&s, 64, 2.0f);
        add(&s, "}");
    }
    add(&s, "]}");
    expect_err_lim(s.b, &lim, 400, "dimension_mismatch", "feedback[2].chosen",
                   "feedback[2].chosen: expected 64 values, got 63");
    free(s.b);
}
END_TEST

#ifdef MICRORM_FAULT_INJECTION
/* Each allocation in turn fails (once, then from there on): a clean 500
 * "internal" and an empty result every time (leaks: LeakSanitizer). */
START_TEST(every_allocation_failure_is_clean)
{
    float v[8];
    for (int i = 0; i < 8; i++)
        v[i] = (float)i / 4;
    sbuf s = { 0 }, t = { 0 }, c4 = { 0 };
    b64(&t, v, sizeof v);
    b64(&c4, v, 4 * sizeof(float));
    /* Escapes in keys and strings, a base64 vector escaped (slow path) and
     * plain ones (fast path), both forms of item. */
    add(&s, "{\"user\":\"u\\u0031\",\"id\":\"req-\\u0031\",\"feedback\":[{\"context\":" V4 ",\"chosen\":%s,"
            "\"rejected\":\"\\u%04x%s,\"x\\u0031\":1},{" EVENT "},{\"context\":%s,\"chosen\":" V8
            ",\"rejected\":" V8 "}],\"dtype\":\"float32\"}",
        t.b, (unsigned char)t.b[1], t.b + 2, c4.b);
    for (int sticky = 0; sticky < 2; sticky++) {
        long n;
        for (n = 1; n < 10000; n++) {
            mr_alloc_fail_at(n, sticky);
            mr_update_body b;
            api_error err;
            memset(&err, 0, sizeof err);
            int rc = mr_parse_update_body(s.b, s.n, &LIM, &b, &err);
            long failed = mr_alloc_failures();
            mr_alloc_fail_at(0, 0);
            if (!failed) {
                ck_assert_msg(rc == 0, "%d %s", err.status, err.message);
                ck_assert_int_eq(b.n, 3);
                ck_assert_float_eq(b.items[0].rejected[3], 0.75f);
                mr_update_body_free(&b);
                break;
            }
            ck_assert_msg(rc == -1 && err.status == 500 && strcmp(err.code, "internal") == 0,
                          "allocation %ld: rc %d status %d %s", n, rc, err.status, err.message);
            ck_assert(b.n == 0 && b.items == NULL);
        }
        ck_assert_int_gt(n, 8);
    }
    free(s.b);
    free(t.b);
    free(c4.b);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("update_request");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, direct_form);
    tcase_add_test(tc, base64_equals_array);
    tcase_add_test(tc, half_dtypes);
    tcase_add_test(tc, event_form);
    tcase_add_test(tc, list_form);
    tcase_add_test(tc, user_errors);
    tcase_add_test(tc, vector_errors);
    tcase_add_test(tc, form_errors);
    tcase_add_test(tc, id_errors);
    tcase_add_test(tc, json_errors);
    tcase_add_test(tc, truncated_bodies);
    tcase_add_test(tc, nesting);
    tcase_add_test(tc, full_size_message);
#ifdef MICRORM_FAULT_INJECTION
    tcase_add_test(tc, every_allocation_failure_is_clean);
#endif
    suite_add_tcase(s, tc);
    return run_suite(s);
}
