/* core/json_writer: the text must be what jansson's json_dumps(JSON_COMPACT |
 * JSON_REAL_PRECISION(9)) writes for the same document (a /score answer,
 * strings that need escaping, random nested documents), and every misuse
 * or failure must end in NULL, never in half a document. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/rng.h"
#include "tests/unit/run_suite.h"

static char *dumps(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    ck_assert_ptr_nonnull(s);
    json_decref(j);
    return s;
}

static void same_text(json_writer *w, json_t *j)
{
    size_t len = 0;
    char *ours = jw_finish(w, &len);
    char *theirs = dumps(j);
    ck_assert_ptr_nonnull(ours);
    ck_assert_str_eq(ours, theirs);
    ck_assert_uint_eq(len, strlen(theirs));
    free(ours);
    free(theirs);
}

START_TEST(score_answer_as_jansson_writes_it)
{
    const double rewards[] = {-0.179985287, 0.3197822, 1e-7};
    const double weights[] = {0.25, 0.5, 0.125, 0.125};
    json_writer w;
    jw_init(&w);
    jw_object_begin(&w);
    jw_key(&w, "rewards");
    jw_array_begin(&w);
    for (int i = 0; i < 3; i++)
        jw_real(&w, rewards[i]);
    jw_array_end(&w);
    jw_key(&w, "weights");
    jw_array_begin(&w);
    for (int i = 0; i < 4; i++)
        jw_real(&w, weights[i]);
    jw_array_end(&w);
    jw_key(&w, "heads");
    jw_array_begin(&w);
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_array_begin(&w);
    jw_real(&w, 2.0);
    jw_array_end(&w);
    jw_array_end(&w);
    jw_key(&w, "user");
    jw_object_begin(&w);
    jw_key(&w, "id");
    jw_string(&w, "alice");
    jw_key(&w, "known");
    jw_bool(&w, true);
    jw_key(&w, "version");
    jw_int(&w, 9007199254740993LL);
    jw_key(&w, "none");
    jw_bool(&w, false);
    jw_key(&w, "neg");
    jw_int(&w, -12);
    jw_object_end(&w);
    jw_key(&w, "model");
    jw_string(&w, "7b5080954728c017");
    jw_object_end(&w);

    json_t *j = json_pack("{s:[f,f,f], s:[f,f,f,f], s:[[],[f]], s:{s:s, s:b, s:I, s:b, s:I}, s:s}",
                          "rewards", rewards[0], rewards[1], rewards[2],
                          "weights", weights[0], weights[1], weights[2], weights[3],
                          "heads", 2.0,
                          "user", "id", "alice", "known", 1, "version", (json_int_t)9007199254740993LL,
                          "none", 0, "neg", (json_int_t)-12,
                          "model", "7b5080954728c017");
    ck_assert_ptr_nonnull(j);
    same_text(&w, j);
}
END_TEST

START_TEST(strings_escaped_as_jansson_escapes_them)
{
    const char *cases[] = {
        "", "plain", "quote\" backslash\\ slash/", "\b\f\n\r\t", "\x01\x02\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "ends with a control\x1f", "\"\"\\\\",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_writer w;
        jw_init(&w);
        jw_array_begin(&w);
        jw_string(&w, cases[i]);
        jw_object_begin(&w);
        jw_key(&w, cases[i]);
        jw_string(&w, cases[i]);
        jw_object_end(&w);
        jw_array_end(&w);
        same_text(&w, json_pack("[s,{s:s}]", cases[i], cases[i], cases[i]));
    }
}
END_TEST

/* Write the same random document with both; returns it as jansson's tree. */
static json_t *random_value(mr_rng *r, json_writer *w, int depth)
{
    int kind = (int)(mr_rng_u64(r) % (depth < 4 ? 6 : 4));
    switch (kind) {
    case 0: {
        double v = ((double)(mr_rng_u64(r) >> 11) * 0x1p-53 - 0.5) * pow(10.0, (double)(int)(mr_rng_u64(r) % 30) - 15);
        jw_real(w, v);
        return json_real(v);
    }
    case 1: {
        long long v = (long long)(mr_rng_u64(r) >> 1) - (1LL << 62);
        jw_int(w, v);
        return json_integer(v);
    }
    case 2: {
        bool v = mr_rng_u64(r) & 1;
        jw_bool(w, v);
        return json_boolean(v);
    }
    case 3: {
        char s[8];
        for (int i = 0; i < 7; i++)
            s[i] = (char)(1 + mr_rng_u64(r) % 126);
        s[7] = '\0';
        jw_string(w, s);
        return json_string(s);
    }
    case 4: {
        json_t *a = json_array();
        jw_array_begin(w);
        int n = (int)(mr_rng_u64(r) % 5);
        for (int i = 0; i < n; i++)
            json_array_append_new(a, random_value(r, w, depth + 1));
        jw_array_end(w);
        return a;
    }
    default: {
        json_t *o = json_object();
        jw_object_begin(w);
        int n = (int)(mr_rng_u64(r) % 5);
        for (int i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", i);   /* distinct: jansson keeps one per key */
            jw_key(w, key);
            json_object_set_new(o, key, random_value(r, w, depth + 1));
        }
        jw_object_end(w);
        return o;
    }
    }
}

START_TEST(random_documents_as_jansson_writes_them)
{
    mr_rng r;
    mr_rng_seed(&r, 21);
    for (int i = 0; i < 20000; i++) {
        json_writer w;
        jw_init(&w);
        json_t *j = random_value(&r, &w, 0);
        ck_assert_ptr_nonnull(j);
        same_text(&w, j);
    }
}
END_TEST

START_TEST(a_document_larger_than_the_first_buffer)
{
    json_writer w;
    jw_init(&w);
    json_t *j = json_array();
    jw_array_begin(&w);
    for (int i = 0; i < 5000; i++) {
        jw_real(&w, i / 7.0);
        json_array_append_new(j, json_real(i / 7.0));
    }
    jw_array_end(&w);
    same_text(&w, j);
}
END_TEST

START_TEST(failures_give_no_text)
{
    json_writer w;
    size_t len = 123;
    /* a NaN or an infinity: nothing is written after it, and the reason is kept */
    jw_init(&w);
    jw_array_begin(&w);
    jw_real(&w, 1.0);
    jw_real(&w, NAN);
    jw_real(&w, 2.0);
    jw_array_end(&w);
    ck_assert(w.failed && w.non_finite);
    ck_assert_ptr_null(jw_finish(&w, &len));
    ck_assert_uint_eq(len, 123);
    ck_assert(!w.failed && !w.non_finite && w.buf == NULL);   /* empty again */

    jw_init(&w);
    jw_array_begin(&w);
    jw_real(&w, -INFINITY);
    ck_assert(w.non_finite);
    ck_assert_ptr_null(jw_finish(&w, NULL));

    /* unbalanced: a container left open, or closed twice */
    jw_init(&w);
    jw_object_begin(&w);
    ck_assert_ptr_null(jw_finish(&w, NULL));
    jw_init(&w);
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_array_end(&w);
    ck_assert(w.failed && !w.non_finite);
    ck_assert_ptr_null(jw_finish(&w, NULL));

    /* nesting past the limit */
    jw_init(&w);
    for (int i = 0; i <= JW_MAX_DEPTH; i++)
        jw_array_begin(&w);
    ck_assert(w.failed);
    ck_assert_ptr_null(jw_finish(&w, NULL));

    /* at the limit is fine */
    jw_init(&w);
    for (int i = 0; i < JW_MAX_DEPTH; i++)
        jw_array_begin(&w);
    for (int i = 0; i < JW_MAX_DEPTH; i++)
        jw_array_end(&w);
    char *text = jw_finish(&w, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, 2 * JW_MAX_DEPTH);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_writer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, score_answer_as_jansson_writes_it);
    tcase_add_test(tc, strings_escaped_as_jansson_escapes_them);
    tcase_add_test(tc, random_documents_as_jansson_writes_them);
    tcase_add_test(tc, a_document_larger_than_the_first_buffer);
    tcase_add_test(tc, failures_give_no_text);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
