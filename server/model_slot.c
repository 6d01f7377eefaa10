/* Reference-counted model slot. The mutex is held only to copy the pointer
 * and bump the count, so requests never wait on a reload's file I/O. */
#include "server/model_slot.h"

#include <stdatomic.h>
#include <stdlib.h>

struct model_ref {
    mr_model *model;
    atomic_int refs;
};

int model_slot_init(model_slot *s)
{
    s->current = NULL;
    return pthread_mutex_init(&s->lock, NULL) == 0 ? 0 : -1;
}

void model_slot_release(model_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        mr_model_free(r->model);
        free(r);
    }
}

void model_slot_destroy(model_slot *s)
{
    model_slot_release(s->current);
    s->current = NULL;
    pthread_mutex_destroy(&s->lock);
}

int model_slot_publish(model_slot *s, mr_model *m)
{
    model_ref *r = malloc(sizeof *r);
    if (!r)
        return -1;
    r->model = m;
    atomic_init(&r->refs, 1);   /* the slot's own reference */
    pthread_mutex_lock(&s->lock);
    model_ref *old = s->current;
    s->current = r;
    pthread_mutex_unlock(&s->lock);
    model_slot_release(old);
    return 0;
}

model_ref *model_slot_acquire(model_slot *s)
{
    pthread_mutex_lock(&s->lock);
    model_ref *r = s->current;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&s->lock);
    return r;
}

const mr_model *model_ref_get(const model_ref *r)
{
    return r ? r->model : NULL;
}
