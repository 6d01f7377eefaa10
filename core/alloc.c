/* Allocation wrappers (see alloc.h). The injection counters exist only in
 * fault-injection builds, and are per thread, so production code has no
 * global state here. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef MICRORM_FAULT_INJECTION
static _Thread_local long fail_at, seen, failures;
static _Thread_local int fail_sticky;

void mr_alloc_fail_at(long n, int sticky)
{
    fail_at = n;
    fail_sticky = sticky;
    seen = failures = 0;
}

long mr_alloc_count(void)
{
    return seen;
}

long mr_alloc_failures(void)
{
    return failures;
}

static int should_fail(void)
{
    if (fail_at <= 0)
        return 0;
    seen++;
    if (seen == fail_at || (fail_sticky && seen > fail_at)) {
        failures++;
        return 1;
    }
    return 0;
}
#else
static inline int should_fail(void)
{
    return 0;
}
#endif

void *mr_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *mr_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count, size);
}

void *mr_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *mr_strdup(const char *s)
{
    return should_fail() ? NULL : strdup(s);
}

char *mr_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : strndup(s, n);
}
