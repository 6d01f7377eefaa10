/* User-id policy (see user_id.h). */
#include "api/user_id.h"

#include <stdio.h>

static bool allowed(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':' || c == '@' || c == '+' || c == '=';
}

bool api_user_id_valid(const char *s, size_t len, char *why, size_t why_len)
{
    if (len == 0) {
        snprintf(why, why_len, "a user id cannot be empty");
        return false;
    }
    if (len > API_USER_ID_MAX) {
        snprintf(why, why_len, "a user id is at most %d bytes, this one has %zu", API_USER_ID_MAX, len);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if (!allowed((unsigned char)s[i])) {
            snprintf(why, why_len, "a user id may hold only letters, digits and - _ . : @ + = "
                     "(byte %zu is not one of them)", i);
            return false;
        }
    return true;
}
