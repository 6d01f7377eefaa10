/* Unit tests for core/safetensors: a write/read round trip, and every
 * malformed file the reader must refuse with a message naming the file and
 * the tensor. The files are written byte by byte into a temp directory. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "core/safetensors.h"
#include "tests/unit/run_suite.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_st.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Write an 8-byte length `hlen` (normally strlen(json)), the JSON, the data. */
static void write_raw(uint64_t hlen, const char *json, const void *data, size_t dlen)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(hlen >> (8 * i));
    ck_assert_uint_eq(fwrite(len, 1, 8, f), 8);
    if (json)
        ck_assert_uint_eq(fwrite(json, 1, strlen(json), f), strlen(json));
    if (dlen)
        ck_assert_uint_eq(fwrite(data, 1, dlen, f), dlen);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_file(const char *json, const void *data, size_t dlen)
{
    write_raw(strlen(json), json, data, dlen);
}

/* Opening must fail with a message containing every one of the needles. */
static void expect_open_error(const char *n1, const char *n2)
{
    st_file f;
    mr_error e = {{0}};
    ck_assert_int_eq(st_open(&f, path, &e), -1);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message lacks the path: %s", e.msg);
    ck_assert_msg(strstr(e.msg, n1) != NULL, "message lacks '%s': %s", n1, e.msg);
    if (n2)
        ck_assert_msg(strstr(e.msg, n2) != NULL, "message lacks '%s': %s", n2, e.msg);
    ck_assert_ptr_null(f.map);
    ck_assert_ptr_null(f.tensors);
}

START_TEST(round_trip)
{
    float a[6] = {1, -2, 3.5f, 0.25f, -0.125f, 100};
    uint16_t b[3] = {mr_f32_to_bf16(1.0f), mr_f32_to_bf16(-2.0f), mr_f32_to_bf16(0.5f)};
    uint16_t h[2] = {mr_f32_to_f16(65504.0f), mr_f32_to_f16(0x1p-24f)};
    st_out_tensor ts[3] = {
        {"a", ST_F32, 2, {2, 3}, a},
        {"b", ST_BF16, 1, {3}, b},
        {"h", ST_F16, 1, {2}, h},
    };
    const char *mk[] = {"head_names", "backbone"};
    const char *mv[] = {"[\"x\",\"y\"]", "tiny"};
    mr_error e = {{0}};
    ck_assert_msg(st_write(path, ts, 3, mk, mv, 2, &e) == 0, "%s", e.msg);

    /* no temporary file left behind: the directory holds exactly one file */
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(n, 1);

    st_file f;
    ck_assert_msg(st_open(&f, path, &e) == 0, "%s", e.msg);
    /* header padded so the data starts 8-byte aligned; total size exact */
    const unsigned char *p = f.map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(f.map_len, 8 + hlen + 24 + 6 + 4);
    ck_assert_uint_eq(f.n_tensors, 3);
    ck_assert_str_eq(st_meta(&f, "backbone"), "tiny");
    ck_assert_str_eq(st_meta(&f, "head_names"), "[\"x\",\"y\"]");
    ck_assert_ptr_null(st_meta(&f, "nope"));
    ck_assert_ptr_null(st_find(&f, "nope"));

    const st_tensor *t = st_find(&f, "a");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_str_eq(t->dtype_name, "F32");
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    ck_assert_uint_eq(st_numel(t), 6);
    ck_assert_uint_eq(t->nbytes, 24);
    float out[6];
    ck_assert_int_eq(st_tensor_to_f32(&f, t, out, &e), 0);
    ck_assert_mem_eq(out, a, sizeof a);

    t = st_find(&f, "b");
    ck_assert_str_eq(t->dtype_name, "BF16");
    ck_assert_int_eq(st_tensor_to_f32(&f, t, out, &e), 0);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
    ck_assert_float_eq(out[2], 0.5f);

    t = st_find(&f, "h");
    ck_assert_int_eq(st_tensor_to_f32(&f, t, out, &e), 0);
    ck_assert_float_eq(out[0], 65504.0f);
    ck_assert_float_eq(out[1], 0x1p-24f);
    st_close(&f);
    st_close(&f);   /* idempotent */
}
END_TEST

START_TEST(truncated)
{
    /* shorter than the 8-byte length itself, then empty */
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, fp);
    fclose(fp);
    expect_open_error("truncated", NULL);
    fp = fopen(path, "wb");
    fclose(fp);
    expect_open_error("truncated", NULL);
}
END_TEST

START_TEST(header_beyond_file)
{
    write_raw(1000, "{}", NULL, 0);
    expect_open_error("header length 1000 exceeds the file", NULL);
    write_raw(UINT64_MAX, "{}", NULL, 0);
    expect_open_error("exceeds the file", NULL);
}
END_TEST

START_TEST(bad_json)
{
    write_file("{\"a\": {\"dtype\": \"F32\",", "", 0);
    expect_open_error("not valid JSON", NULL);
    write_file("[1, 2]  ", "", 0);
    expect_open_error("not a JSON object", NULL);
    /* duplicate tensor names are ambiguous */
    write_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "x", 1);
    expect_open_error("not valid JSON", NULL);
    write_file("{\"__metadata__\": {\"k\": 3}}", "", 0);
    expect_open_error("__metadata__", "'k'");
}
END_TEST

START_TEST(unknown_dtype)
{
    write_file("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", "ab", 2);
    expect_open_error("tensor 'w'", "unknown dtype 'Q4_K'");
}
END_TEST

START_TEST(offsets_out_of_bounds)
{
    char data[512] = {0};
    write_file("{\"heads.weight\":{\"dtype\":\"F32\",\"shape\":[256],\"data_offsets\":[0,1024]}}",
               data, sizeof data);
    expect_open_error("tensor 'heads.weight': data_offsets [0, 1024) exceed the 512 data bytes", NULL);
    write_file("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", data, 8);
    expect_open_error("tensor 'w'", "end before begin");
    write_file("{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[-1,1]}}", data, 8);
    expect_open_error("tensor 'w'", "data_offsets");
}
END_TEST

START_TEST(overlapping)
{
    char data[16] = {0};
    write_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 16);
    expect_open_error("overlap", "'a'");
    /* an empty tensor in between does not hide the overlap */
    write_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", data, 16);
    expect_open_error("overlap", "'b'");
    /* adjacent is fine */
    write_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", data, 16);
    st_file f;
    mr_error e;
    ck_assert_msg(st_open(&f, path, &e) == 0, "%s", e.msg);
    ck_assert_ptr_eq(st_find(&f, "b")->data, st_find(&f, "a")->data + 8);
    st_close(&f);
}
END_TEST

START_TEST(shape_bytes_mismatch)
{
    char data[16] = {0};
    write_file("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", data, 16);
    expect_open_error("tensor 'w'", "6 elements of BF16 need 12 bytes");
    write_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,16]}}", data, 16);
    expect_open_error("tensor 'w'", "shape[1]");
    write_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
               data, 16);
    expect_open_error("tensor 'w'", "dimensions");
    write_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
               data, 16);
    expect_open_error("tensor 'w'", "overflows");
}
END_TEST

START_TEST(nan_value)
{
    float v[3] = {1.0f, NAN, 2.0f};
    write_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", v, sizeof v);
    st_file f;
    mr_error e;
    ck_assert_msg(st_open(&f, path, &e) == 0, "%s", e.msg);   /* values are checked on use */
    float out[3];
    ck_assert_int_eq(st_tensor_to_f32(&f, st_find(&f, "w"), out, &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "tensor 'w'") && strstr(e.msg, "element 1 is NaN"),
                  "%s", e.msg);
    st_close(&f);
}
END_TEST

START_TEST(inf_in_bf16)
{
    unsigned char v[4] = {0x80, 0x3f, 0x80, 0xff};   /* 1.0, -Inf */
    write_file("{\"r\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", v, sizeof v);
    st_file f;
    mr_error e;
    ck_assert_msg(st_open(&f, path, &e) == 0, "%s", e.msg);
    float out[2];
    ck_assert_int_eq(st_tensor_to_f32(&f, st_find(&f, "r"), out, &e), -1);
    ck_assert_msg(strstr(e.msg, "tensor 'r'") && strstr(e.msg, "element 1 is infinite"), "%s", e.msg);
    st_close(&f);
}
END_TEST

START_TEST(non_float_dtype)
{
    int32_t v[2] = {1, 2};
    write_file("{\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"q\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[8,8]}}", v, sizeof v);
    st_file f;
    mr_error e;
    ck_assert_msg(st_open(&f, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(st_find(&f, "q")->dtype, ST_OTHER);
    float out[2];
    ck_assert_int_eq(st_tensor_to_f32(&f, st_find(&f, "i"), out, &e), -1);
    ck_assert_msg(strstr(e.msg, "tensor 'i'") && strstr(e.msg, "I32"), "%s", e.msg);
    st_close(&f);
}
END_TEST

START_TEST(not_a_file)
{
    st_file f;
    mr_error e;
    ck_assert_int_eq(st_open(&f, dir, &e), -1);
    ck_assert_msg(strstr(e.msg, "not a regular file"), "%s", e.msg);
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    ck_assert_int_eq(st_open(&f, path, &e), -1);
    ck_assert_msg(strstr(e.msg, "missing.safetensors") && strstr(e.msg, "No such file"), "%s", e.msg);
}
END_TEST

/* st_open_mem on the bytes of a file gives what st_open gives, errors name
 * the given name, and closing leaves the caller's buffer alone. */
START_TEST(open_mem)
{
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"__metadata__\":{\"k\":\"v\"}}";
    float vals[2] = {1.5f, -2.25f};
    write_file(json, vals, sizeof vals);
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    unsigned char buf[512];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    ck_assert_uint_eq(n, 8 + strlen(json) + sizeof vals);

    st_file f;
    mr_error e = {{0}};
    ck_assert_msg(st_open_mem(&f, buf, n, "mem:t", &e) == 0, "%s", e.msg);
    ck_assert_ptr_null(f.map);
    ck_assert_str_eq(f.path, "mem:t");
    ck_assert_uint_eq(f.n_tensors, 1);
    ck_assert_str_eq(st_meta(&f, "k"), "v");
    const st_tensor *t = st_find(&f, "a");
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_eq(t->data, buf + 8 + strlen(json));
    float out[2];
    ck_assert_int_eq(st_tensor_to_f32(&f, t, out, &e), 0);
    ck_assert_float_eq(out[0], 1.5f);
    ck_assert_float_eq(out[1], -2.25f);
    st_close(&f);
    ck_assert_uint_eq(buf[8], '{');   /* still ours, still readable */

    /* one byte short: the last tensor no longer fits */
    ck_assert_int_eq(st_open_mem(&f, buf, n - 1, "mem:short", &e), -1);
    ck_assert_msg(strstr(e.msg, "mem:short: tensor 'a': data_offsets [0, 8) exceed the 7 data bytes"),
                  "%s", e.msg);
    ck_assert_ptr_null(f.tensors);
    ck_assert_ptr_null(f.path);
    ck_assert_int_eq(st_open_mem(&f, buf, 7, "mem:tiny", &e), -1);
    ck_assert_msg(strstr(e.msg, "mem:tiny: truncated file (7 bytes"), "%s", e.msg);
    buf[0] = 0xff;
    ck_assert_int_eq(st_open_mem(&f, buf, n, "mem:len", &e), -1);
    ck_assert_msg(strstr(e.msg, "mem:len: header length") && strstr(e.msg, "exceeds the file"), "%s", e.msg);
}
END_TEST

START_TEST(write_failures)
{
    float a[1] = {1};
    st_out_tensor t = {"a", ST_F32, 1, {1}, a};
    mr_error e;
    /* target is a directory: rename fails, the temporary must be gone */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(st_write(sub, &t, 1, NULL, NULL, 0, &e), -1);
    ck_assert_msg(strstr(e.msg, sub), "%s", e.msg);
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        ck_assert_msg(!strstr(de->d_name, ".tmp."), "left behind %s", de->d_name);
    closedir(d);
    rmdir(sub);
    /* missing directory */
    snprintf(sub, sizeof sub, "%s/no/such/file", dir);
    ck_assert_int_eq(st_write(sub, &t, 1, NULL, NULL, 0, &e), -1);
    /* duplicate names and reserved names are refused */
    st_out_tensor two[2] = {t, t};
    ck_assert_int_eq(st_write(path, two, 2, NULL, NULL, 0, &e), -1);
    ck_assert_msg(strstr(e.msg, "duplicate"), "%s", e.msg);
    st_out_tensor meta = {"__metadata__", ST_F32, 1, {1}, a};
    ck_assert_int_eq(st_write(path, &meta, 1, NULL, NULL, 0, &e), -1);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, header_beyond_file);
    tcase_add_test(tc, bad_json);
    tcase_add_test(tc, unknown_dtype);
    tcase_add_test(tc, offsets_out_of_bounds);
    tcase_add_test(tc, overlapping);
    tcase_add_test(tc, shape_bytes_mismatch);
    tcase_add_test(tc, nan_value);
    tcase_add_test(tc, inf_in_bf16);
    tcase_add_test(tc, non_float_dtype);
    tcase_add_test(tc, not_a_file);
    tcase_add_test(tc, write_failures);
    tcase_add_test(tc, open_mem);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
