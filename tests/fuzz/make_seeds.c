/* Writes the binary seed corpora of the fuzz targets from real objects made
 * by the library itself: models saved by mr_model_save_dtype and st_write
 * (our layout and the authors' score.* layout, F32/BF16/F16, linear and MLP
 * routers), user-state records of both adapt modes after real updates (with
 * idempotency keys and a wrapped ring), and printed configs. Not part of the
 * build; run once by hand from the source root after changing a format:
 *
 *   cc -std=c17 -I. tests/fuzz/make_seeds.c build/libmicrorm_core.a build/libmicrorm_config.a \
 *      -ljansson -lnettle -lz -lopenblas -lm -o /tmp/make_seeds && /tmp/make_seeds tests/fuzz/corpus
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "core/user_state.h"

static const char *root;

static void die(const char *what, const mr_error *e)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

static void put(const char *target, const char *name, const void *head, size_t hn, const void *buf, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
    FILE *f = fopen(p, "wb");
    if (!f || (hn && fwrite(head, 1, hn, f) != hn) || (n && fwrite(buf, 1, n, f) != n) || fclose(f))
        die(p, NULL);
}

static void copy_file(const char *target, const char *name, const char *from)
{
    FILE *f = fopen(from, "rb");
    if (!f)
        die(from, NULL);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    put(target, name, NULL, 0, buf, n);
}

static mr_model *model(int K, int d, int dc, mr_router_kind r, int H, int seed)
{
    mr_error e;
    mr_model *m = mr_model_new(K, d, dc, r, H, &e);
    if (!m)
        die("model", &e);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)sin((double)(i + 1) * (seed + 1.3)) * 0.5f;
    mr_model_fingerprint(m);
    return m;
}

static void models(void)
{
    mr_error e;
    const char *tmp = "/tmp/make_seeds.safetensors";
    struct { const char *name; int K, d, dc, H, dtype; mr_router_kind r; } v[] = {
        {"linear_f32", 2, 3, 4, 0, ST_F32, MR_ROUTER_LINEAR},
        {"linear_bf16", 3, 4, 2, 0, ST_BF16, MR_ROUTER_LINEAR},
        {"mlp_f16", 2, 2, 3, 2, ST_F16, MR_ROUTER_MLP},
        {"mlp_f32", 4, 2, 2, 3, ST_F32, MR_ROUTER_MLP},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        mr_model *m = model(v[i].K, v[i].d, v[i].dc, v[i].r, v[i].H, (int)i);
        if (i == 1) {
            const char *names[] = {"helpful", "humor", "safety"};
            if (mr_model_set_head_names(m, names, &e))
                die("names", &e);
            m->score_mode = MR_SCORE_LOGSIGMOID;
        }
        if (mr_model_save_dtype(m, tmp, v[i].dtype, &e))
            die("save", &e);
        copy_file("fuzz_model_load", v[i].name, tmp);
        mr_model_free(m);
    }
    /* the authors' trainer layout: score.weight (no bias), router.0/2 MLP, BF16, plus a backbone tensor */
    uint16_t sw[2 * 3], r0w[2 * 2], r0b[2], r2w[2 * 2], r2b[2], bb[4];
    for (int i = 0; i < 6; i++)
        sw[i] = (uint16_t)(0x3f80 + i);
    for (int i = 0; i < 4; i++)
        r0w[i] = r2w[i] = bb[i] = (uint16_t)(0xbf00 + i);
    r0b[0] = r2b[0] = 0x3f00;
    r0b[1] = r2b[1] = 0x0000;
    st_out_tensor t[] = {
        {"model.embed_tokens.weight", ST_BF16, 2, {2, 2}, bb},
        {"score.weight", ST_BF16, 2, {2, 3}, sw},
        {"router.0.weight", ST_BF16, 2, {2, 2}, r0w},
        {"router.0.bias", ST_BF16, 1, {2}, r0b},
        {"router.2.weight", ST_BF16, 2, {2, 2}, r2w},
        {"router.2.bias", ST_BF16, 1, {2}, r2b},
    };
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    if (st_write(tmp, t, 6, mk, mv, 1, &e))
        die("st_write", &e);
    copy_file("fuzz_model_load", "authors_bf16", tmp);
    remove(tmp);
}

static void states(void)
{
    mr_error e;
    const uint8_t fix = 1, keep = 0;
    struct { const char *name; mr_adapt_mode mode; int K, dc, buffer, updates; } v[] = {
        {"hedge_fresh", MR_ADAPT_HEDGE, 2, 3, 0, 0},
        {"hedge_trained", MR_ADAPT_HEDGE, 3, 2, 0, 5},
        {"router_partial", MR_ADAPT_ROUTER, 2, 3, 8, 3},
        {"router_wrapped", MR_ADAPT_ROUTER, 3, 2, 4, 6},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        mr_model *m = model(v[i].K, 3, v[i].dc, MR_ROUTER_LINEAR, 0, (int)i);
        mr_adapt_params ap = {v[i].mode, 0.5, 0.05, 0.1, 2, v[i].buffer ? v[i].buffer : 32, 1e-3};
        mr_user_state st;
        if (mr_user_init(&st, m, &ap, &e))
            die("init", &e);
        st.created_ms = 1764800000000 + (int64_t)i;
        for (int u = 0; u < v[i].updates; u++) {
            float feat[8], hc[8], hr[8];
            for (int j = 0; j < 8; j++) {
                feat[j] = (float)cos(u * 3 + j);
                hc[j] = (float)sin(u + j);
                hr[j] = (float)sin(u * 2 - j);
            }
            mr_before bf;
            if (mr_user_update(&st, m, &ap, feat, hc, hr, &bf, &e))
                die("update", &e);
            st.version++;
            char key[16];
            snprintf(key, sizeof key, "req-%d", u);
            mr_idem_entry en = {mr_idem_hash(key, strlen(key)), st.version, st.updates, (float)bf.p_chosen,
                                bf.correct};
            mr_user_remember_key(&st, &en);
            st.updated_ms = st.created_ms + 1000 * u;
        }
        size_t n = mr_user_serialized_size(&st);
        uint8_t *buf = malloc(n);
        mr_user_serialize(&st, buf);
        char name[64];
        put("fuzz_user_state", v[i].name, &keep, 1, buf, n);
        snprintf(name, sizeof name, "%s_fixcrc", v[i].name);
        put("fuzz_user_state", name, &fix, 1, buf, n);
        free(buf);
        mr_user_free(&st);
        mr_model_free(m);
    }
}

static void configs(void)
{
    mr_error e;
    mr_config c;
    if (mr_config_defaults(&c, &e))
        die("defaults", &e);
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    mr_config_print(&c, f);
    fclose(f);
    put("fuzz_config", "defaults", NULL, 0, text, n);
    free(text);
    const char *custom = "# a hand-written file\nport 9090\nhost \"0.0.0.0\"\nadapt router\n"
                         "tau 0.0001\nmax_body_bytes 1M\nmask_heads \"0,humor\"\nstore redis://127.0.0.1:6379/2\n"
                         "auth_token \"s3cr3t \\\"q\\\"\"\n   \n";
    if (mr_config_parse_text(&c, custom, strlen(custom), "custom", &e))
        die("custom config", &e);
    put("fuzz_config", "custom", NULL, 0, custom, strlen(custom));
    f = open_memstream(&text, &n);
    mr_config_print(&c, f);
    fclose(f);
    put("fuzz_config", "custom_printed", NULL, 0, text, n);
    free(text);
    mr_config_free(&c);
}

int main(int argc, char **argv)
{
    root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    models();
    states();
    configs();
    return 0;
}
