/* libFuzzer: arbitrary bytes as a safetensors file, through st_open_mem and
 * then mr_model_load_st. Either step may refuse, with a message that names
 * the file; what st_open_mem accepts must be consistent (every tensor inside
 * the data, its byte length its shape times its dtype size, no two overlap,
 * every byte readable), and what the loader accepts must be a model whose
 * shapes agree with the file's tensors, whose parameters are all finite and
 * equal to the file's values, with usable head names and a fingerprint. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "core/model.h"
#include "core/safetensors.h"

#define NAME "fuzz.safetensors"

static volatile uint8_t sink;

static void check_file(const st_file *f, const uint8_t *buf, size_t len)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    const uint8_t *data = buf + 8 + hlen, *end = buf + len;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (!t->name || t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            abort();
        if (t->nbytes && (t->data < data || t->data > end || (size_t)(end - t->data) < t->nbytes))
            abort();
        size_t es = st_dtype_size(t->dtype);
        if (es && st_numel(t) * es != t->nbytes)
            abort();
        uint8_t x = 0;
        for (size_t k = 0; k < t->nbytes; k++)
            x ^= t->data[k];
        sink = x;
        for (size_t j = 0; j < i && f->n_tensors <= 64; j++) {
            const st_tensor *u = &f->tensors[j];
            if (t->nbytes && u->nbytes && t->data < u->data + u->nbytes && u->data < t->data + t->nbytes)
                abort();
        }
    }
    for (size_t i = 0; i < f->n_meta; i++)
        if (!f->meta_keys[i] || !f->meta_values[i])
            abort();
}

/* Tensor `name` of the file must have shape dims[0..nd) and hold exactly vals. */
static void same_tensor(const st_file *f, const char *name, int nd, const int64_t *dims, const float *vals)
{
    const st_tensor *t = st_find(f, name);
    if (!t || t->ndim != nd)
        abort();
    for (int i = 0; i < nd; i++)
        if (t->shape[i] != dims[i])
            abort();
    size_t n = st_numel(t);
    for (size_t i = 0; i < n; i++) {
        float v;
        if (t->dtype == ST_F32)
            memcpy(&v, t->data + 4 * i, 4);
        else if (t->dtype == ST_BF16)
            v = mr_bf16_to_f32((uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8));
        else if (t->dtype == ST_F16)
            v = mr_f16_to_f32((uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8));
        else
            abort();
        if (memcmp(&v, &vals[i], sizeof v) != 0)
            abort();
    }
}

static void check_model(const mr_model *m, const st_file *f)
{
    if (m->K < 1 || m->K > MR_MAX_HEADS || m->d < 1 || m->dc < 1)
        abort();
    if (m->router == MR_ROUTER_MLP ? m->H < 1 : m->H != 0)
        abort();
    size_t K = (size_t)m->K, F = (size_t)mr_router_features(m);
    if (m->n_params != K * (size_t)m->d + K + (size_t)m->H * (size_t)m->dc + (size_t)m->H + K * F + K)
        abort();
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            abort();
    const char *hw = st_find(f, "heads.weight") ? "heads.weight" : "score.weight";
    const char *hb = st_find(f, "heads.weight") ? "heads.bias" : "score.bias";
    same_tensor(f, hw, 2, (int64_t[]){m->K, m->d}, m->head_w);
    if (st_find(f, hb))
        same_tensor(f, hb, 1, (int64_t[]){m->K}, m->head_b);
    else
        for (size_t k = 0; k < K; k++)
            if (m->head_b[k] != 0)
                abort();
    if (m->router == MR_ROUTER_MLP) {
        same_tensor(f, "router.0.weight", 2, (int64_t[]){m->H, m->dc}, m->r1_w);
        same_tensor(f, "router.0.bias", 1, (int64_t[]){m->H}, m->r1_b);
        same_tensor(f, "router.2.weight", 2, (int64_t[]){m->K, m->H}, m->r_w);
        same_tensor(f, "router.2.bias", 1, (int64_t[]){m->K}, m->r_b);
    } else {
        same_tensor(f, "router.weight", 2, (int64_t[]){m->K, m->dc}, m->r_w);
        same_tensor(f, "router.bias", 1, (int64_t[]){m->K}, m->r_b);
    }
    for (int k = 0; k < m->K; k++) {
        const char *n = m->head_names[k];
        if (!n || !n[0] || strchr(n, ','))
            abort();
        for (int j = 0; j < k; j++)
            if (!strcmp(n, m->head_names[j]))
                abort();
    }
    if (strlen(m->fingerprint) != MR_FINGERPRINT_HEX || strcmp(m->source_path, NAME) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file f;
    mr_error e;
    memset(&e, 0, sizeof e);
    if (st_open_mem(&f, data, size, NAME, &e)) {
        if (strncmp(e.msg, NAME ": ", strlen(NAME) + 2) != 0 || f.tensors || f.path)
            abort();
        return 0;
    }
    check_file(&f, data, size);
    memset(&e, 0, sizeof e);
    mr_model *m = mr_model_load_st(&f, &e);
    if (!m) {
        if (!strstr(e.msg, NAME))
            abort();
    } else {
        check_model(m, &f);
        mr_model_free(m);
    }
    st_close(&f);
    return 0;
}
