/* libFuzzer: whole /score bodies through mr_parse_score_body (d = dc = 4).
 * The first two input bytes choose a split point: the rest is parsed as one
 * buffer, then again after being accumulated from two chunks the way the
 * HTTP layer does (malloc the first, realloc and append the second); both
 * parses must agree exactly. Also checks the invariants of a success and the
 * shape of an error (status, code, message prefixed by the field, JSON body). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/score_request.h"

static const mr_score_limits LIM = { .d = 4, .dc = 4, .max_responses = 8, .max_batch = 4, .max_pairs = 8 };

static void check(int rc, const mr_score_body *b, const api_error *e)
{
    if (rc == 0) {
        if (b->n < 1 || b->n > (b->is_batch ? LIM.max_batch : 1))
            abort();
        for (int i = 0; i < b->n; i++) {
            const mr_score_req *q = &b->items[i];
            if (q->n < 1 || q->n > LIM.max_responses || q->n_pairs > LIM.max_pairs || !q->context)
                abort();
            for (int k = 0; k < LIM.dc; k++)
                if (!isfinite(q->context[k]))
                    abort();
            for (int k = 0; k < q->n * LIM.d; k++)
                if (!isfinite(q->responses[k]))
                    abort();
            for (int k = 0; k < q->n_pairs; k++) {
                int a = q->pairs[k][0], c = q->pairs[k][1];
                if (a < 0 || a >= q->n || c < 0 || c >= q->n || a == c)
                    abort();
            }
            if (q->user && (strlen(q->user) < 1 || strlen(q->user) > 256))
                abort();
        }
        return;
    }
    if (b->n != 0 || b->items)
        abort();
    if ((e->status != 400 && e->status != 422 && e->status != 500) || !e->code)
        abort();
    size_t fl = strlen(e->field);
    if (fl && (strncmp(e->message, e->field, fl) != 0 || e->message[fl] != ':'))
        abort();
    char *js = api_error_json(e);
    if (!js)
        abort();
    json_error_t je;
    json_t *j = json_loads(js, 0, &je);
    if (!j || !json_is_string(json_object_get(json_object_get(j, "error"), "code")))
        abort();
    json_decref(j);
    free(js);
}

static int same(int rc1, const mr_score_body *a, const api_error *e1, int rc2, const mr_score_body *b,
                const api_error *e2)
{
    if (rc1 != rc2)
        return 0;
    if (rc1)
        return e1->status == e2->status && strcmp(e1->code, e2->code) == 0 && strcmp(e1->message, e2->message) == 0;
    if (a->n != b->n || a->is_batch != b->is_batch)
        return 0;
    for (int i = 0; i < a->n; i++) {
        const mr_score_req *p = &a->items[i], *q = &b->items[i];
        if (p->n != q->n || p->n_pairs != q->n_pairs || p->include_heads != q->include_heads ||
            memcmp(p->context, q->context, sizeof(float) * (size_t)LIM.dc) ||
            memcmp(p->responses, q->responses, sizeof(float) * (size_t)(p->n * LIM.d)) ||
            (p->n_pairs && memcmp(p->pairs, q->pairs, sizeof(int[2]) * (size_t)p->n_pairs)) ||
            !p->user != !q->user || (p->user && strcmp(p->user, q->user)) || !p->event != !q->event ||
            (p->event && strcmp(p->event, q->event)))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    size_t split = ((size_t)data[0] | (size_t)data[1] << 8) % (len + 1);

    mr_score_body a, b;
    api_error e1, e2;
    int rc1 = mr_parse_score_body(body, len, &LIM, &a, &e1);
    check(rc1, &a, &e1);

    char *acc = malloc(split ? split : 1);
    if (!acc)
        return 0;
    memcpy(acc, body, split);
    char *grown = realloc(acc, len ? len : 1);
    if (!grown) {
        free(acc);
        return 0;
    }
    memcpy(grown + split, body + split, len - split);
    int rc2 = mr_parse_score_body(grown, len, &LIM, &b, &e2);
    if (!same(rc1, &a, &e1, rc2, &b, &e2))
        abort();
    mr_score_body_free(&a);
    mr_score_body_free(&b);
    free(grown);
    return 0;
}
