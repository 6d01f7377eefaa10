/* The model currently served, swappable at run time (SIGHUP reload): each
 * request takes a reference for its whole life, so a reload never frees a
 * model a request still reads; new requests see the new model at once. */
#ifndef MICRORM_SERVER_MODEL_SLOT_H
#define MICRORM_SERVER_MODEL_SLOT_H

#include <pthread.h>

#include "core/model.h"

typedef struct model_ref model_ref;

typedef struct {
    pthread_mutex_t lock;
    model_ref *current;
} model_slot;

int model_slot_init(model_slot *s);
void model_slot_destroy(model_slot *s);

/* Install m (the slot takes ownership); the previous model is freed once
 * its last request releases it. */
int model_slot_publish(model_slot *s, mr_model *m);

/* Take a reference on the current model (NULL when none); release it with
 * model_slot_release. */
model_ref *model_slot_acquire(model_slot *s);
const mr_model *model_ref_get(const model_ref *r);
void model_slot_release(model_ref *r);

#endif
