/* One user's personalisation of the router (DESIGN §4), its update rules,
 * the prequential score of each feedback, idempotency keys, and a versioned,
 * checksummed binary form for the stores.
 *
 *   hedge:  pi_user(u) = softmax(g(u) + beta); on feedback beta -= eta * L,
 *           re-centred (beta -= max beta), then fixed-share mixing gamma.
 *   router: the user owns a copy of the router's output layer (W [K,F], b [K])
 *           and a ring of its last `buffer` examples (features [F], L [K]);
 *           each feedback appends, recomputes the Hedge target omega over the
 *           ring (log space; tau may be 1e-4) and takes `epochs` SGD steps
 *           (rate lr) on -sum_k omega_k log pi_k (gradient pi - omega).
 * with L_k = -log sigmoid(r_k(chosen) - r_k(rejected)). Masked heads keep
 * pi_k = 0 throughout. */
#ifndef MICRORM_CORE_USER_STATE_H
#define MICRORM_CORE_USER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/model.h"

typedef enum { MR_ADAPT_HEDGE = 0, MR_ADAPT_ROUTER = 1 } mr_adapt_mode;

typedef struct {
    mr_adapt_mode mode;
    double eta;     /* hedge learning rate */
    double gamma;   /* hedge fixed-share mixing, 0..1 */
    double lr;      /* router mode SGD rate */
    int epochs;     /* router mode SGD steps per feedback */
    int buffer;     /* router mode ring size */
    double tau;     /* Hedge temperature of the router-mode target */
} mr_adapt_params;

#define MR_IDEM_KEYS 64

/* What an idempotent retry must answer again. */
typedef struct {
    uint64_t key_hash;     /* 64-bit hash of the caller's id (0 = empty slot) */
    uint64_t version;      /* state version after the request was applied */
    uint64_t updates;      /* update count after it */
    float p_chosen;        /* prequential P(chosen > rejected) before it (first feedback of the request) */
    uint8_t correct;       /* p_chosen > 0.5 */
} mr_idem_entry;

/* The prequential verdict on one feedback, computed before it is applied. */
typedef struct {
    double p_chosen;       /* the user's current mixture P(chosen > rejected) */
    bool correct;          /* p_chosen > 0.5 */
    double logloss;        /* -log p_chosen, computed in log space */
} mr_before;

typedef struct {
    mr_adapt_mode mode;
    int K, F;              /* heads, router features (from the model) */
    int buffer;            /* ring capacity (router mode), 0 for hedge */
    uint64_t version;      /* +1 per applied update request */
    uint64_t updates;      /* feedbacks applied */
    uint64_t scored;       /* prequential: feedbacks scored before update */
    uint64_t correct;
    double logloss_sum;
    int64_t created_ms, updated_ms;   /* unix ms; set by the caller */
    char fingerprint[MR_FINGERPRINT_HEX + 1];  /* model the state was trained against */

    mr_idem_entry idem[MR_IDEM_KEYS];  /* ring of recent keys */
    int idem_n, idem_head;

    float *params;         /* one buffer: beta [K] (hedge) or W [K*F], b [K] (router) */
    float *beta;           /* hedge */
    float *w, *b;          /* router */
    float *ring_feat;      /* router: [buffer * F] */
    float *ring_loss;      /* router: [buffer * K] */
    int ring_n, ring_head;
} mr_user_state;

/* A fresh state at the prior for model m: beta = 0, or the model's own
 * output layer. */
int mr_user_init(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, mr_error *e);
void mr_user_free(mr_user_state *st);

/* True when st was trained against m (same fingerprint and shape) and mode. */
bool mr_user_matches(const mr_user_state *st, const mr_model *m, const mr_adapt_params *ap);

/* The user's mixture weights pi[K] for router features feat[F]. */
void mr_user_weights(const mr_user_state *st, const mr_model *m, const float *feat, double *pi);
/* The same for a hedge state from the population router's logits pop[K] at
 * the context (mr_router_logits): bit for bit the weights from feat. */
void mr_user_weights_pop(const mr_user_state *st, const mr_model *m, const double *pop, double *pi);

/* The user's prior weights without a context (hedge: softmax(beta) over
 * unmasked heads; router: softmax(b)), for GET /route/{user}. */
void mr_user_prior(const mr_user_state *st, const mr_model *m, double *pi);

/* Score the feedback (before), then apply it: feat[F] are the router features
 * of the context, hc[K] / hr[K] the head rewards of chosen and rejected.
 * Updates counters (updates, scored, correct, logloss_sum) but not version.
 * Returns 0, or -1 on out-of-memory with the state unchanged. */
int mr_user_update(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap,
                   const float *feat, const float *hc, const float *hr, mr_before *before,
                   mr_error *e);
/* The same for a hedge state from the population router's logits pop[K] at
 * the context (mr_router_logits), which is all hedge needs of it: bit for
 * bit the update from the features. A router-mode state is an error. */
int mr_user_update_pop(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap,
                       const double *pop, const float *hc, const float *hr, mr_before *before,
                       mr_error *e);

/* Idempotency keys. */
uint64_t mr_idem_hash(const char *key, size_t len);   /* never 0 */
const mr_idem_entry *mr_user_find_key(const mr_user_state *st, uint64_t key_hash);
void mr_user_remember_key(mr_user_state *st, const mr_idem_entry *entry);

/* Binary form: magic "MRUS", format version, the fields above, then the
 * params and ring, then a CRC-32 (zlib) of everything before it. */
size_t mr_user_serialized_size(const mr_user_state *st);
/* Writes mr_user_serialized_size(st) bytes into buf. */
void mr_user_serialize(const mr_user_state *st, uint8_t *buf);
/* A record that fails the checksum, the magic, the version or its own
 * lengths is rejected with a message, never misread. */
int mr_user_deserialize(mr_user_state *st, const uint8_t *buf, size_t len, mr_error *e);

/* Deep copy (for copy-on-update: a failed commit leaves the old state). */
int mr_user_copy(mr_user_state *dst, const mr_user_state *src, mr_error *e);

#endif
