/* Standard base64 (RFC 4648 §4, '=' padding) decoding, strict: any character
 * outside the alphabet, bad padding or a bad length is an error. */
#ifndef MICRORM_CORE_BASE64_H
#define MICRORM_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes the decoded form of a base64 text of `len` chars takes (upper bound). */
size_t mr_base64_decoded_max(size_t len);

/* Decode src[0..len) into dst (room for mr_base64_decoded_max(len) bytes).
 * Returns the decoded length, or -1 with *bad_at set to the offending offset. */
long mr_base64_decode(const char *src, size_t len, uint8_t *dst, size_t *bad_at);

/* Decode the base64 text at src that ends at the first byte outside the
 * alphabet and '=' (for a JSON string: its closing quote) or at src + avail,
 * into dst (at most cap bytes): one pass that finds the end as it decodes.
 * Returns the decoded length with *used = the text's length, or -1 when the
 * text is not clean strict base64 of at most cap bytes (a stray byte inside
 * a quantum, bad padding, non-zero padding bits, too long): the caller then
 * finds the text's end itself and calls mr_base64_decode for the error. */
long mr_base64_decode_run(const char *src, size_t avail, uint8_t *dst, size_t cap, size_t *used);

/* The same with a chosen decoder, so that tests can compare them all:
 * MR_B64_AUTO picks the widest the CPU has; a level the CPU lacks (see
 * mr_base64_level_supported) must not be asked for. */
enum { MR_B64_SCALAR = 0, MR_B64_SSSE3 = 1, MR_B64_AVX2 = 2, MR_B64_AUTO = 3 };
int mr_base64_level_supported(int level);
long mr_base64_decode_with(int level, const char *src, size_t len, uint8_t *dst, size_t *bad_at);
long mr_base64_decode_run_with(int level, const char *src, size_t avail, uint8_t *dst, size_t cap, size_t *used);

#endif
