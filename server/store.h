/* Where user states live between restarts. One interface, several backends
 * (lmdb: embedded, the default; memory: tests only). Values are the
 * checksummed records of core/user_state; the store never interprets them. */
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
     * STORE_FAILED. Returns 0 when every write is OK, else -1 with e set.
     * Called from one thread only. */
    int (*commit)(store *s, const store_write *w, size_t n, int *results, mr_error *e);
    /* Flush what relaxed durability left unsynced. */
    int (*sync)(store *s, mr_error *e);
    /* Number of keys stored. */
    uint64_t (*count)(store *s);
    void (*close)(store *s);
};

/* Open the backend cfg->store names ("lmdb", "memory"). */
store *store_open(const mr_config *cfg, mr_error *e);

store *store_lmdb_open(const char *dir, int strict, size_t map_size, mr_error *e);
store *store_memory_open(mr_error *e);

#endif
