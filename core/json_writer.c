/* Streaming compact JSON (see json_writer.h). */
#include "core/json_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/real_format.h"

#define FIRST_CAP 1024

void jw_init(json_writer *w)
{
    memset(w, 0, sizeof *w);
}

/* Room for n more bytes and the terminating zero. */
static bool reserve(json_writer *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->len + n + 1 <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : FIRST_CAP;
    while (cap < w->len + n + 1)
        cap *= 2;
    char *p = mr_realloc(w->buf, cap);
    if (!p) {
        w->failed = true;
        return false;
    }
    w->buf = p;
    w->cap = cap;
    return true;
}

static void put(json_writer *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* The separator owed before a value (or a key) at the current depth. */
static void separate(json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && w->has_items[w->depth - 1])
        put(w, ",", 1);
    if (w->depth > 0)
        w->has_items[w->depth - 1] = true;
}

static void container_begin(json_writer *w, char c)
{
    separate(w);
    if (w->depth == JW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->has_items[w->depth++] = false;
    put(w, &c, 1);
}

static void container_end(json_writer *w, char c)
{
    if (w->depth == 0) {
        w->failed = true;
        return;
    }
    w->depth--;
    put(w, &c, 1);
}

void jw_object_begin(json_writer *w) { container_begin(w, '{'); }
void jw_object_end(json_writer *w) { container_end(w, '}'); }
void jw_array_begin(json_writer *w) { container_begin(w, '['); }
void jw_array_end(json_writer *w) { container_end(w, ']'); }

static void put_string(json_writer *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    put(w, "\"", 1);
    const char *run = s;   /* bytes written as they are, in one copy */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, run, (size_t)(s - run));
        run = s + 1;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(w, esc, n);
    }
    put(w, run, (size_t)(s - run));
    put(w, "\"", 1);
}

void jw_key(json_writer *w, const char *key)
{
    separate(w);
    put_string(w, key);
    put(w, ":", 1);
    w->after_key = true;
}

void jw_real(json_writer *w, double v)
{
    if (!isfinite(v)) {
        w->failed = w->non_finite = true;
        return;
    }
    separate(w);
    if (!reserve(w, MR_REAL_FORMAT_MAX))
        return;
    w->len += mr_format_real9(w->buf + w->len, v);
}

void jw_int(json_writer *w, long long v)
{
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", v);
    separate(w);
    put(w, text, (size_t)n);
}

void jw_bool(json_writer *w, bool v)
{
    separate(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_string(json_writer *w, const char *s)
{
    separate(w);
    put_string(w, s);
}

char *jw_finish(json_writer *w, size_t *len)
{
    char *text = NULL;
    if (!w->failed && w->depth == 0 && reserve(w, 0)) {
        w->buf[w->len] = '\0';
        text = w->buf;
        if (len)
            *len = w->len;
    } else {
        free(w->buf);
    }
    jw_init(w);
    return text;
}
