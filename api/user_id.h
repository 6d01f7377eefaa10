/* The user-id policy, in one place for every endpoint: 1 to 128 bytes of
 * ASCII letters, digits and - _ . : @ + = (so an id is safe in a URL path, a
 * log line, a Redis key and an LMDB key without any escaping). */
#ifndef MICRORM_API_USER_ID_H
#define MICRORM_API_USER_ID_H

#include <stdbool.h>
#include <stddef.h>

#define API_USER_ID_MAX 128

/* True when s[0..len) obeys the policy; otherwise why[] says what is wrong. */
bool api_user_id_valid(const char *s, size_t len, char *why, size_t why_len);

#endif
