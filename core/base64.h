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

#endif
