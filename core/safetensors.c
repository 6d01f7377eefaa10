/* safetensors reader and writer. The reader maps the file read-only and
 * validates the whole header before anyone touches a tensor, so every later
 * access through st_tensor.data is in bounds; values are converted (and
 * checked finite) only for the tensors a caller asks for, which is what lets
 * the model loader skip the backbone of a sharded checkpoint. The writer
 * produces a file atomically: a crash leaves either the old file or the new. */
#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/half.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code assumes a little-endian host"
#endif

/* A header bigger than this is not a model header but a corrupt length. */
#define ST_MAX_HEADER (100u * 1024u * 1024u)

static const struct {
    const char *name;
    st_dtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", ST_F32, 4},    {"F16", ST_F16, 2},       {"BF16", ST_BF16, 2},
    {"I32", ST_I32, 4},    {"I64", ST_I64, 8},       {"F64", ST_F64, 8},
    {"U8", ST_U8, 1},
    /* The rest of the format's dtypes: accepted so that a shard holding
     * quantised backbone tensors still opens, but never converted. */
    {"BOOL", ST_OTHER, 1}, {"I8", ST_OTHER, 1},      {"I16", ST_OTHER, 2},
    {"U16", ST_OTHER, 2},  {"U32", ST_OTHER, 4},     {"U64", ST_OTHER, 8},
    {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

size_t st_dtype_size(st_dtype dt)
{
    switch (dt) {
    case ST_F32: case ST_I32: return 4;
    case ST_F16: case ST_BF16: return 2;
    case ST_I64: case ST_F64: return 8;
    case ST_U8: return 1;
    default: return 0;
    }
}

static const char *dtype_name(st_dtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == dt)
            return dtypes[i].name;
    return NULL;
}

size_t st_numel(const st_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map && f->map != MAP_FAILED)
        munmap(f->map, f->map_len);
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Read a JSON integer that must be >= 0. */
static int get_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_metadata(st_file *f, json_t *meta, mr_error *e)
{
    if (!json_is_object(meta))
        return mr_errorf(e, "%s: __metadata__ is not an object", f->path);
    size_t n = json_object_size(meta);
    f->meta_keys = mr_calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = mr_calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return mr_errorf(e, "%s: out of memory", f->path);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return mr_errorf(e, "%s: __metadata__ value of '%s' is not a string", f->path, key);
        f->meta_keys[f->n_meta] = mr_strdup(key);
        f->meta_values[f->n_meta] = mr_strdup(json_string_value(val));
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
            return mr_errorf(e, "%s: out of memory", f->path);
    }
    return 0;
}

/* Parse one tensor entry; begin/end are its offsets relative to the data. */
static int parse_tensor(st_file *f, const char *name, json_t *v, size_t data_len,
                        st_tensor *t, uint64_t *begin, uint64_t *end, mr_error *e)
{
    if (!json_is_object(v))
        return mr_errorf(e, "%s: tensor '%s': entry is not an object", f->path, name);
    t->name = mr_strdup(name);
    if (!t->name)
        return mr_errorf(e, "%s: out of memory", f->path);

    json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt))
        return mr_errorf(e, "%s: tensor '%s': missing or non-string dtype", f->path, name);
    const char *dts = json_string_value(dt);
    size_t esize = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dts, dtypes[i].name)) {
            t->dtype = dtypes[i].dtype;
            esize = dtypes[i].size;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtypes[i].name);
        }
    if (!esize)
        return mr_errorf(e, "%s: tensor '%s': unknown dtype '%.32s'", f->path, name, dts);

    json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape))
        return mr_errorf(e, "%s: tensor '%s': missing shape", f->path, name);
    if (json_array_size(shape) > ST_MAX_DIMS)
        return mr_errorf(e, "%s: tensor '%s': %zu dimensions (at most %d)", f->path, name,
                         json_array_size(shape), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t dim;
        if (get_uint(json_array_get(shape, (size_t)i), &dim))
            return mr_errorf(e, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                             f->path, name, i);
        if (dim && numel > UINT64_MAX / dim)
            return mr_errorf(e, "%s: tensor '%s': shape overflows", f->path, name);
        numel *= dim;
        t->shape[i] = (int64_t)dim;
    }
    if (numel > SIZE_MAX / esize)
        return mr_errorf(e, "%s: tensor '%s': shape overflows", f->path, name);

    json_t *offs = json_object_get(v, "data_offsets");
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        get_uint(json_array_get(offs, 0), begin) || get_uint(json_array_get(offs, 1), end))
        return mr_errorf(e, "%s: tensor '%s': data_offsets must be [begin, end]", f->path, name);
    if (*end < *begin)
        return mr_errorf(e, "%s: tensor '%s': data_offsets [%llu, %llu) end before begin", f->path,
                         name, (unsigned long long)*begin, (unsigned long long)*end);
    if (*end > data_len)
        return mr_errorf(e, "%s: tensor '%s': data_offsets [%llu, %llu) exceed the %zu data bytes",
                         f->path, name, (unsigned long long)*begin, (unsigned long long)*end,
                         data_len);
    t->nbytes = (size_t)(*end - *begin);
    if (t->nbytes != numel * esize)
        return mr_errorf(e, "%s: tensor '%s': %llu elements of %s need %llu bytes, data_offsets "
                         "give %zu", f->path, name, (unsigned long long)numel, t->dtype_name,
                         (unsigned long long)(numel * esize), t->nbytes);
    return 0;
}

typedef struct {
    uint64_t begin, end;
    size_t idx;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int parse_header(st_file *f, const char *hdr, size_t hlen, size_t data_len,
                        const uint8_t *data, mr_error *e)
{
    json_error_t jerr;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mr_errorf(e, "%s: header is not valid JSON (line %d, column %d: %s)", f->path,
                         jerr.line, jerr.column, jerr.text);
    int rc = -1;
    span *spans = NULL;
    if (!json_is_object(root)) {
        mr_errorf(e, "%s: header is not a JSON object", f->path);
        goto out;
    }
    size_t n = json_object_size(root);
    f->tensors = mr_calloc(n ? n : 1, sizeof *f->tensors);
    spans = mr_calloc(n ? n : 1, sizeof *spans);
    if (!f->tensors || !spans) {
        mr_errorf(e, "%s: out of memory", f->path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (parse_metadata(f, val, e))
                goto out;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        span *s = &spans[f->n_tensors];
        f->n_tensors++;
        if (parse_tensor(f, key, val, data_len, t, &s->begin, &s->end, e))
            goto out;
        s->idx = f->n_tensors - 1;
        t->data = data + s->begin;
    }
    /* Sorted by offset, each tensor must start at or after the end of every
     * tensor before it (empty tensors occupy nothing and never overlap). */
    qsort(spans, f->n_tensors, sizeof *spans, span_cmp);
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < f->n_tensors; i++) {
        if (spans[i].end == spans[i].begin)
            continue;
        if (last != SIZE_MAX && spans[i].begin < spans[last].end) {
            mr_errorf(e, "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s' [%llu, %llu)",
                      f->path, f->tensors[spans[i].idx].name,
                      (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end,
                      f->tensors[spans[last].idx].name,
                      (unsigned long long)spans[last].begin, (unsigned long long)spans[last].end);
            goto out;
        }
        last = i;
    }
    rc = 0;
out:
    free(spans);
    json_decref(root);
    return rc;
}

/* The checks shared by st_open and st_open_mem, on p[0..f->map_len) (mapped
 * or borrowed); messages name f->path. */
static int validate(st_file *f, const uint8_t *p, mr_error *e)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > f->map_len - 8) {
        mr_errorf(e, "%s: header length %llu exceeds the file (%zu bytes): truncated or not "
                  "safetensors", f->path, (unsigned long long)hlen, f->map_len);
        return -1;
    }
    if (hlen > ST_MAX_HEADER) {
        mr_errorf(e, "%s: header length %llu is over the %u-byte limit", f->path,
                  (unsigned long long)hlen, ST_MAX_HEADER);
        return -1;
    }
    if (hlen < 2) {
        mr_errorf(e, "%s: header length %llu is too small for a JSON header", f->path,
                  (unsigned long long)hlen);
        return -1;
    }
    return parse_header(f, (const char *)p + 8, (size_t)hlen, f->map_len - 8 - (size_t)hlen,
                        p + 8 + hlen, e);
}

int st_open(st_file *f, const char *path, mr_error *e)
{
    memset(f, 0, sizeof *f);
    f->path = mr_strdup(path);
    if (!f->path)
        return mr_errorf(e, "%s: out of memory", path);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mr_errorf(e, "%s: %s", path, strerror(errno));
        st_close(f);
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        mr_errorf(e, "%s: %s", path, strerror(errno));
        goto fail_fd;
    }
    if (!S_ISREG(sb.st_mode)) {
        mr_errorf(e, "%s: not a regular file", path);
        goto fail_fd;
    }
    if (sb.st_size < 8) {
        mr_errorf(e, "%s: truncated file (%lld bytes, the header length alone is 8)", path,
                  (long long)sb.st_size);
        goto fail_fd;
    }
    f->map_len = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        mr_errorf(e, "%s: mmap: %s", path, strerror(errno));
        goto fail_fd;
    }
    close(fd);
    if (validate(f, f->map, e))
        goto fail;
    return 0;

fail_fd:
    close(fd);
fail:
    st_close(f);
    return -1;
}

int st_open_mem(st_file *f, const void *buf, size_t len, const char *name, mr_error *e)
{
    memset(f, 0, sizeof *f);
    f->path = mr_strdup(name);
    if (!f->path)
        return mr_errorf(e, "%s: out of memory", name);
    if (len < 8) {
        mr_errorf(e, "%s: truncated file (%zu bytes, the header length alone is 8)", name, len);
        st_close(f);
        return -1;
    }
    /* f->map stays NULL: st_close must not unmap a buffer it does not own */
    f->map_len = len;
    if (validate(f, buf, e)) {
        st_close(f);
        return -1;
    }
    return 0;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

int st_tensor_to_f32(const st_file *f, const st_tensor *t, float *out, mr_error *e)
{
    size_t n = st_numel(t);
    const char *path = f ? f->path : "(memory)";
    switch (t->dtype) {
    case ST_F32: if (n) memcpy(out, t->data, n * sizeof(float)); break;
    case ST_BF16: mr_bf16_to_f32_n(t->data, out, n); break;
    case ST_F16: mr_f16_to_f32_n(t->data, out, n); break;
    default:
        return mr_errorf(e, "%s: tensor '%s': dtype %s is not a floating-point type (F32, BF16, "
                         "F16)", path, t->name, t->dtype_name);
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return mr_errorf(e, "%s: tensor '%s': element %zu is %s", path, t->name, i,
                             isnan(out[i]) ? "NaN" : "infinite");
    return 0;
}

/* ---- writer ---- */

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path so the rename itself is durable. */
static int fsync_parent(const char *path)
{
    char *copy = mr_strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static char *build_header(const st_out_tensor *ts, size_t n, const char *const *mk,
                          const char *const *mv, size_t n_meta, size_t *data_len, mr_error *e)
{
    json_t *root = json_object();
    if (!root)
        return mr_errorf(e, "out of memory"), NULL;
    char *text = NULL;
    if (n_meta) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta)) {
            mr_errorf(e, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n_meta; i++)
            if (!mk[i] || !mv[i] || json_object_set_new(meta, mk[i], json_string(mv[i]))) {
                mr_errorf(e, "metadata entry %zu is not a valid UTF-8 string pair", i);
                goto out;
            }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const st_out_tensor *t = &ts[i];
        size_t es = st_dtype_size(t->dtype);
        if (!t->name || !strcmp(t->name, "__metadata__") || json_object_get(root, t->name)) {
            mr_errorf(e, "tensor %zu: missing, reserved or duplicate name", i);
            goto out;
        }
        if (!es || t->ndim < 0 || t->ndim > ST_MAX_DIMS) {
            mr_errorf(e, "tensor '%s': unsupported dtype or rank", t->name);
            goto out;
        }
        json_t *shape = json_array();
        json_t *entry = json_object();
        if (!shape || !entry) {
            json_decref(shape);
            json_decref(entry);
            mr_errorf(e, "out of memory");
            goto out;
        }
        uint64_t numel = 1;
        int bad = 0;
        for (int k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 0)
                bad = 1;
            else
                numel *= (uint64_t)t->shape[k];
            json_array_append_new(shape, json_integer(t->shape[k]));
        }
        uint64_t nbytes = numel * es;
        json_t *offs = json_pack("[II]", (json_int_t)off, (json_int_t)(off + nbytes));
        json_object_set_new(entry, "dtype", json_string(dtype_name(t->dtype)));
        json_object_set_new(entry, "shape", shape);
        if (bad || !offs || json_object_set_new(entry, "data_offsets", offs) ||
            json_object_set_new(root, t->name, entry)) {
            mr_errorf(e, "tensor '%s': bad shape or out of memory", t->name);
            goto out;
        }
        off += nbytes;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        mr_errorf(e, "out of memory");
    *data_len = (size_t)off;
out:
    json_decref(root);
    return text;
}

int st_write(const char *path, const st_out_tensor *tensors, size_t n,
             const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
             mr_error *e)
{
    size_t data_len = 0;
    char *json = build_header(tensors, n, meta_keys, meta_values, n_meta, &data_len, e);
    if (!json) {
        char tmp[sizeof e->msg];
        snprintf(tmp, sizeof tmp, "%s", e ? e->msg : "");
        return mr_errorf(e, "%s: %s", path, tmp);
    }
    /* Pad with spaces so the data starts 8-byte aligned (the format's habit,
     * and what lets readers use the mapping as float arrays directly). */
    size_t jlen = strlen(json);
    size_t hlen = (jlen + 7) & ~(size_t)7;
    uint8_t *hdr = mr_malloc(8 + hlen);
    if (!hdr) {
        free(json);
        return mr_errorf(e, "%s: out of memory", path);
    }
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(hdr + 8, json, jlen);
    memset(hdr + 8 + jlen, ' ', hlen - jlen);
    free(json);

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(hdr);
        return mr_errorf(e, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(hdr);
        return mr_errorf(e, "%s: %s", tmp, strerror(errno));
    }
    int rc = write_all(fd, hdr, 8 + hlen);
    free(hdr);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t nb = st_dtype_size(tensors[i].dtype);
        for (int k = 0; k < tensors[i].ndim; k++)
            nb *= (size_t)tensors[i].shape[k];
        if (nb)
            rc = write_all(fd, tensors[i].data, nb);
    }
    if (rc == 0)
        rc = fsync(fd);
    int saved = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -1;
        saved = errno;
    }
    if (rc) {
        unlink(tmp);
        return mr_errorf(e, "%s: write failed: %s", path, strerror(saved));
    }
    if (fsync_parent(path) < 0)
        return mr_errorf(e, "%s: fsync of the directory failed: %s", path, strerror(errno));
    return 0;
}
