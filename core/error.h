/* A caller-owned error message: every fallible core call fills one on failure,
 * so the message can say which file, tensor or field went wrong. */
#ifndef MICRORM_CORE_ERROR_H
#define MICRORM_CORE_ERROR_H

#include <stdarg.h>

typedef struct {
    char msg[512];
} mr_error;

/* printf into e->msg (truncating); always returns -1 so callers can `return mr_errorf(...)`. */
int mr_errorf(mr_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mr_verrorf(mr_error *e, const char *fmt, va_list ap);

#endif
