/* Strict base64 decoding for embedding vectors: one table lookup per char and
 * a single validity test per 4-char quantum keep it near memory speed; the
 * error path re-scans the bad quantum to name the exact offset. */
#include "core/base64.h"

#include <string.h>

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

/* The same sextets pre-shifted into their place in the 3 output bytes (as a
 * little-endian word), one table per position in the quantum, so a quantum
 * decodes with 4 loads and 3 ORs; BIT24 marks a character outside the
 * alphabet and survives the ORs. */
#define BIT24 0x01000000u
#define S(c) ((uint32_t)dec_sextet(c))
#define Q0(c) (S(c) == BAD ? BIT24 : S(c) << 2)
#define Q1(c) (S(c) == BAD ? BIT24 : (S(c) >> 4) | (S(c) & 0x0Fu) << 12)
#define Q2(c) (S(c) == BAD ? BIT24 : (S(c) >> 2) << 8 | (S(c) & 0x03u) << 22)
#define Q3(c) (S(c) == BAD ? BIT24 : S(c) << 16)
#define dec_sextet(c)                                                                               \
    ((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 : (c) == '+' ? 62 : (c) == '/' ? 63 : BAD)
#define R4(M, b) M(b), M(b + 1), M(b + 2), M(b + 3)
#define R16(M, b) R4(M, b), R4(M, b + 4), R4(M, b + 8), R4(M, b + 12)
#define R64(M, b) R16(M, b), R16(M, b + 16), R16(M, b + 32), R16(M, b + 48)
#define R256(M) R64(M, 0), R64(M, 64), R64(M, 128), R64(M, 192)
static const uint32_t q0[256] = { R256(Q0) }, q1[256] = { R256(Q1) }, q2[256] = { R256(Q2) },
                      q3[256] = { R256(Q3) };

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
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Two quanta per step, each written as a 4-byte store whose 4th byte the
     * next store overwrites: the loop stops while a full quantum still follows. */
    for (; i + 2 < full; i += 2, s += 8, o += 6) {
        uint32_t v = q0[s[0]] | q1[s[1]] | q2[s[2]] | q3[s[3]];
        uint32_t w = q0[s[4]] | q1[s[5]] | q2[s[6]] | q3[s[7]];
        if ((v | w) & BIT24)
            break; /* the byte loop below names the offset */
        memcpy(o, &v, 4);
        memcpy(o + 3, &w, 4);
    }
#endif
    for (; i < full; i++, s += 4, o += 3) {
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
