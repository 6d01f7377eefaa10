/* Strict base64 decoding for embedding vectors: one table lookup per char and
 * a single validity test per 4-char quantum keep it near memory speed; the
 * error path re-scans the bad quantum to name the exact offset. */
#include "core/base64.h"

#define BAD 0xFF

/* Sextet of each byte; BAD (high bits set) outside the alphabet, '=' included. */
static const uint8_t dec[256] = {
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, 62,  BAD, BAD, BAD, 63,
    52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, 0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,  11,  12,  13,  14,
    15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  BAD, BAD, BAD, BAD, BAD,
    BAD, 26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
    41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51,  BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

size_t mr_base64_decoded_max(size_t len)
{
    return len / 4 * 3;
}

static size_t first_bad(const unsigned char *q, size_t n, size_t base)
{
    for (size_t i = 0; i < n; i++)
        if (dec[q[i]] == BAD)
            return base + i;
    return base + n;
}

long mr_base64_decode(const char *src, size_t len, uint8_t *dst, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t bad = 0;
    if (len % 4 != 0) {
        bad = len; /* length error: reported at the end of the text */
        goto fail;
    }
    if (len == 0)
        return 0;

    size_t full = len / 4 - 1; /* quanta before the last, which may carry padding */
    uint8_t *o = dst;
    for (size_t i = 0; i < full; i++, s += 4, o += 3) {
        unsigned a = dec[s[0]], b = dec[s[1]], c = dec[s[2]], d = dec[s[3]];
        if ((a | b | c | d) & 0xC0) {
            bad = first_bad(s, 4, (size_t)(s - (const unsigned char *)src));
            goto fail;
        }
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
    }

    size_t at = (size_t)(s - (const unsigned char *)src);
    int pad = (s[3] == '=') + (s[3] == '=' && s[2] == '=');
    unsigned a = dec[s[0]], b = dec[s[1]];
    unsigned c = pad >= 2 ? 0 : dec[s[2]];
    unsigned d = pad >= 1 ? 0 : dec[s[3]];
    if ((a | b | c | d) & 0xC0) {
        bad = first_bad(s, (size_t)(4 - pad), at);
        goto fail;
    }
    /* Non-zero bits past the last byte would make two texts decode alike. */
    if (pad == 2 && (b & 0x0F)) {
        bad = at + 1;
        goto fail;
    }
    if (pad == 1 && (c & 0x03)) {
        bad = at + 2;
        goto fail;
    }
    uint32_t v = a << 18 | b << 12 | c << 6 | d;
    o[0] = (uint8_t)(v >> 16);
    if (pad < 2)
        o[1] = (uint8_t)(v >> 8);
    if (pad < 1)
        o[2] = (uint8_t)v;
    return (long)(full * 3 + 3 - (size_t)pad);

fail:
    if (bad_at)
        *bad_at = bad;
    return -1;
}
