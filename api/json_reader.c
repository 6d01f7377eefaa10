/* Pull parser over one in-memory JSON text (see api/json_reader.h for what it
 * accepts). Strings are scanned 8 bytes at a time while they hold nothing but
 * plain ASCII, which is all a base64 vector is. */
#include "api/json_reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/base64.h"
#include "core/float_parse.h"

struct jr_keyent {
    uint32_t obj;   /* 0 = empty slot */
    uint32_t hash;
    const char *p;
    size_t len;
    char *owned;    /* unescaped copy, when the key had escapes */
};

__attribute__((format(printf, 4, 5)))
static int fail(json_reader *r, jr_status st, const char *at, const char *fmt, ...)
{
    if (r->status != JR_OK)
        return -1;
    r->status = st;
    r->err_off = (size_t)(at - r->buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int syntax(json_reader *r, const char *at, const char *what)
{
    if (at >= r->end)
        return fail(r, JR_E_SYNTAX, r->end, "unexpected end of input");
    return fail(r, JR_E_SYNTAX, at, "%s", what);
}

void jr_init(json_reader *r, const char *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    r->buf = r->p = buf;
    r->end = buf + len;
}

void jr_free(json_reader *r)
{
    for (size_t i = 0; i < r->keys_cap; i++)
        free(r->keys[i].owned);
    free(r->keys);
    r->keys = NULL;
    r->keys_cap = r->keys_n = 0;
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

jr_type jr_peek(json_reader *r)
{
    r->p = skip_ws(r->p, r->end);
    if (r->p >= r->end)
        return JR_END;
    switch (*r->p) {
    case '{': return JR_OBJECT;
    case '[': return JR_ARRAY;
    case '"': return JR_STRING;
    case 't': return JR_TRUE;
    case 'f': return JR_FALSE;
    case 'n': return JR_NULL;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': return JR_NUMBER;
    default: return JR_INVALID;
    }
}

static const char *type_name(jr_type t)
{
    switch (t) {
    case JR_OBJECT: return "an object";
    case JR_ARRAY: return "an array";
    case JR_STRING: return "a string";
    case JR_NUMBER: return "a number";
    case JR_TRUE: case JR_FALSE: return "a boolean";
    case JR_NULL: return "null";
    default: return "no value";
    }
}

/* jr_peek types a value by its first byte: "nan" or "nul" would pass for
 * null. Before reporting a wrong type, make sure the literal is whole, so
 * that text which is not JSON at all is a syntax error, as for jansson. */
static bool broken_literal(const json_reader *r, jr_type t)
{
    const char *word = t == JR_NULL ? "null" : t == JR_TRUE ? "true" : t == JR_FALSE ? "false" : NULL;
    if (!word)
        return false;
    size_t n = strlen(word);
    return (size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0;
}

/* Checks common to every reader call: sticky error, a value must start here. */
static int want(json_reader *r, jr_type want_t, const char *want_name)
{
    if (r->status != JR_OK)
        return -1;
    jr_type t = jr_peek(r);
    if (t == JR_END || t == JR_INVALID)
        return syntax(r, r->p, "expected a value");
    if (broken_literal(r, t))
        return syntax(r, r->p, "invalid literal");
    if (t != want_t && !(want_t == JR_TRUE && t == JR_FALSE))
        return fail(r, JR_E_TYPE, r->p, "expected %s, got %s", want_name, type_name(t));
    return 0;
}

int jr_fail_type(json_reader *r, const char *msg)
{
    return fail(r, JR_E_TYPE, r->p, "%s", msg);
}

/* ---- strings ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    int n;
    unsigned v;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07; }
    else return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)))
        return 0;
    if (n == 4 && (v < 0x10000 || v > 0x10FFFF))
        return 0;
    return n;
}

/* Scan the string whose opening quote is at r->p, validating it fully.
 * *raw is its content between the quotes; *esc whether it holds escapes. */
static int scan_string(json_reader *r, jr_slice *raw, bool *esc)
{
    const char *s = r->p + 1, *end = r->end;
    bool has_esc = false;
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    for (;;) {
        while (end - s >= 8) {
            uint64_t x;
            memcpy(&x, s, 8);
            uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
            uint64_t special = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x;
            if (special & high)
                break;
            s += 8;
        }
        if (s >= end)
            return syntax(r, end, "unterminated string");
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(r, JR_E_SYNTAX, s, "control character 0x%02x in string", c);
        if (c == '\\') {
            has_esc = true;
            if (s + 1 >= end)
                return syntax(r, end, "");
            char e = s[1];
            if (e == 'u') {
                long v = hex4(s + 2, end);
                if (v < 0)
                    return fail(r, JR_E_SYNTAX, s, "invalid \\u escape");
                if (v == 0)
                    return fail(r, JR_E_SYNTAX, s, "\\u0000 is not allowed");
                if (v >= 0xDC00 && v <= 0xDFFF)
                    return fail(r, JR_E_SYNTAX, s, "lone low surrogate \\u%04lX", v);
                if (v >= 0xD800 && v <= 0xDBFF) {
                    long lo = (end - s >= 12 && s[6] == '\\' && s[7] == 'u') ? hex4(s + 8, end) : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        if (end - s >= 8 && s[6] == '\\' && s[7] == 'u' && hex4(s + 8, end) < 0)
                            return fail(r, JR_E_SYNTAX, s + 6, "invalid \\u escape");
                        return fail(r, JR_E_SYNTAX, s, "unpaired high surrogate \\u%04lX", v);
                    }
                    s += 12;
                } else {
                    s += 6;
                }
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                       e == 't') {
                s += 2;
            } else {
                return fail(r, JR_E_SYNTAX, s, "invalid escape");
            }
            continue;
        }
        if (c >= 0x80) {
            int n = utf8_len((const unsigned char *)s, (const unsigned char *)end);
            if (!n)
                return fail(r, JR_E_SYNTAX, s, "invalid UTF-8 in string");
            s += n;
            continue;
        }
        s++;
    }
    raw->p = r->p + 1;
    raw->len = (size_t)(s - raw->p);
    *esc = has_esc;
    r->p = s + 1;
    return 0;
}

static size_t put_utf8(char *o, unsigned long v)
{
    if (v < 0x80) { o[0] = (char)v; return 1; }
    if (v < 0x800) { o[0] = (char)(0xC0 | v >> 6); o[1] = (char)(0x80 | (v & 0x3F)); return 2; }
    if (v < 0x10000) {
        o[0] = (char)(0xE0 | v >> 12); o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        o[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | v >> 18); o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((v >> 6) & 0x3F)); o[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

/* Undo the escapes of a string scan_string accepted (the output is never
 * longer than the input). NUL-terminated; returns NULL on OOM. */
static char *unescape(const jr_slice *raw, size_t *outlen)
{
    char *o = mr_malloc(raw->len + 1);
    if (!o)
        return NULL;
    size_t n = 0;
    const char *s = raw->p, *end = raw->p + raw->len;
    while (s < end) {
        if (*s != '\\') {
            o[n++] = *s++;
            continue;
        }
        char e = s[1];
        s += 2;
        switch (e) {
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned long v = (unsigned long)hex4(s, end);
            s += 4;
            if (v >= 0xD800 && v <= 0xDBFF) {
                unsigned long lo = (unsigned long)hex4(s + 2, end);
                s += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(o + n, v);
            break;
        }
        default: o[n++] = e; break; /* " \ / */
        }
    }
    o[n] = 0;
    *outlen = n;
    return o;
}

int jr_read_string(json_reader *r, jr_slice *out, char **owned)
{
    *owned = NULL;
    if (want(r, JR_STRING, "a string"))
        return -1;
    jr_slice raw;
    bool esc;
    if (scan_string(r, &raw, &esc))
        return -1;
    if (!esc) {
        *out = raw;
        return 0;
    }
    size_t n;
    char *u = unescape(&raw, &n);
    if (!u)
        return fail(r, JR_E_NOMEM, raw.p, "out of memory");
    *owned = u;
    out->p = u;
    out->len = n;
    return 0;
}

/* Base64 has no '"', '\\' nor control byte, so its decoder stops exactly at
 * the closing quote of a plain string: no separate scan. */
int jr_read_base64(json_reader *r, void *dst, size_t cap, size_t *nbytes)
{
    if (want(r, JR_STRING, "a string"))
        return -1;
    const char *s = r->p + 1;
    size_t used = 0;
    long n = mr_base64_decode_run(s, (size_t)(r->end - s), dst, cap, &used);
    if (n < 0 || used >= (size_t)(r->end - s) || s[used] != '"')
        return 0;
    r->p = s + used + 1;
    *nbytes = (size_t)n;
    return 1;
}

/* ---- literals and numbers ---- */

static int literal(json_reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return syntax(r, r->p, "invalid literal");
    r->p += n;
    return 0;
}

int jr_read_bool(json_reader *r, bool *v)
{
    if (want(r, JR_TRUE, "a boolean"))
        return -1;
    *v = *r->p == 't';
    return *v ? literal(r, "true", 4) : literal(r, "false", 5);
}

static inline int is_digit(char c) { return (unsigned)(c - '0') < 10u; }

/* Scan a JSON number at r->p: grammar, and jansson's rule that a number
 * rounding beyond the double range is an error. *integral: no '.'/exponent. */
static int scan_number(json_reader *r, bool *integral, long long *ival)
{
    const char *s = r->p, *end = r->end, *start = r->p;
    bool neg = false;
    if (s < end && *s == '-') { neg = true; s++; }
    if (s >= end || !is_digit(*s))
        return syntax(r, s, "invalid number");
    uint64_t m = 0;
    int nsig = 0, exp10 = 0;
    unsigned long long acc = 0;
    bool sat = false;
    if (*s == '0') {
        s++;
        if (s < end && is_digit(*s))
            return fail(r, JR_E_SYNTAX, start, "invalid number (leading zero)");
    } else {
        for (; s < end && is_digit(*s); s++) {
            unsigned d = (unsigned)(*s - '0');
            if (nsig < 19) { m = m * 10 + d; nsig++; } else exp10++;
            if (acc > (9223372036854775807ull - d) / 10) sat = true; else acc = acc * 10 + d;
        }
    }
    *integral = true;
    if (s < end && *s == '.') {
        *integral = false;
        s++;
        if (s >= end || !is_digit(*s))
            return syntax(r, s, "invalid number");
        for (; s < end && is_digit(*s); s++) {
            if (nsig < 19 && (m != 0 || *s != '0')) { m = m * 10 + (uint64_t)(*s - '0'); nsig++; exp10--; }
            else if (nsig < 19) exp10--;
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        *integral = false;
        s++;
        bool eneg = false;
        if (s < end && (*s == '+' || *s == '-')) { eneg = *s == '-'; s++; }
        if (s >= end || !is_digit(*s))
            return syntax(r, s, "invalid number");
        int e = 0;
        for (; s < end && is_digit(*s); s++)
            if (e < 100000) e = e * 10 + (*s - '0');
        exp10 += eneg ? -e : e;
    }
    if (m != 0) {
        int mag = nsig - 1 + exp10;
        bool over = mag > 308;
        if (mag == 308) {
            long double v = (long double)m;
            int k = exp10;
            for (; k >= 27; k -= 27)
                v *= 1e27L; /* exact power: the product errs by 2^-64 per step */
            for (; k > 0; k--)
                v *= 10.0L;
            over = v >= 0x1.fffffffffffff8p1023L; /* halfway DBL_MAX..2^1024 rounds up */
        }
        if (over)
            return fail(r, JR_E_SYNTAX, start, "number out of range");
    }
    if (ival) {
        long long v = sat ? (long long)9223372036854775807ll : (long long)acc;
        *ival = neg ? -v : v;
    }
    r->p = s;
    return 0;
}

int jr_read_int(json_reader *r, long long *v)
{
    if (want(r, JR_NUMBER, "an integer"))
        return -1;
    bool integral;
    const char *at = r->p;
    if (scan_number(r, &integral, v))
        return -1;
    if (!integral) {
        r->p = at;
        return fail(r, JR_E_TYPE, at, "expected an integer");
    }
    return 0;
}

/* ---- containers ---- */

static uint32_t key_hash(const char *p, size_t n, uint32_t obj)
{
    uint32_t h = 2166136261u ^ obj * 0x9E3779B9u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static int keys_grow(json_reader *r)
{
    size_t ncap = r->keys_cap ? r->keys_cap * 2 : 64;
    struct jr_keyent *nk = mr_calloc(ncap, sizeof *nk);
    if (!nk)
        return -1;
    for (size_t i = 0; i < r->keys_cap; i++) {
        struct jr_keyent *e = &r->keys[i];
        if (!e->obj)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (nk[j].obj)
            j = (j + 1) & (ncap - 1);
        nk[j] = *e;
    }
    free(r->keys);
    r->keys = nk;
    r->keys_cap = ncap;
    return 0;
}

/* Remember key k of object obj; 1 if the object already had it. The key
 * memory must outlive the reader (buffer) or be handed over in owned. */
static int key_insert(json_reader *r, uint32_t obj, const char *p, size_t n, char *owned)
{
    if ((r->keys_n + 1) * 2 > r->keys_cap && keys_grow(r))
        return -1;
    uint32_t h = key_hash(p, n, obj);
    size_t j = h & (r->keys_cap - 1);
    while (r->keys[j].obj) {
        struct jr_keyent *e = &r->keys[j];
        if (e->obj == obj && e->hash == h && e->len == n && memcmp(e->p, p, n) == 0)
            return 1;
        j = (j + 1) & (r->keys_cap - 1);
    }
    r->keys[j] = (struct jr_keyent){ obj, h, p, n, owned };
    r->keys_n++;
    return 0;
}

static int push(json_reader *r, bool is_array)
{
    if (r->depth >= JR_MAX_DEPTH)
        return fail(r, JR_E_DEPTH, r->p, "nesting deeper than %d levels", JR_MAX_DEPTH);
    jr_frame *f = &r->frames[r->depth++];
    f->is_array = is_array;
    f->first = true;
    f->index = -1;
    f->key.p = NULL;
    f->key.len = 0;
    f->obj_id = is_array ? 0 : ++r->next_obj;
    r->p++;
    return 0;
}

int jr_object_begin(json_reader *r)
{
    if (want(r, JR_OBJECT, "an object"))
        return -1;
    return push(r, false);
}

int jr_array_begin(json_reader *r)
{
    if (want(r, JR_ARRAY, "an array"))
        return -1;
    return push(r, true);
}

int jr_object_next(json_reader *r, jr_slice *key)
{
    if (r->status != JR_OK)
        return -1;
    if (r->depth == 0 || r->frames[r->depth - 1].is_array)
        return fail(r, JR_E_TYPE, r->p, "not inside an object");
    jr_frame *f = &r->frames[r->depth - 1];
    const char *s = skip_ws(r->p, r->end);
    if (s < r->end && *s == '}') {
        r->p = s + 1;
        r->depth--;
        return 0;
    }
    if (!f->first) {
        if (s >= r->end || *s != ',')
            return syntax(r, s, "expected ',' or '}' in object");
        s = skip_ws(s + 1, r->end);
    }
    if (s >= r->end || *s != '"')
        return syntax(r, s, "expected a string key");
    f->first = false;
    r->p = s;
    jr_slice raw;
    bool esc;
    if (scan_string(r, &raw, &esc))
        return -1;
    f->key = raw;
    *key = raw;
    char *owned = NULL;
    if (esc) {
        size_t n;
        owned = unescape(&raw, &n);
        if (!owned)
            return fail(r, JR_E_NOMEM, raw.p, "out of memory");
        key->p = owned;
        key->len = n;
    }
    int dup = key_insert(r, f->obj_id, key->p, key->len, owned);
    if (dup < 0) {
        free(owned);
        return fail(r, JR_E_NOMEM, raw.p, "out of memory");
    }
    if (dup) {
        free(owned);
        return fail(r, JR_E_DUPKEY, raw.p - 1, "duplicate key \"%.*s\"", (int)(raw.len > 64 ? 64 : raw.len),
                    raw.p);
    }
    s = skip_ws(r->p, r->end);
    if (s >= r->end || *s != ':')
        return syntax(r, s, "expected ':' after key");
    r->p = s + 1;
    return 1;
}

int jr_array_next(json_reader *r)
{
    if (r->status != JR_OK)
        return -1;
    if (r->depth == 0 || !r->frames[r->depth - 1].is_array)
        return fail(r, JR_E_TYPE, r->p, "not inside an array");
    jr_frame *f = &r->frames[r->depth - 1];
    const char *s = skip_ws(r->p, r->end);
    if (s < r->end && *s == ']') {
        r->p = s + 1;
        r->depth--;
        return 0;
    }
    if (!f->first) {
        if (s >= r->end || *s != ',')
            return syntax(r, s, "expected ',' or ']' in array");
        s++;
    }
    f->first = false;
    f->index++;
    r->p = s;
    return 1;
}

int jr_read_float_array(json_reader *r, float *dst, size_t cap, size_t *count, size_t *bad_index)
{
    *count = 0;
    if (want(r, JR_ARRAY, "an array"))
        return -1;
    if (r->depth >= JR_MAX_DEPTH)
        return fail(r, JR_E_DEPTH, r->p, "nesting deeper than %d levels", JR_MAX_DEPTH);
    const char *s = skip_ws(r->p + 1, r->end), *end = r->end;
    size_t n = 0;
    if (s < end && *s == ']') {
        r->p = s + 1;
        return 0;
    }
    for (;;) {
        if (n < cap) {
            /* Common numbers and ", " separators in one tight loop; it stops
             * at anything else, which the code below handles. */
            int after_number;
            n += mr_parse_json_float_run(&s, end, dst + n, cap - n, &after_number);
            if (after_number)
                goto separator;
        }
        float v;
        const char *np;
        mr_num_status st = mr_parse_json_float(s, end, &v, &np);
        if (st != MR_NUM_OK) {
            *bad_index = n;
            *count = n;
            if (st == MR_NUM_RANGE) {
                r->p = s;
                return fail(r, JR_E_RANGE, s, "value %zu is out of the float32 range", n);
            }
            r->p = s;
            jr_type t = jr_peek(r);
            if (broken_literal(r, t))
                return syntax(r, s, "invalid literal");
            if (t != JR_NUMBER && t != JR_END && t != JR_INVALID)
                return fail(r, JR_E_TYPE, s, "value %zu is %s, not a number", n, type_name(t));
            return syntax(r, s, t == JR_NUMBER ? "invalid number" : "expected a value");
        }
        if (n < cap)
            dst[n] = v;
        n++;
        s = np;
    separator:
        if (s < end && *s == ',') {
            s++;
        } else {
            s = skip_ws(s, end);
            if (s < end && *s == ']')
                break;
            if (s >= end || *s != ',') {
                *count = n;
                return syntax(r, s, "expected ',' or ']' in array");
            }
            s++;
        }
        s = skip_ws(s, end);
    }
    r->p = s + 1;
    *count = n;
    return 0;
}

int jr_skip(json_reader *r)
{
    if (r->status != JR_OK)
        return -1;
    int k;
    jr_slice sl;
    bool esc, integral;
    switch (jr_peek(r)) {
    case JR_OBJECT:
        if (jr_object_begin(r))
            return -1;
        while ((k = jr_object_next(r, &sl)) > 0)
            if (jr_skip(r))
                return -1;
        return k;
    case JR_ARRAY:
        if (jr_array_begin(r))
            return -1;
        while ((k = jr_array_next(r)) > 0)
            if (jr_skip(r))
                return -1;
        return k;
    case JR_STRING:
        return scan_string(r, &sl, &esc);
    case JR_NUMBER:
        return scan_number(r, &integral, NULL);
    case JR_TRUE:
        return literal(r, "true", 4);
    case JR_FALSE:
        return literal(r, "false", 5);
    case JR_NULL:
        return literal(r, "null", 4);
    default:
        return syntax(r, r->p, "expected a value");
    }
}

int jr_finish(json_reader *r)
{
    if (r->status != JR_OK)
        return -1;
    r->p = skip_ws(r->p, r->end);
    if (r->p < r->end)
        return fail(r, JR_E_SYNTAX, r->p, "unexpected data after the top-level value");
    return 0;
}

/* Append n bytes of s to buf[*len..cap-1), cut to fit; false when cut. */
static bool path_append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    bool fits = *len + n < cap;
    if (!fits)
        n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
    return fits;
}

/* Written by hand: every base64 vector notes its path, and snprintf was a
 * visible share of parsing a /score body. */
size_t jr_path(const json_reader *r, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    buf[0] = 0;
    for (int i = 0; i < r->depth; i++) {
        const jr_frame *f = &r->frames[i];
        bool fits;
        if (f->is_array) {
            if (f->index < 0)
                break;
            char digits[24], *d = digits + sizeof digits;
            unsigned long v = (unsigned long)f->index;
            *--d = ']';
            do
                *--d = (char)('0' + v % 10);
            while (v /= 10);
            *--d = '[';
            fits = path_append(buf, cap, &n, d, (size_t)(digits + sizeof digits - d));
        } else {
            if (!f->key.p)
                break;
            fits = (n == 0 || path_append(buf, cap, &n, ".", 1)) &&
                   path_append(buf, cap, &n, f->key.p, f->key.len);
        }
        if (!fits)
            return n;
    }
    return n;
}
