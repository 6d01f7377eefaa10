/* api/json_reader: hand-written cases (paths, depth, duplicates, strings,
 * integers, number arrays) and a differential test against jansson over
 * random valid and mutated documents (tests/fuzz/json_diff.h). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_reader.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND 0
#endif
#include "tests/fuzz/json_diff.h"
#include "tests/unit/run_suite.h"

static int accepts(const char *s, size_t len, jr_status *st)
{
    json_reader r;
    jr_init(&r, s, len);
    int ok = jr_skip(&r) == 0 && jr_finish(&r) == 0;
    if (st)
        *st = r.status;
    jr_free(&r);
    return ok;
}

static int acc(const char *s) { return accepts(s, strlen(s), NULL); }

START_TEST(grammar)
{
    static const char *good[] = {
        "{}", "[]", " [ 1 , 2 ] ", "\t\r\n{\"a\" : [true, false, null]}\n", "0", "-0", "1e5", "\"\"",
        "\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"", "\"\x7f\"", "[[[[]]]]", "{\"a\":{\"a\":1}}",
        "1.5E+3",
    };
    static const char *bad[] = {
        "", " ", "[", "]", "{", "[1,]", "[,1]", "{\"a\":1,}", "{,}", "{\"a\"}", "{\"a\" 1}", "{1:2}", "[01]",
        "[1.]", "[.5]", "[+1]", "[NaN]", "[Infinity]", "[-Infinity]", "[1 2]", "tru", "nul", "truex", "[true1]",
        "1 2", "{} {}", "[1]x", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\u0000\"", "\"a\tb\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
        "\"\xe2\x82\"", "\xef\xbb\xbf{}", "[1e309]", "[-1e309]", "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}",
        "'a'", "[0x10]", "//c\n1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(acc(good[i]), "rejected %s", good[i]);
    /* valgrind runs x87 long double at double precision, so values at the
     * very edge of the double range overflow there and only there */
    if (!UNDER_VALGRIND)
        ck_assert(acc("[1e308, -1.7976931348623157e308]"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!acc(bad[i]), "accepted %s", bad[i]);
    /* NUL bytes: in a string, after the value, before it. */
    ck_assert(!accepts("[\"a\0b\"]", 7, NULL));
    ck_assert(!accepts("[1]\0", 4, NULL));
    ck_assert(!accepts("\0[1]", 4, NULL));
    /* Big numbers inside the double range are fine; beyond, jansson refuses too. */
    char big[400];
    memset(big, '9', 308);
    big[308] = 0;
    ck_assert(acc(big));
    memset(big, '9', 309);
    big[309] = 0;
    ck_assert(!acc(big));
}
END_TEST

START_TEST(depth_limit)
{
    enum { N = 10000 };
    char *s = malloc(N * 5 + 8);
    size_t n = 0;
    for (int i = 0; i < N; i++)
        s[n++] = '[';
    jr_status st;
    ck_assert(!accepts(s, n, &st));
    ck_assert_int_eq(st, JR_E_DEPTH);
    n = 0;
    for (int i = 0; i < N; i++) {
        memcpy(s + n, "{\"a\":", 5);
        n += 5;
    }
    ck_assert(!accepts(s, n, &st));
    ck_assert_int_eq(st, JR_E_DEPTH);
    /* Exactly the limit is fine. */
    n = 0;
    for (int i = 0; i < JR_MAX_DEPTH; i++)
        s[n++] = '[';
    for (int i = 0; i < JR_MAX_DEPTH; i++)
        s[n++] = ']';
    ck_assert(accepts(s, n, &st));
    free(s);
}
END_TEST

START_TEST(paths_and_offsets)
{
    const char *doc = "{\"batch\":[{\"x\":1},{\"responses\":[[1,2],[3,\"x\"]]}]}";
    json_reader r;
    jr_init(&r, doc, strlen(doc));
    jr_slice key;
    char path[128];
    ck_assert_int_eq(jr_object_begin(&r), 0);
    ck_assert_int_eq(jr_object_next(&r, &key), 1);
    ck_assert_int_eq(key.len, 5);
    ck_assert_int_eq(jr_array_begin(&r), 0);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_skip(&r), 0);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_object_begin(&r), 0);
    ck_assert_int_eq(jr_object_next(&r, &key), 1);
    ck_assert_int_eq(jr_array_begin(&r), 0);
    float v[2];
    size_t count, bad;
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_float_array(&r, v, 2, &count, &bad), 0);
    ck_assert_uint_eq(count, 2);
    ck_assert_float_eq(v[1], 2.0f);
    ck_assert_int_eq(jr_array_next(&r), 1);
    jr_path(&r, path, sizeof path);
    ck_assert_str_eq(path, "batch[1].responses[1]");
    ck_assert_int_eq(jr_read_float_array(&r, v, 2, &count, &bad), -1);
    ck_assert_int_eq(r.status, JR_E_TYPE);
    ck_assert_uint_eq(bad, 1);
    ck_assert_str_eq(r.err_msg, "value 1 is a string, not a number");
    ck_assert_uint_eq(r.err_off, (size_t)(strstr(doc, "\"x\"]") - doc));
    /* Sticky: nothing more is read. */
    ck_assert_int_eq(jr_skip(&r), -1);
    jr_free(&r);

    /* Syntax error offset and path. */
    doc = "{\"a\": [1, 2 3]}";
    jr_init(&r, doc, strlen(doc));
    ck_assert_int_eq(jr_object_begin(&r), 0);
    ck_assert_int_eq(jr_object_next(&r, &key), 1);
    ck_assert_int_eq(jr_read_float_array(&r, v, 2, &count, &bad), -1);
    ck_assert_int_eq(r.status, JR_E_SYNTAX);
    ck_assert_uint_eq(r.err_off, 12);
    jr_path(&r, path, sizeof path);
    ck_assert_str_eq(path, "a");
    jr_free(&r);

    /* Text that only starts like a literal is not JSON: a syntax error, not a
     * wrong type, in an array of numbers and where a string is wanted; a
     * whole null is a wrong type. */
    static const char *const broken[] = { "[1.5, nan]", "[1.5, nul]", "[tru]", "[fals, 1]" };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        jr_init(&r, broken[i], strlen(broken[i]));
        ck_assert_int_eq(jr_read_float_array(&r, v, 2, &count, &bad), -1);
        ck_assert_msg(r.status == JR_E_SYNTAX, "%s: status %d", broken[i], (int)r.status);
        jr_free(&r);
    }
    jr_slice sl;
    char *owned = NULL;
    jr_init(&r, "nope", 4);
    ck_assert_int_eq(jr_read_string(&r, &sl, &owned), -1);
    ck_assert_int_eq(r.status, JR_E_SYNTAX);
    jr_free(&r);
    jr_init(&r, "[1.5, null]", 11);
    ck_assert_int_eq(jr_read_float_array(&r, v, 2, &count, &bad), -1);
    ck_assert_int_eq(r.status, JR_E_TYPE);
    ck_assert_str_eq(r.err_msg, "value 1 is null, not a number");
    jr_free(&r);
}
END_TEST

START_TEST(duplicates)
{
    jr_status st;
    const char *d1 = "{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":3},{\"a\":4}]}";
    ck_assert(accepts(d1, strlen(d1), &st));
    const char *d2 = "{\"k\":{\"x\":1,\"y\":2,\"x\":3}}";
    ck_assert(!accepts(d2, strlen(d2), &st));
    ck_assert_int_eq(st, JR_E_DUPKEY);
    const char *d3 = "{\"\\u00e9\":1,\"\xc3\xa9\":2}"; /* same key once unescaped */
    ck_assert(!accepts(d3, strlen(d3), &st));
    ck_assert_int_eq(st, JR_E_DUPKEY);
    /* Many keys: the hash set keeps this linear. */
    enum { N = 20000 };
    const size_t cap = N * 16 + 4;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    size_t n = 0;
    s[n++] = '{';
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    s[n++] = '}';
    ck_assert(accepts(s, n, &st));
    n += (size_t)snprintf(s + n - 1, cap - n + 1, ",\"k%d\":0}", N / 2) - 1;
    ck_assert(!accepts(s, n, &st));
    ck_assert_int_eq(st, JR_E_DUPKEY);
    free(s);
}
END_TEST

START_TEST(strings_and_ints)
{
    const char *doc = "[\"plain\", \"a\\n\\\"\\/\\u00e9\\ud83d\\ude00\", 42, -7, 1.0, 1e2, 99999999999999999999, "
                      "-99999999999999999999, true]";
    json_reader r;
    jr_init(&r, doc, strlen(doc));
    jr_slice s;
    char *owned;
    long long v;
    bool b;
    ck_assert_int_eq(jr_array_begin(&r), 0);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_string(&r, &s, &owned), 0);
    ck_assert_ptr_null(owned);
    ck_assert_ptr_eq(s.p, doc + 2);
    ck_assert_uint_eq(s.len, 5);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_string(&r, &s, &owned), 0);
    ck_assert_ptr_nonnull(owned);
    ck_assert_uint_eq(s.len, 10);
    ck_assert_mem_eq(s.p, "a\n\"/\xc3\xa9\xf0\x9f\x98\x80", 10);
    free(owned);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_int(&r, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_int(&r, &v), 0);
    ck_assert_int_eq(v, -7);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_int(&r, &v), -1);
    ck_assert_int_eq(r.status, JR_E_TYPE);
    jr_free(&r);

    doc = "[1e2, 99999999999999999999, -99999999999999999999, true, \"s\"]";
    jr_init(&r, doc, strlen(doc));
    ck_assert_int_eq(jr_array_begin(&r), 0);
    ck_assert_int_eq(jr_array_next(&r), 1);
    ck_assert_int_eq(jr_read_int(&r, &v), -1); /* an exponent is not an integer */
    jr_free(&r);
    jr_init(&r, doc + 5, strlen(doc + 5) - 1);
    ck_assert_int_eq(jr_read_int(&r, &v), 0);
    ck_assert_int_eq(v, INT64_MAX); /* saturated */
    ck_assert_int_eq(jr_array_begin(&r), -1); /* "," is no value: sticky error */
    jr_free(&r);
    jr_init(&r, "-99999999999999999999", 21);
    ck_assert_int_eq(jr_read_int(&r, &v), 0);
    ck_assert_int_eq(v, -INT64_MAX);
    jr_free(&r);
    jr_init(&r, "true", 4);
    ck_assert_int_eq(jr_read_bool(&r, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(jr_finish(&r), 0);
    jr_free(&r);
    jr_init(&r, "\"s\"", 3);
    ck_assert_int_eq(jr_read_bool(&r, &b), -1);
    ck_assert_int_eq(r.status, JR_E_TYPE);
    ck_assert_str_eq(r.err_msg, "expected a boolean, got a string");
    jr_free(&r);
}
END_TEST

START_TEST(float_arrays)
{
    float v[3];
    size_t count, bad;
    json_reader r;
    const char *doc = "[ 1.5 ,-2e-3,\n3 , 4, 5 ]";
    jr_init(&r, doc, strlen(doc));
    ck_assert_int_eq(jr_read_float_array(&r, v, 3, &count, &bad), 0); /* longer than cap: counted */
    ck_assert_uint_eq(count, 5);
    ck_assert_float_eq(v[0], 1.5f);
    ck_assert_float_eq(v[1], -2e-3f);
    ck_assert_float_eq(v[2], 3.0f);
    ck_assert_int_eq(jr_finish(&r), 0);
    jr_free(&r);
    jr_init(&r, "[]", 2);
    ck_assert_int_eq(jr_read_float_array(&r, v, 3, &count, &bad), 0);
    ck_assert_uint_eq(count, 0);
    jr_free(&r);
    doc = "[1, 2, 1e39]";
    jr_init(&r, doc, strlen(doc));
    ck_assert_int_eq(jr_read_float_array(&r, v, 3, &count, &bad), -1);
    ck_assert_int_eq(r.status, JR_E_RANGE);
    ck_assert_uint_eq(bad, 2);
    ck_assert_str_eq(r.err_msg, "value 2 is out of the float32 range");
    jr_free(&r);
    static const char *bad_docs[] = { "[1,]", "[1 2]", "[01]", "[1", "[NaN]", "[1,,2]", "[-]" };
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        jr_init(&r, bad_docs[i], strlen(bad_docs[i]));
        ck_assert_int_eq(jr_read_float_array(&r, v, 3, &count, &bad), -1);
        ck_assert_msg(r.status == JR_E_SYNTAX, "%s: status %d", bad_docs[i], r.status);
        jr_free(&r);
    }
}
END_TEST

/* ---- random documents ---- */

static uint64_t rs = 0x243F6A8885A308D3ull;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}

typedef struct {
    char *b;
    size_t n, cap;
} sbuf;

static void put(sbuf *s, const char *t, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->b = realloc(s->b, s->cap);
    }
    memcpy(s->b + s->n, t, n);
    s->n += n;
}

static void puts_(sbuf *s, const char *t) { put(s, t, strlen(t)); }

static void ws(sbuf *s)
{
    static const char *w[] = { "", "", "", " ", "\n", "\t", "\r\n  " };
    puts_(s, w[rnd() % 7]);
}

static void gen_string(sbuf *s)
{
    static const char *pieces[] = {
        "a", "key", "Z9", " ", "\\n", "\\\"", "\\\\", "\\/", "\\b\\f\\r\\t", "\\u00e9", "\\u20AC",
        "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f", "AACAPw==",
        /* rare trouble */
        "\\ud800", "\\udc00", "\\u0000", "\x01", "\xc0\xaf", "\xed\xa0\x80", "\\x", "\\u12G4", "\xff",
    };
    puts_(s, "\"");
    int n = (int)(rnd() % 5);
    for (int i = 0; i < n; i++) {
        size_t k = rnd() % 100 < 97 ? rnd() % 17 : 17 + rnd() % 9;
        puts_(s, pieces[k]);
    }
    puts_(s, "\"");
}

static void gen_number(sbuf *s)
{
    char buf[64];
    switch (rnd() % 8) {
    case 0: snprintf(buf, sizeof buf, "%d", (int)(rnd() % 2000) - 1000); break;
    case 1: snprintf(buf, sizeof buf, "%.9g", (double)((float)rnd() / 4294967296.0f - 0.5f)); break;
    case 2: snprintf(buf, sizeof buf, "%.17g", ((double)rnd() - 2147483648.0) * 1e-10); break;
    case 3: snprintf(buf, sizeof buf, "%de%d", (int)(rnd() % 100), (int)(rnd() % 90) - 45); break;
    case 4: snprintf(buf, sizeof buf, "-%u.%uE+%u", rnd() % 10, rnd(), rnd() % 50); break;
    case 5: {
        static const char *odd[] = { "0", "-0", "3.4028235e38", "3.5e38", "1e-46", "1e308", "2e308", "0.0e0",
                                     "01", "1.", "-", ".5", "1e", "+1", "99999999999999999999999" };
        snprintf(buf, sizeof buf, "%s", odd[rnd() % (rnd() % 10 ? 8 : 15)]);
        break;
    }
    default: snprintf(buf, sizeof buf, "%.6f", (double)rnd() / 1e6); break;
    }
    puts_(s, buf);
}

static void gen_value(sbuf *s, int depth)
{
    int k = (int)(rnd() % 10);
    if (depth > 5 && k < 4)
        k += 4;
    switch (k) {
    case 0: case 1: {
        static const char *keys[] = { "\"a\"", "\"b\"", "\"context\"", "\"\\u0061\"", "\"\"", "\"\xc3\xa9\"",
                                      "\"\\u00e9\"", "\"k\\n\"" };
        puts_(s, "{");
        int n = (int)(rnd() % 4);
        for (int i = 0; i < n; i++) {
            if (i)
                puts_(s, ",");
            ws(s);
            if (rnd() % 2)
                puts_(s, keys[rnd() % 8]);
            else
                gen_string(s);
            ws(s);
            puts_(s, ":");
            ws(s);
            gen_value(s, depth + 1);
            ws(s);
        }
        puts_(s, "}");
        break;
    }
    case 2: case 3: {
        puts_(s, "[");
        int n = (int)(rnd() % 6), numbers = rnd() % 2;
        for (int i = 0; i < n; i++) {
            if (i)
                puts_(s, ",");
            ws(s);
            if (numbers)
                gen_number(s);
            else
                gen_value(s, depth + 1);
            ws(s);
        }
        puts_(s, "]");
        break;
    }
    case 4: case 5: gen_string(s); break;
    case 6: case 7: gen_number(s); break;
    default: {
        static const char *lit[] = { "true", "false", "null", "true", "false", "null", "tru", "nulll" };
        puts_(s, lit[rnd() % (rnd() % 20 ? 6 : 8)]);
    }
    }
}

static void mutate(sbuf *s)
{
    static const char interesting[] = "{}[]\",:0123456789-+.eE \\tfnu\x00\x80\xff";
    int m = 1 + (int)(rnd() % 3);
    for (int i = 0; i < m && s->n > 0; i++) {
        size_t at = rnd() % s->n;
        char c = interesting[rnd() % (sizeof interesting - 1)];
        switch (rnd() % 4) {
        case 0: s->b[at] = c; break;
        case 1: memmove(s->b + at, s->b + at + 1, s->n - at - 1); s->n--; break;
        case 2: put(s, " ", 1); memmove(s->b + at + 1, s->b + at, s->n - at - 1); s->b[at] = c; break;
        default: s->n = at; break;
        }
    }
}

START_TEST(differential_vs_jansson)
{
    sbuf s = { 0 };
    char why[512];
    long accepted = 0, rejected = 0;
    for (int it = 0; it < 200000; it++) {
        s.n = 0;
        ws(&s);
        gen_value(&s, 0);
        ws(&s);
        if (rnd() % 2)
            mutate(&s);
        if (jd_compare(s.b, s.n, why, sizeof why)) {
            ck_abort_msg("document %d \"%.*s\": %s", it, (int)s.n, s.b, why);
        }
        json_error_t je;
        json_t *j = json_loadb(s.b, s.n, JD_FLAGS, &je);
        if (j)
            accepted++;
        else
            rejected++;
        json_decref(j);
    }
    /* The generator must exercise both sides. */
    ck_assert_int_gt(accepted, 50000);
    ck_assert_int_gt(rejected, 50000);
    free(s.b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_reader");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grammar);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, paths_and_offsets);
    tcase_add_test(tc, duplicates);
    tcase_add_test(tc, strings_and_ints);
    tcase_add_test(tc, float_arrays);
    tcase_add_test(tc, differential_vs_jansson);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
