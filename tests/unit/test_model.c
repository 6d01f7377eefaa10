/* Unit tests for core/model: the demo model, an authors'-style sharded BF16
 * checkpoint whose backbone shard must never be opened, shape and metadata
 * validation, mask specs, save/load round trips and the fingerprint. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "tests/unit/run_suite.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_model.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *in_dir(const char *name)
{
    static char p[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static mr_model *load_ok(const char *path)
{
    mr_error e = {{0}};
    mr_model *m = mr_model_load(path, &e);
    ck_assert_msg(m != NULL, "load %s: %s", path, e.msg);
    return m;
}

static void load_fails(const char *path, const char *n1, const char *n2)
{
    mr_error e = {{0}};
    mr_model *m = mr_model_load(path, &e);
    ck_assert_msg(m == NULL, "load %s should fail", path);
    ck_assert_msg(strstr(e.msg, n1), "message lacks '%s': %s", n1, e.msg);
    if (n2)
        ck_assert_msg(strstr(e.msg, n2), "message lacks '%s': %s", n2, e.msg);
}

static int is_lower_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

START_TEST(new_layout)
{
    mr_error e;
    mr_model *m = mr_model_new(3, 5, 7, MR_ROUTER_MLP, 4, &e);
    ck_assert_ptr_nonnull(m);
    /* one buffer, views in the documented order */
    ck_assert_uint_eq(m->n_params, 3 * 5 + 3 + 4 * 7 + 4 + 3 * 4 + 3);
    ck_assert_ptr_eq(m->head_w, m->params);
    ck_assert_ptr_eq(m->head_b, m->params + 15);
    ck_assert_ptr_eq(m->r1_w, m->params + 18);
    ck_assert_ptr_eq(m->r1_b, m->params + 46);
    ck_assert_ptr_eq(m->r_w, m->params + 50);
    ck_assert_ptr_eq(m->r_b, m->params + 62);
    ck_assert_int_eq(mr_router_features(m), 4);
    ck_assert_str_eq(m->head_names[2], "head2");
    ck_assert_str_eq(m->backbone, "");
    for (size_t i = 0; i < m->n_params; i++)
        ck_assert_float_eq(m->params[i], 0.0f);
    mr_model_free(m);

    m = mr_model_new(2, 5, 7, MR_ROUTER_LINEAR, 99, &e);
    ck_assert_int_eq(m->H, 0);
    ck_assert_ptr_null(m->r1_w);
    ck_assert_int_eq(mr_router_features(m), 7);
    ck_assert_uint_eq(m->n_params, 2 * 5 + 2 + 2 * 7 + 2);
    mr_model_free(m);

    ck_assert_ptr_null(mr_model_new(0, 5, 5, MR_ROUTER_LINEAR, 0, &e));
    ck_assert_ptr_null(mr_model_new(MR_MAX_HEADS + 1, 5, 5, MR_ROUTER_LINEAR, 0, &e));
    ck_assert_ptr_null(mr_model_new(2, 0, 5, MR_ROUTER_LINEAR, 0, &e));
    ck_assert_ptr_null(mr_model_new(2, 5, 5, MR_ROUTER_MLP, 0, &e));
    ck_assert(strstr(e.msg, "H=0"));
}
END_TEST

START_TEST(fingerprint_known_value)
{
    /* sha256("microrm-model-v1 1 1 1 0 linear\n" + float32 LE 1,2,3,4),
     * computed independently with Python's hashlib */
    mr_error e;
    mr_model *m = mr_model_new(1, 1, 1, MR_ROUTER_LINEAR, 0, &e);
    ck_assert_str_eq(m->fingerprint, "765422c3f38dffe3ce369206536f94e4210302973f5e7d4c81bd645f8b8fd222");
    for (int i = 0; i < 4; i++)
        m->params[i] = (float)(i + 1);
    mr_model_fingerprint(m);
    ck_assert_str_eq(m->fingerprint, "660743783eed53dc4884cb310ce409596efb35c50759e20116bb21da567227ec");
    mr_model_free(m);
}
END_TEST

START_TEST(load_demo)
{
    const char *root = getenv("MICRORM_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "MICRORM_SOURCE_ROOT not set");
    char path[512];
    snprintf(path, sizeof path, "%s/models/demo.safetensors", root);
    mr_model *m = load_ok(path);
    ck_assert_int_eq(m->K, 4);
    ck_assert_int_eq(m->d, 64);
    ck_assert_int_eq(m->dc, 64);
    ck_assert_int_eq(m->H, 16);
    ck_assert_int_eq(m->router, MR_ROUTER_MLP);
    ck_assert_int_eq(m->score_mode, MR_SCORE_LINEAR);
    ck_assert_uint_eq(m->n_params, 4 * 64 + 4 + 16 * 64 + 16 + 4 * 16 + 4);
    ck_assert_str_eq(m->head_names[0], "helpfulness");
    ck_assert_str_eq(m->head_names[1], "harmlessness");
    ck_assert_str_eq(m->head_names[2], "humor");
    ck_assert_str_eq(m->head_names[3], "conciseness");
    ck_assert_str_eq(m->backbone, "microrm-demo");
    ck_assert_str_eq(m->source_dtype, "F32");
    ck_assert_str_eq(m->source_path, path);
    ck_assert(is_lower_hex64(m->fingerprint));
    /* weights ~ N(0, 1/8): nonzero, finite, plausible spread */
    double ss = 0;
    for (int i = 0; i < 4 * 64; i++)
        ss += (double)m->head_w[i] * m->head_w[i];
    ck_assert_double_gt(ss / 256, 1.0 / 64 / 2);
    ck_assert_double_lt(ss / 256, 1.0 / 64 * 2);
    /* fingerprint is a function of the parameters */
    char fp[MR_FINGERPRINT_HEX + 1];
    memcpy(fp, m->fingerprint, sizeof fp);
    mr_model_fingerprint(m);
    ck_assert_str_eq(m->fingerprint, fp);
    m->r_b[3] += 1.0f;
    mr_model_fingerprint(m);
    ck_assert_str_ne(m->fingerprint, fp);
    mr_model_free(m);
}
END_TEST

/* Authors'-style checkpoint: K=3 heads over d=8, a linear router over dc=8,
 * BF16, sharded; shard 1 holds only backbone tensors. */
#define AK 3
#define AD 8

static float aval(int i)
{
    return (float)((i % 17) - 8) * 0.125f;   /* exact in bf16 */
}

static void make_authors_checkpoint(void)
{
    uint16_t score[AK * AD], rw[AK * AD], rb[AK];
    for (int i = 0; i < AK * AD; i++) {
        score[i] = mr_f32_to_bf16(aval(i));
        rw[i] = mr_f32_to_bf16(aval(i + 100));
    }
    for (int k = 0; k < AK; k++)
        rb[k] = mr_f32_to_bf16(aval(k + 200));

    /* a NaN backbone tensor next to the reward tensors: must never be read */
    uint16_t norm[AD];
    for (int i = 0; i < AD; i++)
        norm[i] = 0x7fc0;
    st_out_tensor s2[4] = {
        {"model.norm.weight", ST_BF16, 1, {AD}, norm},
        {"score.weight", ST_BF16, 2, {AK, AD}, score},
        {"router.weight", ST_BF16, 2, {AK, AD}, rw},
        {"router.bias", ST_BF16, 1, {AK}, rb},
    };
    const char *mk[] = {"format"};
    const char *mv[] = {"pt"};
    mr_error e;
    ck_assert_msg(st_write(in_dir("model-00002-of-00002.safetensors"), s2, 4, mk, mv, 1, &e) == 0,
                  "%s", e.msg);

    /* a big fake backbone shard (4 MB) */
    size_t n = 2u << 20;
    uint16_t *big = calloc(n, sizeof *big);
    ck_assert_ptr_nonnull(big);
    st_out_tensor s1[1] = {{"model.embed_tokens.weight", ST_BF16, 2, {(int64_t)(n / 1024), 1024}, big}};
    ck_assert_msg(st_write(in_dir("model-00001-of-00002.safetensors"), s1, 1, mk, mv, 1, &e) == 0,
                  "%s", e.msg);
    free(big);

    write_text(in_dir("model.safetensors.index.json"),
               "{\"metadata\": {\"total_size\": 4194600},\n"
               " \"weight_map\": {\n"
               "  \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\",\n"
               "  \"model.norm.weight\": \"model-00002-of-00002.safetensors\",\n"
               "  \"score.weight\": \"model-00002-of-00002.safetensors\",\n"
               "  \"router.weight\": \"model-00002-of-00002.safetensors\",\n"
               "  \"router.bias\": \"model-00002-of-00002.safetensors\"}}\n");
}

static void check_authors_model(const mr_model *m)
{
    ck_assert_int_eq(m->K, AK);
    ck_assert_int_eq(m->d, AD);
    ck_assert_int_eq(m->dc, AD);
    ck_assert_int_eq(m->router, MR_ROUTER_LINEAR);
    ck_assert_str_eq(m->source_dtype, "BF16");
    ck_assert_str_eq(m->head_names[1], "head1");
    for (int i = 0; i < AK * AD; i++) {
        ck_assert_float_eq(m->head_w[i], aval(i));
        ck_assert_float_eq(m->r_w[i], aval(i + 100));
    }
    for (int k = 0; k < AK; k++) {
        ck_assert_float_eq(m->head_b[k], 0.0f);
        ck_assert_float_eq(m->r_b[k], aval(k + 200));
    }
}

START_TEST(authors_sharded_bf16)
{
    make_authors_checkpoint();
    mr_model *a = load_ok(dir);                                      /* directory */
    check_authors_model(a);
    mr_model *b = load_ok(in_dir("model.safetensors.index.json"));   /* index file */
    check_authors_model(b);
    ck_assert_str_eq(a->fingerprint, b->fingerprint);

    /* Corrupt the backbone shard: the loader must not even open it. */
    write_text(in_dir("model-00001-of-00002.safetensors"), "garbage");
    mr_model *c = load_ok(dir);
    check_authors_model(c);
    ck_assert_str_eq(c->fingerprint, a->fingerprint);

    /* The same parameters in F32 with our names fingerprint identically. */
    mr_error e;
    mr_model *f = mr_model_new(AK, AD, AD, MR_ROUTER_LINEAR, 0, &e);
    memcpy(f->params, a->params, a->n_params * sizeof(float));
    mr_model_fingerprint(f);
    ck_assert_str_eq(f->fingerprint, a->fingerprint);
    mr_model_free(f);
    mr_model_free(a);
    mr_model_free(b);
    mr_model_free(c);

    /* An index pointing the heads at a missing shard names both. */
    write_text(in_dir("model.safetensors.index.json"),
               "{\"weight_map\": {\"score.weight\": \"gone.safetensors\", "
               "\"router.weight\": \"model-00002-of-00002.safetensors\"}}");
    load_fails(dir, "gone.safetensors", NULL);
    write_text(in_dir("model.safetensors.index.json"),
               "{\"weight_map\": {\"score.weight\": \"../../etc/passwd\"}}");
    load_fails(dir, "score.weight", "not a shard file name");
    write_text(in_dir("model.safetensors.index.json"), "{\"weights\": {}}");
    load_fails(dir, "weight_map", NULL);
}
END_TEST

START_TEST(directory_forms)
{
    mr_error e;
    mr_model *m = mr_model_new(2, 3, 3, MR_ROUTER_LINEAR, 0, &e);
    ck_assert_int_eq(mr_model_save(m, in_dir("only.safetensors"), &e), 0);
    mr_model *l = load_ok(dir);   /* exactly one *.safetensors */
    ck_assert_int_eq(l->K, 2);
    mr_model_free(l);
    ck_assert_int_eq(mr_model_save(m, in_dir("other.safetensors"), &e), 0);
    load_fails(dir, "2 .safetensors files", NULL);
    ck_assert_int_eq(mr_model_save(m, in_dir("model.safetensors"), &e), 0);
    l = load_ok(dir);             /* model.safetensors wins */
    mr_model_free(l);
    mr_model_free(m);
    load_fails(in_dir("missing.safetensors"), "missing.safetensors", "No such file");
    mkdir(in_dir("empty"), 0755);
    load_fails(in_dir("empty"), "no .safetensors file", NULL);
}
END_TEST

START_TEST(shape_and_value_errors)
{
    float w[2 * 3] = {1, 2, 3, 4, 5, 6}, b3[3] = {0}, b2[2] = {0};
    float rw[2 * 4] = {0}, r0w[5 * 3] = {0}, r0b[5] = {0}, r2w[2 * 5] = {0};
    const char *p = in_dir("bad.safetensors");
    mr_error e;

    st_out_tensor t1[3] = {{"heads.weight", ST_F32, 2, {2, 3}, w},
                           {"router.weight", ST_F32, 2, {2, 4}, rw},
                           {"router.bias", ST_F32, 1, {3}, b3}};
    ck_assert_int_eq(st_write(p, t1, 3, NULL, NULL, 0, &e), 0);
    load_fails(p, "'router.bias'", "expected [2]");

    st_out_tensor t2[3] = {{"heads.weight", ST_F32, 2, {2, 3}, w},
                           {"router.weight", ST_F32, 2, {3, 2}, rw},
                           {"router.bias", ST_F32, 1, {2}, b2}};
    ck_assert_int_eq(st_write(p, t2, 3, NULL, NULL, 0, &e), 0);
    load_fails(p, "'router.weight'", "K=2");

    st_out_tensor t3[1] = {{"heads.weight", ST_F32, 2, {2, 3}, w}};
    ck_assert_int_eq(st_write(p, t3, 1, NULL, NULL, 0, &e), 0);
    load_fails(p, "no router", NULL);

    st_out_tensor t4[1] = {{"router.bias", ST_F32, 1, {2}, b2}};
    ck_assert_int_eq(st_write(p, t4, 1, NULL, NULL, 0, &e), 0);
    load_fails(p, "no reward heads", NULL);

    /* MLP with an inconsistent output layer (K x H must be 2 x 5) */
    st_out_tensor t5[5] = {{"heads.weight", ST_F32, 2, {2, 3}, w},
                           {"router.0.weight", ST_F32, 2, {5, 3}, r0w},
                           {"router.0.bias", ST_F32, 1, {5}, r0b},
                           {"router.2.weight", ST_F32, 2, {2, 4}, r2w},
                           {"router.2.bias", ST_F32, 1, {2}, b2}};
    ck_assert_int_eq(st_write(p, t5, 5, NULL, NULL, 0, &e), 0);
    load_fails(p, "'router.2.weight'", "expected [2, 5]");
    t5[3].shape[1] = 5;
    ck_assert_int_eq(st_write(p, t5, 4, NULL, NULL, 0, &e), 0);   /* drop router.2.bias */
    load_fails(p, "no tensor 'router.2.bias'", NULL);
    ck_assert_int_eq(st_write(p, t5, 5, NULL, NULL, 0, &e), 0);
    mr_model *m = load_ok(p);
    ck_assert_int_eq(m->H, 5);
    ck_assert_int_eq(m->dc, 3);
    mr_model_free(m);

    /* an Inf in a BF16 head is refused, naming the tensor */
    uint16_t hb[2 * 3] = {0x3f80, 0x3f80, 0x7f80, 0, 0, 0};
    st_out_tensor t6[3] = {{"score.weight", ST_BF16, 2, {2, 3}, hb},
                           {"router.weight", ST_F32, 2, {2, 4}, rw},
                           {"router.bias", ST_F32, 1, {2}, b2}};
    ck_assert_int_eq(st_write(p, t6, 3, NULL, NULL, 0, &e), 0);
    load_fails(p, "'score.weight'", "infinite");

    /* metadata: head_names of the wrong length, bad score_mode */
    st_out_tensor ok[3] = {{"heads.weight", ST_F32, 2, {2, 3}, w},
                           {"router.weight", ST_F32, 2, {2, 4}, rw},
                           {"router.bias", ST_F32, 1, {2}, b2}};
    const char *mk[] = {"head_names"};
    const char *mv[] = {"[\"only-one\"]"};
    ck_assert_int_eq(st_write(p, ok, 3, mk, mv, 1, &e), 0);
    load_fails(p, "head_names", "K=2");
    const char *mv2[] = {"[\"a\", \"a\"]"};
    ck_assert_int_eq(st_write(p, ok, 3, mk, mv2, 1, &e), 0);
    load_fails(p, "head_names[1]", NULL);
    const char *mk3[] = {"score_mode"};
    const char *mv3[] = {"cubic"};
    ck_assert_int_eq(st_write(p, ok, 3, mk3, mv3, 1, &e), 0);
    load_fails(p, "score_mode", "cubic");
}
END_TEST

START_TEST(mask_specs)
{
    mr_error e;
    mr_model *m = mr_model_new(4, 2, 2, MR_ROUTER_LINEAR, 0, &e);
    const char *names[] = {"helpfulness", "harmlessness", "humor", "conciseness"};
    ck_assert_int_eq(mr_model_set_head_names(m, names, &e), 0);

    ck_assert_int_eq(mr_model_set_mask(m, "0,2", &e), 0);
    ck_assert(m->mask[0] && !m->mask[1] && m->mask[2] && !m->mask[3]);
    ck_assert_int_eq(mr_model_set_mask(m, "harmlessness,humor", &e), 0);
    ck_assert(!m->mask[0] && m->mask[1] && m->mask[2] && !m->mask[3]);
    ck_assert_int_eq(mr_model_set_mask(m, " 3 , helpfulness ", &e), 0);
    ck_assert(m->mask[0] && !m->mask[1] && !m->mask[2] && m->mask[3]);

    /* errors leave the previous mask untouched */
    ck_assert_int_eq(mr_model_set_mask(m, "4", &e), -1);
    ck_assert_msg(strstr(e.msg, "out of range"), "%s", e.msg);
    ck_assert_int_eq(mr_model_set_mask(m, "99999999999999999999", &e), -1);
    ck_assert_int_eq(mr_model_set_mask(m, "humour", &e), -1);
    ck_assert_msg(strstr(e.msg, "'humour'"), "%s", e.msg);
    ck_assert_int_eq(mr_model_set_mask(m, "0,,1", &e), -1);
    ck_assert_int_eq(mr_model_set_mask(m, "0,", &e), -1);
    ck_assert_int_eq(mr_model_set_mask(m, "0,1,2,conciseness", &e), -1);
    ck_assert_msg(strstr(e.msg, "every head"), "%s", e.msg);
    ck_assert(m->mask[0] && !m->mask[1] && !m->mask[2] && m->mask[3]);

    ck_assert_int_eq(mr_model_set_mask(m, "", &e), 0);
    for (int k = 0; k < 4; k++)
        ck_assert(!m->mask[k]);
    ck_assert_int_eq(mr_model_set_mask(m, NULL, &e), 0);

    /* names that would make specs ambiguous are refused */
    const char *bad[] = {"a", "b,c", "d", "e"};
    ck_assert_int_eq(mr_model_set_head_names(m, bad, &e), -1);
    const char *num[] = {"a", "7", "d", "e"};
    ck_assert_int_eq(mr_model_set_head_names(m, num, &e), -1);
    ck_assert_str_eq(m->head_names[1], "harmlessness");
    mr_model_free(m);
}
END_TEST

START_TEST(save_load_round_trip)
{
    mr_error e;
    mr_model *m = mr_model_new(3, 4, 5, MR_ROUTER_MLP, 2, &e);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)sin((double)i) * 0.7f;
    const char *names[] = {"alpha", "beta", "gamma"};
    ck_assert_int_eq(mr_model_set_head_names(m, names, &e), 0);
    free(m->backbone);
    m->backbone = strdup("Llama-3.2-3B");
    m->score_mode = MR_SCORE_LOGSIGMOID;
    mr_model_fingerprint(m);

    const char *p = in_dir("rt.safetensors");
    ck_assert_msg(mr_model_save(m, p, &e) == 0, "%s", e.msg);
    mr_model *l = load_ok(p);
    ck_assert_str_eq(l->fingerprint, m->fingerprint);
    ck_assert_uint_eq(l->n_params, m->n_params);
    ck_assert_mem_eq(l->params, m->params, m->n_params * sizeof(float));
    ck_assert_str_eq(l->head_names[2], "gamma");
    ck_assert_str_eq(l->backbone, "Llama-3.2-3B");
    ck_assert_int_eq(l->score_mode, MR_SCORE_LOGSIGMOID);
    ck_assert_int_eq(l->router, MR_ROUTER_MLP);
    ck_assert_int_eq(l->H, 2);

    /* BF16 file vs the F32 file of the same (bf16-rounded) values */
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = mr_bf16_to_f32(mr_f32_to_bf16(m->params[i]));
    const char *p16 = in_dir("rt16.safetensors"), *p32 = in_dir("rt32.safetensors");
    ck_assert_int_eq(mr_model_save_dtype(m, p16, ST_BF16, &e), 0);
    ck_assert_int_eq(mr_model_save(m, p32, &e), 0);
    mr_model *a = load_ok(p16), *b = load_ok(p32);
    ck_assert_str_eq(a->source_dtype, "BF16");
    ck_assert_str_eq(a->fingerprint, b->fingerprint);
    ck_assert_str_ne(a->fingerprint, l->fingerprint);
    ck_assert_mem_eq(a->params, m->params, m->n_params * sizeof(float));
    mr_model_free(a);
    mr_model_free(b);
    mr_model_free(l);
    mr_model_free(m);
}
END_TEST

/* mr_model_load_st on a file read into memory loads what mr_model_load
 * loads; the st_file stays open and usable; errors name the given name. */
START_TEST(load_from_memory)
{
    mr_error e;
    mr_model *m = mr_model_new(2, 3, 4, MR_ROUTER_LINEAR, 0, &e);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)i * 0.25f - 1.0f;
    mr_model_fingerprint(m);
    const char *p = in_dir("mem.safetensors");
    ck_assert_int_eq(mr_model_save(m, p, &e), 0);
    FILE *fp = fopen(p, "rb");
    ck_assert_ptr_nonnull(fp);
    static unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    ck_assert_uint_gt(n, 8);

    st_file f;
    ck_assert_msg(st_open_mem(&f, buf, n, "mem:model", &e) == 0, "%s", e.msg);
    mr_model *l = mr_model_load_st(&f, &e);
    ck_assert_msg(l != NULL, "%s", e.msg);
    ck_assert_str_eq(l->fingerprint, m->fingerprint);
    ck_assert_str_eq(l->source_path, "mem:model");
    ck_assert_mem_eq(l->params, m->params, m->n_params * sizeof(float));
    ck_assert_ptr_nonnull(st_find(&f, "router.bias"));   /* not closed by the loader */
    mr_model_free(l);
    st_close(&f);

    /* a NaN in router.bias (the last tensor): the error names the memory file */
    const float nan = NAN;
    memcpy(buf + n - 4, &nan, 4);
    ck_assert_int_eq(st_open_mem(&f, buf, n, "mem:nan", &e), 0);
    ck_assert_ptr_null(mr_model_load_st(&f, &e));
    ck_assert_msg(strstr(e.msg, "mem:nan: tensor 'router.bias': element 1 is NaN"), "%s", e.msg);
    st_close(&f);
    mr_model_free(m);
}
END_TEST

START_TEST(names_of_modes)
{
    mr_score_mode s;
    ck_assert_int_eq(mr_score_mode_parse("logsigmoid", &s), 0);
    ck_assert_int_eq(s, MR_SCORE_LOGSIGMOID);
    ck_assert_int_eq(mr_score_mode_parse("linear", &s), 0);
    ck_assert_int_eq(s, MR_SCORE_LINEAR);
    ck_assert_int_eq(mr_score_mode_parse("Linear", &s), -1);
    ck_assert_str_eq(mr_score_mode_name(MR_SCORE_LOGSIGMOID), "logsigmoid");
    ck_assert_str_eq(mr_router_kind_name(MR_ROUTER_MLP), "mlp");
    ck_assert_str_eq(mr_router_kind_name(MR_ROUTER_LINEAR), "linear");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_layout);
    tcase_add_test(tc, fingerprint_known_value);
    tcase_add_test(tc, load_demo);
    tcase_add_test(tc, authors_sharded_bf16);
    tcase_add_test(tc, directory_forms);
    tcase_add_test(tc, shape_and_value_errors);
    tcase_add_test(tc, mask_specs);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, names_of_modes);
    tcase_add_test(tc, load_from_memory);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
