/* Every allocation of the request path and the model loader goes through
 * these, so that a test can make the Nth one fail (SQLite's out-of-memory
 * discipline) and check that each failure is a clean error with nothing
 * leaked. Without -Dfault_injection=true they are the libc calls. */
#ifndef MICRORM_CORE_ALLOC_H
#define MICRORM_CORE_ALLOC_H

#include <stddef.h>

void *mr_malloc(size_t n);
void *mr_calloc(size_t count, size_t size);
void *mr_realloc(void *p, size_t n);
char *mr_strdup(const char *s);
char *mr_strndup(const char *s, size_t n);

#ifdef MICRORM_FAULT_INJECTION
/* Make the nth allocation from now fail (n >= 1), and every one after it
 * when `sticky`; n = 0 turns injection off. Per thread. */
void mr_alloc_fail_at(long n, int sticky);
/* Allocations attempted since the last mr_alloc_fail_at, and failures injected. */
long mr_alloc_count(void);
long mr_alloc_failures(void);
#endif

#endif
