/* Preference datasets: mapped reader with validation, and a streaming atomic
 * writer (see dataset.h for the format). */
#include "core/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/half.h"

static const char *const col_names[MR_COL_COUNT] = {"prompt", "chosen", "rejected", "context"};

static void free_names(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void mr_dataset_close(mr_dataset *ds)
{
    if (!ds)
        return;
    st_close(&ds->file);
    free(ds->attribute);
    free_names(ds->attribute_names, ds->n_attributes);
    memset(ds, 0, sizeof *ds);
}

/* bf16 -> f32 is exact (the top half of the float), so a shift does it; this
 * loop vectorises, which matters at 3 x 3072 values per pair. */
static void bf16_row(const uint8_t *src, size_t width, float *out)
{
    for (size_t j = 0; j < width; j++) {
        uint32_t u = ((uint32_t)src[2 * j] | (uint32_t)src[2 * j + 1] << 8) << 16;
        memcpy(out + j, &u, sizeof u);
    }
}

static void convert_row(const st_tensor *t, const uint8_t *src, size_t width, float *out)
{
    switch (t->dtype) {
    case ST_F32: memcpy(out, src, width * sizeof(float)); break;
    case ST_BF16: bf16_row(src, width, out); break;
    default: mr_f16_to_f32_n(src, out, width); break;
    }
}

void mr_dataset_gather(const mr_dataset *ds, mr_column c, const int64_t *idx, int nb, float *out)
{
    const st_tensor *t = ds->col[c];
    size_t width = (size_t)mr_dataset_width(ds, c);
    size_t row_bytes = width * st_dtype_size(t->dtype);
    for (int i = 0; i < nb; i++)
        convert_row(t, t->data + (size_t)idx[i] * row_bytes, width, out + (size_t)i * width);
}

void mr_dataset_gather_diff(const mr_dataset *ds, const int64_t *idx, int nb, float *out, float *scratch)
{
    const st_tensor *c = ds->col[MR_COL_CHOSEN], *r = ds->col[MR_COL_REJECTED];
    size_t d = (size_t)ds->d;
    if (c->dtype == ST_F32 && r->dtype == ST_F32 && (uintptr_t)c->data % sizeof(float) == 0 &&
        (uintptr_t)r->data % sizeof(float) == 0) {
        const float *cf = (const float *)(const void *)c->data, *rf = (const float *)(const void *)r->data;
        for (int i = 0; i < nb; i++) {
            const float *a = cf + (size_t)idx[i] * d, *b = rf + (size_t)idx[i] * d;
            float *o = out + (size_t)i * d;
            for (size_t j = 0; j < d; j++)
                o[j] = a[j] - b[j];
        }
        return;
    }
    mr_dataset_gather(ds, MR_COL_CHOSEN, idx, nb, out);
    mr_dataset_gather(ds, MR_COL_REJECTED, idx, nb, scratch);
    for (size_t j = 0; j < (size_t)nb * d; j++)
        out[j] -= scratch[j];
}

/* Parse the attribute names: a JSON array of strings, or a comma list. */
static int parse_names(const char *s, char ***out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    json_error_t jerr;
    json_t *arr = json_loads(s, 0, &jerr);
    int n = 0;
    char **names = NULL;
    if (arr && json_is_array(arr)) {
        n = (int)json_array_size(arr);
        names = calloc(n ? (size_t)n : 1, sizeof *names);
        if (!names) {
            json_decref(arr);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const char *v = json_string_value(json_array_get(arr, (size_t)i));
            char buf[32];
            if (!v) {
                snprintf(buf, sizeof buf, "attr%d", i);
                v = buf;
            }
            if (!(names[i] = strdup(v))) {
                json_decref(arr);
                free_names(names, i);
                return -1;
            }
        }
        json_decref(arr);
    } else {
        json_decref(arr);
        for (const char *p = s; *p; p++)
            n += *p == ',';
        n += 1;
        names = calloc((size_t)n, sizeof *names);
        if (!names)
            return -1;
        const char *p = s;
        for (int i = 0; i < n; i++) {
            const char *q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            if (!(names[i] = strndup(p, len))) {
                free_names(names, i);
                return -1;
            }
            p = q ? q + 1 : p + len;
        }
    }
    *out = names;
    *n_out = n;
    return 0;
}

static int load_attributes(mr_dataset *ds, const char *path, mr_error *e)
{
    const st_tensor *t = st_find(&ds->file, "attribute");
    const char *meta = st_meta(&ds->file, "attributes");
    if (!t)
        return 0;
    if (t->dtype != ST_I32 && t->dtype != ST_I64)
        return mr_errorf(e, "%s: tensor 'attribute' must be I32 (or I64), found %s", path, t->dtype_name);
    if (t->ndim != 1 || t->shape[0] != ds->n)
        return mr_errorf(e, "%s: tensor 'attribute' must have shape [%lld] (one per pair)", path,
                         (long long)ds->n);
    if (!(ds->attribute = malloc((size_t)ds->n * sizeof(int32_t))))
        return mr_errorf(e, "%s: out of memory for attributes", path);
    int32_t max = -1;
    for (int64_t i = 0; i < ds->n; i++) {
        int64_t v;
        if (t->dtype == ST_I32) {
            int32_t v32;
            memcpy(&v32, t->data + 4 * i, 4);
            v = v32;
        } else {
            memcpy(&v, t->data + 8 * i, 8);
        }
        if (v < 0 || v > 1000000)
            return mr_errorf(e, "%s: attribute of row %lld is %lld (must be in [0, 1000000])", path,
                             (long long)i, (long long)v);
        ds->attribute[i] = (int32_t)v;
        if (v > max)
            max = (int32_t)v;
    }
    if (meta) {
        if (parse_names(meta, &ds->attribute_names, &ds->n_attributes) < 0)
            return mr_errorf(e, "%s: out of memory for attribute names", path);
        if (max >= ds->n_attributes)
            return mr_errorf(e, "%s: attribute %d used but __metadata__ 'attributes' names only %d", path, max,
                             ds->n_attributes);
    } else {
        ds->n_attributes = max + 1;
        if (!(ds->attribute_names = calloc((size_t)ds->n_attributes + 1, sizeof(char *))))
            return mr_errorf(e, "%s: out of memory for attribute names", path);
        for (int i = 0; i < ds->n_attributes; i++) {
            char buf[32];
            snprintf(buf, sizeof buf, "attr%d", i);
            if (!(ds->attribute_names[i] = strdup(buf)))
                return mr_errorf(e, "%s: out of memory for attribute names", path);
        }
    }
    return 0;
}

/* One streaming pass over every embedding: a NaN in a 2 GB file should be
 * reported before the first epoch, with its row, not as a NaN loss later. */
static int check_finite(const mr_dataset *ds, const char *path, mr_error *e)
{
    int wmax = ds->d > ds->dc ? ds->d : ds->dc;
    float *row = malloc((size_t)wmax * sizeof(float));
    if (!row)
        return mr_errorf(e, "%s: out of memory", path);
    for (int c = 0; c < MR_COL_COUNT; c++) {
        if (!ds->col[c])
            continue;
        int w = mr_dataset_width(ds, (mr_column)c);
        for (int64_t i = 0; i < ds->n; i++) {
            mr_dataset_gather(ds, (mr_column)c, &i, 1, row);
            for (int j = 0; j < w; j++)
                if (!isfinite(row[j])) {
                    double bad = row[j];
                    free(row);
                    return mr_errorf(e, "%s: tensor '%s' row %lld column %d is not finite (%g)", path,
                                     col_names[c], (long long)i, j, bad);
                }
        }
    }
    free(row);
    return 0;
}

int mr_dataset_open(mr_dataset *ds, const char *path, mr_error *e)
{
    memset(ds, 0, sizeof *ds);
    if (st_open(&ds->file, path, e) < 0) {
        memset(ds, 0, sizeof *ds);
        return -1;
    }
    for (int c = 0; c < MR_COL_COUNT; c++) {
        const st_tensor *t = st_find(&ds->file, col_names[c]);
        if (!t) {
            if (c == MR_COL_CONTEXT)
                continue;
            mr_errorf(e, "%s: missing tensor '%s' (a dataset needs prompt [n,dc], chosen [n,d], rejected [n,d])",
                      path, col_names[c]);
            goto fail;
        }
        if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) {
            mr_errorf(e, "%s: tensor '%s' has dtype %s (F32, BF16 or F16 expected)", path, col_names[c],
                      t->dtype_name);
            goto fail;
        }
        if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[1] > (1 << 20)) {
            mr_errorf(e, "%s: tensor '%s' must be 2-D [n, width] with n >= 1 and 1 <= width <= 1048576", path,
                      col_names[c]);
            goto fail;
        }
        ds->col[c] = t;
    }
    ds->n = ds->col[MR_COL_PROMPT]->shape[0];
    ds->dc = (int)ds->col[MR_COL_PROMPT]->shape[1];
    ds->d = (int)ds->col[MR_COL_CHOSEN]->shape[1];
    for (int c = 1; c < MR_COL_COUNT; c++) {
        const st_tensor *t = ds->col[c];
        if (!t)
            continue;
        if (t->shape[0] != ds->n) {
            mr_errorf(e, "%s: tensor '%s' has %lld rows but 'prompt' has %lld (one row per pair)", path,
                      col_names[c], (long long)t->shape[0], (long long)ds->n);
            goto fail;
        }
        int want = mr_dataset_width(ds, (mr_column)c);
        if (t->shape[1] != want) {
            mr_errorf(e, "%s: tensor '%s' has width %lld but %s (%s)", path, col_names[c],
                      (long long)t->shape[1],
                      c == MR_COL_CONTEXT ? "'prompt' has width" : "'chosen' has width",
                      c == MR_COL_CONTEXT ? "context and prompt share the router's input size"
                                          : "chosen and rejected are the same backbone's embeddings");
            goto fail;
        }
    }
    if (load_attributes(ds, path, e) < 0 || check_finite(ds, path, e) < 0)
        goto fail;
    return 0;
fail:
    mr_dataset_close(ds);
    return -1;
}

/* ---------------------------------------------------------------- writer */

static const char *dtype_name(st_dtype dt)
{
    return dt == ST_BF16 ? "BF16" : dt == ST_F16 ? "F16" : "F32";
}

void mr_dataset_writer_abort(mr_dataset_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w->scratch);
    w->tmp = w->path = NULL;
    w->scratch = NULL;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t k = pwrite(fd, p, len, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        len -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

int mr_dataset_writer_open(mr_dataset_writer *w, const char *path, int64_t n, int d, int dc, bool has_context,
                           int n_attributes, const char *const *names, st_dtype dtype, mr_error *e)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    if (n < 1 || d < 1 || dc < 1)
        return mr_errorf(e, "%s: dataset needs n, d, dc >= 1", path);
    if (dtype != ST_F32 && dtype != ST_BF16 && dtype != ST_F16)
        return mr_errorf(e, "%s: dataset dtype must be F32, BF16 or F16", path);
    w->n = n;
    w->d = d;
    w->dc = dc;
    w->has_context = has_context;
    w->has_attribute = n_attributes > 0;
    w->dtype = dtype;
    size_t es = st_dtype_size(dtype);
    int widths[MR_COL_COUNT] = {dc, d, d, dc};

    json_t *hdr = json_object(), *meta = json_object();
    json_t *arr = json_array();
    char *hs = NULL;
    if (!hdr || !meta || !arr)
        goto oom;
    json_object_set_new(meta, "format", json_string("microrm-pairs"));
    if (w->has_attribute) {
        for (int i = 0; i < n_attributes; i++)
            json_array_append_new(arr, json_string(names[i]));
        char *as = json_dumps(arr, JSON_COMPACT);
        if (!as)
            goto oom;
        json_object_set_new(meta, "attributes", json_string(as));
        free(as);
    }
    json_object_set_new(hdr, "__metadata__", meta);
    meta = NULL;
    uint64_t off = 0;
    for (int c = 0; c <= MR_COL_COUNT; c++) {
        w->off[c] = off;
        if (c == MR_COL_CONTEXT && !has_context)
            continue;
        if (c == MR_COL_COUNT && !w->has_attribute)
            continue;
        uint64_t bytes = c == MR_COL_COUNT ? (uint64_t)n * 4 : (uint64_t)n * (uint64_t)widths[c] * es;
        json_t *t = json_pack("{s:s, s:[I,I], s:[I,I]}", "dtype", c == MR_COL_COUNT ? "I32" : dtype_name(dtype),
                              "shape", (json_int_t)n, (json_int_t)(c == MR_COL_COUNT ? 1 : widths[c]),
                              "data_offsets", (json_int_t)off, (json_int_t)(off + bytes));
        if (!t)
            goto oom;
        if (c == MR_COL_COUNT)  /* attribute is 1-D */
            json_array_remove(json_object_get(t, "shape"), 1);
        json_object_set_new(hdr, c == MR_COL_COUNT ? "attribute" : col_names[c], t);
        off += bytes;
    }
    hs = json_dumps(hdr, JSON_COMPACT);
    if (!hs)
        goto oom;
    size_t hlen = strlen(hs);
    size_t padded = (hlen + 7) / 8 * 8;  /* keeps F32 data 8-byte aligned */

    w->path = strdup(path);
    size_t tl = strlen(path) + 32;
    w->tmp = malloc(tl);
    w->scratch = malloc((size_t)(d > dc ? d : dc) * 4);
    if (!w->path || !w->tmp || !w->scratch)
        goto oom;
    snprintf(w->tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        mr_errorf(e, "%s: cannot create: %s", w->tmp, strerror(errno));
        goto fail;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    char *hbuf = malloc(padded);
    if (!hbuf)
        goto oom;
    memcpy(hbuf, hs, hlen);
    memset(hbuf + hlen, ' ', padded - hlen);
    int rc = write_all(w->fd, len8, 8, 0) < 0 || write_all(w->fd, hbuf, padded, 8) < 0;
    free(hbuf);
    if (rc || ftruncate(w->fd, (off_t)(8 + padded + off)) < 0) {
        mr_errorf(e, "%s: write failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    w->base = 8 + padded;
    free(hs);
    json_decref(hdr);
    json_decref(arr);
    return 0;
oom:
    mr_errorf(e, "%s: out of memory", path);
fail:
    free(hs);
    json_decref(hdr);
    json_decref(meta);
    json_decref(arr);
    mr_dataset_writer_abort(w);
    return -1;
}

static int put_row(mr_dataset_writer *w, int c, int64_t i, const float *x, int width, mr_error *e)
{
    size_t es = st_dtype_size(w->dtype);
    const void *src = x;
    if (w->dtype != ST_F32) {
        uint16_t *h = w->scratch;
        for (int j = 0; j < width; j++) {
            uint16_t v = w->dtype == ST_BF16 ? mr_f32_to_bf16(x[j]) : mr_f32_to_f16(x[j]);
            unsigned char *b = (unsigned char *)&h[j];  /* little-endian on disk */
            b[0] = (unsigned char)(v & 0xff);
            b[1] = (unsigned char)(v >> 8);
        }
        src = h;
    }
    uint64_t off = w->base + w->off[c] + (uint64_t)i * (uint64_t)width * es;
    if (write_all(w->fd, src, (size_t)width * es, off) < 0)
        return mr_errorf(e, "%s: write failed: %s", w->tmp, strerror(errno));
    return 0;
}

int mr_dataset_writer_row(mr_dataset_writer *w, int64_t i, const float *prompt, const float *chosen,
                          const float *rejected, const float *context, int32_t attribute, mr_error *e)
{
    if (i < 0 || i >= w->n)
        return mr_errorf(e, "%s: row %lld out of range", w->path, (long long)i);
    if (put_row(w, MR_COL_PROMPT, i, prompt, w->dc, e) < 0 || put_row(w, MR_COL_CHOSEN, i, chosen, w->d, e) < 0 ||
        put_row(w, MR_COL_REJECTED, i, rejected, w->d, e) < 0)
        return -1;
    if (w->has_context && put_row(w, MR_COL_CONTEXT, i, context, w->dc, e) < 0)
        return -1;
    if (w->has_attribute) {
        unsigned char b[4];
        for (int k = 0; k < 4; k++)
            b[k] = (unsigned char)((uint32_t)attribute >> (8 * k));
        if (write_all(w->fd, b, 4, w->base + w->off[MR_COL_COUNT] + (uint64_t)i * 4) < 0)
            return mr_errorf(e, "%s: write failed: %s", w->tmp, strerror(errno));
    }
    return 0;
}

int mr_dataset_writer_finish(mr_dataset_writer *w, mr_error *e)
{
    if (fsync(w->fd) < 0 || close(w->fd) < 0) {
        w->fd = -1;
        mr_errorf(e, "%s: fsync failed: %s", w->tmp, strerror(errno));
        mr_dataset_writer_abort(w);
        return -1;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) < 0) {
        mr_errorf(e, "%s: rename to %s failed: %s", w->tmp, w->path, strerror(errno));
        mr_dataset_writer_abort(w);
        return -1;
    }
    free(w->tmp);
    w->tmp = NULL;
    mr_dataset_writer_abort(w);
    return 0;
}
