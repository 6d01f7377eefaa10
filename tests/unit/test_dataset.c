/* Dataset files: the streaming writer and the mapped reader agree for F32,
 * BF16 and F16; gathers return the right rows; malformed files (missing
 * tensor, mismatched n, wrong widths, NaN, bad attributes, wrong dtypes) are
 * refused with a message naming the tensor; an aborted write leaves nothing. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dataset.h"
#include "core/half.h"
#include "core/safetensors.h"
#include "tests/unit/run_suite.h"

static char dir[256], path[300];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mr_test_dataset_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/d.safetensors", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

static float val(int col, int64_t i, int j) { return (float)(col * 1000 + i * 10 + j) / 7.0f; }

static void write_small(st_dtype dt, int with_names)
{
    const char *names[] = {"alpha", "beta", "gamma"};
    mr_dataset_writer w;
    mr_error e;
    ck_assert_msg(mr_dataset_writer_open(&w, path, 5, 3, 2, true, with_names ? 3 : 0, names, dt, &e) == 0, "%s", e.msg);
    for (int64_t i = 4; i >= 0; i--) { /* any order */
        float p[2], c[3], r[3], x[2];
        for (int j = 0; j < 2; j++) {
            p[j] = val(0, i, j);
            x[j] = val(3, i, j);
        }
        for (int j = 0; j < 3; j++) {
            c[j] = val(1, i, j);
            r[j] = val(2, i, j);
        }
        ck_assert_int_eq(mr_dataset_writer_row(&w, i, p, c, r, x, (int32_t)(i % 3), &e), 0);
    }
    ck_assert_int_eq(mr_dataset_writer_finish(&w, &e), 0);
}

static float roundtrip(st_dtype dt, float x)
{
    return dt == ST_F32 ? x : dt == ST_BF16 ? mr_bf16_to_f32(mr_f32_to_bf16(x)) : mr_f16_to_f32(mr_f32_to_f16(x));
}

static void check_roundtrip(st_dtype dt)
{
    setup();
    write_small(dt, 1);
    mr_dataset ds;
    mr_error e;
    ck_assert_msg(mr_dataset_open(&ds, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ds.n, 5);
    ck_assert_int_eq(ds.d, 3);
    ck_assert_int_eq(ds.dc, 2);
    ck_assert(mr_dataset_has_context(&ds));
    ck_assert_int_eq(ds.n_attributes, 3);
    ck_assert_str_eq(ds.attribute_names[1], "beta");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ds.attribute[i], i % 3);
    int64_t idx[3] = {4, 0, 2};
    float out[9];
    for (int c = 0; c < MR_COL_COUNT; c++) {
        int w = mr_dataset_width(&ds, (mr_column)c);
        mr_dataset_gather(&ds, (mr_column)c, idx, 3, out);
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < w; j++)
                ck_assert_float_eq(out[k * w + j], roundtrip(dt, val(c, idx[k], j)));
    }
    mr_dataset_close(&ds);
    teardown();
}

START_TEST(roundtrip_f32) { check_roundtrip(ST_F32); }
END_TEST
START_TEST(roundtrip_bf16) { check_roundtrip(ST_BF16); }
END_TEST
START_TEST(roundtrip_f16) { check_roundtrip(ST_F16); }
END_TEST

START_TEST(attributes_without_names)
{
    setup();
    write_small(ST_F32, 0);
    mr_dataset ds;
    mr_error e;
    ck_assert_int_eq(mr_dataset_open(&ds, path, &e), 0);
    ck_assert_ptr_null(ds.attribute);
    ck_assert_int_eq(ds.n_attributes, 0);
    mr_dataset_close(&ds);
    teardown();
}
END_TEST

/* A hand-made file through the generic writer, so anything can be wrong. */
typedef struct {
    const char *name;
    st_dtype dt;
    int ndim;
    int64_t r, c;
    int nan_row;   /* -1: none */
} spec;

static void write_spec(const spec *s, int n, const char *attr_meta)
{
    st_out_tensor t[8];
    void *bufs[8];
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)s[i].r * (size_t)(s[i].ndim == 2 ? s[i].c : 1);
        size_t es = st_dtype_size(s[i].dt);
        bufs[i] = calloc(cnt ? cnt : 1, es);
        if (s[i].dt == ST_F32) {
            float *f = bufs[i];
            for (size_t k = 0; k < cnt; k++)
                f[k] = 0.25f * (float)(k % 5);
            if (s[i].nan_row >= 0)
                f[(size_t)s[i].nan_row * (size_t)s[i].c + 1] = NAN;
        } else if (s[i].dt == ST_I32) {
            int32_t *v = bufs[i];
            for (size_t k = 0; k < cnt; k++)
                v[k] = (int32_t)(k % 2);
            if (s[i].nan_row >= 0)
                v[s[i].nan_row] = 7; /* out of range for 2 names */
        }
        t[i] = (st_out_tensor){s[i].name, s[i].dt, s[i].ndim, {s[i].r, s[i].c}, bufs[i]};
    }
    const char *k[1] = {"attributes"}, *v[1] = {attr_meta};
    mr_error e;
    ck_assert_msg(st_write(path, t, (size_t)n, k, v, attr_meta ? 1 : 0, &e) == 0, "%s", e.msg);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
}

static void expect_error(const spec *s, int n, const char *meta, const char *needle1, const char *needle2)
{
    setup();
    write_spec(s, n, meta);
    mr_dataset ds;
    mr_error e = {{0}};
    ck_assert_int_eq(mr_dataset_open(&ds, path, &e), -1);
    ck_assert_msg(strstr(e.msg, needle1) && (!needle2 || strstr(e.msg, needle2)), "message '%s' lacks '%s'/'%s'",
                  e.msg, needle1, needle2 ? needle2 : "");
    ck_assert_msg(strstr(e.msg, path) != NULL, "message '%s' does not name the file", e.msg);
    teardown();
}

START_TEST(valid_spec_opens)
{
    spec s[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1},
                {"attribute", ST_I32, 1, 4, 0, -1}};
    setup();
    write_spec(s, 4, "[\"x\",\"y\"]");
    mr_dataset ds;
    mr_error e;
    ck_assert_msg(mr_dataset_open(&ds, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ds.n_attributes, 2);
    ck_assert_str_eq(ds.attribute_names[1], "y");
    ck_assert(!mr_dataset_has_context(&ds));
    mr_dataset_close(&ds);
    /* comma-list names are accepted too */
    write_spec(s, 4, "x,y");
    ck_assert_int_eq(mr_dataset_open(&ds, path, &e), 0);
    ck_assert_str_eq(ds.attribute_names[0], "x");
    mr_dataset_close(&ds);
    teardown();
}
END_TEST

START_TEST(missing_tensor)
{
    spec s[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}};
    expect_error(s, 2, NULL, "missing tensor 'rejected'", NULL);
}
END_TEST

START_TEST(mismatched_n)
{
    spec s[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 3, 5, -1}};
    expect_error(s, 3, NULL, "'rejected' has 3 rows", "'prompt' has 4");
}
END_TEST

START_TEST(wrong_widths)
{
    spec s[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 6, -1}};
    expect_error(s, 3, NULL, "'rejected' has width 6", NULL);
    spec c[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1},
                {"context", ST_F32, 2, 4, 4, -1}};
    expect_error(c, 4, NULL, "'context' has width 4", NULL);
    spec one[] = {{"prompt", ST_F32, 1, 4, 0, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1}};
    expect_error(one, 3, NULL, "'prompt' must be 2-D", NULL);
}
END_TEST

START_TEST(not_finite)
{
    spec s[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, 2}, {"rejected", ST_F32, 2, 4, 5, -1}};
    expect_error(s, 3, NULL, "'chosen' row 2", "not finite");
}
END_TEST

START_TEST(bad_dtypes_and_attributes)
{
    spec s[] = {{"prompt", ST_I32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1}};
    expect_error(s, 3, NULL, "'prompt' has dtype I32", NULL);
    spec a[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1},
                {"attribute", ST_F32, 1, 4, 0, -1}};
    expect_error(a, 4, NULL, "'attribute' must be I32", NULL);
    spec r[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1},
                {"attribute", ST_I32, 1, 4, 0, 1}};
    expect_error(r, 4, "[\"x\",\"y\"]", "attribute 7", "names only 2");
    spec l[] = {{"prompt", ST_F32, 2, 4, 3, -1}, {"chosen", ST_F32, 2, 4, 5, -1}, {"rejected", ST_F32, 2, 4, 5, -1},
                {"attribute", ST_I32, 1, 3, 0, -1}};
    expect_error(l, 4, NULL, "'attribute' must have shape [4]", NULL);
}
END_TEST

START_TEST(not_a_file)
{
    mr_dataset ds;
    mr_error e;
    ck_assert_int_eq(mr_dataset_open(&ds, "/nonexistent/x.safetensors", &e), -1);
    ck_assert(strstr(e.msg, "/nonexistent/x.safetensors") != NULL);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
    setup();
    mr_dataset_writer w;
    mr_error e;
    ck_assert_int_eq(mr_dataset_writer_open(&w, path, 10, 2, 2, false, 0, NULL, ST_F32, &e), 0);
    float x[2] = {1, 2};
    ck_assert_int_eq(mr_dataset_writer_row(&w, 0, x, x, x, NULL, 0, &e), 0);
    ck_assert_int_eq(mr_dataset_writer_row(&w, 10, x, x, x, NULL, 0, &e), -1);
    mr_dataset_writer_abort(&w);
    ck_assert_int_ne(access(path, F_OK), 0);
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);
    ck_assert_int_eq(mr_dataset_writer_open(&w, "/nonexistent/dir/x.safetensors", 1, 1, 1, false, 0, NULL, ST_F32, &e),
                     -1);
    ck_assert(strstr(e.msg, "/nonexistent/dir/x.safetensors") != NULL);
    teardown();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, roundtrip_f32);
    tcase_add_test(tc, roundtrip_bf16);
    tcase_add_test(tc, roundtrip_f16);
    tcase_add_test(tc, attributes_without_names);
    tcase_add_test(tc, valid_spec_opens);
    tcase_add_test(tc, missing_tensor);
    tcase_add_test(tc, mismatched_n);
    tcase_add_test(tc, wrong_widths);
    tcase_add_test(tc, not_finite);
    tcase_add_test(tc, bad_dtypes_and_attributes);
    tcase_add_test(tc, not_a_file);
    tcase_add_test(tc, abort_leaves_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
