/* Where user states live between restarts. One interface, several backends
 * (lmdb: embedded, the default; memory: tests only; redis: shared by
 * replicas). Values are the checksummed records of core/user_state; the store
 * never interprets them. */
#ifndef MICRORM_SERVER_STORE_H
#define MICRORM_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"

typedef struct {
    const char *key;
    size_t klen;
    const uint8_t *val;    /* NULL: delete the key */
    size_t vlen;
    /* Optimistic concurrency for stores shared by several replicas: the
     * version the new record was derived from (0: the user had no state), or
     * -1 to write unconditionally. A single-writer store may ignore it. */
    int64_t expect_version;
    int64_t new_version;   /* version inside the new record (0 for a delete) */
} store_write;

/* An expect_version no stored record has: the write was derived from one that
 * failed, so a store that checks versions must refuse it (STORE_CONFLICT). */
#define STORE_EXPECT_NEVER INT64_MAX

/* Per-write outcome of a commit. */
enum { STORE_OK = 0, STORE_CONFLICT = 1, STORE_FAILED = -1 };

typedef struct store store;
struct store {
    const char *name;
    /* 1 found (*val malloc'd), 0 absent, -1 error. Safe from any thread. */
    int (*get)(store *s, const char *key, size_t klen, uint8_t **val, size_t *vlen, mr_error *e);
    /* Apply the writes, durable as configured (strict: synced before it
     * returns), and set results[i] to STORE_OK, STORE_CONFLICT (the stored
     * version is not w[i].expect_version: nothing written for that key) or
     * STORE_FAILED. Writes of one key apply in order, and once one of them
     * is refused the later ones are too. Returns 0 when no write FAILED (a
     * conflict is an expected outcome, not an error), else -1 with e set.
     * Called from one thread only. */
    int (*commit)(store *s, const store_write *w, size_t n, int *results, mr_error *e);
    /* Flush what relaxed durability left unsynced. */
    int (*sync)(store *s, mr_error *e);
    /* Number of keys stored. */
    uint64_t (*count)(store *s);
    void (*close)(store *s);
    /* Optional (NULL: always). 0 while the store cannot be reached (/readyz
     * is then 503). Safe from any thread, never blocks. */
    int (*healthy)(store *s);
};

/* Open the backend cfg->store names ("lmdb", "memory", "redis://..."). */
store *store_open(const mr_config *cfg, mr_error *e);
int store_healthy(store *s);

store *store_lmdb_open(const char *dir, int strict, size_t map_size, mr_error *e);
store *store_memory_open(mr_error *e);
/* url: redis://[[user]:password@]host[:port][/db]. Connects in the background (reconnecting
 * with backoff); opening fails only on a malformed url or out of memory. */
store *store_redis_open(const char *url, mr_error *e);

#endif
