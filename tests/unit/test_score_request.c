/* api/score_request: valid single and batch bodies in both vector forms and
 * all dtypes, and every field error with its status, code and path. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/score_request.h"
#include "core/alloc.h"
#include "tests/unit/body_text.h"
#include "core/half.h"
#include "tests/unit/run_suite.h"

static const mr_score_limits LIM = { .d = 8, .dc = 8, .max_responses = 3, .max_batch = 2, .max_pairs = 4 };

/* base64 of dim float32 values base + i/8 (little-endian host). */
static void b64f(sbuf *s, int dim, float base)
{
    float v[64];
    for (int i = 0; i < dim; i++)
        v[i] = base + (float)i / 8;
    b64(s, v, (size_t)dim * 4);
}

static void expect_err(const char *body, const mr_score_limits *lim, int status, const char *code, const char *field,
                       const char *message)
{
    mr_score_body out;
    api_error err;
    memset(&err, 0, sizeof err);
    int rc = mr_parse_score_body(body, strlen(body), lim, &out, &err);
    ck_assert_msg(rc == -1, "accepted: %.200s", body);
    ck_assert_int_eq(out.n, 0);
    ck_assert_ptr_null(out.items);
    ck_assert_msg(err.status == status && strcmp(err.code, code) == 0 && strcmp(err.field, field) == 0,
                  "%.160s\n -> %d %s [%s] %s\n want %d %s [%s]", body, err.status, err.code, err.field, err.message,
                  status, code, field);
    if (message)
        ck_assert_str_eq(err.message, message);
    else if (field[0]) /* the message starts with the path */
        ck_assert_msg(strncmp(err.message, field, strlen(field)) == 0 && err.message[strlen(field)] == ':',
                      "message \"%s\" does not start with \"%s:\"", err.message, field);
}

static void ok_body(const char *body, const mr_score_limits *lim, mr_score_body *out)
{
    api_error err;
    int rc = mr_parse_score_body(body, strlen(body), lim, out, &err);
    ck_assert_msg(rc == 0, "%.200s\n -> %d %s %s", body, err.status, err.code, err.message);
}

START_TEST(single_array_form)
{
    sbuf s = { 0 };
    add(&s, "{\"user\":\"u-1\",\"context\":");
    arr(&s, 8, 1.0f);
    add(&s, ", \"responses\": [");
    arr(&s, 8, -2.0f);
    add(&s, ",");
    arr(&s, 8, 0.5f);
    add(&s, "], \"pairs\": [[0,1],[1, 0]], \"include_heads\": true, \"event\": \"ev\\u00e9\", \"extra\": {\"x\":[1,{}]}}");
    mr_score_body b;
    ok_body(s.b, &LIM, &b);
    ck_assert(!b.is_batch);
    ck_assert_int_eq(b.n, 1);
    mr_score_req *q = &b.items[0];
    ck_assert_str_eq(q->user, "u-1");
    ck_assert_str_eq(q->event, "ev\xc3\xa9");
    ck_assert(q->include_heads);
    ck_assert_int_eq(q->n, 2);
    for (int i = 0; i < 8; i++) {
        ck_assert_float_eq(q->context[i], 1.0f + (float)i / 8);
        ck_assert_float_eq(q->responses[i], -2.0f + (float)i / 8);
        ck_assert_float_eq(q->responses[8 + i], 0.5f + (float)i / 8);
    }
    ck_assert_int_eq(q->n_pairs, 2);
    ck_assert_int_eq(q->pairs[0][0], 0);
    ck_assert_int_eq(q->pairs[0][1], 1);
    ck_assert_int_eq(q->pairs[1][0], 1);
    ck_assert_int_eq(q->pairs[1][1], 0);
    mr_score_body_free(&b);

    /* Optional fields absent or null. */
    s.n = 0;
    add(&s, "{\"user\":null,\"pairs\":null,\"responses\":[");
    arr(&s, 8, 3.0f);
    add(&s, "],\"context\":");
    arr(&s, 8, 0.0f);
    add(&s, "}");
    ok_body(s.b, &LIM, &b);
    ck_assert_ptr_null(b.items[0].user);
    ck_assert_ptr_null(b.items[0].event);
    ck_assert_ptr_null(b.items[0].pairs);
    ck_assert(!b.items[0].include_heads);
    ck_assert_int_eq(b.items[0].n, 1);
    mr_score_body_free(&b);
    free(s.b);
}
END_TEST

START_TEST(base64_equals_array)
{
    /* Random values printed with 9 significant digits name one float exactly. */
    uint64_t st = 12345;
    for (int it = 0; it < 200; it++) {
        float v[4][8];
        for (int r = 0; r < 4; r++)
            for (int i = 0; i < 8; i++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                uint32_t u = (uint32_t)(st >> 32);
                if ((u & 0x7F800000u) == 0x7F800000u)
                    u ^= 0x40000000u;
                memcpy(&v[r][i], &u, 4);
            }
        sbuf a = { 0 }, c = { 0 };
        for (int form = 0; form < 2; form++) {
            sbuf *s = form ? &c : &a;
            add(s, "{\"context\":");
            for (int r = 0; r < 4; r++) {
                if (r == 1)
                    add(s, ",\"responses\":[");
                if (r > 1)
                    add(s, ",");
                if (form) {
                    b64(s, v[r], 32);
                } else {
                    add(s, "[");
                    for (int i = 0; i < 8; i++)
                        add(s, "%s%.9g", i ? "," : "", (double)v[r][i]);
                    add(s, "]");
                }
            }
            add(s, "]}");
        }
        mr_score_body x, y;
        ok_body(a.b, &LIM, &x);
        ok_body(c.b, &LIM, &y);
        ck_assert_mem_eq(x.items[0].context, v[0], sizeof v[0]);
        ck_assert_mem_eq(y.items[0].context, v[0], sizeof v[0]);
        ck_assert_mem_eq(x.items[0].responses, v[1], 3 * sizeof v[0]);
        ck_assert_mem_eq(y.items[0].responses, v[1], 3 * sizeof v[0]);
        mr_score_body_free(&x);
        mr_score_body_free(&y);
        free(a.b);
        free(c.b);
    }
}
END_TEST

START_TEST(dtypes)
{
    uint16_t bf[8], hf[8];
    float want[8];
    for (int i = 0; i < 8; i++) {
        want[i] = (float)(i - 3) * 0.25f; /* exact in both half formats */
        bf[i] = mr_f32_to_bf16(want[i]);
        hf[i] = mr_f32_to_f16(want[i]);
    }
    sbuf s = { 0 };
    /* dtype after the vectors, and an array-form context unaffected by it. */
    add(&s, "{\"context\":");
    arr(&s, 8, 0.0f);
    add(&s, ",\"responses\":[");
    b64(&s, bf, 16);
    add(&s, "],\"dtype\":\"bfloat16\"}");
    mr_score_body b;
    ok_body(s.b, &LIM, &b);
    ck_assert_mem_eq(b.items[0].responses, want, sizeof want);
    ck_assert_float_eq(b.items[0].context[1], 0.125f);
    mr_score_body_free(&b);

    /* Batch: outer dtype float16, second item overrides with float32. */
    s.n = 0;
    add(&s, "{\"batch\":[{\"context\":");
    b64(&s, hf, 16);
    add(&s, ",\"responses\":[");
    b64(&s, hf, 16);
    add(&s, "]},{\"dtype\":\"float32\",\"context\":");
    b64f(&s, 8, 1.0f);
    add(&s, ",\"responses\":[");
    b64f(&s, 8, 2.0f);
    add(&s, ",");
    arr(&s, 8, 3.0f);
    add(&s, "]}],\"dtype\":\"float16\"}");
    ok_body(s.b, &LIM, &b);
    ck_assert(b.is_batch);
    ck_assert_int_eq(b.n, 2);
    ck_assert_mem_eq(b.items[0].context, want, sizeof want);
    ck_assert_mem_eq(b.items[0].responses, want, sizeof want);
    ck_assert_int_eq(b.items[1].n, 2);
    for (int i = 0; i < 8; i++) {
        ck_assert_float_eq(b.items[1].context[i], 1.0f + (float)i / 8);
        ck_assert_float_eq(b.items[1].responses[i], 2.0f + (float)i / 8);
        ck_assert_float_eq(b.items[1].responses[8 + i], 3.0f + (float)i / 8);
    }
    mr_score_body_free(&b);

    /* float32 text read as float16 has twice the values. */
    s.n = 0;
    add(&s, "{\"dtype\":\"float16\",\"context\":");
    b64f(&s, 8, 0.0f);
    add(&s, ",\"responses\":[[0,0,0,0,0,0,0,0]]}");
    expect_err(s.b, &LIM, 400, "dimension_mismatch", "context", "context: expected 8 values, got 16");
    free(s.b);
}
END_TEST

START_TEST(escaped_base64)
{
    /* Encoders may escape '/' as "\/"; "AACAPw==" is 1.0f. */
    const char *body = "{\"context\":\"AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAA\\u0067D8=\","
                       "\"responses\":[\"AACAPwAAgD8AAIA\\/AACAPwAAgD8AAIA\\/AACAPwAAgD8=\"]}";
    mr_score_body b;
    ok_body(body, &LIM, &b);
    for (int i = 0; i < 8; i++) {
        ck_assert_float_eq(b.items[0].context[i], 1.0f);
        ck_assert_float_eq(b.items[0].responses[i], 1.0f);
    }
    mr_score_body_free(&b);
}
END_TEST

static char *body_with(const char *ctx, const char *resp, const char *extra)
{
    sbuf s = { 0 };
    add(&s, "{");
    if (ctx)
        add(&s, "\"context\":%s,", ctx);
    if (resp)
        add(&s, "\"responses\":%s,", resp);
    add(&s, "%s}", extra ? extra : "\"_\":0");
    return s.b;
}

#define V8 "[1,2,3,4,5,6,7,8]"
#define V7 "[1,2,3,4,5,6,7]"

static void check_err(const char *ctx, const char *resp, const char *extra, int status, const char *code,
                      const char *field, const char *message)
{
    char *b = body_with(ctx, resp, extra);
    expect_err(b, &LIM, status, code, field, message);
    free(b);
}

START_TEST(field_errors)
{
    expect_err("", &LIM, 400, "bad_json", "", "empty body");
    expect_err("  [1]", &LIM, 400, "bad_type", "", "the body must be a JSON object");
    expect_err("{", &LIM, 400, "bad_json", "", NULL);
    expect_err("{\"context\":[1,2,3,4,5,6,7,8],\"responses\":[[1,2,3,4,5,6,7,8]]} x", &LIM, 400, "bad_json", "", NULL);
    expect_err("{\"context\":[1,2,3,4,5,6,7,NaN]}", &LIM, 400, "bad_json", "context", NULL);
    check_err(V8, NULL, NULL, 400, "missing_field", "responses", "responses: missing required field");
    check_err(NULL, "[" V8 "]", NULL, 400, "missing_field", "context", "context: missing required field");
    check_err("null", "[" V8 "]", NULL, 400, "missing_field", "context", NULL);
    check_err(V7, "[" V8 "]", NULL, 400, "dimension_mismatch", "context", "context: expected 8 values, got 7");
    check_err("[1,2,3,4,5,6,7,8,9]", "[" V8 "]", NULL, 400, "dimension_mismatch", "context",
              "context: expected 8 values, got 9");
    check_err(V8, "[" V8 "," V8 "," V7 "]", NULL, 400, "dimension_mismatch", "responses[2]",
              "responses[2]: expected 8 values, got 7");
    check_err("{}", "[" V8 "]", NULL, 400, "bad_type", "context", NULL);
    check_err(V8, V8, NULL, 400, "bad_type", "responses[0]", NULL);
    check_err(V8, "\"AAAA\"", NULL, 400, "bad_type", "responses", NULL);
    check_err(V8, "[[1,2,3,4,\"5\",6,7,8]]", NULL, 400, "bad_type", "responses[0]",
              "responses[0]: value 4 is a string, not a number");
    check_err(V8, "[" V8 ",[1,2,1e39,4,5,6,7,8]]", NULL, 400, "non_finite", "responses[1]",
              "responses[1]: value 2 is out of the float32 range");
    check_err(V8, "[[1,2,3,-3.5e38,5,6,7,8]]", NULL, 400, "non_finite", "responses[0]", NULL);
    check_err(V8, "[]", NULL, 422, "empty", "responses", NULL);
    check_err(V8, "[" V8 "," V8 "," V8 "," V8 "]", NULL, 422, "too_many", "responses[3]",
              "responses[3]: more than 3 responses");
    /* base64: "AACAPw==" is one float 1.0; "AACAfw==" is +Inf. */
    check_err(V8, "[\"AAC*PwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8=\"]", NULL, 400, "bad_base64", "responses[0]",
              "responses[0]: invalid base64 character at offset 3");
    check_err(V8, "[\"AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgH8=\"]", NULL, 400, "non_finite", "responses[0]",
              "responses[0]: value 7 is not finite");
    check_err("\"AACAPw==\"", "[" V8 "]", NULL, 400, "dimension_mismatch", "context",
              "context: expected 8 values, got 1");
    check_err("\"AACAPwA=\"", "[" V8 "]", NULL, 400, "dimension_mismatch", "context",
              "context: base64 decodes to 5 bytes, not a multiple of 4 (float32)");
    check_err(V8, "[" V8 "]", "\"dtype\":\"fp8\"", 400, "bad_dtype", "dtype", NULL);
    check_err(V8, "[" V8 "]", "\"dtype\":16", 400, "bad_type", "dtype", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,2]]", 422, "bad_pair", "pairs[0]",
              "pairs[0]: index out of range (2 responses)");
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,1],[-1,0]]", 422, "bad_pair", "pairs[1]", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,1],[1,1]]", 422, "bad_pair", "pairs[1]",
              "pairs[1]: compares response 1 with itself");
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,99999999999999999999999]]", 422, "bad_pair", "pairs[0]", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,1],[1]]", 400, "bad_type", "pairs[1]", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,1,0]]", 400, "bad_type", "pairs[0][2]", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,1.5]]", 400, "bad_type", "pairs[0][1]", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[0,1]", 400, "bad_type", "pairs[0]", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":{}", 400, "bad_type", "pairs", NULL);
    check_err(V8, "[" V8 "," V8 "]", "\"pairs\":[[0,1],[1,0],[0,1],[1,0],[0,1]]", 422, "too_many", "pairs[4]", NULL);
    check_err(V8, "[" V8 "]", "\"include_heads\":\"yes\"", 400, "bad_type", "include_heads", NULL);
    check_err(V8, "[" V8 "]", "\"include_heads\":1", 400, "bad_type", "include_heads", NULL);
    check_err(V8, "[" V8 "]", "\"user\":\"\"", 400, "bad_value", "user", NULL);
    check_err(V8, "[" V8 "]", "\"user\":42", 400, "bad_type", "user", NULL);
    check_err(V8, "[" V8 "]", "\"event\":[]", 400, "bad_type", "event", NULL);
    char longname[400], extra[450];
    memset(longname, 'u', 257);
    longname[257] = 0;
    snprintf(extra, sizeof extra, "\"user\":\"%s\"", longname);
    check_err(V8, "[" V8 "]", extra, 400, "bad_value", "user", "user: must be 1 to 256 bytes long, got 257");
    longname[256] = 0;
    snprintf(extra, sizeof extra, "\"user\":\"%s\"", longname);
    char *ok = body_with(V8, "[" V8 "]", extra);
    mr_score_body b;
    ok_body(ok, &LIM, &b);
    ck_assert_uint_eq(strlen(b.items[0].user), 256);
    mr_score_body_free(&b);
    free(ok);
    longname[129] = 0;
    snprintf(extra, sizeof extra, "\"event\":\"%s\"", longname);
    check_err(V8, "[" V8 "]", extra, 400, "bad_value", "event", NULL);
    /* JSON-level problems anywhere are bad_json, with the path where they were found. */
    check_err(V8, "[" V8 "]", "\"context\":[1]", 400, "bad_json", "context", NULL); /* duplicate key */
    check_err(V8, "[" V8 "]", "\"x\":{\"a\":[1,2,}]}", 400, "bad_json", "x.a[2]", NULL);
    check_err(V8, "[" V8 "]", "\"x\":\"\\ud800\"", 400, "bad_json", "x", NULL);
    check_err(V8, "[" V8 "]", "\"x\":01", 400, "bad_json", "x", NULL);
    check_err(V8, "[" V8 "]", "\"x\":1e400", 400, "bad_json", "x", NULL);
    check_err(V8, "[[1,2,3,4,5,6,7,8,]]", NULL, 400, "bad_json", "responses[0]", NULL);
    /* A message really says where. */
    char *b2 = body_with(V8, "[" V8 "]", "\"x\":tru");
    api_error err;
    ck_assert_int_eq(mr_parse_score_body(b2, strlen(b2), &LIM, &b, &err), -1);
    char want[128];
    snprintf(want, sizeof want, "x: invalid JSON at byte %d: invalid literal", (int)(strstr(b2, "tru") - b2));
    ck_assert_str_eq(err.message, want);
    free(b2);
}
END_TEST

START_TEST(nesting_is_a_clean_400)
{
    enum { N = 10000 };
    char *s = malloc(N + 16);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "{\"x\":", 5);
    memset(s + 5, '[', N);
    s[N + 5] = 0;
    mr_score_body b;
    api_error err;
    ck_assert_int_eq(mr_parse_score_body(s, strlen(s), &LIM, &b, &err), -1);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "bad_json");
    ck_assert_msg(strstr(err.message, "nesting deeper than 64 levels") != NULL, "%s", err.message);
    ck_assert_msg(strncmp(err.field, "x[0][0]", 7) == 0, "%s", err.field);
    free(s);
}
END_TEST

START_TEST(batch_bodies)
{
    const char *one = "{\"context\":" V8 ",\"responses\":[" V8 "]}";
    sbuf s = { 0 };
    add(&s, "{\"batch\":[%s,{\"user\":\"b\",\"context\":" V8 ",\"responses\":[" V8 "," V8 "],\"pairs\":[[1,0]]}]}", one);
    mr_score_body b;
    ok_body(s.b, &LIM, &b);
    ck_assert(b.is_batch);
    ck_assert_int_eq(b.n, 2);
    ck_assert_ptr_null(b.items[0].user);
    ck_assert_str_eq(b.items[1].user, "b");
    ck_assert_int_eq(b.items[1].n, 2);
    ck_assert_int_eq(b.items[1].n_pairs, 1);
    ck_assert_float_eq(b.items[1].responses[15], 8.0f);
    mr_score_body_free(&b);

    expect_err("{\"batch\":[]}", &LIM, 422, "empty", "batch", NULL);
    s.n = 0;
    add(&s, "{\"batch\":[%s,%s,%s]}", one, one, one);
    expect_err(s.b, &LIM, 422, "too_many", "batch[2]", "batch[2]: more than 2 batch items");
    s.n = 0;
    add(&s, "{\"batch\":[%s,{\"context\":" V8 ",\"responses\":[" V7 "]}]}", one);
    expect_err(s.b, &LIM, 400, "dimension_mismatch", "batch[1].responses[0]",
               "batch[1].responses[0]: expected 8 values, got 7");
    s.n = 0;
    add(&s, "{\"batch\":[%s,{\"context\":\"AAAA\",\"responses\":[" V8 "]}]}", one);
    expect_err(s.b, &LIM, 400, "dimension_mismatch", "batch[1].context", NULL);
    s.n = 0;
    add(&s, "{\"batch\":[%s,{\"responses\":[" V8 "]}]}", one);
    expect_err(s.b, &LIM, 400, "missing_field", "batch[1].context", NULL);
    s.n = 0;
    add(&s, "{\"batch\":[%s,{\"context\":" V8 ",\"responses\":[" V8 "],\"pairs\":[[0,1]]}]}", one);
    expect_err(s.b, &LIM, 422, "bad_pair", "batch[1].pairs[0]", NULL);
    s.n = 0;
    add(&s, "{\"context\":" V8 ",\"batch\":[%s]}", one);
    expect_err(s.b, &LIM, 400, "bad_value", "context", NULL);
    s.n = 0;
    add(&s, "{\"batch\":[{\"batch\":[%s]}]}", one);
    expect_err(s.b, &LIM, 400, "bad_value", "batch[0].batch", NULL);
    expect_err("{\"batch\":[1]}", &LIM, 400, "bad_type", "batch[0]", NULL);
    expect_err("{\"batch\":{}}", &LIM, 400, "bad_type", "batch", NULL);
    s.n = 0;
    add(&s, "{\"batch\":[%s],\"dtype\":\"bf16\"}", one);
    expect_err(s.b, &LIM, 400, "bad_dtype", "dtype", NULL);
    free(s.b);
}
END_TEST

START_TEST(full_size_message)
{
    /* The example of the contract, at d = 3072. */
    mr_score_limits lim = { .d = 3072, .dc = 3072, .max_responses = 8, .max_batch = 4, .max_pairs = 8 };
    sbuf s = { 0 };
    add(&s, "{\"context\":");
    arr(&s, 3072, 0.0f);
    add(&s, ",\"responses\":[");
    for (int r = 0; r < 3; r++) {
        arr(&s, 3072, (float)r);
        add(&s, ",");
    }
    arr(&s, 3071, 0.0f);
    add(&s, "]}");
    expect_err(s.b, &lim, 400, "dimension_mismatch", "responses[3]", "responses[3]: expected 3072 values, got 3071");
    free(s.b);
}
END_TEST

START_TEST(error_bodies)
{
    api_error e;
    ck_assert_int_eq(api_fail(&e, 422, "bad_pair", "batch[1].pairs[0]", "compares response %d with itself", 2), -1);
    ck_assert_str_eq(e.message, "batch[1].pairs[0]: compares response 2 with itself");
    char *js = api_error_json(&e);
    ck_assert_ptr_nonnull(js);
    json_error_t je;
    json_t *j = json_loads(js, 0, &je);
    ck_assert_ptr_nonnull(j);
    json_t *in = json_object_get(j, "error");
    ck_assert_str_eq(json_string_value(json_object_get(in, "code")), "bad_pair");
    ck_assert_str_eq(json_string_value(json_object_get(in, "message")), e.message);
    ck_assert_str_eq(json_string_value(json_object_get(in, "field")), "batch[1].pairs[0]");
    ck_assert_uint_eq(json_object_size(j), 1);
    json_decref(j);
    free(js);
    /* No field: no "field" member, message unprefixed. */
    api_fail(&e, 400, "bad_json", NULL, "empty body");
    ck_assert_str_eq(e.message, "empty body");
    js = api_error_json(&e);
    j = json_loads(js, 0, &je);
    ck_assert_ptr_null(json_object_get(json_object_get(j, "error"), "field"));
    json_decref(j);
    free(js);
    /* A message cut inside a UTF-8 sequence still serialises. */
    char big[600];
    memset(big, 'x', sizeof big);
    memcpy(big + 508, "\xc3\xa9\xc3\xa9\xc3\xa9", 6); /* cut after 1.5 of them */
    big[599] = 0;
    api_fail(&e, 400, "bad_value", "", "%s", big);
    ck_assert_uint_eq(strlen(e.message), 511);
    js = api_error_json(&e);
    ck_assert_ptr_nonnull(js);
    ck_assert_ptr_nonnull(strstr(js, "xx???\""));
    free(js);
}
END_TEST

#ifdef MICRORM_FAULT_INJECTION
/* Escaped first character: the string takes the slow, copying path. */
static void b64_escaped(sbuf *s, const void *data, size_t n)
{
    sbuf t = { 0 };
    b64(&t, data, n);
    add(s, "\"\\u%04x%s", (unsigned char)t.b[1], t.b + 2);
    free(t.b);
}

/* Each allocation in turn fails (once, then from there on): a clean 500
 * "internal" and an empty result every time (leaks: LeakSanitizer). */
START_TEST(every_allocation_failure_is_clean)
{
    float v[8];
    for (int i = 0; i < 8; i++)
        v[i] = (float)i / 4;
    sbuf s = { 0 };
    add(&s, "{\"batch\":[{\"context\":");
    b64(&s, v, sizeof v);
    add(&s, ",\"responses\":[");
    arr(&s, 8, 1.0f);
    add(&s, ",");
    b64_escaped(&s, v, sizeof v);
    add(&s, ",");
    b64(&s, v, sizeof v);
    add(&s, "],\"pairs\":[[0,1],[2,1],[1,0]],\"user\":\"u\\u00e9\",\"event\":\"ev\"");
    for (int k = 0; k < 40; k++) /* enough keys for the duplicate set to grow */
        add(&s, ",\"k%d\\u0041\":[%d]", k, k);
    add(&s, "},{\"context\":");
    arr(&s, 8, 0.5f);
    add(&s, ",\"responses\":[");
    b64_escaped(&s, v, sizeof v);
    add(&s, "]}],\"dtype\":\"float32\"}");
    for (int sticky = 0; sticky < 2; sticky++) {
        long n;
        for (n = 1; n < 10000; n++) {
            mr_alloc_fail_at(n, sticky);
            mr_score_body b;
            api_error err;
            memset(&err, 0, sizeof err);
            int rc = mr_parse_score_body(s.b, s.n, &LIM, &b, &err);
            long failed = mr_alloc_failures();
            mr_alloc_fail_at(0, 0);
            if (!failed) {
                ck_assert_msg(rc == 0, "%d %s", err.status, err.message);
                ck_assert_int_eq(b.n, 2);
                ck_assert_float_eq(b.items[0].responses[8 + 3], 0.75f);
                mr_score_body_free(&b);
                break;
            }
            ck_assert_msg(rc == -1 && err.status == 500 && strcmp(err.code, "internal") == 0,
                          "allocation %ld: rc %d status %d %s", n, rc, err.status, err.message);
            ck_assert(b.n == 0 && b.items == NULL);
        }
        ck_assert_int_gt(n, 10); /* the body did allocate, many times */
    }
    free(s.b);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("score_request");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, single_array_form);
    tcase_add_test(tc, base64_equals_array);
    tcase_add_test(tc, dtypes);
    tcase_add_test(tc, escaped_base64);
    tcase_add_test(tc, field_errors);
    tcase_add_test(tc, nesting_is_a_clean_400);
    tcase_add_test(tc, batch_bodies);
    tcase_add_test(tc, full_size_message);
    tcase_add_test(tc, error_bodies);
#ifdef MICRORM_FAULT_INJECTION
    tcase_add_test(tc, every_allocation_failure_is_clean);
#endif
    suite_add_tcase(s, tc);
    return run_suite(s);
}
