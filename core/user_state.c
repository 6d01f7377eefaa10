/* One user's online routing state (DESIGN §4): the hedge and router update
 * rules, the prequential score taken before each update, the idempotency
 * ring, and the versioned, CRC-checked binary record the stores keep.
 *
 * Storage is float (it is what the stores hold, K or K*(F+1) numbers per
 * user); every computation is in double and every stored value is clamped
 * to a finite range, so that no sequence of finite inputs can produce a NaN
 * or an Inf, whatever tau, eta or the rewards' magnitudes. */
#include "core/user_state.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/adapt.h"
#include "core/alloc.h"
#include "core/mathx.h"
#include "core/score.h"

/* With gamma = 0 nothing bounds a losing head's beta from below; a floor far
 * beyond exp()'s range changes no weight and keeps the float finite. The
 * same for router-mode weights and stored losses. */
#define BETA_FLOOR (-1e30)
#define VALUE_LIMIT 1e30

#define FORMAT_VERSION 1u
#define MAX_BUFFER 65536                     /* the `buffer` setting's bound */
#define MAX_FEATURES (1 << 20)               /* the model's MR_MAX_DIM */
#define MAX_RECORD_FLOATS ((size_t)1 << 28)  /* 1 GiB: a sane record is far smaller */
#define HEADER_BYTES 148                     /* everything up to and including idem_n */
#define IDEM_BYTES 29
#define CRC_BYTES 4

static double clamp_value(double v)
{
    return v > VALUE_LIMIT ? VALUE_LIMIT : v < -VALUE_LIMIT ? -VALUE_LIMIT : v;
}

/* ---- allocation: params (beta, or W then b) and the ring share one block ---- */

static size_t param_floats(mr_adapt_mode mode, int K, int F)
{
    return mode == MR_ADAPT_HEDGE ? (size_t)K : (size_t)K * (size_t)F + (size_t)K;
}

static size_t block_floats(const mr_user_state *st)
{
    return param_floats(st->mode, st->K, st->F) + (size_t)st->buffer * ((size_t)st->F + (size_t)st->K);
}

static void set_views(mr_user_state *st)
{
    float *p = st->params;
    st->beta = st->w = st->b = st->ring_feat = st->ring_loss = NULL;
    if (st->mode == MR_ADAPT_HEDGE) {
        st->beta = p;
        return;
    }
    st->w = p;
    p += (size_t)st->K * (size_t)st->F;
    st->b = p;
    p += st->K;
    st->ring_feat = p;
    p += (size_t)st->buffer * (size_t)st->F;
    st->ring_loss = p;
}

static int alloc_block(mr_user_state *st, mr_error *e)
{
    st->params = mr_calloc(block_floats(st), sizeof(float));
    if (!st->params)
        return mr_errorf(e, "user state: out of memory (%zu floats)", block_floats(st));
    set_views(st);
    return 0;
}

static int check_params(const mr_adapt_params *ap, mr_error *e)
{
    if (ap->mode == MR_ADAPT_HEDGE) {
        if (!(ap->eta >= 0 && ap->eta <= 1e6) || !(ap->gamma >= 0 && ap->gamma <= 1))
            return mr_errorf(e, "user state: hedge needs 0 <= eta and 0 <= gamma <= 1");
        return 0;
    }
    if (ap->mode != MR_ADAPT_ROUTER)
        return mr_errorf(e, "user state: unknown adapt mode %d", (int)ap->mode);
    if (ap->buffer < 1 || ap->buffer > MAX_BUFFER)
        return mr_errorf(e, "user state: buffer %d must be between 1 and %d", ap->buffer, MAX_BUFFER);
    if (ap->epochs < 0 || !(ap->lr >= 0 && ap->lr <= 1e6) || !(ap->tau > 0))
        return mr_errorf(e, "user state: router mode needs epochs >= 0, lr >= 0, tau > 0");
    return 0;
}

int mr_user_init(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, mr_error *e)
{
    memset(st, 0, sizeof *st);
    if (check_params(ap, e))
        return -1;
    st->mode = ap->mode;
    st->K = m->K;
    st->F = mr_router_features(m);
    st->buffer = ap->mode == MR_ADAPT_ROUTER ? ap->buffer : 0;
    memcpy(st->fingerprint, m->fingerprint, sizeof st->fingerprint);
    st->fingerprint[MR_FINGERPRINT_HEX] = '\0';
    if (alloc_block(st, e)) {
        memset(st, 0, sizeof *st);
        return -1;
    }
    if (st->mode == MR_ADAPT_ROUTER) {
        memcpy(st->w, m->r_w, (size_t)st->K * (size_t)st->F * sizeof(float));
        memcpy(st->b, m->r_b, (size_t)st->K * sizeof(float));
    }
    return 0;
}

void mr_user_free(mr_user_state *st)
{
    if (!st)
        return;
    free(st->params);
    memset(st, 0, sizeof *st);
}

int mr_user_copy(mr_user_state *dst, const mr_user_state *src, mr_error *e)
{
    *dst = *src;
    if (alloc_block(dst, e)) {
        memset(dst, 0, sizeof *dst);
        return -1;
    }
    memcpy(dst->params, src->params, block_floats(src) * sizeof(float));
    return 0;
}

bool mr_user_matches(const mr_user_state *st, const mr_model *m, const mr_adapt_params *ap)
{
    /* A changed `buffer` setting does not reset a router-mode user: the state
     * keeps the ring capacity it was created with. */
    return st->params && st->mode == ap->mode && st->K == m->K && st->F == mr_router_features(m) &&
           strcmp(st->fingerprint, m->fingerprint) == 0;
}

/* ---- weights ---- */

void mr_user_weights(const mr_user_state *st, const mr_model *m, const float *feat, double *pi)
{
    if (st->mode == MR_ADAPT_HEDGE)
        mr_router_weights(m, feat, NULL, NULL, st->beta, pi);
    else
        mr_router_weights(m, feat, st->w, st->b, NULL, pi);
}

void mr_user_weights_pop(const mr_user_state *st, const mr_model *m, const double *pop, double *pi)
{
    mr_router_weights_from_logits(m, pop, st->beta, pi);
}

void mr_user_prior(const mr_user_state *st, const mr_model *m, double *pi)
{
    double x[MR_MAX_HEADS];
    const float *v = st->mode == MR_ADAPT_HEDGE ? st->beta : st->b;
    for (int k = 0; k < st->K; k++)
        x[k] = v[k];
    mr_softmax(x, m->mask, (size_t)st->K, pi);
}

/* A router-mode user's logits g = W f + b in double (its gradient steps
 * are small next to float rounding); finite for finite inputs. */
static void logits(const mr_model *m, const float *w, const float *b, const float *feat, int F, double *g)
{
    for (int k = 0; k < m->K; k++) {
        const float *row = w + (size_t)k * F;
        double s = b[k];
        for (int j = 0; j < F; j++)
            s += (double)row[j] * (double)feat[j];
        g[k] = s;
    }
}

/* log softmax over unmasked heads; masked heads get -INFINITY. Unmasked
 * entries are finite ((g - max) - log sum of finite numbers), never log(0). */
static void log_softmax(const double *g, const unsigned char *mask, int K, double *lp)
{
    mr_log_softmax(g, mask, (size_t)K, lp);
}

/* log pi of the user at a context: from its router features, or (hedge)
 * from the population router's logits there, pop (NULL: from feat). Hedge
 * takes the population logits from mr_router_logits either way, so an
 * update from kept logits is bit for bit the update from the features. */
static void user_log_pi(const mr_user_state *st, const mr_model *m, const float *feat, const double *pop,
                        double *lp)
{
    double g[MR_MAX_HEADS];
    if (st->mode == MR_ADAPT_HEDGE) {
        double own[MR_MAX_HEADS];
        if (!pop) {
            mr_router_logits(m, feat, NULL, NULL, own);
            pop = own;
        }
        for (int k = 0; k < st->K; k++)
            g[k] = pop[k] + st->beta[k];
    } else {
        logits(m, st->w, st->b, feat, st->F, g);
    }
    log_softmax(g, m->mask, st->K, lp);
}

/* p = sum_k pi_k sigmoid(s_k) as exp(logsumexp(log pi_k + logsigmoid(s_k))). */
static void prequential(const double *lp, const double *s, const unsigned char *mask, int K, mr_before *out)
{
    double x[MR_MAX_HEADS];
    for (int k = 0; k < K; k++)
        x[k] = mask[k] ? -INFINITY : lp[k] + mr_logsigmoid(s[k]);
    double lse = mr_logsumexp(x, mask, (size_t)K);
    if (lse > 0)
        lse = 0;   /* rounding: a probability is at most 1 */
    out->logloss = -lse;
    out->p_chosen = exp(lse);
    out->correct = out->p_chosen > 0.5;
}

/* ---- updates ---- */

static void hedge_step(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, const double *L)
{
    const int K = st->K;
    const unsigned char *mask = m->mask;
    double nb[MR_MAX_HEADS], mx = -INFINITY;
    int n_open = 0;
    for (int k = 0; k < K; k++) {
        if (mask[k])
            continue;
        nb[k] = (double)st->beta[k] - ap->eta * L[k];
        if (nb[k] > mx)
            mx = nb[k];
        n_open++;
    }
    if (n_open == 0)
        return;
    for (int k = 0; k < K; k++)
        if (!mask[k])
            nb[k] -= mx;
    if (ap->gamma > 0) {
        /* fixed share: every head keeps at least gamma/K of the mass, so a
         * user whose taste drifts can come back to a head it had left */
        double lse = mr_logsumexp(nb, mask, (size_t)K);
        for (int k = 0; k < K; k++)
            if (!mask[k])
                nb[k] = log((1.0 - ap->gamma) * exp(nb[k] - lse) + ap->gamma / n_open);
    }
    for (int k = 0; k < K; k++)
        st->beta[k] = mask[k] ? 0.0f : (float)(nb[k] < BETA_FLOOR ? BETA_FLOOR : nb[k]);
}

/* Append to the ring, take the Hedge target of every ring example from the
 * current weights (held fixed for this feedback, as the offline stage holds
 * it for an epoch), then `epochs` full-batch gradient steps on the mean
 * cross-entropy. Scratch (omega [n*K], dW [K*F], db [K]) comes from the caller. */
static void router_step(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, const float *feat,
                        const double *L, double *omega, double *dW, double *db)
{
    const int K = st->K, F = st->F, B = st->buffer;
    const unsigned char *mask = m->mask;
    int slot = st->ring_head;
    memcpy(st->ring_feat + (size_t)slot * F, feat, (size_t)F * sizeof(float));
    for (int k = 0; k < K; k++)
        st->ring_loss[(size_t)slot * K + k] = (float)clamp_value(L[k]);
    st->ring_head = (slot + 1) % B;
    if (st->ring_n < B)
        st->ring_n++;

    /* oldest first, so a state restored from its record (which stores the
     * ring in that order) sums in the same order and updates identically */
    const int n = st->ring_n, start = (st->ring_head - n + B) % B;
    double lp[MR_MAX_HEADS], Lk[MR_MAX_HEADS], g[MR_MAX_HEADS], dg[MR_MAX_HEADS];
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)((start + i) % B);
        user_log_pi(st, m, st->ring_feat + r * F, NULL, lp);
        for (int k = 0; k < K; k++)
            Lk[k] = st->ring_loss[r * K + k];
        mr_hedge_target(lp, Lk, K, ap->tau, omega + (size_t)i * K);
    }

    for (int ep = 0; ep < ap->epochs; ep++) {
        memset(dW, 0, (size_t)K * F * sizeof(double));
        memset(db, 0, (size_t)K * sizeof(double));
        for (int i = 0; i < n; i++) {
            const float *f = st->ring_feat + (size_t)((start + i) % B) * F;
            logits(m, st->w, st->b, f, F, g);
            mr_route_ce(g, omega + (size_t)i * K, mask, K, dg);
            for (int k = 0; k < K; k++) {
                if (dg[k] == 0.0)
                    continue;   /* masked heads, and heads already on target */
                double *row = dW + (size_t)k * F;
                for (int j = 0; j < F; j++)
                    row[j] += dg[k] * (double)f[j];
                db[k] += dg[k];
            }
        }
        double step = ap->lr / n;
        for (int k = 0; k < K; k++) {
            if (mask[k])
                continue;
            float *row = st->w + (size_t)k * F;
            for (int j = 0; j < F; j++)
                row[j] = (float)clamp_value((double)row[j] - step * dW[(size_t)k * F + j]);
            st->b[k] = (float)clamp_value((double)st->b[k] - step * db[k]);
        }
    }
}

/* The update from features (feat) or, for a hedge state, from the
 * population logits (pop, feat NULL). */
static int update(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, const float *feat,
                  const double *pop, const float *hc, const float *hr, mr_before *before, mr_error *e)
{
    if (!feat && st->mode != MR_ADAPT_HEDGE)
        return mr_errorf(e, "user state: a router-mode update needs the router features");
    if (st->mode != ap->mode || st->K != m->K || st->F != mr_router_features(m) || !st->params)
        return mr_errorf(e, "user state: does not match the model or the adapt mode (reset it first)");
    if (check_params(ap, e))
        return -1;
    const int K = st->K;
    double *scratch = NULL;
    if (st->mode == MR_ADAPT_ROUTER) {
        /* allocated before anything changes: a failure leaves the state as it was */
        size_t n = (size_t)(st->ring_n < st->buffer ? st->ring_n + 1 : st->buffer);
        scratch = mr_malloc((n * K + (size_t)K * st->F + (size_t)K) * sizeof(double));
        if (!scratch)
            return mr_errorf(e, "user state: out of memory for a router update");
    }

    double s[MR_MAX_HEADS], L[MR_MAX_HEADS], lp[MR_MAX_HEADS];
    for (int k = 0; k < K; k++) {
        s[k] = (double)hc[k] - (double)hr[k];
        L[k] = -mr_logsigmoid(s[k]);
    }
    mr_before bf;
    user_log_pi(st, m, feat, pop, lp);
    prequential(lp, s, m->mask, K, &bf);

    if (st->mode == MR_ADAPT_HEDGE) {
        hedge_step(st, m, ap, L);
    } else {
        size_t n = (size_t)(st->ring_n < st->buffer ? st->ring_n + 1 : st->buffer);
        double *omega = scratch, *dW = omega + n * K, *db = dW + (size_t)K * st->F;
        router_step(st, m, ap, feat, L, omega, dW, db);
        free(scratch);
    }
    /* saturating: a record may hold any counts its format allows (the
     * deserializer accepts scored = 2^64 - 1), and one more feedback must not
     * wrap them into a state that no longer reads back (correct > scored) */
    if (st->updates != UINT64_MAX)
        st->updates++;
    if (st->scored != UINT64_MAX) {
        st->scored++;
        st->correct += bf.correct;
    }
    st->logloss_sum = fmin(st->logloss_sum + bf.logloss, DBL_MAX);
    if (before)
        *before = bf;
    return 0;
}

int mr_user_update(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, const float *feat,
                   const float *hc, const float *hr, mr_before *before, mr_error *e)
{
    return update(st, m, ap, feat, NULL, hc, hr, before, e);
}

int mr_user_update_pop(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, const double *pop,
                       const float *hc, const float *hr, mr_before *before, mr_error *e)
{
    return update(st, m, ap, NULL, pop, hc, hr, before, e);
}

/* ---- idempotency ---- */

uint64_t mr_idem_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;   /* 0 marks an empty slot */
}

const mr_idem_entry *mr_user_find_key(const mr_user_state *st, uint64_t key_hash)
{
    if (key_hash == 0)
        return NULL;
    for (int i = 0; i < st->idem_n; i++)
        if (st->idem[i].key_hash == key_hash)
            return &st->idem[i];
    return NULL;
}

void mr_user_remember_key(mr_user_state *st, const mr_idem_entry *entry)
{
    if (entry->key_hash == 0)
        return;
    for (int i = 0; i < st->idem_n; i++)
        if (st->idem[i].key_hash == entry->key_hash) {
            st->idem[i] = *entry;   /* never two slots for one key */
            return;
        }
    st->idem[st->idem_head] = *entry;
    st->idem_head = (st->idem_head + 1) % MR_IDEM_KEYS;
    if (st->idem_n < MR_IDEM_KEYS)
        st->idem_n++;
}

/* ---- binary form ----
 *
 * All little-endian, field by field:
 *   "MRUS" u32 format(1) u32 mode u32 K u32 F u32 buffer
 *   u64 version u64 updates u64 scored u64 correct f64 logloss_sum
 *   i64 created_ms i64 updated_ms  char[64] fingerprint (NUL padded)
 *   u32 idem_n, then idem_n x {u64 key_hash u64 version u64 updates f32 p_chosen u8 correct}, oldest first
 *   f32 params [K] (hedge) or [K*F + K] (router: W row-major, then b)
 *   u32 ring_n, then ring_n x {f32 feat[F], f32 L[K]}, oldest first (0 for hedge)
 *   u32 CRC-32 (zlib) of every byte before it. */

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

static uint8_t *put_f32(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    return put_u32(p, v);
}

static uint8_t *put_f64(uint8_t *p, double f)
{
    uint64_t v;
    memcpy(&v, &f, sizeof v);
    return put_u64(p, v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static float get_f32(const uint8_t *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static double get_f64(const uint8_t *p)
{
    uint64_t v = get_u64(p);
    double f;
    memcpy(&f, &v, sizeof f);
    return f;
}

size_t mr_user_serialized_size(const mr_user_state *st)
{
    int ring_n = st->mode == MR_ADAPT_ROUTER ? st->ring_n : 0;
    return HEADER_BYTES + (size_t)st->idem_n * IDEM_BYTES + 4 * param_floats(st->mode, st->K, st->F) + 4 +
           (size_t)ring_n * 4 * ((size_t)st->F + (size_t)st->K) + CRC_BYTES;
}

void mr_user_serialize(const mr_user_state *st, uint8_t *buf)
{
    uint8_t *p = buf;
    memcpy(p, "MRUS", 4);
    p += 4;
    p = put_u32(p, FORMAT_VERSION);
    p = put_u32(p, (uint32_t)st->mode);
    p = put_u32(p, (uint32_t)st->K);
    p = put_u32(p, (uint32_t)st->F);
    p = put_u32(p, (uint32_t)st->buffer);
    p = put_u64(p, st->version);
    p = put_u64(p, st->updates);
    p = put_u64(p, st->scored);
    p = put_u64(p, st->correct);
    p = put_f64(p, st->logloss_sum);
    p = put_u64(p, (uint64_t)st->created_ms);
    p = put_u64(p, (uint64_t)st->updated_ms);
    memset(p, 0, MR_FINGERPRINT_HEX);
    memcpy(p, st->fingerprint, strnlen(st->fingerprint, MR_FINGERPRINT_HEX));
    p += MR_FINGERPRINT_HEX;
    p = put_u32(p, (uint32_t)st->idem_n);
    int first = (st->idem_head - st->idem_n + MR_IDEM_KEYS) % MR_IDEM_KEYS;
    for (int i = 0; i < st->idem_n; i++) {
        const mr_idem_entry *en = &st->idem[(first + i) % MR_IDEM_KEYS];
        p = put_u64(p, en->key_hash);
        p = put_u64(p, en->version);
        p = put_u64(p, en->updates);
        p = put_f32(p, en->p_chosen);
        *p++ = en->correct ? 1 : 0;
    }
    size_t np = param_floats(st->mode, st->K, st->F);
    for (size_t i = 0; i < np; i++)
        p = put_f32(p, st->params[i]);
    if (st->mode == MR_ADAPT_ROUTER) {
        p = put_u32(p, (uint32_t)st->ring_n);
        int B = st->buffer, start = (st->ring_head - st->ring_n + B) % B;
        for (int i = 0; i < st->ring_n; i++) {
            size_t r = (size_t)((start + i) % B);
            for (int j = 0; j < st->F; j++)
                p = put_f32(p, st->ring_feat[r * st->F + j]);
            for (int k = 0; k < st->K; k++)
                p = put_f32(p, st->ring_loss[r * st->K + k]);
        }
    } else {
        p = put_u32(p, 0);
    }
    uLong crc = crc32_z(0L, buf, (z_size_t)(p - buf));
    put_u32(p, (uint32_t)crc);
}

/* Reads n finite floats at p into out. */
static int get_floats(const uint8_t *p, size_t n, float *out, const char *what, mr_error *e)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = get_f32(p + 4 * i);
        if (!isfinite(out[i]))
            return mr_errorf(e, "user state: %s holds a non-finite value", what);
    }
    return 0;
}

static int parse(mr_user_state *st, const uint8_t *buf, size_t len, mr_error *e)
{
    const uint8_t *p = buf + 8;
    const size_t body = len - CRC_BYTES;   /* the CRC has been checked: bytes up to body are the writer's */
    uint32_t mode = get_u32(p), K = get_u32(p + 4), F = get_u32(p + 8), buffer = get_u32(p + 12);
    p += 16;
    if (mode != MR_ADAPT_HEDGE && mode != MR_ADAPT_ROUTER)
        return mr_errorf(e, "user state: unknown adapt mode %u", (unsigned)mode);
    if (K < 1 || K > MR_MAX_HEADS)
        return mr_errorf(e, "user state: K=%u heads is out of range (1..%d)", (unsigned)K, MR_MAX_HEADS);
    if (F < 1 || F > MAX_FEATURES)
        return mr_errorf(e, "user state: F=%u router features is out of range (1..%d)", (unsigned)F, MAX_FEATURES);
    if (mode == MR_ADAPT_HEDGE ? buffer != 0 : (buffer < 1 || buffer > MAX_BUFFER))
        return mr_errorf(e, "user state: ring capacity %u is not valid for mode %s", (unsigned)buffer,
                         mode == MR_ADAPT_HEDGE ? "hedge" : "router");
    st->mode = (mr_adapt_mode)mode;
    st->K = (int)K;
    st->F = (int)F;
    st->buffer = (int)buffer;
    if (block_floats(st) > MAX_RECORD_FLOATS)
        return mr_errorf(e, "user state: a state of %zu floats is too large", block_floats(st));

    st->version = get_u64(p);
    st->updates = get_u64(p + 8);
    st->scored = get_u64(p + 16);
    st->correct = get_u64(p + 24);
    st->logloss_sum = get_f64(p + 32);
    st->created_ms = (int64_t)get_u64(p + 40);
    st->updated_ms = (int64_t)get_u64(p + 48);
    p += 56;
    if (st->correct > st->scored || !isfinite(st->logloss_sum) || st->logloss_sum < 0)
        return mr_errorf(e, "user state: inconsistent prequential counters");
    int fl = 0;
    while (fl < MR_FINGERPRINT_HEX && p[fl] != 0) {
        if (!((p[fl] >= '0' && p[fl] <= '9') || (p[fl] >= 'a' && p[fl] <= 'f')))
            return mr_errorf(e, "user state: the model fingerprint is not lowercase hex");
        fl++;
    }
    for (int i = fl; i < MR_FINGERPRINT_HEX; i++)
        if (p[i] != 0)
            return mr_errorf(e, "user state: the model fingerprint has bytes after its end");
    memcpy(st->fingerprint, p, (size_t)fl);
    st->fingerprint[fl] = '\0';
    p += MR_FINGERPRINT_HEX;

    uint32_t idem_n = get_u32(p);
    p += 4;
    if (idem_n > MR_IDEM_KEYS)
        return mr_errorf(e, "user state: %u idempotency keys (at most %d)", (unsigned)idem_n, MR_IDEM_KEYS);
    /* every length is checked against the record before anything is allocated */
    size_t np = param_floats(st->mode, st->K, st->F);
    const uint8_t *at_params = p + (size_t)idem_n * IDEM_BYTES;
    if ((size_t)(buf + body - p) < (size_t)idem_n * IDEM_BYTES + 4 * np + 4)
        return mr_errorf(e, "user state: record of %zu bytes is too short for K=%u F=%u", len, (unsigned)K,
                         (unsigned)F);
    uint32_t ring_n = get_u32(at_params + 4 * np);
    if (ring_n > buffer)
        return mr_errorf(e, "user state: ring holds %u examples but its capacity is %u", (unsigned)ring_n,
                         (unsigned)buffer);
    const uint8_t *at_ring = at_params + 4 * np + 4;
    size_t ring_bytes = (size_t)ring_n * 4 * ((size_t)F + (size_t)K);
    if ((size_t)(buf + body - at_ring) != ring_bytes)
        return mr_errorf(e, "user state: record length %zu does not match its contents (%zu expected)", len,
                         (size_t)(at_ring - buf) + ring_bytes + CRC_BYTES);

    for (uint32_t i = 0; i < idem_n; i++) {
        mr_idem_entry *en = &st->idem[i];
        en->key_hash = get_u64(p);
        en->version = get_u64(p + 8);
        en->updates = get_u64(p + 16);
        en->p_chosen = get_f32(p + 24);
        en->correct = p[28];
        p += IDEM_BYTES;
        if (en->key_hash == 0 || !(en->p_chosen >= 0 && en->p_chosen <= 1) || en->correct > 1)
            return mr_errorf(e, "user state: idempotency entry %u is malformed", (unsigned)i);
    }
    st->idem_n = (int)idem_n;
    st->idem_head = (int)idem_n % MR_IDEM_KEYS;

    if (alloc_block(st, e))
        return -1;
    if (get_floats(p, np, st->params, "the parameters", e))
        return -1;
    p = at_ring;
    for (uint32_t i = 0; i < ring_n; i++) {
        if (get_floats(p, F, st->ring_feat + (size_t)i * F, "the example ring", e) ||
            get_floats(p + 4 * (size_t)F, K, st->ring_loss + (size_t)i * K, "the example ring", e))
            return -1;
        for (uint32_t k = 0; k < K; k++)
            if (st->ring_loss[(size_t)i * K + k] < 0)
                return mr_errorf(e, "user state: the example ring holds a negative loss");
        p += 4 * ((size_t)F + (size_t)K);
    }
    st->ring_n = (int)ring_n;
    st->ring_head = buffer ? (int)(ring_n % buffer) : 0;
    return 0;
}

int mr_user_deserialize(mr_user_state *st, const uint8_t *buf, size_t len, mr_error *e)
{
    memset(st, 0, sizeof *st);
    if (len < HEADER_BYTES + 4 + CRC_BYTES)
        return mr_errorf(e, "user state: record of %zu bytes is truncated (at least %d)", len,
                         HEADER_BYTES + 4 + CRC_BYTES);
    if (memcmp(buf, "MRUS", 4) != 0)
        return mr_errorf(e, "user state: bad magic (not a microrm user state)");
    /* the version decides how the rest reads, so it comes before the CRC: a
     * newer record says so rather than "checksum mismatch" */
    uint32_t ver = get_u32(buf + 4);
    if (ver != FORMAT_VERSION)
        return mr_errorf(e, "user state: format version %u is not supported (this build reads %u)", (unsigned)ver,
                         FORMAT_VERSION);
    uint32_t want = get_u32(buf + len - CRC_BYTES);
    uint32_t got = (uint32_t)crc32_z(0L, buf, (z_size_t)(len - CRC_BYTES));
    if (want != got)
        return mr_errorf(e, "user state: checksum mismatch (record of %zu bytes is corrupt or truncated)", len);
    if (parse(st, buf, len, e)) {
        mr_user_free(st);
        return -1;
    }
    return 0;
}
