/* The MiCRo model in memory: one contiguous float buffer with named views
 * (llm.c style), loaded from our own safetensors layout or from the authors'
 * checkpoints (possibly sharded, with the backbone alongside: only the shards
 * that hold the reward tensors are opened, and only those tensors are read),
 * saved atomically, fingerprinted so that user states can tell which model
 * they were trained against. */
#include "core/model.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/half.h"
#include "core/safetensors.h"

/* Sizes beyond these are corrupt headers, not models. */
#define MR_MAX_DIM (1 << 20)
#define MR_MAX_NAME 128

/* Names are used in mask specs ("0,humor") and JSON: keep them unambiguous. */
static int valid_head_name(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    return len && len <= MR_MAX_NAME && !strchr(name, ',') && strspn(name, "0123456789") != len &&
           name[0] != ' ' && name[len - 1] != ' ';
}

mr_model *mr_model_new(int K, int d, int dc, mr_router_kind router, int H, mr_error *e)
{
    if (K < 1 || K > MR_MAX_HEADS)
        return mr_errorf(e, "K=%d heads: must be between 1 and %d", K, MR_MAX_HEADS), NULL;
    if (d < 1 || d > MR_MAX_DIM || dc < 1 || dc > MR_MAX_DIM)
        return mr_errorf(e, "embedding sizes d=%d dc=%d: must be between 1 and %d", d, dc,
                         MR_MAX_DIM), NULL;
    if (router != MR_ROUTER_LINEAR && router != MR_ROUTER_MLP)
        return mr_errorf(e, "unknown router kind %d", (int)router), NULL;
    if (router == MR_ROUTER_MLP && (H < 1 || H > MR_MAX_DIM))
        return mr_errorf(e, "MLP router hidden size H=%d: must be between 1 and %d", H,
                         MR_MAX_DIM), NULL;
    if (router == MR_ROUTER_LINEAR)
        H = 0;

    mr_model *m = mr_calloc(1, sizeof *m);
    if (!m)
        return mr_errorf(e, "out of memory"), NULL;
    m->K = K;
    m->d = d;
    m->dc = dc;
    m->H = H;
    m->router = router;
    m->score_mode = MR_SCORE_LINEAR;
    int F = mr_router_features(m);
    size_t sK = (size_t)K, sF = (size_t)F;
    m->n_params = sK * (size_t)d + sK + (size_t)H * (size_t)dc + (size_t)H + sK * sF + sK;
    m->params = mr_calloc(m->n_params, sizeof(float));
    m->head_names = mr_calloc(sK, sizeof *m->head_names);
    m->backbone = mr_strdup("");
    if (!m->params || !m->head_names || !m->backbone) {
        size_t n = m->n_params;
        mr_model_free(m);
        return mr_errorf(e, "out of memory for a model of %zu parameters", n), NULL;
    }
    float *p = m->params;
    m->head_w = p; p += sK * (size_t)d;
    m->head_b = p; p += sK;
    if (router == MR_ROUTER_MLP) {
        m->r1_w = p; p += (size_t)H * (size_t)dc;
        m->r1_b = p; p += (size_t)H;
    }
    m->r_w = p; p += sK * sF;
    m->r_b = p;
    for (int k = 0; k < K; k++) {
        char name[32];
        snprintf(name, sizeof name, "head%d", k);
        if (!(m->head_names[k] = mr_strdup(name))) {
            mr_model_free(m);
            return mr_errorf(e, "out of memory"), NULL;
        }
    }
    snprintf(m->source_dtype, sizeof m->source_dtype, "F32");
    mr_model_fingerprint(m);
    return m;
}

void mr_model_free(mr_model *m)
{
    if (!m)
        return;
    if (m->head_names)
        for (int k = 0; k < m->K; k++)
            free(m->head_names[k]);
    free(m->head_names);
    free(m->backbone);
    free(m->source_path);
    free(m->params);
    free(m);
}

void mr_model_fingerprint(mr_model *m)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    char head[128];
    int n = snprintf(head, sizeof head, "microrm-model-v1 %d %d %d %d %s\n", m->K, m->d, m->dc,
                     m->H, mr_router_kind_name(m->router));
    sha256_init(&ctx);
    sha256_update(&ctx, (size_t)n, (const uint8_t *)head);
    /* The buffer is float32 in host order, which is little-endian (checked in
     * safetensors.c), so the hash is the same on every supported machine. */
    sha256_update(&ctx, m->n_params * sizeof(float), (const uint8_t *)m->params);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(m->fingerprint + 2 * i, 3, "%02x", digest[i]);
}

int mr_score_mode_parse(const char *s, mr_score_mode *out)
{
    if (s && !strcmp(s, "linear"))
        *out = MR_SCORE_LINEAR;
    else if (s && !strcmp(s, "logsigmoid"))
        *out = MR_SCORE_LOGSIGMOID;
    else
        return -1;
    return 0;
}

const char *mr_score_mode_name(mr_score_mode m)
{
    return m == MR_SCORE_LOGSIGMOID ? "logsigmoid" : "linear";
}

const char *mr_router_kind_name(mr_router_kind k)
{
    return k == MR_ROUTER_MLP ? "mlp" : "linear";
}

/* ---- mask ---- */

int mr_model_set_mask(mr_model *m, const char *spec, mr_error *e)
{
    unsigned char mask[MR_MAX_HEADS] = {0};
    const char *p = spec ? spec : "";
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p) {
        for (;;) {
            while (*p == ' ' || *p == '\t')
                p++;
            const char *start = p;
            while (*p && *p != ',')
                p++;
            const char *end = p;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            size_t len = (size_t)(end - start);
            if (len == 0)
                return mr_errorf(e, "mask_heads '%s': empty entry", spec);
            int k = -1;
            if (strspn(start, "0123456789") >= len) {
                long v = 0;
                for (size_t i = 0; i < len && v <= MR_MAX_HEADS; i++)
                    v = v * 10 + (start[i] - '0');
                if (v >= m->K)
                    return mr_errorf(e, "mask_heads '%s': head index %.*s out of range (K=%d)",
                                     spec, (int)len, start, m->K);
                k = (int)v;
            } else {
                for (int j = 0; j < m->K; j++)
                    if (strlen(m->head_names[j]) == len && !memcmp(m->head_names[j], start, len))
                        k = j;
                if (k < 0)
                    return mr_errorf(e, "mask_heads '%s': no head named '%.*s'", spec, (int)len,
                                     start);
            }
            mask[k] = 1;
            if (!*p)
                break;
            p++;
        }
    }
    int open = 0;
    for (int k = 0; k < m->K; k++)
        open += !mask[k];
    if (!open)
        return mr_errorf(e, "mask_heads '%s' masks every head: at least one must stay", spec);
    memcpy(m->mask, mask, sizeof mask);
    return 0;
}

/* ---- loading ---- */

/* Where tensors come from: one file, or the shards of an index opened on
 * first use. */
typedef struct {
    const char *path;      /* as given, for messages */
    char *dir;             /* directory of the index (shard names are relative to it) */
    json_t *index;         /* the index document; NULL for a single file */
    json_t *weight_map;    /* borrowed from index */
    st_file files[16];
    char *file_keys[16];   /* shard name of each opened file */
    size_t n_files;
    int borrowed;          /* files[0] belongs to the caller (mr_model_load_st) */
} tsrc;

static void tsrc_close(tsrc *s)
{
    for (size_t i = 0; i < s->n_files; i++) {
        if (!s->borrowed)
            st_close(&s->files[i]);
        free(s->file_keys[i]);
    }
    json_decref(s->index);
    free(s->dir);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = mr_malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int tsrc_open_file(tsrc *s, const char *file, const char *key, mr_error *e)
{
    if (s->n_files == sizeof s->files / sizeof s->files[0])
        return mr_errorf(e, "%s: the reward tensors are spread over too many shards", s->path);
    char *k = mr_strdup(key);
    if (!k)
        return mr_errorf(e, "out of memory");
    if (st_open(&s->files[s->n_files], file, e)) {
        free(k);
        return -1;
    }
    s->file_keys[s->n_files++] = k;
    return 0;
}

static int tsrc_open_index(tsrc *s, const char *index_path, mr_error *e)
{
    json_error_t jerr;
    s->index = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!s->index)
        return mr_errorf(e, "%s: not a valid JSON index (line %d: %s)", index_path, jerr.line,
                         jerr.text);
    s->weight_map = json_object_get(s->index, "weight_map");
    if (!json_is_object(s->weight_map))
        return mr_errorf(e, "%s: no \"weight_map\" object", index_path);
    char *copy = mr_strdup(index_path);
    if (!copy)
        return mr_errorf(e, "out of memory");
    char *slash = strrchr(copy, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(copy, ".");
    s->dir = copy;
    return 0;
}

static int tsrc_open(tsrc *s, const char *path, mr_error *e)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    struct stat sb;
    if (stat(path, &sb) < 0)
        return mr_errorf(e, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        char *p = join(path, "model.safetensors.index.json");
        if (!p)
            return mr_errorf(e, "out of memory");
        if (is_file(p)) {
            int rc = tsrc_open_index(s, p, e);
            free(p);
            return rc;
        }
        free(p);
        p = join(path, "model.safetensors");
        if (!p)
            return mr_errorf(e, "out of memory");
        if (is_file(p)) {
            int rc = tsrc_open_file(s, p, "", e);
            free(p);
            return rc;
        }
        free(p);
        DIR *dir = opendir(path);
        if (!dir)
            return mr_errorf(e, "%s: %s", path, strerror(errno));
        char *found = NULL;
        int count = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.' || !ends_with(de->d_name, ".safetensors"))
                continue;
            if (++count == 1)
                found = join(path, de->d_name);
        }
        closedir(dir);
        if (count != 1 || !found) {
            free(found);
            if (count == 0)
                return mr_errorf(e, "%s: no .safetensors file in this directory", path);
            if (count > 1)
                return mr_errorf(e, "%s: %d .safetensors files and no model.safetensors.index.json "
                                 "or model.safetensors: which one is the model?", path, count);
            return mr_errorf(e, "out of memory");
        }
        int rc = tsrc_open_file(s, found, "", e);
        free(found);
        return rc;
    }
    if (ends_with(path, ".json"))
        return tsrc_open_index(s, path, e);
    return tsrc_open_file(s, path, "", e);
}

/* Find a tensor: 1 found, 0 absent, -1 error. */
static int tsrc_find(tsrc *s, const char *name, const st_file **f, const st_tensor **t,
                     mr_error *e)
{
    if (!s->index) {
        *f = &s->files[0];
        *t = st_find(*f, name);
        return *t != NULL;
    }
    json_t *v = json_object_get(s->weight_map, name);
    if (!v)
        return 0;
    const char *shard = json_string_value(v);
    if (!shard || !*shard || shard[0] == '/' || strstr(shard, ".."))
        return mr_errorf(e, "%s: weight_map entry of '%s' is not a shard file name", s->path, name);
    size_t i;
    for (i = 0; i < s->n_files; i++)
        if (!strcmp(s->file_keys[i], shard))
            break;
    if (i == s->n_files) {
        char *p = join(s->dir, shard);
        if (!p)
            return mr_errorf(e, "out of memory");
        int rc = tsrc_open_file(s, p, shard, e);
        free(p);
        if (rc)
            return -1;
    }
    *f = &s->files[i];
    *t = st_find(*f, name);
    if (!*t)
        return mr_errorf(e, "%s: the index puts tensor '%s' in %s, which does not hold it",
                         s->path, name, shard);
    return 1;
}

static const char *tsrc_meta(const tsrc *s, const char *key)
{
    for (size_t i = 0; i < s->n_files; i++) {
        const char *v = st_meta(&s->files[i], key);
        if (v)
            return v;
    }
    return NULL;
}

/* A tensor we need, with its expected shape (-1: any size, returned). */
typedef struct {
    const char *name;
    const st_file *f;
    const st_tensor *t;
} need;

static int check_shape(const need *n, int ndim, const int64_t *want, const char *why,
                       mr_error *e)
{
    int ok = n->t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = n->t->shape[i] == want[i];
    if (ok)
        return 0;
    char got[128] = "", exp[128] = "";
    size_t gl = 0, el = 0;
    for (int i = 0; i < n->t->ndim && gl < sizeof got - 24; i++)
        gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld", i ? ", " : "",
                               (long long)n->t->shape[i]);
    for (int i = 0; i < ndim && el < sizeof exp - 24; i++)
        el += (size_t)snprintf(exp + el, sizeof exp - el, "%s%lld", i ? ", " : "",
                               (long long)want[i]);
    return mr_errorf(e, "%s: tensor '%s' has shape [%s], expected [%s] (%s)", n->f->path, n->name,
                     got, exp, why);
}

static int find_req(tsrc *s, need *n, const char *name, mr_error *e)
{
    n->name = name;
    int rc = tsrc_find(s, name, &n->f, &n->t, e);
    if (rc == 0)
        return mr_errorf(e, "%s: no tensor '%s'", s->path, name);
    return rc < 0 ? -1 : 0;
}

static int find_opt(tsrc *s, need *n, const char *name, mr_error *e)
{
    n->name = name;
    n->t = NULL;
    return tsrc_find(s, name, &n->f, &n->t, e) < 0 ? -1 : 0;
}

static int apply_metadata(mr_model *m, const tsrc *s, mr_error *e)
{
    const char *v = tsrc_meta(s, "backbone");
    if (v) {
        char *b = mr_strdup(v);
        if (!b)
            return mr_errorf(e, "out of memory");
        free(m->backbone);
        m->backbone = b;
    }
    v = tsrc_meta(s, "score_mode");
    if (v && mr_score_mode_parse(v, &m->score_mode))
        return mr_errorf(e, "%s: metadata score_mode '%.40s' is not linear or logsigmoid", s->path, v);
    v = tsrc_meta(s, "head_names");
    if (!v)
        return 0;
    json_t *arr = json_loads(v, 0, NULL);
    if (!json_is_array(arr) || json_array_size(arr) != (size_t)m->K) {
        json_decref(arr);
        return mr_errorf(e, "%s: metadata head_names must be a JSON array of K=%d strings", s->path,
                         m->K);
    }
    for (int k = 0; k < m->K; k++) {
        const char *name = json_string_value(json_array_get(arr, (size_t)k));
        int bad = !valid_head_name(name);
        for (int j = 0; !bad && j < k; j++)
            bad = !strcmp(m->head_names[j], name);
        char *copy = bad ? NULL : mr_strdup(name);
        if (!copy) {
            json_decref(arr);
            return mr_errorf(e, "%s: metadata head_names[%d] is not a usable name (non-empty, "
                             "unique, not a number, no comma, at most %d bytes)", s->path, k,
                             MR_MAX_NAME);
        }
        free(m->head_names[k]);
        m->head_names[k] = copy;
    }
    json_decref(arr);
    return 0;
}

static int fits_int(int64_t v)
{
    return v >= 1 && v <= MR_MAX_DIM;
}

/* Reads the model out of s (opened), then closes s. */
static mr_model *load_from(tsrc *src, const char *path, mr_error *e)
{
    tsrc s = *src;
    mr_model *m = NULL;

    need hw, hb, rw, rb, r1w, r1b;
    if (find_opt(&s, &hw, "heads.weight", e))
        goto fail;
    if (hw.t) {
        if (find_opt(&s, &hb, "heads.bias", e))
            goto fail;
    } else {
        /* The authors' trainer keeps the heads as the classifier's `score`. */
        if (find_opt(&s, &hw, "score.weight", e) || find_opt(&s, &hb, "score.bias", e))
            goto fail;
        if (!hw.t) {
            mr_errorf(e, "%s: no reward heads: neither 'heads.weight' nor 'score.weight'", path);
            goto fail;
        }
    }
    if (hw.t->ndim != 2 || hw.t->shape[0] < 1 || hw.t->shape[0] > MR_MAX_HEADS ||
        !fits_int(hw.t->shape[1])) {
        mr_errorf(e, "%s: tensor '%s' must be [K, d] with 1 <= K <= %d and 1 <= d <= %d",
                  hw.f->path, hw.name, MR_MAX_HEADS, MR_MAX_DIM);
        goto fail;
    }
    int K = (int)hw.t->shape[0], d = (int)hw.t->shape[1], dc, H = 0;
    char why[64];
    snprintf(why, sizeof why, "K=%d from %s", K, hw.name);
    if (hb.t && check_shape(&hb, 1, (int64_t[]){K}, why, e))
        goto fail;

    mr_router_kind kind;
    if (find_opt(&s, &r1w, "router.0.weight", e))
        goto fail;
    if (r1w.t) {
        kind = MR_ROUTER_MLP;
        if (find_req(&s, &r1b, "router.0.bias", e) || find_req(&s, &rw, "router.2.weight", e) ||
            find_req(&s, &rb, "router.2.bias", e))
            goto fail;
        if (r1w.t->ndim != 2 || !fits_int(r1w.t->shape[0]) || !fits_int(r1w.t->shape[1])) {
            mr_errorf(e, "%s: tensor 'router.0.weight' must be [H, dc] with sizes in 1..%d",
                      r1w.f->path, MR_MAX_DIM);
            goto fail;
        }
        H = (int)r1w.t->shape[0];
        dc = (int)r1w.t->shape[1];
        char whyh[64];
        snprintf(whyh, sizeof whyh, "H=%d from router.0.weight", H);
        snprintf(why + strlen(why), sizeof why - strlen(why), ", H=%d", H);
        if (check_shape(&r1b, 1, (int64_t[]){H}, whyh, e) ||
            check_shape(&rw, 2, (int64_t[]){K, H}, why, e) ||
            check_shape(&rb, 1, (int64_t[]){K}, why, e))
            goto fail;
    } else {
        kind = MR_ROUTER_LINEAR;
        if (find_opt(&s, &rw, "router.weight", e))
            goto fail;
        if (!rw.t) {
            mr_errorf(e, "%s: no router: neither 'router.weight' nor 'router.0.weight'", path);
            goto fail;
        }
        if (find_req(&s, &rb, "router.bias", e))
            goto fail;
        if (rw.t->ndim != 2 || rw.t->shape[0] != K || !fits_int(rw.t->shape[1])) {
            mr_errorf(e, "%s: tensor 'router.weight' must be [K=%d, dc]", rw.f->path, K);
            goto fail;
        }
        dc = (int)rw.t->shape[1];
        if (check_shape(&rb, 1, (int64_t[]){K}, why, e))
            goto fail;
    }

    if (!(m = mr_model_new(K, d, dc, kind, H, e)))
        goto fail;
    if (st_tensor_to_f32(hw.f, hw.t, m->head_w, e) ||
        (hb.t && st_tensor_to_f32(hb.f, hb.t, m->head_b, e)) ||
        (kind == MR_ROUTER_MLP && (st_tensor_to_f32(r1w.f, r1w.t, m->r1_w, e) ||
                                   st_tensor_to_f32(r1b.f, r1b.t, m->r1_b, e))) ||
        st_tensor_to_f32(rw.f, rw.t, m->r_w, e) || st_tensor_to_f32(rb.f, rb.t, m->r_b, e))
        goto fail;
    if (apply_metadata(m, &s, e))
        goto fail;
    snprintf(m->source_dtype, sizeof m->source_dtype, "%s", hw.t->dtype_name);
    if (!(m->source_path = mr_strdup(path))) {
        mr_errorf(e, "out of memory");
        goto fail;
    }
    mr_model_fingerprint(m);
    tsrc_close(&s);
    return m;

fail:
    mr_model_free(m);
    tsrc_close(&s);
    return NULL;
}

mr_model *mr_model_load(const char *path, mr_error *e)
{
    tsrc s;
    if (tsrc_open(&s, path, e)) {
        tsrc_close(&s);
        return NULL;
    }
    return load_from(&s, path, e);
}

mr_model *mr_model_load_st(const st_file *f, mr_error *e)
{
    tsrc s;
    memset(&s, 0, sizeof s);
    s.path = f->path;
    s.files[0] = *f;
    s.n_files = 1;
    s.borrowed = 1;
    return load_from(&s, f->path, e);
}

/* ---- saving ---- */

int mr_model_save_dtype(const mr_model *m, const char *path, int dtype, mr_error *e)
{
    st_dtype dt = (st_dtype)dtype;
    if (dt != ST_F32 && dt != ST_BF16 && dt != ST_F16)
        return mr_errorf(e, "%s: models are saved as F32, BF16 or F16", path);
    void *conv = NULL;
    const void *base = m->params;
    if (dt != ST_F32) {
        uint8_t *b = mr_malloc(m->n_params * 2);
        if (!b)
            return mr_errorf(e, "%s: out of memory", path);
        for (size_t i = 0; i < m->n_params; i++) {
            uint16_t h = dt == ST_BF16 ? mr_f32_to_bf16(m->params[i]) : mr_f32_to_f16(m->params[i]);
            b[2 * i] = (uint8_t)h;
            b[2 * i + 1] = (uint8_t)(h >> 8);
        }
        conv = b;
        base = b;
    }
    size_t es = st_dtype_size(dt);
#define AT(view) ((const uint8_t *)base + (size_t)((view) - m->params) * es)
    int F = mr_router_features(m);
    st_out_tensor t[6];
    size_t n = 0;
    t[n++] = (st_out_tensor){"heads.weight", dt, 2, {m->K, m->d}, AT(m->head_w)};
    t[n++] = (st_out_tensor){"heads.bias", dt, 1, {m->K}, AT(m->head_b)};
    if (m->router == MR_ROUTER_MLP) {
        t[n++] = (st_out_tensor){"router.0.weight", dt, 2, {m->H, m->dc}, AT(m->r1_w)};
        t[n++] = (st_out_tensor){"router.0.bias", dt, 1, {m->H}, AT(m->r1_b)};
        t[n++] = (st_out_tensor){"router.2.weight", dt, 2, {m->K, F}, AT(m->r_w)};
        t[n++] = (st_out_tensor){"router.2.bias", dt, 1, {m->K}, AT(m->r_b)};
    } else {
        t[n++] = (st_out_tensor){"router.weight", dt, 2, {m->K, F}, AT(m->r_w)};
        t[n++] = (st_out_tensor){"router.bias", dt, 1, {m->K}, AT(m->r_b)};
    }
#undef AT
    json_t *names = json_array();
    for (int k = 0; names && k < m->K; k++)
        if (json_array_append_new(names, json_string(m->head_names[k]))) {
            json_decref(names);
            names = NULL;
        }
    char *names_s = names ? json_dumps(names, JSON_COMPACT) : NULL;
    json_decref(names);
    if (!names_s) {
        free(conv);
        return mr_errorf(e, "%s: head names are not valid UTF-8 (or out of memory)", path);
    }
    const char *keys[] = {"head_names", "backbone", "score_mode"};
    const char *vals[] = {names_s, m->backbone ? m->backbone : "", mr_score_mode_name(m->score_mode)};
    int rc = st_write(path, t, n, keys, vals, 3, e);
    free(names_s);
    free(conv);
    return rc;
}

int mr_model_save(const mr_model *m, const char *path, mr_error *e)
{
    return mr_model_save_dtype(m, path, ST_F32, e);
}

int mr_model_set_head_names(mr_model *m, const char *const *names, mr_error *e)
{
    char *copies[MR_MAX_HEADS] = {0};
    int rc = 0;
    for (int k = 0; k < m->K && !rc; k++) {
        if (!valid_head_name(names[k]))
            rc = mr_errorf(e, "head name %d is not usable (non-empty, not a number, no comma, at "
                           "most %d bytes)", k, MR_MAX_NAME);
        for (int j = 0; j < k && !rc; j++)
            if (!strcmp(names[j], names[k]))
                rc = mr_errorf(e, "head name '%s' is used twice", names[k]);
        if (!rc && !(copies[k] = mr_strdup(names[k])))
            rc = mr_errorf(e, "out of memory");
    }
    if (rc) {
        for (int k = 0; k < m->K; k++)
            free(copies[k]);
        return rc;
    }
    for (int k = 0; k < m->K; k++) {
        free(m->head_names[k]);
        m->head_names[k] = copies[k];
    }
    return 0;
}
