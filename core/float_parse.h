/* Locale-independent parsing of one JSON number into float32, fast and within
 * 1 ulp of strtof. Grammar is exactly RFC 8259's number (no leading '+', no
 * leading zeros, no "1.", no ".5", no NaN/Infinity). */
#ifndef MICRORM_CORE_FLOAT_PARSE_H
#define MICRORM_CORE_FLOAT_PARSE_H

#include <stddef.h>

typedef enum {
    MR_NUM_OK = 0,
    MR_NUM_SYNTAX,     /* not a JSON number at p */
    MR_NUM_RANGE,      /* a JSON number whose magnitude exceeds FLT_MAX */
} mr_num_status;

/* Parse a JSON number starting at p (end = one past the last readable byte).
 * On MR_NUM_OK / MR_NUM_RANGE, *endp is set past the number. Values below the
 * float32 subnormal range round to (signed) zero, as strtof does. */
mr_num_status mr_parse_json_float(const char *p, const char *end, float *out, const char **endp);

/* The inner loop of a JSON number array, for the common shape only: parse
 * numbers at *pp the fast way (the same values mr_parse_json_float gives),
 * each followed by ',' and optional whitespace, storing at most cap of them
 * in dst. Stops at the first number it does not take (*pp at its start,
 * *after_number = 0) or after a number not followed by ',' (*pp just past
 * the number, *after_number = 1); the caller's general loop goes on from
 * there, with its own error handling. Returns how many were stored. */
size_t mr_parse_json_float_run(const char **pp, const char *end, float *dst, size_t cap, int *after_number);

#endif
