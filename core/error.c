/* mr_error helpers. */
#include "core/error.h"

#include <stdio.h>

int mr_verrorf(mr_error *e, const char *fmt, va_list ap)
{
    if (e)
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int mr_errorf(mr_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mr_verrorf(e, fmt, ap);
    va_end(ap);
    return -1;
}
