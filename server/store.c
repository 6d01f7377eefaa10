/* Backend choice from the configuration. */
#include "server/store.h"

#include <string.h>

store *store_open(const mr_config *cfg, mr_error *e)
{
    int strict = strcmp(cfg->durability, "relaxed") != 0;
    if (!strcmp(cfg->store, "lmdb"))
        return store_lmdb_open(cfg->state_dir, strict, (size_t)cfg->lmdb_map_size, e);
    if (!strcmp(cfg->store, "memory"))
        return store_memory_open(e);
    if (!strncmp(cfg->store, "redis://", 8))
        return store_redis_open(cfg->store, e);
    mr_errorf(e, "store '%s': expected lmdb, memory or redis://host:port[/db]", cfg->store);
    return NULL;
}

int store_healthy(store *s)
{
    return !s->healthy || s->healthy(s);
}
