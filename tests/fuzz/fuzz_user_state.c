/* libFuzzer: arbitrary bytes through mr_user_deserialize. The first input
 * byte is a control byte: when its low bit is set the record's trailing
 * CRC-32 is recomputed first, so that mutations reach the fields behind the
 * checksum (otherwise almost every mutant dies at the CRC). A rejection must
 * carry a "user state: " message and leave nothing allocated; an accepted
 * record must re-serialise to exactly its bytes, and (for shapes small enough
 * to build a model of) survive an mr_user_update with finite weights and
 * prequential figures, after which it still round-trips. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/model.h"
#include "core/user_state.h"

static void all_finite(const mr_user_state *st)
{
    size_t n = st->mode == MR_ADAPT_HEDGE ? (size_t)st->K
                                          : (size_t)st->K * (size_t)st->F + (size_t)st->K +
                                                (size_t)st->buffer * ((size_t)st->F + (size_t)st->K);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(st->params[i]))
            abort();
    if (!isfinite(st->logloss_sum) || st->logloss_sum < 0 || st->correct > st->scored) {
        fprintf(stderr, "counters: logloss_sum %.17g correct %llu scored %llu\n", st->logloss_sum,
                (unsigned long long)st->correct, (unsigned long long)st->scored);
        abort();
    }
}

/* Serialise st; it must read back and serialise to the same bytes. */
static void round_trip(const mr_user_state *st, const uint8_t *expect, size_t expect_len)
{
    size_t n = mr_user_serialized_size(st);
    if (expect && n != expect_len)
        abort();
    uint8_t *buf = malloc(n);
    if (!buf)
        return;
    mr_user_serialize(st, buf);
    if (expect && memcmp(buf, expect, n) != 0)
        abort();
    if (!expect) {
        mr_user_state again;
        mr_error e;
        if (mr_user_deserialize(&again, buf, n, &e) != 0)
            abort();
        uint8_t *buf2 = malloc(n);
        if (buf2) {
            if (mr_user_serialized_size(&again) != n)
                abort();
            mr_user_serialize(&again, buf2);
            if (memcmp(buf, buf2, n) != 0)
                abort();
            free(buf2);
        }
        mr_user_free(&again);
    }
    free(buf);
}

static float val(const uint8_t *p, size_t len, size_t i, float scale)
{
    return len ? ((float)p[i % len] - 127.5f) * scale : 0.5f;
}

static void update_once(mr_user_state *st, const uint8_t *rec, size_t len)
{
    if ((size_t)st->K * (size_t)st->F > 4096)
        return;
    mr_error e;
    mr_model *m = mr_model_new(st->K, 3, st->F, MR_ROUTER_LINEAR, 0, &e);
    if (!m)
        return;
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = val(rec, len, i * 7 + 3, 1.0f / 64);
    float feat[4096], hc[MR_MAX_HEADS], hr[MR_MAX_HEADS];
    for (int j = 0; j < st->F; j++)
        feat[j] = val(rec, len, (size_t)j * 5 + 1, 1.0f / 32);
    for (int k = 0; k < st->K; k++) {
        hc[k] = val(rec, len, (size_t)k * 3 + 2, 1.0f / 8);
        hr[k] = val(rec, len, (size_t)k * 11 + 5, 1.0f / 8);
    }
    mr_adapt_params ap = { .mode = st->mode, .eta = 0.5, .gamma = 0.01, .lr = 0.1, .epochs = 2,
                           .buffer = st->mode == MR_ADAPT_ROUTER ? st->buffer : 32, .tau = 1e-3 };
    mr_before bf;
    uint64_t updates = st->updates;
    if (mr_user_update(st, m, &ap, feat, hc, hr, &bf, &e) != 0)
        abort();
    if (!(bf.p_chosen >= 0 && bf.p_chosen <= 1) || !isfinite(bf.logloss) || bf.logloss < 0 ||
        st->updates != (updates == UINT64_MAX ? updates : updates + 1))
        abort();
    all_finite(st);
    double pi[MR_MAX_HEADS], sum = 0;
    mr_user_weights(st, m, feat, pi);
    for (int k = 0; k < st->K; k++) {
        if (!(pi[k] >= 0 && pi[k] <= 1))
            abort();
        sum += pi[k];
    }
    if (fabs(sum - 1) > 1e-6) {
        fprintf(stderr, "weights sum to %.17g (mode %d, K %d, F %d):", sum, (int)st->mode, st->K, st->F);
        for (int k = 0; k < st->K; k++)
            fprintf(stderr, " %.9g", pi[k]);
        fprintf(stderr, "\n");
        abort();
    }
    round_trip(st, NULL, 0);
    mr_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    uint8_t *rec = malloc(len ? len : 1);
    if (!rec)
        return 0;
    memcpy(rec, data + 1, len);
    if ((data[0] & 1) && len >= 4) {
        uint32_t crc = (uint32_t)crc32_z(0L, rec, (z_size_t)(len - 4));
        for (int i = 0; i < 4; i++)
            rec[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    mr_user_state st;
    mr_error e;
    memset(&e, 0, sizeof e);
    if (mr_user_deserialize(&st, rec, len, &e) != 0) {
        if (strncmp(e.msg, "user state: ", 12) != 0 || st.params)
            abort();
        free(rec);
        return 0;
    }
    all_finite(&st);
    round_trip(&st, rec, len);
    update_once(&st, rec, len);
    mr_user_free(&st);
    free(rec);
    return 0;
}
