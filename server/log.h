/* Leveled logging to stderr, one line per call, safe from any thread.
 * Strings that come from clients go through log_escape first, so a user id
 * or header can never forge a log line. */
#ifndef MICRORM_SERVER_LOG_H
#define MICRORM_SERVER_LOG_H

#include <stddef.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

/* "error" | "warn" | "info" | "debug"; returns -1 for anything else. */
int log_set_level(const char *name);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy at most out_len-1 bytes of s[0..len) into out, with control bytes,
 * quotes, backslashes and non-ASCII as \xNN; long input is cut with "...". */
const char *log_escape(const char *s, size_t len, char *out, size_t out_len);

#endif
