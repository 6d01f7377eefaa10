/* Strict base64 decoding for embedding vectors. Bulk quanta go through an
 * SSSE3 or AVX2 decoder when the CPU has one (chosen per call, no global
 * state), then a table-driven scalar loop takes the tail and anything the
 * vector loop stopped at; the error path re-scans the bad quantum to name the
 * exact offset.
 *
 * The vector decoder is the nibble-table scheme described by Wojciech Mula
 * and Daniel Lemire ("Faster Base64 Encoding and Decoding Using AVX2
 * Instructions", 2018): each byte's high and low nibble index two small
 * tables whose AND is non-zero exactly for bytes outside the alphabet; a
 * third table, indexed by the high nibble (moved down by one for '/'),
 * gives the offset from ASCII to the 6-bit value; two multiply-adds pack
 * four 6-bit values into 24 bits and a byte shuffle drops the gaps. */
#include "core/base64.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#else
#define HAVE_X86_SIMD 0
#endif

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

/* ---- vector decoder (x86) ---- */

#if HAVE_X86_SIMD
/* Non-zero bits of lut_lo[c & 15] & lut_hi[c >> 4] mark c outside the
 * alphabet. Bits: 0x01 every low nibble (high nibbles 0, 1, 8-15: nothing
 * valid), 0x02 low nibble not B or F (row 2: only '+' and '/'), 0x04 low
 * nibble A-F (row 3: digits), 0x08 low nibble 0 (rows 4 and 6: '@' and '`'),
 * 0x10 low nibble B-F (rows 5 and 7: past 'Z' and 'z'). */
#define B64_LUT_LO 0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x15, 0x17, 0x17, 0x17, 0x15
#define B64_LUT_HI 0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01
/* ASCII -> sextet offset by high nibble; index 1 is '/' (row 2 minus one). */
#define B64_ROLL 0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0
/* Bytes 2,1,0 of each 32-bit lane: the 24 bits in output order. */
#define B64_PACK 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1

/* 16 chars -> 12 bytes (16 stored); 0 when a char is outside the alphabet. */
__attribute__((target("ssse3"))) static inline int step16(const unsigned char *s, uint8_t *o)
{
    const __m128i lut_lo = _mm_setr_epi8(B64_LUT_LO), lut_hi = _mm_setr_epi8(B64_LUT_HI);
    const __m128i roll = _mm_setr_epi8(B64_ROLL), pack = _mm_setr_epi8(B64_PACK);
    const __m128i nib = _mm_set1_epi8(0x0F);
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i hi = _mm_and_si128(_mm_srli_epi32(v, 4), nib);
    __m128i lo = _mm_and_si128(v, nib);
    __m128i bad = _mm_and_si128(_mm_shuffle_epi8(lut_lo, lo), _mm_shuffle_epi8(lut_hi, hi));
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(bad, _mm_setzero_si128())) != 0xFFFF)
        return 0;
    __m128i idx = _mm_add_epi8(hi, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
    __m128i sx = _mm_add_epi8(v, _mm_shuffle_epi8(roll, idx));
    __m128i w = _mm_maddubs_epi16(sx, _mm_set1_epi32(0x01400140));  /* s0 << 6 | s1 per 16 bits */
    __m128i d = _mm_madd_epi16(w, _mm_set1_epi32(0x00011000));      /* 24 bits per 32 */
    _mm_storeu_si128((__m128i *)(void *)o, _mm_shuffle_epi8(d, pack));
    return 1;
}

/* Full quanta decoded while all valid: 4 at a time, stopping while 6 remain
 * (the 16-byte store must stay within the 3 * nq bytes of output). */
__attribute__((target("ssse3"))) static size_t blocks_ssse3(const unsigned char *s, size_t nq, uint8_t *o)
{
    size_t i = 0;
    for (; nq - i >= 6 && step16(s + 4 * i, o + 3 * i); i += 4)
        ;
    return i;
}

/* The 32-char form: bad-byte bits of v, and its 24 bytes in the low end. */
#define AVX2_CONSTS                                                                                       \
    const __m256i lut_lo = _mm256_setr_epi8(B64_LUT_LO, B64_LUT_LO);                                    \
    const __m256i lut_hi = _mm256_setr_epi8(B64_LUT_HI, B64_LUT_HI);                                    \
    const __m256i nib = _mm256_set1_epi8(0x0F)
__attribute__((target("avx2"))) static inline __m256i bad32(__m256i v, __m256i lut_lo, __m256i lut_hi, __m256i nib)
{
    __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nib);
    return _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, _mm256_and_si256(v, nib)), _mm256_shuffle_epi8(lut_hi, hi));
}

__attribute__((target("avx2"))) static inline void put32(__m256i v, uint8_t *o, __m256i nib)
{
    const __m256i roll = _mm256_setr_epi8(B64_ROLL, B64_ROLL), pack = _mm256_setr_epi8(B64_PACK, B64_PACK);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nib);
    __m256i idx = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(v, _mm256_set1_epi8('/')));
    __m256i sx = _mm256_add_epi8(v, _mm256_shuffle_epi8(roll, idx));
    __m256i w = _mm256_maddubs_epi16(sx, _mm256_set1_epi32(0x01400140));
    __m256i d = _mm256_madd_epi16(w, _mm256_set1_epi32(0x00011000));
    d = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(d, pack), _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7));
    _mm256_storeu_si256((__m256i *)(void *)o, d);
}

/* The same 64, then 32 chars at a time (32 bytes stored 24 bytes apart:
 * 19, then 11 quanta of room), one validity test per 64 chars. */
__attribute__((target("avx2"))) static size_t blocks_avx2(const unsigned char *s, size_t nq, uint8_t *o)
{
    AVX2_CONSTS;
    size_t i = 0;
    for (; i + 19 <= nq; i += 16) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i + 32));
        __m256i bad = _mm256_or_si256(bad32(a, lut_lo, lut_hi, nib), bad32(b, lut_lo, lut_hi, nib));
        if (!_mm256_testz_si256(bad, bad))
            break;
        put32(a, o + 3 * i, nib);
        put32(b, o + 3 * i + 24, nib);
    }
    for (; i + 11 <= nq; i += 8) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i));
        __m256i bad = bad32(a, lut_lo, lut_hi, nib);
        if (!_mm256_testz_si256(bad, bad))
            break;
        put32(a, o + 3 * i, nib);
    }
    for (; nq - i >= 6 && step16(s + 4 * i, o + 3 * i); i += 4)
        ;
    return i;
}
#endif

/* Leading full quanta of s[0..4 nq) decoded into o (room for 3 nq bytes) by
 * the widest vector unit present, up to the first block holding a char
 * outside the alphabet; returns the quanta done (the scalar loops go on). */
static size_t blocks(const unsigned char *s, size_t nq, uint8_t *o, int level)
{
#if HAVE_X86_SIMD
    if (level == MR_B64_AUTO)
        level = __builtin_cpu_supports("avx2") ? MR_B64_AVX2 : __builtin_cpu_supports("ssse3") ? MR_B64_SSSE3
                                                                                           : MR_B64_SCALAR;
    if (level == MR_B64_AVX2 && nq >= 11)
        return blocks_avx2(s, nq, o);
    if (level >= MR_B64_SSSE3 && nq >= 6)
        return blocks_ssse3(s, nq, o);
#else
    (void)s, (void)nq, (void)o, (void)level;
#endif
    return 0;
}

int mr_base64_level_supported(int level)
{
#if HAVE_X86_SIMD
    if (level == MR_B64_AVX2)
        return __builtin_cpu_supports("avx2");
    if (level == MR_B64_SSSE3)
        return __builtin_cpu_supports("ssse3");
#endif
    return level == MR_B64_SCALAR || level == MR_B64_AUTO;
}

/* ---- strict decoding of a whole text ---- */

long mr_base64_decode(const char *src, size_t len, uint8_t *dst, size_t *bad_at)
{
    return mr_base64_decode_with(MR_B64_AUTO, src, len, dst, bad_at);
}

long mr_base64_decode_with(int level, const char *src, size_t len, uint8_t *dst, size_t *bad_at)
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
    size_t i = blocks(s, full, dst, level);
    uint8_t *o = dst + 3 * i;
    s += 4 * i;
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

/* ---- a text that ends where the alphabet ends ---- */

static inline int is_alpha_or_pad(unsigned char c)
{
    return dec[c] != BAD || c == '=';
}

long mr_base64_decode_run(const char *src, size_t avail, uint8_t *dst, size_t cap, size_t *used)
{
    return mr_base64_decode_run_with(MR_B64_AUTO, src, avail, dst, cap, used);
}

long mr_base64_decode_run_with(int level, const char *src, size_t avail, uint8_t *dst, size_t cap, size_t *used)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t lim = avail / 4 < cap / 3 ? avail / 4 : cap / 3; /* whole quanta that fit both */
    size_t i = blocks(s, lim, dst, level);
    for (; i < lim; i++) {
        const unsigned char *q = s + 4 * i;
        uint32_t v = q0[q[0]] | q1[q[1]] | q2[q[2]] | q3[q[3]];
        if (v & BIT24)
            break;
        uint8_t *o = dst + 3 * i; /* v holds the 3 bytes from its low end */
        o[0] = (uint8_t)v;
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)(v >> 16);
    }
    size_t p = 4 * i, n = 3 * i;
    if (p == avail || !is_alpha_or_pad(s[p])) { /* ends on a quantum boundary */
        *used = p;
        return (long)n;
    }
    /* Only a padded last quantum may still end the text cleanly here. */
    if (avail - p < 4 || dec[s[p]] == BAD || dec[s[p + 1]] == BAD)
        return -1;
    unsigned b = dec[s[p + 1]], c = dec[s[p + 2]];
    size_t extra;
    if (s[p + 2] == '=' && s[p + 3] == '=' && !(b & 0x0F))
        extra = 1;
    else if (c != BAD && s[p + 3] == '=' && !(c & 0x03))
        extra = 2;
    else
        return -1; /* bad padding, padding bits, a stray char, or past cap */
    if (n + extra > cap || (p + 4 < avail && is_alpha_or_pad(s[p + 4])))
        return -1;
    uint32_t v = dec[s[p]] << 18 | b << 12 | (extra == 2 ? c : 0) << 6;
    dst[n] = (uint8_t)(v >> 16);
    if (extra == 2)
        dst[n + 1] = (uint8_t)(v >> 8);
    *used = p + 4;
    return (long)(n + extra);
}
