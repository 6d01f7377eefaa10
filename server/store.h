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
} store_write;

typedef struct store store;
struct store {
    const char *name;
    /* 1 found (*val malloc'd), 0 absent, -1 error. Safe from any thread. */
    int (*get)(store *s, const char *key, size_t klen, uint8_t **val, size_t *vlen, mr_error *e);
    /* Apply every write in one atomic transaction, durable as configured
     * (strict: synced before it returns). Called from one thread only. */
    int (*commit)(store *s, const store_write *w, size_t n, mr_error *e);
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
