/* libFuzzer: /route/update bodies through mr_parse_update_body (d = dc = 4,
 * at most 8 feedback items). The first two input bytes choose a split point:
 * the rest is parsed as one buffer, then again after being accumulated from
 * two chunks the way the HTTP layer does (malloc the first, realloc and append
 * the second); both parses must agree exactly. A success must be well formed
 * (item count, vectors finite, event ids and indices, user and id lengths, a
 * valid user id, a user whenever an item is direct); a failure must leave
 * *out empty and give a 400/422/500 error whose message starts with its
 * field and which serialises to a JSON error body. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/update_request.h"
#include "api/user_id.h"

static const mr_update_limits LIM = { .d = 4, .dc = 4, .max_feedback = 8 };

static void check_ok(const mr_update_body *b)
{
    if (b->n < 1 || b->n > (b->is_list ? LIM.max_feedback : 1) || !b->items)
        abort();
    if (b->id && (strlen(b->id) < 1 || strlen(b->id) > 128))
        abort();
    char why[128];
    if (b->user && !api_user_id_valid(b->user, strlen(b->user), why, sizeof why))
        abort();
    for (int i = 0; i < b->n; i++) {
        const mr_feedback *f = &b->items[i];
        if (f->is_event) {
            if (!f->event || !f->event[0] || f->chosen_idx < 0 || f->rejected_idx < 0 ||
                f->chosen_idx == f->rejected_idx || f->context || f->chosen || f->rejected)
                abort();
            continue;
        }
        if (!b->user || f->event || !f->context || !f->chosen || !f->rejected)
            abort();
        for (int k = 0; k < LIM.dc; k++)
            if (!isfinite(f->context[k]))
                abort();
        for (int k = 0; k < LIM.d; k++)
            if (!isfinite(f->chosen[k]) || !isfinite(f->rejected[k]))
                abort();
    }
}

static void check_err(const mr_update_body *b, const api_error *e)
{
    if (b->n != 0 || b->items || b->user || b->id)
        abort();
    if ((e->status != 400 && e->status != 422 && e->status != 500) || !e->code || !e->message[0])
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

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_vec(const float *a, const float *b, int n)
{
    return (!a && !b) || (a && b && memcmp(a, b, sizeof(float) * (size_t)n) == 0);
}

static int same(int rc1, const mr_update_body *a, const api_error *e1, int rc2, const mr_update_body *b,
                const api_error *e2)
{
    if (rc1 != rc2)
        return 0;
    if (rc1)
        return e1->status == e2->status && strcmp(e1->code, e2->code) == 0 &&
               strcmp(e1->field, e2->field) == 0 && strcmp(e1->message, e2->message) == 0;
    if (a->n != b->n || a->is_list != b->is_list || !same_str(a->user, b->user) || !same_str(a->id, b->id))
        return 0;
    for (int i = 0; i < a->n; i++) {
        const mr_feedback *p = &a->items[i], *q = &b->items[i];
        if (p->is_event != q->is_event || !same_str(p->event, q->event) || p->chosen_idx != q->chosen_idx ||
            p->rejected_idx != q->rejected_idx || !same_vec(p->context, q->context, LIM.dc) ||
            !same_vec(p->chosen, q->chosen, LIM.d) || !same_vec(p->rejected, q->rejected, LIM.d))
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

    mr_update_body a, b;
    api_error e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    int rc1 = mr_parse_update_body(body, len, &LIM, &a, &e1);
    if (rc1 != 0 && rc1 != -1)
        abort();
    if (rc1 == 0)
        check_ok(&a);
    else
        check_err(&a, &e1);

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
    int rc2 = mr_parse_update_body(grown, len, &LIM, &b, &e2);
    if (!same(rc1, &a, &e1, rc2, &b, &e2))
        abort();
    mr_update_body_free(&a);
    mr_update_body_free(&b);
    free(grown);
    return 0;
}
