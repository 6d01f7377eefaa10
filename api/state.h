/* What a handler may ask of the server's per-user state and of its event
 * memory. api/ defines the interface, server/ implements it (cache, locks,
 * stores, group commit); handlers never see a lock or a store. */
#ifndef MICRORM_API_STATE_H
#define MICRORM_API_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/errors.h"
#include "core/model.h"
#include "core/user_state.h"

/* A staged write, durable once the server's committer says so; the server
 * holds the answer until then (and answers 503 instead if it fails). */
typedef struct api_commit api_commit;

/* Run on the user's state under the user's lock, on a private copy: return 0
 * to keep the changed copy (it is staged for commit), 1 to keep the state as
 * it was and commit nothing (an idempotent retry), -1 to fail with err. */
typedef int (*api_user_fn)(mr_user_state *st, void *arg, api_error *err);

/* What the server kept of one scoring, for feedback by event id. A hedge
 * update needs only the population router's K logits at the context, where a
 * router-mode one needs the router features (for a linear router, the whole
 * context: 12 KB at dc = 3072): the event keeps one or the other. */
typedef struct {
    char id[129];
    char user[129];       /* "" when scored without a user */
    int n, K, F;          /* F = 0 when pop is kept instead of feat */
    float *heads;         /* [n * K] per-head rewards of the responses */
    float *feat;          /* [F] router features of the context, or NULL */
    double *pop;          /* [K] population router logits there (hedge), or NULL */
    char fingerprint[MR_FINGERPRINT_HEX + 1];
} api_event;

typedef struct {
    void *impl;
    const mr_adapt_params *adapt;

    /* Copy of the user's state (caller frees with mr_user_free): 1 found,
     * 0 unknown user, -1 error (store unreachable: 503). A state trained
     * against another model counts as unknown. */
    int (*user_get)(void *impl, const char *user, const mr_model *m, mr_user_state *out, api_error *err);

    /* The user's mixture weights pi[K] at router features feat, computed
     * under the user's lock without copying the state: 1 known (version and
     * updates set), 0 unknown (pi left alone), -1 error. */
    int (*user_weights)(void *impl, const char *user, const mr_model *m, const float *feat, double *pi,
                        uint64_t *version, uint64_t *updates, api_error *err);

    /* Apply fn to the user's state (created at the prior when absent, reset
     * when from another model). On 0, *commit (may be NULL if fn returned 1)
     * is the write to wait for. */
    int (*user_update)(void *impl, const char *user, const mr_model *m, api_user_fn fn, void *arg,
                       api_commit **commit, api_error *err);

    /* Forget the user: 1 deleted (*commit to wait for), 0 unknown, -1 error. */
    int (*user_delete)(void *impl, const char *user, api_commit **commit, api_error *err);

    /* Keep an event (copied) for event_ttl within event_memory. 0 or -1. */
    int (*event_put)(void *impl, const api_event *ev, api_error *err);

    /* Copy of a kept event (caller frees heads, feat and pop): 1 found, 0
     * unknown or expired, -1 out of memory. */
    int (*event_get)(void *impl, const char *id, api_event *out);

    /* A fresh event id (for /score answers without a caller's one). */
    void (*event_new_id)(void *impl, char *out, size_t cap);
} api_state;

#endif
