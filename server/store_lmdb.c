/* The embedded store: one LMDB environment under state_dir, one unnamed
 * database, key = user id, value = the user's record. Strict durability lets
 * every commit fsync; relaxed opens with MDB_NOSYNC (writes reach the OS at
 * once, so they survive kill -9) and flushes on store->sync. */
#include "server/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/log.h"

typedef struct {
    store base;
    MDB_env *env;
    MDB_dbi dbi;
    char *dir;
} lmdb_store;

static int lmdb_fail(mr_error *e, const char *what, const char *dir, int rc)
{
    return mr_errorf(e, "lmdb %s (%s): %s%s", what, dir, mdb_strerror(rc),
                     rc == MDB_MAP_FULL ? " (the store is full: raise lmdb_map_size or delete users)" : "");
}

static int lmdb_get(store *base, const char *key, size_t klen, uint8_t **val, size_t *vlen, mr_error *e)
{
    lmdb_store *s = (lmdb_store *)base;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(e, "read transaction", s->dir, rc);
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(txn, s->dbi, &k, &v);
    int out = 0;
    if (rc == 0) {
        *val = malloc(v.mv_size ? v.mv_size : 1);
        if (!*val) {
            out = mr_errorf(e, "out of memory reading a user state");
        } else {
            memcpy(*val, v.mv_data, v.mv_size);
            *vlen = v.mv_size;
            out = 1;
        }
    } else if (rc != MDB_NOTFOUND) {
        out = lmdb_fail(e, "get", s->dir, rc);
    }
    mdb_txn_abort(txn);
    return out;
}

/* One transaction for the whole batch: all writes land or none. This process
 * is the only writer of its environment, so expect_version needs no check. */
static int lmdb_commit_all(lmdb_store *s, const store_write *w, size_t n, mr_error *e)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return lmdb_fail(e, "write transaction", s->dir, rc);
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {w[i].klen, (void *)w[i].key};
        if (w[i].val) {
            MDB_val v = {w[i].vlen, (void *)w[i].val};
            rc = mdb_put(txn, s->dbi, &k, &v, 0);
        } else {
            rc = mdb_del(txn, s->dbi, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc) {
            mdb_txn_abort(txn);
            return lmdb_fail(e, "put", s->dir, rc);
        }
    }
    rc = mdb_txn_commit(txn);   /* fsyncs unless MDB_NOSYNC */
    if (rc)
        return lmdb_fail(e, "commit", s->dir, rc);
    return 0;
}

static int lmdb_commit(store *base, const store_write *w, size_t n, int *results, mr_error *e)
{
    int rc = lmdb_commit_all((lmdb_store *)base, w, n, e);
    for (size_t i = 0; i < n; i++)
        results[i] = rc ? STORE_FAILED : STORE_OK;
    return rc;
}

static int lmdb_sync(store *base, mr_error *e)
{
    lmdb_store *s = (lmdb_store *)base;
    int rc = mdb_env_sync(s->env, 1);
    return rc ? lmdb_fail(e, "sync", s->dir, rc) : 0;
}

static uint64_t lmdb_count(store *base)
{
    lmdb_store *s = (lmdb_store *)base;
    MDB_stat st;
    return mdb_env_stat(s->env, &st) == 0 ? st.ms_entries : 0;
}

static void lmdb_close(store *base)
{
    lmdb_store *s = (lmdb_store *)base;
    if (!s)
        return;
    if (s->env) {
        mdb_env_sync(s->env, 1);
        mdb_env_close(s->env);
    }
    free(s->dir);
    free(s);
}

store *store_lmdb_open(const char *dir, int strict, size_t map_size, mr_error *e)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        mr_errorf(e, "state_dir %s: %s", dir, strerror(errno));
        return NULL;
    }
    lmdb_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        mr_errorf(e, "out of memory");
        return NULL;
    }
    s->base = (store){"lmdb", lmdb_get, lmdb_commit, lmdb_sync, lmdb_count, lmdb_close, NULL};
    int rc = mdb_env_create(&s->env);
    if (rc) {
        lmdb_fail(e, "create", dir, rc);
        s->env = NULL;
        lmdb_close(&s->base);
        return NULL;
    }
    /* MDB_NOTLS: read transactions are not tied to the HTTP threads */
    unsigned flags = MDB_NOTLS | (strict ? 0 : MDB_NOSYNC);
    MDB_txn *txn = NULL;
    int dead = 0;
    if ((rc = mdb_env_set_mapsize(s->env, map_size)) || (rc = mdb_env_set_maxreaders(s->env, 256)) ||
        (rc = mdb_env_open(s->env, dir, flags, 0600))) {
        lmdb_fail(e, "open", dir, rc);
        lmdb_close(&s->base);
        return NULL;
    }
    /* slots left by a process that was killed would otherwise pin old pages */
    if ((rc = mdb_reader_check(s->env, &dead)) == 0 && dead > 0)
        log_msg(LOG_INFO, "lmdb: cleared %d stale reader slot(s) in %s", dead, dir);
    if (rc == 0 && (rc = mdb_txn_begin(s->env, NULL, 0, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0)
            mdb_txn_abort(txn);
        else
            rc = mdb_txn_commit(txn);
    }
    if (rc) {
        lmdb_fail(e, "open database", dir, rc);
        lmdb_close(&s->base);
        return NULL;
    }
    return &s->base;
}
