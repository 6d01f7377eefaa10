/* Differential check of api/json_reader against jansson on one text: same
 * accept/reject, and when both accept, the same tree (keys, strings, bools)
 * with every number within 1 ulp of (float) of jansson's double. Shared by
 * tests/unit/test_json_reader.c and tests/fuzz/fuzz_json_reader.c. */
#ifndef MICRORM_TESTS_JSON_DIFF_H
#define MICRORM_TESTS_JSON_DIFF_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_reader.h"
#include "core/float_parse.h"

#define JD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)

static int64_t jd_ordered(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? -(int64_t)(u & 0x7FFFFFFFu) : (int64_t)u;
}

/* 1 when got is within 1 ulp of want (the float rounding of jansson's double). */
static int jd_close(float got, double want_d)
{
    float want = (float)want_d;
    if (got == 0 && want == 0)
        return 1;
    int64_t d = jd_ordered(got) - jd_ordered(want);
    return d >= -1 && d <= 1;
}

static int jd_walk(json_reader *r, json_t *j, char *why, size_t cap)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (jr_peek(r) != JR_OBJECT || jr_object_begin(r))
            return snprintf(why, cap, "object expected at %zu", (size_t)(r->p - r->buf)), -1;
        size_t count = 0;
        jr_slice key;
        int k;
        while ((k = jr_object_next(r, &key)) > 0) {
            json_t *v = json_object_getn(j, key.p, key.len);
            if (!v)
                return snprintf(why, cap, "key \"%.*s\" not in jansson's object", (int)key.len, key.p), -1;
            int rc = jd_walk(r, v, why, cap);
            if (rc) /* 1: a number beyond float32 ended the walk in agreement */
                return rc;
            count++;
        }
        if (k < 0 || count != json_object_size(j))
            return snprintf(why, cap, "object: %zu keys vs jansson %zu (%s)", count, json_object_size(j), r->err_msg), -1;
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j), i;
        int all_numbers = n > 0;
        for (i = 0; i < n; i++)
            all_numbers &= json_is_number(json_array_get(j, i));
        if (all_numbers) {
            float *buf = malloc(n * sizeof(float));
            size_t count = 0, bad = 0, first_inf = n;
            for (i = 0; i < n && first_inf == n; i++)
                if (isinf((float)json_number_value(json_array_get(j, i))))
                    first_inf = i;
            int rc = jr_read_float_array(r, buf, n, &count, &bad);
            int ok = 1;
            if (first_inf < n) {
                ok = rc < 0 && r->status == JR_E_RANGE && bad == first_inf;
            } else {
                ok = rc == 0 && count == n;
                for (i = 0; ok && i < n; i++)
                    ok = jd_close(buf[i], json_number_value(json_array_get(j, i)));
                if (!ok && i > 0)
                    snprintf(why, cap, "number %zu: %.9g vs jansson %.17g", i - 1, (double)buf[i - 1],
                             json_number_value(json_array_get(j, i - 1)));
            }
            free(buf);
            if (!ok && !why[0])
                snprintf(why, cap, "number array: rc %d status %d bad %zu first_inf %zu", rc, r->status, bad,
                         first_inf);
            /* A RANGE error ends the walk: the reader's error is sticky. */
            return ok ? (first_inf < n ? 1 : 0) : -1;
        }
        if (jr_peek(r) != JR_ARRAY || jr_array_begin(r))
            return snprintf(why, cap, "array expected"), -1;
        for (i = 0; i < n; i++) {
            if (jr_array_next(r) != 1)
                return snprintf(why, cap, "array shorter than jansson's"), -1;
            int rc = jd_walk(r, json_array_get(j, i), why, cap);
            if (rc)
                return rc;
        }
        if (jr_array_next(r) != 0)
            return snprintf(why, cap, "array longer than jansson's"), -1;
        return 0;
    }
    case JSON_STRING: {
        jr_slice s;
        char *owned;
        if (jr_read_string(r, &s, &owned))
            return snprintf(why, cap, "string: %s", r->err_msg), -1;
        int same = s.len == json_string_length(j) && memcmp(s.p, json_string_value(j), s.len) == 0;
        free(owned);
        return same ? 0 : (snprintf(why, cap, "string differs"), -1);
    }
    case JSON_INTEGER:
    case JSON_REAL: {
        if (jr_peek(r) != JR_NUMBER)
            return snprintf(why, cap, "number expected"), -1;
        float f = 0;
        const char *endp;
        mr_num_status st = mr_parse_json_float(r->p, r->end, &f, &endp);
        double d = json_number_value(j);
        if (isinf((float)d) ? st != MR_NUM_RANGE : (st != MR_NUM_OK || !jd_close(f, d)))
            return snprintf(why, cap, "number %.*s: %.9g status %d vs jansson %.17g", (int)(endp - r->p), r->p,
                            (double)f, st, d), -1;
        return jr_skip(r) ? (snprintf(why, cap, "skip number: %s", r->err_msg), -1) : 0;
    }
    case JSON_TRUE:
    case JSON_FALSE: {
        bool b;
        if (jr_read_bool(r, &b) || b != json_is_true(j))
            return snprintf(why, cap, "bool differs"), -1;
        return 0;
    }
    case JSON_NULL:
        if (jr_peek(r) != JR_NULL || jr_skip(r))
            return snprintf(why, cap, "null expected"), -1;
        return 0;
    }
    return -1;
}

/* 0 when reader and jansson agree on buf[0..len) (or the reader hit its
 * depth limit, which jansson's is higher than), else -1 with *why. */
static int jd_compare(const char *buf, size_t len, char *why, size_t cap)
{
    why[0] = 0;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JD_FLAGS, &je);
    json_reader r;
    jr_init(&r, buf, len);
    int ours = jr_skip(&r) == 0 && jr_finish(&r) == 0;
    jr_status st = r.status;
    char msg[sizeof r.err_msg];
    memcpy(msg, r.err_msg, sizeof msg);
    jr_free(&r);
    int rc = 0;
    if (memchr(buf, 0, len)) {
        /* jansson 2.14 drops some NUL bytes between tokens ("[1\0]" loads);
         * we reject every NUL, as RFC 8259 does. */
        if (ours) {
            snprintf(why, cap, "accepted a text with a NUL byte");
            rc = -1;
        }
    } else if (!ours && st == JR_E_DEPTH) {
        rc = 0;
    } else if (ours != (root != NULL)) {
        snprintf(why, cap, "accept/reject differs: reader %s (%s), jansson %s (%s)", ours ? "accepts" : "rejects",
                 ours ? "" : msg, root ? "accepts" : "rejects", root ? "" : je.text);
        rc = -1;
    } else if (root) {
        jr_init(&r, buf, len);
        int w = jd_walk(&r, root, why, cap);
        if (w == 0 && jr_finish(&r))
            w = -1, snprintf(why, cap, "trailing: %s", r.err_msg);
        rc = w < 0 ? -1 : 0;
        jr_free(&r);
    }
    json_decref(root);
    return rc;
}

#endif
