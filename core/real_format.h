/* Writing a finite double as a JSON number with 9 significant digits (enough
 * to read back every float exactly), byte for byte what jansson writes with
 * JSON_REAL_PRECISION(9): printf's "%.9g", then ".0" when there is neither a
 * point nor an exponent, and no '+' or leading zeros in the exponent.
 *
 * printf takes ~0.4 us per number and a /score answer has dozens of them.
 * The common range (1e-14 <= |v| < 1e9) is done here in double arithmetic
 * with an exact rounding decision; zeros, the rest of the range and
 * non-finite values go through snprintf. */
#ifndef MICRORM_CORE_REAL_FORMAT_H
#define MICRORM_CORE_REAL_FORMAT_H

#include <stddef.h>

/* Room for any output, terminating zero included. */
#define MR_REAL_FORMAT_MAX 32

/* Write v into out (MR_REAL_FORMAT_MAX bytes), zero-terminated; returns the
 * length. Non-finite values come out as printf writes them ("nan", "inf"),
 * which is not JSON: callers reject them first. */
size_t mr_format_real9(char *out, double v);

#endif
